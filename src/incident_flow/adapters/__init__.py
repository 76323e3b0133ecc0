"""Adapters: stores, notifiers and publishers behind the ports of :mod:`incident_flow.ports`."""

from __future__ import annotations

from .folder import FolderPublisher
from .git import GitPublisher
from .github import GitHubPublisher
from .memory import MemoryStore
from .notifiers import LogNotifier, RecordingNotifier
from .opsgenie import OpsgeniePager
from .pagerduty import PagerDutyPager
from .postgres import PostgresStore
from .postgres_async import AsyncPostgresStore
from .slack import SlackNotifier
from .sqlite import SQLiteStore
from .threaded import AsyncSQLiteStore, ThreadedNotifier, ThreadedPublisher, ThreadedStore
from .webhook import WebhookNotifier

__all__ = [
    "AsyncPostgresStore",
    "AsyncSQLiteStore",
    "FolderPublisher",
    "GitHubPublisher",
    "GitPublisher",
    "LogNotifier",
    "MemoryStore",
    "OpsgeniePager",
    "PagerDutyPager",
    "PostgresStore",
    "RecordingNotifier",
    "SQLiteStore",
    "SlackNotifier",
    "ThreadedNotifier",
    "ThreadedPublisher",
    "ThreadedStore",
    "WebhookNotifier",
]
