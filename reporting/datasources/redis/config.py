"""A redis source's config, checked and read (see the package docstring), and its key
pattern filled with parameters."""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from string import Formatter
from typing import Any

from django.conf import settings

from reporting.datasources.base import DataSourceError, config_keys_check
from reporting.tables import spool_text

SHAPES = ("string", "hash", "zset", "list", "stream")
CONFIG_KEYS = {
    "connection": 'a granted name in settings.REPORTING_REDIS, "default" by default',
    "pattern": "the key pattern, {name} for a parameter's value",
    "shape": ", ".join(SHAPES),
    "fields": "hash or stream fields to read as columns",
    "stream_start": 'the first stream entry id, "-" by default',
    "stream_end": 'the last stream entry id, "+" by default',
    "limit": "the most rows to read",
}

_PARAMETER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_GLOB_SPECIAL = re.compile(r"([\\*?\[\]])")
_STREAM_ID = re.compile(r"[-+]\Z|\(?\d+(-\d+)?\Z")


@dataclass(frozen=True)
class KeyPattern:
    pieces: tuple[tuple[str, str | None], ...]  # literal text, then a parameter name or None

    @property
    def names(self) -> set[str]:
        return {name for _, name in self.pieces if name}

    def filled(self, parameters: Mapping[str, Any]) -> str:
        """The glob with each parameter's value escaped, so it matches only itself."""
        return "".join(
            literal
            + (_GLOB_SPECIAL.sub(r"\\\1", _parameter_text(name, parameters)) if name else "")
            for literal, name in self.pieces
        )

    def any_values(self) -> str:
        """The glob with `*` for every parameter: what `test` counts."""
        return "".join(literal + ("*" if name else "") for literal, name in self.pieces)


@dataclass(frozen=True)
class RedisSource:
    connection: str
    url: str
    pattern: KeyPattern
    shape: str
    fields: tuple[str, ...] | None
    stream_start: str
    stream_end: str
    limit: int | None


def _source(query: str, config: Mapping[str, Any]) -> RedisSource:
    if query.strip():
        raise DataSourceError(
            'A redis data source takes no query: its config\'s "pattern" and "shape" say what '
            "to read."
        )
    config_keys_check(config, allowed=CONFIG_KEYS, kind="redis")
    shape = config.get("shape")
    if shape not in SHAPES:
        raise DataSourceError(f'Unknown shape {shape!r}: "shape" is one of {", ".join(SHAPES)}.')
    _keys_for_shape_check(config, shape)
    connection, url = _connection(config.get("connection", "default"))
    return RedisSource(
        connection=connection,
        url=url,
        pattern=_key_pattern(config.get("pattern")),
        shape=shape,
        fields=_fields(config.get("fields")),
        stream_start=_stream_id(config, "stream_start", "-"),
        stream_end=_stream_id(config, "stream_end", "+"),
        limit=_limit(config.get("limit")),
    )


def _keys_for_shape_check(config: Mapping[str, Any], shape: str) -> None:
    only_for = {
        "fields": ("hash", "stream"),
        "stream_start": ("stream",),
        "stream_end": ("stream",),
    }
    for key, shapes in only_for.items():
        if key in config and shape not in shapes:
            raise DataSourceError(f'"{key}" applies to the {" and ".join(shapes)} shape only.')


def _connection(name: Any) -> tuple[str, str]:
    connections = settings.REPORTING_REDIS
    if not isinstance(name, str) or not connections.get(name):
        choices = ", ".join(sorted(key for key, url in connections.items() if url))
        declared = "declared with REPORTING_REDIS_URL and REPORTING_REDIS_<NAME>_URL"
        known = (
            f"choose one of {choices} (further ones are {declared})"
            if choices
            else f"none is configured ({declared})"
        )
        raise DataSourceError(f"Unknown Redis connection {name!r}: {known}.")
    return name, connections[name]


def _key_pattern(text: Any) -> KeyPattern:
    if not isinstance(text, str) or not text:
        raise DataSourceError('"pattern" must be a key pattern such as "sessions:*".')
    try:
        parsed = list(Formatter().parse(text))
    except ValueError as error:
        raise DataSourceError(
            f"The pattern {text!r} has unbalanced braces ({error}): a parameter is written "
            "{name}, a literal brace {{ or }}."
        ) from None
    for _, name, spec, conversion in parsed:
        if name is not None and (not _PARAMETER_NAME.match(name) or spec or conversion):
            raise DataSourceError(
                f"The pattern {text!r} has a placeholder other than {{name}}: parameter names "
                "are letters, digits and _, with nothing after them."
            )
    return KeyPattern(pieces=tuple((literal, name) for literal, name, _, _ in parsed))


def _parameter_text(name: str, parameters: Mapping[str, Any]) -> str:
    value = parameters.get(name)
    if value is None:
        raise DataSourceError(f"The key pattern needs a value for the parameter {name!r}.")
    return value if isinstance(value, str) else spool_text(value)


def _fields(fields: Any) -> tuple[str, ...] | None:
    if fields is None:
        return None
    if (
        not isinstance(fields, list)
        or not fields
        or not all(isinstance(field, str) and field for field in fields)
        or len(set(fields)) != len(fields)
    ):
        raise DataSourceError('"fields" must be a list of distinct field names.')
    return tuple(fields)


def _stream_id(config: Mapping[str, Any], key: str, default: str) -> str:
    value = config.get(key, default)
    if not isinstance(value, str) or not _STREAM_ID.match(value):
        raise DataSourceError(
            f'"{key}" must be a stream entry id such as "1700000000000-0", "-" or "+"; '
            f"{value!r} is not."
        )
    return value


def _limit(limit: Any) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise DataSourceError('"limit" must be a whole number of rows, at least 1.')
    return limit
