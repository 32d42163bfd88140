from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organization
from accounts.services import sample_members_load
from reporting.services.samples import sample_reports_load


class Command(BaseCommand):
    help = (
        "Load sample data into an organisation: one member per role (password demo) and demo "
        "report templates with their data sources. Running it again adds nothing twice."
    )

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
        for template in sample_reports_load(organization=organization):
            self.stdout.write(f"  report template: {template.name}")
        self.stdout.write(f"Sample data loaded into {organization.name}.")
