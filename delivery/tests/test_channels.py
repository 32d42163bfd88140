"""The delivery channels against real receivers: an SMTP server (aiosmtpd), an HTTP server,
a local folder and S3 (moto's server mode). What arrived is read back and compared."""

import email
import email.policy
import hashlib
import hmac
import http.server
import io
import json
import os
import re
import ssl
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import time_machine
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.core.mail.backends.base import BaseEmailBackend
from pypdf import PdfReader
from standardwebhooks import Webhook, WebhookVerificationError
from weasyprint import HTML

from delivery.channels import CHANNELS, get_channel
from delivery.channels.base import ConfigError, DeliveredFile, DeliveryError, DeliveryMessage
from delivery.tests.conftest import (
    MailRecorder,
    WebhookReceiver,
    _handler_for,
    free_port,
    smtp_settings,
)

SECRET = "s3cret-signing-key-for-tests"
ORGANIZATION_ID = "4f1c2a9e-0b7d-4c3e-9a51-6d2f8e7b1c30"
CSV_BYTES = b"invoice,customer,amount\r\n1001,Ada Lovelace,1234.50\r\n1002,Alan Turing,99.00\r\n"


def delivered_file(
    folder: Path, filename: str, content: bytes, *, output_format: str, content_type: str
) -> DeliveredFile:
    path = folder / "outputs" / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return DeliveredFile(
        format=output_format,
        filename=filename,
        content_type=content_type,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        open=lambda: path.open("rb"),
        download_url=f"https://reports.example.test/d/{filename}?signature=abc123",
    )


def report_message(files: list[DeliveredFile], **changes: Any) -> DeliveryMessage:
    values = {
        "delivery_id": "dlv-42-7",
        "execution_id": 42,
        "organization_id": ORGANIZATION_ID,
        "organization_name": "Acme Makerspace",
        "template_name": "Monthly Billing Summary",
        "template_slug": "monthly-billing-summary",
        "parameters": {"month": "03", "year": 2025},
        "status": "succeeded",
        "row_count": 2,
        "generated_at": datetime(2025, 4, 1, 4, 0, 12, tzinfo=UTC),
        "time_zone": "Europe/Berlin",
        "slot_date": date(2025, 4, 1),
        "files": files,
    }
    return DeliveryMessage(**{**values, **changes})


@pytest.fixture(scope="module")
def pdf_bytes() -> bytes:
    return HTML(string="<h1>Monthly Billing Summary</h1><p>Total 1333.50</p>").write_pdf()


@pytest.fixture
def pdf_file(tmp_path: Path, pdf_bytes: bytes) -> DeliveredFile:
    return delivered_file(
        tmp_path, "billing.pdf", pdf_bytes, output_format="pdf", content_type="application/pdf"
    )


@pytest.fixture
def csv_file(tmp_path: Path) -> DeliveredFile:
    return delivered_file(
        tmp_path, "billing.csv", CSV_BYTES, output_format="csv", content_type="text/csv"
    )


# --- e-mail -----------------------------------------------------------------------------------


def email_config(**changes: Any) -> dict:
    config = {"recipients": ["ana@acme.test", "ben@acme.test"], **changes}
    return get_channel("email").config_validate(
        config, allowed_email_domains=["acme.test"], organization_id=ORGANIZATION_ID
    )


def attachments(message: email.message.EmailMessage) -> dict[str, bytes]:
    return {
        part.get_filename(): part.get_payload(decode=True) for part in message.iter_attachments()
    }


