"""The guard around report SQL: read-only, time-limited, and failures put in words.

PostgreSQL: a read-only transaction (a savepoint when the caller is in one) with
`SET LOCAL statement_timeout`, time zone UTC and ISO dates, always rolled back at the end.
SQLite: `PRAGMA query_only` (restored afterwards); a progress handler interrupts a statement that
runs past the timeout. No transaction is opened on SQLite: its IMMEDIATE transactions would lock
out writers, and one statement already reads one snapshot.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import Error, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from reporting.datasources.base import DataSourceError

_QUERY_CANCELED, _READ_ONLY_TRANSACTION, _FEATURE_NOT_SUPPORTED = "57014", "25006", "0A000"
_SQLITE_READONLY = 8


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


@contextmanager
def guarded(connection: BaseDatabaseWrapper, guard: Guard) -> Iterator[None]:
    read_only = {"postgresql": _postgresql_read_only, "sqlite": _sqlite_read_only}.get(
        connection.vendor
    )
    if read_only is None:
        raise DataSourceError(
            f"The reporting database {connection.alias!r} is {connection.display_name}: "
            "report SQL runs on PostgreSQL or SQLite."
        )
    try:
        with read_only(connection, guard):
            yield
    except (Error, connection.Database.Error) as error:
        raise _failure(error, guard) from error


@contextmanager
def _postgresql_read_only(connection: BaseDatabaseWrapper, guard: Guard) -> Iterator[None]:
    with transaction.atomic(using=connection.alias):
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SET TRANSACTION READ ONLY; SET LOCAL TIME ZONE 'UTC'; "
                    "SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL standard_conforming_strings = on; "
                    "SELECT set_config('statement_timeout', %s, true)",
                    [f"{guard.timeout}s"],
                )
            yield
        finally:
            # Nothing to keep; when this is a savepoint, rolling it back also ends the read-only
            # mode and the SET LOCALs, which would otherwise last to the caller's commit.
            transaction.set_rollback(True, using=connection.alias)


@contextmanager
def _sqlite_read_only(connection: BaseDatabaseWrapper, guard: Guard) -> Iterator[None]:
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA query_only")
        (was_query_only,) = cursor.fetchone()
        cursor.execute("PRAGMA query_only = ON")
    connection.connection.set_progress_handler(guard.interrupt_when_late, 10_000)
    try:
        yield
    finally:
        connection.connection.set_progress_handler(None, 0)
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA query_only = {'ON' if was_query_only else 'OFF'}")


def _failure(error: Exception, guard: Guard) -> DataSourceError:
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
    return DataSourceError(f"The query failed: {message}")
