"""A kept import path: the code lives in :mod:`incident_flow.adapters.publishers.github`.

Issue 30 grouped the adapters into stores, channels and publishers; this path still imports
what it always did.
"""

from .publishers.github import (
    API_URL,
    GitHubPublisher,
)

__all__ = ["API_URL", "GitHubPublisher"]
