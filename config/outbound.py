"""Checks for URLs the server itself requests (webhooks, HTTP data sources, S3 endpoints).

Only http(s), and only hosts whose every address is public: a user who can make the server
fetch a URL must not reach the cloud metadata service, localhost or the internal network.
Allowed hosts ("host" or "host:port") skip the address check: DELIVERY_ALLOWED_HOSTS unless the
caller passes its own list (HTTP data sources pass DATASOURCE_ALLOWED_HOSTS).
Check when a URL is saved and again right before each request, since DNS answers change;
`outbound_url_addresses` returns the checked addresses so a client can connect to exactly
those and a second lookup cannot swap in another one.
"""

import http.client
import ipaddress
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from django.conf import settings

DEFAULT_PORTS = {"http": 80, "https": 443}

_ADDRESS_KINDS = (
    ("unspecified", "is_unspecified"),
    ("loopback", "is_loopback"),
    ("link-local", "is_link_local"),
    ("multicast", "is_multicast"),
    ("private", "is_private"),
    ("reserved", "is_reserved"),
)


class OutboundURLError(ValueError):
    """The URL may not be requested; the message says why in words an admin can act on."""


def outbound_url_check(url: str, *, allowed_hosts: Iterable[str] | None = None) -> None:
    outbound_url_addresses(url, allowed_hosts=allowed_hosts)


def outbound_url_addresses(url: str, *, allowed_hosts: Iterable[str] | None = None) -> list[str]:
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS:
        raise OutboundURLError(
            f"Only http:// and https:// URLs are allowed, not {parts.scheme or 'no scheme'}."
        )
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise OutboundURLError("The URL has no host.")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise OutboundURLError("The URL's port is not a number from 1 to 65535.") from None
    addresses = _resolve(host, port)
    if not _host_allowed(host, port, allowed_hosts):
        for address in addresses:
            kind = _blocked_kind(address)
            if kind:
                where = address if address == host else f"{host} ({address})"
                raise OutboundURLError(
                    f"{where} is not a public address ({kind}); requests to internal "
                    f"addresses are not allowed."
                )
    return addresses


def _resolve(host: str, port: int) -> list[str]:
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OutboundURLError(f"The host {host} cannot be resolved ({exc}).") from None
    return list(dict.fromkeys(sockaddr[0] for *_, sockaddr in answers))


def _host_allowed(host: str, port: int, allowed_hosts: Iterable[str] | None) -> bool:
    if allowed_hosts is None:
        allowed_hosts = getattr(settings, "DELIVERY_ALLOWED_HOSTS", [])
    allowed = {entry.lower() for entry in allowed_hosts}
    bracketed = f"[{host}]" if ":" in host else host
    return bool(allowed & {host, bracketed, f"{bracketed}:{port}"})


def _blocked_kind(address: str) -> str | None:
    ip = ipaddress.ip_address(address)
    # ::ffff:10.0.0.1 reaches 10.0.0.1; Python before 3.13 does not call it private.
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    for kind, attribute in _ADDRESS_KINDS:
        if getattr(ip, attribute):
            return kind
    # Shared address space (100.64.0.0/10) and the like are neither private nor public.
    return None if ip.is_global else "non-public"


def pinned_connection(
    scheme: str, host: str, port: int | None, addresses: list[str], *, timeout: float
) -> http.client.HTTPConnection:
    """An HTTP(S) connection that can only reach `addresses` (those outbound_url_check approved).

    http.client opens its socket through `_create_connection` (HTTPS wraps it afterwards,
    checking the certificate against `host`); pointing it at the checked addresses pins the
    connection, so a second DNS answer cannot send it to an internal host.
    """
    kind = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
    connection = kind(host, port, timeout=timeout)
    connection._create_connection = _pinned(addresses)
    return connection


def _pinned(addresses: list[str]) -> Callable[..., socket.socket]:
    def create_connection(address, timeout, source_address=None):
        error: OSError | None = None
        for ip in addresses:
            try:
                return socket.create_connection((ip, address[1]), timeout, source_address)
            except OSError as exc:
                error = exc
        raise error or OSError("no address to connect to")

    return create_connection
