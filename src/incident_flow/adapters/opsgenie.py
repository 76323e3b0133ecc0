"""A kept import path: the code lives in :mod:`incident_flow.adapters.channels.opsgenie`.

Issue 30 grouped the adapters into stores, channels and publishers; this path still imports
what it always did.
"""

from .channels.opsgenie import (
    API_URL,
    AsyncOpsgeniePager,
    OpsgeniePager,
)

__all__ = ["API_URL", "AsyncOpsgeniePager", "OpsgeniePager"]
