"""A kept import path: the code lives in :mod:`incident_flow.adapters.channels.slack`.

Issue 30 grouped the adapters into stores, channels and publishers; this path still imports
what it always did.
"""

from .channels.slack import (
    API_URL,
    AsyncSlackNotifier,
    SlackNotifier,
    blocks,
    buttons,
    escape,
    link_target,
    metadata,
)

__all__ = [
    "API_URL",
    "AsyncSlackNotifier",
    "SlackNotifier",
    "blocks",
    "buttons",
    "escape",
    "link_target",
    "metadata",
]
