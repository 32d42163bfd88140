"""Equipment sessions, inventory and revenue in monthly partitions on PostgreSQL: where rows land,
session_id and transaction_id once per organisation across months (a side table) and an item's
day once (a unique index per partition), under concurrent batches and ORM updates too, partitions
made ahead, retention leaving them alone, the migration of a database with rows. SQLite keeps one
table each: the ingestion tests of events/tests/test_fact_tables.py run on both."""

import json
import threading
import time
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, close_old_connections, connection, transaction

from events import partitions
from events.models import EquipmentUsageLog, InventoryAnalytics, RevenueAnalytics, UsageEvent
from events.partitions import INVENTORY, REVENUE, SESSIONS
from events.retention import events_purge
from events.services import FACT_TABLES, USAGE_EVENTS, facts_ingest
from events.tasks import ensure_event_partitions

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="partitions are PostgreSQL's; SQLite keeps one table"
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def ingest(organization, table: str, *records) -> tuple[int, int]:
    result = facts_ingest(table=table, organization=organization, records=list(records))
    return result.stored, result.duplicates


def session(session_id: str | None, start_time: str, **changes) -> dict:
    return {"equipment_id": "laser-1", "user_id": "u1", "start_time": start_time,
            "duration_minutes": 30, "session_id": session_id, "revenue": "12.50",
            **changes}  # fmt: skip


def payment(transaction_id: str, timestamp: str, amount: str = "49.00") -> dict:
    return {"transaction_id": transaction_id, "timestamp": timestamp,
            "revenue_source": "membership", "amount": amount}  # fmt: skip


def consumption(item_id: str, day: str, quantity: float = 1.5) -> dict:
    return {"item_id": item_id, "date": day, "quantity_consumed": quantity}


def partition_of(table: str, where: str, value) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {table} WHERE {where} = %s", [value])
        return cursor.fetchone()[0]


def keys(table: partitions.PartitionedTable) -> dict[str, datetime]:
    """The side table's ids with the time it holds for each."""
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT {table.key[1]}, "{table.column}" FROM {table.key_table}')
        return dict(cursor.fetchall())


def months_2025(table: partitions.PartitionedTable, *months: int) -> None:
    for month in months:
        partitions.partition_create(table, at(f"2025-{month:02d}-01T00:00:00"))


def test_rows_land_in_their_month_and_other_times_in_the_default_partition(organization):
    this_month = partitions.month_start(datetime.now(UTC))
    now, today = datetime.now(UTC).isoformat(), datetime.now(UTC).date().isoformat()
    assert ingest(organization, "equipment-usage", session("now", now),
                  session("old", "2001-02-03T04:05:06Z")) == (2, 0)  # fmt: skip
    assert ingest(organization, "revenue-transactions", payment("now", now),
                  payment("old", "2001-02-03T04:05:06Z")) == (2, 0)  # fmt: skip
    assert ingest(organization, "inventory-records", consumption("now", today),
                  consumption("old", "2001-02-03")) == (2, 0)  # fmt: skip
    for table, column in ((SESSIONS, "session_id"), (REVENUE, "transaction_id"),
                          (INVENTORY, "item_id")):  # fmt: skip
        assert partition_of(table.name, column, "now") == table.partition_name(this_month)
        assert partition_of(table.name, column, "old") == table.default


def test_a_session_sent_again_in_another_month_is_a_duplicate_and_the_first_stays(
    organization, other_organization
):
    months_2025(SESSIONS, 1, 2, 3, 4)
    assert ingest(organization, "equipment-usage", session("s-1", "2025-01-10T10:00:00Z")) == (
        1, 0,
    )  # fmt: skip
    # Known, sent in March with another revenue; repeated in the batch in two months; no id.
    batch = [session("s-1", "2025-03-10T10:00:00Z", revenue="99.00"),
             session("s-2", "2025-02-01T00:00:00Z"), session("s-2", "2025-04-01T00:00:00Z"),
             session(None, "2025-04-01T00:00:00Z"),
             session(None, "2025-04-01T00:00:00Z")]  # fmt: skip
    assert ingest(organization, "equipment-usage", *batch) == (3, 2)
    stored = EquipmentUsageLog.objects.filter(organization=organization)
    assert sorted(stored.values_list("session_id", flat=True), key=str) == [
        None,
        None,
        "s-1",
        "s-2",
    ]
    first = stored.get(session_id="s-1")
    assert (first.start_time, first.revenue) == (at("2025-01-10T10:00:00"), Decimal("12.50"))
    assert stored.get(session_id="s-2").start_time == at("2025-02-01T00:00:00")
    assert keys(SESSIONS) == {"s-1": at("2025-01-10T10:00:00"), "s-2": at("2025-02-01T00:00:00")}
    assert ingest(other_organization, "equipment-usage", batch[0]) == (1, 0)


