"""The `database` and `dataset` data sources: binding, read-only runs, timeouts, types, spools.

Tests that read rows from tables through the `reporting` alias commit their data
(transaction=True): that alias is its own connection, as in production, and sees only what is
committed.
"""

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from django.db import connection, connections, transaction

from accounts.models import Membership, Organization, Role
from accounts.tests.factories import MembershipFactory
from reporting.datasources import ADAPTERS, get_adapter
from reporting.datasources import dataset as dataset_module
from reporting.datasources.base import DataSourceError, RowStream, batched, spool_from_stream
from reporting.tables import Column, SpooledTable

BASE_DIR = Path(__file__).resolve().parents[2]
database = get_adapter("database")
dataset = get_adapter("dataset")
REPORTING = {"database": "reporting"}
on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL only (set DATABASE_URL)"
)
on_sqlite = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite only")
reads_reporting = pytest.mark.django_db(databases=["default", "reporting"])
reads_committed = pytest.mark.django_db(databases=["default", "reporting"], transaction=True)
# Report SQL on the reporting alias runs for an organisation; queries that read no view run for
# this one, which has no rows anywhere.
NOBODY = uuid.UUID(int=1)


def run(query, parameters=None, *, organization_id=NOBODY, batch_size=2000, config=REPORTING):
    row_stream = database.stream(
        query=query,
        config=config,
        parameters=parameters or {},
        organization_id=organization_id,
        batch_size=batch_size,
    )
    return row_stream.columns, [list(row) for batch in row_stream.batches for row in batch]


def values_of(query, parameters=None, **kwargs):
    return run(query, parameters, **kwargs)[1]


def spooled(adapter, path, query="", *, config=REPORTING, parameters=None, organization_id=NOBODY):
    columns, row_count = adapter.spool(
        query=query,
        config=config,
        parameters=parameters or {},
        organization_id=organization_id,
        path=path,
    )
    table = SpooledTable(name="t", title="t", columns=columns, path=path, row_count=row_count)
    return table, list(table.rows())


def failure(call, *args, **kwargs) -> str:
    with pytest.raises(DataSourceError) as caught:
        call(*args, **kwargs)
    return str(caught.value)


# --- the registry ----------------------------------------------------------------------------


def test_every_source_type_has_its_adapter():
    from reporting.models import SourceType

    assert sorted(ADAPTERS) == sorted(SourceType.values)
    for source_type in SourceType.values:
        assert get_adapter(source_type).source_type == source_type


# --- parameters ------------------------------------------------------------------------------


def test_parameter_names_are_the_named_placeholders_and_a_double_percent_is_literal():
    query = (
        "SELECT * FROM t WHERE year = %(year)s AND code LIKE 'A%%(month)s' "
        "AND month = %(month_number)s AND again = %(year)s AND org = %(organization_id)s"
    )
    assert database.parameter_names(query=query, config={}) == {"year", "month_number"}


@pytest.mark.parametrize("query", ["SELECT '100%' AS p", "SELECT %s AS p", "SELECT %(x-y)s"])
def test_a_percent_sign_that_is_not_a_parameter_is_refused_with_how_to_write_it(query):
    message = failure(database.validate_config, query=query, config={}, organization_id=None)
    assert "%(name)s" in message
    assert "%%" in message


@reads_reporting
def test_a_literal_percent_sign_reaches_the_database_as_one_percent_sign():
    assert values_of("SELECT '100%%' AS p") == [["100%"]]


@reads_reporting
def test_a_value_holding_sql_is_bound_as_data():
    value = "x'); DROP TABLE accounts_organization; --"
    assert values_of("SELECT %(value)s AS value", {"value": value}) == [[value]]


@reads_committed
def test_a_value_holding_sql_is_compared_as_data_and_runs_nothing(organization):
    name = "Robert'); DROP TABLE accounts_organization; --"
    MembershipFactory(organization=organization, user__username=name)
    MembershipFactory(organization=organization, user__username="alice")
    query = "SELECT username FROM members WHERE username = %(name)s"

    assert values_of(query, {"name": name}, organization_id=organization.pk) == [[name]]
    assert values_of(query, {"name": "x' OR '1'='1"}, organization_id=organization.pk) == []
    assert Organization.objects.count() == 1


