import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from config.metrics.process import HTTP_REQUEST_DURATION

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestLatencyMiddleware:
    """Times every request. Labels stay few whatever clients send: the URL pattern's name (the
    view's dotted path when it has none; `static` for WhiteNoise's files, answered before any
    pattern is matched; `unmatched` for a 404 no pattern matched), never the path; other methods
    count as OTHER; the status as its class (2xx … 5xx)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        HTTP_REQUEST_DURATION.labels(
            route=_route(request),
            method=request.method if request.method in _METHODS else "OTHER",
            status=f"{response.status_code // 100}xx",
        ).observe(time.perf_counter() - started)
        return response


def _route(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.view_name
    return "static" if request.path.startswith(settings.STATIC_URL) else "unmatched"