def test_email_arrives_with_subject_bodies_and_attached_outputs(
    smtp_server: MailRecorder, pdf_file: DeliveredFile, csv_file: DeliveredFile, pdf_bytes: bytes
) -> None:
    result = get_channel("email").deliver(email_config(), report_message([pdf_file, csv_file]))

    assert sorted(rcpt for rcpt, _ in smtp_server.messages) == [
        ["ana@acme.test"],
        ["ben@acme.test"],
    ]
    _, message = smtp_server.messages[0]
    assert message["Subject"] == "Monthly Billing Summary for 2025-03"
    assert message["To"] == "ana@acme.test"
    assert message["Message-ID"] == "<dlv-42-7@localhost>"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Monthly Billing Summary for 2025-03" in text
    assert "month: 03" in text
    assert "Rows: 2" in text
    assert "Generated: 2025-04-01 06:00 CEST" in text  # in the message's time zone
    assert '<a href="https://reports.example.test/d/billing.pdf?signature=abc123">' in html
    assert ">year</th><td>2025</td>" in html
    files = attachments(message)
    assert files["billing.csv"] == CSV_BYTES
    assert files["billing.pdf"] == pdf_bytes
    assert "Total 1333.50" in PdfReader(io.BytesIO(files["billing.pdf"])).pages[0].extract_text()
    assert "2 attached, 0 as links" in result.detail


def test_email_attachments_over_the_size_limit_go_as_links(
    settings, smtp_server: MailRecorder, pdf_file: DeliveredFile, tmp_path: Path
) -> None:
    settings.DELIVERY_EMAIL_MAX_ATTACHMENT_MB = 1
    big = delivered_file(
        tmp_path,
        "big.csv",
        b"x" * (1024 * 1024 + 1),
        output_format="csv",
        content_type="text/csv; charset=utf-8",
    )

    get_channel("email").deliver(
        email_config(recipients=["ana@acme.test"]), report_message([pdf_file, big])
    )

    (_, message) = smtp_server.messages[0]
    assert list(attachments(message)) == ["billing.pdf"]
    text = message.get_body(("plain",)).get_content()
    assert "big.csv (1.0\xa0MB), not attached" in text
    assert "https://reports.example.test/d/big.csv?signature=abc123" in text
    assert "limited to 1 MB in total" in text
    assert "limited to 1 MB in total" in message.get_body(("html",)).get_content()


def test_email_without_attach_sends_every_output_as_a_link(
    smtp_server: MailRecorder, pdf_file: DeliveredFile
) -> None:
    config = email_config(recipients=["ana@acme.test"], attach=False)

    get_channel("email").deliver(config, report_message([pdf_file]))

    (_, message) = smtp_server.messages[0]
    assert attachments(message) == {}
    text = message.get_body(("plain",)).get_content()
    assert re.search(r"billing\.pdf \([\d.]+\xa0KB\), not attached", text)
    assert "limited to" not in text


def test_email_recipient_outside_the_allowed_domains_is_refused_at_config_time() -> None:
    config = {"recipients": ["ana@acme.test", "eve@elsewhere.test"]}

    with pytest.raises(ConfigError) as refused:
        get_channel("email").config_validate(
            config, allowed_email_domains=["acme.test"], organization_id=ORGANIZATION_ID
        )

    assert "eve@elsewhere.test" in refused.value.config_errors["recipients"][0]
    assert "ana@acme.test" not in refused.value.config_errors["recipients"][0]


def test_email_config_is_normalised_and_unsafe_subjects_are_refused() -> None:
    channel = get_channel("email")
    config = channel.config_validate(
        {"recipients": [" Ana@ACME.test", "Ana@acme.test"]},
        allowed_email_domains=[],
        organization_id=ORGANIZATION_ID,
    )
    assert config == {
        "recipients": ["Ana@acme.test"],
        "subject": "{template} for {period}",
        "attach": True,
    }
    with pytest.raises(ConfigError) as refused:
        channel.config_validate(
            {"recipients": ["not-an-address"], "subject": "{template.__class__}", "cc": []},
            allowed_email_domains=[],
            organization_id=ORGANIZATION_ID,
        )
    assert set(refused.value.config_errors) == {"recipients", "subject", "cc"}


