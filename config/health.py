"""/healthz: can this process reach its database, cache, broker and object storage?"""

import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import storages
from django.db import connections
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from config.celery import app as celery_app
from reporting.storage import bucket_check

BROKER_TIMEOUT_SECONDS = 3


def check_database() -> None:
    for connection in connections.all():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")


def check_cache() -> None:
    key, value = f"healthz:{uuid.uuid4().hex}", "ok"
    cache.set(key, value, timeout=10)
    if cache.get(key) != value:
        raise RuntimeError("the cache did not return what was just stored")
    cache.delete(key)


def check_broker() -> None:
    with celery_app.connection_for_write(settings.CELERY_BROKER_URL) as connection:
        connection.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)


def check_storage() -> None:
    """The bucket REPORT_STORAGE_URL names answers to this process's keys; local folders are
    made when first written to."""
    bucket_check(storages["reports"])


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
    "storage": check_storage,
}


@never_cache
@require_GET
def healthz(request):
    services, failing = {}, []
    for name, check in CHECKS.items():
        try:
            check()
            services[name] = {"status": "ok"}
        except Exception as exc:  # any failure of a dependency is what this page reports
            services[name] = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
            failing.append(name)
    body = {"status": "error" if failing else "ok", "failing": failing, "services": services}
    return JsonResponse(body, status=503 if failing else 200)
