"""The shapes: how the keys of each Redis type are read in a pipeline and turned into rows."""

from collections.abc import Callable, Iterator
from itertools import chain, islice
from typing import Any, Protocol

import redis
from redis.client import Pipeline

from reporting.datasources.redis.client import SCAN_COUNT, _client, _reply_check, _scan_steps, _text
from reporting.datasources.redis.config import RedisSource
from reporting.tables import Column

FIRST_READ = 100  # elements per collection in the pipelined read; bounds a batch's memory
PAGE_READ = 1000  # elements per further read of a longer collection
SAMPLE_KEYS = 100
SAMPLE_ENTRIES = 10


class Shape(Protocol):
    def columns(self) -> list[Column]: ...

    def queue(self, pipeline: Pipeline, key: bytes) -> None:
        """Adds exactly one command reading `key` to the pipeline."""

    def rows(self, client: redis.Redis, key: bytes, reply: Any) -> Iterator[list[Any]]: ...


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