def test_email_with_the_mail_server_down_is_a_delivery_error(
    settings, pdf_file: DeliveredFile
) -> None:
    smtp_settings(settings, free_port())  # nothing listens there

    with pytest.raises(DeliveryError, match="Could not connect to the mail server"):
        get_channel("email").deliver(email_config(), report_message([pdf_file]))


def test_email_refused_for_one_recipient_is_not_sent(
    refusing_smtp_server: MailRecorder, pdf_file: DeliveredFile
) -> None:
    config = email_config(recipients=["ana@acme.test", "gone@acme.test"])

    with pytest.raises(DeliveryError) as failed:
        get_channel("email").deliver(config, report_message([pdf_file]))

    assert failed.value.response_status == 550
    assert "Not delivered to gone@acme.test (550 5.1.1 No such mailbox here)" in str(failed.value)
    assert "Sent to ana@acme.test" in str(failed.value)
    assert [rcpt for rcpt, _ in refusing_smtp_server.messages] == [["ana@acme.test"]]


class DroppingBackend(BaseEmailBackend):
    """A mail backend that reports sending nothing without raising, as fail_silently ones do."""

    def send_messages(self, email_messages) -> int:
        return 0


def test_email_a_backend_that_sends_nothing_is_a_delivery_error(
    settings, pdf_file: DeliveredFile
) -> None:
    settings.EMAIL_BACKEND = f"{__name__}.DroppingBackend"

    with pytest.raises(DeliveryError, match="did not send it"):
        get_channel("email").deliver(email_config(), report_message([pdf_file]))


def test_email_test_message_arrives(smtp_server: MailRecorder) -> None:
    get_channel("email").send_test(
        email_config(recipients=["ana@acme.test"]),
        organization_id=ORGANIZATION_ID,
        organization_name="Acme Makerspace",
    )

    (_, message) = smtp_server.messages[0]
    assert message["Subject"].startswith("Test: ")
    assert "test message from Reporting Hub for Acme Makerspace" in (
        message.get_body(("plain",)).get_content()
    )


# --- webhook ----------------------------------------------------------------------------------


def webhook_config(url: str) -> dict:
    return get_channel("webhook").config_validate(
        {"url": url, "secret": SECRET}, allowed_email_domains=[], organization_id=ORGANIZATION_ID
    )


def test_webhook_body_is_signed_with_the_secret_and_carries_the_report(
    webhook_receiver: WebhookReceiver, pdf_file: DeliveredFile
) -> None:
    config = webhook_config(webhook_receiver.url("/hook?team=ops"))

    result = get_channel("webhook").deliver(config, report_message([pdf_file]))

    (received,) = webhook_receiver.requests
    expected = hmac.new(SECRET.encode(), received.body, hashlib.sha256).hexdigest()
    assert received.headers["X-Signature-256"] == f"sha256={expected}"
    assert received.path == "/hook?team=ops"
    assert received.headers["Content-Type"] == "application/json"
    assert received.headers["User-Agent"] == "ReportingHub-Webhook/1"
    assert received.headers["X-Delivery-Id"] == "dlv-42-7"
    assert abs(int(received.headers["X-Delivery-Timestamp"]) - time.time()) < 60
    payload = json.loads(received.body)
    assert payload["execution_id"] == 42
    assert payload["template"] == {
        "name": "Monthly Billing Summary",
        "slug": "monthly-billing-summary",
    }
    assert payload["parameters"] == {"month": "03", "year": 2025}
    assert payload["row_count"] == 2
    assert payload["generated_at"] == "2025-04-01T04:00:12Z"
    assert payload["files"] == [
        {
            "format": "pdf",
            "filename": "billing.pdf",
            "size": pdf_file.size,
            "sha256": pdf_file.sha256,
            "content_type": "application/pdf",
            "download_url": pdf_file.download_url,
        }
    ]
    assert result.response_status == 200


