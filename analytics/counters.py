"""Live roll-ups of usage events: per local day, counters (events, logins, by type, by category,
by local hour) and the set of users seen, kept as events arrive and read for today and for the
days not yet refreshed, so no answer counts raw events.

Counters are sums: a batch adds its stored rows. Distinct users are not a sum: the day's users
are a set (`AnalyticsDailyUser`, a pair inserted once), and a range's distinct users are the size
of the union of its days' sets, as for snapshots.

Off the request path: a batch does not update the shared counters (every batch of the same days
would queue on the same rows). In its own transaction it appends one `AnalyticsPendingCount` row
with its sums and pairs; `counters_fold`, run by `analytics.fold_live_counters` a couple of
seconds later (one task per organisation at a time), adds the pending rows to the counters with
one `INSERT … ON CONFLICT DO UPDATE SET count = count + excluded.count` and deletes them, in one
transaction. Readers add the rows not folded yet, read in the same statement as the counters, so
an answer is exact whether or not the fold has run.

The snapshot refresh recounts a day from the raw rows (`counters_rebuild`) when it snapshots it,
and today when it is marked for a recount; it folds the pending rows first, holding the days'
dirty marks, so a batch either is in the raw rows it reads or waits and is added after.

Idempotency: only rows the batch stored are counted. A batch that stored all its rows (no
event_id seen before) is counted as sent; otherwise its own rows are the ones with its event_ids
received since it started. When another request stored some of the same event_ids at the same
moment, the batch cannot tell whose they are: it is refused (409) and stores nothing, and sent
again it is counted exactly.
"""

from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection, models, transaction
from django.db.models import Value

from accounts.models import Organization
from analytics.models import (
    AnalyticsDailyCount,
    AnalyticsDailyUser,
    AnalyticsPendingCount,
    AnalyticsSnapshot,
)
from config.errors import ConflictError
from events.models import UsageEvent

Metric = AnalyticsSnapshot.Metric
SCALARS = (Metric.EVENTS, Metric.LOGINS)
BY_KEY = (Metric.EVENTS_BY_TYPE, Metric.EVENTS_BY_CATEGORY, Metric.EVENTS_BY_HOUR)
DayPairs = Iterable[tuple[date, str]]


class BatchInFlight(ConflictError):
    pass


def events_count(
    *, organization: Organization, rows: list[dict[str, Any]], stored: int, since: datetime
) -> None:
    """Appends a batch's stored events, summed, as one pending row of the counters."""
    zone = ZoneInfo(organization.time_zone)
    counts: Counter[tuple[date, str, str]] = Counter()
    users: set[tuple[date, str]] = set()
    for row in _stored_rows(organization, rows, stored, since):
        local = row["timestamp"].astimezone(zone)
        day = local.date()
        counts[day, Metric.EVENTS, ""] += 1
        counts[day, Metric.LOGINS, ""] += row["event_type"] == "login"
        counts[day, Metric.EVENTS_BY_TYPE, row["event_type"]] += 1
        counts[day, Metric.EVENTS_BY_CATEGORY, row["event_category"]] += 1
        counts[day, Metric.EVENTS_BY_HOUR, str(local.hour)] += 1
        users.add((day, row["user_id"]))
    if not users:
        return
    days = [day for day, _ in users]
    AnalyticsPendingCount.objects.create(
        organization=organization, first_day=min(days), last_day=max(days),
        counts=[[day.isoformat(), metric, key, n] for (day, metric, key), n in counts.items() if n],
        users=[[day.isoformat(), user_id] for day, user_id in users],
    )  # fmt: skip


@transaction.atomic
def counters_fold(*, organization: Organization) -> int:
    """Adds the organisation's pending rows to the counters and deletes them; returns how many.
    Their row locks make a concurrent fold wait and then find them gone."""
    pending = list(
        AnalyticsPendingCount.objects.select_for_update()
        .filter(organization=organization)
        .values_list("pk", "counts", "users")
    )
    if not pending:
        return 0
    counts: Counter[tuple[date, str, str]] = Counter()
    users: set[tuple[date, str]] = set()
    for _, batch_counts, batch_users in pending:
        for day, metric, key, n in batch_counts:
            counts[date.fromisoformat(day), metric, key] += n
        users.update((date.fromisoformat(day), user_id) for day, user_id in batch_users)
    _counts_add(organization, counts)
    day_users_add(organization=organization, pairs=users)
    AnalyticsPendingCount.objects.filter(pk__in=[pk for pk, _, _ in pending]).delete()
    return len(pending)


def organizations_pending() -> list[Organization]:
    owners = AnalyticsPendingCount.objects.values("organization").distinct()
    return list(Organization.objects.filter(pk__in=owners))


def _stored_rows(
    organization: Organization, rows: list[dict[str, Any]], stored: int, since: datetime
) -> list[dict[str, Any]]:
    first: dict[str, dict[str, Any]] = {}
    without_id = []
    for row in rows:
        if row.get("event_id"):
            first.setdefault(row["event_id"], row)  # the first of a key is the one stored
        else:
            without_id.append(row)
    if stored == len(first) + len(without_id):
        return [*first.values(), *without_id]
    own = set(
        UsageEvent.objects.filter(
            organization=organization, event_id__in=list(first), received_at__gte=since
        ).values_list("event_id", flat=True)
    )
    if len(own) + len(without_id) != stored:
        raise BatchInFlight(
            "Another request is storing some of these events (the same event_id) right now; "
            "nothing was stored. Send the batch again.",
            errors={"events": ["Some event_id values are being stored by another request."]},
        )
    return [first[event_id] for event_id in own] + without_id


