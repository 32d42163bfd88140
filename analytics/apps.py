from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = "Analytics"

    def ready(self) -> None:
        # Registers the analytics reports' datasets before any report runs.
        from analytics import datasets  # noqa: F401
