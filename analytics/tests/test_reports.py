"""Analytics reports: asked for through the API, run as report executions, every cell of every
table checked against a plain-Python computation over the rows the test inserted."""

import csv
import io
import random
import subprocess
import time
import zipfile
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.http import Http404
from openpyxl import load_workbook
from rest_framework.test import APIClient

from accounts.models import Role
from accounts.tests.factories import MembershipFactory
from analytics.models import AnalyticsReportRequest
from analytics.services import data_received, snapshots_refresh
from events.models import EquipmentUsageLog, InventoryAnalytics, RevenueAnalytics, UsageEvent
from reporting.models import ExecutionStatus, ReportExecution, ReportTemplate
from reporting.services.executions import execution_request, execution_run
from reporting.tasks import process_report_execution

REPORTS = "/api/v1/analytics/reports"
BERLIN = ZoneInfo("Europe/Berlin")
START, END = date(2025, 3, 1), date(2025, 4, 30)  # over the switch to summer time (30 March)
FILTERS = {"start_date": START.isoformat(), "end_date": END.isoformat()}
OPENING_HOURS = {
    **{day: ["09:00-12:00", "14:00-22:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
    "sat": ["10:00-16:00"],
}
OPEN_MINUTES = [660, 660, 660, 660, 660, 360, 0]  # Monday … Sunday, from OPENING_HOURS
DAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
SOURCES = ["membership", "equipment_usage", "workshops", "materials", "other"]

runs_reports = pytest.mark.django_db(databases=["default", "reporting"], transaction=True)
pytestmark = pytest.mark.usefixtures("report_output_dir")


# --- the rows ---------------------------------------------------------------------------------


def _moment(rng: random.Random) -> datetime:
    """A UTC instant from two days before START to two days after END (local days)."""
    first = datetime(2025, 2, 27, tzinfo=UTC)
    return first + timedelta(seconds=rng.randrange(int(timedelta(days=65).total_seconds())))


def _local_day(moment: datetime) -> date:
    return moment.astimezone(BERLIN).date()


def _in_range(day: date) -> bool:
    return START <= day <= END


def _days():
    return [START + timedelta(days=n) for n in range((END - START).days + 1)]


@pytest.fixture
def makerspace(organization):
    organization.opening_hours = OPENING_HOURS
    organization.save()
    return organization


@pytest.fixture
def rows(makerspace, other_organization):
    """Seeded rows of every table, some outside the range and some in another organisation;
    returns what was stored for this organisation."""
    rng = random.Random(5)
    stored = {
        "events": _usage_events(rng, makerspace),
        "inventory": _inventory(rng, makerspace),
        "equipment": _equipment(rng, makerspace),
        "revenue": _revenue(rng, makerspace),
    }
    _usage_events(rng, other_organization)
    _revenue(rng, other_organization)
    return stored


def _usage_events(rng, organization):
    types = {"login": "authentication", "logout": "authentication",
             "equipment_reservation": "equipment", "inventory_issue": "inventory"}  # fmt: skip
    events = [
        UsageEvent(
            organization=organization,
            user_id=f"u{rng.randrange(9)}",
            event_type=(kind := rng.choice(list(types))),
            event_category=types[kind],
            timestamp=_moment(rng),
        )
        for _ in range(400)
    ]
    # 23:30 UTC on 28 February is 00:30 on 1 March in Berlin: inside the range.
    events.append(UsageEvent(organization=organization, user_id="owl", event_type="login",
                             event_category="authentication",
                             timestamp=datetime(2025, 2, 28, 23, 30, tzinfo=UTC)))  # fmt: skip
    return UsageEvent.objects.bulk_create(events)


def _inventory(rng, organization):
    items = [("pla", "PLA filament", "filament"), ("ply", "Plywood 4 mm", "wood"),
             ("acr", "Acrylic sheet", "plastics"), ("scr", "Screws M3", "hardware")]  # fmt: skip
    records = []
    for day in [START - timedelta(days=1), *_days(), END + timedelta(days=1)]:
        for item_id, name, category in rng.sample(items, rng.randrange(len(items) + 1)):
            records.append(
                InventoryAnalytics(
                    organization=organization,
                    item_id=item_id,
                    item_name=name,
                    category=category,
                    date=day,
                    quantity_consumed=rng.randrange(1, 60) / 10,
                    cost_consumed=Decimal(rng.randrange(100, 5000)) / 100,
                    efficiency_score=rng.choice([None, rng.randrange(50, 100) / 100]),
                    waste_percentage=rng.randrange(0, 300) / 10,
                    reorder_triggered=rng.random() < 0.1,
                )
            )
    return InventoryAnalytics.objects.bulk_create(records)


def _equipment(rng, organization):
    machines = [("p1", "Prusa MK4", "3d_printer"), ("l1", "Laser 60 W", "laser_cutter"),
                ("c1", "CNC router", "cnc")]  # fmt: skip
    sessions = []
    for n in range(150):
        equipment_id, name, kind = rng.choice(machines)
        start = _moment(rng)
        minutes = rng.randrange(5, 240)
        sessions.append(
            EquipmentUsageLog(
                organization=organization,
                equipment_id=equipment_id,
                equipment_name=name,
                equipment_type=kind,
                user_id=f"u{rng.randrange(9)}",
                usage_type=rng.choice(["session", "session", "training", "maintenance"]),
                start_time=start,
                end_time=start + timedelta(minutes=minutes),
                duration_minutes=minutes,
                # A failed session is still a session (and still counts its minutes).
                status="failed" if n % 10 == 0 else "completed",
                cost=Decimal(rng.randrange(0, 2000)) / 100,
                revenue=Decimal(rng.randrange(0, 6000)) / 100,
            )
        )
    return EquipmentUsageLog.objects.bulk_create(sessions)


def _revenue(rng, organization):
    payments = [
        RevenueAnalytics(
            organization=organization,
            transaction_id=f"t{n}",
            timestamp=_moment(rng),
            revenue_source=rng.choice(SOURCES),
            amount=Decimal(rng.randrange(500, 20000)) / 100,
            payment_method=rng.choice(["card", "card", "cash", "invoice", ""]),
        )
        for n in range(200)
    ]
    return RevenueAnalytics.objects.bulk_create(payments)


# --- what the report must say, computed in plain Python ---------------------------------------


def _ratio(part, whole):
    return round(float(part) / float(whole), 2) if whole else None


def _percent(part, whole):
    return round(float(part) * 100 / float(whole), 2) if whole else None


def expected_usage(stored):
    events = [e for e in stored["events"] if _in_range(_local_day(e.timestamp))]
    daily = []
    for day in _days():
        on_day = [e for e in events if _local_day(e.timestamp) == day]
        logins = sum(e.event_type == "login" for e in on_day)
        daily.append([day, len(on_day), len({e.user_id for e in on_day}), logins])
    logins = [e.timestamp.astimezone(BERLIN) for e in events if e.event_type == "login"]
    by_weekday = Counter(moment.weekday() for moment in logins)
    weekdays_in_range = Counter(day.weekday() for day in _days())
    weekdays = [
        [n + 1, DAY_NAMES[n], by_weekday[n], _ratio(by_weekday[n], weekdays_in_range[n])]
        for n in range(7)
    ]
    grid = Counter((moment.isoweekday(), moment.hour) for moment in logins)
    hours = [[wd, DAY_NAMES[wd - 1], hour, n] for (wd, hour), n in sorted(grid.items())]
    event_hours = Counter(e.timestamp.astimezone(BERLIN).hour for e in events)
    login_hours = Counter(moment.hour for moment in logins)
    peak = [[hour, event_hours[hour], login_hours[hour]] for hour in range(24)]
    kinds = defaultdict(list)
    for e in events:
        kinds[(e.event_category, e.event_type)].append(e.user_id)
    types = sorted(
        ([cat, kind, len(users), len(set(users))] for (cat, kind), users in kinds.items()),
        key=lambda row: (-row[2], row[0], row[1]),
    )
    return {
        "Usage - daily activity": (["day", "events", "active_users", "logins"], daily),
        "Usage - logins by weekday": (
            ["weekday", "day_name", "logins", "logins_per_day"], weekdays),
        "Usage - login hours": (["weekday", "day_name", "hour", "logins"], hours),
        "Usage - peak hours": (["hour", "events", "logins"], peak),
        "Usage - event types": (["event_category", "event_type", "events", "users"], types),
    }  # fmt: skip


def _mean(values):
    values = [v for v in values if v is not None]
    return round(sum(values) / len(values), 2) if values else None


def expected_inventory(stored):
    records = [r for r in stored["inventory"] if _in_range(r.date)]
    daily = []
    for day in _days():
        on_day = [r for r in records if r.date == day]
        daily.append([
            day, round(sum(r.quantity_consumed for r in on_day), 3),
            sum((r.cost_consumed for r in on_day), Decimal(0)), len({r.item_id for r in on_day}),
            sum(r.reorder_triggered for r in on_day),
        ])  # fmt: skip
    by_item, by_category = defaultdict(list), defaultdict(list)
    for r in records:
        by_item[r.item_id].append(r)
        by_category[r.category].append(r)
    items = sorted(
        ([item_id, rs[0].item_name, rs[0].category,
          round(sum(r.quantity_consumed for r in rs), 3), sum(r.cost_consumed for r in rs),
          _mean([r.efficiency_score for r in rs]), _mean([r.waste_percentage for r in rs]),
          sum(r.reorder_triggered for r in rs)] for item_id, rs in by_item.items()),
        key=lambda row: (-row[4], row[0]),
    )  # fmt: skip
    categories = sorted(
        ([category, len({r.item_id for r in rs}), round(sum(r.quantity_consumed for r in rs), 3),
          sum(r.cost_consumed for r in rs)] for category, rs in by_category.items()),
        key=lambda row: (-row[3], row[0]),
    )  # fmt: skip
    return {
        "Inventory - consumption by day": (
            ["day", "quantity", "cost", "items", "reorders"], daily),
        "Inventory - by item": (
            ["item_id", "item_name", "category", "quantity", "cost", "efficiency",
             "waste_percent", "reorders"], items),
        "Inventory - by category": (["category", "items", "quantity", "cost"], categories),
    }  # fmt: skip


def _maintenance(session) -> bool:
    return session.usage_type == "maintenance"


def expected_equipment(stored):
    """The dashboard's definitions: maintenance apart from sessions and minutes, failed
    sessions counted, utilisation over the opening minutes of the days up to today."""
    sessions = [s for s in stored["equipment"] if _in_range(_local_day(s.start_time))]
    today = datetime.now(BERLIN).date()
    open_minutes = sum(OPEN_MINUTES[day.weekday()] for day in _days() if day <= today)
    by_machine = defaultdict(list)
    for s in sessions:
        by_machine[s.equipment_id].append(s)
    minutes = {e: sum(s.duration_minutes for s in ss if not _maintenance(s))
               for e, ss in by_machine.items()}  # fmt: skip
    machines, upkeep, money = [], [], []
    for equipment_id in sorted(by_machine, key=lambda e: (-minutes[e], e)):  # busiest first
        ss, used = by_machine[equipment_id], minutes[equipment_id]
        name, kind = ss[0].equipment_name, ss[0].equipment_type
        used_sessions = sum(not _maintenance(s) for s in ss)
        maintenance = [s.duration_minutes for s in ss if _maintenance(s)]
        revenue, cost = sum(s.revenue for s in ss), sum(s.cost for s in ss)
        machines.append([equipment_id, name, kind, used_sessions, used,
                         _ratio(used, used_sessions), _percent(used, open_minutes)])  # fmt: skip
        upkeep.append([equipment_id, name, len(maintenance), sum(maintenance),
                       _percent(sum(maintenance), used + sum(maintenance))])  # fmt: skip
        money.append([equipment_id, name, revenue, cost, revenue - cost])
    daily = []
    for day in _days():
        on_day = [s for s in sessions if _local_day(s.start_time) == day]
        daily.append([
            day, sum(not _maintenance(s) for s in on_day),
            sum(s.duration_minutes for s in on_day if not _maintenance(s)),
            sum(_maintenance(s) for s in on_day),
            sum((s.revenue for s in on_day), Decimal(0)),
        ])  # fmt: skip
    return {
        "Equipment - utilisation": (
            ["equipment_id", "equipment_name", "equipment_type", "sessions", "minutes",
             "mean_minutes", "utilisation_percent"], machines),
        "Equipment - maintenance": (
            ["equipment_id", "equipment_name", "maintenance_sessions", "maintenance_minutes",
             "maintenance_share"], upkeep),
        "Equipment - revenue": (
            ["equipment_id", "equipment_name", "revenue", "cost", "margin"], money),
        "Equipment - by day": (
            ["day", "sessions", "minutes", "maintenance_sessions", "revenue"], daily),
    }  # fmt: skip


def expected_revenue(stored):
    payments = [p for p in stored["revenue"] if _in_range(_local_day(p.timestamp))]
    daily = []
    for day in _days():
        on_day = [p for p in payments if _local_day(p.timestamp) == day]
        per_source = [sum((p.amount for p in on_day if p.revenue_source == s), Decimal(0))
                      for s in SOURCES]  # fmt: skip
        daily.append([day, *per_source, sum((p.amount for p in on_day), Decimal(0)), len(on_day)])
    total = sum(p.amount for p in payments)
    by_method = defaultdict(list)
    for p in payments:
        by_method[p.payment_method or "unspecified"].append(p.amount)
    methods = sorted(
        ([method, len(amounts), sum(amounts), _percent(sum(amounts), total)]
         for method, amounts in by_method.items()),
        key=lambda row: (-row[2], row[0]),
    )  # fmt: skip
    monthly, previous = [], None
    for month in (date(2025, 3, 1), date(2025, 4, 1)):
        in_month = [p.amount for p in payments
                    if _local_day(p.timestamp).replace(day=1) == month]  # fmt: skip
        amount = sum(in_month, Decimal(0))
        growth = None if previous is None else _percent(amount - previous, previous)
        monthly.append([month, len(in_month), amount, growth])
        previous = amount
    return {
        "Revenue - by day and source": (
            ["day", *SOURCES, "total", "transactions"], daily),
        "Revenue - payment methods": (
            ["payment_method", "transactions", "amount", "share_percent"], methods),
        "Revenue - by month": (["month", "transactions", "amount", "growth_percent"], monthly),
    }  # fmt: skip


EXPECTED = {
    "usage": (expected_usage, "Usage report", 4),
    "inventory": (expected_inventory, "Inventory report", 3),
    "equipment": (expected_equipment, "Equipment report", 4),
    "revenue": (expected_revenue, "Revenue report", 3),
}


# --- reading the files ------------------------------------------------------------------------


def _same(actual, expected) -> bool:
    """A cell as read back (text from CSV, a typed value from XLSX) against the computed one."""
    if expected is None:
        return actual in (None, "")
    if isinstance(expected, date):
        actual = actual.date() if isinstance(actual, datetime) else date.fromisoformat(actual)
        return actual == expected
    if isinstance(expected, int | float | Decimal):
        return float(actual) == pytest.approx(float(expected), abs=0.0051)
    return str(actual) == expected


def assert_table(name, header, rows, expected):
    expected_header, expected_rows = expected
    assert header == expected_header, name
    assert len(rows) == len(expected_rows), name
    for number, (row, wanted) in enumerate(zip(rows, expected_rows, strict=True), start=1):
        assert len(row) == len(wanted), (name, number)
        for column, actual, value in zip(header, row, wanted, strict=True):
            assert _same(actual, value), f"{name}, row {number}, {column}: {actual!r} ≠ {value!r}"


def check_csv(content, expected, report):
    tables = {slug(name): table for name, table in expected.items()}
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert sorted(archive.namelist()) == sorted(f"{name}.csv" for name in tables)
        for name, table in tables.items():
            lines = list(csv.reader(io.StringIO(archive.read(f"{name}.csv").decode())))
            assert_table(name, lines[0], lines[1:], table)


def slug(sheet: str) -> str:
    return sheet.lower().replace(" - ", "_").replace(" ", "_")


def check_xlsx(content, expected, report):
    _, title, charts = EXPECTED[report]
    workbook = load_workbook(io.BytesIO(content))
    assert workbook.sheetnames == ["Summary", *expected]
    summary = workbook["Summary"]
    assert summary["A1"].value == title
    assert len(summary._charts) == charts
    for name, table in expected.items():
        values = [list(row) for row in workbook[name].iter_rows(values_only=True)]
        assert_table(name, values[0], values[1:], table)


def _pdf_text(value) -> str:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float | Decimal):
        return f"{float(value):.15g}"
    return str(value)


def check_pdf(content, expected, report):
    text = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=content, capture_output=True, check=True
    ).stdout.decode()
    assert EXPECTED[report][1] in text
    assert "Acme Makerspace" in text  # the organisation's branding
    assert "Page 1 of" in text
    for name, (_, rows) in expected.items():
        assert name in text
        for value in rows[0]:  # the first row, as the layout writes it
            if value is not None:
                assert _pdf_text(value) in text, (name, value)


