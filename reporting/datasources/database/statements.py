"""The text of report SQL: one statement, what it may be, its `%(name)s` parameters."""

import re
from collections.abc import Mapping
from typing import Any

from reporting.datasources.base import DataSourceError
from reporting.datasources.database.guard import Guard

_PLACEHOLDER = re.compile(r"%(?:(?P<percent>%)|\((?P<name>[A-Za-z_][A-Za-z0-9_]*)\)s)?")

# The query split into PostgreSQL's tokens, as far as a `;` is concerned (standard conforming
# strings, which the transaction sets). A `;` counts only outside strings, quoted names, comments
# and dollar quotes. Names and numbers are read whole, so an `e'` or a `$$` inside one opens
# nothing; every non-ASCII character is a name character, as its bytes are to PostgreSQL. Quotes
# split by a newline are one literal, and an E'…' literal keeps its escapes across the split. What
# PostgreSQL versions, or PostgreSQL and this reading, could split differently is refused (see
# `_ambiguity`), never guessed.
_NAME_START = r"A-Za-z_\u0080-\U0010ffff"
_NAME_PART = _NAME_START + r"0-9$"
_E_BODY = r"'(?:[^'\\]|\\.|'')*'"
_QUOTE_CONTINUES = r"(?:[ \t\f]|--[^\n\r]*)*[\n\r](?:[ \t\n\r\f]|--[^\n\r]*[\n\r])*"
_TOKEN = re.compile(
    rf"""
      (?P<comment>/\*.*?\*/)
    | (?P<quoted>
          [eE]{_E_BODY}(?:{_QUOTE_CONTINUES}{_E_BODY})*
        | '(?:[^']|'')*'
        | "(?:[^"]|"")*"
        | --[^\n\r]*
        | \$(?P<tag>(?:[{_NAME_START}][{_NAME_START}0-9]*)?)\$.*?\$(?P=tag)\$
      )
    | %%
    | (?P<parameter>%\([A-Za-z_][A-Za-z0-9_]*\)s)
    | \$[0-9]+
    | (?P<number>[0-9][{_NAME_PART}]*)
    | [{_NAME_START}][{_NAME_PART}]*
    | (?P<vertical_tab>\v)
    | (?P<end>;)
    """,
    re.DOTALL | re.VERBOSE,
)
_NAME_CHARACTER = re.compile(rf"[{_NAME_PART}]")
_BLANK = re.compile(r"(?:\s|;|--[^\n\r]*|/\*.*?\*/)*", re.DOTALL)
_FIRST_WORD = re.compile(r"(?:\s|\(|--[^\n\r]*|/\*.*?\*/)*(\w*)", re.DOTALL)
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
    for token in _TOKEN.finditer(query):
        if problem := _ambiguity(token, query):
            raise DataSourceError(problem)
        if token["end"]:
            if not _BLANK.fullmatch(query, token.end()):
                raise DataSourceError(
                    "The query holds more than one statement: a data source runs one query."
                )
            return query[: token.start()].rstrip()
    return query


def _ambiguity(token: re.Match, query: str) -> str | None:
    """Why PostgreSQL could read this token differently from `_TOKEN`, or None."""
    text = token[0]
    if token["comment"] and "/*" in text[1:-1]:
        # PostgreSQL nests block comments (and `/*/` opens one); SQLite does not.
        return "The query has a comment inside a comment: remove the inner /*."
    if (token["comment"] or token["quoted"]) and placeholder_names(text):
        # The driver pastes a quoted value there, which would end the string or comment.
        return (
            "The query has a %(name)s parameter inside a string, quoted name or comment: "
            "write it outside quotes, for example LIKE %(name)s || '%%'."
        )
    if token["parameter"] and _NAME_CHARACTER.fullmatch(query[token.start() - 1 : token.start()]):
        # e%(name)s would become e'…', an escape string that reads the value differently.
        return f"The query has {text} right after a name or number: put a space before it."
    if token["number"] and ("$" in text or (text[-1] in "eE" and query[token.end() :][:1] == "'")):
        # PostgreSQL 14 reads 1e'…' as 1 and E'…', 1$$ as 1 and a dollar quote; 15 refuses both.
        return f"The query has {text} right before a quote or $: put a space after the number."
    if token["vertical_tab"]:
        return "The query has a vertical tab, which PostgreSQL versions read differently."
    return None


def placeholder_names(query: str) -> set[str]:
    return {match["name"] for match in _PLACEHOLDER.finditer(query) if match["name"]}


def describe(
    cursor: Any, statement: str, values: Mapping[str, Any], guard: Guard
) -> list[tuple[str, Any, int | None]]:
    """(name, type code, scale) of each result column, without reading a row; the scale is the
    driver's (PostgreSQL: a numeric's declared scale, or 65535 when none is), None on SQLite."""
    guard.restart()
    cursor.execute(f"SELECT * FROM (\n{statement}\n) AS q LIMIT 0", values)
    if not cursor.description:
        raise DataSourceError("The query gives no columns.")
    return [(column[0], column[1], column[5]) for column in cursor.description]
