"""Audit: previews and connection tests leave an access-log row from the API and the admin alike;
the client address believes X-Forwarded-For only from a trusted proxy; schedules, delivery
targets, memberships and organisations are under django-auditlog."""

import ipaddress

import pytest
from auditlog.models import LogEntry
from django.test import Client, RequestFactory

from accounts.models import Membership, Role
from accounts.tests.factories import UserFactory
from reporting.models import AccessAction, ReportAccessLog
from reporting.services.access_log import ClientInfo
from reporting.services.schedules import schedule_create
from reporting.tests.factories import DataSourceFactory

BI = "/api/v1/business-intelligence"


@pytest.fixture
def members_source(organization):
    return DataSourceFactory(
        organization=organization, name="Members", source_type="dataset", query="",
        config={"dataset": "organization_members"},
    )  # fmt: skip


@pytest.fixture
def staff(db):
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_a_preview_through_the_api_logs_one_row(admin_client_api, admin_user, members_source):
    response = admin_client_api.post(f"{BI}/data-sources/{members_source.pk}/preview", {},
                                     format="json", REMOTE_ADDR="203.0.113.7")  # fmt: skip
    assert response.status_code == 200
    logged = ReportAccessLog.objects.get()
    assert (logged.action, logged.user, logged.organization) == (
        AccessAction.PREVIEW, admin_user, members_source.organization,
    )  # fmt: skip
    assert (logged.object_repr, logged.ip_address) == ("data source Members", "203.0.113.7")


def test_a_preview_through_the_admin_logs_one_row(staff, members_source):
    page = staff.post(f"/admin/reporting/datasource/{members_source.pk}/preview/",
                      {"parameters": "{}"})  # fmt: skip
    assert page.status_code == 200
    logged = ReportAccessLog.objects.get()
    assert (logged.action, logged.object_repr) == (AccessAction.PREVIEW, "data source Members")
    assert logged.user.is_superuser


def test_a_connection_test_is_logged_from_the_api_and_the_admin(
    admin_client_api, staff, members_source
):
    assert admin_client_api.post(f"{BI}/data-sources/{members_source.pk}/test").status_code == 200
    staff.post("/admin/reporting/datasource/",
               {"action": "test_connection", "_selected_action": [members_source.pk]})  # fmt: skip
    actions = list(ReportAccessLog.objects.values_list("action", flat=True))
    assert actions == [AccessAction.TEST, AccessAction.TEST]


def client_ip(settings, proxies: list[str], peer: str, forwarded: str | None) -> str | None:
    settings.TRUSTED_PROXIES = [ipaddress.ip_network(proxy) for proxy in proxies]
    headers = {"REMOTE_ADDR": peer}
    if forwarded is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded
    return ClientInfo.from_request(RequestFactory().get("/", **headers)).ip_address


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(settings):
    assert client_ip(settings, [], "198.51.100.9", "203.0.113.7") == "198.51.100.9"
    assert client_ip(settings, ["10.0.0.0/8"], "198.51.100.9", "203.0.113.7") == "198.51.100.9"


def test_x_forwarded_for_from_a_trusted_proxy_gives_the_client(settings):
    assert client_ip(settings, ["10.0.0.5"], "10.0.0.5", "203.0.113.7") == "203.0.113.7"


def test_a_client_cannot_pass_itself_off_through_a_spoofed_chain(settings):
    # The client sent "X-Forwarded-For: 1.2.3.4, 10.0.0.6"; two trusted proxies appended theirs.
    chain = "1.2.3.4, 10.0.0.6, 203.0.113.7, 10.0.0.6"
    assert client_ip(settings, ["10.0.0.0/8"], "10.0.0.5", chain) == "203.0.113.7"


def test_garbage_in_x_forwarded_for_stops_at_the_last_trusted_hop(settings):
    assert client_ip(settings, ["10.0.0.0/8"], "10.0.0.5", "evil, ") == "10.0.0.5"
    assert client_ip(settings, ["10.0.0.0/8"], "10.0.0.5", None) == "10.0.0.5"


def test_the_api_logs_the_client_behind_a_trusted_proxy(settings, admin_client_api, members_source):
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
    admin_client_api.post(f"{BI}/data-sources/{members_source.pk}/preview", {}, format="json",
                          REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.7")  # fmt: skip
    assert ReportAccessLog.objects.get().ip_address == "203.0.113.7"


def changes_logged(instance) -> list[dict]:
    return [entry.changes for entry in LogEntry.objects.get_for_object(instance)]


def test_a_schedule_change_is_audited(billing_template):
    schedule = schedule_create(
        organization=billing_template.organization, owner=None, template=billing_template,
        name="Billing", parameters={"month": "{last_month.month}", "year": "{last_month.year}"},
        time_zone="UTC",
        cron="0 7 1 * *",
    )  # fmt: skip
    schedule.name = "Monthly billing"
    schedule.save()
    assert len(changes_logged(schedule)) == 2
    assert "Monthly billing" in str(changes_logged(schedule))


def test_membership_and_organisation_changes_are_audited(organization, viewer):
    membership = Membership.objects.get(user=viewer, organization=organization)
    membership.role = Role.ANALYST
    membership.save()
    organization.name = "Renamed Makerspace"
    organization.save()
    assert "analyst" in str(changes_logged(membership))
    assert "Renamed Makerspace" in str(changes_logged(organization))