CHECKS = {"csv": check_csv, "xlsx": check_xlsx, "pdf": check_pdf}


# --- helpers ----------------------------------------------------------------------------------


@pytest.fixture
def broker(monkeypatch):
    """The broker is the edge: executions queued after commit are collected, not sent."""
    queued = []
    monkeypatch.setattr(
        process_report_execution,
        "apply_async",
        lambda args, task_id=None, **options: queued.append(args[0]),
    )
    return queued


def ask(client, report_type="usage", output_format="xlsx", filters=FILTERS):
    body = {"report_type": report_type, "format": output_format}
    if filters is not None:
        body["filters"] = filters
    return client.post(f"{REPORTS}/request", body, format="json")


def download(client, body):
    response = client.get(body["links"]["download"])
    assert response.status_code == 200, response.content
    assert response["Content-Disposition"].startswith("attachment;")
    return b"".join(response.streaming_content)


def member_client(organization, role, username):
    user = MembershipFactory(organization=organization, role=role, user__username=username).user
    client = APIClient()
    client.force_authenticate(user)
    return client


# --- end to end -------------------------------------------------------------------------------


@runs_reports
@pytest.mark.parametrize("output_format", ["csv", "xlsx", "pdf"])
@pytest.mark.parametrize("report_type", ["usage", "inventory", "equipment", "revenue"])
def test_each_report_holds_what_the_rows_say(
    admin_client_api, rows, broker, report_type, output_format
):
    response = ask(admin_client_api, report_type, output_format)
    assert response.status_code == 202, response.json()
    body = response.json()
    assert (body["status"], body["filters"]) == ("queued", FILTERS)
    assert response["Location"] == body["links"]["self"]
    assert broker == [body["execution_id"]]  # queued once the request committed

    not_yet = admin_client_api.get(body["links"]["download"])
    assert not_yet.status_code == 409
    assert not_yet.json()["status"] == "queued"

    execution_run(execution_id=body["execution_id"])
    assert admin_client_api.get(body["links"]["self"]).json()["status"] == "succeeded"
    content = download(admin_client_api, body)
    compute = EXPECTED[report_type][0]
    CHECKS[output_format](content, compute(rows), report_type)


