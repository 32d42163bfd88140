"""Red team: an organisation's admin (not a superuser) writes report SQL to reach another
organisation's rows, the service's own tables, server files or other sessions.

Threat model: the attacker controls the whole query text and the parameters, and may use every
door: create a data source (API), test it, preview it, run a report and download its CSV, or
the admin's preview. What must hold: every probe is refused with a message that says why, or
answers the attacker's own organisation's rows only. The database holds the line (PostgreSQL:
the organisation's own role with SELECT on the reporting views only; SQLite: the authorizer),
and these tests also run the attacks with the single-statement check switched off, to show it
is not the check that stops them.
"""

import csv
import io
import re
import uuid
from dataclasses import dataclass
from datetime import date

import pytest
from django.db import connection, connections

from accounts import database_roles
from accounts.models import Organization, Role
from accounts.services import organization_create
from accounts.tests.factories import MembershipFactory
from analytics.models import AnalyticsSnapshot
from delivery.models import Delivery, DeliveryTarget
from events.models import UsageEvent
from events.services import events_ingest, facts_ingest
from reporting.datasources import database as database_source
from reporting.datasources import get_adapter
from reporting.datasources.base import DataSourceError
from reporting.models import DataSource, ExecutionStatus, ReportExecution, report_storage
from reporting.reporting_schema import VIEWS
from reporting.services.executions import execution_request, execution_run
from reporting.tests.factories import ReportTemplateFactory

pytestmark = [
    pytest.mark.django_db(databases=["default", "reporting"], transaction=True),
    pytest.mark.usefixtures("report_output_dir"),
]
SOURCES = "/api/v1/business-intelligence/data-sources"
on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only")
on_sqlite = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite only")


@dataclass
class Tenant:
    organization: Organization
    admin: object
    marker: str

    @property
    def client(self):
        from rest_framework.test import APIClient

        client = APIClient()
        client.force_authenticate(self.admin)
        return client


def _seed(organization: Organization, marker: str) -> None:
    """Rows in every table a reporting view reads, each carrying the organisation's marker."""
    events_ingest(organization=organization, default_user_id=None, events=[
        {"event_type": f"{marker}-login", "event_category": "authentication",
         "user_id": f"{marker}-user-{n}", "event_id": f"{marker}-event-{n}",
         "timestamp": f"2025-03-0{n + 1}T10:00:00Z"} for n in range(3)
    ])  # fmt: skip
    facts = {
        "equipment-usage": {"equipment_id": f"{marker}-laser", "equipment_name": "Laser",
                            "user_id": f"{marker}-user-0", "start_time": "2025-03-01T10:00:00Z",
                            "duration_minutes": 30, "session_id": f"{marker}-session"},
        "inventory-records": {"item_id": f"{marker}-pla", "item_name": "PLA",
                              "category": "filament", "date": "2025-03-01",
                              "quantity_consumed": 1.5, "cost_consumed": "3.00"},
        "project-records": {"project_id": f"{marker}-project", "name": f"{marker} project",
                            "status": "active", "start_date": "2025-03-01", "bom_cost": "9.90"},
        "revenue-transactions": {"transaction_id": f"{marker}-payment",
                                 "timestamp": "2025-03-01T10:00:00Z",
                                 "revenue_source": "membership", "amount": "49.00",
                                 "payment_method": "card", "customer_id": f"{marker}-customer"},
    }  # fmt: skip
    for table, record in facts.items():
        facts_ingest(table=table, organization=organization, records=[record])
    template = ReportTemplateFactory(organization=organization, name=f"{marker} template",
                                     slug=f"{marker}-template")  # fmt: skip
    execution = ReportExecution.objects.create(
        organization=organization, template=template, parameters={"marker": marker},
        status=ExecutionStatus.FAILED, error=f"{marker} failed",
    )  # fmt: skip
    execution.outputs.create(format="csv", filename=f"{marker}.csv", size=1, sha256=marker,
                             expires_at=execution.queued_at)  # fmt: skip
    target = DeliveryTarget.objects.create(
        organization=organization, name=f"{marker} hook", kind="webhook",
        config={"url": f"https://{marker}.example/hook", "secret": f"{marker}-secret"},
    )  # fmt: skip
    Delivery.objects.create(execution=execution, target=target, last_error=f"{marker} down")
    AnalyticsSnapshot.objects.create(
        organization=organization, date=date(2025, 3, 1), metric=f"{marker}-metric", value={},
        computed_at=execution.queued_at,
    )  # fmt: skip


