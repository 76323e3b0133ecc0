"""The events an incident is made of: frozen, past tense, versioned.

Every event has ``version`` (1, 2, 3... within its incident), ``at`` (timezone-aware UTC, from the
Clock), ``by`` (who acted; None where the system did) and ``type`` (the class name). An
:class:`~incident_flow.Incident` is the fold of its events (``_incident.py``).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import attrs

from .alerts import Alert
from .event_base import Event, _strings
from .events_storms import (
    AlertGrouped,
    AlertSilenced,
    GroupStarted,
    IncidentDismissed,
    PageHeld,
    PageReleased,
    SilenceLifted,
)
from .events_teams import (
    ChannelNotOpened,
    ChannelOpened,
    ChannelRequested,
    CommanderReminded,
    CommanderScheduled,
    RoleAssigned,
    TeamReassigned,
)
from .runbooks import Runbook
from .severity import Severity

__all__ = [
    "EVENT_TYPES",
    "ActionApplied",
    "ActionIgnored",
    "ActionItemCompleted",
    "ActionItemRaised",
    "ActionItemWaived",
    "AlertGrouped",
    "AlertRecovered",
    "AlertRepeated",
    "AlertSilenced",
    "ChannelNotOpened",
    "ChannelOpened",
    "ChannelRequested",
    "CommanderReminded",
    "CommanderScheduled",
    "DeliveryFailed",
    "Escalated",
    "Event",
    "FollowUpExported",
    "GroupStarted",
    "IncidentAcknowledged",
    "IncidentClassified",
    "IncidentClosed",
    "IncidentDismissed",
    "IncidentNotified",
    "IncidentReopened",
    "IncidentResolved",
    "IncidentTriggered",
    "MessageDelivered",
    "NoteAdded",
    "PageHeld",
    "PageReleased",
    "PostMortemAmended",
    "PostMortemApproved",
    "PostMortemChangesRequested",
    "PostMortemMerged",
    "PostMortemPublished",
    "PostMortemReviewClosed",
    "PostMortemRevised",
    "PostMortemStarted",
    "PostMortemSubmitted",
    "Reminded",
    "ReminderScheduled",
    "RoleAssigned",
    "RunbookAdded",
    "RunbookStarted",
    "RunbookUpdated",
    "SeverityChanged",
    "SilenceLifted",
    "TeamReassigned",
]


@attrs.frozen(kw_only=True)
class IncidentTriggered(Event):
    """An alert opened a new incident.

    ``team``: the team that owns it (the policy's routing; None when the policy declares no
    teams, or in an event stored before teams were); ``service``: its alert's ``service``
    label, when it has one.
    """

    incident_id: str
    alert: Alert
    title: str
    dedup_key: str
    team: str | None = None
    service: str | None = None


@attrs.frozen(kw_only=True)
class IncidentClassified(Event):
    """The incident got its severity (``source``: ``alert``, ``catalog`` or ``default``)."""

    trigger: ClassVar[str | None] = "classify"

    severity: Severity
    source: str
    critical: bool
    postmortem_required: bool
    runbook: Runbook | None = None


@attrs.frozen(kw_only=True)
class IncidentNotified(Event):
    """Slack was queued for the incident and, when ``paged``, a page too."""

    trigger: ClassVar[str | None] = "notify"

    paged: bool
    #: When an unacknowledged page escalates (None: it never does).
    escalate_at: datetime | None = None
    #: Who the first page went to (a schedule's on-call people, as they were then).
    targets: tuple[str, ...] = attrs.field(default=(), converter=_strings)


@attrs.frozen(kw_only=True)
class SeverityChanged(Event):
    """Someone reclassified the incident; ``paged`` when that upgrade queued a page.

    ``postmortem_required`` is what the new severity asks for; the incident keeps an obligation
    it already had.
    """

    old: Severity
    new: Severity
    critical: bool
    postmortem_required: bool
    paged: bool = False
    #: The escalation timer from now on (an upgrade restarts it; None stops it).
    escalate_at: datetime | None = None


@attrs.frozen(kw_only=True)
class IncidentAcknowledged(Event):
    """A responder acknowledged the incident.

    ``happened_at`` is when, by the vendor's clock, when they acknowledged in a vendor's tool
    (never before the incident, never after the event); None: at ``at``.
    """

    happened_at: datetime | None = None


@attrs.frozen(kw_only=True)
class RunbookStarted(Event):
    """Responders started working a runbook (None when none was found)."""

    trigger: ClassVar[str | None] = "start_runbook"

    runbook: Runbook | None


@attrs.frozen(kw_only=True)
class ActionItemRaised(Event):
    """A follow-up was recorded (``kind``: ``add_runbook``, ``update_runbook``, ``follow_up``)."""

    item_id: str
    kind: str
    description: str
    runbook: str | None = None
    #: Who is to do it (a ``follow_up`` may name them; None: nobody named).
    owner: str | None = None


@attrs.frozen(kw_only=True)
class ActionItemCompleted(Event):
    """An action item was done (by the event that settled it)."""

    item_id: str


@attrs.frozen(kw_only=True)
class ActionItemWaived(Event):
    """An action item was waived, with the reason."""

    item_id: str
    reason: str


@attrs.frozen(kw_only=True)
class FollowUpExported(Event):
    """An item's issue opened in the tracker (``github``/``jira``): its ``key`` and ``url``."""

    item_id: str
    tracker: str
    key: str
    url: str


