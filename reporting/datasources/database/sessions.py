"""The connection report SQL runs on, and the fences around it.

`reporting` alias, PostgreSQL: a connection of its own whose session user is the running
organisation's role (accounts/database_roles.py), which can read the reporting views and
nothing else; the views show that organisation's rows. Then, as on every alias: a read-only
transaction with `SET LOCAL statement_timeout`, time zone UTC and ISO dates, always rolled back
and the connection closed. A `reporting_<name>` alias (a warehouse granted to the
organisation) gets the same fences on a connection with its configured user.

`reporting` alias, SQLite: the service's connection to the alias, with the reporting views
made as TEMP views for the run and SQLite's authorizer allowing nothing else
(sqlite_authorizer.py), `PRAGMA query_only`, and a progress handler that interrupts a statement
running past the timeout. No transaction is opened on SQLite: its IMMEDIATE transactions would
lock out writers, and one statement already reads one snapshot.

Failures leave as DataSourceErrors in words a report author can act on.
"""

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg2
from django.db import Error, connections

from accounts import database_roles
from reporting.datasources.base import DataSourceError
from reporting.datasources.database.guard import Guard, failure
from reporting.datasources.database.sqlite_authorizer import Authorizer
from reporting.reporting_schema import VIEW_NAMES, sqlite_views

REPORTING_ALIAS = database_roles.ALIAS


@dataclass
class Session:
    """`connection` takes `%(name)s` parameters: psycopg2's own connection on PostgreSQL,
    Django's connection wrapper on SQLite."""

    connection: Any
    vendor: str
    denied: list[str] = field(default_factory=list)


@contextmanager
def report_session(*, alias: str, organization_id: Any, guard: Guard) -> Iterator[Session]:
    vendor = connections[alias].vendor
    opened = {"postgresql": _postgresql, "sqlite": _sqlite}.get(vendor)
    if opened is None:
        raise DataSourceError(
            f"The reporting database {alias!r} is {connections[alias].display_name}: "
            "report SQL runs on PostgreSQL or SQLite."
        )
    session = Session(connection=None, vendor=vendor)
    try:
        with opened(alias, organization_id, guard, session):
            yield session
    except (Error, psycopg2.Error, connections[alias].Database.Error) as error:
        raise failure(error, guard, session.denied) from error


def _tenant_required(organization_id: Any) -> None:
    if organization_id is None:
        raise DataSourceError("Report SQL on the reporting schema runs for an organisation.")


@contextmanager
def _postgresql(alias: str, organization_id: Any, guard: Guard, session: Session):
    parameters = database_roles.connection_parameters(alias)
    if alias == REPORTING_ALIAS:
        _tenant_required(organization_id)
        try:
            role = database_roles.organization_role_ensure(organization_id=organization_id)
        except database_roles.DatabaseRoleError as error:
            raise DataSourceError(str(error)) from error
        parameters.update(
            user=role.name, password=role.password, options="-c search_path=reporting"
        )
    connection = psycopg2.connect(**parameters, application_name="reporting-hub report")
    session.connection = connection
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
        connection.close()  # never committed: closing rolls the transaction back


@contextmanager
def _sqlite(alias: str, organization_id: Any, guard: Guard, session: Session):
    connection = connections[alias]
    session.connection = connection
    tenant = alias == REPORTING_ALIAS
    if tenant:
        _tenant_required(organization_id)
    hidden_prefix = f"rh_{secrets.token_hex(16)}_"
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA query_only")
        (was_query_only,) = cursor.fetchone()
        cursor.execute("PRAGMA query_only = OFF")
        if tenant:
            for statement in sqlite_views(hidden_prefix):
                cursor.execute(statement)
        cursor.execute("PRAGMA query_only = ON")
    raw = connection.connection
    if tenant:
        raw.create_function(
            "reporting_organization_id", 0, lambda: _sqlite_id(organization_id), deterministic=True
        )
        authorizer = Authorizer(hidden_prefix=hidden_prefix, denied=session.denied)
        raw.set_authorizer(authorizer)
    raw.set_progress_handler(guard.interrupt_when_late, 10_000)
    try:
        yield
    finally:
        raw.set_progress_handler(None, 0)
        raw.set_authorizer(None)
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA query_only = OFF")
            if tenant:
                for name in VIEW_NAMES:
                    cursor.execute(f'DROP VIEW IF EXISTS temp."{name}"')
                    cursor.execute(f'DROP VIEW IF EXISTS temp."{hidden_prefix}{name}"')
            cursor.execute(f"PRAGMA query_only = {'ON' if was_query_only else 'OFF'}")


def _sqlite_id(organization_id: Any) -> str:
    """The organisation id as Django stores a UUID on SQLite: 32 hex digits."""
    return UUID(str(organization_id)).hex
