"""`database` data sources: report SQL on a reporting database alias, read-only, time-limited.

The query is one SELECT (or WITH, VALUES, TABLE) with named parameters written `%(name)s`; a
literal percent sign is `%%`. The driver binds the values, which never become query text.
`%(organization_id)s` is reserved: it is always the running organisation's id, whatever the
parameters say, so a query can keep to its tenant's rows; it is not a template parameter.

The config names the database alias (`{"database": "reporting"}`, the default): `reporting` or
a `reporting_<name>` alias that settings declare from the environment, so no credentials sit in
the database.

How a query is kept from changing anything: statements other than SELECT, WITH, VALUES and
TABLE are refused before they are sent, and so is a query of more than one statement
(psycopg2's simple query protocol would run `SELECT 1; COMMIT; DELETE …` as three statements,
the second ending the read-only transaction). Then the database itself refuses writes (see
`guard`): a read-only transaction with a statement timeout on PostgreSQL, `PRAGMA query_only`
and an interrupting progress handler on SQLite. The timeout (REPORT_QUERY_TIMEOUT seconds)
applies to each call into the database: the COPY, each FETCH of a server-side cursor on
PostgreSQL, each fetchmany on SQLite.

Column types: from the result's type OIDs on PostgreSQL (types with no column type, such as
arrays, intervals or uuid, come as PostgreSQL's text for them). SQLite results carry no types, so
they are inferred from the first batch's values: only ints is integer, ints and floats is number,
bools (columns declared bool) boolean, then date, datetime; anything else, or a mix, is string.
A later value that does not fit its column's inferred type fails with a message saying to CAST
the column in the query.

Spool: on PostgreSQL, `COPY (…) TO STDOUT WITH CSV` straight into the spool file, booleans cast
to true/false; elsewhere the rows of `stream`. Both read back to the same typed rows.
"""

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from accounts.models import Organization
from reporting.datasources.base import (
    DataSourceError,
    RowStream,
    config_keys_check,
    spool_from_stream,
)
from reporting.datasources.database import postgresql, sqlite
from reporting.datasources.database.guard import Guard, guarded
from reporting.datasources.database.statements import (
    checked_statement,
    describe,
    placeholder_names,
)
from reporting.tables import Column

REPORTING_ALIAS = "reporting"
ORGANIZATION_PARAMETER = "organization_id"
SPOOL_BATCH_SIZE = 2000


def reporting_aliases() -> list[str]:
    """The database aliases report SQL may name: `reporting` and `reporting_<name>`."""
    return sorted(
        alias
        for alias in settings.DATABASES
        if alias == REPORTING_ALIAS or alias.startswith(f"{REPORTING_ALIAS}_")
    )


class DatabaseAdapter:
    source_type = "database"

    def validate_config(
        self, *, query: str, config: Mapping[str, Any], organization_id: Any
    ) -> None:
        _alias(config)
        checked_statement(query)

    def parameter_names(self, *, query: str, config: Mapping[str, Any]) -> set[str]:
        return placeholder_names(query) - {ORGANIZATION_PARAMETER}

    def stream(
        self,
        *,
        query: str,
        config: Mapping[str, Any],
        parameters: Mapping[str, Any],
        organization_id: Any,
        batch_size: int = 2000,
    ) -> RowStream:
        return _stream(*_prepare(query, config, parameters, organization_id), batch_size)

    def spool(
        self,
        *,
        query: str,
        config: Mapping[str, Any],
        parameters: Mapping[str, Any],
        organization_id: Any,
        path: Path,
    ) -> tuple[list[Column], int]:
        connection, statement, values = _prepare(query, config, parameters, organization_id)
        if connection.vendor != "postgresql":
            return spool_from_stream(_stream(connection, statement, values, SPOOL_BATCH_SIZE), path)
        guard = Guard(timeout=settings.REPORT_QUERY_TIMEOUT)
        with guarded(connection, guard):
            return postgresql.copy(connection, statement, values, path, guard)

    def test(self, *, query: str, config: Mapping[str, Any], organization_id: Any) -> str:
        """Checks the query against the database without reading rows, every parameter NULL."""
        connection, statement, values = _prepare(query, config, {}, None)
        guard = Guard(timeout=settings.REPORT_QUERY_TIMEOUT)
        with guarded(connection, guard), connection.cursor() as cursor:
            names = [name for name, _ in describe(cursor, statement, values, guard)]
        shown = ", ".join(names[:10]) + (", …" if len(names) > 10 else "")
        return f"OK: {len(names)} column{'' if len(names) == 1 else 's'} ({shown})"


def _alias(config: Mapping[str, Any]) -> str:
    config_keys_check(config, allowed={"database": "the reporting database alias"}, kind="database")
    alias = config.get("database", REPORTING_ALIAS)
    choices = reporting_aliases()
    if alias not in choices:
        raise DataSourceError(
            f"Unknown reporting database {alias!r}: choose one of {', '.join(choices)} (further "
            "ones are declared with REPORTING_DATABASE_<NAME>_URL in the environment)."
        )
    return alias


def _prepare(
    query: str, config: Mapping[str, Any], parameters: Mapping[str, Any], organization_id: Any
) -> tuple[BaseDatabaseWrapper, str, dict[str, Any]]:
    """The connection, the checked statement and the values it binds (absent ones as NULL)."""
    connection = connections[_alias(config)]
    statement = checked_statement(query)
    values = {name: parameters.get(name) for name in placeholder_names(statement)}
    if ORGANIZATION_PARAMETER in values:
        values[ORGANIZATION_PARAMETER] = Organization._meta.pk.get_db_prep_value(
            organization_id, connection
        )
    return connection, statement, values


def _stream(
    connection: BaseDatabaseWrapper, statement: str, values: dict[str, Any], batch_size: int
) -> RowStream:
    rows = _rows(connection, statement, values, batch_size)
    # The generator gives the columns first, then the batches, all inside one guarded run.
    columns = next(rows)
    return RowStream(columns=columns, batches=rows)


def _rows(
    connection: BaseDatabaseWrapper, statement: str, values: dict[str, Any], batch_size: int
) -> Iterator[Any]:
    guard = Guard(timeout=settings.REPORT_QUERY_TIMEOUT)
    vendor = postgresql if connection.vendor == "postgresql" else sqlite
    with guarded(connection, guard):
        yield from vendor.rows(connection, statement, values, batch_size, guard)