def test_a_transaction_sent_again_with_another_time_and_amount_keeps_the_one_stored_row(
    organization,
):
    months_2025(REVENUE, 1, 2, 5)
    assert ingest(organization, "revenue-transactions", payment("t-1", "2025-01-31T23:30:00Z")) == (
        1, 0,
    )  # fmt: skip
    again = [payment("t-1", "2025-02-01T00:30:00Z", amount="50.00"),
             payment("t-2", "2025-05-01T00:00:00Z")]  # fmt: skip
    assert ingest(organization, "revenue-transactions", *again) == (1, 1)
    assert list(RevenueAnalytics.objects.values_list("transaction_id", "timestamp", "amount")) == [
        ("t-2", at("2025-05-01T00:00:00"), Decimal("49.00")),
        ("t-1", at("2025-01-31T23:30:00"), Decimal("49.00")),
    ]
    assert partition_of(REVENUE.name, "transaction_id", "t-1") == "events_revenueanalytics_p202501"


def test_an_item_day_is_stored_once_by_the_unique_index_of_its_partition(organization):
    months_2025(INVENTORY, 1, 2)
    assert ingest(organization, "inventory-records", consumption("pla", "2025-01-31")) == (1, 0)
    batch = [consumption("pla", "2025-01-31", quantity=9), consumption("pla", "2025-02-01")]
    assert ingest(organization, "inventory-records", *batch) == (1, 1)
    stored = InventoryAnalytics.objects.order_by("date")
    assert list(stored.values_list("date", "quantity_consumed")) == [
        (date(2025, 1, 31), 1.5), (date(2025, 2, 1), 1.5),
    ]  # fmt: skip
    with pytest.raises(IntegrityError), transaction.atomic():
        InventoryAnalytics.objects.create(organization=organization, item_id="pla",
                                          date=date(2025, 2, 1), quantity_consumed=1)  # fmt: skip


def test_no_table_keyed_by_a_side_table_updates_on_conflict():
    """ON CONFLICT … DO UPDATE needs a unique index, which a side-table key does not have: such
    a table's records are stored once and never updated (projects, which update, are not
    partitioned)."""
    for spec in (*FACT_TABLES.values(), USAGE_EVENTS):
        if spec.model._meta.db_table in partitions.SIDE_KEYS:
            assert not spec.update_existing, spec.model


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("table", "record", "model"),
    [("equipment-usage", session, EquipmentUsageLog),
     ("revenue-transactions", payment, RevenueAnalytics)],
)  # fmt: skip
def test_two_batches_with_the_same_records_at_once_store_each_once(
    organization, table, record, model
):
    batch = [record(f"id-{n}", f"2025-0{n % 3 + 1}-10T10:00:00Z") for n in range(300)]
    results, first_stored = [], threading.Event()

    def send(hold: bool) -> None:
        try:
            with transaction.atomic():
                results.append(ingest(organization, table, *batch))
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
    assert model.objects.count() == 300


def test_an_update_moving_a_row_to_another_month_keeps_its_key_in_step(organization):
    months_2025(REVENUE, 1, 3)
    assert ingest(organization, "revenue-transactions", payment("t-1", "2025-01-10T10:00:00Z"),
                  payment("t-2", "2025-01-11T10:00:00Z")) == (2, 0)  # fmt: skip
    RevenueAnalytics.objects.filter(transaction_id="t-1").update(timestamp=at("2025-03-01"))
    assert partition_of(REVENUE.name, "transaction_id", "t-1") == "events_revenueanalytics_p202503"
    assert keys(REVENUE) == {"t-1": at("2025-03-01"), "t-2": at("2025-01-11T10:00:00")}
    with pytest.raises(IntegrityError), transaction.atomic():
        RevenueAnalytics.objects.filter(transaction_id="t-2").update(transaction_id="t-1")
    RevenueAnalytics.objects.filter(transaction_id="t-2").update(transaction_id="t-3")
    assert set(keys(REVENUE)) == {"t-1", "t-3"}
    RevenueAnalytics.objects.filter(transaction_id="t-1").delete()
    assert ingest(organization, "revenue-transactions", payment("t-1", "2025-01-10T10:00:00Z"),
                  payment("t-2", "2025-01-10T10:00:00Z")) == (2, 0)  # fmt: skip


