"""`redis` data sources: the keys matching a pattern on a Redis server named in settings, as rows.

There is no query; the config says what to read:

    {"connection": "default", "pattern": "sessions:{site}:*", "shape": "hash",
     "fields": ["user", "started_at"], "limit": 100000}

- `connection`: a name in settings.REPORTING_REDIS ("default", the default, is
  REPORTING_REDIS_URL or else REDIS_URL; REPORTING_REDIS_<NAME>_URL adds "<name>"). URLs and
  passwords stay in the environment, never in the database.
- `pattern` (required): a Redis glob (`*`, `?`, `[abc]`, `\\` escapes). `{name}` is replaced by
  the parameter `name`'s value as text with `\\ * ? [ ]` escaped, so a value only ever matches
  itself; a parameter without a value is an error. Literal braces (Redis Cluster hash tags) are
  written `{{` and `}}`: `"user:{{{user_id}}}:*"` reads `user:{42}:*` for user_id 42.
- `shape` (required): the type every matching key holds; a key of another type fails the run.
- `fields` (hash and stream only): the fields read as columns, in this order. Without it, the
  columns are the sorted union of the fields of the first 100 matching keys (of their first 10
  entries in range, for streams); fields first seen later are not read.
- `stream_start`, `stream_end` (stream only): entry ids (`1700000000000-0` or `1700000000000`)
  bounding each stream, `-` and `+` (the defaults) for its ends; a leading `(` excludes the id.
- `limit`: at most this many rows in all.

Rows per shape (values are text, decoded as UTF-8 with invalid bytes replaced):

    string  key, value
    hash    key, then one column per field (NULL where a key lacks the field)
    zset    key, member, score (number); members by ascending score
    list    key, index (integer, from 0), value
    stream  key, id, then one column per field (NULL where an entry lacks it)

A field named like a fixed column (`key`, a stream's `id`) gives a second column of that name.

How it reads: SCAN with MATCH and a COUNT (never KEYS), then one pipelined round trip per batch
of keys fetches their values (GET, HGETALL, or the first 100 elements of each list, zset or
stream); a longer collection goes on in pages of 1,000 elements. Rows come in SCAN order,
unsorted. SCAN is no snapshot: a key written during the read may or may not appear, one deleted
between SCAN and its read gives no row, and a keyspace resized during the read can give a key
twice (deduplicating would hold every key in memory). Exclusive stream ids need Redis 6.2+.

`test` pings, gives the server's version, counts the keys matching the pattern with `*` for each
parameter (stopping at 10,000 keys or 100 SCAN calls) and checks that the first holds the shape.
"""

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from string import Formatter
from typing import Any, Protocol

import redis
from django.conf import settings
from redis import exceptions as redis_errors
from redis.client import Pipeline

from reporting.datasources.base import (
    DataSourceError,
    RowStream,
    batched,
    config_keys_check,
    spool_from_stream,
)
from reporting.tables import Column, spool_text

SHAPES = ("string", "hash", "zset", "list", "stream")
CONFIG_KEYS = {
    "connection": 'a name in settings.REPORTING_REDIS, "default" by default',
    "pattern": "the key pattern, {name} for a parameter's value",
    "shape": ", ".join(SHAPES),
    "fields": "hash or stream fields to read as columns",
    "stream_start": 'the first stream entry id, "-" by default',
    "stream_end": 'the last stream entry id, "+" by default',
    "limit": "the most rows to read",
}
SCAN_COUNT = 1000  # the least COUNT per SCAN: a preview's batch of 50 would take 20x the trips
FIRST_READ = 100  # elements per collection in the pipelined read; bounds a batch's memory
PAGE_READ = 1000  # elements per further read of a longer collection
SAMPLE_KEYS = 100
SAMPLE_ENTRIES = 10
TEST_MAX_KEYS = 10_000
TEST_MAX_SCANS = 100
CONNECT_TIMEOUT = 5  # seconds
READ_TIMEOUT = 60  # seconds per command: a pipeline of one batch is one command's wait

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


class Shape(Protocol):
    def columns(self) -> list[Column]: ...

    def queue(self, pipeline: Pipeline, key: bytes) -> None:
        """Adds exactly one command reading `key` to the pipeline."""

    def rows(self, client: redis.Redis, key: bytes, reply: Any) -> Iterator[list[Any]]: ...


