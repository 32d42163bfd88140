from datetime import date

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organization
from analytics.services import snapshots_rebuild, snapshots_refresh


class Command(BaseCommand):
    help = (
        "Recompute the analytics snapshots of the days that received data since the last "
        "refresh (what the analytics.refresh_snapshots task does every 5 minutes). With "
        "--start-date and --end-date, recompute every day of that range of one organisation "
        "(a backfill)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", help="slug of the organisation (default: all)")
        parser.add_argument("--start-date", type=date.fromisoformat, help="YYYY-MM-DD")
        parser.add_argument("--end-date", type=date.fromisoformat, help="YYYY-MM-DD")

    def handle(self, *args, org: str | None, start_date: date | None, end_date: date | None,
               **options):  # fmt: skip
        organization = None
        if org:
            organization = Organization.objects.filter(slug=org).first()
            if organization is None:
                raise CommandError(f"No organisation with the slug {org!r}.")
        if (start_date is None) != (end_date is None):
            raise CommandError("Give both --start-date and --end-date, or neither.")
        if start_date is None:
            days = snapshots_refresh(organization=organization)
        elif organization is None:
            raise CommandError("A backfill (--start-date, --end-date) needs --org.")
        elif start_date > end_date:
            raise CommandError("--start-date is after --end-date.")
        else:
            days = snapshots_rebuild(
                organization=organization, start_date=start_date, end_date=end_date
            )
        self.stdout.write(f"Refreshed {days} organisation-day(s) of snapshots.")
