"""Webhook delivery: a signed JSON POST, signed per the Standard Webhooks specification.

Config: {"url": "https://…", "secret": "…" (write-only, at least 16 characters)}.
Headers (https://www.standardwebhooks.com):
  `webhook-id`         the delivery's id, the same on every retry: receivers drop duplicates by it
  `webhook-timestamp`  unix seconds of this attempt
  `webhook-signature`  `v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">`
The signing key is the secret's UTF-8 bytes, or, for a secret written `whsec_<base64>` as the
specification issues them, the decoded bytes; so a receiver verifies with
`standardwebhooks.Webhook(secret.encode())`, or `Webhook(secret)` for a `whsec_` secret.
Deprecated, sent for one more release: `X-Signature-256: sha256=<hex HMAC-SHA256 of the raw
body with the secret's UTF-8 bytes>` (no timestamp: replayable), `X-Delivery-Id` and
`X-Delivery-Timestamp` (the same values as `webhook-id` and `webhook-timestamp`).
Any 2xx is success; redirects are not followed. The request goes to the addresses the outbound
check approved, so a DNS answer that changes between the check and the connection cannot point
it at an internal host.
"""

import base64
import binascii
import hashlib
import hmac
import http.client
import json
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

from config.outbound import (
    OutboundURLError,
    outbound_url_addresses,
    outbound_url_check,
    pinned_connection,
)
from delivery.channels.base import (
    ConfigError,
    DeliveryError,
    DeliveryMessage,
    DeliveryResult,
    config_public,
    config_unknown_fields,
    test_message,
)

USER_AGENT = "ReportingHub-Webhook/1"
MIN_SECRET_LENGTH = 16
WHSEC_PREFIX = "whsec_"
MAX_URL_LENGTH = 2000
RESPONSE_EXCERPT = 200


class WebhookChannel:
    kind = "webhook"
    secret_fields = ("secret",)

    def config_validate(
        self, config: dict, *, allowed_email_domains: list[str], organization_id: str
    ) -> dict:
        errors = config_unknown_fields(config, ("url", "secret"))
        if "config" in errors:
            raise ConfigError(errors)
        url, secret = config.get("url"), config.get("secret")
        found = {"url": _url_problems(url), "secret": _secret_problems(secret)}
        errors.update({field: problems for field, problems in found.items() if problems})
        if errors:
            raise ConfigError(errors)
        return {"url": url.strip(), "secret": secret}

    def config_public(self, config: dict) -> dict:
        return config_public(config, self.secret_fields)

    def deliver(self, config: dict, message: DeliveryMessage) -> DeliveryResult:
        body = json.dumps(webhook_payload(message), cls=DjangoJSONEncoder, ensure_ascii=False)
        return _post(config["url"], config["secret"], body.encode(), message.delivery_id)

    def send_test(
        self, config: dict, *, organization_id: str, organization_name: str
    ) -> DeliveryResult:
        return self.deliver(
            config,
            test_message(organization_id=organization_id, organization_name=organization_name),
        )


def webhook_payload(message: DeliveryMessage) -> dict:
    return {
        "delivery_id": message.delivery_id,
        "execution_id": message.execution_id,
        "template": {"name": message.template_name, "slug": message.template_slug},
        "parameters": message.parameters,
        "status": message.status,
        "row_count": message.row_count,
        "generated_at": message.generated_at,
        "slot_date": message.slot_date,
        "files": [
            {
                "format": file.format,
                "filename": file.filename,
                "size": file.size,
                "sha256": file.sha256,
                "content_type": file.content_type,
                "download_url": file.download_url,
            }
            for file in message.files
        ],
    }


def signature(secret: str, body: bytes) -> str:
    """The deprecated `X-Signature-256` value: the body alone, so a capture replays forever."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signing_key(secret: str) -> bytes:
    """The Standard Webhooks key: a `whsec_<base64>` secret's decoded bytes, else its UTF-8."""
    if not secret.startswith(WHSEC_PREFIX):
        return secret.encode()
    # Padding optional, as the standard's own libraries read it.
    encoded = secret.removeprefix(WHSEC_PREFIX).rstrip("=")
    return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)


def standard_signature(secret: str, *, webhook_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256>` of `{id}.{timestamp}.{body}`, per Standard Webhooks."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secret: str, *, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The signature headers of one attempt: the standard ones and the deprecated ones."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_signature(
            secret, webhook_id=webhook_id, timestamp=timestamp, body=body
        ),
        "X-Signature-256": signature(secret, body),
        "X-Delivery-Id": webhook_id,
        "X-Delivery-Timestamp": str(timestamp),
    }


def _url_problems(url: object) -> list[str]:
    if not isinstance(url, str) or not url.strip():
        return ["Give the URL to POST to."]
    if len(url) > MAX_URL_LENGTH:
        return [f"At most {MAX_URL_LENGTH} characters."]
    if urlsplit(url.strip()).username is not None:
        return ["No user name or password in the URL: receivers check the signature."]
    try:
        outbound_url_check(url.strip())
    except OutboundURLError as exc:
        return [str(exc)]
    return []


def _secret_problems(secret: object) -> list[str]:
    if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH:
        return [f"Give a secret of at least {MIN_SECRET_LENGTH} characters."]
    try:
        signing_key(secret)
    except binascii.Error:
        return [f"A secret that starts with {WHSEC_PREFIX} must be base64 after it."]
    return []


def _post(url: str, secret: str, body: bytes, delivery_id: str) -> DeliveryResult:
    try:
        addresses = outbound_url_addresses(url)
    except OutboundURLError as exc:
        raise DeliveryError(str(exc)) from exc
    parts = urlsplit(url)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **signed_headers(secret, webhook_id=delivery_id, timestamp=int(time.time()), body=body),
    }
    connection = pinned_connection(
        parts.scheme,
        parts.hostname,
        parts.port,
        addresses,
        timeout=getattr(settings, "DELIVERY_WEBHOOK_TIMEOUT", 10),
    )
    try:
        connection.request("POST", _target(parts.path, parts.query), body=body, headers=headers)
        response = connection.getresponse()
        excerpt = response.read(4 * RESPONSE_EXCERPT).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as exc:
        raise DeliveryError(f"Could not reach {parts.hostname}: {exc}") from exc
    finally:
        connection.close()
    return _result(response, excerpt, host=parts.hostname)


def _target(path: str, query: str) -> str:
    return (path or "/") + (f"?{query}" if query else "")


def _result(response: http.client.HTTPResponse, excerpt: str, *, host: str) -> DeliveryResult:
    status = response.status
    if 200 <= status < 300:
        return DeliveryResult(response_status=status, detail=f"{host} answered {status}.")
    if 300 <= status < 400:
        location = response.getheader("Location", "nowhere")
        raise DeliveryError(
            f"{host} answered {status}, redirecting to {location}; redirects are not "
            f"followed, so give the final URL.",
            response_status=status,
        )
    raise DeliveryError(
        f"{host} answered {status}: {excerpt[:RESPONSE_EXCERPT]}", response_status=status
    )


CHANNEL = WebhookChannel()
