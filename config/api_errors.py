"""The API's exception handler: an ApplicationError answers its status with its message and
field errors; anything else is DRF's answer."""

from typing import Any

from rest_framework.response import Response
from rest_framework.views import exception_handler

from config.errors import ApplicationError


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        return Response({"detail": exc.message, **exc.errors}, status=exc.status_code)
    return exception_handler(exc, context)
