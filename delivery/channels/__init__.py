"""Delivery channels: one module per kind, one interface (`base.Channel`), this registry.

`get_channel` raises KeyError for a kind with no channel.
"""

from delivery.channels import email, storage, webhook
from delivery.channels.base import Channel

CHANNELS: dict[str, Channel] = {
    "email": email.CHANNEL,
    "storage": storage.CHANNEL,
    "webhook": webhook.CHANNEL,
}


def get_channel(kind: str) -> Channel:
    return CHANNELS[kind]
