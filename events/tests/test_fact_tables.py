import csv
import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from events.models import EquipmentUsageLog, InventoryAnalytics, ProjectAnalytics, RevenueAnalytics

API = "/api/v1/analytics"


def session(n: int, **changes):
    return {"equipment_id": "laser-1", "equipment_name": "Laser cutter", "user_id": f"u{n}",
            "start_time": f"2024-01-{n % 28 + 1:02d}T10:00:00Z", "duration_minutes": 30,
            "session_id": f"s-{n}", "revenue": "12.50", **changes}  # fmt: skip


def consumption(n: int, **changes):
    return {"item_id": f"pla-{n}", "item_name": "PLA filament", "category": "filament",
            "date": "2024-01-10", "quantity_consumed": 1.5, "cost_consumed": "30.00",
            **changes}  # fmt: skip


def project(n: int, **changes):
    return {"project_id": f"p-{n}", "name": f"Project {n}", "status": "active",
            "start_date": "2024-01-10", "bom_cost": "99.90",
            "bom_items": [{"item_id": "pla-1", "quantity": 2}], **changes}  # fmt: skip


def payment(n: int, **changes):
    return {"transaction_id": f"t-{n}", "timestamp": "2024-01-10T10:00:00Z",
            "revenue_source": "membership", "amount": "49.00", "payment_method": "card",
            **changes}  # fmt: skip


def test_equipment_sessions_with_a_known_session_id_are_stored_once(viewer_client):
    first = viewer_client.post(f"{API}/equipment-usage", {"records": [session(1), session(2)]},
                               format="json")  # fmt: skip
    assert (first.status_code, first.json()) == (201, {"stored": 2, "duplicates": 0})
    again = {"records": [session(2), session(3), session(3)]}
    assert viewer_client.post(f"{API}/equipment-usage", again, format="json").json() == {
        "stored": 1, "duplicates": 2,
    }  # fmt: skip
    assert EquipmentUsageLog.objects.get(session_id="s-3").revenue == Decimal("12.50")


def test_a_session_with_an_end_time_gets_its_duration(viewer_client):
    record = session(1, end_time="2024-01-02T11:15:00Z")
    del record["duration_minutes"]
    assert viewer_client.post(f"{API}/equipment-usage", record, format="json").status_code == 201
    assert EquipmentUsageLog.objects.get().duration_minutes == 75


def test_a_day_of_an_item_is_counted_once(viewer_client):
    batch = [consumption(1), consumption(2), consumption(1, quantity_consumed=9)]
    first = viewer_client.post(f"{API}/inventory-records", {"records": batch}, format="json")
    assert first.json() == {"stored": 2, "duplicates": 1}
    next_day = {"records": [consumption(1), consumption(1, date="2024-01-11")]}
    second = viewer_client.post(f"{API}/inventory-records", next_day, format="json")
    assert second.json() == {"stored": 1, "duplicates": 1}
    assert (
        InventoryAnalytics.objects.get(item_id="pla-1", date="2024-01-10").quantity_consumed == 1.5
    )


def test_a_project_sent_again_replaces_the_stored_one(viewer_client):
    viewer_client.post(f"{API}/project-records", {"records": [project(1)]}, format="json")
    batch = [project(1, status="on_hold"), project(2), project(2, bom_cost="5.00")]
    response = viewer_client.post(f"{API}/project-records", {"records": batch}, format="json")
    assert response.json() == {"stored": 1, "duplicates": 1, "updated": 1}
    stored = {p.project_id: p for p in ProjectAnalytics.objects.all()}
    assert (stored["p-1"].status, stored["p-1"].bom_item_count) == ("on_hold", 1)
    assert stored["p-2"].bom_cost == Decimal("5.00")  # the last of the batch wins


def test_a_transaction_sent_twice_is_counted_once(viewer_client):
    viewer_client.post(f"{API}/revenue-transactions", payment(1), format="json")
    batch = {"records": [payment(1), payment(2), payment(2)]}
    response = viewer_client.post(f"{API}/revenue-transactions", batch, format="json")
    assert response.json() == {"stored": 1, "duplicates": 2}
    assert sum(r.amount for r in RevenueAnalytics.objects.all()) == Decimal("98.00")


