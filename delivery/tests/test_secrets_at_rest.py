"""Secrets at rest: webhook secrets and S3 keys are encrypted in the database row, never shown
by the API or the admin, still sign deliveries, and move to a new key on rotation."""

import hashlib
import hmac
import importlib

import pytest
from auditlog.models import LogEntry
from cryptography.fernet import Fernet
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.test import Client

from accounts.tests.factories import UserFactory
from delivery.models import DeliveryTarget
from delivery.services import target_config, target_create, target_test, target_update
from delivery.tests.conftest import WebhookReceiver

BI = "/api/v1/business-intelligence"
SECRET = "webhook-signing-secret-0123456789"
S3_KEY_ID = "AKIAEXAMPLEKEYID0001"
S3_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLESECRET"
KEY_A, KEY_B = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def stored_row(target: DeliveryTarget) -> str:
    """The target's row as the database holds it, every column as text."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT config, secrets FROM delivery_deliverytarget WHERE id = %s", [target.pk]
        )
        return " ".join(str(value) for value in cursor.fetchone())


@pytest.fixture
def keys(settings):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_A]
    return settings


@pytest.fixture
def webhook_target(keys, organization, webhook_receiver: WebhookReceiver) -> DeliveryTarget:
    return target_create(
        organization=organization, created_by=None, name="Hook", kind="webhook",
        config={"url": webhook_receiver.url("/hook"), "secret": SECRET},
    )  # fmt: skip


@pytest.fixture
def s3_target(keys, organization) -> DeliveryTarget:
    return target_create(
        organization=organization, created_by=None, name="Bucket", kind="storage",
        config={"backend": "s3", "bucket": "acme-reports", "access_key_id": S3_KEY_ID,
                "secret_access_key": S3_SECRET},
    )  # fmt: skip


def test_the_database_row_holds_no_webhook_secret_or_s3_key(webhook_target, s3_target):
    assert SECRET not in stored_row(webhook_target)
    row = stored_row(s3_target)
    assert S3_KEY_ID not in row
    assert S3_SECRET not in row
    assert "acme-reports" in row  # the rest of the config stays readable
    assert target_config(s3_target)["secret_access_key"] == S3_SECRET


def test_a_webhook_still_signs_with_its_secret_after_encryption(
    webhook_target, webhook_receiver: WebhookReceiver
):
    reloaded = DeliveryTarget.objects.get(pk=webhook_target.pk)
    ok, message = target_test(target=reloaded)
    assert ok, message
    received = webhook_receiver.requests[-1]
    expected = hmac.new(SECRET.encode(), received.body, hashlib.sha256).hexdigest()
    assert received.headers["X-Signature-256"] == f"sha256={expected}"


def test_an_update_without_the_secret_keeps_the_stored_one_encrypted(
    webhook_target, webhook_receiver: WebhookReceiver
):
    target_update(target=webhook_target, config={"url": webhook_receiver.url("/other")})
    reloaded = DeliveryTarget.objects.get(pk=webhook_target.pk)
    assert target_config(reloaded)["secret"] == SECRET
    assert SECRET not in stored_row(reloaded)


def test_rotation_re_encrypts_every_secret_with_the_first_key(keys, webhook_target, s3_target):
    before = DeliveryTarget.objects.get(pk=webhook_target.pk).secrets
    keys.FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]
    call_command("reencrypt_secrets")
    keys.FIELD_ENCRYPTION_KEYS = [KEY_B]  # the old key dropped: everything still reads
    rotated = DeliveryTarget.objects.get(pk=webhook_target.pk)
    assert rotated.secrets != before
    assert target_config(rotated)["secret"] == SECRET
    assert target_config(DeliveryTarget.objects.get(pk=s3_target.pk))["access_key_id"] == S3_KEY_ID
    assert Fernet(KEY_B).decrypt(rotated.secrets.encode())


def test_the_migration_encrypts_plain_rows_and_reverses(keys, organization):
    migration = importlib.import_module("delivery.migrations.0004_deliverytarget_secrets_encrypted")
    plain = DeliveryTarget.objects.create(
        organization=organization, name="Old hook", kind="webhook",
        config={"url": "https://hooks.example.com/in", "secret": SECRET},
    )  # fmt: skip
    migration.seal(apps, None)
    plain.refresh_from_db()
    assert SECRET not in stored_row(plain)
    assert plain.config == {"url": "https://hooks.example.com/in"}
    assert target_config(plain)["secret"] == SECRET
    migration.unseal(apps, None)
    plain.refresh_from_db()
    assert (plain.config["secret"], plain.secrets) == (SECRET, "")


def test_the_api_never_shows_a_secret_back(keys, admin_client_api, s3_target):
    listed = admin_client_api.get(f"{BI}/delivery-targets")
    detail = admin_client_api.get(f"{BI}/delivery-targets/{s3_target.pk}")
    for response in (listed, detail):
        assert response.status_code == 200
        assert S3_SECRET not in response.content.decode()
        assert S3_KEY_ID not in response.content.decode()
    assert detail.json()["secrets_set"] == ["access_key_id", "secret_access_key"]


def test_the_admin_never_shows_a_secret_and_saves_through_the_service(
    keys, webhook_target, webhook_receiver: WebhookReceiver
):
    staff = Client()
    staff.force_login(UserFactory(is_staff=True, is_superuser=True))
    url = f"/admin/delivery/deliverytarget/{webhook_target.pk}/change/"
    page = staff.get(url)
    assert page.status_code == 200
    assert SECRET not in page.content.decode()
    assert "secret: set" in page.content.decode()
    new_url = webhook_receiver.url("/moved-here")
    saved = staff.post(url, {
        "organization": webhook_target.organization_id, "name": "Hook", "kind": "webhook",
        "config": f'{{"url": "{new_url}"}}', "enabled": "on",
    })  # fmt: skip
    assert saved.status_code == 302, saved.content.decode()[:2000]
    reloaded = DeliveryTarget.objects.get(pk=webhook_target.pk)
    assert target_config(reloaded) == {"url": new_url, "secret": SECRET}
    assert SECRET not in stored_row(reloaded)


def test_a_target_change_is_audited_without_its_secret(keys, webhook_target, webhook_receiver):
    target_update(
        target=webhook_target,
        config={"url": webhook_receiver.url("/v2"), "secret": "a-brand-new-secret-value-42"},
    )
    entries = LogEntry.objects.get_for_object(webhook_target)
    assert entries.count() == 2  # created, changed
    logged = " ".join(str(entry.changes) for entry in entries)
    assert "/v2" in logged
    assert SECRET not in logged
    assert "a-brand-new-secret-value-42" not in logged