def test_webhook_delivery_passes_the_standard_webhooks_verifier(
    webhook_receiver: WebhookReceiver,
) -> None:
    config = webhook_config(webhook_receiver.url("/hook"))

    get_channel("webhook").deliver(config, report_message([]))

    (received,) = webhook_receiver.requests
    assert received.headers["webhook-id"] == "dlv-42-7"
    assert abs(int(received.headers["webhook-timestamp"]) - time.time()) < 60
    assert received.headers["webhook-signature"].startswith("v1,")
    payload = Webhook(SECRET.encode()).verify(received.body, received.headers)
    assert payload["execution_id"] == 42


def test_webhook_replayed_after_the_tolerance_is_rejected_by_the_standard_verifier(
    webhook_receiver: WebhookReceiver,
) -> None:
    config = webhook_config(webhook_receiver.url("/hook"))
    get_channel("webhook").deliver(config, report_message([]))
    (captured,) = webhook_receiver.requests
    sent_at = datetime.fromtimestamp(int(captured.headers["webhook-timestamp"]), UTC)

    later = time_machine.travel(sent_at + timedelta(minutes=5, seconds=2), tick=False)
    with later, pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(SECRET.encode()).verify(captured.body, captured.headers)
    with time_machine.travel(sent_at + timedelta(minutes=4), tick=False):
        Webhook(SECRET.encode()).verify(captured.body, captured.headers)


def test_webhook_with_a_tampered_body_or_a_moved_timestamp_is_rejected(
    webhook_receiver: WebhookReceiver,
) -> None:
    config = webhook_config(webhook_receiver.url("/hook"))
    get_channel("webhook").deliver(config, report_message([]))
    (captured,) = webhook_receiver.requests
    verifier = Webhook(SECRET.encode())
    tampered = captured.body.replace(b'"row_count": 2', b'"row_count": 3')
    assert tampered != captured.body

    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        verifier.verify(tampered, captured.headers)
    refreshed = {**captured.headers, "webhook-timestamp": str(int(time.time()) + 1)}
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        verifier.verify(captured.body, refreshed)
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(b"another-secret-of-some-length").verify(captured.body, captured.headers)


def test_webhook_whsec_secret_is_the_standard_base64_key(
    webhook_receiver: WebhookReceiver,
) -> None:
    whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    config = get_channel("webhook").config_validate(
        {"url": webhook_receiver.url("/hook"), "secret": whsec},
        allowed_email_domains=[],
        organization_id=ORGANIZATION_ID,
    )

    get_channel("webhook").deliver(config, report_message([]))

    (received,) = webhook_receiver.requests
    assert Webhook(whsec).verify(received.body, received.headers)["execution_id"] == 42
    with pytest.raises(ConfigError) as refused:
        get_channel("webhook").config_validate(
            {"url": webhook_receiver.url("/hook"), "secret": "whsec_not*base64*at*all"},
            allowed_email_domains=[],
            organization_id=ORGANIZATION_ID,
        )
    assert list(refused.value.config_errors) == ["secret"]


def test_webhook_retry_sends_the_same_delivery_id(webhook_receiver: WebhookReceiver) -> None:
    config = webhook_config(webhook_receiver.url("/hook"))

    for _ in range(2):
        get_channel("webhook").deliver(config, report_message([]))

    assert [r.headers["webhook-id"] for r in webhook_receiver.requests] == ["dlv-42-7"] * 2
    assert [r.headers["X-Delivery-Id"] for r in webhook_receiver.requests] == ["dlv-42-7"] * 2


def test_webhook_server_error_is_a_delivery_error_with_its_status(
    webhook_receiver: WebhookReceiver,
) -> None:
    config = webhook_config(webhook_receiver.url("/fail"))

    with pytest.raises(DeliveryError) as failed:
        get_channel("webhook").deliver(config, report_message([]))

    assert failed.value.response_status == 500
    assert "Internal trouble: " + "x" * 182 in str(failed.value)
    assert "x" * 183 not in str(failed.value)  # only the body's first 200 characters


