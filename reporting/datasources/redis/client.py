"""The connection to a redis source's server, its errors put in words, and the SCAN of the
keys matching a pattern."""

from collections.abc import Iterator
from contextlib import contextmanager
from itertools import islice
from typing import Any

import redis
from redis import exceptions as redis_errors

from reporting.datasources.base import DataSourceError
from reporting.datasources.redis.config import RedisSource

SCAN_COUNT = 1000  # the least COUNT per SCAN: a preview's batch of 50 would take 20x the trips
TEST_MAX_KEYS = 10_000
TEST_MAX_SCANS = 100
CONNECT_TIMEOUT = 5  # seconds
READ_TIMEOUT = 60  # seconds per command: a pipeline of one batch is one command's wait


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
