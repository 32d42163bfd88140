from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from accounts.database_roles import organization_role_drop, organization_role_ensure
from accounts.models import Membership, Organization, Role

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"  # development only: created by `make run` on an empty database


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    created: bool


def organization_create(*, name: str, slug: str, time_zone: str = "UTC") -> Organization:
    organization = Organization(name=name, slug=slug, time_zone=time_zone)
    return organization_save(organization=organization)


def organization_save(*, organization: Organization) -> Organization:
    """A new or changed organisation; a new one gets its report SQL role (PostgreSQL)."""
    organization.full_clean()
    organization.save()
    organization_role_ensure(organization_id=organization.pk)
    return organization


@transaction.atomic
def organization_delete(*, organization: Organization) -> None:
    """The organisation with everything it owns, and its report SQL role."""
    organization_id = organization.pk
    organization.delete()
    transaction.on_commit(lambda: organization_role_drop(organization_id=organization_id))


def membership_set(*, user: AbstractBaseUser, organization: Organization, role: Role) -> Membership:
    membership, _ = Membership.objects.update_or_create(
        user=user, organization=organization, defaults={"role": role}
    )
    return membership


@transaction.atomic
def demo_setup() -> DemoLogin:
    """On an empty database: the demo organisation and its staff user. Otherwise nothing."""
    User = get_user_model()
    if User.objects.exists():
        return DemoLogin(DEMO_USERNAME, DEMO_PASSWORD, created=False)
    organization = organization_create(
        name="Demo Makerspace", slug="demo", time_zone="Europe/Berlin"
    )
    user = User.objects.create_superuser(
        username=DEMO_USERNAME, email="demo@example.com", password=DEMO_PASSWORD
    )
    membership_set(user=user, organization=organization, role=Role.ADMIN)
    return DemoLogin(DEMO_USERNAME, DEMO_PASSWORD, created=True)


SAMPLE_MEMBERS = {
    "demo-viewer": Role.VIEWER,
    "demo-analyst": Role.ANALYST,
    "demo-admin": Role.ADMIN,
}


@transaction.atomic
def sample_members_load(*, organization: Organization) -> list[Membership]:
    """One user per role in the organisation (password "demo"), for trying the role rules."""
    User = get_user_model()
    memberships = []
    for username, role in SAMPLE_MEMBERS.items():
        user, created = User.objects.get_or_create(username=f"{username}-{organization.slug}")
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        memberships.append(membership_set(user=user, organization=organization, role=role))
    return memberships
