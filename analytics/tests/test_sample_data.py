from collections import Counter
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db.models import F

from analytics.models import AnalyticsDirtyDay
from events.models import (
    EquipmentUsageLog,
    InventoryAnalytics,
    ProjectAnalytics,
    RevenueAnalytics,
    UsageEvent,
)

FACT_MODELS = (
    UsageEvent,
    EquipmentUsageLog,
    InventoryAnalytics,
    ProjectAnalytics,
    RevenueAnalytics,
)


def load(organization, *flags, events=6000, days=90, seed=7):
    call_command(
        "load_sample_data",
        "--org", organization.slug, "--events", str(events), "--days", str(days),
        "--seed", str(seed), *flags,
    )  # fmt: skip


def counts(organization):
    return [model.objects.filter(organization=organization).count() for model in FACT_MODELS]


def event_sequence(organization):
    return list(
        UsageEvent.objects.filter(organization=organization)
        .order_by("timestamp", "id")
        .values_list("event_type", "timestamp", "user_id")
    )


@pytest.mark.django_db
def test_same_seed_gives_the_same_events_in_two_organisations(organization, other_organization):
    load(organization)
    load(other_organization)
    assert len(event_sequence(organization)) == 6000
    assert event_sequence(organization) == event_sequence(other_organization)
    assert counts(organization) == counts(other_organization)


@pytest.mark.django_db
def test_another_seed_gives_other_events(organization, other_organization):
    load(organization)
    load(other_organization, seed=8)
    assert event_sequence(organization) != event_sequence(other_organization)


@pytest.mark.django_db
def test_weekday_evenings_are_busier_than_weekday_mornings(organization):
    load(organization, events=20000, days=120)
    zone = ZoneInfo(organization.time_zone)
    by_hour = Counter()
    for moment in UsageEvent.objects.filter(organization=organization).values_list(
        "timestamp", flat=True
    ):
        local = moment.astimezone(zone)
        if local.weekday() < 5:
            by_hour[local.hour] += 1
    evening = sum(by_hour[hour] for hour in range(17, 21))
    morning = sum(by_hour[hour] for hour in range(8, 12))
    assert evening > 3 * morning
    assert sum(by_hour[hour] for hour in range(2, 8)) == 0  # closed at night


@pytest.mark.django_db
def test_revenue_comes_from_several_sources_and_payment_methods(organization):
    load(organization)
    revenue = RevenueAnalytics.objects.filter(organization=organization)
    sources = set(revenue.values_list("revenue_source", flat=True))
    assert {"membership", "workshops", "equipment_usage", "materials"} <= sources
    assert len(set(revenue.values_list("payment_method", flat=True))) >= 3
    assert not revenue.filter(amount__lte=0).exists()
    paid_sessions = EquipmentUsageLog.objects.filter(organization=organization, revenue__gt=0)
    assert revenue.filter(revenue_source="equipment_usage").count() == paid_sessions.count()


@pytest.mark.django_db
def test_inventory_is_reordered_and_sessions_end_after_they_start(organization):
    load(organization)
    inventory = InventoryAnalytics.objects.filter(organization=organization)
    assert inventory.filter(reorder_triggered=True).exists()
    assert inventory.filter(reorder_triggered=False).count() > inventory.count() // 2
    sessions = EquipmentUsageLog.objects.filter(organization=organization)
    assert sessions.count() > 500
    assert not sessions.filter(end_time__lte=F("start_time")).exists()
    assert not sessions.filter(end_time__isnull=True).exists()
    maintenance = sessions.filter(usage_type="maintenance")
    assert maintenance.exists()
    assert not maintenance.filter(revenue__gt=0).exists()
    organization.refresh_from_db()
    assert organization.opening_hours["sat"] == ["09:00-18:00"]
    types = set(sessions.values_list("equipment_type", flat=True))
    assert {"3d_printer", "laser_cutter", "cnc"} <= types
    projects = ProjectAnalytics.objects.filter(organization=organization)
    assert projects.exists()
    assert not projects.filter(bom_cost__lte=0).exists()


@pytest.mark.django_db
def test_second_plain_run_adds_nothing(organization):
    load(organization)
    before = counts(organization)
    load(organization, seed=99)
    assert counts(organization) == before


@pytest.mark.django_db
def test_reset_replaces_and_drop_clears(organization):
    load(organization)
    load(organization, "--reset", events=3000)
    assert counts(organization)[0] == 3000
    load(organization, "--drop")
    assert counts(organization) == [0] * len(FACT_MODELS)


@pytest.mark.django_db
def test_only_the_named_organisation_is_touched(organization, other_organization):
    load(other_organization)
    before = counts(other_organization)
    load(organization)
    load(organization, "--reset")
    load(organization, "--drop")
    assert counts(other_organization) == before
    assert counts(organization) == [0] * len(FACT_MODELS)


@pytest.mark.django_db
def test_loaded_days_are_marked_dirty_for_the_snapshots(organization):
    load(organization, days=30)
    assert AnalyticsDirtyDay.objects.filter(organization=organization).count() == 30
