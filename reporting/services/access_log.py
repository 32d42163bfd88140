import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
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
        return cls(client_address(request.META), request.META.get("HTTP_USER_AGENT", "")[:500])


def client_address(meta: Mapping[str, Any]) -> str | None:
    """The peer's address, or, when the peer is one of TRUSTED_PROXIES, the address its
    X-Forwarded-For names: read from the right, past every trusted proxy, to the first hop that
    is not one. Anyone can send the header, so only a trusted proxy's word is taken, and only
    for the hop before it.

    django-ipware was not used: it matches its trusted list against the addresses inside the
    header, not against the peer that connected, so a client could name a trusted proxy itself.
    """
    address = _address(meta.get("REMOTE_ADDR"))
    forwarded = [hop.strip() for hop in meta.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    while address is not None and _trusted(address) and forwarded:
        hop = _address(forwarded.pop())
        if hop is None:  # garbage: trust ends with the last proxy that is known
            break
        address = hop
    return str(address) if address is not None else None


def _address(text: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip()) if isinstance(text, str) else None
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return any(address in network for network in settings.TRUSTED_PROXIES)


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
