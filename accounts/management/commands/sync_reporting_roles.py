"""Make every organisation's PostgreSQL role for report SQL match the organisations."""

from django.core.management.base import BaseCommand, CommandError

from accounts import database_roles
from accounts.models import Organization


class Command(BaseCommand):
    help = (
        "Create or reset each organisation's report SQL role (password, settings, group), "
        "drop roles of deleted organisations and renew the reporting views' grants. "
        "PostgreSQL only; on SQLite there is nothing to do."
    )

    def handle(self, *args, **options) -> None:
        if not database_roles.applies():
            self.stdout.write("The reporting database is not PostgreSQL: no roles to sync.")
            return
        organization_ids = list(Organization.objects.values_list("pk", flat=True))
        try:
            counts = database_roles.organization_roles_sync(organization_ids=organization_ids)
        except database_roles.DatabaseRoleError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"Report roles: {counts['made']} made or reset, {counts['dropped']} dropped "
            f"(group {database_roles.group_role_name()})."
        )