class RedisAdapter:
    source_type = "redis"

    def validate_config(self, *, query: str, config: Mapping[str, Any]) -> None:
        _source(query, config)

    def parameter_names(self, *, query: str, config: Mapping[str, Any]) -> set[str]:
        return _source(query, config).pattern.names

    def stream(
        self,
        *,
        query: str,
        config: Mapping[str, Any],
        parameters: Mapping[str, Any],
        organization_id: Any,
        batch_size: int = 2000,
    ) -> RowStream:
        source = _source(query, config)
        pattern = source.pattern.filled(parameters)
        shape = _shape(source, pattern)
        return RowStream(
            columns=shape.columns(), batches=_batches(source, pattern, shape, batch_size)
        )

    def spool(
        self,
        *,
        query: str,
        config: Mapping[str, Any],
        parameters: Mapping[str, Any],
        organization_id: Any,
        path: Path,
    ) -> tuple[list[Column], int]:
        row_stream = self.stream(
            query=query, config=config, parameters=parameters, organization_id=organization_id
        )
        return spool_from_stream(row_stream, path)

    def test(self, *, query: str, config: Mapping[str, Any]) -> str:
        """Pings, and counts the keys matching the pattern (any value for each parameter)."""
        source = _source(query, config)
        pattern = source.pattern.any_values()
        with _client(source) as client:
            version = client.info("server").get("redis_version", "of unknown version")
            count, first_key, complete = _matching_count(client, pattern)
            total = client.dbsize()
            if first_key is not None:
                _type_check(client, source, pattern, first_key)
        matching = f"{count:,}" if complete else f"at least {count:,}"
        return f"OK: Redis {version}; {matching} of {total:,} keys match {pattern!r}"


# --- config ----------------------------------------------------------------------------------


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
        choices = ", ".join(sorted(key for key, url in connections.items() if url)) or "none"
        raise DataSourceError(
            f"Unknown Redis connection {name!r}: choose one of {choices} (further ones are "
            "declared with REPORTING_REDIS_<NAME>_URL in the environment)."
        )
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


# --- reading ---------------------------------------------------------------------------------


@contextmanager
def _client(source: RedisSource) -> Iterator[redis.Redis]:
    # Bytes in and out: a key that is not UTF-8 must go back to Redis as the same bytes.
    client = redis.Redis.from_url(
        source.url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=READ_TIMEOUT
    )
    try:
        with _errors(source):
            yield client
    finally:
        client.close()


@contextmanager
def _errors(source: RedisSource) -> Iterator[None]:
    prefix = f"Redis connection {source.connection!r}"
    try:
        yield
    except redis_errors.AuthenticationError as error:
        raise DataSourceError(f"{prefix} refused the credentials: {error}") from error
    except (redis_errors.ConnectionError, redis_errors.TimeoutError) as error:
        raise DataSourceError(f"{prefix} could not be reached: {error}") from error
    except redis_errors.RedisError as error:
        raise DataSourceError(f"{prefix} answered with an error: {error}") from error


def _batches(
    source: RedisSource, pattern: str, shape: Shape, batch_size: int
) -> Iterator[list[Sequence[Any]]]:
    with _client(source) as client:
        rows = _rows(client, source, pattern, shape, batch_size)
        yield from batched(islice(rows, source.limit), batch_size)


def _rows(
    client: redis.Redis, source: RedisSource, pattern: str, shape: Shape, batch_size: int
) -> Iterator[list[Any]]:
    steps = _scan_steps(client, pattern, max(batch_size, SCAN_COUNT))
    for keys in batched(chain.from_iterable(steps), batch_size):
        pipeline = client.pipeline(transaction=False)
        for key in keys:
            shape.queue(pipeline, key)
        replies = pipeline.execute(raise_on_error=False)
        for key, reply in zip(keys, replies, strict=True):
            _reply_check(client, source, pattern, key, reply)
            yield from shape.rows(client, key, reply)


def _scan_steps(client: redis.Redis, pattern: str, count: int) -> Iterator[list[bytes]]:
    """The keys of each SCAN call; some calls find none."""
    cursor = 0
    while True:
        cursor, keys = client.scan(cursor, match=pattern, count=count)
        yield keys
        if cursor == 0:
            return


def _reply_check(
    client: redis.Redis, source: RedisSource, pattern: str, key: bytes, reply: Any
) -> None:
    if not isinstance(reply, Exception):
        return
    if isinstance(reply, redis_errors.ResponseError) and str(reply).startswith("WRONGTYPE"):
        _type_check(client, source, pattern, key)
    raise reply


def _type_check(client: redis.Redis, source: RedisSource, pattern: str, key: bytes) -> None:
    key_type = _text(client.type(key))
    if key_type not in (source.shape, "none"):
        raise DataSourceError(
            f"The key {_text(key)!r} holds a {key_type}, not a {source.shape}: the pattern "
            f'{pattern!r} matches keys of another type; narrow the pattern or change "shape".'
        )


def _matching_count(client: redis.Redis, pattern: str) -> tuple[int, bytes | None, bool]:
    """(keys matching, the first of them, whether that is all), within the caps."""
    steps = _scan_steps(client, pattern, SCAN_COUNT)
    count, first_key = 0, None
    for keys in islice(steps, TEST_MAX_SCANS):
        count += len(keys)
        first_key = first_key if first_key is not None or not keys else keys[0]
        if count >= TEST_MAX_KEYS:
            return count, first_key, False
    return count, first_key, next(steps, None) is None


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("utf-8", errors="replace")


