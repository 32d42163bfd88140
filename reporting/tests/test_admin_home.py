"""The admin home for staff: recent executions (theirs first), this week's failures, the next
scheduled runs and the dashboard link, only of the organisations they administer; Celery beat's
and the audit log's models are for superusers only."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import NoReverseMatch

from accounts.models import Role
from accounts.tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from delivery.models import Delivery, DeliveryStatus, DeliveryTarget
from reporting.models import ExecutionStatus, ReportExecution, ReportSchedule, ReportTemplate
from reporting.tests.factories import DataSourceFactory, ReportTemplateFactory

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


def _organization_rows(label: str) -> dict:
    organization = OrganizationFactory(name=f"{label} org", slug=label.lower())
    source = DataSourceFactory(organization=organization)
    template = ReportTemplateFactory(
        organization=organization, name=f"{label} report", slug=f"{label.lower()}-report",
        sources=[source],
    )  # fmt: skip
    return {"organization": organization, "template": template}


def _execution(rows: dict, *, days_ago: float, status=ExecutionStatus.SUCCEEDED, by=None, error=""):
    return ReportExecution.objects.create(
        organization=rows["organization"], template=rows["template"], status=status,
        requested_by=by, error=error, queued_at=NOW - timedelta(days=days_ago),
    )  # fmt: skip


def _failed_delivery(rows: dict, execution, *, name: str, days_ago: float) -> Delivery:
    target = DeliveryTarget.objects.create(
        organization=rows["organization"], name=name, kind="email", config={}
    )
    delivery = Delivery.objects.create(
        execution=execution, target=target, status=DeliveryStatus.FAILED,
        last_error=f"{name} refused",
    )  # fmt: skip
    Delivery.objects.filter(pk=delivery.pk).update(created_at=NOW - timedelta(days=days_ago))
    return delivery


def _schedule(rows: dict, name: str, *, hours_ahead: int, enabled: bool = True):
    return ReportSchedule.objects.create(
        organization=rows["organization"], template=rows["template"], name=name,
        cron="0 6 * * *", time_zone="Europe/Berlin", enabled=enabled,
        next_run_at=NOW + timedelta(hours=hours_ahead),
    )  # fmt: skip


@pytest.fixture
def world(db):
    acme, northwind = _organization_rows("Acme"), _organization_rows("Northwind")
    me = UserFactory(username="acme-staff", is_staff=True)
    MembershipFactory(organization=acme["organization"], user=me, role=Role.ADMIN)
    colleague = UserFactory(username="colleague")
    rows = {
        "mine": _execution(acme, days_ago=2, by=me),
        "colleagues": _execution(acme, days_ago=0.1, by=colleague),
        "failed": _execution(acme, days_ago=3, status=ExecutionStatus.FAILED, error="Acme broke"),
        "old_failure": _execution(
            acme, days_ago=9, status=ExecutionStatus.FAILED, error="Acme old failure"
        ),
        "theirs": _execution(
            northwind, days_ago=1, status=ExecutionStatus.FAILED, error="Northwind broke"
        ),
    }
    _failed_delivery(acme, rows["failed"], name="Acme inbox", days_ago=3)
    _failed_delivery(acme, rows["old_failure"], name="Acme old inbox", days_ago=9)
    _failed_delivery(northwind, rows["theirs"], name="Northwind inbox", days_ago=1)
    _schedule(acme, "Acme nightly", hours_ahead=18)
    _schedule(acme, "Acme paused", hours_ahead=2, enabled=False)
    _schedule(northwind, "Northwind nightly", hours_ahead=1)
    client = Client()
    client.force_login(me)
    return {**rows, "client": client, "me": me}


def _home(client: Client) -> str:
    with time_machine.travel(NOW, tick=False):
        response = client.get("/admin/")
    assert response.status_code == 200
    return response.content.decode()


def _section(html: str, section_id: str) -> str:
    return html.split(f'id="{section_id}"')[1].split("</section>")[0]


def test_run_a_report_lists_the_users_organisations_templates_with_their_run_form(world):
    section = _section(_home(world["client"]), "home-run")
    template = ReportTemplate.objects.get(slug="acme-report")
    assert "Acme report" in section
    assert f'href="/admin/reporting/reporttemplate/{template.pk}/run/"' in section
    assert 'aria-label="Run Acme report"' in section
    assert "Northwind" not in section
    form = world["client"].get(f"/admin/reporting/reporttemplate/{template.pk}/run/")
    assert form.status_code == 200
    assert b"Run now" in form.content


def test_recent_executions_list_the_users_own_first(world):
    recent = _section(_home(world["client"]), "home-recent")
    mine, colleagues = f"Acme report #{world['mine'].pk}", f"#{world['colleagues'].pk}"
    assert mine in recent
    assert colleagues in recent
    assert recent.index(mine) < recent.index(colleagues)
    assert "Northwind" not in recent


def test_failed_runs_and_deliveries_are_this_weeks_of_the_users_organisations(world):
    html = _home(world["client"])
    failed = _section(html, "home-failed-runs")
    assert "Failed runs, last 7 days (1)" in failed
    assert "Acme broke" in failed
    assert "Acme old failure" not in failed
    assert "Northwind" not in failed
    deliveries = _section(html, "home-failed-deliveries")
    assert "Failed deliveries, last 7 days (1)" in deliveries
    assert "Acme inbox" in deliveries
    assert "Acme old inbox" not in deliveries
    assert "Northwind" not in deliveries


def test_next_runs_are_the_enabled_schedules_in_their_own_zone(world):
    upcoming = _section(_home(world["client"]), "home-next-runs")
    # 12:00 UTC + 6 h = 06:00 UTC on the 11th, 07:00 in Berlin (CET).
    assert "Acme nightly" in upcoming
    assert "Wed 2026-03-11 07:00 CET" in upcoming
    assert "Acme paused" not in upcoming
    assert "Northwind" not in upcoming


def test_a_superuser_sees_every_organisation(world):
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    html = _home(client)
    assert "Northwind broke" in _section(html, "home-failed-runs")
    assert "Northwind nightly" in _section(html, "home-next-runs")
    assert "<th>Organisation</th>" in html


def test_staff_who_administer_nothing_see_empty_sections(world):
    client = Client()
    client.force_login(UserFactory(is_staff=True))
    html = _home(client)
    assert "Acme" not in html
    assert "Northwind" not in html


def test_the_dashboard_link_shows_when_the_page_exists(world, monkeypatch):
    from reporting import admin_home

    html = _home(world["client"])
    try:
        url = admin_home.reverse("admin-analytics-dashboard")
    except NoReverseMatch:
        assert "Open the analytics dashboard" not in html
    else:
        assert f'href="{url}">Open the analytics dashboard' in html

    def missing(name, *args, **kwargs):
        raise NoReverseMatch(name)

    monkeypatch.setattr(admin_home, "reverse", missing)
    assert admin_home._dashboard_url() == ""


SUPERUSER_ONLY = {
    "django_celery_beat": ["periodictask", "crontabschedule", "intervalschedule",
                           "solarschedule", "clockedschedule"],
    "auditlog": ["logentry"],
}  # fmt: skip


def test_beat_and_audit_log_models_are_hidden_from_staff_even_with_permissions(world):
    me = world["me"]
    me.user_permissions.set(
        Permission.objects.filter(content_type__app_label__in=list(SUPERUSER_ONLY))
    )
    html = _home(world["client"])
    assert "Periodic tasks" not in html
    assert "Log entries" not in html
    for app, models in SUPERUSER_ONLY.items():
        for model in models:
            assert world["client"].get(f"/admin/{app}/{model}/").status_code == 403
        assert world["client"].get(f"/admin/{app}/").status_code == 404
    root = Client()
    root.force_login(UserFactory(is_staff=True, is_superuser=True))
    root_html = _home(root)
    assert "Periodic tasks" in root_html
    assert "Log entries" in root_html