@pytest.mark.parametrize(
    ("path", "batch", "where"),
    [
        ("equipment-usage", [session(1), session(2, start_time="soon")], (1, "start_time")),
        ("equipment-usage", [session(1, end_time="2023-12-01T00:00:00Z")], (0, "end_time")),
        ("inventory-records", [consumption(1, quantity_consumed="lots")],
         (0, "quantity_consumed")),
        ("project-records", [project(1), project(2, status="dreaming")], (1, "status")),
        ("revenue-transactions", [payment(1), payment(2, amount="1.999")], (1, "amount")),
        ("revenue-transactions", [payment(1, colour="red")], (0, "colour")),
    ],
)  # fmt: skip
def test_a_batch_with_one_bad_record_stores_nothing_and_says_where(
    viewer_client, path, batch, where
):
    response = viewer_client.post(f"{API}/{path}", {"records": batch}, format="json")
    assert response.status_code == 400
    errors = response.json()["records"]
    assert [(e["index"], e["field"]) for e in errors] == [where]
    assert errors[0]["reason"]
    for model in (EquipmentUsageLog, InventoryAnalytics, ProjectAnalytics, RevenueAnalytics):
        assert not model.objects.exists()


@pytest.mark.parametrize(
    ("path", "record"),
    [("equipment-usage", session), ("inventory-records", consumption),
     ("project-records", project), ("revenue-transactions", payment)],
)  # fmt: skip
def test_a_batch_over_the_limit_is_413(viewer_client, settings, path, record):
    settings.ANALYTICS_BATCH_SIZE = 2
    response = viewer_client.post(
        f"{API}/{path}", {"records": [record(n) for n in range(3)]}, format="json"
    )
    assert response.status_code == 413


@pytest.fixture
def berlin(organization):
    organization.time_zone = "Europe/Berlin"
    organization.save()
    return organization


def test_admins_list_sessions_and_transactions_by_local_dates(
    viewer_client, admin_client_api, berlin
):
    sessions = [
        session(1, start_time="2023-12-31T23:30:00Z"),  # Jan 1st in Berlin
        session(2, start_time="2024-01-31T23:30:00Z", equipment_id="cnc-1"),
    ]  # Feb 1st
    viewer_client.post(f"{API}/equipment-usage", {"records": sessions}, format="json")
    payments = [
        payment(1, timestamp="2023-12-31T23:30:00Z"),
        payment(2, timestamp="2024-01-31T23:30:00Z", revenue_source="workshops"),
    ]
    viewer_client.post(f"{API}/revenue-transactions", {"records": payments}, format="json")
    january = {"start_date": "2024-01-01", "end_date": "2024-01-31"}  # fmt: skip
    listed = admin_client_api.get(f"{API}/equipment-usage", january).json()["results"]
    assert [s["session_id"] for s in listed] == ["s-1"]
    by_machine = admin_client_api.get(f"{API}/equipment-usage", {"equipment_id": "cnc-1"})
    assert [s["session_id"] for s in by_machine.json()["results"]] == ["s-2"]
    listed = admin_client_api.get(f"{API}/revenue-transactions", january).json()["results"]
    assert [(t["transaction_id"], t["amount"]) for t in listed] == [("t-1", "49.00")]
    workshops = {"revenue_source": "workshops"}
    listed = admin_client_api.get(f"{API}/revenue-transactions", workshops).json()["results"]
    assert [t["transaction_id"] for t in listed] == ["t-2"]


def test_inventory_and_projects_filter_on_their_dates(viewer_client, admin_client_api):
    days = [consumption(1, date="2024-01-31"), consumption(1, date="2024-02-01")]
    viewer_client.post(f"{API}/inventory-records", {"records": days}, format="json")
    viewer_client.post(
        f"{API}/project-records",
        {"records": [project(1), project(2, status="completed")]},
        format="json",
    )
    january = {"start_date": "2024-01-01", "end_date": "2024-01-31"}
    listed = admin_client_api.get(f"{API}/inventory-records", january).json()["results"]
    assert [r["date"] for r in listed] == ["2024-01-31"]
    done = admin_client_api.get(f"{API}/project-records", {"status": "completed"}).json()
    assert [p["project_id"] for p in done["results"]] == ["p-2"]


