"""Staff who are not superusers manage only the organisations they administer in the admin."""

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from accounts.admin_scoping import organization_lookup, scoped
from accounts.models import Membership, Organization, Role
from accounts.tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from analytics.models import AnalyticsDirtyDay
from delivery.models import Delivery, DeliveryTarget
from events.models import UsageEvent
from reporting.models import ExecutionStatus, ReportExecution, ReportSchedule
from reporting.tests.factories import DataSourceFactory, ReportTemplateFactory

FOREIGN = "Northwind"
SUPERUSER_ONLY = [
    "django_celery_beat/periodictask",
    "django_celery_beat/intervalschedule",
    "django_celery_beat/crontabschedule",
    "django_celery_beat/solarschedule",
    "django_celery_beat/clockedschedule",
    "auditlog/logentry",
    "auth/user",
    "auth/group",
    "token_blacklist/outstandingtoken",
    "accounts/loginlockout",
    "reporting/connectiongrant",
]


def _tenant_rows(organization: Organization, label: str) -> dict:
    """One row of each main tenant model, every name starting with the label."""
    member = MembershipFactory(organization=organization, user__username=f"{label}-member").user
    source = DataSourceFactory(organization=organization, name=f"{label} source")
    template = ReportTemplateFactory(
        organization=organization, name=f"{label} template", slug=f"{label.lower()}-template",
        sources=[source],
    )  # fmt: skip
    schedule = ReportSchedule.objects.create(
        organization=organization, name=f"{label} schedule", template=template,
        cron="0 6 * * *", time_zone="UTC", owner=member,
    )  # fmt: skip
    execution = ReportExecution.objects.create(
        organization=organization, template=template, status=ExecutionStatus.QUEUED
    )
    target = DeliveryTarget.objects.create(
        organization=organization, name=f"{label} target", kind="webhook", config={}
    )
    Delivery.objects.create(execution=execution, target=target, last_error=f"{label} error")
    UsageEvent.objects.create(
        organization=organization, user_id=f"{label}-person", event_type="login",
        event_category="auth",
    )  # fmt: skip
    AnalyticsDirtyDay.objects.create(
        organization=organization, date=timezone.localdate(), marked_at=timezone.now()
    )
    return {"source": source, "template": template, "schedule": schedule,
            "execution": execution, "target": target, "member": member}  # fmt: skip


@pytest.fixture
def acme(db):
    organization = OrganizationFactory(name="Acme Makerspace", slug="acme")
    return organization, _tenant_rows(organization, "Acme")


@pytest.fixture
def northwind(db):
    organization = OrganizationFactory(name=f"{FOREIGN} ISP", slug="northwind")
    return organization, _tenant_rows(organization, FOREIGN)


@pytest.fixture
def org_admin(acme, northwind):
    user = UserFactory(username="acme-staff", is_staff=True)
    MembershipFactory(organization=acme[0], user=user, role=Role.ADMIN)
    return user


@pytest.fixture
def staff(org_admin) -> Client:
    client = Client()
    client.force_login(org_admin)
    return client


@pytest.fixture
def superuser_client(db) -> Client:
    client = Client()
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def _url(model, view: str = "changelist", *args) -> str:
    from django.urls import reverse

    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_every_changelist_shows_only_the_administered_organisation(staff, acme):
    opened = []
    for model in admin.site._registry:
        if organization_lookup(model) is None or model is get_user_model():
            continue
        response = staff.get(_url(model))
        if response.status_code == 403:
            continue
        assert response.status_code == 200, model
        rows = response.context["cl"].queryset
        assert rows.count() == scoped(rows, {acme[0].pk}).count(), model
        assert FOREIGN not in response.content.decode(), model
        opened.append(model._meta.label)
    assert {
        "accounts.Organization", "accounts.Membership", "reporting.DataSource",
        "reporting.ReportTemplate", "reporting.ReportSchedule", "reporting.ReportExecution",
        "delivery.DeliveryTarget", "delivery.Delivery", "events.UsageEvent",
        "analytics.AnalyticsDirtyDay",
    } <= set(opened)  # fmt: skip


def test_the_admin_index_lists_tenant_models_and_no_internal_ones(staff):
    html = staff.get("/admin/").content.decode()
    assert "/admin/reporting/reporttemplate/" in html
    for path in SUPERUSER_ONLY:
        assert f"/admin/{path}/" not in html


