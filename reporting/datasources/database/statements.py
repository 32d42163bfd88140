"""The text of report SQL: one statement, what it may be, its `%(name)s` parameters."""

import re
from collections.abc import Mapping
from typing import Any

from reporting.datasources.base import DataSourceError
from reporting.datasources.database.guard import Guard

_PLACEHOLDER = re.compile(r"%(?:(?P<percent>%)|\((?P<name>[A-Za-z_][A-Za-z0-9_]*)\)s)?")

# What may hold a `;` that does not end a statement, by PostgreSQL's lexical rules (standard
# conforming strings, which the transaction sets). Where this reads differently from the
# database, it only ever finds a `;` the database would not (and refuses a good query), never
# misses one: an escape string E'…' ends at its real end, a `$$` inside a name opens nothing,
# and a nested comment ends no later than this thinks.
_QUOTED_OR_END = re.compile(
    r"""
      (?<![\w$])[eE]'(?:[^'\\]|\\.|'')*'
    | '(?:[^']|'')*'
    | "(?:[^"]|"")*"
    | --[^\n]*
    | /\*.*?\*/
    | (?<![\w$])\$(?P<tag>(?:[^\W\d]\w*)?)\$.*?\$(?P=tag)\$
    | (?P<end>;)
    """,
    re.DOTALL | re.VERBOSE,
)
_BLANK = re.compile(r"(?:\s|;|--[^\n]*|/\*.*?\*/)*", re.DOTALL)
_FIRST_WORD = re.compile(r"(?:\s|\(|--[^\n]*|/\*.*?\*/)*(\w*)", re.DOTALL)
_QUERY_WORDS = {"select", "with", "values", "table"}
_WRITE_WORDS = {
    "insert", "update", "delete", "merge", "replace", "upsert", "create", "drop", "alter",
    "truncate", "grant", "revoke", "copy", "comment", "reindex", "vacuum", "cluster", "refresh",
    "lock", "call", "do", "import", "attach", "detach", "pragma", "set", "reset",
}  # fmt: skip


def checked_statement(query: str) -> str:
    """The query as one statement without a trailing `;`, or a DataSourceError saying why not."""
    statement = _one_statement(query.strip())
    word = _FIRST_WORD.match(statement)[1].lower()
    if not word:
        raise DataSourceError("The query is empty: write one SELECT query.")
    if word in _WRITE_WORDS:
        raise DataSourceError(
            f"The query tried to write: {word.upper()} statements are not allowed, a data "
            "source only reads (SELECT, WITH, VALUES or TABLE)."
        )
    if word not in _QUERY_WORDS:
        raise DataSourceError(
            f"The query starts with {word.upper()}: a data source runs one SELECT, WITH, VALUES "
            "or TABLE query."
        )
    for match in _PLACEHOLDER.finditer(statement):
        if not (match["percent"] or match["name"]):
            raise DataSourceError(
                f"The query has a % that is not a parameter (character {match.start() + 1}): "
                "write parameters as %(name)s and a literal percent sign as %%."
            )
    return statement


def _one_statement(query: str) -> str:
    for match in _QUOTED_OR_END.finditer(query):
        if match["end"]:
            if not _BLANK.fullmatch(query, match.end()):
                raise DataSourceError(
                    "The query holds more than one statement: a data source runs one query."
                )
            return query[: match.start()].rstrip()
    return query


def placeholder_names(query: str) -> set[str]:
    return {match["name"] for match in _PLACEHOLDER.finditer(query) if match["name"]}


def describe(
    cursor: Any, statement: str, values: Mapping[str, Any], guard: Guard
) -> list[tuple[str, Any]]:
    """(name, type code) of each result column, without reading a row."""
    guard.restart()
    cursor.execute(f"SELECT * FROM (\n{statement}\n) AS q LIMIT 0", values)
    if not cursor.description:
        raise DataSourceError("The query gives no columns.")
    return [(column[0], column[1]) for column in cursor.description]
