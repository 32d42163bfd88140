from django.apps import AppConfig


class ReportingConfig(AppConfig):
    name = "reporting"
    verbose_name = "Reporting"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from reporting.models import DataSource, ReportSchedule, ReportTemplate

        # Every change to what reports read and how they look is kept, with who made it.
        auditlog.register(DataSource)
        auditlog.register(ReportTemplate)
        auditlog.register(ReportSchedule)
