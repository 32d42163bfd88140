"""An api source's requests: outbound checks, pinned connections, retries, readable failures."""

import http.client
import json
import os
import ssl
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import SplitResult, urlsplit

from django.conf import settings

from config.outbound import (
    DEFAULT_PORTS,
    OutboundURLError,
    outbound_url_addresses,
    pinned_connection,
)
from reporting.datasources.api.config import ApiConfig, EnvValue
from reporting.datasources.base import DataSourceError

USER_AGENT = "ReportingHub-DataSource/1"
MAX_PAGE_BYTES = 64 * 2**20
BACKOFF_SECONDS = 0.5
MAX_WAIT_SECONDS = 60  # the longest pause between attempts, Retry-After included
EXCERPT = 200


class _Retry(Exception):
    def __init__(self, cause: str, wait: float | None = None) -> None:
        super().__init__(cause)
        self.wait = wait


class Session:
    """One run's requests: the headers with their secrets read, retries, readable failures."""

    def __init__(self, api: ApiConfig) -> None:
        self.api = api
        self.plain = {name: v for name, v in api.headers.items() if isinstance(v, str)}
        secrets = {
            name: (v.prefix, _environment(v.env, name))
            for name, v in api.headers.items()
            if isinstance(v, EnvValue)
        }
        self.secret = {name: prefix + value for name, (prefix, value) in secrets.items()}
        self.secrets = [value for _, value in secrets.values()]
        self.origin = _origin(urlsplit(api.url))

    def fetch(self, url: str, body: bytes | None) -> tuple[int, Any]:
        attempt = 0
        while True:
            try:
                return self._request(url, body)
            except _Retry as failure:
                if attempt == self.api.retries:
                    tries = f"{attempt + 1} attempt{'s' if attempt else ''}"
                    raise self.error(url, f"{failure} ({tries})") from None
                wait = BACKOFF_SECONDS * 2**attempt if failure.wait is None else failure.wait
                time.sleep(min(wait, MAX_WAIT_SECONDS))
                attempt += 1

    def _request(self, url: str, body: bytes | None) -> tuple[int, Any]:
        try:
            addresses = outbound_url_addresses(url, allowed_hosts=settings.DATASOURCE_ALLOWED_HOSTS)
        except OutboundURLError as error:
            raise self.error(url, str(error)) from None
        parts = urlsplit(url)
        connection = pinned_connection(
            parts.scheme, parts.hostname, parts.port, addresses, timeout=self.api.timeout
        )
        try:
            connection.request(
                self.api.method, _target(parts), body=body, headers=self._headers(parts, body)
            )
            response = connection.getresponse()
            content = response.read(MAX_PAGE_BYTES + 1)
        except TimeoutError:
            raise _Retry(f"no answer within the timeout of {self.api.timeout:g} s") from None
        except (ssl.SSLError, http.client.InvalidURL) as error:
            raise self.error(url, str(error)) from None
        except (OSError, http.client.HTTPException) as error:
            raise _Retry(f"the connection failed ({error or type(error).__name__})") from None
        finally:
            connection.close()
        return response.status, self._payload(url, response, content)

    def _headers(self, parts: SplitResult, body: bytes | None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if body is not None:
            headers["Content-Type"] = "application/json"
        headers.update(self.plain)
        if _origin(parts) == self.origin:
            headers.update(self.secret)
        return headers

    def _payload(self, url: str, response: http.client.HTTPResponse, content: bytes) -> Any:
        status = response.status
        excerpt = content[: EXCERPT * 4].decode("utf-8", "replace")[:EXCERPT]
        answered = f"answered {status} {response.reason}".rstrip()
        if status == 429 or status >= 500:
            raise _Retry(f"{answered}: {excerpt}", wait=_retry_after(response))
        if 300 <= status < 400:
            location = response.getheader("Location", "nowhere")
            raise self.error(url, f"{answered}, redirecting to {location}; give the final URL.")
        if status >= 400:
            hint = " (check the credentials)" if status in (401, 403) else ""
            raise self.error(url, f"{answered}{hint}: {excerpt}")
        if len(content) > MAX_PAGE_BYTES:
            raise self.error(url, f"a page is larger than {MAX_PAGE_BYTES // 2**20} MB.")
        try:
            return json.loads(content)
        except ValueError as error:
            raise self.error(url, f"the answer is not JSON ({error}): {excerpt!r}") from None

    def error(self, url: str, cause: str) -> DataSourceError:
        return DataSourceError(self.redacted(f"{self.api.method} {shown(url)}: {cause}"))

    def redacted(self, message: str) -> str:
        for secret in self.secrets:
            message = message.replace(secret, "[secret]")
        return message


def _environment(variable: str, header: str) -> str:
    value = os.environ.get(variable)
    if not value:
        raise DataSourceError(
            f"The environment variable {variable} (for the header {header}) is not set on the "
            f"server."
        )
    return value


def _origin(parts: SplitResult) -> tuple[str, str, int | None]:
    host = (parts.hostname or "").rstrip(".")
    return parts.scheme, host, parts.port or DEFAULT_PORTS.get(parts.scheme)


def shown(url: str) -> str:
    """The URL without a user name or password, short enough for a message."""
    parts = urlsplit(url)
    text = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
    return text if len(text) <= 300 else text[:300] + "…"


def _target(parts: SplitResult) -> str:
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _retry_after(response: http.client.HTTPResponse) -> float | None:
    value = (response.getheader("Retry-After") or "").strip()
    if value.isdigit():
        return float(value)
    try:
        return max((parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds(), 0)
    except (TypeError, ValueError):
        return None