@pytest.mark.parametrize(
    "path", ["equipment-usage", "inventory-records", "project-records", "revenue-transactions"]
)
def test_reading_a_fact_table_is_for_admins_and_stays_in_the_organisation(
    viewer_client, admin_client_api, other_organization, path
):
    RevenueAnalytics.objects.create(organization=other_organization, transaction_id="x",
                                    timestamp="2024-01-01T00:00:00Z", revenue_source="other",
                                    amount=1)  # fmt: skip
    assert viewer_client.get(f"{API}/{path}").status_code == 403
    assert admin_client_api.get(f"{API}/{path}").json()["results"] == []


def test_revenue_streams_as_csv(viewer_client, admin_client_api, berlin):
    payments = [payment(2, timestamp="2024-01-20T10:00:00Z"), payment(1),
                payment(3, timestamp="2024-01-31T23:30:00Z")]  # fmt: skip
    viewer_client.post(f"{API}/revenue-transactions", {"records": payments}, format="json")
    response = admin_client_api.get(f"{API}/revenue-transactions", {
        "format": "csv", "start_date": "2024-01-01", "end_date": "2024-01-31"})  # fmt: skip
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["timestamp", "transaction_id", "revenue_source", "amount", "currency",
                       "payment_method", "customer_id"]  # fmt: skip
    assert [(row[1], row[3], row[5]) for row in rows[1:]] == [("t-1", "49.00", "card"),
                                                             ("t-2", "49.00", "card")]  # fmt: skip


def _csv_file(tmp_path, text: str):
    path = tmp_path / "import.csv"
    path.write_text(text)
    return str(path)


def test_the_import_command_reads_inventory_in_batches(tmp_path, organization, settings):
    settings.ANALYTICS_BATCH_SIZE = 2
    path = _csv_file(tmp_path, "item_id,date,quantity_consumed,cost_consumed,reorder_triggered\n"
                     "pla-1,2024-01-10,1.5,30.00,true\npla-2,2024-01-10,2,,false\n"
                     "pla-1,2024-01-10,1.5,30.00,true\n")  # fmt: skip
    out = io.StringIO()
    call_command("import_analytics_csv", "inventory-records", path, org="acme", stdout=out)
    assert out.getvalue().strip() == "2 stored, 1 duplicates (inventory-records)."
    assert InventoryAnalytics.objects.get(item_id="pla-1").reorder_triggered is True


def test_the_import_command_names_the_bad_line_and_stores_nothing(tmp_path, organization, settings):
    settings.ANALYTICS_BATCH_SIZE = 2
    path = _csv_file(tmp_path, "transaction_id,timestamp,revenue_source,amount\n"
                     "t-1,2024-01-10T10:00:00Z,membership,49.00\n"
                     "t-2,2024-01-10T10:00:00Z,membership,49.00\n"
                     "t-3,2024-01-10T10:00:00Z,donations,49.00\n")  # fmt: skip
    with pytest.raises(CommandError, match=r"line 4, revenue_source: One of"):
        call_command("import_analytics_csv", "revenue-transactions", path, org="acme")
    assert not RevenueAnalytics.objects.exists()


def test_the_import_command_reads_back_an_events_export(tmp_path, organization):
    from events.models import UsageEvent

    path = _csv_file(tmp_path, "timestamp,user_id,event_type,event_category,event_id,metadata\n"
                     "2024-01-01 10:00:00+00:00,u1,login,authentication,e-1,"
                     '"{""device"": ""web""}"\n'
                     "2024-01-01 11:00:00+00:00,,login,authentication,e-2,{}\n")  # fmt: skip
    with pytest.raises(CommandError, match=r"line 3, user_id: This field is required"):
        call_command("import_analytics_csv", "events", path, org="acme")
    assert not UsageEvent.objects.exists()