@runs_reports
def test_a_report_runs_through_a_real_worker(live_worker, admin_client_api, rows):
    body = ask(admin_client_api, "revenue", "xlsx").json()
    deadline = time.monotonic() + 90
    while (state := admin_client_api.get(body["links"]["self"]).json())["status"] in (
        "queued",
        "running",
    ):
        assert time.monotonic() < deadline, state
        time.sleep(0.3)
    assert state["status"] == "succeeded", state["error"]
    check_xlsx(download(admin_client_api, body), expected_revenue(rows), "revenue")


@runs_reports
def test_a_failed_report_answers_409_with_its_error(admin_client_api, makerspace, broker):
    body = ask(admin_client_api, "usage", "csv").json()
    ReportExecution.objects.filter(pk=body["execution_id"]).update(
        status=ExecutionStatus.FAILED, error="The database went away."
    )
    response = admin_client_api.get(body["links"]["download"])
    assert response.status_code == 409
    assert response.json() == {
        "status": "failed",
        "detail": "The report failed: The database went away.",
    }


@runs_reports
@pytest.mark.parametrize(
    ("today", "refreshed"),
    [
        (date(2025, 4, 9), False),  # inside the range: later days have no opening minutes
        (date(2025, 5, 10), True),  # after it, with the days' snapshots refreshed
    ],
    ids=["today_inside_the_range", "after_the_range_refreshed"],
)
def test_the_equipment_report_and_the_dashboard_agree_machine_by_machine(
    admin_client_api, makerspace, rows, broker, today, refreshed
):
    with time_machine.travel(datetime.combine(today, datetime.min.time(), BERLIN), tick=False):
        # A usage log holds no session that has not started yet.
        tomorrow = datetime.combine(today + timedelta(days=1), datetime.min.time(), BERLIN)
        EquipmentUsageLog.objects.filter(start_time__gte=tomorrow).delete()
        logged = EquipmentUsageLog.objects.filter(organization=makerspace)
        # What ingestion does for new rows: their days are read raw until refreshed.
        data_received(organization=makerspace, moments=logged.values_list("start_time", flat=True))
        if refreshed:
            snapshots_refresh(organization=makerspace)
        dashboard = admin_client_api.get("/api/v1/analytics/equipment", FILTERS).json()
        body = ask(admin_client_api, "equipment", "csv").json()
        execution_run(execution_id=body["execution_id"])
        content = download(admin_client_api, body)

    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        utilisation, maintenance = (
            list(csv.DictReader(io.StringIO(archive.read(f"{name}.csv").decode())))
            for name in ("equipment_utilisation", "equipment_maintenance")
        )
    days_to_today = [day for day in _days() if day <= today]
    assert dashboard["open_minutes"] == sum(OPEN_MINUTES[day.weekday()] for day in days_to_today)
    assert logged.filter(usage_type="maintenance").exists()
    assert logged.filter(status="failed").exists()

    def number(cell):
        return None if cell == "" else float(cell)

    report = [
        [row["equipment_id"], int(row["sessions"]), int(row["minutes"]),
         number(row["mean_minutes"]), number(row["utilisation_percent"]),
         int(upkeep["maintenance_sessions"]), int(upkeep["maintenance_minutes"])]
        for row, upkeep in zip(utilisation, maintenance, strict=True)
    ]  # fmt: skip
    answer = [
        [m["equipment_id"], m["sessions"], m["minutes"], m["mean_session_minutes"],
         m["utilisation_percent"], m["maintenance_sessions"], m["maintenance_minutes"]]
        for m in dashboard["equipment"]
    ]  # fmt: skip
    assert len(answer) == 3
    assert report == answer