def test_webhook_redirect_is_not_followed(webhook_receiver: WebhookReceiver) -> None:
    config = webhook_config(webhook_receiver.url("/moved"))

    with pytest.raises(DeliveryError) as failed:
        get_channel("webhook").deliver(config, report_message([]))

    assert failed.value.response_status == 302
    assert webhook_receiver.url("/target") in str(failed.value)
    assert [r.path for r in webhook_receiver.requests] == ["/moved"]


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
        "http://127.0.0.1:9/hook",  # loopback, and 127.0.0.1 is not allowed here
    ],
)
def test_webhook_to_an_internal_url_is_refused(settings, url: str) -> None:
    settings.DELIVERY_ALLOWED_HOSTS = []
    channel = get_channel("webhook")

    with pytest.raises(ConfigError) as refused:
        channel.config_validate(
            {"url": url, "secret": SECRET},
            allowed_email_domains=[],
            organization_id=ORGANIZATION_ID,
        )
    assert list(refused.value.config_errors) == ["url"]
    with pytest.raises(DeliveryError, match="allowed"):
        channel.deliver({"url": url, "secret": SECRET}, report_message([]))


def test_webhook_checks_the_url_again_when_delivering(
    settings, webhook_receiver: WebhookReceiver
) -> None:
    config = webhook_config(webhook_receiver.url("/hook"))
    settings.DELIVERY_ALLOWED_HOSTS = []

    with pytest.raises(DeliveryError, match="loopback"):
        get_channel("webhook").deliver(config, report_message([]))

    assert webhook_receiver.requests == []


def test_webhook_secret_is_write_only_and_must_be_long_enough(
    webhook_receiver: WebhookReceiver,
) -> None:
    channel = get_channel("webhook")
    config = webhook_config(webhook_receiver.url("/hook"))

    assert channel.config_public(config) == {"url": webhook_receiver.url("/hook")}
    with pytest.raises(ConfigError) as refused:
        channel.config_validate(
            {"url": webhook_receiver.url("/hook"), "secret": "short"},
            allowed_email_domains=[],
            organization_id=ORGANIZATION_ID,
        )
    assert list(refused.value.config_errors) == ["secret"]


def test_webhook_test_message_is_signed(webhook_receiver: WebhookReceiver) -> None:
    get_channel("webhook").send_test(
        webhook_config(webhook_receiver.url("/hook")),
        organization_id=ORGANIZATION_ID,
        organization_name="Acme Makerspace",
    )

    (received,) = webhook_receiver.requests
    expected = hmac.new(SECRET.encode(), received.body, hashlib.sha256).hexdigest()
    assert received.headers["X-Signature-256"] == f"sha256={expected}"
    assert json.loads(received.body)["status"] == "test"
    assert received.headers["X-Delivery-Id"].startswith("test-")
    assert Webhook(SECRET.encode()).verify(received.body, received.headers)["status"] == "test"


def self_signed_certificate(folder: Path, host: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{host}.pem", folder / f"{host}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.mark.parametrize(("certificate_host", "delivered"), [("localhost", True), ("other", False)])
def test_webhook_over_https_checks_the_certificate_against_the_url_host(
    settings, monkeypatch, tmp_path: Path, certificate_host: str, delivered: bool
) -> None:
    cert_path, key_path = self_signed_certificate(tmp_path, certificate_host)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_path))  # trust this certificate only
    settings.DELIVERY_ALLOWED_HOSTS = ["localhost"]
    settings.DELIVERY_WEBHOOK_TIMEOUT = 5
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    receiver = WebhookReceiver(server.server_address[1])
    server.RequestHandlerClass = _handler_for(receiver)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    url = f"https://localhost:{receiver.port}/hook"
    config = webhook_config(url)

    try:
        if delivered:
            assert get_channel("webhook").deliver(config, report_message([])).response_status == 200
            assert receiver.requests[0].headers["Host"] == f"localhost:{receiver.port}"
        else:
            with pytest.raises(DeliveryError, match="certificate"):
                get_channel("webhook").deliver(config, report_message([]))
            assert receiver.requests == []
    finally:
        server.shutdown()
        server.server_close()