def test_another_organisations_objects_are_not_reachable(staff, northwind):
    _, rows = northwind
    for name in ["source", "template", "schedule", "target"]:
        response = staff.get(_url(type(rows[name]), "change", rows[name].pk))
        assert response.status_code == 302, name  # "does not exist", back to the index
        assert response["Location"] == "/admin/"
    assert staff.get(_url(Organization, "change", northwind[0].pk)).status_code == 302
    # The execution page is a page of its own, not the admin's change form.
    assert staff.get(_url(ReportExecution, "change", rows["execution"].pk)).status_code == 404
    template, source = rows["template"], rows["source"]
    assert staff.get(f"/admin/reporting/reporttemplate/{template.pk}/run/").status_code == 404
    assert staff.get(f"/admin/reporting/datasource/{source.pk}/preview/").status_code == 404


def test_foreign_key_choices_list_only_the_administered_organisation(staff, acme, northwind):
    def choices(model, field):
        form = staff.get(_url(model, "add")).context["adminform"].form
        return set(form.fields[field].queryset)

    assert choices(ReportSchedule, "template") == {acme[1]["template"]}
    assert choices(ReportSchedule, "organization") == {acme[0]}
    assert northwind[1]["member"] not in choices(ReportSchedule, "owner")
    assert choices(DeliveryTarget, "organization") == {acme[0]}
    page = staff.get(_url(type(acme[1]["template"]), "add"))
    assert set(page.context["adminform"].form.fields["organization"].queryset) == {acme[0]}
    inline = page.context["inline_admin_formsets"][0].formset
    assert set(inline.forms[0].fields["data_source"].queryset) == {acme[1]["source"]}
    assert FOREIGN not in page.content.decode()


def test_saving_into_another_organisation_is_refused(staff, acme, northwind):
    response = staff.post(
        _url(DeliveryTarget, "add"),
        {"organization": northwind[0].pk, "name": "Sneaky", "kind": "webhook",
         "config": '{"url": "https://example.com/hook"}', "enabled": "on"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "organization" in response.context["adminform"].form.errors
    assert not DeliveryTarget.objects.filter(name="Sneaky").exists()


def test_an_action_posted_with_a_foreign_id_leaves_it_alone(staff, northwind):
    _, rows = northwind
    staff.post(
        _url(ReportSchedule),
        {"action": "run_now", "_selected_action": [rows["schedule"].pk]},
    )
    assert not ReportExecution.objects.filter(schedule=rows["schedule"]).exists()
    staff.post(
        _url(ReportExecution),
        {"action": "cancel", "_selected_action": [rows["execution"].pk]},
    )
    rows["execution"].refresh_from_db()
    assert rows["execution"].status == ExecutionStatus.QUEUED


def test_an_action_on_an_own_object_still_works(staff, acme):
    staff.post(
        _url(ReportExecution),
        {"action": "cancel", "_selected_action": [acme[1]["execution"].pk]},
    )
    acme[1]["execution"].refresh_from_db()
    assert acme[1]["execution"].status == ExecutionStatus.CANCELLED


@pytest.mark.parametrize("path", SUPERUSER_ONLY)
def test_internal_models_are_for_superusers_only(staff, superuser_client, path):
    assert staff.get(f"/admin/{path}/").status_code == 403
    assert superuser_client.get(f"/admin/{path}/").status_code == 200


def test_an_organisation_admin_cannot_create_organisations_or_grant_super_admin(
    staff, acme, org_admin
):
    assert staff.get(_url(Organization, "add")).status_code == 403
    form = staff.get(_url(Membership, "add")).context["adminform"].form
    assert Role.SUPER_ADMIN not in dict(form.fields["role"].choices)
    response = staff.post(
        _url(Membership, "add"),
        {"user": org_admin.pk, "organization": acme[0].pk, "role": Role.SUPER_ADMIN},
    )
    assert response.status_code == 200
    assert not Membership.objects.filter(role=Role.SUPER_ADMIN).exists()


def test_staff_who_administer_nothing_see_no_tenant_data(db, acme):
    analyst = UserFactory(username="analyst-staff", is_staff=True)
    MembershipFactory(organization=acme[0], user=analyst, role=Role.ANALYST)
    client = Client()
    client.force_login(analyst)
    assert client.get(_url(ReportSchedule)).status_code == 403
    assert client.get(_url(Organization)).status_code == 403


def test_a_superuser_still_sees_every_organisation(superuser_client, acme, northwind):
    rows = superuser_client.get(_url(ReportSchedule)).context["cl"].queryset
    assert set(rows) == {acme[1]["schedule"], northwind[1]["schedule"]}