@pytest.fixture
def tenants() -> tuple[Tenant, Tenant]:
    pair = []
    for slug, marker in (("acme", "acme"), ("northwind", "northwind")):
        organization = organization_create(name=slug.title(), slug=slug)  # makes its role
        admin = MembershipFactory(
            organization=organization, role=Role.ADMIN, user__username=f"{marker}-admin"
        ).user
        assert not admin.is_superuser
        _seed(organization, marker)
        pair.append(Tenant(organization, admin, marker))
    return pair[0], pair[1]


@dataclass
class Outcome:
    refusals: list[str]  # what each door said when it refused
    answers: list[str]  # the text of what each door answered with rows (preview, CSV)


def _through_every_door(tenant: Tenant, query: str) -> Outcome:
    client = tenant.client
    outcome = Outcome([], [])
    created = client.post(
        SOURCES,
        {"name": f"probe {uuid.uuid4().hex[:8]}", "source_type": "database", "query": query},
        format="json",
    )
    if created.status_code == 400:
        outcome.refusals.append(str(created.json()))
        return outcome
    assert created.status_code == 201, created.content
    source_id = created.json()["id"]
    tested = client.post(f"{SOURCES}/{source_id}/test").json()
    if not tested["ok"]:
        outcome.refusals.append(tested["message"])
    preview = client.post(f"{SOURCES}/{source_id}/preview", {"parameters": {}}, format="json")
    if preview.status_code == 400:
        outcome.refusals.append(preview.json()["detail"])
    else:
        assert preview.status_code == 200, preview.content
        outcome.answers.append(str(preview.json()["rows"]))
    outcome.refusals.extend(_run(tenant, DataSource.objects.get(pk=source_id), outcome))
    return outcome


def _run(tenant: Tenant, source: DataSource, outcome: Outcome) -> list[str]:
    template = ReportTemplateFactory(
        organization=tenant.organization, sources=[source], parameters_schema={"type": "object"}
    )
    execution = execution_request(template=template, parameters={}, requested_by=tenant.admin,
                                  trigger="api", enqueue=False)  # fmt: skip
    execution_run(execution_id=execution.pk)
    execution.refresh_from_db()
    if execution.status == ExecutionStatus.FAILED:
        assert not execution.outputs.exists()
        return [execution.error]
    assert execution.status == ExecutionStatus.SUCCEEDED
    with report_storage().open(execution.outputs.get().file.name) as file:
        outcome.answers.append(file.read().decode())
    return []


def _assert_refused_everywhere(outcome: Outcome, *expected: str) -> None:
    assert outcome.answers == [], outcome.answers  # no rows came out of any door
    assert outcome.refusals
    for refusal in outcome.refusals:
        assert any(words in refusal for words in expected), refusal


# --- the service's own tables ----------------------------------------------------------------


def _base_tables() -> list[str]:
    with connections["default"].cursor() as cursor:
        tables = connections["default"].introspection.table_names(cursor)
    return sorted(t for t in tables if not t.startswith("sqlite_"))


def test_every_base_table_of_every_app_is_refused_naming_what_to_read_instead(tenants):
    acme, _ = tenants
    tables = _base_tables()
    assert {"auth_user", "django_session", "events_usageevent", "accounts_organization"} <= set(
        tables
    )
    for table in tables:
        for name in (table, f"public.{table}") if connection.vendor == "postgresql" else (table,):
            outcome = _through_every_door(acme, f"SELECT * FROM {name}")
            _assert_refused_everywhere(outcome, f"{table} is not readable by report SQL")


def test_a_base_table_with_a_view_names_the_view(tenants):
    acme, _ = tenants
    outcome = _through_every_door(acme, "SELECT metadata FROM events_usageevent")
    _assert_refused_everywhere(outcome, "use the reporting view usage_events instead")


