from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from accounts.logins import login_failure_record, login_locked, login_success_record


class LockoutModelBackend(ModelBackend):
    """Django's password check, refusing a locked username and counting every wrong password."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if not isinstance(username, str) or password is None:
            return None
        if login_locked(username=username):
            raise PermissionDenied("This username is locked after too many wrong passwords.")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            login_failure_record(username=username)
        else:
            login_success_record(username=username)
        return user
