"""Usage events in monthly partitions on PostgreSQL: where rows land, partitions made ahead,
event_id uniqueness across partitions, retention by dropping partitions. SQLite keeps one table:
these run on PostgreSQL only (the admin and ingestion tests elsewhere run on both)."""

import threading
import time
from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, close_old_connections, connection, transaction

from events import partitions
from events.models import UsageEvent
from events.retention import events_purge
from events.services import events_ingest
from events.tasks import ensure_event_partitions, purge_old_events

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="partitions are PostgreSQL's; SQLite keeps one table"
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def ingest(organization, *events) -> tuple[int, int]:
    result = events_ingest(organization=organization, events=list(events), default_user_id="u")
    return result.stored, result.duplicates


def login(event_id: str | None, timestamp: str) -> dict:
    return {"event_type": "login", "event_category": "authentication",
            "event_id": event_id, "timestamp": timestamp}  # fmt: skip


def partition_of(event_id: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM events_usageevent WHERE event_id = %s",
            [event_id],
        )
        return cursor.fetchone()[0]


def keys() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT event_id FROM events_usageeventkey")
        return {event_id for (event_id,) in cursor.fetchall()}


def test_events_land_in_their_month_and_other_times_in_the_default_partition(organization):
    this_month = partitions.month_start(datetime.now(UTC))
    now = datetime.now(UTC).isoformat()
    assert ingest(organization, login("now", now), login("long-ago", "2001-02-03T04:05:06Z")) == (
        2, 0,
    )  # fmt: skip
    assert partition_of("now") == partitions.EVENTS.partition_name(this_month)
    assert partition_of("long-ago") == "events_usageevent_default"


def test_the_daily_task_makes_partitions_ahead_and_moves_rows_out_of_the_default(organization):
    import time_machine

    UsageEvent.objects.create(organization=organization, user_id="u", event_type="login",
                              event_category="a", event_id="ahead",
                              timestamp=at("2031-02-10T12:00:00"))  # fmt: skip
    assert partition_of("ahead") == "events_usageevent_default"
    with time_machine.travel(at("2031-01-05T03:00:00")):
        made = ensure_event_partitions()
        assert ensure_event_partitions() == []  # made once
    assert made == [f"{table}_p2031{month:02d}" for table in partitions.TABLES
                    for month in (1, 2, 3, 4)]  # fmt: skip
    assert partition_of("ahead") == "events_usageevent_p203102"
    # A month the default partition has rows of gets its partition too.
    UsageEvent.objects.create(organization=organization, user_id="u", event_type="login",
                              event_category="a", event_id="backfilled",
                              timestamp=at("2002-07-04T12:00:00"))  # fmt: skip
    assert ensure_event_partitions() == ["events_usageevent_p200207"]
    assert partition_of("backfilled") == "events_usageevent_p200207"
    assert UsageEvent.objects.get(event_id="ahead").timestamp == at("2031-02-10T12:00:00")


def test_an_event_id_is_stored_once_across_partitions(organization, other_organization):
    assert ingest(organization, login("x", "2025-01-10T10:00:00Z")) == (1, 0)
    # Known in another month, and repeated in the batch in two months: stored once each.
    batch = [login("x", "2025-03-10T10:00:00Z"), login("y", "2025-02-01T00:00:00Z"),
             login("y", "2025-04-01T00:00:00Z"), login(None, "2025-04-01T00:00:00Z"),
             login(None, "2025-04-01T00:00:00Z")]  # fmt: skip
    assert ingest(organization, *batch) == (3, 2)
    assert ingest(other_organization, login("x", "2025-03-10T10:00:00Z")) == (1, 0)
    stored = UsageEvent.objects.filter(organization=organization)
    assert sorted(stored.values_list("event_id", flat=True), key=str) == [None, None, "x", "y"]
    assert stored.get(event_id="y").timestamp == at("2025-02-01T00:00:00")  # the first one
    assert keys() == {"x", "y"}


def test_a_deleted_event_frees_its_event_id_and_a_repeat_through_the_orm_is_refused(
    organization,
):
    assert ingest(organization, login("x", "2025-01-10T10:00:00Z")) == (1, 0)
    with pytest.raises(IntegrityError), transaction.atomic():
        UsageEvent.objects.create(organization=organization, user_id="u", event_type="login",
                                  event_category="a", event_id="x",
                                  timestamp=at("2025-05-01T00:00:00"))  # fmt: skip
    UsageEvent.objects.filter(event_id="x").delete()
    assert keys() == set()
    assert ingest(organization, login("x", "2025-02-10T10:00:00Z")) == (1, 0)


@pytest.mark.django_db(transaction=True)
def test_two_batches_with_the_same_events_at_once_store_each_event_once(organization):
    batch = [login(f"e-{n}", f"2025-0{n % 3 + 1}-10T10:00:00Z") for n in range(300)]
    results, first_stored = [], threading.Event()

    def send(hold: bool) -> None:
        try:
            with transaction.atomic():
                results.append(ingest(organization, *batch))
                if hold:  # the other batch's COPY now waits on these keys
                    first_stored.set()
                    time.sleep(0.5)
        finally:
            close_old_connections()
            connection.close()

    first = threading.Thread(target=send, args=(True,))
    first.start()
    first_stored.wait(10)
    second = threading.Thread(target=send, args=(False,))
    second.start()
    first.join(), second.join()
    assert sorted(results) == [(0, 300), (300, 0)]
    assert UsageEvent.objects.count() == 300
    assert len(keys()) == 300


