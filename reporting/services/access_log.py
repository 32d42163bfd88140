from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser

from accounts.models import Organization
from config.client_address import client_address
from reporting.models import ReportAccessLog, ReportExecution, ReportOutput, ReportTemplate


@dataclass(frozen=True)
class ClientInfo:
    """Where a request came from, for the access log."""

    ip_address: str | None = None
    user_agent: str = ""

    @classmethod
    def from_request(cls, request) -> "ClientInfo":
        return cls(client_address(request.META), request.META.get("HTTP_USER_AGENT", "")[:500])


def access_log_record(
    *,
    organization: Organization,
    user: AbstractBaseUser | None,
    action: str,
    template: ReportTemplate | None = None,
    execution: ReportExecution | None = None,
    output: ReportOutput | None = None,
    subject: str = "",
    client: ClientInfo | None = None,
) -> ReportAccessLog:
    """One access; `subject` describes what was accessed when it is none of the three (a data
    source)."""
    client = client or ClientInfo()
    subject = subject or str(output or execution or template or "")
    return ReportAccessLog.objects.create(
        organization=organization,
        user=user if user and user.is_authenticated else None,
        action=action,
        template=template or (execution.template if execution else None),
        execution=execution or (output.execution if output else None),
        output=output,
        object_repr=subject[:300],
        ip_address=client.ip_address,
        user_agent=client.user_agent,
    )