@attrs.frozen(kw_only=True)
class IncidentResolved(Event):
    """The incident was resolved (``happened_at``: as for :class:`IncidentAcknowledged`)."""

    trigger: ClassVar[str | None] = "resolve"

    summary: str = ""
    happened_at: datetime | None = None


@attrs.frozen(kw_only=True)
class IncidentReopened(Event):
    """A resolved incident was reopened; ``paged`` when that queued a new page."""

    trigger: ClassVar[str | None] = "reopen"

    paged: bool = False
    escalate_at: datetime | None = None


@attrs.frozen(kw_only=True)
class PostMortemStarted(Event):
    """The post-mortem was started by its author."""

    trigger: ClassVar[str | None] = "start_postmortem"

    author: str
    impact: str = ""
    root_cause: str = ""
    learnings: tuple[str, ...] = attrs.field(default=(), converter=_strings)


@attrs.frozen(kw_only=True)
class PostMortemApproved(Event):
    """A reviewer approved the post-mortem."""

    reviewer: str
    #: When the reviewer did it, as their tool says (an older review never overrides it).
    happened_at: datetime | None = None


@attrs.frozen(kw_only=True)
class PostMortemAmended(Event):
    """The author changed the draft; a field left None keeps what it said."""

    impact: str | None = None
    root_cause: str | None = None
    learnings: tuple[str, ...] | None = attrs.field(
        default=None, converter=attrs.converters.optional(_strings)
    )


@attrs.frozen(kw_only=True)
class PostMortemSubmitted(Event):
    """The draft went to review: ``reviewers`` were asked, ``review`` says where.

    ``review`` is ``pull_request`` (approvals come from the pull request's reviews),
    ``branch`` (a local branch, approvals by command) or ``command`` (no branch at all).
    """

    reviewers: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    review: str = "command"


@attrs.frozen(kw_only=True)
class PostMortemChangesRequested(Event):
    """A reviewer asked for changes: their approval, if any, no longer counts."""

    reviewer: str
    text: str = ""
    #: When the reviewer did it, as their tool says (an older review never overrides it).
    happened_at: datetime | None = None


@attrs.frozen(kw_only=True)
class PostMortemRevised(Event):
    """Commits pushed to the post-mortem's branch changed its text (read back from it)."""

    impact: str = ""
    root_cause: str = ""
    learnings: tuple[str, ...] = attrs.field(default=(), converter=_strings)


@attrs.frozen(kw_only=True)
class PostMortemMerged(Event):
    """The post-mortem is on the base branch (or saved, without one), at ``location``."""

    location: str


@attrs.frozen(kw_only=True)
class PostMortemReviewClosed(Event):
    """The pull request was closed without merging: the post-mortem is still owed."""

    reason: str = ""


@attrs.frozen(kw_only=True)
class PostMortemPublished(Event):
    """The post-mortem is merged with the required approvals: the runbook updates follow.

    (Stored by 0.1 when publishing was accepted, before the file was saved; its location
    then arrives with the publisher's delivery.)
    """

    trigger: ClassVar[str | None] = "publish_postmortem"

    approvals: tuple[str, ...] = attrs.field(default=(), converter=_strings)


@attrs.frozen(kw_only=True)
class RunbookAdded(Event):
    """A missing runbook was written."""

    runbook: Runbook


