"""Real receivers for delivery tests: an SMTP server (aiosmtpd) and an HTTP server for webhooks."""

import email
import email.policy
import hashlib
import http.server
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.core.files.base import ContentFile
from django.utils import timezone

from reporting.models import ReportExecution, ReportOutput, report_storage


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MailRecorder:
    """An SMTP server on its own port that keeps what it accepts. `stop()` closes the port (a
    mail server outage: connections are refused), `start()` opens it again, messages kept."""

    def __init__(self, refuse: str = ""):
        self.refuse = refuse
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []
        self.port = free_port()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == self.refuse:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 Message accepted"


def smtp_settings(settings, port: int) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5


@pytest.fixture
def smtp_server(settings) -> Iterator[MailRecorder]:
    yield from _run_smtp(settings, MailRecorder())


@pytest.fixture
def refusing_smtp_server(settings) -> Iterator[MailRecorder]:
    yield from _run_smtp(settings, MailRecorder(refuse="gone@acme.test"))


def _run_smtp(settings, recorder: MailRecorder) -> Iterator[MailRecorder]:
    recorder.start()
    smtp_settings(settings, recorder.port)
    try:
        yield recorder
    finally:
        recorder.stop()


@dataclass
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """An HTTP server on its own port that keeps the requests it gets. `stop()` closes the port
    (connections are refused), `start()` opens it again on the same port, requests kept.
    `/fail` answers 500, `/moved` a redirect, `/slow` answers after `slow_seconds`."""

    port: int = field(default_factory=free_port)
    requests: list[ReceivedRequest] = field(default_factory=list)
    slow_seconds: float = 0
    server: http.server.ThreadingHTTPServer | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), _handler_for(self))
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def _handler_for(receiver: WebhookReceiver) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            receiver.requests.append(ReceivedRequest(self.path, dict(self.headers), body))
            if self.path == "/slow":
                time.sleep(receiver.slow_seconds)
            if self.path == "/fail":
                self._answer(500, b"Internal trouble: " + b"x" * 500)
            elif self.path == "/moved":
                self._answer(302, b"", location=receiver.url("/target"))
            else:
                self._answer(200, b"ok")

        def _answer(self, status: int, body: bytes, location: str = "") -> None:
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def webhook_receiver(settings) -> Iterator[WebhookReceiver]:
    settings.DELIVERY_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.DELIVERY_WEBHOOK_TIMEOUT = 5
    receiver = WebhookReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


CSV = b"invoice,amount\n1,10.5\n"


@pytest.fixture
def succeeded(organization, billing_template, report_output_dir):
    """A finished execution with a PDF and a CSV in storage (no report run needed)."""
    execution = ReportExecution.objects.create(
        organization=organization, template=billing_template, status="succeeded",
        parameters={"month": "03", "year": 2025}, row_count=1, finished_at=timezone.now(),
    )  # fmt: skip
    from weasyprint import HTML

    pdf = HTML(string="<h1>March billing for Acme</h1>").write_pdf()
    for fmt, body, content_type in (("pdf", pdf, "application/pdf"), ("csv", CSV, "text/csv")):
        filename = f"monthly-billing-summary_2025-03_{execution.pk}.{fmt}"
        name = report_storage().save(f"acme/{execution.pk}/{filename}", ContentFile(body))
        ReportOutput.objects.create(
            execution=execution, format=fmt, file=name, filename=filename, size=len(body),
            sha256=hashlib.sha256(body).hexdigest(), content_type=content_type,
            expires_at=timezone.now() + timedelta(days=30),
        )  # fmt: skip
    return execution


def deliver(execution, target, django_capture_on_commit_callbacks):
    """The execution's one delivery to `target`, planned, started and attempted once here."""
    from delivery.services import deliveries_plan, deliveries_start, delivery_attempt

    deliveries_plan(plan=[(execution, [target])])
    with django_capture_on_commit_callbacks():
        deliveries_start(execution=execution)
    [delivery] = execution.deliveries.all()
    return delivery_attempt(delivery_pk=delivery.pk)
