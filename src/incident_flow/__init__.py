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

from ._core.alerts import Alert
from ._core.clock import SystemClock
from ._core.incident import ActionItem, Incident, PostMortem
from ._core.messages import Notification, OutboxMessage
from ._core.people import Person
from ._core.policy import EscalationLevel, Policy
from ._core.redact import RedactSecrets
from ._core.roles import RoleChange, Roles
from ._core.rooms import IncidentChannels
from ._core.runbooks import Runbook, RunbookCatalog
from ._core.severity import Severity
from ._core.storms import GroupingRule, LabelMatcher, PageAfter, Silence
from ._core.teams import Route, Team
from ._core.trackers import TrackerPolicy
from ._drivers.async_flow import AsyncIncidentFlow
from ._drivers.flow import IncidentFlow
from ._drivers.worker import WorkerStats, run_worker, run_worker_async
from ._responders.actions import Action
from ._review.document import PostMortemDocument
from ._runbooks.catalog import Catalog, RunbookRevision
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
    "IncidentChannels",
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
    "RoleChange",
    "Roles",
    "Route",
    "Runbook",
    "RunbookCatalog",
    "RunbookRevision",
    "SQLiteStore",
    "Severity",
    "Silence",
    "SlackNotifier",
    "StorageError",
    "SystemClock",
    "Team",
    "TrackerPolicy",
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
