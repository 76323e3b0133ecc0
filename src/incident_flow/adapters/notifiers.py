"""A kept import path: the code lives in :mod:`incident_flow.adapters.channels.notifiers`.

Issue 30 grouped the adapters into stores, channels and publishers; this path still imports
what it always did.
"""

from .channels.notifiers import (
    LogNotifier,
    RecordingNotifier,
)

__all__ = ["LogNotifier", "RecordingNotifier"]
