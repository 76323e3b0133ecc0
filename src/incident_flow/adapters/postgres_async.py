"""A kept import path: the code lives in :mod:`incident_flow.adapters.stores.postgres_async`.

Issue 30 grouped the adapters into stores, channels and publishers; this path still imports
what it always did.
"""

from .stores.postgres_async import (
    AsyncPostgresStore,
)

__all__ = ["AsyncPostgresStore"]
