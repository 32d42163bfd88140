"""The single-statement rule: report SQL reaches the database as one statement or not at all.

A `;` hidden from the check by a quote or comment that PostgreSQL reads differently lets a query
run `COMMIT; DELETE …` after its read-only transaction, so every case here is one the check once
got wrong, or could get wrong with a one-character change.
"""

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reporting.datasources.base import DataSourceError
from reporting.datasources.database.statements import checked_statement

SECOND_STATEMENT = "; SELECT 'hidden' AS second_statement"


def refused(query: str) -> bool:
    try:
        checked_statement(query)
    except DataSourceError:
        return True
    return False


# --- examples ---------------------------------------------------------------------------------


def test_two_comments_around_a_second_statement_are_refused():
    assert refused("/* a */ SELECT 1; COMMIT; DELETE FROM accounts_organization; /* b */")


def test_several_comments_in_one_statement_are_kept():
    query = "/* a */ SELECT /* ; */ 1 /* b */ AS one /* c */"
    assert checked_statement(query) == query


@pytest.mark.parametrize(
    "query",
    [
        "SELECT 'a;b' AS text",
        "SELECT 'it''s; */ /*' AS text",
        "SELECT E'it\\'s; still one' AS text",
        "SELECT e'\\\\' AS backslash, ';' AS semicolon",
        'SELECT 1 AS "odd;name */"',
        'SELECT 1 AS "say ""hi"";"',
        "SELECT $$a; */ 'b$$ AS text",
        "SELECT $tag$a; $$ */ ' $tag$ AS text",
        "SELECT $€$a;'$€$ AS text",
        "SELECT 1 AS a$$b, ';' AS semicolon",
        "SELECT 1 AS one -- ; DELETE FROM accounts_organization\n, 2 AS two",
        "SELECT E'a'\n'\\'; still the same literal' AS text",
        "SELECT 1 AS one /* a */ /* b */",
    ],
)
def test_semicolon_inside_a_literal_or_comment_is_one_statement(query):
    assert checked_statement(query) == query


@pytest.mark.parametrize(
    "query",
    [
        "SELECT 1; DELETE FROM accounts_organization",
        "SELECT 1 /* a */; /* b */ DELETE FROM accounts_organization",
        "SELECT 1 -- comment\n; DELETE FROM accounts_organization",
        "SELECT 'a;b'; SELECT 2",
        "SELECT $$;$$; SELECT 2",
        "SELECT $a$ $b$ ; $a$; SELECT 2",
    ],
)
def test_second_statement_is_refused(query):
    with pytest.raises(DataSourceError, match="more than one statement"):
        checked_statement(query)


@pytest.mark.parametrize(
    "query",
    [
        # Each of these ran CREATE TABLE on PostgreSQL 15 while the check saw one statement.
        "SELECT 1 -- x\r; DELETE FROM accounts_organization",
        "SELECT 1 AS €$$; DELETE FROM accounts_organization; SELECT 1 AS €$$",
        "SELECT $€$'$€$; DELETE FROM accounts_organization; SELECT '1'",
        "SELECT E'a'\n'\\' ' ; DELETE FROM accounts_organization; SELECT '1'",
        "SELECT 1 /* /* */ ' */; DELETE FROM accounts_organization; SELECT ' '",
        "SELECT 1 /* a /*/ ; DELETE FROM accounts_organization; */ */",
    ],
)
def test_second_statement_hidden_by_a_postgresql_lexical_rule_is_refused(query):
    assert refused(query)


def test_nested_comment_is_refused_not_guessed():
    # PostgreSQL reads one comment and SELECT 1; SQLite ends the comment at the first */.
    with pytest.raises(DataSourceError, match="comment inside a comment"):
        checked_statement("/* a /* b */ ; */ SELECT 1")


def test_line_comment_ended_by_carriage_return_does_not_hide_a_write():
    with pytest.raises(DataSourceError, match="DELETE"):
        checked_statement("-- x\rDELETE FROM accounts_organization WHERE id IN (\nSELECT 1)")


@pytest.mark.parametrize(
    "query",
    [
        "SELECT 1e'\\' ' AS a",  # PostgreSQL 14: 1 then an E'…' literal
        "SELECT 1$$;$$",  # 1 then a dollar quote
        "SELECT 1 AS a\v, 2 AS b",
    ],
)
def test_text_postgresql_versions_split_differently_is_refused(query):
    assert refused(query)