def test_retention_drops_whole_months_and_deletes_the_rest_before_the_cutoff(
    organization, settings
):
    import time_machine

    for month in (3, 4, 5, 6):
        partitions.partition_create(partitions.EVENTS, at(f"2025-{month:02d}-01T00:00:00"))
    sent = {"march": "2025-03-10", "may-early": "2025-05-10", "may-late": "2025-05-20",
            "long-ago": "2001-01-01", "june": "2025-06-01"}  # fmt: skip
    assert ingest(organization, *(login(name, f"{day}T10:00:00Z") for name, day in sent.items()))
    settings.ANALYTICS_EVENT_RETENTION_DAYS = 30
    with time_machine.travel(at("2025-06-15T10:00:00")):  # cutoff 2025-05-16 10:00
        assert purge_old_events() == 3
    names = {partition.name for partition in partitions.partitions_list(partitions.EVENTS)}
    assert not {"events_usageevent_p202503", "events_usageevent_p202504"} & names
    assert {"events_usageevent_p202505", "events_usageevent_p202506"} <= names
    assert set(UsageEvent.objects.values_list("event_id", flat=True)) == {"may-late", "june"}
    assert keys() == {"may-late", "june"}
    # A purged event sent again is new; a kept one is still a duplicate.
    again = [login("march", "2025-03-10T10:00:00Z"), login("june", "2025-06-01T10:00:00Z")]
    assert ingest(organization, *again) == (1, 1)


def test_retention_leaves_partitions_after_the_cutoff(organization, settings):
    partitions.partition_create(partitions.EVENTS, at("2025-05-01T00:00:00"))
    assert ingest(organization, login("may", "2025-05-20T10:00:00Z")) == (1, 0)
    settings.ANALYTICS_EVENT_RETENTION_DAYS = 30
    assert events_purge(now=at("2025-06-01T00:00:00")) == 0
    assert partition_of("may") == "events_usageevent_p202505"


def test_the_time_is_in_the_primary_key_and_a_brin_index_covers_it(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'events_usageevent'"
        )
        indexes = dict(cursor.fetchall())
    assert indexes["events_usageevent_pkey"].endswith('USING btree (id, "timestamp")')
    assert indexes["events_usageevent_timestamp_brin"].endswith('USING brin ("timestamp")')
    assert (
        'btree (organization_id, "timestamp")' in indexes["idx_usage_events_makerspace_timestamp"]
    )


# Every app but events migrated (events up to 0003 as their dependency), reporting views too.
BEFORE_PARTITIONS = """
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
for app in sorted(MigrationLoader(connection).migrated_apps - {"events"}):
    call_command("migrate", app, verbosity=0)
"""
SEED = """
from datetime import UTC, datetime, timedelta
from accounts.models import Organization
from events.models import UsageEvent
organization = Organization.objects.create(name="Acme", slug="acme")
start = datetime(2024, 11, 15, tzinfo=UTC)
UsageEvent.objects.bulk_create(
    UsageEvent(organization=organization, user_id=f"u{n % 7}", event_type="login",
               event_category="a", timestamp=start + timedelta(hours=5 * n),
               event_id=f"e-{n}" if n % 3 else None)
    for n in range(1500)
)
"""
CHECK = """
import json
from django.db import connection
from events.models import UsageEvent
from events.services import events_ingest
organization = UsageEvent.objects.first().organization
events = [{"event_type": "login", "event_category": "a", "event_id": f"e-{n}",
           "timestamp": "2025-05-01T00:00:00Z"} for n in (1, 2, 1500)]
result = events_ingest(organization=organization, events=events, default_user_id="u")
with connection.cursor() as cursor:
    cursor.execute("SELECT count(DISTINCT tableoid), count(*) FROM events_usageevent")
    spread = cursor.fetchone()
    cursor.execute("SELECT count(*) FROM events_usageeventkey")
    keys = cursor.fetchone()[0]
    cursor.execute("SELECT count(*) FROM reporting.usage_events")  # no organisation: no rows
    print(json.dumps([*spread, keys, result.stored, result.duplicates,
                      UsageEvent.objects.get(event_id="e-1500").id]))
"""


def test_the_migration_moves_existing_events_into_partitions_with_their_keys(scratch_manage):
    import json

    manage = scratch_manage
    manage("shell", "-c", BEFORE_PARTITIONS)
    manage("shell", "-c", SEED)
    manage("migrate", "-v0")
    found = json.loads(manage("shell", "-c", CHECK).splitlines()[-1])
    # 1500 events of November to September in 11 partitions with 1000 keys; then e-1 and e-2
    # are known, e-1500 is new: stored, its key added, its id after the moved ones' (the COPY
    # rolled back took some: a sequence has gaps).
    assert found[:5] == [11, 1501, 1001, 1, 2]
    assert found[5] > 1500