def test_usage_events_keep_their_key_in_step_through_an_update_too(organization):
    for n in (1, 2):
        UsageEvent.objects.create(organization=organization, user_id="u", event_type="login",
                                  event_category="a", event_id=f"e-{n}",
                                  timestamp=at(f"2025-0{n}-10T10:00:00"))  # fmt: skip
    with pytest.raises(IntegrityError), transaction.atomic():
        UsageEvent.objects.filter(event_id="e-2").update(event_id="e-1")
    UsageEvent.objects.filter(event_id="e-2").update(event_id="e-3")
    with connection.cursor() as cursor:
        cursor.execute("SELECT event_id FROM events_usageeventkey")
        assert {event_id for (event_id,) in cursor.fetchall()} == {"e-1", "e-3"}


def test_the_daily_task_makes_every_tables_partitions_and_moves_rows_out_of_the_default(
    organization,
):
    import time_machine

    assert ingest(organization, "inventory-records", consumption("pla", "2002-07-04")) == (1, 0)
    assert ingest(organization, "revenue-transactions", payment("t", "2002-08-31T23:59:59Z")) == (
        1, 0,
    )  # fmt: skip
    with time_machine.travel(at("2031-01-05T03:00:00")):
        made = ensure_event_partitions()
        assert ensure_event_partitions() == []
    assert {"events_inventoryanalytics_p200207", "events_revenueanalytics_p200208",
            "events_equipmentusagelog_p203104",
            "events_inventoryanalytics_p203101"} <= set(made)  # fmt: skip
    assert partition_of(INVENTORY.name, "item_id", "pla") == "events_inventoryanalytics_p200207"
    assert partition_of(REVENUE.name, "transaction_id", "t") == "events_revenueanalytics_p200208"
    july = next(p for p in partitions.partitions_list(INVENTORY) if p.name.endswith("200207"))
    assert (july.start, july.end) == (at("2002-07-01"), at("2002-08-01"))
    assert ingest(organization, "inventory-records", consumption("pla", "2002-07-04")) == (0, 1)


def test_retention_of_events_leaves_the_fact_tables_alone(organization, settings):
    partitions.partition_create(REVENUE, at("2025-03-01"))
    assert ingest(organization, "revenue-transactions", payment("t", "2025-03-10T10:00:00Z"))
    assert ingest(organization, "equipment-usage", session("s", "2025-03-10T10:00:00Z"))
    settings.ANALYTICS_EVENT_RETENTION_DAYS = 30
    events_purge(now=at("2025-06-01T00:00:00"))
    assert partition_of(REVENUE.name, "transaction_id", "t") == "events_revenueanalytics_p202503"
    assert EquipmentUsageLog.objects.filter(session_id="s").exists()
    assert set(keys(REVENUE)) == {"t"}


def test_the_time_is_in_each_primary_key_and_a_brin_index_covers_it(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN "
            "('events_equipmentusagelog', 'events_inventoryanalytics', 'events_revenueanalytics')"
        )
        indexes = dict(cursor.fetchall())
    assert indexes["events_equipmentusagelog_pkey"].endswith("btree (id, start_time)")
    assert indexes["events_equipmentusagelog_start_time_brin"].endswith("brin (start_time)")
    assert indexes["events_inventoryanalytics_pkey"].endswith("btree (id, date)")
    assert indexes["inventory_item_day_unique"].endswith("btree (organization_id, item_id, date)")
    assert indexes["events_inventoryanalytics_date_brin"].endswith("brin (date)")
    assert indexes["events_revenueanalytics_pkey"].endswith('btree (id, "timestamp")')
    assert indexes["events_revenueanalytics_timestamp_brin"].endswith('brin ("timestamp")')
    assert "equipment_session_unique_in_organization" not in indexes  # the side table holds it


