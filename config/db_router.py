"""Analytics reads on a replica: with ANALYTICS_DATABASE_URL set, the reads of code run through
`analytics_reads` (the dashboard's answers, the analytics datasets) go to the `analytics` alias,
a streaming replica of the default database, while it is fresh; everything else, every write and
every read inside a transaction on the default database stays on the primary.

Fresh means at most ANALYTICS_REPLICA_MAX_LAG seconds behind, checked at most every
ANALYTICS_REPLICA_CHECK_SECONDS per process: the replica has replayed everything the primary had
written when asked (`pg_current_wal_lsn()`), or else its last replayed commit is at most that
old. The primary's position is asked for because the replica alone cannot tell: its
`now() - pg_last_xact_replay_timestamp()` grows while the primary is idle, and a receiver cut off
from the primary has replayed all it received while missing everything since. A replica that
is behind, unreachable or failing sends the reads to the primary (logged once per change), so it
never takes the dashboard down.

The choice is a context variable, not a thread-local: a generator suspended inside the scope
would leak it to its caller, so streams run each step in it (`analytics_reads_iterate`).
"""

import functools
import logging
import math
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar, copy_context
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, InterfaceError, OperationalError, connections

logger = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class _Scope:
    """Code run as analytics reads; whether the router sent any of its reads to the replica."""

    on_replica: bool = False


_analytics_reads: ContextVar[_Scope | None] = ContextVar("analytics_reads", default=None)


def analytics_reads(function: Callable[P, T]) -> Callable[P, T]:
    """Runs `function` with its reads on the analytics replica when it is fresh. If it fails
    with a database error after reading there (the replica went away, or cancelled a query
    that conflicted with its recovery), it runs once more on the primary: it only reads, so a
    second run is safe, and an error of the primary's own comes back from that run."""

    @functools.wraps(function)
    def on_replica(*args: P.args, **kwargs: P.kwargs) -> T:
        scope = _Scope()
        token = _analytics_reads.set(scope)
        try:
            return function(*args, **kwargs)
        except (OperationalError, InterfaceError) as error:
            if not scope.on_replica:
                raise
            _replica_failed(error)
        finally:
            _analytics_reads.reset(token)
        return function(*args, **kwargs)

    return on_replica


def analytics_reads_iterate(iterator: Iterator[T]) -> Iterator[T]:
    """Each step of `iterator` (a lazy stream of rows) as analytics reads, and nothing between
    its steps."""
    context = copy_context()
    context.run(_analytics_reads.set, _Scope())
    try:
        while True:
            try:
                item = context.run(next, iterator)
            except StopIteration:
                return
            yield item
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


def replica_alias() -> str | None:
    """The replica's alias for reads made now, or None for the primary."""
    alias, scope = settings.ANALYTICS_READ_DATABASE, _analytics_reads.get()
    if not alias or scope is None:
        return None
    if connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return None  # a transaction reads what it wrote, and at one point in time
    if not _replica.fresh():
        return None
    scope.on_replica = True
    return alias


class AnalyticsReplicaRouter:
    """Objects read from the replica are the primary's rows: their writes and later reads go to
    the primary, and they relate to the primary's objects."""

    def db_for_read(self, model: type, **hints: Any) -> str | None:
        alias = replica_alias()
        if alias is None and _from_replica(hints):
            return DEFAULT_DB_ALIAS
        return alias

    def db_for_write(self, model: type, **hints: Any) -> str | None:
        return DEFAULT_DB_ALIAS if _from_replica(hints) else None

    def allow_relation(self, first: Any, second: Any, **hints: Any) -> bool | None:
        same_data = {DEFAULT_DB_ALIAS, settings.ANALYTICS_READ_DATABASE}
        return True if {first._state.db, second._state.db} <= same_data else None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return False if db == settings.ANALYTICS_READ_DATABASE else None


def _replica_failed(error: BaseException) -> None:
    logger.warning(
        "An analytics read failed after reading the replica (%s: %s): it runs again on the "
        "primary.", type(error).__name__, " ".join(str(error).split()),
    )  # fmt: skip
    connections[settings.ANALYTICS_READ_DATABASE].close()
    _replica.fresh(force=True)


def _from_replica(hints: dict[str, Any]) -> bool:
    instance = hints.get("instance")
    alias = settings.ANALYTICS_READ_DATABASE
    return bool(alias) and instance is not None and instance._state.db == alias


@dataclass
class _ReplicaState:
    checked_at: float = -math.inf
    state: str = "fresh"  # or "behind", "unreachable": a change of state is logged
    data_as_of: float = 0.0  # wall clock: the replica held the primary's data of then

    def fresh(self, *, force: bool = False) -> bool:
        if force or time.monotonic() - self.checked_at >= settings.ANALYTICS_REPLICA_CHECK_SECONDS:
            self._check(settings.ANALYTICS_READ_DATABASE)
        return self.state == "fresh"

    def _check(self, alias: str) -> None:
        limit = settings.ANALYTICS_REPLICA_MAX_LAG
        position = primary_position()  # outside the try: the primary's outage is its own 503
        try:
            lag = replica_lag(alias, position)
        except DatabaseError as error:
            connections[alias].close()
            state, reason = "unreachable", f"{type(error).__name__}: {' '.join(str(error).split())}"
        else:
            state = "fresh" if lag <= limit else "behind"
            reason = f"{lag:.1f} s behind, more than {limit} s"
            self.data_as_of = time.time() - lag
        if state != self.state:
            if state == "fresh":
                logger.warning("Analytics reads use the replica again.")
            else:
                logger.warning(
                    "Analytics reads use the primary: the replica is %s (%s).", state, reason
                )
        self.checked_at, self.state = time.monotonic(), state


_replica = _ReplicaState()


def replica_data_as_of() -> float | None:
    """When (a wall-clock time) the primary held the data that analytics reads made now would
    see, or None when they would read the primary. A replica only moves forward, so what it
    held at its last check is a lower bound of what it holds now."""
    alias = settings.ANALYTICS_READ_DATABASE
    if not alias or connections[DEFAULT_DB_ALIAS].in_atomic_block or not _replica.fresh():
        return None
    return _replica.data_as_of


def primary_position() -> str | None:
    """Where the primary's WAL ends now (None when it is not PostgreSQL)."""
    primary = connections[DEFAULT_DB_ALIAS]
    if primary.vendor != "postgresql":
        return None
    with primary.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()")
        return cursor.fetchone()[0]


def replica_lag(alias: str, position: str | None) -> float:
    """Seconds of commits the replica may be missing: 0 when it has replayed the primary's WAL
    up to `position` (or is no standby), else the age of its last replayed commit (infinite
    when it has replayed none)."""
    replica = connections[alias]
    if position is None or replica.vendor != "postgresql":
        return 0.0
    with replica.cursor() as cursor:
        cursor.execute(
            "SELECT NOT pg_is_in_recovery() OR pg_last_wal_replay_lsn() >= %s::pg_lsn,"
            " EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())",
            [position],
        )
        caught_up, behind = cursor.fetchone()
    if caught_up:
        return 0.0
    return math.inf if behind is None else max(float(behind), 0.0)


def replica_check_forget() -> None:
    """The next analytics read checks the replica again (tests; after a failover)."""
    _replica.checked_at, _replica.state = -math.inf, "fresh"
