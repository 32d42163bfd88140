import re
import uuid
import zoneinfo
from datetime import date, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models


def validate_time_zone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"{value!r} is not an IANA time zone such as Europe/Berlin."
        ) from None


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


def opening_minutes(opening_hours: dict, weekday: int) -> int:
    """Minutes open on a weekday (0 is Monday) by the organisation's opening hours."""
    if not opening_hours:
        return 24 * 60
    total = 0
    for span in opening_hours.get(WEEKDAYS[weekday], []):
        start_h, start_m, end_h, end_m = map(int, _SPAN.match(span).groups())
        total += (end_h * 60 + end_m) - (start_h * 60 + start_m)
    return total


def open_minutes_between(opening_hours: dict, first: date, last: date) -> int:
    """Minutes open over the days from `first` to `last`, both included (0 when last < first)."""
    return sum(
        opening_minutes(opening_hours, (first + timedelta(days=n)).weekday())
        for n in range((last - first).days + 1)
    )


def validate_opening_hours(value) -> None:
    if not isinstance(value, dict):
        raise ValidationError('An object by weekday, e.g. {"mon": ["09:00-17:00"]}.')
    for day, spans in value.items():
        if day not in WEEKDAYS:
            raise ValidationError(f"{day!r} is not one of {', '.join(WEEKDAYS)}.")
        if not isinstance(spans, list):
            raise ValidationError(f'{day}: a list of spans such as "09:00-17:00".')
        for span in spans:
            match = _SPAN.match(span) if isinstance(span, str) else None
            if not match or span[:5] >= span[6:]:
                raise ValidationError(f'{day}: {span!r} is not a span such as "09:00-17:00".')


class Organization(models.Model):
    """The tenant: an ISP or a makerspace. Every piece of tenant data points here."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=64, unique=True)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    # Branding shown on PDF and HTML reports.
    brand_colour = models.CharField(
        max_length=7, default="#1f4e79", validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$")]
    )
    logo = models.FileField(upload_to="branding/", blank=True)
    report_footer = models.CharField(max_length=200, blank=True)
    # When set, reports are e-mailed only to addresses in these domains.
    allowed_email_domains = models.JSONField(default=list, blank=True)
    # Equipment utilisation is measured against these; empty means open around the clock.
    opening_hours = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_opening_hours],
        help_text='Local opening hours by weekday, e.g. {"mon": ["09:00-12:00", "14:00-22:00"], '
        '"sat": ["10:00-16:00"]}; a weekday not named is closed. Empty: open around the clock.',
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    """Ordered from least to most: each role may do everything the ones before it may."""

    VIEWER = "viewer", "Viewer"
    ANALYST = "analyst", "Analyst"
    ADMIN = "admin", "Admin"
    SUPER_ADMIN = "super_admin", "Super admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def includes(self, other: "Role") -> bool:
        return self.rank >= Role(other).rank


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization__name", "user__username"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organization"], name="one_membership_per_user_and_organization"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.get_role_display()})"


class LoginLockout(models.Model):
    """Wrong passwords given for one username (existing or not, so a lock reveals nothing).

    The failures count from the first one in the window; at the limit the username is locked
    (`locked_at`) until a superuser unlocks it, which deletes the row.
    """

    username = models.CharField(max_length=150, unique=True)
    failures = models.PositiveIntegerField(default=0)
    window_started_at = models.DateTimeField()
    last_failure_at = models.DateTimeField()
    locked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_failure_at"]

    def __str__(self) -> str:
        state = "locked" if self.locked_at else f"{self.failures} failures"
        return f"{self.username} ({state})"
