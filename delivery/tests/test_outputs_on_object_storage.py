"""Deliveries of outputs stored on S3 (REPORT_STORAGE_URL): each channel reads the output
through the storage, so a delivery worker on any host sends what a render worker stored."""

import pytest

from delivery.models import DeliveryStatus
from delivery.services import target_create
from delivery.tests.conftest import CSV, deliver


@pytest.fixture
def stored_on_s3(object_storage, succeeded, report_output_dir):
    """The finished execution's PDF and CSV as objects in the bucket, nothing on local disk."""
    keys = object_storage.keys()
    assert keys == sorted(f"site-a/reports/{o.file.name}" for o in succeeded.outputs.all())
    assert not [path for path in report_output_dir.rglob("*") if path.is_file()]
    return succeeded


def stored(object_storage, execution, output_format: str) -> bytes:
    output = execution.outputs.get(format=output_format)
    return object_storage.read(f"site-a/reports/{output.file.name}")


def test_the_email_attaches_the_outputs_read_from_the_bucket(
    organization, object_storage, stored_on_s3, smtp_server, django_capture_on_commit_callbacks
):
    target = target_create(organization=organization, created_by=None, name="Finance",
                           kind="email", config={"recipients": ["ana@acme.test"]})  # fmt: skip

    delivery = deliver(stored_on_s3, target, django_capture_on_commit_callbacks)

    assert delivery.status == DeliveryStatus.SENT, delivery.last_error
    [(_, message)] = smtp_server.messages
    attached = {
        part.get_filename().rpartition(".")[2]: part.get_payload(decode=True)
        for part in message.iter_attachments()
    }
    assert attached == {
        "pdf": stored(object_storage, stored_on_s3, "pdf"),
        "csv": CSV,
    }


def test_a_local_folder_target_gets_the_objects_bytes(
    organization, object_storage, stored_on_s3, delivery_root, django_capture_on_commit_callbacks
):
    config = {"backend": "local", "path": "monthly", "filename_pattern": "{filename}"}
    target = target_create(organization=organization, created_by=None, name="Archive",
                           kind="storage", config=config)  # fmt: skip

    delivery = deliver(stored_on_s3, target, django_capture_on_commit_callbacks)

    assert delivery.status == DeliveryStatus.SENT, delivery.last_error
    folder = delivery_root / str(organization.pk) / "monthly"
    for output in stored_on_s3.outputs.all():
        delivered = (folder / output.filename).read_bytes()
        assert delivered == stored(object_storage, stored_on_s3, output.format)


def test_an_s3_target_gets_the_objects_bytes_in_its_own_bucket(
    organization, settings, object_storage, stored_on_s3, django_capture_on_commit_callbacks
):
    settings.DELIVERY_ALLOWED_HOSTS = ["127.0.0.1"]
    object_storage.client.create_bucket(Bucket="acme-archive")
    config = {
        "backend": "s3",
        "bucket": "acme-archive",
        "prefix": "exports",
        "endpoint_url": object_storage.endpoint_url,
        "access_key_id": "testing",
        "secret_access_key": "testing",
        "filename_pattern": "{filename}",
    }
    target = target_create(organization=organization, created_by=None, name="Archive",
                           kind="storage", config=config)  # fmt: skip

    delivery = deliver(stored_on_s3, target, django_capture_on_commit_callbacks)

    assert delivery.status == DeliveryStatus.SENT, delivery.last_error
    for output in stored_on_s3.outputs.all():
        archived = object_storage.client.get_object(
            Bucket="acme-archive", Key=f"exports/{output.filename}"
        )["Body"].read()
        assert archived == stored(object_storage, stored_on_s3, output.format)