def _counts_add(organization: Organization, counts: Counter) -> None:
    """In key order, so two batches lock shared counters in the same order."""
    rows = sorted((*key, n) for key, n in counts.items() if n)
    count = connection.ops.quote_name("count")
    table = connection.ops.quote_name(AnalyticsDailyCount._meta.db_table)
    _insert(AnalyticsDailyCount, organization, ("date", "metric", "key"), ("count",), rows,
            f"DO UPDATE SET {count} = {table}.{count} + excluded.{count}")  # fmt: skip


def day_users_add(*, organization: Organization, pairs: DayPairs) -> None:
    _insert(AnalyticsDailyUser, organization, ("date", "user_id"), (), sorted(pairs), "DO NOTHING")


def _insert(
    model: type, organization: Organization, key: tuple[str, ...], values: tuple[str, ...],
    rows: list[tuple], conflict: str,
) -> None:  # fmt: skip
    """Rows (the `key` columns, the first a date, then the `values` columns) of the
    organisation, one INSERT … ON CONFLICT (key) `conflict` per 500, the same on PostgreSQL
    and SQLite (no model instance per row: a batch of 1,000 events has up to 1,000 pairs)."""
    quote = connection.ops.quote_name
    owner = Organization._meta.pk.get_db_prep_value(organization.pk, connection)
    unique = ", ".join(quote(name) for name in ("organization_id", *key))
    names = ", ".join([unique, *map(quote, values)])
    placeholders = "(" + ", ".join(["%s"] * (1 + len(key) + len(values))) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 500):
            chunk = rows[start : start + 500]
            parameters = [value for row in chunk for value in (owner, row[0].isoformat(), *row[1:])]
            cursor.execute(
                f"INSERT INTO {quote(model._meta.db_table)} ({names}) VALUES "
                f"{', '.join([placeholders] * len(chunk))} ON CONFLICT ({unique}) {conflict}",
                parameters,
            )


def counted_read(*, organization: Organization, days: Iterable[date]) -> dict[date, dict]:
    """The days' counters, pending rows added, as daily metrics (events, logins, and counts by
    key)."""
    days = set(days)
    result: dict[date, dict] = {}

    def add(day: date, metric: str, key: str, count: int) -> None:
        metrics = result.setdefault(day, {name: {} for name in BY_KEY})
        if metric in SCALARS:
            metrics[metric] = metrics.get(metric, 0) + count
        else:
            metrics[metric][key] = metrics[metric].get(key, 0) + count

    if not days:
        return result
    counted = AnalyticsDailyCount.objects.filter(organization=organization, date__in=sorted(days))
    fields = ("date", "metric", "key", "count")
    for day, metric, key, count, pending in _with_pending(
        counted, fields, organization, days, "counts"
    ):
        if pending is None:
            add(day, metric, key, count)
            continue
        for pending_day, *counter in pending:
            if (pending_day := date.fromisoformat(pending_day)) in days:
                add(pending_day, *counter)
    return result


def day_users_read(*, organization: Organization, days: Iterable[date]) -> list[tuple[date, str]]:
    """The days' (day, user_id) pairs, pending ones added."""
    days = set(days)
    pairs: set[tuple[date, str]] = set()
    if not days:
        return []
    users = AnalyticsDailyUser.objects.filter(organization=organization, date__in=sorted(days))
    for day, user_id, pending in _with_pending(
        users, ("date", "user_id"), organization, days, "users"
    ):
        if pending is None:
            pairs.add((day, user_id))
            continue
        for pending_day, pending_user in pending:
            if (pending_day := date.fromisoformat(pending_day)) in days:
                pairs.add((pending_day, pending_user))
    return list(pairs)


def _with_pending(
    folded: models.QuerySet, fields: tuple[str, ...], organization: Organization, days: set[date],
    pending_field: str,
) -> models.QuerySet:  # fmt: skip
    """The folded rows' `fields` and None, then None for each of those and the `pending_field`
    of the pending rows of those days, in one statement: one snapshot, so a fold that commits
    meanwhile is seen whole or not at all."""
    blanks = [Value(None, output_field=folded.model._meta.get_field(name)) for name in fields]
    pending = AnalyticsPendingCount.objects.filter(
        organization=organization, first_day__lte=max(days), last_day__gte=min(days)
    ).values_list(*blanks, pending_field)
    rows = folded.values_list(*fields, Value(None, output_field=models.JSONField()))
    return rows.order_by().union(pending.order_by(), all=True)


def counters_rebuild(
    *, organization: Organization, metrics: dict[date, dict], pairs: DayPairs
) -> None:
    """Replaces the days' counters and user sets with the given ones, counted from the raw
    rows. The caller holds the days' dirty marks, so no batch of these days commits between
    that count and this write; the pending rows are folded first, for a pending row holds
    events of those days that the raw count has already seen."""
    counters_fold(organization=organization)
    days = sorted(metrics)
    AnalyticsDailyCount.objects.filter(organization=organization, date__in=days).delete()
    AnalyticsDailyUser.objects.filter(organization=organization, date__in=days).delete()
    counters = [
        AnalyticsDailyCount(organization=organization, date=day, metric=metric, key=key,
                            count=count)
        for day in days
        for metric, key, count in _counter_values(metrics[day])
        if count
    ]  # fmt: skip
    AnalyticsDailyCount.objects.bulk_create(counters, batch_size=2000)
    day_users_add(organization=organization, pairs=pairs)


def _counter_values(metrics: dict) -> Iterable[tuple[str, str, int]]:
    for metric in SCALARS:
        yield metric, "", metrics[metric]
    for metric in BY_KEY:
        for key, count in metrics[metric].items():
            yield metric, key, count
