"""`redis` data sources: the keys matching a pattern on a Redis server named in settings, as rows.

There is no query; the config says what to read:

    {"connection": "default", "pattern": "sessions:{site}:*", "shape": "hash",
     "fields": ["user", "started_at"], "limit": 100000}

- `connection`: a name in settings.REPORTING_REDIS ("default", the default, is
  REPORTING_REDIS_URL; REPORTING_REDIS_<NAME>_URL adds "<name>"; none is configured unless set,
  and none may be the service's own cache, broker or result backend). URLs and passwords stay
  in the environment, never in the database. The organisation must be granted the connection
  (reporting.connections), checked when the source is saved, tested and read.
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

from collections.abc import Iterator, Mapping, Sequence
from itertools import chain, islice
from typing import Any

import redis

from reporting.connections import connection_check
from reporting.datasources.base import RowStream, SpoolsItsStream, batched
from reporting.datasources.redis.client import (
    SCAN_COUNT,
    _client,
    _matching_count,
    _reply_check,
    _scan_steps,
    _type_check,
)
from reporting.datasources.redis.config import RedisSource, _source
from reporting.datasources.redis.shapes import Shape, _shape


class RedisAdapter(SpoolsItsStream):
    source_type = "redis"

    def validate_config(
        self, *, query: str, config: Mapping[str, Any], organization_id: Any
    ) -> None:
        _granted_source(query, config, organization_id)

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
        source = _granted_source(query, config, organization_id)
        pattern = source.pattern.filled(parameters)
        shape = _shape(source, pattern)
        return RowStream(
            columns=shape.columns(), batches=_batches(source, pattern, shape, batch_size)
        )

    def test(self, *, query: str, config: Mapping[str, Any], organization_id: Any) -> str:
        """Pings, and counts the keys matching the pattern (any value for each parameter)."""
        source = _granted_source(query, config, organization_id)
        pattern = source.pattern.any_values()
        with _client(source) as client:
            version = client.info("server").get("redis_version", "of unknown version")
            count, first_key, complete = _matching_count(client, pattern)
            total = client.dbsize()
            if first_key is not None:
                _type_check(client, source, pattern, first_key)
        matching = f"{count:,}" if complete else f"at least {count:,}"
        return f"OK: Redis {version}; {matching} of {total:,} keys match {pattern!r}"


def _granted_source(query: str, config: Mapping[str, Any], organization_id: Any) -> RedisSource:
    source = _source(query, config)
    connection_check(organization_id=organization_id, kind="redis", name=source.connection)
    return source


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
