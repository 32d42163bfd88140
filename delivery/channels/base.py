import re
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, BinaryIO, Protocol
from zoneinfo import ZoneInfo

from config.errors import ApplicationError


@dataclass(frozen=True)
class DeliveredFile:
    """One report output as a channel sees it: metadata, a way to read it, a signed link."""

    format: str
    filename: str
    content_type: str
    size: int
    sha256: str
    open: Callable[[], BinaryIO]
    download_url: str

    @property
    def extension(self) -> str:
        # The format is not always the extension: CSV of several tables is a .zip.
        return self.filename.rpartition(".")[2] if "." in self.filename else self.format


@dataclass(frozen=True)
class DeliveryMessage:
    """What one delivery attempt carries. `delivery_id` is the same on every retry."""

    delivery_id: str
    execution_id: int
    organization_id: str
    organization_name: str
    template_name: str
    template_slug: str
    parameters: dict
    status: str
    row_count: int
    generated_at: datetime
    time_zone: str
    slot_date: date | None
    files: list[DeliveredFile]

    @property
    def report_date(self) -> date:
        """The slot's date; for a one-off run, the day it was generated in its time zone."""
        if self.slot_date is not None:
            return self.slot_date
        return self.generated_at.astimezone(ZoneInfo(self.time_zone)).date()

    @property
    def period(self) -> str:
        """The period the parameters name: `2025-03` for month and year, `start to end` for
        start_date and end_date, otherwise the report date."""
        month, year = self.parameters.get("month"), self.parameters.get("year")
        if month and year and str(month)[-2:].isdigit():
            return f"{year}-{int(str(month)[-2:]):02d}"
        start, end = self.parameters.get("start_date"), self.parameters.get("end_date")
        if start and end:
            return f"{start} to {end}"
        return self.report_date.isoformat()


class DeliveryError(Exception):
    """A delivery attempt failed; the message is fit for the admin's error column.

    `retry=False` when waiting cannot help (the target's settings are no longer allowed): the
    delivery fails at once, and an admin redelivers it once the target is fixed.
    """

    def __init__(self, message: str, *, response_status: int | None = None, retry: bool = True):
        super().__init__(message)
        self.message = message
        self.response_status = response_status
        self.retry = retry


class ConfigError(ApplicationError):
    """A target's config that cannot work: `config_errors` maps a config field to its reasons.

    The API answers them under the target's own field: {"config": {"path": ["…"]}}.
    """

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("The delivery target's settings are not valid.", errors={"config": errors})
        self.config_errors = errors


@dataclass(frozen=True)
class DeliveryResult:
    response_status: int | None
    detail: str


class Channel(Protocol):
    """One delivery kind (`DeliveryTarget.kind`). It touches no ORM.

    `config_validate` returns the normalised config to store, or raises ConfigError; the
    fields in `secret_fields` are write-only and `config_public` leaves them out. The
    organisation id is the target's owner (local storage keeps to its folder). `deliver`
    sends one message and raises DeliveryError when any part of it did not arrive (one
    refused e-mail recipient fails the whole delivery), so the caller can retry it with the
    same `delivery_id`. `send_test` sends a small message that shows the target works.
    """

    kind: str
    secret_fields: tuple[str, ...]

    def config_validate(
        self, config: dict, *, allowed_email_domains: list[str], organization_id: str
    ) -> dict: ...

    def config_public(self, config: dict) -> dict: ...

    def deliver(self, config: dict, message: DeliveryMessage) -> DeliveryResult: ...

    def send_test(
        self, config: dict, *, organization_id: str, organization_name: str
    ) -> DeliveryResult: ...


def test_message(*, organization_id: str, organization_name: str) -> DeliveryMessage:
    """What `send_test` sends: an empty report with status "test" and a fresh delivery id."""
    return DeliveryMessage(
        delivery_id=f"test-{uuid.uuid4()}",
        execution_id=0,
        organization_id=organization_id,
        organization_name=organization_name,
        template_name="Test message",
        template_slug="test-message",
        parameters={},
        status="test",
        row_count=0,
        generated_at=datetime.now(UTC),
        time_zone="UTC",
        slot_date=None,
        files=[],
    )


def config_public(config: dict, secret_fields: Collection[str]) -> dict:
    return {field: value for field, value in config.items() if field not in secret_fields}


def config_unknown_fields(config: Any, known: Collection[str]) -> dict[str, list[str]]:
    if not isinstance(config, dict):
        return {"config": ["Must be an object."]}
    return {field: ["Unknown setting."] for field in config if field not in known}


# A name pattern ("{template} for {period}") is filled by substitution only: unlike
# str.format it has no attribute access, indexing or format specs, and unlike a Django
# template it has no tags, so a target's admin cannot reach anything but the listed names.
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


def pattern_problems(pattern: Any, names: Collection[str]) -> list[str]:
    if not isinstance(pattern, str) or not pattern.strip():
        return ["Must be a non-empty text."]
    used = [m.group(1) for m in _PLACEHOLDER.finditer(pattern) if m.group(1) is not None]
    if "{" in _PLACEHOLDER.sub("", pattern) or "}" in _PLACEHOLDER.sub("", pattern):
        return ["Has an unmatched { or }; write {{ or }} for a literal brace."]
    unknown = sorted({name for name in used if name not in names})
    if unknown:
        return [
            f"Unknown name {', '.join('{' + n + '}' for n in unknown)}; "
            f"use {', '.join('{' + n + '}' for n in names)}."
        ]
    return []


def pattern_fill(pattern: str, values: Mapping[str, str]) -> str:
    def replace(match: re.Match) -> str:
        if match.group(1) is None:
            return match.group(0)[0]
        return values[match.group(1)]

    return _PLACEHOLDER.sub(replace, pattern)
