import uuid
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet

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
    """The user's role in the organisation; super_admin for a super admin (user_is_super_admin).
    One query: every API request asks."""
    if user.is_superuser:
        return Role.SUPER_ADMIN
    roles = set(
        Membership.objects.filter(
            Q(organization=organization) | Q(role=Role.SUPER_ADMIN), user=user
        ).values_list("role", flat=True)
    )  # the role here, and super_admin when the user is one anywhere
    if Role.SUPER_ADMIN in roles:
        return Role.SUPER_ADMIN
    return Role(roles.pop()) if roles else None


def _find_organization(reference: str) -> Organization | None:
    try:
        return Organization.objects.get(pk=uuid.UUID(reference))
    except (ValueError, Organization.DoesNotExist):
        return Organization.objects.filter(slug=reference).first()


def organization_context_for_user(
    *, user: AbstractBaseUser, requested: str | None
) -> OrganizationContext:
    """Which organisation does this request act in?

    One membership: that one. Several: the caller names one (slug or id); naming none is a 400
    listing the choices. Naming one the caller is not a member of is a 403, existing or not.
    """
    if requested:
        organization = _find_organization(requested.strip())
        role = organization and organization_role(user=user, organization=organization)
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
