"""Threat model: an organisation's admin (not a superuser) configures a local storage target.
Whatever path they give, through the API or the admin, files land only in their organisation's
own folder, `<root>/<organisation id>/`; everything else is a 400 and nothing is written. The
file system is read back to check, never only the answer."""

import hashlib
import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.utils import timezone

from accounts.tests.factories import UserFactory
from delivery.models import DeliveryStatus, DeliveryTarget
from delivery.tests.conftest import deliver
from reporting.models import ReportExecution, ReportOutput, report_storage

TARGETS = "/api/v1/business-intelligence/delivery-targets"
CSV = b"invoice,amount\n1,10.5\n2,99.0\n"


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def roots(settings, tmp_path: Path) -> Path:
    """The storage root, and beside it a folder the service can write to but no target may."""
    settings.DELIVERY_STORAGE_ROOTS = [tmp_path / "deliveries"]
    (tmp_path / "outside").mkdir()
    return tmp_path


@pytest.fixture
def succeeded(organization, billing_template, report_output_dir):
    execution = ReportExecution.objects.create(
        organization=organization, template=billing_template, status="succeeded",
        parameters={"month": "03", "year": 2025}, row_count=2, finished_at=timezone.now(),
    )  # fmt: skip
    filename = f"monthly-billing-summary_2025-03_{execution.pk}.csv"
    name = report_storage().save(f"acme/{execution.pk}/{filename}", ContentFile(CSV))
    ReportOutput.objects.create(
        execution=execution, format="csv", file=name, filename=filename, size=len(CSV),
        sha256=hashlib.sha256(CSV).hexdigest(), content_type="text/csv",
        expires_at=timezone.now() + timedelta(days=30),
    )  # fmt: skip
    return execution


@pytest.fixture
def staff(db) -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def storage_body(path) -> dict:
    config = {"backend": "local", "path": path, "filename_pattern": "{template_slug}.{extension}"}
    return {"name": "Archive", "kind": "storage", "config": config}


def refused_paths(roots: Path, other_organization) -> list[str]:
    root = roots / "deliveries"
    return [
        str(roots / "outside"),  # outside the root
        "../../outside",  # .. out of the organisation's folder, then the root
        "monthly/../../elsewhere",
        str(root),  # the root itself, above every organisation's folder
        f"{root}/{other_organization.pk}",  # another organisation's folder, named absolutely
        f"{root}/{other_organization.pk}/monthly",
    ]


def test_api_refuses_every_path_outside_the_organisations_folder(
    admin_client_api, organization, other_organization, roots
):
    for path in refused_paths(roots, other_organization):
        response = admin_client_api.post(TARGETS, storage_body(path), format="json")

        assert response.status_code == 400, path
        [reason] = response.json()["config"]["path"]
        assert f"{roots / 'deliveries' / str(organization.pk)}/" in reason, path
    assert not DeliveryTarget.objects.exists()
    assert files_under(roots) == []


def test_api_update_to_a_path_outside_is_refused_and_keeps_the_target(
    admin_client_api, organization, roots
):
    created = admin_client_api.post(TARGETS, storage_body("monthly"), format="json")
    url = f"{TARGETS}/{created.json()['id']}"

    response = admin_client_api.patch(url, storage_body("../.."), format="json")

    assert response.status_code == 400
    assert "path" in response.json()["config"]
    assert DeliveryTarget.objects.get().config["path"] == "monthly"


def test_a_link_inside_the_organisations_folder_is_refused_and_nothing_is_written_outside(
    admin_client_api, organization, roots, succeeded, django_capture_on_commit_callbacks
):
    home = roots / "deliveries" / str(organization.pk)
    home.mkdir(parents=True)
    os.symlink(roots / "outside", home / "shared")

    response = admin_client_api.post(TARGETS, storage_body("shared"), format="json")

    assert response.status_code == 400
    assert "symbolic link" in response.json()["config"]["path"][0]
    # The link planted after a target was saved: the delivery fails, nothing goes through it.
    config = {"backend": "local", "path": "shared", "filename_pattern": "{filename}"}
    target = DeliveryTarget.objects.create(
        organization=organization, name="Planted", kind="storage", config=config
    )
    delivery = deliver(succeeded, target, django_capture_on_commit_callbacks)
    assert delivery.status == DeliveryStatus.FAILED
    assert "symbolic link" in delivery.last_error
    assert files_under(roots / "outside") == []


