"""Adapters: stores, notifiers and publishers behind the ports of :mod:`incident_flow.ports`."""

from __future__ import annotations

from ._http import AsyncHttpClient, HttpClient
from .folder import FolderPublisher
from .git import GitPublisher
from .github import GitHubPublisher
from .memory import MemoryStore
from .notifiers import LogNotifier, RecordingNotifier
from .opsgenie import AsyncOpsgeniePager, OpsgeniePager
from .pagerduty import AsyncPagerDutyPager, PagerDutyPager
from .postgres import PostgresStore
from .postgres_async import AsyncPostgresStore
from .slack import AsyncSlackNotifier, SlackNotifier
from .slack_pager import AsyncSlackDMPager, SlackDMPager
from .sqlite import SQLiteStore
from .threaded import AsyncSQLiteStore, ThreadedNotifier, ThreadedPublisher, ThreadedStore
from .twilio import AsyncTwilioSmsPager, TwilioSmsPager
from .webhook import AsyncWebhookNotifier, WebhookNotifier

__all__ = [
    "AsyncHttpClient",
    "AsyncOpsgeniePager",
    "AsyncPagerDutyPager",
    "AsyncPostgresStore",
    "AsyncSQLiteStore",
    "AsyncSlackDMPager",
    "AsyncSlackNotifier",
    "AsyncTwilioSmsPager",
    "AsyncWebhookNotifier",
    "FolderPublisher",
    "GitHubPublisher",
    "GitPublisher",
    "HttpClient",
    "LogNotifier",
    "MemoryStore",
    "OpsgeniePager",
    "PagerDutyPager",
    "PostgresStore",
    "RecordingNotifier",
    "SQLiteStore",
    "SlackDMPager",
    "SlackNotifier",
    "ThreadedNotifier",
    "ThreadedPublisher",
    "ThreadedStore",
    "TwilioSmsPager",
    "WebhookNotifier",
]
