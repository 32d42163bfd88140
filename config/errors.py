"""One application error type for mistakes a user can fix, turned into a 400 by the API
(config.api_errors)."""

from typing import Any

from rest_framework import status


class ApplicationError(Exception):
    """A rule the caller broke. `errors` maps a field to its reasons, as DRF answers them."""

    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(self, message: str, *, errors: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


class ConflictError(ApplicationError):
    """The request is fine but the object's state does not allow it now (409)."""

    status_code = status.HTTP_409_CONFLICT