@reads_reporting
def test_a_parameter_the_execution_does_not_give_is_null():
    assert values_of("SELECT COALESCE(%(role)s, 'every role') AS role") == [["every role"]]


@reads_committed
def test_organization_id_is_the_running_organisation_whatever_the_parameters_say(
    organization, other_organization
):
    query = "SELECT CAST(%(organization_id)s AS TEXT) AS id"
    rows = values_of(
        query, {"organization_id": other_organization.pk}, organization_id=organization.pk
    )
    assert uuid.UUID(rows[0][0]) == organization.pk
    assert database.parameter_names(query=query, config={}) == set()


# --- what a query may be ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "INSERT INTO accounts_organization (id, name, slug) VALUES ('x', 'x', 'x')",
        "UPDATE accounts_organization SET name = 'changed'",
        "DELETE FROM accounts_organization",
        "CREATE TABLE stolen AS SELECT * FROM accounts_organization",
        "  -- a comment first\n/* and another */ DROP TABLE accounts_organization",
    ],
)
@reads_committed
def test_a_writing_statement_fails_and_changes_nothing(organization, tmp_path, query):
    for attempt in (
        lambda: run(query),
        lambda: database.spool(
            query=query,
            config=REPORTING,
            parameters={},
            organization_id=organization.pk,
            path=tmp_path / "s",
        ),
        lambda: database.test(query=query, config=REPORTING, organization_id=organization.pk),
        lambda: database.validate_config(
            query=query, config=REPORTING, organization_id=organization.pk
        ),
    ):
        assert failure(attempt).startswith("The query tried to write: ")
    organization.refresh_from_db()
    assert organization.name == "Acme Makerspace"
    assert Organization.objects.count() == 1


@on_sqlite
@reads_committed
def test_sqlite_refuses_a_write_that_starts_like_a_query(organization):
    query = (
        "WITH doomed AS (SELECT 1 AS id) "
        "DELETE FROM accounts_organization WHERE id IN (SELECT id FROM doomed)"
    )
    message = failure(run, query, organization_id=organization.pk)
    assert message.startswith("The query was refused (DELETE accounts_organization)")
    assert Organization.objects.filter(pk=organization.pk).exists()
    # query_only is restored, so the alias can write again outside report SQL.
    with connections["reporting"].cursor() as cursor:
        cursor.execute("PRAGMA query_only")
        assert cursor.fetchone() == (0,)


@on_postgresql
@pytest.mark.parametrize("path", ["stream", "spool"])
@pytest.mark.parametrize(
    "query",
    [
        "SELECT nextval(pg_get_serial_sequence('public.auth_user', 'id'))",
        "SELECT id FROM report_templates FOR UPDATE",
        "WITH gone AS (DELETE FROM public.accounts_organization RETURNING id) "
        "SELECT count(*) FROM gone",
    ],
)
@reads_committed
def test_postgresql_refuses_a_write_from_a_select_in_its_read_only_transaction(
    organization, tmp_path, query, path
):
    if path == "stream":
        message = failure(run, query)
    else:
        message = failure(spooled, database, tmp_path / "s", query)
    # The read-only transaction or the role's missing privileges, whichever PostgreSQL meets
    # first.
    assert message.startswith(("The query tried to write: ", "The query was refused"))
    assert Organization.objects.filter(pk=organization.pk).exists()
    assert values_of("SELECT 1 AS still_works") == [[1]]


@pytest.mark.parametrize(
    "query",
    [
        "SELECT 1; DELETE FROM accounts_organization",
        "SELECT 1; COMMIT; DELETE FROM accounts_organization",
        "SELECT E'\\''; COMMIT; DELETE FROM accounts_organization; SELECT ''",
        "SELECT 1 AS a$$; COMMIT; DELETE FROM accounts_organization; SELECT 1 AS b$$",
        "SELECT 1 /* ; */ ; DELETE FROM accounts_organization",
        "SELECT 1) AS x; COMMIT; DELETE FROM accounts_organization; SELECT * FROM (SELECT 1",
    ],
)
def test_a_query_of_more_than_one_statement_is_refused_before_it_is_sent(query):
    assert "more than one statement" in failure(
        database.validate_config, query=query, config=REPORTING, organization_id=None
    )


