from django.conf import settings
from django.core.checks import Error, register


@register(deploy=True)
def field_encryption_keys_check(app_configs, **kwargs):
    """Secrets at rest are encrypted with FIELD_ENCRYPTION_KEYS; the development fallback
    derives the key from SECRET_KEY, which a new SECRET_KEY would make unreadable."""
    if settings.FIELD_ENCRYPTION_KEYS:
        return []
    return [
        Error(
            "FIELD_ENCRYPTION_KEYS is not set: secrets at rest would be encrypted with a key "
            "derived from SECRET_KEY.",
            hint="Set FIELD_ENCRYPTION_KEYS to a key from `python -c 'from cryptography.fernet "
            "import Fernet; print(Fernet.generate_key().decode())'`.",
            id="reporting_hub.E020",
        )
    ]
