"""An outage of the database, the cache, the broker or the object storage answers 503 naming
the service, with Retry-After, instead of a 500 page.

Django turns an exception into a response at every middleware layer (convert_exception_to_response),
so no middleware sees the ones raised in another middleware (a session or user loaded from the
database, a throttle counted on the cache) or on the way out (a session saved). Every such
exception, a view's included, ends in the root URLconf's handler500 while it is being handled:
`server_error` is that handler. It only runs with DEBUG off; with DEBUG on, Django's debug page
shows the traceback, as for any error.

Django logs each 503 as an error; `OutageTracebackFilter` makes that one line naming the service,
and the worker's line for a task that failed on an outage too.
"""

import logging
import sys

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

# Exception classes by dotted name, matched against an exception's class and its bases: named,
# not imported, so telling an outage loads no client (redis, psycopg2) the process does not use.
OUTAGE_ERRORS: dict[str, frozenset[str]] = {
    # Django wraps the driver's errors, but not those raised outside its cursor and connect.
    "database": frozenset(
        {
            "django.db.utils.OperationalError",
            "django.db.utils.InterfaceError",
            "psycopg2.OperationalError",
        }
    ),
    "cache": frozenset({"redis.exceptions.ConnectionError", "redis.exceptions.TimeoutError"}),
    # kombu raises this for every transport (Redis, RabbitMQ) once its publish retries give up.
    "broker": frozenset({"kombu.exceptions.OperationalError"}),
    # REPORT_STORAGE_URL's S3 endpoint: refused or timed out connections, dropped reads.
    "storage": frozenset(
        {"botocore.exceptions.ConnectionError", "botocore.exceptions.HTTPClientError"}
    ),
}
SERVICE_NAMES = {
    "database": "The database",
    "cache": "The cache",
    "broker": "The message broker",
    "storage": "The object storage",
}


def outage_service(exc: BaseException | None) -> str | None:
    """The service whose unavailability `exc` is ("database", "cache", "broker", "storage"),
    else None."""
    if exc is None:
        return None
    classes = {f"{cls.__module__}.{cls.__qualname__}" for cls in type(exc).__mro__}
    for service, errors in OUTAGE_ERRORS.items():
        if classes & errors:
            return service
    return None


def outage_response(request: HttpRequest, *, service: str) -> HttpResponse:
    retry_after = settings.OUTAGE_RETRY_AFTER
    detail = f"{SERVICE_NAMES[service]} is unavailable. Try again in {retry_after} seconds."
    if _wants_page(request):
        response = HttpResponse(detail, status=503, content_type="text/plain; charset=utf-8")
    else:
        response = JsonResponse({"detail": detail, "service": service}, status=503)
    response["Retry-After"] = str(retry_after)
    return response


def _wants_page(request: HttpRequest) -> bool:
    # API clients, curl (*/*) and anything asking for JSON get JSON; a browser on the admin a page.
    accept = request.headers.get("Accept", "")
    return not request.path.startswith("/api/") and "text/html" in accept


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a 503 for an outage, Django's 500 page for anything else."""
    service = outage_service(sys.exc_info()[1])
    if service is None:
        return defaults.server_error(request)
    return outage_response(request, service=service)


class OutageTracebackFilter(logging.Filter):
    """An error record of an outage (a request's 503, a task that failed on it) loses its
    traceback and names the service instead: one line each, not a screenful."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        service = outage_service(exc)
        if service:
            reason = next(iter(str(exc).strip().splitlines()), "")  # psycopg2's run over lines
            record.msg = (
                f"{record.getMessage()} [{service} unavailable: {type(exc).__name__}: {reason}]"
            )
            record.args, record.exc_info, record.exc_text = (), None, None
        return True
