"""E-mail delivery: an HTML message with a text alternative, outputs attached or linked.

Config: {"recipients": [...], "subject": "{template} for {period}", "attach": true}.
Subject names: {template} (its name), {template_slug}, {organization}, {period} (see
DeliveryMessage.period), {date} (the report date, YYYY-MM-DD) and {status}.

Each recipient gets a message of their own, sent over one connection: Django's SMTP backend
reports a refused recipient only when every recipient of a message is refused, so a shared
message could not tell "sent" from "sent to some". The Message-ID derives from the
delivery id, so a mail client can fold the copy a retry sends to someone who already got it.
"""

import contextlib
import json
import re
import smtplib
from dataclasses import dataclass
from email import encoders
from email.mime.base import MIMEBase
from email.utils import parseaddr
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.validators import validate_email
from django.template.loader import render_to_string
from django.utils import timezone

from delivery.channels.base import (
    ConfigError,
    DeliveredFile,
    DeliveryError,
    DeliveryMessage,
    DeliveryResult,
    config_public,
    config_unknown_fields,
    pattern_fill,
    pattern_problems,
    test_message,
)

SUBJECT_NAMES = ("template", "template_slug", "organization", "period", "date", "status")
DEFAULT_SUBJECT = "{template} for {period}"
MAX_RECIPIENTS = 50
MAX_SUBJECT_LENGTH = 200
DEFAULT_SMTP_TIMEOUT = 30  # seconds, when EMAIL_TIMEOUT is not set: never wait forever


@dataclass(frozen=True)
class _Attachment:
    filename: str
    content_type: str
    data: bytes

    def mime_part(self) -> MIMEBase:
        # Base64 for every type, text too: the file arrives byte for byte (CSV line endings).
        maintype, _, subtype = self.content_type.partition(";")[0].strip().partition("/")
        part = MIMEBase(maintype or "application", subtype or "octet-stream")
        part.set_payload(self.data)
        encoders.encode_base64(part)
        filename = self.filename if self.filename.isascii() else ("utf-8", "", self.filename)
        part.add_header("Content-Disposition", "attachment", filename=filename)
        return part


class EmailChannel:
    kind = "email"
    secret_fields = ()

    def config_validate(
        self, config: dict, *, allowed_email_domains: list[str], organization_id: str
    ) -> dict:
        errors = config_unknown_fields(config, ("recipients", "subject", "attach"))
        if "config" in errors:
            raise ConfigError(errors)
        recipients, problems = _recipients(config.get("recipients"), allowed_email_domains)
        subject = config.get("subject", DEFAULT_SUBJECT)
        attach = config.get("attach", True)
        field_problems = {
            "recipients": problems,
            "subject": _subject_problems(subject),
            "attach": [] if isinstance(attach, bool) else ["Must be true or false."],
        }
        errors.update({field: found for field, found in field_problems.items() if found})
        if errors:
            raise ConfigError(errors)
        return {"recipients": recipients, "subject": subject.strip(), "attach": attach}

    def config_public(self, config: dict) -> dict:
        return config_public(config, self.secret_fields)

    def deliver(self, config: dict, message: DeliveryMessage) -> DeliveryResult:
        attach = config.get("attach", True)
        attachments, linked = _attachments(message.files, attach=attach)
        context = _context(message, attachments, too_large=attach and bool(linked))
        subject = _subject(config.get("subject", DEFAULT_SUBJECT), message)
        with timezone.override(ZoneInfo(message.time_zone)):
            text = render_to_string("delivery/report_email.txt", context)
            html = render_to_string("delivery/report_email.html", context)
        emails = [
            _email(recipient, subject, text, html, attachments, message.delivery_id)
            for recipient in config["recipients"]
        ]
        _send_each(emails)
        return DeliveryResult(
            response_status=None,
            detail=f"Sent to {', '.join(config['recipients'])}: {len(attachments)} attached, "
            f"{len(message.files) - len(attachments)} as links.",
        )

    def send_test(
        self, config: dict, *, organization_id: str, organization_name: str
    ) -> DeliveryResult:
        return self.deliver(
            config,
            test_message(organization_id=organization_id, organization_name=organization_name),
        )


def _recipients(raw: object, allowed_domains: list[str]) -> tuple[list[str], list[str]]:
    if not isinstance(raw, list) or not raw:
        return [], ["Give at least one e-mail address."]
    if len(raw) > MAX_RECIPIENTS:
        return [], [f"At most {MAX_RECIPIENTS} recipients."]
    recipients, problems = [], []
    for entry in raw:
        address = _address(entry)
        if address is None:
            problems.append(f"{entry!r} is not an e-mail address.")
        elif address not in recipients:
            recipients.append(address)
    domains = {domain.strip().lstrip("@").lower() for domain in allowed_domains}
    outside = [a for a in recipients if domains and a.rpartition("@")[2] not in domains]
    if outside:
        problems.append(
            f"{', '.join(outside)}: outside the organisation's allowed e-mail domains "
            f"({', '.join(sorted(domains))})."
        )
    return recipients, problems


def _address(entry: object) -> str | None:
    if not isinstance(entry, str):
        return None
    local, _, domain = entry.strip().rpartition("@")
    address = f"{local}@{domain.lower()}"
    try:
        validate_email(address)
    except ValidationError:
        return None
    return address


