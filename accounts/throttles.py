"""Request rates counted on the Django cache (Redis in production), in fixed windows.

A counter per key and window, raised with cache.incr (atomic on Redis), so parallel requests
cannot slip past the limit as they can past DRF's read-then-write history, and a request costs
one small cache write whatever the rate (the window's first request also makes the counter).
Rates (`auth`, `ingest`, `api`) are REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], from the
environment.
"""

import hashlib
import math
import time
from collections.abc import Mapping

from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from config.client_address import client_address


class WindowThrottle(BaseThrottle):
    scope = "api"

    def get_ident(self, request) -> str:
        """The client's address: X-Forwarded-For only from TRUSTED_PROXIES, as the access log."""
        return client_address(request.META) or "unknown"

    def identity(self, request, view) -> str | None:
        """Whom this request counts against; None counts it against no one."""
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        identity = self.identity(request, view)
        if identity is None:
            return True
        limit, period = self.rate()
        now = time.time()
        window = int(now // period)
        digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
        key = f"throttle:{self.scope}:{type(self).__name__}:{digest}:{window}"
        self.seconds_left = (window + 1) * period - now
        return _hits(key, timeout=period + 1) <= limit

    def wait(self) -> float:
        return math.ceil(self.seconds_left)

    def rate(self) -> tuple[int, int]:
        count, period = api_settings.DEFAULT_THROTTLE_RATES[self.scope].split("/")
        return int(count), {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[0]]


def _hits(key: str, *, timeout: int) -> int:
    """The window's count with this request; the counter is made by the window's first."""
    try:
        return cache.incr(key)
    except ValueError:  # no counter yet, or it just expired
        if cache.add(key, 1, timeout=timeout):
            return 1
        return cache.incr(key)  # another request made it in between


class UserOrAddressThrottle(WindowThrottle):
    """Per user, or per address for anonymous requests."""

    def identity(self, request, view) -> str:
        if request.user and request.user.is_authenticated:
            return f"user:{request.user.pk}"
        return f"address:{self.get_ident(request)}"


class IngestThrottle(UserOrAddressThrottle):
    """Ingestion batches: one sender's user posts many a second."""

    scope = "ingest"


class AuthAddressThrottle(WindowThrottle):
    scope = "auth"

    def identity(self, request, view) -> str:
        return self.get_ident(request)


class AuthUsernameThrottle(WindowThrottle):
    """Password attempts per username, from however many addresses they come."""

    scope = "auth"

    def identity(self, request, view) -> str | None:
        data = request.data
        username = data.get("username") if isinstance(data, Mapping) else None
        return username if isinstance(username, str) else None
