import uuid
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db.models import Case, Exists, OuterRef, Q, QuerySet, Subquery, When

from accounts.models import Membership, Organization, Role
from config.errors import ApplicationError


@dataclass(frozen=True)
class OrganizationContext:
    """The organisation a request acts in, and the caller's role there."""

    organization: Organization
    role: Role


def user_is_super_admin(*, user: AbstractBaseUser) -> bool:
    """A Django superuser, or a super_admin member anywhere, acts as super_admin everywhere."""
    return user.is_superuser or Membership.objects.filter(user=user, role=Role.SUPER_ADMIN).exists()


def organizations_for_user(*, user: AbstractBaseUser) -> QuerySet[Organization]:
    if user_is_super_admin(user=user):
        return Organization.objects.all()
    return Organization.objects.filter(memberships__user=user)


def organization_role(*, user: AbstractBaseUser, organization: Organization) -> Role | None:
    if user_is_super_admin(user=user):
        return Role.SUPER_ADMIN
    role = (
        Membership.objects.filter(user=user, organization=organization)
        .values_list("role", flat=True)
        .first()
    )
    return Role(role) if role else None


def _organization_with_roles(*, user: AbstractBaseUser, reference: str) -> Organization | None:
    """The organisation a reference names (its id, else its slug), with the user's role in it
    and whether they are a super_admin anywhere: one query, as every API request asks it."""
    try:
        by_id = uuid.UUID(reference)
    except ValueError:
        by_id = None
    memberships = Membership.objects.filter(user=user)
    found = Organization.objects.annotate(
        member_role=Subquery(memberships.filter(organization=OuterRef("pk")).values("role")[:1]),
        super_admin_anywhere=Exists(memberships.filter(role=Role.SUPER_ADMIN)),
    )
    if by_id is None:
        return found.filter(slug=reference).first()
    # An id names the organisation before a slug that looks like one.
    by_id_first = Case(When(pk=by_id, then=0), default=1)
    return found.filter(Q(pk=by_id) | Q(slug=reference)).order_by(by_id_first).first()


def _role(user: AbstractBaseUser, organization: Organization) -> Role | None:
    """organization_role from what _organization_with_roles read."""
    if user.is_superuser or organization.super_admin_anywhere:
        return Role.SUPER_ADMIN
    return Role(organization.member_role) if organization.member_role else None


def organization_context_for_user(
    *, user: AbstractBaseUser, requested: str | None
) -> OrganizationContext:
    """Which organisation does this request act in?

    One membership: that one. Several: the caller names one (slug or id); naming none is a 400
    listing the choices. Naming one the caller is not a member of is a 403, existing or not.
    """
    if requested:
        organization = _organization_with_roles(user=user, reference=requested.strip())
        role = organization and _role(user, organization)
        if not role:
            raise PermissionDenied(f"You are not a member of the organisation {requested!r}.")
        return OrganizationContext(organization, role)

    candidates = list(organizations_for_user(user=user)[:101])
    if not candidates:
        raise PermissionDenied("You are not a member of any organisation.")
    if len(candidates) == 1:
        organization = candidates[0]
        return OrganizationContext(
            organization, organization_role(user=user, organization=organization)
        )
    raise ApplicationError(
        "You belong to several organisations: name one with the X-Organization header "
        "(slug or id) or the ?org= query parameter.",
        errors={
            "organization": {"choices": [{"slug": o.slug, "name": o.name} for o in candidates]}
        },
    )


def organizations_administered(*, user: AbstractBaseUser) -> QuerySet[Organization]:
    """The organisations whose objects this user may manage in the Django admin.

    Superusers: all of them. Anyone else: those where their membership is admin or super_admin
    (a super_admin member does not reach organisations they are not a member of here).
    """
    if user.is_superuser:
        return Organization.objects.all()
    return Organization.objects.filter(
        memberships__user=user, memberships__role__in=[Role.ADMIN, Role.SUPER_ADMIN]
    )
