"""A kept import path: the code lives in :mod:`incident_flow.adapters.channels.webhook`.

Issue 30 grouped the adapters into stores, channels and publishers; this path still imports
what it always did.
"""

from .channels.webhook import (
    EVENT_VERSION,
    AsyncWebhookNotifier,
    WebhookNotifier,
    signature,
)

__all__ = ["EVENT_VERSION", "AsyncWebhookNotifier", "WebhookNotifier", "signature"]
