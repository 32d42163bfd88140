import sys
import time

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organization
from accounts.services import sample_members_load
from analytics.samples import (
    sample_analytics_clear,
    sample_analytics_exists,
    sample_analytics_load,
)
from delivery.samples import sample_delivery_folder, sample_delivery_target_load
from reporting.services.samples import sample_reports_load, sample_schedules_load


class Command(BaseCommand):
    help = (
        "Load sample data into an organisation: one member per role (password demo), demo "
        "report templates and schedules, and a makerspace year of analytics data (events, "
        "equipment sessions, inventory, projects, revenue) ending yesterday in the organisation's "
        "time zone. The dates move with the day it runs; the shape is the same for the same "
        "--seed. Running it again adds nothing twice: --reset replaces the analytics data, "
        "--drop only deletes it."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--org", default="demo", help="slug of the organisation (default: demo)"
        )
        parser.add_argument("--days", type=int, default=365, help="days of data (default: 365)")
        parser.add_argument(
            "--events", type=int, default=50_000, help="usage events (default: 50,000)"
        )
        parser.add_argument("--seed", type=int, default=42, help="random seed (default: 42)")
        clearing = parser.add_mutually_exclusive_group()
        clearing.add_argument(
            "--reset", action="store_true", help="delete the analytics data, then load again"
        )
        clearing.add_argument(
            "--drop", action="store_true", help="only delete the organisation's analytics data"
        )

    def handle(self, *args, org: str, days: int, events: int, seed: int, **options):
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f"No organisation with the slug {org!r}.")
        if days < 1 or events < 0:
            raise CommandError("--days must be at least 1 and --events at least 0.")
        if options["drop"]:
            deleted = sample_analytics_clear(organization=organization)
            self.stdout.write(f"Deleted {deleted:,} analytics rows of {organization.name}.")
            return
        for membership in sample_members_load(organization=organization):
            self.stdout.write(f"  {membership.user.username} ({membership.role})")
        for template in sample_reports_load(organization=organization):
            self.stdout.write(f"  report template: {template.name}")
        target, created = sample_delivery_target_load(organization=organization)
        if created:
            folder = sample_delivery_folder(organization=organization)
            self.stdout.write(f"  delivery target: {target.name} (writes files to {folder})")
        for schedule in sample_schedules_load(organization=organization, delivery_targets=[target]):
            state = "enabled" if schedule.enabled else "paused"
            self.stdout.write(f"  report schedule: {schedule.name} ({state}, {schedule.time_zone})")
        if options["reset"]:
            deleted = sample_analytics_clear(organization=organization)
            self.stdout.write(f"  deleted {deleted:,} analytics rows")
        if sample_analytics_exists(organization=organization):
            self.stdout.write("  analytics data already there: nothing added (--reset reloads)")
        else:
            self._analytics_load(organization, days=days, events=events, seed=seed)
        self.stdout.write(f"Sample data loaded into {organization.name}.")

    def _analytics_load(self, organization: Organization, **sizes: int) -> None:
        bar = ProgressBar(total=sizes["events"], stream=self.stderr)
        started = time.monotonic()
        loaded = sample_analytics_load(organization=organization, progress=bar.show, **sizes)
        bar.close()
        counts = ", ".join(f"{count:,} {kind}" for kind, count in loaded.counts.items())
        self.stdout.write(
            f"  analytics {loaded.first_day} to {loaded.last_day}: {counts} "
            f"({time.monotonic() - started:.1f} s)"
        )


class ProgressBar:
    """Events written so far, redrawn on one stderr line; silent when stderr is not a terminal."""

    WIDTH = 30

    def __init__(self, *, total: int, stream):
        self.total, self.stream, self.drawn = max(total, 1), stream, -1
        self.active = (getattr(stream, "_out", stream) or sys.stderr).isatty()

    def show(self, done: int) -> None:
        percent = min(100, done * 100 // self.total)
        if not self.active or percent == self.drawn:
            return
        self.drawn = percent
        filled = self.WIDTH * percent // 100
        self.stream.write(
            f"\r  [{'#' * filled}{' ' * (self.WIDTH - filled)}] {percent:3d}% {done:,} events",
            ending="",
            style_func=str,  # stderr is styled as errors by default
        )
        self.stream.flush()

    def close(self) -> None:
        if self.active and self.drawn >= 0:
            self.stream.write("", style_func=str)