@reads_reporting
def test_semicolons_in_strings_and_comments_and_a_trailing_one_are_fine():
    query = "SELECT ';' AS semicolon, 'it''s; fine' AS quoted -- not; the end\n;  -- bye"
    assert values_of(query) == [[";", "it's; fine"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", "The query is empty"),
        ("EXPLAIN SELECT 1", "The query starts with EXPLAIN"),
        ("SHOW search_path", "The query starts with SHOW"),
    ],
)
def test_only_a_query_that_gives_rows_is_accepted(query, expected):
    assert failure(
        database.validate_config, query=query, config=REPORTING, organization_id=None
    ).startswith(expected)


# --- the database alias ----------------------------------------------------------------------


def test_the_reporting_alias_is_the_default_without_a_config():
    database.validate_config(query="SELECT 1", config={}, organization_id=None)
    database.validate_config(
        query="SELECT 1", config={"database": "reporting"}, organization_id=None
    )


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"database": "default"}, "Unknown reporting database 'default': choose one of reporting"),
        ({"database": "warehouse"}, "Unknown reporting database 'warehouse'"),
        ({"database": "reporting", "password": "x"}, "Unknown config key 'password'"),
        (["reporting"], "The config must be an object"),
    ],
)
def test_an_alias_that_is_not_a_reporting_alias_is_refused(config, expected):
    assert expected in failure(
        database.validate_config, query="SELECT 1", config=config, organization_id=None
    )
    assert expected in failure(run, "SELECT 1", config=config)


def test_settings_declare_reporting_aliases_from_the_environment():
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        "print(json.dumps({a: [c['NAME'], c['TEST'].get('MIRROR')] "
        "for a, c in settings.DATABASES.items()}))"
    )
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": "postgres://app@db.example:5432/hub",
        "REPORTING_DATABASE_URL": "postgres://reader@replica.example:5432/hub",
        "REPORTING_DATABASE_WAREHOUSE_URL": "postgres://reader@dwh.example:5432/facts",
        "REPORTING_DATABASE_EMPTY_URL": "",
    }
    answer = subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(answer.stdout) == {
        "default": ["hub", None],
        "reporting": ["hub", "default"],
        "reporting_warehouse": ["facts", None],
    }


# --- the guard: timeouts and the connection afterwards ---------------------------------------


@pytest.mark.parametrize("path", ["stream", "spool"])
@reads_reporting
def test_a_query_past_the_timeout_is_stopped_with_a_readable_error(settings, tmp_path, path):
    settings.REPORT_QUERY_TIMEOUT = 1
    if connection.vendor == "postgresql":
        query = "SELECT pg_sleep(10) AS slept"
    else:  # a hundred million rows of recursion: over 15 s without the timeout
        query = (
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 100000000) "
            "SELECT max(x) AS top FROM n"
        )
    started = time.monotonic()
    if path == "stream":
        message = failure(run, query)
    else:
        message = failure(spooled, database, tmp_path / "s", query)
    assert message == "The query took longer than 1 s (REPORT_QUERY_TIMEOUT) and was stopped."
    assert time.monotonic() - started < 5
    assert values_of("SELECT 2 AS next_query") == [[2]]


@on_postgresql
@reads_reporting
def test_postgresql_guard_inside_a_callers_transaction_leaves_it_as_it_was():
    reporting = connections["reporting"]
    with transaction.atomic(using="reporting"), reporting.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        before = cursor.fetchone()
        assert values_of("SELECT 1 AS one") == [[1]]
        cursor.execute("SHOW transaction_read_only")
        assert cursor.fetchone() == ("off",)
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone() == before
        transaction.set_rollback(True, using="reporting")


