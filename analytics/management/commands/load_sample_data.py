from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organization
from accounts.services import sample_members_load


class Command(BaseCommand):
    help = "Load sample data into an organisation: for now one member per role (password demo)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--org", default="demo", help="slug of the organisation (default: demo)"
        )

    def handle(self, *args, org: str, **options):
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f"No organisation with the slug {org!r}.")
        memberships = sample_members_load(organization=organization)
        for membership in memberships:
            self.stdout.write(f"  {membership.user.username} ({membership.role})")
        self.stdout.write(f"Sample data loaded into {organization.name}.")
