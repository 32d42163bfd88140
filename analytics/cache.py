"""The analytics cache: answers kept for ANALYTICS_CACHE_TTL seconds under a key holding the
organisation's data version, which new data bumps (`services.analytics_cache_version_bump`),
so an answer is stale the moment its organisation gets new data."""

import time
from collections.abc import Callable
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from accounts.models import Organization


def organization_today(organization: Organization) -> date:
    return timezone.now().astimezone(ZoneInfo(organization.time_zone)).date()


def cache_version_key(organization: Organization) -> str:
    return f"analytics:version:{organization.pk}"


def analytics_cache_version(organization: Organization) -> int:
    key = cache_version_key(organization)
    cache.add(key, time.time_ns(), timeout=None)
    return cache.get(key) or 0


def cached_answer(
    organization: Organization, name: str, query: dict[str, Any], compute: Callable[[], dict]
) -> dict[str, Any]:
    """The cached answer, or `compute()`'s stamped with `computed_at` and kept. The key holds
    today's date too: an answer that includes today stops at midnight."""
    parts = [f"{key}={query[key]}" for key in sorted(query)]
    key = ":".join(
        [
            "analytics",
            str(organization.pk),
            str(analytics_cache_version(organization)),
            name,
            str(organization_today(organization)),
            f"mock={settings.ANALYTICS_USE_MOCK_DATA}",
            *parts,
        ]
    )
    answer = cache.get(key)
    if answer is None:
        answer = {**compute(), "computed_at": timezone.now().isoformat()}
        cache.set(key, answer, settings.ANALYTICS_CACHE_TTL)
    return answer
