"""Delivery channels: one module per kind, one interface (`base.Channel`), this registry.

Each channel is imported the first time it is used (the storage channel loads boto3).
`get_channel` raises KeyError for a kind with no channel.
"""

from functools import cache

from django.utils.module_loading import import_string

from delivery.channels.base import Channel

CHANNELS: dict[str, str] = {
    "email": "delivery.channels.email.CHANNEL",
    "storage": "delivery.channels.storage.CHANNEL",
    "webhook": "delivery.channels.webhook.CHANNEL",
}


@cache
def get_channel(kind: str) -> Channel:
    return import_string(CHANNELS[kind])