# --- templates, defaults, listing ------------------------------------------------------------


def test_the_built_in_template_is_made_once_per_organisation_and_type(admin_client_api, makerspace):
    for _ in range(2):
        assert ask(admin_client_api, "equipment", "pdf").status_code == 202
    template = ReportTemplate.objects.get(organization=makerspace)
    assert (template.slug, template.report_type) == ("analytics-equipment", "equipment")
    assert [link.data_source.config for link in template.sources.all()] == [
        {"dataset": "analytics_equipment"},
        {"dataset": "analytics_equipment_maintenance"},
        {"dataset": "analytics_equipment_revenue"},
        {"dataset": "analytics_equipment_daily"},
    ]
    assert [chart["table"] for chart in template.charts] == [
        "equipment_utilisation",
        "equipment_maintenance",
        "equipment_revenue",
        "equipment_by_day",
    ]
    assert template.parameters_schema["properties"]["start_date"]["format"] == "date"
    assert ReportExecution.objects.filter(template=template).count() == 2


def test_missing_dates_are_the_30_days_up_to_today_in_the_organisations_zone(
    admin_client_api, makerspace
):
    # 23:30 UTC on 30 April is already 1 May in Berlin.
    with time_machine.travel(datetime(2025, 4, 30, 23, 30, tzinfo=UTC), tick=False):
        response = ask(admin_client_api, "usage", "csv", filters=None)
    assert response.status_code == 202, response.json()
    assert response.json()["filters"] == {"start_date": "2025-04-02", "end_date": "2025-05-01"}
    execution = ReportExecution.objects.get()
    assert execution.parameters == response.json()["filters"]
    assert execution.output_formats == ["csv"]


