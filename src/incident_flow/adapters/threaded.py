"""A kept import path: the code lives in :mod:`incident_flow.adapters.stores.threaded`.

Issue 30 grouped the adapters into stores, channels and publishers; this path still imports
what it always did.
"""

from .stores.threaded import (
    AsyncSQLiteStore,
    ThreadedNotifier,
    ThreadedPublisher,
    ThreadedStore,
    as_async_notifier,
    as_async_publisher,
    as_async_store,
)

__all__ = [
    "AsyncSQLiteStore",
    "ThreadedNotifier",
    "ThreadedPublisher",
    "ThreadedStore",
    "as_async_notifier",
    "as_async_publisher",
    "as_async_store",
]
