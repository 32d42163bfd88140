"""One PostgreSQL login role per organisation: who report SQL runs as.

Report SQL runs on its own connection whose session user is its organisation's role, a member
of one group role that may only SELECT the views of the `reporting` schema. The views keep the
rows whose organisation is `reporting.organization_id()`, which reads the *session* user: a
query can `SET ROLE` (only to the group, which maps to no organisation) or call `set_config`,
but nothing short of a superuser changes the session user, so no query text can reach another
organisation's rows. The base tables, `auth_*`, server files and admin functions are closed by
the database's own privileges, not by reading the SQL.

Role names are `rh_<first 8 hex digits of md5(database name)>_<organisation id as 32 hex>`
(44 characters, within PostgreSQL's 63): one cluster can hold several databases (a test
database beside production) without two of them sharing a role. Passwords are an HMAC of the
role name under REPORTING_ROLE_KEY (default SECRET_KEY), so every process derives the same one.

The service's database user needs CREATEROLE (checked at start-up, `accounts.checks`). Roles
are created when an organisation is created, again on first use if missing, dropped when it is
deleted, and `manage.py sync_reporting_roles` makes every role and grant match.

Role DDL runs on a separate autocommit connection, so a role exists for the report connection
at once, whatever transaction the caller is in.
"""

import hashlib
import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg2
from django.conf import settings
from django.db import connections
from psycopg2 import sql

SCHEMA = "reporting"
ALIAS = "reporting"  # the database alias whose connection parameters report SQL uses
_LOCK = 7_201_012  # pg_advisory_xact_lock key for role changes


class DatabaseRoleError(Exception):
    """The roles could not be made; the message says what the operator must do."""


@dataclass(frozen=True)
class TenantRole:
    name: str
    password: str


def applies() -> bool:
    """Whether report SQL runs as per-organisation roles (PostgreSQL) on this deployment."""
    return connections[ALIAS].vendor == "postgresql"


def _prefix(database: str) -> str:
    return f"rh_{hashlib.md5(database.encode()).hexdigest()[:8]}_"


def _database() -> str:
    return connections[ALIAS].settings_dict["NAME"]


def group_role_name() -> str:
    return f"{_prefix(_database())}reader"


def tenant_role(organization_id: UUID | str) -> TenantRole:
    name = f"{_prefix(_database())}{UUID(str(organization_id)).hex}"
    key = (settings.REPORTING_ROLE_KEY or settings.SECRET_KEY).encode()
    password = hmac.new(key, name.encode(), hashlib.sha256).hexdigest()
    return TenantRole(name=name, password=password)


def organization_id_function_sql() -> str:
    """`reporting.organization_id()`: the organisation of the session user's role, else NULL."""
    return f"""
        CREATE OR REPLACE FUNCTION {SCHEMA}.organization_id() RETURNS uuid
        LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
            SELECT CASE
                WHEN session_user
                    ~ ('^rh_' || left(md5(current_database()), 8) || '_[0-9a-f]{{32}}$')
                THEN substr(session_user, 13)::uuid
            END
        $fn$
    """


def connection_parameters(alias: str) -> dict[str, Any]:
    """psycopg2.connect() arguments for the database behind `alias`, as the service's user."""
    parameters = connections[alias].get_connection_params()
    parameters.pop("cursor_factory", None)
    return parameters


@contextmanager
def _admin_cursor() -> Iterator[Any]:
    connection = psycopg2.connect(**connection_parameters("default"))
    try:
        with connection, connection.cursor() as cursor:  # one transaction, committed at the end
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK])
            yield cursor
    except psycopg2.errors.InsufficientPrivilege as error:
        raise DatabaseRoleError(
            f"The database user cannot manage report roles ({str(error).strip()}): give it "
            "CREATEROLE (ALTER ROLE <user> CREATEROLE) and run manage.py sync_reporting_roles."
        ) from error
    finally:
        connection.close()


def _role_exists(cursor: Any, name: str) -> bool:
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name])
    return cursor.fetchone() is not None