def test_the_list_holds_only_the_callers_own_requests_newest_first(
    admin_client_api, makerspace, other_organization
):
    first = ask(admin_client_api, "usage", "csv").json()
    second = ask(admin_client_api, "revenue", "pdf").json()
    colleague = member_client(makerspace, Role.ADMIN, "colleague")
    ask(colleague, "inventory", "xlsx")
    elsewhere = member_client(other_organization, Role.ADMIN, "their-admin")
    ask(elsewhere, "usage", "csv")

    body = admin_client_api.get(REPORTS).json()
    assert body["count"] == 2
    assert [item["id"] for item in body["results"]] == [second["id"], first["id"]]
    assert body["results"][0]["status"] == "queued"
    assert body["results"][0]["report_type"] == "revenue"
    assert body["results"][0]["filters"] == FILTERS
    assert colleague.get(REPORTS).json()["count"] == 1
    assert elsewhere.get(REPORTS).json()["count"] == 1


def test_another_users_or_organisations_request_is_a_404(
    admin_client_api, super_admin, makerspace, other_organization
):
    mine = ask(admin_client_api, "usage", "csv").json()
    colleague = member_client(makerspace, Role.ADMIN, "colleague")
    elsewhere = member_client(other_organization, Role.ADMIN, "their-admin")
    platform_admin = APIClient()
    platform_admin.force_authenticate(super_admin)
    for client, organization in [
        (colleague, None),
        (elsewhere, None),
        (platform_admin, "acme"),  # another user's, in the same organisation
        (platform_admin, "northwind"),
    ]:
        headers = {"X-Organization": organization} if organization else {}
        for link in (mine["links"]["self"], mine["links"]["download"]):
            response = client.get(link, headers=headers)
            assert response.status_code == 404, (organization, response.json())
    assert colleague.get(f"{REPORTS}/not-a-uuid/download").status_code == 404