@reads_reporting
def test_a_stream_closed_early_frees_the_connection_for_the_next_one():
    query = "SELECT 1 AS n UNION ALL SELECT 2 UNION ALL SELECT 3"
    row_stream = database.stream(
        query=query, config=REPORTING, parameters={}, organization_id=NOBODY, batch_size=1
    )
    assert list(next(row_stream.batches)) == [(1,)]
    row_stream.close()
    assert values_of(query) == [[1], [2], [3]]


# --- columns and types -----------------------------------------------------------------------


@reads_reporting
def test_test_names_the_columns_without_reading_rows():
    query = "SELECT 1 AS id, 'x' AS name WHERE 'x' = %(slug)s"
    assert database.test(query=query, config=REPORTING, organization_id=NOBODY) == (
        "OK: 2 columns (id, name)"
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("SELECT nothing FROM no_such_table", "The query failed: "),
        ("SELECT 1 +", "The query failed: "),
    ],
)
@reads_reporting
def test_a_broken_query_fails_with_the_database_s_reason(query, expected):
    message = failure(database.test, query=query, config=REPORTING, organization_id=NOBODY)
    assert message.startswith(expected)
    assert "no_such_table" in message or "syntax" in message or "incomplete" in message


@on_sqlite
@reads_committed
def test_sqlite_column_types_come_from_the_first_batch(organization, viewer):
    columns, rows = run(
        "SELECT username, member_since, is_active, 7 AS whole, 7.5 AS part, NULL AS empty, "
        "CASE WHEN 1 THEN 1 ELSE 0.5 END AS mixed FROM members",
        organization_id=organization.pk,
    )
    assert [(column.name, column.type) for column in columns] == [
        ("username", "string"),
        ("member_since", "datetime"),
        ("is_active", "boolean"),
        ("whole", "integer"),
        ("part", "number"),
        ("empty", "string"),
        ("mixed", "integer"),
    ]
    joined = Membership.objects.get(user=viewer).created_at.replace(tzinfo=None)
    assert rows[0][:3] == ["viewer-user", joined, True]


@on_sqlite
@reads_reporting
def test_sqlite_value_that_does_not_fit_its_first_batch_type_fails_saying_to_cast():
    query = (
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 5) "
        "SELECT CASE WHEN x < 4 THEN x ELSE x + 0.5 END AS amount FROM n"
    )
    message = failure(run, query, batch_size=2)
    assert message.startswith("Column 'amount' held integer values in its first rows, then 4.5")
    assert "CAST" in message
    assert values_of(f"SELECT CAST(amount AS REAL) AS amount FROM ({query})", batch_size=2)[3] == [
        4.5
    ]


@on_postgresql
@reads_reporting
def test_postgresql_column_types_come_from_the_result_types():
    columns, rows = run(
        "SELECT 1::int2 AS small, 2::int4 AS normal, 3::int8 AS big, 1.5::numeric AS exact, "
        "1.5::float4 AS single, 1.5::float8 AS double, true AS yes, DATE '2025-03-01' AS day, "
        "TIMESTAMP '2025-03-01 10:00' AS local_time, "
        "TIMESTAMPTZ '2025-03-01 10:00+02' AS moment, '{\"a\": 1}'::json AS j, "
        "'[1]'::jsonb AS jb, 'x'::text AS t, 'y'::varchar AS v, 'z'::char(2) AS c, "
        "ARRAY[1, 2] AS list, INTERVAL '1 day' AS span"
    )
    assert [column.type for column in columns] == [
        "integer", "integer", "integer", "number", "number", "number", "boolean", "date",
        "datetime", "datetime", "json", "json", "string", "string", "string", "string", "string",
    ]  # fmt: skip
    assert rows[0][7:] == [
        date(2025, 3, 1),
        datetime(2025, 3, 1, 10, 0),
        datetime(2025, 3, 1, 8, 0, tzinfo=UTC),
        {"a": 1},
        [1],
        "x",
        "y",
        "z ",
        "{1,2}",
        "1 day",
    ]


# --- spools ----------------------------------------------------------------------------------

