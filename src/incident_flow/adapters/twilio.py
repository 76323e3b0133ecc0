"""A kept import path: the code lives in :mod:`incident_flow.adapters.channels.twilio`.

Issue 30 grouped the adapters into stores, channels and publishers; this path still imports
what it always did.
"""

from .channels.twilio import (
    API_URL,
    AsyncTwilioSmsPager,
    TwilioSmsPager,
)

__all__ = ["API_URL", "AsyncTwilioSmsPager", "TwilioSmsPager"]
