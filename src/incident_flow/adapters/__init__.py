"""Adapters: stores, notifiers and publishers behind the ports of :mod:`incident_flow.ports`."""

from __future__ import annotations

from ._http import AsyncHttpClient, HttpClient
from .channels.notifiers import LogNotifier, RecordingNotifier
from .channels.opsgenie import AsyncOpsgeniePager, OpsgeniePager
from .channels.pagerduty import AsyncPagerDutyPager, PagerDutyPager
from .channels.slack import AsyncSlackNotifier, SlackNotifier
from .channels.slack_pager import AsyncSlackDMPager, SlackDMPager
from .channels.twilio import AsyncTwilioSmsPager, TwilioSmsPager
from .channels.webhook import AsyncWebhookNotifier, WebhookNotifier
from .publishers.folder import FolderPublisher
from .publishers.git import GitPublisher
from .publishers.github import GitHubPublisher
from .stores.memory import MemoryStore
from .stores.postgres import PostgresStore
from .stores.postgres_async import AsyncPostgresStore
from .stores.sqlite import SQLiteStore
from .stores.threaded import AsyncSQLiteStore, ThreadedNotifier, ThreadedPublisher, ThreadedStore

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
