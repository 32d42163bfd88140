"""The schedule page in the admin: the cron in words, the next runs in the schedule's own zone,
delivery targets of its organisation only, and saving through the schedule service."""

import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.test import Client
from django_celery_beat.models import PeriodicTask

from accounts.models import Role
from accounts.tests.factories import MembershipFactory, UserFactory
from delivery.models import DeliveryTarget
from reporting.models import ReportSchedule
from reporting.services.schedules import schedule_create, schedule_update

LAST_MONTH = {"month": "{last_month.month}", "year": "{last_month.year}"}
WINTER = datetime(2026, 1, 10, 12, tzinfo=UTC)


@pytest.fixture
def org_admin(organization) -> Client:
    user = UserFactory(username="acme-staff", is_staff=True)
    MembershipFactory(organization=organization, user=user, role=Role.ADMIN)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def schedule(billing_template):
    with time_machine.travel(WINTER, tick=False):
        return schedule_create(
            organization=billing_template.organization, owner=None, template=billing_template,
            name="Daily billing", cron="0 6 * * *", time_zone="Europe/Berlin",
            parameters=LAST_MONTH,
        )  # fmt: skip


def _target(organization, name: str) -> DeliveryTarget:
    return DeliveryTarget.objects.create(
        organization=organization, name=name, kind="email", config={"recipients": ["a@b.example"]}
    )


def _url(schedule: ReportSchedule) -> str:
    return f"/admin/reporting/reportschedule/{schedule.pk}/change/"


def _form_data(schedule: ReportSchedule, **changes) -> dict:
    return {
        "organization": schedule.organization_id, "name": schedule.name,
        "template": schedule.template_id, "preset": "", "at": "", "cron": schedule.cron,
        "time_zone": schedule.time_zone, "parameters": '{"month": "03", "year": 2025}',
        "output_formats": "[]", "catch_up": "latest", "enabled": "on", "delivery_targets": [],
        **changes,
    }  # fmt: skip


def test_the_page_describes_the_cron_and_lists_five_runs_in_the_schedules_zone_only(
    org_admin, schedule
):
    with time_machine.travel(WINTER, tick=False):
        html = org_admin.get(_url(schedule)).content.decode()
    assert "At 06:00" in html
    assert "In Europe/Berlin:" in html
    for day in ("Sun 2026-01-11", "Mon 2026-01-12", "Tue 2026-01-13", "Wed 2026-01-14",
                "Thu 2026-01-15"):  # fmt: skip
        assert f"<li>{day} 06:00 CET</li>" in html
    assert "2026-01-16 06:00" not in html
    # 06:00 in Berlin is 05:00 UTC in winter: no second zone anywhere on the page.
    assert "05:00" not in html
    assert "UTC" not in html.split('id="content"')[1]


def test_both_day_fields_are_described_and_listed_as_either_day(org_admin, schedule):
    with time_machine.travel(datetime(2025, 12, 22, 12, tzinfo=UTC), tick=False):
        schedule_update(schedule=schedule, cron="0 6 1 * 1")
        html = org_admin.get(_url(schedule)).content.decode()
    assert "At 06:00, on day 1 of the month and on every Monday" in html
    assert "only on Monday" not in html
    runs = re.findall(r"<li>(\w{3} \d{4}-\d\d-\d\d \d\d:\d\d \w+)</li>", html)
    assert runs == [
        "Mon 2025-12-29 06:00 CET", "Thu 2026-01-01 06:00 CET", "Mon 2026-01-05 06:00 CET",
        "Mon 2026-01-12 06:00 CET", "Mon 2026-01-19 06:00 CET",
    ]  # fmt: skip


def test_the_catch_up_policy_is_explained_on_the_form(org_admin, schedule):
    html = org_admin.get(_url(schedule)).content.decode()
    assert "Skip: only an on-time slot runs" in html
    assert "Latest: the latest slot runs once, late if need be" in html
    assert "All: the missed slots run too, oldest first" in html


def test_a_preset_and_a_time_set_the_cron(org_admin, schedule):
    response = org_admin.post(
        _url(schedule), _form_data(schedule, preset="monthly", at="07:30", cron="")
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    schedule.refresh_from_db()
    assert (schedule.preset, schedule.cron) == ("monthly", "30 7 1 * *")
    html = org_admin.get(_url(schedule)).content.decode()
    assert 'name="at" value="07:30' in html
    assert "At 07:30, on day 1 of the month" in html


def test_saving_with_targets_stores_them_and_rebuilds_the_beat_entry(
    org_admin, schedule, organization
):
    email, folder = _target(organization, "Finance"), _target(organization, "Archive")
    PeriodicTask.objects.filter(pk=schedule.periodic_task_id).update(args="[0]")
    response = org_admin.post(
        _url(schedule),
        _form_data(schedule, cron="30 7 * * 1", delivery_targets=[email.pk, folder.pk]),
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    schedule.refresh_from_db()
    assert set(schedule.delivery_targets.all()) == {email, folder}
    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert (task.args, task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == (
        f"[{schedule.pk}]", "30", "7", "1",
    )  # fmt: skip
    assert str(task.crontab.timezone) == "Europe/Berlin"


def test_another_organisations_targets_are_not_offered_and_refused_if_posted(
    org_admin, schedule, organization, other_organization
):
    ours, theirs = _target(organization, "Ours"), _target(other_organization, "Theirs")
    form = org_admin.get(_url(schedule)).context["adminform"].form
    assert list(form.fields["delivery_targets"].queryset) == [ours]
    response = org_admin.post(_url(schedule), _form_data(schedule, delivery_targets=[theirs.pk]))
    assert response.status_code == 200
    assert "delivery_targets" in response.context["adminform"].form.errors
    assert not schedule.delivery_targets.exists()


def test_a_superuser_cannot_give_a_schedule_another_organisations_target(
    schedule, other_organization
):
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    theirs = _target(other_organization, "Theirs")
    response = client.post(_url(schedule), _form_data(schedule, delivery_targets=[theirs.pk]))
    assert response.status_code == 200
    assert "delivery_targets" in response.context["adminform"].form.errors
    assert not schedule.delivery_targets.exists()


def test_neither_preset_nor_cron_is_refused_on_the_cron_field(org_admin, schedule):
    response = org_admin.post(_url(schedule), _form_data(schedule, cron=""))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["cron"] == [
        "Choose a preset or write a cron expression."
    ]


def test_the_service_refuses_another_organisations_target(schedule, other_organization):
    from config.errors import ApplicationError
    from reporting.services.schedules import schedule_save

    theirs = _target(other_organization, "Theirs")
    with pytest.raises(ApplicationError) as refused:
        schedule_save(schedule=schedule, delivery_targets=[theirs])
    assert "delivery_targets" in refused.value.errors
    assert not schedule.delivery_targets.exists()


def test_run_now_in_the_admin_delivers_to_the_schedules_targets(
    org_admin, schedule, organization, django_capture_on_commit_callbacks
):
    from delivery.models import Delivery

    inbox = _target(organization, "Finance")
    schedule.delivery_targets.set([inbox])
    with django_capture_on_commit_callbacks():
        response = org_admin.post(
            "/admin/reporting/reportschedule/",
            {"action": "run_now", "_selected_action": [schedule.pk]},
        )
    assert response.status_code == 302
    delivery = Delivery.objects.get()
    assert (delivery.target, delivery.execution.schedule) == (inbox, schedule)