# --- shapes ----------------------------------------------------------------------------------


def _shape(source: RedisSource, pattern: str) -> Shape:
    if source.shape == "string":
        return StringShape()
    if source.shape == "zset":
        return ZsetShape()
    if source.shape == "list":
        return ListShape()
    fields = source.fields if source.fields is not None else _sampled_fields(source, pattern)
    if source.shape == "hash":
        return HashShape(fields)
    return StreamShape(fields, source.stream_start, source.stream_end)


def _sampled_fields(source: RedisSource, pattern: str) -> tuple[str, ...]:
    with _client(source) as client:
        keys = list(
            islice(chain.from_iterable(_scan_steps(client, pattern, SCAN_COUNT)), SAMPLE_KEYS)
        )
        pipeline = client.pipeline(transaction=False)
        for key in keys:
            if source.shape == "hash":
                pipeline.hkeys(key)
            else:
                pipeline.xrange(key, source.stream_start, source.stream_end, SAMPLE_ENTRIES)
        seen: set[bytes] = set()
        for key, reply in zip(keys, pipeline.execute(raise_on_error=False), strict=True):
            _reply_check(client, source, pattern, key, reply)
            seen.update(reply if source.shape == "hash" else _entry_fields(reply))
    return tuple(sorted({_text(field) for field in seen}))


def _entry_fields(entries: list[tuple[bytes, dict[bytes, bytes]]]) -> Iterator[bytes]:
    for _, values in entries:
        yield from values


def _ranked(reply: list[Any], read: Callable[[int, int], list[Any]]) -> Iterator[tuple[int, Any]]:
    """A list's or zset's elements with their index: the pipelined read, then further pages."""
    start, size = 0, FIRST_READ
    while True:
        yield from enumerate(reply, start)
        if len(reply) < size:
            return
        start, size = start + size, PAGE_READ
        reply = read(start, start + size - 1)


class StringShape:
    def columns(self) -> list[Column]:
        return [Column("key"), Column("value")]

    def queue(self, pipeline: Pipeline, key: bytes) -> None:
        pipeline.get(key)

    def rows(self, client: redis.Redis, key: bytes, reply: bytes | None) -> Iterator[list[Any]]:
        if reply is not None:
            yield [_text(key), _text(reply)]


class ZsetShape:
    def columns(self) -> list[Column]:
        return [Column("key"), Column("member"), Column("score", "number")]

    def queue(self, pipeline: Pipeline, key: bytes) -> None:
        pipeline.zrange(key, 0, FIRST_READ - 1, withscores=True)

    def rows(self, client: redis.Redis, key: bytes, reply: list[Any]) -> Iterator[list[Any]]:
        name = _text(key)
        pages = _ranked(reply, lambda start, end: client.zrange(key, start, end, withscores=True))
        for _, (member, score) in pages:
            yield [name, _text(member), score]


class ListShape:
    def columns(self) -> list[Column]:
        return [Column("key"), Column("index", "integer"), Column("value")]

    def queue(self, pipeline: Pipeline, key: bytes) -> None:
        pipeline.lrange(key, 0, FIRST_READ - 1)

    def rows(self, client: redis.Redis, key: bytes, reply: list[bytes]) -> Iterator[list[Any]]:
        name = _text(key)
        for index, value in _ranked(reply, lambda start, end: client.lrange(key, start, end)):
            yield [name, index, _text(value)]


class HashShape:
    def __init__(self, fields: tuple[str, ...]) -> None:
        self.fields = fields
        self.encoded = [field.encode() for field in fields]

    def columns(self) -> list[Column]:
        return [Column("key"), *(Column(field) for field in self.fields)]

    def queue(self, pipeline: Pipeline, key: bytes) -> None:
        pipeline.hgetall(key)

    def rows(
        self, client: redis.Redis, key: bytes, reply: dict[bytes, bytes]
    ) -> Iterator[list[Any]]:
        if reply:
            yield [_text(key), *(_text(reply.get(field)) for field in self.encoded)]


class StreamShape:
    def __init__(self, fields: tuple[str, ...], start: str, end: str) -> None:
        self.fields = fields
        self.encoded = [field.encode() for field in fields]
        self.start = start
        self.end = end

    def columns(self) -> list[Column]:
        return [Column("key"), Column("id"), *(Column(field) for field in self.fields)]

    def queue(self, pipeline: Pipeline, key: bytes) -> None:
        pipeline.xrange(key, self.start, self.end, FIRST_READ)

    def rows(self, client: redis.Redis, key: bytes, reply: list[Any]) -> Iterator[list[Any]]:
        name, size = _text(key), FIRST_READ
        while True:
            for entry_id, values in reply:
                yield [name, _text(entry_id), *(_text(values.get(f)) for f in self.encoded)]
            if len(reply) < size:
                return
            size = PAGE_READ
            reply = client.xrange(key, b"(" + reply[-1][0], self.end, size)