def test_a_relative_path_delivers_into_the_organisations_folder(
    admin_client_api, organization, roots, succeeded, django_capture_on_commit_callbacks
):
    response = admin_client_api.post(TARGETS, storage_body("monthly"), format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["config"]["path"] == "monthly"
    target = DeliveryTarget.objects.get(pk=response.json()["id"])

    delivery = deliver(succeeded, target, django_capture_on_commit_callbacks)

    assert delivery.status == DeliveryStatus.SENT, delivery.last_error
    folder = roots / "deliveries" / str(organization.pk) / "monthly"
    assert files_under(roots / "deliveries") == [
        f"{organization.pk}/monthly/monthly-billing-summary.csv"
    ]
    assert (folder / "monthly-billing-summary.csv").read_bytes() == CSV
    assert files_under(roots / "outside") == []


def test_an_existing_target_outside_is_kept_and_its_delivery_says_where_to_write(
    organization, roots, succeeded, django_capture_on_commit_callbacks
):
    config = {"backend": "local", "path": str(roots / "outside"), "filename_pattern": "{filename}"}
    target = DeliveryTarget.objects.create(  # saved before the rule: no validation ran
        organization=organization, name="Old archive", kind="storage", config=config
    )

    delivery = deliver(succeeded, target, django_capture_on_commit_callbacks)

    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 1, None)
    assert f"The folder {roots / 'outside'} is not allowed" in delivery.last_error
    assert f"{roots / 'deliveries' / str(organization.pk)}/" in delivery.last_error
    assert DeliveryTarget.objects.filter(pk=target.pk).exists()
    assert files_under(roots / "outside") == []


def admin_form(organization, path) -> dict:
    return {
        "organization": str(organization.pk),
        "name": "Archive",
        "kind": "storage",
        "config": f'{{"backend": "local", "path": "{path}", "filename_pattern": "{{filename}}"}}',
        "enabled": "on",
    }


def test_admin_refuses_every_path_outside_the_organisations_folder(
    staff, organization, other_organization, roots
):
    for path in refused_paths(roots, other_organization):
        response = staff.post("/admin/delivery/deliverytarget/add/", admin_form(organization, path))

        assert response.status_code == 200, path  # the form again, with the error
        errors = response.context["adminform"].form.errors["config"]
        assert errors[0].startswith("path: "), path
        assert f"{roots / 'deliveries' / str(organization.pk)}/" in errors[0], path
    assert not DeliveryTarget.objects.exists()
    assert files_under(roots) == []


def test_admin_relative_path_delivers_into_the_organisations_folder(
    staff, organization, roots, succeeded, django_capture_on_commit_callbacks
):
    response = staff.post("/admin/delivery/deliverytarget/add/", admin_form(organization, "daily"))
    assert response.status_code == 302
    target = DeliveryTarget.objects.get()
    assert target.config["path"] == "daily"

    delivery = deliver(succeeded, target, django_capture_on_commit_callbacks)

    assert delivery.status == DeliveryStatus.SENT, delivery.last_error
    written = (
        roots / "deliveries" / str(organization.pk) / "daily" / succeeded.outputs.get().filename
    )
    assert written.read_bytes() == CSV


def test_the_test_file_lands_in_the_organisations_folder(admin_client_api, organization, roots):
    created = admin_client_api.post(TARGETS, storage_body("checks"), format="json")

    response = admin_client_api.post(f"{TARGETS}/{created.json()['id']}/test")

    assert response.json()["ok"] is True, response.json()
    assert files_under(roots) == [f"deliveries/{organization.pk}/checks/reporting-hub-test.txt"]
