from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Organisations and people"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from accounts import checks  # noqa: F401  (registers the system checks)
        from accounts.models import Membership, Organization

        # Who joined, left or changed role, and how organisations were set up.
        auditlog.register(Organization)
        auditlog.register(Membership)