# --- storage ----------------------------------------------------------------------------------


def storage_config(config: dict) -> dict:
    return get_channel("storage").config_validate(
        config, allowed_email_domains=[], organization_id=ORGANIZATION_ID
    )


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def storage_root(settings, tmp_path: Path) -> Path:
    root = tmp_path / "deliveries"
    settings.DELIVERY_STORAGE_ROOTS = [root]
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder the service could write to but no target may."""
    folder = tmp_path / "outside"
    folder.mkdir()
    return folder


def test_local_storage_writes_each_output_under_the_pattern(
    storage_root: Path, pdf_file: DeliveredFile, csv_file: DeliveredFile, pdf_bytes: bytes
) -> None:
    folder = storage_root / ORGANIZATION_ID / "exports"
    config = storage_config({"backend": "local", "path": "exports"})

    result = get_channel("storage").deliver(config, report_message([pdf_file, csv_file]))

    assert files_under(folder) == [
        "monthly-billing-summary/2025-04-01/monthly-billing-summary_2025-04-01.csv",
        "monthly-billing-summary/2025-04-01/monthly-billing-summary_2025-04-01.pdf",
    ]
    written = folder / "monthly-billing-summary/2025-04-01/monthly-billing-summary_2025-04-01.pdf"
    assert written.read_bytes() == pdf_bytes
    assert result.detail.endswith(f"to {folder}.")


def test_local_storage_second_delivery_overwrites_instead_of_renaming(
    storage_root: Path, tmp_path: Path
) -> None:
    folder = storage_root / ORGANIZATION_ID / "exports"
    config = storage_config(
        {
            "backend": "local",
            "path": "exports",
            "filename_pattern": "{execution_id}/{template_slug}.{extension}",
        }
    )
    first = delivered_file(tmp_path, "a.csv", b"first\r\n", output_format="csv", content_type="")
    second = delivered_file(tmp_path, "b.csv", b"2nd\r\n", output_format="csv", content_type="")

    get_channel("storage").deliver(config, report_message([first]))
    get_channel("storage").deliver(config, report_message([second]))

    assert files_under(folder) == ["42/monthly-billing-summary.csv"]
    assert (folder / "42/monthly-billing-summary.csv").read_bytes() == b"2nd\r\n"


def test_one_off_run_is_filed_under_its_generation_date(
    storage_root: Path, csv_file: DeliveredFile
) -> None:
    config = storage_config({"backend": "local"})  # no path: the organisation's folder itself
    late_evening = datetime(2025, 4, 1, 22, 30, tzinfo=UTC)  # already 2 April in Berlin

    get_channel("storage").deliver(
        config, report_message([csv_file], slot_date=None, generated_at=late_evening)
    )

    assert files_under(storage_root) == [
        f"{ORGANIZATION_ID}/monthly-billing-summary/2025-04-02/monthly-billing-summary_2025-04-02.csv"
    ]


def test_local_path_is_relative_to_the_organisations_folder_or_absolute_inside_it(
    settings, storage_root: Path, tmp_path: Path
) -> None:
    second_root = tmp_path / "archive"
    settings.DELIVERY_STORAGE_ROOTS = [storage_root, second_root]
    own = f"{second_root}/{ORGANIZATION_ID}"

    assert storage_config({"backend": "local", "path": "monthly/"})["path"] == "monthly"
    assert storage_config({"backend": "local", "path": "a/../b"})["path"] == "b"
    assert storage_config({"backend": "local", "path": f"{own}/x/"})["path"] == f"{own}/x"
    assert storage_config({"backend": "local", "path": own})["path"] == own


@pytest.mark.parametrize(
    "path",
    [
        "..",
        "../elsewhere",
        "monthly/../../other",
        "{root}/{organization}/../other",
        "{root}/4f1c2a9e-0000-4c3e-9a51-6d2f8e7b1c30/reports",  # another organisation's folder
        "{root}",
        "{outside}",
        "/etc",
        "back\\slash",
        42,
    ],
)
def test_local_path_that_leaves_the_organisations_folder_is_refused(
    storage_root: Path, outside: Path, path: Any
) -> None:
    if isinstance(path, str):
        path = path.format(root=storage_root, organization=ORGANIZATION_ID, outside=outside)

    with pytest.raises(ConfigError) as refused:
        storage_config({"backend": "local", "path": path})

    assert list(refused.value.config_errors) == ["path"]
    assert f"{storage_root / ORGANIZATION_ID}/" in refused.value.config_errors["path"][0]
    assert not storage_root.exists() or files_under(storage_root) == []


def test_a_link_in_the_organisations_folder_is_refused_when_saved(
    storage_root: Path, outside: Path
) -> None:
    home = storage_root / ORGANIZATION_ID
    home.mkdir(parents=True)
    os.symlink(outside, home / "escape")
    os.symlink(home / "elsewhere", home / "sideways")  # a link, even one that stays inside

    for path in ["escape", "escape/deeper", f"{home}/escape", "sideways"]:
        with pytest.raises(ConfigError) as refused:
            storage_config({"backend": "local", "path": path})
        assert "symbolic link" in refused.value.config_errors["path"][0], path


def test_a_link_planted_after_saving_is_not_written_through(
    storage_root: Path, outside: Path, csv_file: DeliveredFile
) -> None:
    config = storage_config({"backend": "local", "path": "exports"})
    home = storage_root / ORGANIZATION_ID
    home.mkdir(parents=True)
    os.symlink(outside, home / "exports")

    with pytest.raises(DeliveryError, match="symbolic link") as failed:
        get_channel("storage").deliver(config, report_message([csv_file]))

    assert failed.value.retry is False
    assert files_under(outside) == []


def test_a_link_below_the_target_folder_is_not_followed_either(
    storage_root: Path, outside: Path, csv_file: DeliveredFile
) -> None:
    config = storage_config({"backend": "local", "path": "exports"})
    (storage_root / ORGANIZATION_ID / "exports").mkdir(parents=True)
    os.symlink(outside, storage_root / ORGANIZATION_ID / "exports" / "monthly-billing-summary")

    with pytest.raises(DeliveryError, match="symbolic link"):
        get_channel("storage").deliver(config, report_message([csv_file]))

    assert files_under(outside) == []


def test_a_link_at_the_files_own_name_is_replaced_not_followed(
    storage_root: Path, outside: Path, tmp_path: Path
) -> None:
    config = storage_config(
        {"backend": "local", "path": "exports", "filename_pattern": "{template_slug}.{extension}"}
    )
    folder = storage_root / ORGANIZATION_ID / "exports"
    folder.mkdir(parents=True)
    victim = outside / "passwd"
    victim.write_bytes(b"root:x:0:0\n")
    os.symlink(victim, folder / "monthly-billing-summary.csv")
    report = delivered_file(tmp_path, "r.csv", CSV_BYTES, output_format="csv", content_type="")

    get_channel("storage").deliver(config, report_message([report]))

    assert victim.read_bytes() == b"root:x:0:0\n"
    written = folder / "monthly-billing-summary.csv"
    assert not written.is_symlink()
    assert written.read_bytes() == CSV_BYTES


def test_a_target_saved_before_the_rule_fails_saying_where_it_may_write(
    storage_root: Path, outside: Path, csv_file: DeliveredFile
) -> None:
    stored = {"backend": "local", "path": str(outside), "filename_pattern": "{filename}"}

    with pytest.raises(DeliveryError) as failed:
        get_channel("storage").deliver(stored, report_message([csv_file]))

    assert failed.value.retry is False
    assert f"The folder {outside} is not allowed" in failed.value.message
    assert f"{storage_root / ORGANIZATION_ID}/" in failed.value.message
    assert files_under(outside) == []


@pytest.mark.parametrize(
    "pattern",
    ["{template_slug}.{nope}", "/{filename}", "../{filename}", "{template_slug}", "{filename"],
)
def test_storage_refuses_a_filename_pattern_that_cannot_work(
    storage_root: Path, pattern: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        storage_config({"backend": "local", "path": "exports", "filename_pattern": pattern})

    assert list(refused.value.config_errors) == ["filename_pattern"]


def s3_client(endpoint_url: str):
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name="eu-central-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_s3_storage_writes_each_output_into_the_bucket(
    settings, moto_endpoint: str, pdf_file: DeliveredFile, csv_file: DeliveredFile, pdf_bytes: bytes
) -> None:
    settings.DELIVERY_ALLOWED_HOSTS = ["127.0.0.1"]
    client = s3_client(moto_endpoint)
    client.create_bucket(
        Bucket="acme-reports",
        CreateBucketConfiguration={"LocationConstraint": "eu-central-1"},
    )
    config = storage_config(
        {
            "backend": "s3",
            "bucket": "acme-reports",
            "prefix": "/exports/billing/",
            "region": "eu-central-1",
            "endpoint_url": moto_endpoint,
            "access_key_id": "testing",
            "secret_access_key": "testing",
        }
    )

    for _ in range(2):  # a retry replaces the objects
        get_channel("storage").deliver(config, report_message([pdf_file, csv_file]))

    listed = client.list_objects_v2(Bucket="acme-reports")["Contents"]
    prefix = "exports/billing/monthly-billing-summary/2025-04-01/monthly-billing-summary_2025-04-01"
    assert sorted(entry["Key"] for entry in listed) == [f"{prefix}.csv", f"{prefix}.pdf"]
    stored = client.get_object(Bucket="acme-reports", Key=f"{prefix}.pdf")
    assert stored["Body"].read() == pdf_bytes
    assert stored["ContentType"] == "application/pdf"
    stored_csv = client.get_object(Bucket="acme-reports", Key=f"{prefix}.csv")
    assert stored_csv["Body"].read() == CSV_BYTES


def test_s3_storage_to_a_missing_bucket_is_a_delivery_error(
    settings, moto_endpoint: str, csv_file: DeliveredFile
) -> None:
    settings.DELIVERY_ALLOWED_HOSTS = ["127.0.0.1"]
    config = storage_config(
        {
            "backend": "s3",
            "bucket": "no-such-bucket",
            "endpoint_url": moto_endpoint,
            "access_key_id": "testing",
            "secret_access_key": "testing",
        }
    )

    with pytest.raises(DeliveryError, match="Could not write") as failed:
        get_channel("storage").deliver(config, report_message([csv_file]))

    assert failed.value.response_status == 404


def test_s3_keys_are_write_only_and_the_endpoint_must_be_public(settings) -> None:
    settings.DELIVERY_ALLOWED_HOSTS = []
    channel = get_channel("storage")
    config = storage_config(
        {
            "backend": "s3",
            "bucket": "acme-reports",
            "access_key_id": "AK",
            "secret_access_key": "SK",
        }
    )

    assert channel.config_public(config) == {
        "backend": "s3",
        "bucket": "acme-reports",
        "filename_pattern": "{template_slug}/{slot_date}/{template_slug}_{slot_date}.{extension}",
    }
    with pytest.raises(ConfigError) as refused:
        storage_config(
            {"backend": "s3", "bucket": "acme-reports", "endpoint_url": "http://10.1.2.3:9000"}
        )
    assert list(refused.value.config_errors) == ["endpoint_url"]


def test_registry_names_every_channel_by_its_kind() -> None:
    assert {kind: get_channel(kind).kind for kind in CHANNELS} == {
        "email": "email",
        "storage": "storage",
        "webhook": "webhook",
    }
    with pytest.raises(KeyError):
        get_channel("fax")