# Every app migrated, events up to 0005 (usage events partitioned, the fact tables not).
BEFORE_FACT_PARTITIONS = """
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
for app in sorted(MigrationLoader(connection).migrated_apps - {"events"}):
    call_command("migrate", app, verbosity=0)
call_command("migrate", "events", "0005", verbosity=0)
"""
SEED = """
from datetime import UTC, date, datetime, timedelta
from accounts.models import Organization
from events.models import EquipmentUsageLog, InventoryAnalytics, RevenueAnalytics
organization = Organization.objects.create(name="Acme", slug="acme")
start = datetime(2024, 11, 15, tzinfo=UTC)
EquipmentUsageLog.objects.bulk_create(
    EquipmentUsageLog(organization=organization, equipment_id="laser", user_id="u",
                      start_time=start + timedelta(hours=5 * n), duration_minutes=30,
                      session_id=f"s-{n}" if n % 3 else None)
    for n in range(1500)
)
RevenueAnalytics.objects.bulk_create(
    RevenueAnalytics(organization=organization, transaction_id=f"t-{n}",
                     timestamp=start + timedelta(hours=5 * n), revenue_source="membership",
                     amount=10)
    for n in range(1500)
)
InventoryAnalytics.objects.bulk_create(
    InventoryAnalytics(organization=organization, item_id=f"i-{n % 2}",
                       date=date(2024, 11, 15) + timedelta(days=n // 2), quantity_consumed=1)
    for n in range(600)
)
"""
CHECK = """
import json
from django.db import connection
from events.models import EquipmentUsageLog, RevenueAnalytics
from events.services import FACT_TABLES, USAGE_EVENTS, facts_ingest
organization = RevenueAnalytics.objects.first().organization
found = {}
for table, name, model, column, records in [
    ("equipment-usage", "events_equipmentusagelog", EquipmentUsageLog, "session_id",
     [{"equipment_id": "laser", "user_id": "u", "start_time": "2025-05-01T00:00:00Z",
       "duration_minutes": 5, "session_id": f"s-{n}"} for n in (1, 2, 1500)]),
    ("revenue-transactions", "events_revenueanalytics", RevenueAnalytics, "transaction_id",
     [{"transaction_id": f"t-{n}", "timestamp": "2025-05-01T00:00:00Z",
       "revenue_source": "other", "amount": "1.00"} for n in (1, 2, 1500)]),
    ("inventory-records", "events_inventoryanalytics", None, None,
     [{"item_id": "i-0", "date": "2024-11-15", "quantity_consumed": 5},
      {"item_id": "i-2", "date": "2024-11-15", "quantity_consumed": 5}]),
]:
    result = facts_ingest(table=table, organization=organization, records=records)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(DISTINCT tableoid), count(*) FROM {name}")
        spread = list(cursor.fetchone())
        cursor.execute(f"SELECT count(*) FROM pg_class WHERE relname = %s", [name + "key"])
        if cursor.fetchone()[0]:
            cursor.execute(f"SELECT count(*) FROM {name}key")
            spread.append(cursor.fetchone()[0])
        cursor.execute(
            "SELECT count(DISTINCT r.ev_class) FROM pg_depend d "
            "JOIN pg_rewrite r ON r.oid = d.objid "
            "WHERE d.refobjid = %s::regclass AND r.ev_class <> %s::regclass", [name, name])
        views = cursor.fetchone()[0]
    newest = model.objects.get(**{column: f"{column[0]}-1500"}).id if model else None
    found[table] = [*spread, views, result.stored, result.duplicates, newest]
with connection.cursor() as cursor:
    for view in ("equipment_sessions", "revenue_transactions", "inventory_records"):
        cursor.execute(f"SELECT count(*) FROM reporting.{view}")  # no organisation: no rows
print(json.dumps(found))
"""


def test_the_migration_moves_existing_fact_rows_into_partitions_with_their_keys(scratch_manage):
    manage = scratch_manage
    manage("shell", "-c", BEFORE_FACT_PARTITIONS)
    manage("shell", "-c", SEED)
    manage("migrate", "-v0")
    found = json.loads(manage("shell", "-c", CHECK).splitlines()[-1])
    # Sessions and payments of November to September: 11 partitions with a row, 1500 rows, the
    # 1000 session keys and 1500 transaction keys, read by one reporting view; then 1 and 2 are
    # known, 1500 is new: stored, its id after the moved ones'. Inventory: 300 days from
    # November in 11 partitions; i-0 on its first day is known, i-2 new.
    sessions, payments, inventory = (found[name] for name in (
        "equipment-usage", "revenue-transactions", "inventory-records"))  # fmt: skip
    assert sessions[:6] == [11, 1501, 1001, 1, 1, 2]
    assert payments[:6] == [11, 1501, 1501, 1, 1, 2]
    assert min(sessions[6], payments[6]) > 1500
    assert inventory == [11, 601, 1, 1, 1, None]
