"""`database` data sources: report SQL on a reporting database alias, read-only, time-limited.

The query is one SELECT (or WITH, VALUES, TABLE) with named parameters written `%(name)s`; a
literal percent sign is `%%`. The driver binds the values, which never become query text.
`%(organization_id)s` is reserved: it is always the running organisation's id, whatever the
parameters say, so a query can keep to its tenant's rows; it is not a template parameter.

The config names the database alias (`{"database": "reporting"}`, the default): `reporting` or
a `reporting_<name>` alias that settings declare from the environment, so no credentials sit in
the database.

Whose rows it sees: on the `reporting` alias, only the reporting schema's views, which show the
running organisation's rows (reporting/reporting_schema.py). The database enforces it, not this
code: on PostgreSQL the query runs on its own connection as the organisation's role, which has
SELECT on those views only; on SQLite an authorizer allows reading nothing else (sessions.py).
A `reporting_<name>` alias (another database) must be granted to the organisation
(reporting/connections.py).

How a query is kept from changing anything: statements other than SELECT, WITH, VALUES and
TABLE are refused before they are sent, and so is a query of more than one statement. Then the
database itself refuses writes, even if that check were wrong: the roles have no write
privilege, and every run is a read-only transaction with a statement timeout on PostgreSQL,
`PRAGMA query_only`, the authorizer and an interrupting progress handler on SQLite. The timeout
(REPORT_QUERY_TIMEOUT seconds) applies to each call into the database: the COPY, each FETCH of
a server-side cursor on PostgreSQL, each fetchmany on SQLite.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connections

from accounts.models import Organization
from reporting.connections import connection_check
from reporting.datasources.base import (
    DataSourceError,
    RowStream,
    config_keys_check,
    spool_from_stream,
)
from reporting.datasources.database import postgresql, sqlite
from reporting.datasources.database.guard import Guard
from reporting.datasources.database.sessions import REPORTING_ALIAS, report_session
from reporting.datasources.database.statements import (
    checked_statement,
    describe,
    placeholder_names,
)
from reporting.tables import Column

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
        _alias(config, organization_id)
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
        run = _prepare(query, config, parameters, organization_id)
        rows = _rows(run, batch_size)
        # The generator gives the columns first, then the batches, all inside one session.
        columns = next(rows)
        return RowStream(columns=columns, batches=rows)

    def spool(
        self,
        *,
        query: str,
        config: Mapping[str, Any],
        parameters: Mapping[str, Any],
        organization_id: Any,
        path: Path,
    ) -> tuple[list[Column], int]:
        run = _prepare(query, config, parameters, organization_id)
        if connections[run.alias].vendor != "postgresql":
            rows = _rows(run, SPOOL_BATCH_SIZE)
            return spool_from_stream(RowStream(columns=next(rows), batches=rows), path)
        guard = Guard(timeout=settings.REPORT_QUERY_TIMEOUT)
        with run.session(guard) as session:
            return postgresql.copy(session.connection, run.statement, run.values, path, guard)

    def test(self, *, query: str, config: Mapping[str, Any], organization_id: Any) -> str:
        """Checks the query against the database without reading rows, every parameter NULL."""
        run = _prepare(query, config, {}, organization_id)
        guard = Guard(timeout=settings.REPORT_QUERY_TIMEOUT)
        with run.session(guard) as session, session.connection.cursor() as cursor:
            names = [name for name, *_ in describe(cursor, run.statement, run.values, guard)]
        shown = ", ".join(names[:10]) + (", …" if len(names) > 10 else "")
        return f"OK: {len(names)} column{'' if len(names) == 1 else 's'} ({shown})"


@dataclass(frozen=True)
class _Run:
    alias: str
    organization_id: Any
    statement: str
    values: dict[str, Any]

    def session(self, guard: Guard):
        return report_session(alias=self.alias, organization_id=self.organization_id, guard=guard)


def _alias(config: Mapping[str, Any], organization_id: Any) -> str:
    config_keys_check(config, allowed={"database": "the reporting database alias"}, kind="database")
    alias = config.get("database", REPORTING_ALIAS)
    choices = reporting_aliases()
    if alias not in choices:
        raise DataSourceError(
            f"Unknown reporting database {alias!r}: choose one of {', '.join(choices)} (further "
            "ones are declared with REPORTING_DATABASE_<NAME>_URL in the environment)."
        )
    if alias != REPORTING_ALIAS:
        connection_check(organization_id=organization_id, kind="database", name=alias)
    return alias


def _prepare(
    query: str, config: Mapping[str, Any], parameters: Mapping[str, Any], organization_id: Any
) -> _Run:
    """The alias, the checked statement and the values it binds (absent ones as NULL)."""
    alias = _alias(config, organization_id)
    statement = checked_statement(query)
    values = {name: parameters.get(name) for name in placeholder_names(statement)}
    if ORGANIZATION_PARAMETER in values:
        values[ORGANIZATION_PARAMETER] = Organization._meta.pk.get_db_prep_value(
            organization_id, connections[alias]
        )
    return _Run(alias, organization_id, statement, values)


def _rows(run: _Run, batch_size: int) -> Iterator[Any]:
    guard = Guard(timeout=settings.REPORT_QUERY_TIMEOUT)
    with run.session(guard) as session:
        vendor = postgresql if session.vendor == "postgresql" else sqlite
        yield from vendor.rows(session.connection, run.statement, run.values, batch_size, guard)
