"""Secrets at rest: Fernet tokens under the keys of FIELD_ENCRYPTION_KEYS.

The first key encrypts, every key decrypts (MultiFernet), so a key is rotated by putting a new
one first, re-encrypting (`manage.py reencrypt_secrets`) and then dropping the old one. Without
FIELD_ENCRYPTION_KEYS (development) one key is derived from SECRET_KEY; production sets it
(`check --deploy` says so), because a changed SECRET_KEY would then leave secrets unreadable.

cryptography is imported by the functions that use it: it costs a process that never reads a
secret about 50 ms and several MB at start-up.
"""

import base64
import hashlib
import json
from typing import TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet


class SecretUnreadable(Exception):
    """A stored secret none of the configured keys decrypts."""


def _keys() -> "MultiFernet":
    from cryptography.fernet import Fernet, MultiFernet

    keys = list(settings.FIELD_ENCRYPTION_KEYS) or [development_key(settings.SECRET_KEY)]
    return MultiFernet([Fernet(key) for key in keys])


def development_key(secret_key: str) -> str:
    digest = hashlib.sha256(b"reporting-hub field encryption:" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


def secrets_encrypt(secrets: dict[str, Any]) -> str:
    """A token holding the JSON of `secrets`; "" for none, so an empty column means none."""
    if not secrets:
        return ""
    return _keys().encrypt(json.dumps(secrets, sort_keys=True).encode()).decode()


def secrets_decrypt(token: str) -> dict[str, Any]:
    if not token:
        return {}
    from cryptography.fernet import InvalidToken

    try:
        return json.loads(_keys().decrypt(token.encode()))
    except InvalidToken:
        raise SecretUnreadable(
            "A stored secret cannot be decrypted with FIELD_ENCRYPTION_KEYS: add the key it was "
            "encrypted with (keys are tried in turn)."
        ) from None


def secrets_reencrypt(token: str) -> str:
    """The same secrets under the first key (MultiFernet.rotate keeps the token's time)."""
    if not token:
        return ""
    from cryptography.fernet import InvalidToken

    try:
        return _keys().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("A stored secret cannot be decrypted to re-encrypt it.") from None
