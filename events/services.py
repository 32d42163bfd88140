"""Writing analytics tables: usage events and the four fact tables, one or a batch, all or
nothing, each natural key stored once (see `ingestion.Table` for the idempotency rule)."""

from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import Organization
from analytics.services import data_received, events_received
from config.metrics import events_ingested_count
from events.ingestion import (
    IngestResult,
    Problems,
    Table,
    choice,
    day,
    flag,
    json_value,
    moment,
    money,
    number,
    records_ingest,
    text,
    whole_number,
)
from events.models import (
    EquipmentUsageLog,
    InventoryAnalytics,
    ProjectAnalytics,
    RevenueAnalytics,
    UsageEvent,
)

USAGE_EVENTS = Table(
    model=UsageEvent,
    fields={
        "event_type": text(64, required=True),
        "event_category": text(64, required=True),
        "metadata": json_value(dict),
        "timestamp": moment(),
        "user_id": text(128, required=True),
        "event_id": text(128),
    },
    key=("event_id",),
    pseudonymised=("user_id",),
)


def _session_times(values: dict[str, Any]) -> Problems:
    start, end = values["start_time"], values.get("end_time")
    if end is not None and end < start:
        return [("end_time", "Not before start_time.")]
    if "duration_minutes" not in values:
        if end is None:
            return [("duration_minutes", "Required unless end_time is given.")]
        values["duration_minutes"] = int((end - start).total_seconds() // 60)
    return []


def _project_dates(values: dict[str, Any]) -> Problems:
    if values.get("end_date") and values["end_date"] < values["start_date"]:
        return [("end_date", "Not before start_date.")]
    values.setdefault("bom_item_count", len(values.get("bom_items", [])))
    return []


EQUIPMENT_USAGE = Table(
    model=EquipmentUsageLog,
    fields={
        "equipment_id": text(128, required=True),
        "equipment_name": text(200),
        "equipment_type": text(64),
        "user_id": text(128, required=True),
        "project_id": text(128),
        "usage_type": text(64),
        "status": choice(EquipmentUsageLog.Status.values),
        "start_time": moment(required=True),
        "end_time": moment(),
        "duration_minutes": whole_number(),
        "materials_used": json_value(dict),
        "cost": money(),
        "revenue": money(),
        "session_id": text(128),
    },
    key=("session_id",),
    pseudonymised=("user_id",),
    derive=_session_times,
)

INVENTORY_RECORDS = Table(
    model=InventoryAnalytics,
    fields={
        "item_id": text(128, required=True),
        "item_name": text(200),
        "category": text(64),
        "date": day(required=True),
        "quantity_consumed": number(required=True),
        "cost_consumed": money(),
        "efficiency_score": number(),
        "waste_percentage": number(),
        "reorder_triggered": flag(),
    },
    key=("item_id", "date"),
)

PROJECT_RECORDS = Table(
    model=ProjectAnalytics,
    fields={
        "project_id": text(128, required=True),
        "name": text(200),
        "status": choice(ProjectAnalytics.Status.values),
        "start_date": day(required=True),
        "end_date": day(),
        "bom_cost": money(),
        "bom_item_count": whole_number(),
        "bom_items": json_value(list),
    },
    key=("project_id",),
    update_existing=True,
    derive=_project_dates,
)

REVENUE_TRANSACTIONS = Table(
    model=RevenueAnalytics,
    fields={
        "transaction_id": text(128, required=True),
        "timestamp": moment(required=True),
        "revenue_source": choice(RevenueAnalytics.Source.values, required=True),
        "amount": money(required=True),
        "currency": text(3),
        "payment_method": text(32),
        "customer_id": text(128),
    },
    key=("transaction_id",),
    pseudonymised=("customer_id",),
)

# By the name the API path and the import command use.
FACT_TABLES = {
    "equipment-usage": EQUIPMENT_USAGE,
    "inventory-records": INVENTORY_RECORDS,
    "project-records": PROJECT_RECORDS,
    "revenue-transactions": REVENUE_TRANSACTIONS,
}


@transaction.atomic
def events_ingest(
    *, organization: Organization, events: list[Any], default_user_id: str | None
) -> IngestResult:
    """Usage events; one without a user_id is the caller's (`default_user_id`)."""
    # The time stands in for a missing timestamp, so the counters count the stored one.
    now = timezone.now()
    defaults = {"timestamp": now.isoformat()}
    if default_user_id is not None:
        defaults["user_id"] = default_user_id
    result = records_ingest(
        table=USAGE_EVENTS, organization=organization, records=events, name="events",
        defaults=defaults,
    )  # fmt: skip
    if result.stored:
        events_received(
            organization=organization, rows=result.rows, stored=result.stored, since=now
        )
    transaction.on_commit(lambda: events_ingested_count(table="events", count=result.stored))
    return result


# The field that puts a fact on a day; projects are read from their table, not from roll-ups.
_DAY_FIELDS = {"equipment-usage": "start_time", "inventory-records": "date",
               "revenue-transactions": "timestamp"}  # fmt: skip


@transaction.atomic
def facts_ingest(*, table: str, organization: Organization, records: list[Any]) -> IngestResult:
    """Records of one fact table, named as in FACT_TABLES."""
    spec = FACT_TABLES[table]
    result = records_ingest(table=spec, organization=organization, records=records)
    if result.stored or result.updated:
        name = _DAY_FIELDS.get(table)
        moments = [row[name] for row in result.rows] if name else []
        data_received(organization=organization, moments=moments)
    transaction.on_commit(lambda: events_ingested_count(table=table, count=result.stored))
    return result