AWKWARD_TEXT = 'commas, "quotes" and\na newline; ünïcödé'


@reads_reporting
def test_a_spool_reads_back_the_rows_typed(tmp_path):
    table, rows = spooled(
        database,
        tmp_path / "spool.csv",
        "SELECT 1 AS id, %(text)s AS note, 2.5 AS amount, NULL AS missing "
        "UNION ALL SELECT 2, '', -1, NULL",
        parameters={"text": AWKWARD_TEXT},
    )
    assert [(column.name, column.type) for column in table.columns] == [
        ("id", "integer"),
        ("note", "string"),
        ("amount", "number"),
        ("missing", "string"),
    ]
    assert table.row_count == 2
    assert rows == [[1, AWKWARD_TEXT, 2.5, ""], [2, "", -1.0, ""]]


TYPED_VALUES = """
    SELECT * FROM (VALUES
        (1, true, DATE '2025-03-01', TIMESTAMPTZ '2025-03-01 10:00:00.5+02',
         TIMESTAMP '2025-03-01 10:00', 12.50::numeric, 0.1::float8, %(text)s::text,
         '{"k": [1, "two"]}'::jsonb, '"just a string"'::json, ARRAY['a', 'b,c'],
         INTERVAL '1 day 2 hours', 9007199254740993::int8),
        (2, false, DATE '1999-12-31', TIMESTAMPTZ '1999-12-31 23:59:59+00',
         TIMESTAMP '1999-12-31 23:59:59', -0.001, 1e300, '', 'null'::jsonb, '[]'::json,
         ARRAY[]::text[], INTERVAL '0', -1),
        (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
    ) AS v(id, flag, day, moment, local_time, exact, approx, note, doc, raw, tags, span, big)
    ORDER BY id
"""


@on_postgresql
@reads_reporting
def test_postgresql_copy_and_the_portable_path_read_back_the_same_typed_rows(tmp_path):
    parameters = {"text": AWKWARD_TEXT}
    copied, copied_rows = spooled(
        database, tmp_path / "copy.csv", TYPED_VALUES, parameters=parameters
    )
    row_stream = database.stream(
        query=TYPED_VALUES, config=REPORTING, parameters=parameters, organization_id=NOBODY
    )
    columns, row_count = spool_from_stream(row_stream, tmp_path / "portable.csv")
    portable = SpooledTable("t", "t", columns, tmp_path / "portable.csv", row_count)

    assert copied.columns == portable.columns
    assert copied.row_count == portable.row_count == 3
    assert copied_rows == list(portable.rows())
    assert copied_rows[0] == [
        1, True, date(2025, 3, 1), datetime(2025, 3, 1, 8, 0, 0, 500000, tzinfo=UTC),
        datetime(2025, 3, 1, 10, 0, tzinfo=UTC), 12.5, 0.1, AWKWARD_TEXT, {"k": [1, "two"]},
        "just a string", '{a,"b,c"}', "1 day 02:00:00", 9007199254740993,
    ]  # fmt: skip
    assert copied_rows[1][1] is False
    assert copied_rows[2] == [3, None, None, None, None, None, None, "", None, None, "", "", None]
    # Booleans are spooled as true/false, the portable path's text, not COPY's t/f.
    assert (tmp_path / "copy.csv").read_text().splitlines()[0].startswith("1,true,2025-03-01,")


# --- datasets --------------------------------------------------------------------------------

MEMBERS = {"dataset": "organization_members"}


def members(organization, **parameters):
    row_stream = dataset.stream(
        query="", config=MEMBERS, parameters=parameters, organization_id=organization.pk
    )
    return row_stream.columns, [list(row) for batch in row_stream.batches for row in batch]


@pytest.fixture
def members_of_two_organisations(organization, other_organization, viewer, analyst):
    MembershipFactory(organization=other_organization, user__username="outsider")
    MembershipFactory(organization=other_organization, user=viewer, role=Role.ADMIN)


