"""Which address a request came from, believing X-Forwarded-For only from TRUSTED_PROXIES.

The access log and the per-address rate limits both use it, so behind a proxy neither sees
every client as the proxy.
"""

import ipaddress
from collections.abc import Mapping
from typing import Any

from django.conf import settings


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