def _group_ensure(cursor: Any) -> str:
    group = sql.Identifier(group_role_name())
    schema = sql.Identifier(SCHEMA)
    if not _role_exists(cursor, group_role_name()):
        cursor.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(group))
    for statement in (
        "GRANT USAGE ON SCHEMA {schema} TO {group}",
        "GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {group}",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT ON TABLES TO {group}",
    ):
        cursor.execute(sql.SQL(statement).format(schema=schema, group=group))
    return group_role_name()


def _tenant_write(cursor: Any, role: TenantRole, group: str) -> None:
    name = sql.Identifier(role.name)
    verb = "ALTER" if _role_exists(cursor, role.name) else "CREATE"
    cursor.execute(
        sql.SQL(
            verb + " ROLE {} LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
            "NOBYPASSRLS CONNECTION LIMIT {} PASSWORD %s"
        ).format(name, sql.Literal(settings.REPORTING_ROLE_CONNECTION_LIMIT)),
        [role.password],
    )
    cursor.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), name))
    for setting, value in (
        ("default_transaction_read_only", "on"),
        ("statement_timeout", f"{settings.REPORT_QUERY_TIMEOUT}s"),
        ("idle_in_transaction_session_timeout", f"{settings.REPORT_QUERY_TIMEOUT}s"),
        ("search_path", SCHEMA),
    ):
        cursor.execute(
            sql.SQL("ALTER ROLE {} SET {} = {}").format(
                name, sql.Identifier(setting), sql.Literal(value)
            )
        )


def _tenant_ready(cursor: Any, role: TenantRole) -> bool:
    cursor.execute(
        "SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member "
        "JOIN pg_roles g ON g.oid = m.roleid WHERE r.rolname = %s AND g.rolname = %s",
        [role.name, group_role_name()],
    )
    return cursor.fetchone() is not None


def organization_role_ensure(*, organization_id: UUID | str) -> TenantRole | None:
    """The organisation's role, created (with the group and its grants) when missing.
    None where report SQL does not run as roles (SQLite)."""
    if not applies():
        return None
    role = tenant_role(organization_id)
    with connections["default"].cursor() as cursor:
        if _tenant_ready(cursor, role):
            return role
    with _admin_cursor() as cursor:
        _tenant_write(cursor, role, _group_ensure(cursor))
    return role


def organization_role_drop(*, organization_id: UUID | str) -> None:
    if not applies():
        return
    with _admin_cursor() as cursor:
        cursor.execute(
            sql.SQL("DROP ROLE IF EXISTS {}").format(
                sql.Identifier(tenant_role(organization_id).name)
            )
        )


def organization_roles_sync(*, organization_ids: list[UUID]) -> dict[str, int]:
    """Every organisation's role made (or reset: password, options, group), roles of
    organisations that no longer exist dropped, the group's grants renewed."""
    if not applies():
        return {"made": 0, "dropped": 0}
    wanted = {role.name: role for role in map(tenant_role, organization_ids)}
    with _admin_cursor() as cursor:
        group = _group_ensure(cursor)
        for role in wanted.values():
            _tenant_write(cursor, role, group)
        cursor.execute(
            "SELECT rolname FROM pg_roles WHERE rolname ~ %s",
            [f"^{_prefix(_database())}[0-9a-f]{{32}}$"],
        )
        stale = [name for (name,) in cursor.fetchall() if name not in wanted]
        for name in stale:
            cursor.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
    return {"made": len(wanted), "dropped": len(stale)}


def roles_drop_all() -> None:
    """Every role of this database and the group's privileges (for a test database's end)."""
    if not applies():
        return
    with _admin_cursor() as cursor:
        cursor.execute(
            "SELECT rolname FROM pg_roles WHERE rolname ~ %s", [f"^{_prefix(_database())}"]
        )
        names = [name for (name,) in cursor.fetchall()]
        if group_role_name() in names:
            cursor.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(group_role_name())))
        for name in sorted(names, key=lambda name: name == group_role_name()):
            cursor.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def createrole_missing() -> str | None:
    """The service's database user, when it lacks the CREATEROLE the roles need; else None."""
    if not applies():
        return None
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT current_user, rolcreaterole OR rolsuper FROM pg_roles "
            "WHERE rolname = current_user"
        )
        user, allowed = cursor.fetchone()
    return None if allowed else user
