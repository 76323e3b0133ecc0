"""A kept import path: the code lives in :mod:`incident_flow.adapters.publishers.folder`.

Issue 30 grouped the adapters into stores, channels and publishers; this path still imports
what it always did.
"""

from .publishers.folder import (
    FolderPublisher,
)

__all__ = ["FolderPublisher"]