@attrs.frozen(kw_only=True)
class RunbookUpdated(Event):
    """A runbook was updated from the incident's learnings."""

    name: str
    note: str


@attrs.frozen(kw_only=True)
class Escalated(Event):
    """Nobody acknowledged in time: the next escalation level was paged.

    ``level`` 1 is the first escalation (level 0 is the first page); ``escalate_at`` is when
    the next one is due, or None when this was the last.
    """

    level: int
    targets: tuple[str, ...] = attrs.field(converter=_strings)
    escalate_at: datetime | None = None


@attrs.frozen(kw_only=True)
class ReminderScheduled(Event):
    """What the incident still owes, and when it is reminded (None: nothing owed any more).

    ``about`` is ``postmortem`` (a required post-mortem is not published) or ``action_items``.
    """

    about: str | None
    remind_at: datetime | None


@attrs.frozen(kw_only=True)
class Reminded(Event):
    """A follow-up was reminded in the chat thread; the next reminder is at ``remind_at``."""

    about: str
    remind_at: datetime | None


@attrs.frozen(kw_only=True)
class IncidentClosed(Event):
    """The incident was closed; nothing changes it any more."""

    trigger: ClassVar[str | None] = "close"


@attrs.frozen(kw_only=True)
class NoteAdded(Event):
    """A status update for the timeline and the Slack thread."""

    text: str


@attrs.frozen(kw_only=True)
class AlertRepeated(Event):
    """The incident's alert fired again (no new incident, no new page).

    ``said`` when this repeat was summed up in the chat thread (at most one per
    ``Policy.repeat_summary_every``).
    """

    alert: Alert
    said: bool = True


@attrs.frozen(kw_only=True)
class AlertRecovered(Event):
    """The source reported the incident's alert as recovered."""

    alert: Alert


@attrs.frozen(kw_only=True)
class MessageDelivered(Event):
    """An outbox message reached its channel (``receipt``: what the receiver returned)."""

    message_id: str
    channel: str
    kind: str
    attempts: int
    receipt: str | None = None


@attrs.frozen(kw_only=True)
class DeliveryFailed(Event):
    """An attempt to deliver an outbox message failed; it stays pending until next_attempt_at."""

    message_id: str
    channel: str
    kind: str
    attempts: int
    error: str
    next_attempt_at: datetime


@attrs.frozen(kw_only=True)
class ActionApplied(Event):
    """What a person did in a vendor's tool was applied; the command's events follow.

    ``by`` is the person (through ``Policy.people``); ``identity`` is who the vendor said.
    """

    source: str
    kind: str
    identity: str
    delivery_id: str | None = None


@attrs.frozen(kw_only=True)
class ActionIgnored(Event):
    """What a person did in a vendor's tool was not applied: ``reason`` says why.

    A late or out-of-order action (a resolve after the incident closed) is kept here rather
    than lost or raised, so the vendor gets its answer and the timeline shows it.
    """

    source: str
    kind: str
    identity: str
    reason: str
    delivery_id: str | None = None


#: Every event type by its ``type`` name.
EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls
    for cls in (
        IncidentTriggered,
        IncidentClassified,
        IncidentNotified,
        SeverityChanged,
        IncidentAcknowledged,
        RunbookStarted,
        ActionItemRaised,
        ActionItemCompleted,
        ActionItemWaived,
        FollowUpExported,
        IncidentResolved,
        IncidentReopened,
        PostMortemStarted,
        PostMortemApproved,
        PostMortemPublished,
        PostMortemAmended,
        PostMortemSubmitted,
        PostMortemChangesRequested,
        PostMortemRevised,
        PostMortemMerged,
        PostMortemReviewClosed,
        RunbookAdded,
        RunbookUpdated,
        IncidentClosed,
        NoteAdded,
        TeamReassigned,
        RoleAssigned,
        CommanderScheduled,
        CommanderReminded,
        AlertRepeated,
        AlertRecovered,
        MessageDelivered,
        DeliveryFailed,
        Escalated,
        ReminderScheduled,
        Reminded,
        ActionApplied,
        ActionIgnored,
        GroupStarted,
        AlertGrouped,
        PageHeld,
        PageReleased,
        AlertSilenced,
        SilenceLifted,
        IncidentDismissed,
        ChannelRequested,
        ChannelOpened,
        ChannelNotOpened,
    )
}