@pytest.mark.django_db
@pytest.mark.usefixtures("members_of_two_organisations")
def test_organization_members_gives_only_that_organisation_s_members(organization):
    columns, rows = members(organization)
    assert [(column.name, column.type) for column in columns] == [
        ("username", "string"),
        ("email", "string"),
        ("role", "string"),
        ("joined_at", "datetime"),
    ]
    joined = {
        m.user.username: m.created_at for m in Membership.objects.filter(organization=organization)
    }
    assert rows == [
        ["analyst-user", "analyst-user@example.com", "analyst", joined["analyst-user"]],
        ["viewer-user", "viewer-user@example.com", "viewer", joined["viewer-user"]],
    ]


@pytest.mark.django_db
@pytest.mark.usefixtures("members_of_two_organisations")
def test_organization_members_filters_by_role_within_the_organisation(other_organization):
    assert [row[:3] for row in members(other_organization, role="admin")[1]] == [
        ["viewer-user", "viewer-user@example.com", "admin"]
    ]
    assert [row[0] for row in members(other_organization)[1]] == ["outsider", "viewer-user"]


@pytest.mark.django_db
@pytest.mark.usefixtures("members_of_two_organisations")
def test_a_dataset_spools_to_typed_rows(organization, tmp_path):
    table, rows = spooled(
        dataset, tmp_path / "members.csv", config=MEMBERS, organization_id=organization.pk
    )
    assert table.row_count == 2
    assert rows[0][0] == "analyst-user"
    assert rows[0][3] == Membership.objects.get(user__username="analyst-user").created_at


def test_dataset_parameters_and_config_are_checked():
    assert dataset.parameter_names(query="", config=MEMBERS) == {"role"}
    dataset.validate_config(query="", config=MEMBERS, organization_id=None)
    assert dataset.test(query="", config=MEMBERS, organization_id=None) == (
        "OK: dataset 'organization_members' (Organisation members); parameters: role"
    )
    assert "takes no query" in failure(
        dataset.validate_config, query="SELECT 1", config=MEMBERS, organization_id=None
    )
    # Other apps register datasets too (the analytics reports'): the list names them all.
    unknown = failure(
        dataset.validate_config, query="", config={"dataset": "nope"}, organization_id=None
    )
    assert unknown.startswith("Unknown dataset 'nope': choose one of ")
    assert "organization_members" in unknown
    assert "Unknown dataset None" in failure(dataset.parameter_names, query="", config={})


def test_register_dataset_adds_a_dataset_by_name_and_refuses_a_second_one(monkeypatch):
    monkeypatch.setattr(dataset_module, "DATASETS", {})

    @dataset_module.register_dataset(
        "squares", title="Squares", parameters={"n": {"type": "integer"}}
    )
    def squares(organization_id, parameters):
        n = parameters["n"] or 3
        return RowStream(
            columns=[Column("square", "integer")], batches=iter([[[i * i] for i in range(n)]])
        )

    assert dataset.parameter_names(query="", config={"dataset": "squares"}) == {"n"}
    row_stream = dataset.stream(
        query="", config={"dataset": "squares"}, parameters={}, organization_id=None
    )
    assert [row for batch in row_stream.batches for row in batch] == [[0], [1], [4]]
    with pytest.raises(ValueError, match="Two datasets are registered as 'squares'"):
        dataset_module.register_dataset("squares", title="Again")(squares)


@pytest.mark.django_db
def test_a_dataset_whose_database_fails_says_which_dataset(monkeypatch, organization):
    def broken(organization_id, parameters):
        rows = Organization.objects.raw("SELECT * FROM no_such_table")
        return RowStream(columns=[Column("id")], batches=batched(rows.iterator(), 10))

    monkeypatch.setitem(
        dataset_module.DATASETS, "broken", dataset_module.Dataset("broken", "Broken", {}, broken)
    )
    row_stream = dataset.stream(
        query="", config={"dataset": "broken"}, parameters={}, organization_id=organization.pk
    )

    def read_in_a_savepoint():
        with transaction.atomic():
            list(row_stream.batches)

    message = failure(read_in_a_savepoint)
    assert message.startswith("The dataset 'broken' could not be read: ")
    assert "no_such_table" in message
