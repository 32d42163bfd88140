"""Password logins: failures counted per username, lockout, and ending a user's refresh tokens.

Every door that checks a password (the token view, the admin's login) goes through
accounts.backends.LockoutModelBackend, which calls these.
"""

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.models import LoginLockout

USERNAME_MAX_LENGTH = 150  # auth.User's; a longer name names no one and is not counted


def login_locked(*, username: str) -> bool:
    return LoginLockout.objects.filter(username=username, locked_at__isnull=False).exists()


@transaction.atomic
def login_failure_record(*, username: str) -> LoginLockout | None:
    """Counts one wrong password; locks the username at the limit within the window."""
    if len(username) > USERNAME_MAX_LENGTH:
        return None
    now = timezone.now()
    lockout, _ = LoginLockout.objects.select_for_update().get_or_create(
        username=username, defaults={"window_started_at": now, "last_failure_at": now}
    )
    if lockout.window_started_at < now - settings.LOGIN_LOCKOUT_WINDOW:
        lockout.failures, lockout.window_started_at = 0, now
    lockout.failures += 1
    lockout.last_failure_at = now
    if lockout.failures >= settings.LOGIN_LOCKOUT_FAILURES and lockout.locked_at is None:
        lockout.locked_at = now
    lockout.save()
    return lockout


def login_success_record(*, username: str) -> None:
    """A right password forgets the earlier failures of a username that is not locked."""
    LoginLockout.objects.filter(username=username, locked_at__isnull=True).delete()


def login_unlock(*, usernames: list[str]) -> int:
    deleted, _ = LoginLockout.objects.filter(username__in=usernames).delete()
    return deleted


def user_refresh_tokens_end(*, user: AbstractBaseUser) -> int:
    """Blacklists every refresh token issued to the user that is not blacklisted or expired."""
    outstanding = OutstandingToken.objects.filter(
        user=user, blacklistedtoken__isnull=True, expires_at__gt=timezone.now()
    )
    ended = BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
    )
    return len(ended)
