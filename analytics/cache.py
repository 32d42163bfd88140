"""The analytics cache, stale-while-revalidate: an answer is kept under its query (not under the
organisation's data version) together with the version it was computed at and when its data
was read. New data bumps the version (`services.analytics_cache_version_bump`) without
invalidating anything:

- same version: the answer is current and served for ANALYTICS_CACHE_TTL seconds;
- newer version, data read less than ANALYTICS_MAX_STALENESS seconds ago: the answer is served
  as it is, and a refresh is sent to the `analytics` queue, at most one per query every half of
  that bound (so a refreshed answer lands before the one served gets too old, as long as a
  refresh takes less than half the bound);
- otherwise (no answer, or one older than the bound) the request computes it.

So an answer is at most ANALYTICS_MAX_STALENESS seconds behind the data (0: never behind, every
request after new data computes). A lost refresh message only delays: the next request sends
another once the window passes, or computes itself once the answer is too old.

An answer read on the analytics replica (config/db_router.py) may lack the newest batches
whatever the data version says: it is stored as stale from the moment the replica last held
the primary's data, so the same bound holds for it, replica lag included, and while it is asked
for it is refreshed in the background every half of the bound."""

import logging
import time
from collections.abc import Callable
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from accounts.models import Organization
from config.db_router import replica_data_as_of

logger = logging.getLogger(__name__)


def organization_today(organization: Organization) -> date:
    return timezone.now().astimezone(ZoneInfo(organization.time_zone)).date()


def cache_version_key(organization: Organization) -> str:
    return f"analytics:version:{organization.pk}"


def analytics_cache_version(organization: Organization) -> int:
    key = cache_version_key(organization)
    cache.add(key, time.time_ns(), timeout=None)
    return cache.get(key) or 0


def answer_key(organization: Organization, name: str, query: dict[str, Any]) -> str:
    """The key holds today's date: an answer that includes today stops at midnight."""
    parts = [f"{key}={query[key]}" for key in sorted(query)]
    return ":".join(
        [
            "analytics:answer",
            str(organization.pk),
            name,
            str(organization_today(organization)),
            f"mock={settings.ANALYTICS_USE_MOCK_DATA}",
            *parts,
        ]
    )


def cached_answer(
    organization: Organization,
    name: str,
    query: dict[str, Any],
    compute: Callable[[], dict],
    refresh: Callable[[], None],
) -> dict[str, Any]:
    """The cached answer if current or young enough (then `refresh()` starts a background
    refresh, at most once per window), else `compute()`'s, stamped with `computed_at`."""
    key = answer_key(organization, name, query)
    entry = cache.get(key)
    if entry is not None:
        if entry["version"] == analytics_cache_version(organization):
            return entry["answer"]
        if time.time() - entry["read_at"] < settings.ANALYTICS_MAX_STALENESS:
            send_once(f"{key}:refreshing", refresh, seconds=refresh_window())
            return entry["answer"]
    return answer_store(organization, key, compute)


def answer_store(
    organization: Organization, key: str, compute: Callable[[], dict]
) -> dict[str, Any]:
    # The version and time before reading: data arriving meanwhile leaves the answer stale.
    version, read_at = analytics_cache_version(organization), time.time()
    if (as_of := replica_data_as_of()) is not None:
        version, read_at = None, min(read_at, as_of)
    answer = {**compute(), "computed_at": timezone.now().isoformat()}
    timeout = max(settings.ANALYTICS_CACHE_TTL, settings.ANALYTICS_MAX_STALENESS)
    cache.set(key, {"answer": answer, "version": version, "read_at": read_at}, timeout)
    return answer


def refresh_window() -> int:
    return max(1, settings.ANALYTICS_MAX_STALENESS // 2)


def send_once(key: str, send: Callable[[], None], *, seconds: int) -> None:
    """Calls `send` (a task message) unless it was called under `key` in the last `seconds`.
    A broker that refuses is logged and lets the next call try again; what the message would
    do is still done later (a stale answer serves, pending counts are read)."""
    if not cache.add(key, 1, timeout=seconds):
        return  # sent already in this window
    try:
        send()
    except Exception:
        logger.exception("Sending %s failed", key)
        cache.delete(key)
