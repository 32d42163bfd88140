from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser

from accounts.models import Organization
from reporting.models import ReportAccessLog, ReportExecution, ReportOutput, ReportTemplate


@dataclass(frozen=True)
class ClientInfo:
    """Where a request came from, for the access log."""

    ip_address: str | None = None
    user_agent: str = ""

    @classmethod
    def from_request(cls, request) -> "ClientInfo":
        return cls(request.META.get("REMOTE_ADDR"), request.META.get("HTTP_USER_AGENT", "")[:500])


def access_log_record(
    *,
    organization: Organization,
    user: AbstractBaseUser | None,
    action: str,
    template: ReportTemplate | None = None,
    execution: ReportExecution | None = None,
    output: ReportOutput | None = None,
    client: ClientInfo | None = None,
) -> ReportAccessLog:
    client = client or ClientInfo()
    subject = output or execution or template
    return ReportAccessLog.objects.create(
        organization=organization,
        user=user if user and user.is_authenticated else None,
        action=action,
        template=template or (execution.template if execution else None),
        execution=execution or (output.execution if output else None),
        output=output,
        object_repr=str(subject)[:300] if subject else "",
        ip_address=client.ip_address,
        user_agent=client.user_agent,
    )
