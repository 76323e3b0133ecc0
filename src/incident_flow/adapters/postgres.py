"""A kept import path: the code lives in :mod:`incident_flow.adapters.stores.postgres`.

Issue 30 grouped the adapters into stores, channels and publishers; this path still imports
what it always did.
"""

from .stores.postgres import (
    PostgresStore,
)

__all__ = ["PostgresStore"]
