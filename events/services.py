"""Ingesting usage events: one or a batch, all or nothing, each client event_id stored once."""

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import Organization
from config.errors import ApplicationError
from events.models import UsageEvent

FIELDS = {"event_type", "event_category", "metadata", "timestamp", "user_id", "event_id"}
MAX_LENGTHS = {"event_type": 64, "event_category": 64, "user_id": 128, "event_id": 128}


class BatchTooLarge(ApplicationError):
    status_code = 413


@dataclass(frozen=True)
class IngestResult:
    stored: int
    duplicates: int


def events_ingest(
    *, organization: Organization, events: list[Any], default_user_id: str
) -> IngestResult:
    """Validate every event, then store them together; an invalid one stores none.

    An event whose event_id the organisation already has (or that repeats one earlier in the
    batch) is counted as a duplicate and not stored again.
    """
    if len(events) > settings.ANALYTICS_BATCH_SIZE:
        raise BatchTooLarge(
            f"A batch holds at most {settings.ANALYTICS_BATCH_SIZE} events; this one has "
            f"{len(events)}. Send it in smaller batches.",
            errors={"events": [f"At most {settings.ANALYTICS_BATCH_SIZE} events."]},
        )
    errors, rows = [], []
    for index, event in enumerate(events):
        problems = _event_problems(event)
        errors += [{"index": index, "field": field, "reason": reason} for field, reason in problems]
        if not problems:
            rows.append(_event_row(organization, event, default_user_id))
    if errors:
        raise ApplicationError(
            "No event was stored: some are not valid.", errors={"events": errors}
        )
    return _store(organization, rows)


def _event_problems(event: Any) -> list[tuple[str, str]]:
    if not isinstance(event, dict):
        return [("", "An event is a JSON object.")]
    problems = [(name, "Unknown field.") for name in sorted(set(event) - FIELDS)]
    for name in ("event_type", "event_category"):
        if not isinstance(event.get(name), str) or not event[name].strip():
            problems.append((name, "This field is required: a non-empty string."))
    for name, limit in MAX_LENGTHS.items():
        value = event.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            problems.append((name, f"A string of at most {limit} characters."))
    if not isinstance(event.get("metadata", {}), dict):
        problems.append(("metadata", "A JSON object."))
    if "timestamp" in event and _timestamp(event["timestamp"]) is None:
        problems.append(("timestamp", "An ISO 8601 date and time, e.g. 2025-03-01T09:30:00Z."))
    return problems


def _timestamp(value: Any) -> datetime | None:
    moment = parse_datetime(value) if isinstance(value, str) else None
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # a time without a zone is taken as UTC
    return moment


def _event_row(organization: Organization, event: dict, default_user_id: str) -> UsageEvent:
    return UsageEvent(
        organization=organization,
        user_id=user_id_stored(event.get("user_id") or default_user_id),
        event_type=event["event_type"].strip(),
        event_category=event["event_category"].strip(),
        metadata=event.get("metadata") or {},
        timestamp=_timestamp(event["timestamp"]) if "timestamp" in event else timezone.now(),
        event_id=event.get("event_id") or None,
    )


def user_id_stored(user_id: str) -> str:
    """With ANALYTICS_PSEUDONYMIZE_USERS, a keyed hash stands for the user: the same user gives
    the same value, and the value does not give the user away without the key."""
    if not settings.ANALYTICS_PSEUDONYMIZE_USERS:
        return user_id
    key = settings.ANALYTICS_PSEUDONYMIZE_KEY.encode()
    return hmac.new(key, user_id.encode(), hashlib.sha256).hexdigest()[:32]


@transaction.atomic
def _store(organization: Organization, rows: list[UsageEvent]) -> IngestResult:
    ids = [row.event_id for row in rows if row.event_id]
    known = set(
        UsageEvent.objects.filter(organization=organization, event_id__in=ids).values_list(
            "event_id", flat=True
        )
    )
    new, seen = [], set()
    for row in rows:
        if row.event_id and (row.event_id in known or row.event_id in seen):
            continue
        seen.add(row.event_id)
        new.append(row)
    # ignore_conflicts: a concurrent batch with the same event_id cannot fail this one.
    UsageEvent.objects.bulk_create(new, ignore_conflicts=True)
    return IngestResult(stored=len(new), duplicates=len(rows) - len(new))