@pytest.mark.parametrize("client_fixture", ["analyst_client", "viewer_client"])
def test_analysts_and_viewers_may_not_use_analytics_reports(request, client_fixture):
    client = request.getfixturevalue(client_fixture)
    assert ask(client).status_code == 403
    assert client.get(REPORTS).status_code == 403
    assert not AnalyticsReportRequest.objects.exists()


@pytest.mark.parametrize("report_type", ["usage", "inventory", "equipment", "revenue"])
def test_an_analyst_cannot_see_or_run_a_built_in_template_through_the_reporting_api(
    admin_client_api, analyst, analyst_client, makerspace, report_type
):
    body = ask(admin_client_api, report_type, "csv").json()
    template = ReportTemplate.objects.get(organization=makerspace)
    assert (template.slug, template.run_role) == (f"analytics-{report_type}", Role.ADMIN)
    bi = "/api/v1/business-intelligence"
    assert analyst_client.get(f"{bi}/report-templates/{template.pk}").status_code == 404
    assert template.pk not in [t["id"] for t in analyst_client.get(f"{bi}/report-templates")
                               .json()["results"]]  # fmt: skip
    run = {"template_id": template.pk, "parameters": FILTERS}
    response = analyst_client.post(f"{bi}/report-executions", run, format="json")
    assert response.status_code == 400  # no such template for the analyst
    assert "template_id" in response.json()
    assert analyst_client.get(f"{bi}/report-executions/{body['execution_id']}").status_code == 404
    with pytest.raises(Http404):  # the service every door goes through (the admin's too)
        execution_request(template=template, parameters=FILTERS, requested_by=analyst,
                          trigger="admin")  # fmt: skip
    assert ReportExecution.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"report_type": "projects", "format": "csv"}, "report_type"),
        ({"report_type": "usage", "format": "docx"}, "format"),
        ({"format": "csv"}, "report_type"),
        ({"report_type": "usage", "format": "csv", "filters": {"start_date": "1 March"}},
         "filters.start_date"),
        ({"report_type": "usage", "format": "csv", "filters": {"end_date": "2025-02-30"}},
         "filters.end_date"),
        ({"report_type": "usage", "format": "csv",
          "filters": {"start_date": "2025-04-02", "end_date": "2025-04-01"}},
         "filters.start_date"),
        ({"report_type": "usage", "format": "csv",
          "filters": {"start_date": "2023-01-01", "end_date": "2025-01-01"}},
         "filters.start_date"),
        ({"report_type": "usage", "format": "csv", "filters": {"user_id": "u1"}},
         "filters.user_id"),
    ],
)  # fmt: skip
def test_bad_input_is_a_400_naming_the_field(admin_client_api, makerspace, body, field):
    response = admin_client_api.post(f"{REPORTS}/request", body, format="json")
    assert response.status_code == 400
    errors = response.json()
    for part in field.split("."):
        errors = errors[part]
    assert errors
    assert not ReportExecution.objects.exists()


def test_a_range_of_731_days_is_allowed(admin_client_api, makerspace):
    filters = {"start_date": "2023-01-01", "end_date": "2024-12-31"}  # 731 days
    assert ask(admin_client_api, "usage", "csv", filters).status_code == 202