def test_passwords_and_sessions_are_unreachable(tenants):
    acme, _ = tenants
    for query in (
        "SELECT username, password FROM auth_user",
        "SELECT session_key, session_data FROM django_session",
        "WITH usage_events AS (SELECT password AS p FROM auth_user) SELECT p FROM usage_events",
        "SELECT (SELECT max(password) FROM auth_user) AS p FROM members",
    ):
        outcome = _through_every_door(acme, query)
        _assert_refused_everywhere(outcome, "is not readable by report SQL")


# --- the reporting views: own rows only ------------------------------------------------------


@pytest.mark.parametrize("view", [view.name for view in VIEWS])
def test_each_reporting_view_shows_only_the_callers_rows(tenants, view):
    acme, _ = tenants
    outcome = _through_every_door(acme, f"SELECT * FROM {view}")
    assert outcome.refusals == []
    preview, csv_text = outcome.answers
    rows = list(csv.reader(io.StringIO(csv_text)))[1:]
    assert rows, f"{view} showed acme none of its own rows"
    assert "northwind" not in csv_text
    assert "northwind" not in preview
    assert "acme" in csv_text


def test_a_cte_named_like_a_view_reads_nothing_else(tenants):
    acme, _ = tenants
    outcome = _through_every_door(
        acme,
        "WITH usage_events AS (SELECT * FROM events_usageevent) SELECT * FROM usage_events",
    )
    _assert_refused_everywhere(outcome, "use the reporting view usage_events instead")


def test_members_carry_no_credentials(tenants):
    acme, _ = tenants
    header = _through_every_door(acme, "SELECT * FROM members").answers[1].splitlines()[0]
    assert (
        header
        == "user_id,username,first_name,last_name,email,role,is_active,member_since,last_login"
    )


# --- PostgreSQL: roles, settings, files, other sessions --------------------------------------


def _role_of(tenant: Tenant) -> str:
    return database_roles.tenant_role(tenant.organization.pk).name


@on_postgresql
def test_set_config_of_the_role_cannot_become_another_organisation(tenants):
    acme, northwind = tenants
    other = _role_of(northwind)
    for query in (
        f"WITH r AS (SELECT set_config('role', '{other}', true) AS r) "
        "SELECT e.* FROM r, usage_events e",
        f"SELECT e.*, s.r FROM usage_events e, LATERAL (SELECT set_config('role', '{other}', "
        "true) AS r) s",
        f"SELECT set_config('session_authorization', '{other}', true) AS s",
    ):
        outcome = _through_every_door(acme, query)
        _assert_refused_everywhere(outcome, "permission denied to set", "refused")


@on_postgresql
def test_set_role_to_the_group_and_any_tenant_setting_still_show_only_own_rows(tenants):
    acme, northwind = tenants
    group = database_roles.group_role_name()
    other_id = str(northwind.organization.pk)
    for query in (
        f"WITH r AS (SELECT set_config('role', '{group}', true) AS r) "
        "SELECT e.event_type FROM r, usage_events e",
        f"SELECT e.event_type FROM usage_events e, LATERAL (SELECT set_config("
        f"'reporting.organization_id', '{other_id}', true)) s",
        f"WITH s AS (SELECT set_config('app.tenant', '{other_id}', false)) "
        "SELECT e.event_type FROM s, usage_events e",
    ):
        outcome = _through_every_door(acme, query)
        assert outcome.refusals == [], query
        assert all("northwind" not in answer for answer in outcome.answers)
        assert "acme-login" in outcome.answers[1]


@on_postgresql
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("SELECT pg_read_file('/etc/passwd') AS f", "permission denied for function pg_read_file"),
        ("SELECT * FROM pg_ls_dir('.') AS f", "permission denied for function pg_ls_dir"),
        ("SELECT lo_import('/etc/passwd') AS o", "permission denied for function lo_import"),
        ("SELECT current_setting('data_directory') AS d", "data_directory"),
        ("SELECT current_setting('hba_file') AS d", "hba_file"),
        (
            "SELECT query_to_xml('SELECT * FROM public.auth_user', true, true, '') AS x",
            "auth_user is not readable",
        ),
        (
            "SELECT * FROM pg_read_binary_file('/etc/passwd') AS f",
            "permission denied for function pg_read_binary_file",
        ),
    ],
)
def test_server_files_admin_functions_and_secret_settings_are_refused(tenants, query, expected):
    acme, _ = tenants
    _assert_refused_everywhere(_through_every_door(acme, query), expected)