def _subject_problems(subject: object) -> list[str]:
    problems = pattern_problems(subject, SUBJECT_NAMES)
    if not problems and len(subject) > MAX_SUBJECT_LENGTH:
        problems = [f"At most {MAX_SUBJECT_LENGTH} characters."]
    return problems


def _subject(pattern: str, message: DeliveryMessage) -> str:
    values = {
        "template": message.template_name,
        "template_slug": message.template_slug,
        "organization": message.organization_name,
        "period": message.period,
        "date": message.report_date.isoformat(),
        "status": message.status,
    }
    subject = pattern_fill(pattern, values)
    if message.status == "test":
        subject = f"Test: {subject}"
    # A line break in a header would be refused (or worse); names may hold one.
    return " ".join(subject.split())[:MAX_SUBJECT_LENGTH]


def _attachments(
    files: list[DeliveredFile], *, attach: bool
) -> tuple[list[_Attachment], list[DeliveredFile]]:
    """Attach files in order while the total stays within the limit; link the rest."""
    megabytes = getattr(settings, "DELIVERY_EMAIL_MAX_ATTACHMENT_MB", 10)
    budget = int(float(megabytes) * 1024 * 1024) if attach else 0
    attachments, linked = [], []
    for file in files:
        if file.size > budget:
            linked.append(file)
            continue
        attachments.append(_Attachment(file.filename, file.content_type, _read(file)))
        budget -= file.size
    return attachments, linked


def _read(file: DeliveredFile) -> bytes:
    try:
        with file.open() as stored:
            return stored.read()
    except OSError as exc:
        raise DeliveryError(f"Could not read the output {file.filename}: {exc}") from exc


def _context(message: DeliveryMessage, attachments: list[_Attachment], *, too_large: bool) -> dict:
    attached_names = {attachment.filename for attachment in attachments}
    return {
        "message": message,
        "is_test": message.status == "test",
        "period": message.period,
        "parameters": [
            (name, value if isinstance(value, str) else json.dumps(value, default=str))
            for name, value in sorted(message.parameters.items())
        ],
        "files": [{"file": f, "attached": f.filename in attached_names} for f in message.files],
        "too_large": too_large,
        "attach_limit_mb": getattr(settings, "DELIVERY_EMAIL_MAX_ATTACHMENT_MB", 10),
        "link_max_age_days": getattr(settings, "REPORT_LINK_MAX_AGE_DAYS", 7),
    }


def _email(
    recipient: str,
    subject: str,
    text: str,
    html: str,
    attachments: list[_Attachment],
    delivery_id: str,
) -> EmailMultiAlternatives:
    email = EmailMultiAlternatives(
        subject=subject,
        body=text,
        to=[recipient],
        headers={"Message-ID": _message_id(delivery_id), "Auto-Submitted": "auto-generated"},
    )
    email.attach_alternative(html, "text/html")
    for attachment in attachments:
        email.attach(attachment.mime_part())
    return email


def _message_id(delivery_id: str) -> str:
    sender = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    domain = sender.rpartition("@")[2] or "reporting-hub.invalid"
    return f"<{re.sub(r'[^A-Za-z0-9._-]', '-', delivery_id)}@{domain}>"


def _send_each(emails: list[EmailMultiAlternatives]) -> None:
    timeout = getattr(settings, "EMAIL_TIMEOUT", None) or DEFAULT_SMTP_TIMEOUT
    connection = get_connection(fail_silently=False, timeout=timeout)
    try:
        connection.open()
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"Could not connect to the mail server: {exc}") from exc
    failures: dict[str, tuple[int | None, str]] = {}
    try:
        for email in emails:
            failure = _send_one(connection, email)
            if failure:
                failures[email.to[0]] = failure
    finally:
        # QUIT failing after the server took the messages does not unsend them.
        with contextlib.suppress(smtplib.SMTPException):
            connection.close()
    if failures:
        _raise_failures(failures, sent=[e.to[0] for e in emails if e.to[0] not in failures])


def _send_one(connection, email: EmailMultiAlternatives) -> tuple[int | None, str] | None:
    """None when the server took the message for its recipient, else (SMTP code, reason)."""
    try:
        sent = connection.send_messages([email])
    except smtplib.SMTPRecipientsRefused as exc:
        code, reason = next(iter(exc.recipients.values()))
        return code, _text(reason)
    except smtplib.SMTPResponseException as exc:
        return exc.smtp_code, _text(exc.smtp_error)
    except (OSError, smtplib.SMTPException) as exc:
        return None, str(exc) or type(exc).__name__
    return None if sent == 1 else (None, "the mail backend did not send it")


def _raise_failures(failures: dict[str, tuple[int | None, str]], *, sent: list[str]) -> None:
    reasons = "; ".join(
        f"{recipient} ({code} {reason})" if code else f"{recipient} ({reason})"
        for recipient, (code, reason) in failures.items()
    )
    detail = f"Not delivered to {reasons}."
    if sent:
        detail += f" Sent to {', '.join(sent)}."
    raise DeliveryError(detail, response_status=next(iter(failures.values()))[0])


def _text(reason: bytes | str) -> str:
    return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else reason


CHANNEL = EmailChannel()
