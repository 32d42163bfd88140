"""SQLite: what report SQL may touch, decided by SQLite's authorizer, not by reading the text.

SQLite asks the authorizer about every table column, function and statement kind while it
compiles a statement, naming the view (or CTE) responsible for each read. A CTE may take any
name, a view's included, so "read through the view usage_events" alone would let
`WITH usage_events AS (SELECT * FROM auth_user) …` through. The reporting views therefore come
in two layers, made as TEMP views for each run (reporting_schema.sqlite_views): `usage_events`
reads `<token>usage_events`, which reads the base table filtered on the running organisation,
and base tables may be read only on behalf of a view whose name starts with the run's random
token, which the query cannot know (sqlite_master and sqlite_temp_master are not readable).

Allowed: SELECT, recursive CTEs, reading the reporting views, and the functions below; denied:
everything else (writes, ATTACH, PRAGMA, transactions, load_extension and any function not
listed). Denials are recorded so the error can name what was refused.
"""

import sqlite3
from dataclasses import dataclass, field

from reporting.reporting_schema import VIEW_NAMES

# Core, date, aggregate, window, math and JSON functions; nothing that reaches files, loads
# code, reveals the build or makes large blobs (zeroblob, randomblob).
ALLOWED_FUNCTIONS = frozenset(
    """
    abs avg changes char coalesce concat concat_ws count cume_dist date datetime dense_rank
    first_value format glob group_concat hex iif ifnull instr json json_array json_array_length
    json_each json_extract json_group_array json_group_object json_object json_quote json_type
    json_valid julianday lag last_value lead length like likelihood likely lower ltrim max min
    nth_value ntile nullif octet_length percent_rank printf quote rank replace round row_number
    rtrim sign string_agg strftime substr substring sum time timediff total trim typeof unhex
    unicode unixepoch unlikely upper acos acosh asin asinh atan atan2 atanh ceil ceiling cos
    cosh degrees exp floor ln log log10 log2 mod pi pow power radians sin sinh sqrt tan tanh
    trunc reporting_organization_id
    """.split()  # noqa: SIM905  (a word list reads better than 80 quoted names)
)
_ACTIONS = """
    CREATE_INDEX CREATE_TABLE CREATE_TEMP_INDEX CREATE_TEMP_TABLE CREATE_TEMP_TRIGGER
    CREATE_TEMP_VIEW CREATE_TRIGGER CREATE_VIEW DELETE DROP_INDEX DROP_TABLE DROP_TEMP_INDEX
    DROP_TEMP_TABLE DROP_TEMP_TRIGGER DROP_TEMP_VIEW DROP_TRIGGER DROP_VIEW INSERT PRAGMA READ
    SELECT TRANSACTION UPDATE ATTACH DETACH ALTER_TABLE REINDEX ANALYZE CREATE_VTABLE DROP_VTABLE
    FUNCTION SAVEPOINT RECURSIVE
"""
_ACTION_NAMES = {getattr(sqlite3, f"SQLITE_{name}"): name for name in _ACTIONS.split()}


@dataclass
class Authorizer:
    hidden_prefix: str
    denied: list[str] = field(default_factory=list)

    def __call__(
        self, action: int, arg1: str | None, arg2: str | None, database: str | None, via: str | None
    ) -> int:
        allowed = self._allows(action, arg1, arg2, database, via)
        if not allowed:
            self.denied.append(self._what(action, arg1, arg2))
        return sqlite3.SQLITE_OK if allowed else sqlite3.SQLITE_DENY

    def _allows(self, action, arg1, arg2, database, via) -> bool:
        if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_RECURSIVE):
            return True
        if action == sqlite3.SQLITE_FUNCTION:
            return (arg2 or "").lower() in ALLOWED_FUNCTIONS
        if action != sqlite3.SQLITE_READ:
            return False
        if database == "temp" and (arg1 in VIEW_NAMES or arg1.startswith(self.hidden_prefix)):
            return True
        return database == "main" and via is not None and via.startswith(self.hidden_prefix)

    def _what(self, action: int, arg1: str | None, arg2: str | None) -> str:
        if action == sqlite3.SQLITE_READ:
            return f"table:{arg1}"
        if action == sqlite3.SQLITE_FUNCTION:
            return f"function:{arg2}"
        return f"statement:{_ACTION_NAMES.get(action, action)} {arg1 or ''}".strip()