@on_postgresql
def test_other_sessions_queries_are_hidden(tenants):
    acme, _ = tenants
    with connections["default"].cursor() as cursor:  # a session of the service, mid-query
        cursor.execute("SELECT 'the service''s own secret query' AS q")
    outcome = _through_every_door(
        acme,
        "SELECT usename, query FROM pg_stat_activity "
        "WHERE usename IS DISTINCT FROM session_user AND query <> '<insufficient privilege>' "
        "AND query <> ''",
    )
    assert outcome.refusals == []
    assert [answer.strip() for answer in outcome.answers] == ["[]", "usename,query"]


@on_postgresql
def test_dblink_if_installed_cannot_connect_elsewhere(tenants):
    with connections["default"].cursor() as cursor:  # installed if this server has it
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'dblink'")
        if cursor.fetchone() is None:
            pytest.skip("dblink is not available on this PostgreSQL server")
        cursor.execute("CREATE EXTENSION IF NOT EXISTS dblink")
    acme, _ = tenants
    outcome = _through_every_door(
        acme, "SELECT * FROM public.dblink('dbname=postgres', 'SELECT 1') AS t(x int)"
    )
    _assert_refused_everywhere(outcome, "password is required", "refused")


@on_postgresql
def test_the_organisations_role_can_only_read_the_views(tenants):
    acme, _ = tenants
    role = _role_of(acme)
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolconnlimit, rolconfig "
            "FROM pg_roles WHERE rolname = %s",
            [role],
        )
        superuser, createrole, createdb, bypassrls, limit, config = cursor.fetchone()
        cursor.execute(
            "SELECT DISTINCT table_schema FROM information_schema.role_table_grants "
            "WHERE grantee = %s",
            [database_roles.group_role_name()],
        )
        schemas = cursor.fetchall()
    assert (superuser, createrole, createdb, bypassrls) == (False, False, False, False)
    assert limit == 10
    assert "default_transaction_read_only=on" in config
    assert "search_path=reporting" in config
    assert schemas == [("reporting",)]


def test_set_role_and_reset_role_as_statements_are_refused_at_create(tenants):
    acme, northwind = tenants
    other = database_roles.tenant_role(northwind.organization.pk).name
    for query in (
        f"SET ROLE {other}",
        "RESET ROLE",
        f"SELECT 1 AS one; SET ROLE {other}",
        f"/* hidden */ SET SESSION AUTHORIZATION {other}",
        f"WITH x AS (SELECT 1) SELECT * FROM x; SET ROLE {other}",
    ):
        outcome = _through_every_door(acme, query)
        assert outcome.answers == []
        assert len(outcome.refusals) == 1  # the create itself is a 400
        assert "SET statements are not allowed" in outcome.refusals[0] or (
            "more than one statement" in outcome.refusals[0]
        )


# --- with the single-statement check switched off --------------------------------------------


@pytest.fixture
def check_switched_off(monkeypatch):
    """As if the statement check had a bug that let any text through."""
    monkeypatch.setattr(database_source, "checked_statement", lambda query: query.strip())


@pytest.mark.usefixtures("check_switched_off")
def test_a_smuggled_commit_and_delete_changes_nothing_even_without_the_check(tenants):
    acme, northwind = tenants
    attacks = [
        "/* a */ SELECT 1 AS one; COMMIT; DELETE FROM accounts_organization; /* b */",
        "SELECT 1 AS one; COMMIT; DELETE FROM public.accounts_organization",
        "SELECT 1 AS one; RESET ROLE; DELETE FROM public.events_usageevent",
        "SELECT 1 AS one; COMMIT; SET default_transaction_read_only = off; "
        "UPDATE public.auth_user SET is_superuser = true",
        f"SELECT 1 AS one; SET ROLE {_role_of(northwind)}; SELECT * FROM usage_events",
    ]
    adapter = get_adapter("database")
    organization_id = acme.organization.pk
    for query in attacks:
        with pytest.raises(DataSourceError) as refused:
            adapter.test(query=query, config={}, organization_id=organization_id)
        assert "northwind" not in str(refused.value)
        with pytest.raises(DataSourceError):
            adapter.stream(query=query, config={}, parameters={}, organization_id=organization_id)
    assert Organization.objects.count() == 2
    assert UsageEvent.objects.filter(organization=acme.organization).count() == 3
    assert not acme.admin.__class__.objects.filter(is_superuser=True).exists()


