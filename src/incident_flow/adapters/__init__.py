"""Adapters: stores, notifiers and publishers behind the ports of :mod:`incident_flow.ports`."""

from __future__ import annotations

from .folder import FolderPublisher
from .memory import MemoryStore
from .notifiers import LogNotifier, RecordingNotifier
from .postgres import PostgresStore
from .sqlite import SQLiteStore

__all__ = [
    "FolderPublisher",
    "LogNotifier",
    "MemoryStore",
    "PostgresStore",
    "RecordingNotifier",
    "SQLiteStore",
]
