"""config.outbound: which URLs the server may request."""

import socket

import pytest

from config.outbound import OutboundURLError, outbound_url_addresses, outbound_url_check


@pytest.fixture(autouse=True)
def _no_allowed_hosts(settings):
    settings.DELIVERY_ALLOWED_HOSTS = []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "not file"),
        ("ftp://93.184.215.14/report.csv", "not ftp"),
        ("gopher://93.184.215.14:70/", "not gopher"),
        ("//93.184.215.14/hook", "not no scheme"),
        ("http:///hook", "no host"),
        ("http://93.184.215.14:99999/", "port"),
    ],
)
def test_only_http_and_https_urls_with_a_host_pass(url: str, reason: str) -> None:
    with pytest.raises(OutboundURLError, match=reason):
        outbound_url_check(url)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1/", "loopback"),
        ("http://2130706433/", "loopback"),  # 127.0.0.1 written as one number
        ("http://[::1]:8080/", "loopback"),
        ("http://localhost/", "loopback"),
        ("http://10.0.0.1/", "private"),
        ("http://192.168.1.20/", "private"),
        ("http://[::ffff:10.0.0.1]/", "private"),  # IPv4-mapped IPv6
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://224.0.0.1/", "multicast"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://100.100.100.200/", "non-public"),  # shared address space (cloud metadata)
    ],
)
def test_internal_addresses_are_refused(url: str, kind: str) -> None:
    with pytest.raises(OutboundURLError, match=rf"not a public address \({kind}\)"):
        outbound_url_check(url)


def test_public_address_passes_and_is_returned() -> None:
    assert outbound_url_addresses("https://93.184.215.14/hooks/report?x=1") == ["93.184.215.14"]


def test_allowed_hosts_skip_the_address_check(settings) -> None:
    settings.DELIVERY_ALLOWED_HOSTS = ["127.0.0.1", "localhost:8025"]

    assert outbound_url_addresses("http://127.0.0.1:9000/hook") == ["127.0.0.1"]
    outbound_url_check("http://LOCALHOST:8025/hook")
    with pytest.raises(OutboundURLError):
        outbound_url_check("http://localhost:8026/hook")  # the entry names one port
    with pytest.raises(OutboundURLError, match="not file"):
        outbound_url_check("file://127.0.0.1/etc/passwd")


def test_a_host_that_cannot_be_resolved_is_refused() -> None:
    with pytest.raises(OutboundURLError, match="cannot be resolved"):
        outbound_url_check("https://reports.invalid/hook")


def test_every_address_of_a_host_must_be_public(monkeypatch) -> None:
    # Patched DNS: no real resolver here can be told to answer a mix of addresses.
    def resolve(host, port, *args, **kwargs):
        assert host == "mixed.example.com"
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)

    with pytest.raises(OutboundURLError, match=r"mixed.example.com \(10.0.0.7\)"):
        outbound_url_check("https://mixed.example.com/hook")