# --- SQLite: the authorizer ------------------------------------------------------------------


@on_sqlite
@pytest.mark.usefixtures("check_switched_off")
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("ATTACH DATABASE ':memory:' AS stolen", "(ATTACH"),
        ("SELECT load_extension('/tmp/evil.so') AS x", "load_extension() is not allowed"),
        ("SELECT name, sql FROM sqlite_master", "sqlite_master is not readable"),
        ("SELECT name, sql FROM sqlite_temp_master", "sqlite_temp_master is not readable"),
        ("PRAGMA table_info(auth_user)", "(PRAGMA"),
        ("SELECT * FROM pragma_table_list", "refused"),
        ("SELECT zeroblob(1000000000) AS b", "zeroblob() is not allowed"),
    ],
)
def test_sqlite_authorizer_refuses_attach_pragmas_extensions_and_the_schema(
    tenants, query, expected
):
    acme, _ = tenants
    with pytest.raises(DataSourceError, match=re.escape(expected)):
        get_adapter("database").stream(
            query=query, config={}, parameters={}, organization_id=acme.organization.pk
        )
    with connections["reporting"].cursor() as cursor:
        cursor.execute("PRAGMA database_list")
        assert [row[1] for row in cursor.fetchall()] == ["main", "temp"]


@on_sqlite
def test_sqlite_run_leaves_no_views_or_authorizer_behind(tenants):
    acme, _ = tenants
    assert _through_every_door(acme, "SELECT count(*) AS n FROM usage_events").refusals == []
    with connections["reporting"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM sqlite_temp_master")
        assert cursor.fetchone() == (0,)
        cursor.execute("SELECT count(*) FROM auth_user")  # the authorizer is gone again
        assert cursor.fetchone()[0] >= 2


# --- time ------------------------------------------------------------------------------------


def test_a_recursive_cte_that_never_ends_stops_at_the_timeout(tenants, settings):
    settings.REPORT_QUERY_TIMEOUT = 1
    acme, _ = tenants
    query = (
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) "
        "SELECT max(x) AS top FROM n"
    )
    _assert_refused_everywhere(_through_every_door(acme, query), "took longer than 1 s")


# --- the admin door --------------------------------------------------------------------------


def test_the_admin_preview_runs_as_the_sources_organisation(tenants, client):
    from accounts.tests.factories import UserFactory

    acme, _ = tenants
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    source = DataSource.objects.create(
        organization=acme.organization, name="probe", source_type="database",
        query="SELECT username, password FROM auth_user",
    )  # fmt: skip
    page = client.post(f"/admin/reporting/datasource/{source.pk}/preview/", {"parameters": "{}"})
    assert "auth_user is not readable by report SQL" in page.content.decode()
    source.query = "SELECT event_type FROM usage_events"
    source.save()
    page = client.post(f"/admin/reporting/datasource/{source.pk}/preview/", {"parameters": "{}"})
    text = page.content.decode()
    assert "acme-login" in text
    assert "northwind-login" not in text


# --- named connections -----------------------------------------------------------------------


def test_a_database_alias_not_granted_is_a_400_naming_it(tenants, settings):
    from reporting.models import ConnectionGrant

    acme, northwind = tenants
    settings.DATABASES = {**settings.DATABASES, "reporting_warehouse": {}}  # declared, not granted
    source = {"name": "facts", "source_type": "database", "query": "SELECT 1 AS one",
              "config": {"database": "reporting_warehouse"}}  # fmt: skip
    refused = acme.client.post(SOURCES, source, format="json")
    assert refused.status_code == 400
    assert "'reporting_warehouse' is not granted" in str(refused.json())

    ConnectionGrant.objects.create(
        organization=northwind.organization, kind="database", name="reporting_warehouse"
    )
    assert acme.client.post(SOURCES, source, format="json").status_code == 400
    assert northwind.client.post(SOURCES, source, format="json").status_code == 201
