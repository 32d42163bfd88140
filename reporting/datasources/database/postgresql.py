"""PostgreSQL: column types from type OIDs, a server-side cursor, and COPY for the spool."""

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from psycopg2 import sql

from reporting.datasources.database.guard import Guard
from reporting.datasources.database.statements import describe
from reporting.tables import Column, spool_text_scales

# PostgreSQL type OIDs (pg_type) that have a column type; other types travel as their text.
_TYPES = {
    16: "boolean",
    20: "integer",  # int8
    21: "integer",  # int2
    23: "integer",  # int4
    700: "number",  # float4
    701: "number",  # float8
    1700: "number",  # numeric
    1082: "date",
    1114: "datetime",  # timestamp
    1184: "datetime",  # timestamptz
    114: "json",
    3802: "json",  # jsonb
}
_BOOLEAN, _JSONB, _NUMERIC = 16, 3802, 1700
_MAX_SCALE = 16383  # numeric's largest; the driver says 65535 for a numeric without a typmod
_TEXT = {18, 19, 25, 705, 1042, 1043}  # char, name, text, unknown, bpchar, varchar


def rows(
    connection: Any,  # psycopg2's
    statement: str,
    values: dict[str, Any],
    batch_size: int,
    guard: Guard,
) -> Iterator[Any]:
    """The columns, then batches of rows from a named (server-side) cursor: the server keeps the
    result and sends one batch per FETCH."""
    with connection.cursor() as cursor:
        described = describe(cursor, statement, values, guard)
    select = _select(statement, described, for_copy=False)
    with connection.cursor(name=f"report_{uuid.uuid4().hex}") as cursor:
        cursor.itersize = batch_size
        cursor.execute(select, values)
        yield _columns(described)
        while batch := cursor.fetchmany(batch_size):
            yield batch


def copy(
    connection: Any,  # psycopg2's
    statement: str,
    values: dict[str, Any],
    path: Path,
    guard: Guard,
) -> tuple[list[Column], int]:
    """COPY's own CSV straight into the spool file, the parameters bound by the driver."""
    with connection.cursor() as cursor:
        described = describe(cursor, statement, values, guard)
        select = _select(statement, described, for_copy=True)
        copy_sql = f"COPY ({cursor.mogrify(select, values).decode()}) TO STDOUT WITH CSV"
        with path.open("wb") as spool:
            cursor.copy_expert(copy_sql, spool)
        row_count = cursor.rowcount
    columns = _columns(described)
    # A numeric without a declared scale (sum(), round(x, 2)…) shows the most decimals of its
    # values, which COPY writes as they are: 13.70 stays 13.70.
    undeclared = [
        index
        for index, ((_, oid, _), column) in enumerate(zip(described, columns, strict=True))
        if oid == _NUMERIC and column.scale is None
    ]
    return spool_text_scales(path, columns, undeclared), row_count


def _columns(described: list[tuple[str, int, int | None]]) -> list[Column]:
    return [
        Column(name, _TYPES.get(oid, "string"), _declared_scale(oid, scale))
        for name, oid, scale in described
    ]


def _declared_scale(oid: int, scale: int | None) -> int | None:
    if oid == _NUMERIC and scale is not None and 0 <= scale <= _MAX_SCALE:
        return scale
    return None


def _select(
    statement: str, described: list[tuple[str, int, int | None]], *, for_copy: bool
) -> sql.Composed:
    """The statement wrapped to cast the columns that need it on their way out. Columns are
    renamed by position, so duplicate or unnamed columns stay apart."""
    positions = [sql.Identifier(f"c{index}") for index in range(len(described))]
    expressions = []
    for position, (_, oid, _) in zip(positions, described, strict=True):
        cast = _cast(oid, for_copy=for_copy)
        expressions.append(sql.SQL(f"{{}}::{cast}").format(position) if cast else position)
    return sql.SQL("SELECT {expressions} FROM (\n{statement}\n) AS q ({positions})").format(
        expressions=sql.SQL(", ").join(expressions),
        statement=sql.SQL(statement),
        positions=sql.SQL(", ").join(positions),
    )


def _cast(oid: int, *, for_copy: bool) -> str | None:
    if oid not in _TYPES:
        return None if oid in _TEXT else "text"
    if oid == _BOOLEAN and for_copy:
        return "text"  # true/false, as the portable path writes them, rather than COPY's t/f
    if oid == _JSONB and not for_copy:
        return "json"  # Django's psycopg2 connections leave jsonb undecoded; json is decoded
    return None