@pytest.mark.parametrize(
    "query",
    [
        "SELECT 1 WHERE name LIKE '%(name)s'",
        'SELECT 1 AS "%(name)s"',
        "SELECT 1 -- %(name)s",
        "SELECT 1 /* %(name)s */",
        "SELECT $$%(name)s$$",
        "SELECT e%(name)s",
    ],
)
def test_parameter_where_its_value_would_be_pasted_into_text_is_refused(query):
    assert refused(query)


def test_parameter_outside_quotes_is_kept():
    query = "SELECT 1 WHERE name LIKE %(name)s || '%%' AND x = $$a$$"
    assert checked_statement(query) == query


@pytest.mark.parametrize("tail", [";", " ; ", ";\n-- done\n", "; /* end */ ;", ";\n\n"])
def test_trailing_semicolon_with_comments_after_it_is_dropped(tail):
    assert checked_statement("SELECT 1 AS one" + tail) == "SELECT 1 AS one"


# --- properties -------------------------------------------------------------------------------

text = st.text(
    alphabet=st.sampled_from(list(";'\"\\$*/-\n\r€eE a_1")) | st.characters(codec="utf-8"),
    max_size=10,
).map(lambda value: value.replace("\x00", "").replace("%", ""))
line = text.map(lambda value: value.replace("\n", " ").replace("\r", " "))


def dollar_quoted(tag: str, content: str) -> str | None:
    delimiter = f"${tag}$"
    return f"{delimiter}{content}{delimiter}" if delimiter not in content + delimiter[:-1] else None


literal = st.one_of(
    text.map(lambda value: "'" + value.replace("'", "''") + "'"),
    text.map(lambda value: "E'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"),
    st.tuples(text, text).map(
        lambda parts: (
            "E'" + "'\n'".join(p.replace("\\", "\\\\").replace("'", "\\'") for p in parts) + "'"
        )
    ),
    st.builds(dollar_quoted, st.sampled_from(["", "t", "tag", "€", "_x1"]), text).filter(bool),
)
alias = st.one_of(
    text.filter(bool).map(lambda value: '"' + value.replace('"', '""') + '"'),
    st.sampled_from(["e", "a$$b", "€e", "x1e", "€$$"]),
)
comment = st.one_of(
    st.just(" "),
    line.map(lambda value: f" --{value}\n"),
    text.filter(
        lambda value: "/*" not in value and "*/" not in value and not value.endswith("/")
    ).map(lambda value: f" /*{value}*/ "),
)
column = st.tuples(literal, comment, alias).map(lambda part: f"{part[0]}{part[1]}AS {part[2]}")
fragments = st.lists(column, min_size=1, max_size=4).map(
    lambda columns: ["SELECT ", *[piece for c in columns for piece in (c, ",\n")][:-1]]
)
fast = settings(max_examples=150, deadline=None, derandomize=True, database=None)


@fast
@given(fragments, st.sampled_from(["", ";", " ;\n", "; -- end\n", "; /* end */ "]))
def test_any_single_statement_is_returned_unchanged(pieces, tail):
    statement = "".join(pieces)
    assert checked_statement(statement + tail) == statement.rstrip()


@fast
@given(fragments, st.data())
def test_second_statement_after_any_fragment_is_refused(pieces, data):
    cut = data.draw(st.integers(min_value=1, max_value=len(pieces)))
    assert refused("".join(pieces[:cut]) + SECOND_STATEMENT + "".join(pieces[cut:]))


@pytest.mark.django_db
@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(fragments)
def test_postgresql_splits_generated_queries_where_the_check_does(pieces):
    """PostgreSQL's own parser as the oracle: it returns every column of an accepted statement,
    and runs the second statement the check refused."""
    if connection.vendor != "postgresql":
        pytest.skip("the oracle is PostgreSQL's parser")
    statement = checked_statement("".join(pieces))
    columns = len(pieces) // 2
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
        assert len(cursor.description) == columns
        cursor.execute(statement + SECOND_STATEMENT)
        assert [column.name for column in cursor.description] == ["second_statement"]
        transaction.set_rollback(True)
