"""Adapters: stores, notifiers and publishers behind the ports of :mod:`incident_flow.ports`."""

from __future__ import annotations

from .folder import FolderPublisher
from .memory import MemoryStore
from .notifiers import LogNotifier, RecordingNotifier
from .pagerduty import PagerDutyPager
from .postgres import PostgresStore
from .slack import SlackNotifier
from .sqlite import SQLiteStore

__all__ = [
    "FolderPublisher",
    "LogNotifier",
    "MemoryStore",
    "PagerDutyPager",
    "PostgresStore",
    "RecordingNotifier",
    "SQLiteStore",
    "SlackNotifier",
]
