import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from config.client_address import client_address
from config.metrics.collectors import ServiceCollector
from config.metrics.process import process_collector

LOOPBACK = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    refusal = _refusal(request)
    if refusal:
        return JsonResponse({"detail": refusal}, status=403)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(process_collector())
    registry.register(ServiceCollector())
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encode(registry), content_type=content_type)


def _refusal(request: HttpRequest) -> str | None:
    """Why this request may not scrape, or None. METRICS_ALLOWED_NETWORKS and METRICS_TOKEN
    both apply when both are set; with neither, only this machine (loopback) may scrape; with
    only a token, any address that sends it."""
    networks = settings.METRICS_ALLOWED_NETWORKS or ([] if settings.METRICS_TOKEN else LOOPBACK)
    if networks and not _address_in(client_address(request.META), networks):
        return "Metrics are not served to this address (METRICS_ALLOWED_NETWORKS)."
    if settings.METRICS_TOKEN:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), settings.METRICS_TOKEN.encode()
        ):
            return "Metrics need the header Authorization: Bearer <METRICS_TOKEN>."
    return None


def _address_in(address: str | None, networks: list) -> bool:
    if address is None:
        return False
    ip = ipaddress.ip_address(address)
    ip = getattr(ip, "ipv4_mapped", None) or ip  # ::ffff:10.0.0.5 from a dual-stack socket
    return any(ip in network for network in networks)
