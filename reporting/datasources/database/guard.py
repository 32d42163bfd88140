"""The time limit on report SQL, and its failures put in words (the fences: sessions.py)."""

import re
import time
from dataclasses import dataclass

from django.db import Error

from reporting.datasources.base import DataSourceError
from reporting.reporting_schema import VIEW_NAMES, instead_of

_QUERY_CANCELED, _READ_ONLY_TRANSACTION, _FEATURE_NOT_SUPPORTED = "57014", "25006", "0A000"
_INSUFFICIENT_PRIVILEGE, _UNDEFINED_TABLE = "42501", "42P01"
_SQLITE_READONLY, _SQLITE_AUTH = 8, 23
_DENIED_TABLE = re.compile(r"permission denied for (?:table|view|relation|sequence) (\S+)")
_MISSING_TABLE = re.compile(r'relation "(?:public\.)?([^"]+)" does not exist')


@dataclass
class Guard:
    timeout: int
    timed_out: bool = False
    deadline: float = 0.0

    def restart(self) -> None:
        self.deadline = time.monotonic() + self.timeout

    def interrupt_when_late(self) -> int:
        """SQLite's progress handler: a true answer interrupts the running statement."""
        if time.monotonic() < self.deadline:
            return 0
        self.timed_out = True
        return 1


def failure(error: Exception, guard: Guard, denied: list[str]) -> DataSourceError:
    """`denied`: what SQLite's authorizer refused ("table:auth_user", "function:…", …)."""
    cause = error.__cause__ if isinstance(error, Error) and error.__cause__ else error
    message = str(cause).strip()
    pgcode = getattr(cause, "pgcode", None)
    sqlite_code = (getattr(cause, "sqlite_errorcode", None) or 0) & 0xFF
    if guard.timed_out or pgcode == _QUERY_CANCELED:
        return DataSourceError(
            f"The query took longer than {guard.timeout} s (REPORT_QUERY_TIMEOUT) and was stopped."
        )
    if (
        pgcode == _READ_ONLY_TRANSACTION
        or sqlite_code == _SQLITE_READONLY
        or (pgcode == _FEATURE_NOT_SUPPORTED and "data-modifying" in message)
    ):
        return DataSourceError(f"The query tried to write: {message}")
    if pgcode == _INSUFFICIENT_PRIVILEGE or sqlite_code == _SQLITE_AUTH or denied:
        return DataSourceError(_refusal(message, denied))
    missing = _MISSING_TABLE.search(message) if pgcode == _UNDEFINED_TABLE else None
    if missing:
        return DataSourceError(f"The query failed: {instead_of(missing[1])}")
    return DataSourceError(f"The query failed: {message}")


def _refusal(message: str, denied: list[str]) -> str:
    refused = "The query was refused"
    found = _DENIED_TABLE.search(message)
    table = found[1].strip('"') if found else None
    if table:
        if table in VIEW_NAMES:  # a view it may read but did more with (FOR UPDATE, say)
            return f"{refused}: {message}. Report SQL only reads the reporting schema."
        return f"{refused}: {instead_of(table)}"
    if not denied:
        return f"{refused}: {message}. Report SQL only reads the reporting schema."
    kind, _, name = denied[0].partition(":")  # what SQLite's authorizer refused first
    if kind == "table":
        return f"{refused}: {instead_of(name)}"
    if kind == "function":
        return f"{refused}: the function {name}() is not allowed in report SQL."
    return f"{refused} ({name}): report SQL only reads the reporting schema."
