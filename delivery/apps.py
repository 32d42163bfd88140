from django.apps import AppConfig


class DeliveryConfig(AppConfig):
    name = "delivery"
    verbose_name = "Delivery"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from delivery import checks  # noqa: F401  (registers the system checks)
        from delivery.models import DeliveryTarget

        # Who changed where reports go; the encrypted secrets stay out of the log.
        auditlog.register(DeliveryTarget, exclude_fields=["secrets"])
