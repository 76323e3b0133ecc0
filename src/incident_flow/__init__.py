"""incident_flow: your team's incident process as code.

An alert comes in, it is classified P1..P5, Slack is told and on-call is paged for critical
ones, responders work the runbook, a post-mortem is written and reviewed, and the learnings
flow back into the runbooks::

    from incident_flow import Alert, IncidentFlow

    flow = IncidentFlow()
    incident = flow.trigger(Alert(source="manual", name="CheckoutDown", title="Checkout is down",
                                  severity="P1"))
    flow.acknowledge(incident.id, by="alice")
"""

from __future__ import annotations

from importlib import metadata as _metadata

from ._actions import Action
from ._alerts import Alert
from ._async_flow import AsyncIncidentFlow
from ._catalog import Catalog, RunbookRevision
from ._clock import SystemClock
from ._flow import IncidentFlow
from ._incident import ActionItem, Incident, PostMortem
from ._messages import Notification, OutboxMessage
from ._people import Person
from ._policy import EscalationLevel, Policy
from ._postmortem import PostMortemDocument
from ._redact import RedactSecrets
from ._runbooks import Runbook, RunbookCatalog
from ._severity import Severity
from ._storms import GroupingRule, LabelMatcher, PageAfter, Silence
from ._worker import WorkerStats, run_worker, run_worker_async
from .adapters import (
    AsyncOpsgeniePager,
    AsyncPagerDutyPager,
    AsyncPostgresStore,
    AsyncSlackNotifier,
    AsyncSQLiteStore,
    AsyncWebhookNotifier,
    FolderPublisher,
    GitHubPublisher,
    GitPublisher,
    LogNotifier,
    MemoryStore,
    OpsgeniePager,
    PagerDutyPager,
    PostgresStore,
    RecordingNotifier,
    SlackNotifier,
    SQLiteStore,
    WebhookNotifier,
)
from .exceptions import (
    ConcurrencyError,
    DeliveryError,
    IncidentFlowError,
    IncidentNotFound,
    InvalidCommand,
    InvalidPayload,
    InvalidPolicy,
    InvalidSignature,
    InvalidTransition,
    PolicyViolation,
    StorageError,
)

__all__ = [
    "Action",
    "ActionItem",
    "Alert",
    "AsyncIncidentFlow",
    "AsyncOpsgeniePager",
    "AsyncPagerDutyPager",
    "AsyncPostgresStore",
    "AsyncSQLiteStore",
    "AsyncSlackNotifier",
    "AsyncWebhookNotifier",
    "Catalog",
    "ConcurrencyError",
    "DeliveryError",
    "EscalationLevel",
    "FolderPublisher",
    "GitHubPublisher",
    "GitPublisher",
    "GroupingRule",
    "Incident",
    "IncidentFlow",
    "IncidentFlowError",
    "IncidentNotFound",
    "InvalidCommand",
    "InvalidPayload",
    "InvalidPolicy",
    "InvalidSignature",
    "InvalidTransition",
    "LabelMatcher",
    "LogNotifier",
    "MemoryStore",
    "Notification",
    "OpsgeniePager",
    "OutboxMessage",
    "PageAfter",
    "PagerDutyPager",
    "Person",
    "Policy",
    "PolicyViolation",
    "PostMortem",
    "PostMortemDocument",
    "PostgresStore",
    "RecordingNotifier",
    "RedactSecrets",
    "Runbook",
    "RunbookCatalog",
    "RunbookRevision",
    "SQLiteStore",
    "Severity",
    "Silence",
    "SlackNotifier",
    "StorageError",
    "SystemClock",
    "WebhookNotifier",
    "WorkerStats",
    "run_worker",
    "run_worker_async",
]

try:
    #: The installed distribution's version (pyproject.toml's, as installed): one source.
    __version__ = _metadata.version("incident-flow")
except _metadata.PackageNotFoundError:  # pragma: no cover - run from a tree never installed
    __version__ = "0+unknown"
