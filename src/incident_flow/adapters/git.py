"""A kept import path: the code lives in :mod:`incident_flow.adapters.publishers.git`.

Issue 30 grouped the adapters into stores, channels and publishers; this path still imports
what it always did.
"""

from .publishers.git import (
    GitPublisher,
)

__all__ = ["GitPublisher"]
