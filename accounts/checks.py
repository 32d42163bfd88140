from django.conf import settings
from django.core.checks import Error, register


@register(deploy=False)
def production_secret_key_check(app_configs, **kwargs):
    """With DEBUG off (production), the development SECRET_KEY must not be used."""
    if not settings.DEBUG and settings.SECRET_KEY == settings.DEVELOPMENT_SECRET_KEY:
        return [
            Error(
                "SECRET_KEY is the development key while DEBUG is off.",
                hint="Set SECRET_KEY in the environment to a long random value.",
                id="reporting_hub.E001",
            )
        ]
    return []
