"""Incident: the fold of an incident's events, and the values it holds.

One module on purpose (about 610 lines): the fold is one table from each event type to how it
changes the incident; reading an event's effect should never mean opening a second file. The
values it holds besides the incident (an action item, a post-mortem) are in
:mod:`.incident_values`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from . import events as ev
from .alerts import Alert
from .incident_values import ActionItem, PostMortem
from .process import INITIAL_STATE, PROCESS
from .roles import NO_ROLES, RoleChange, assigned, reminded, scheduled
from .runbooks import Runbook
from .severity import Severity
from .storms import PageAfter

__all__ = ["ActionItem", "Incident", "PostMortem", "fold"]

#: States in which a firing alert with the incident's dedup key attaches to (or reopens) it.
_ACCEPTS_ALERTS = frozenset({"notified", "runbook", "resolved"})
_UNRESOLVED = frozenset({"notified", "runbook"})
#: The smallest step of time: a window closed "just before" an instant ends one before it.
_INSTANT = timedelta(microseconds=1)


@attrs.frozen(kw_only=True, slots=False)
class Incident:
    """An incident as its events made it. Frozen: every change is a new event and a new value.

    Attributes:
        id: the incident id.
        state: the process state's name (``notified``, ``runbook``, ``resolved``...).
        severity: the current severity.
        alert: the alert that opened it.
        title: a one-line title.
        dedup_key: firing alerts with this key attach to the incident while it is open.
        runbook: the runbook in use (from the catalog, chosen, or added), or None.
        critical: whether the current severity pages (by the policy when it was set).
        postmortem_required: whether a reviewed post-mortem must be published before it closes;
            once True it stays True.
        paged: whether on-call was paged (the page is committed to the outbox with the event
            that decided it; its delivery is recorded at ``paged_at``).
        paged_at: when the first page was delivered, or None.
        chat_notified: whether the first chat message was delivered (a channel without
            threads gives no ``chat_thread``).
        chat_thread: the receipt of the first chat message (a Slack ``channel:ts``), where
            later updates are threaded, once it was delivered.
        escalation_level: 0 after the first page, 1 after the first escalation...
        escalation_due_at: when the page escalates unless acknowledged first (None: never).
        reminder_due_at: when the owed follow-up (an unpublished post-mortem, open action
            items) is next reminded in the chat thread (None: nothing owed).
        acknowledged_at, acknowledged_by: the acknowledgement of the current page, if any.
        resolved_at, closed_at, created_at, updated_at: timestamps from the events.
        postmortem: the post-mortem, once started.
        action_items: every action item, in the order raised.
        alert_count: how many times the alert fired (1 + repeats).
        repeats_said_at, repeats_said_count: when the chat thread last heard of the repeats,
            and the count it was told then.
        deliveries: the vendors' delivery ids of the actions recorded (applied or ignored),
            so a retried delivery is applied once.
        group, group_rule, group_until: the group its alert started (a grouping rule's key),
            the rule, and until when matching alerts join it (while unresolved).
        members: the dedup keys of the other alerts grouped into it, in the order they came;
            their repeats and recoveries come here too.
        page_hold: the paging threshold a critical incident waits for (None: not held);
            firings: the alerts' firing times it counts (kept while the page is held).
        silence_id, silenced_until: the silence its alert fired in, and when that ends (the
            incident waits unclassified until then).
        team: the team that owns it (from its first alert, or reassigned since; None: the
            policy declared no teams when it opened); service: its first alert's ``service``.
        roles: who holds each role now (``{"commander": "alice"}``); role_changes: every
            assignment and hand-over, oldest first.
        commander_required: whether its severity ever needed a commander (it stays);
            commander_step, commander_due_at: what happens next while nobody leads (a
            ``remind`` of the chat, a ``page`` of the commander rotation) and when.
        incident_channel_name: the name of its own channel, once the policy asked for one;
            incident_channel: that channel's id once it is open (later messages go there);
            incident_channel_error: why it could not be opened (its thread is used instead).
        version: the version of the last event folded in.
    """

    id: str
    state: str
    severity: Severity
    alert: Alert
    title: str
    dedup_key: str
    created_at: datetime
    updated_at: datetime
    version: int
    runbook: Runbook | None = None
    critical: bool = False
    postmortem_required: bool = False
    paged: bool = False
    paged_at: datetime | None = None
    chat_thread: str | None = None
    chat_notified: bool = False
    escalation_level: int = 0
    escalation_due_at: datetime | None = None
    reminder_due_at: datetime | None = None
    reminder_about: str | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    postmortem: PostMortem | None = None
    action_items: tuple[ActionItem, ...] = ()
    alert_count: int = 1
    repeats_said_at: datetime | None = None
    repeats_said_count: int = 1
    deliveries: frozenset[str] = frozenset()
    group: str | None = None
    group_rule: str | None = None
    group_until: datetime | None = None
    members: tuple[str, ...] = ()
    page_hold: PageAfter | None = None
    firings: tuple[datetime, ...] = ()
    silence_id: str | None = None
    silenced_until: datetime | None = None
    team: str | None = None
    service: str | None = None
    roles: Mapping[str, str] = attrs.field(default=NO_ROLES)
    role_changes: tuple[RoleChange, ...] = ()
    commander_required: bool = False
    commander_step: str | None = None
    commander_due_at: datetime | None = None
    incident_channel_name: str | None = None
    incident_channel: str | None = None
    incident_channel_error: str | None = None

    @property
    def open_action_items(self) -> tuple[ActionItem, ...]:
        """The action items neither done nor waived."""
        return tuple(item for item in self.action_items if item.open)

    @property
    def accepts_alerts(self) -> bool:
        """True while a firing alert with this dedup key belongs to this incident.

        That is from ``notified`` through ``resolved`` (a repeat reopens a resolved incident);
        once the post-mortem phase has started, the same alert opens a new incident. A
        silenced alert's incident takes its repeats and recovery while it waits.
        """
        return self.state in _ACCEPTS_ALERTS or self.silenced

    @property
    def silenced(self) -> bool:
        """True while it waits for its silence to end (recorded, not posted nor paged)."""
        return self.state == INITIAL_STATE and self.silenced_until is not None

    @property
    def grouped(self) -> bool:
        """True when it started a group or took in other alerts (stores index more keys)."""
        return self.group is not None or bool(self.members)

    def alert_keys(self) -> tuple[tuple[str, datetime | None], ...]:
        """The keys besides ``dedup_key`` that route alerts here, each with its deadline.

        The grouped alerts' own keys (no deadline) while it accepts alerts, and the group's
        key while it is unresolved and before ``group_until``. Stores index them (see
        :class:`~incident_flow.ports.EventLog`).
        """
        if not self.accepts_alerts:
            return ()
        keys: list[tuple[str, datetime | None]] = [(key, None) for key in self.members]
        if self.joinable(self.updated_at):
            assert self.group is not None  # noqa: S101 - joinable says so
            keys.append((self.group, self.group_until))
        return tuple(keys)

    def joinable(self, now: datetime) -> bool:
        """Whether an alert of its group arriving at ``now`` joins it."""
        return (
            self.group is not None
            and (self.state in _UNRESOLVED or self.silenced)
            and self.group_until is not None
            and now <= self.group_until
        )

    @property
    def next_timer_at(self) -> datetime | None:
        """The earliest of the escalation, reminder and commander timers (what stores index)."""
        escalation, reminder = self.escalation_due_at, self.reminder_due_at
        if self.silenced:
            return self.silenced_until
        if self.commander_due_at is not None:
            reminder = (
                self.commander_due_at if reminder is None else min(reminder, self.commander_due_at)
            )
        if escalation is None or reminder is None:
            return reminder if escalation is None else escalation
        return min(escalation, reminder)

    @property
    def closed(self) -> bool:
        """True once the incident is closed (final)."""
        return self.state == "closed"

    def action_item(self, item_id: str) -> ActionItem | None:
        """Return the action item with this id, or None."""
        for item in self.action_items:
            if item.id == item_id:
                return item
        return None


_Apply = Callable[[Incident, Any], dict[str, Any]]

#: Events after which an incident's ``alert_keys()`` may differ (with any change of state).
_ROUTING = (ev.GroupStarted, ev.AlertGrouped, ev.AlertSilenced, ev.SilenceLifted)


def routes_changed(events: Iterable[ev.Event]) -> bool:
    """Whether these events may change which keys route alerts to their incident.

    A store indexing :meth:`Incident.alert_keys` rewrites them only then: a storm's repeats
    (thousands of appends to one grouped incident) leave them as they are.
    """
    return any(e.trigger is not None or isinstance(e, _ROUTING) for e in events)


def _classified(inc: Incident, e: ev.IncidentClassified) -> dict[str, Any]:
    return {
        "severity": e.severity,
        "critical": e.critical,
        "postmortem_required": inc.postmortem_required or e.postmortem_required,
        "runbook": e.runbook,
    }


def _severity_changed(inc: Incident, e: ev.SeverityChanged) -> dict[str, Any]:
    return {
        "severity": e.new,
        "critical": e.critical,
        "postmortem_required": inc.postmortem_required or e.postmortem_required,
        "paged": inc.paged or e.paged,
        "escalation_due_at": e.escalate_at,
    }


def _acknowledged(inc: Incident, e: ev.IncidentAcknowledged) -> dict[str, Any]:
    if inc.acknowledged_at is not None:
        return {}
    return {
        "acknowledged_at": e.happened_at or e.at,
        "acknowledged_by": e.by,
        "escalation_due_at": None,
    }


def _runbook_started(inc: Incident, e: ev.RunbookStarted) -> dict[str, Any]:
    return {"runbook": e.runbook or inc.runbook}


def _item_raised(inc: Incident, e: ev.ActionItemRaised) -> dict[str, Any]:
    item = ActionItem(
        id=e.item_id, kind=e.kind, description=e.description, runbook=e.runbook, owner=e.owner
    )
    return {"action_items": (*inc.action_items, item)}


def _settle(inc: Incident, item_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "action_items": tuple(
            attrs.evolve(item, **changes) if item.id == item_id else item
            for item in inc.action_items
        )
    }


def _item_completed(inc: Incident, e: ev.ActionItemCompleted) -> dict[str, Any]:
    return _settle(inc, e.item_id, done=True)


def _item_waived(inc: Incident, e: ev.ActionItemWaived) -> dict[str, Any]:
    return _settle(inc, e.item_id, waived=True, reason=e.reason)


def _item_exported(inc: Incident, e: ev.FollowUpExported) -> dict[str, Any]:
    return _settle(inc, e.item_id, tracker_key=e.key, tracker_url=e.url)


def _paged_again(escalate_at: datetime | None) -> dict[str, Any]:
    # A new page needs a new acknowledgement (escalation watches it).
    return {
        "paged": True,
        "acknowledged_at": None,
        "acknowledged_by": None,
        "escalation_level": 0,
        "escalation_due_at": escalate_at,
    }


def _reopened(inc: Incident, e: ev.IncidentReopened) -> dict[str, Any]:
    changes: dict[str, Any] = {"resolved_at": None}
    if e.paged:
        changes.update(_paged_again(e.escalate_at))
    return changes


def _reassigned(inc: Incident, e: ev.TeamReassigned) -> dict[str, Any]:
    # The chat moves to the new team's channel: its first message there starts a new thread
    # (an incident with a channel of its own keeps talking there).
    changes: dict[str, Any] = {"team": e.team, "chat_thread": None, "chat_notified": False}
    if inc.incident_channel is not None:
        changes.pop("chat_thread")
    if e.paged:
        changes.update(_paged_again(e.escalate_at))
    return changes


def _pm_started(inc: Incident, e: ev.PostMortemStarted) -> dict[str, Any]:
    postmortem = PostMortem(
        author=e.author,
        started_at=e.at,
        impact=e.impact,
        root_cause=e.root_cause,
        learnings=e.learnings,
    )
    return {"postmortem": postmortem}


_PM_FIELDS = tuple(a.name for a in attrs.fields(PostMortem))
#: Every field of a post-mortem at once, in _PM_FIELDS' order (one call, not one per field).
_PM_VALUES = operator.attrgetter(*_PM_FIELDS)


def _pm(inc: Incident, **changes: Any) -> dict[str, Any]:
    pm = inc.postmortem
    if pm is None:
        return {}
    # attrs.evolve, without looking the fields up again (PostMortem has no converters).
    kept = dict(zip(_PM_FIELDS, _PM_VALUES(pm), strict=True))
    kept.update(changes)
    return {"postmortem": PostMortem(**kept)}


def _verdicts(
    pm: PostMortem, reviewer: str, at: datetime | None
) -> tuple[tuple[str, datetime], ...]:
    if at is None:
        return pm.verdict_at
    kept = tuple(
        (who, when) for who, when in pm.verdict_at if who.casefold() != reviewer.casefold()
    )
    return (*kept, (reviewer, at))


def _without(names: tuple[str, ...], reviewer: str) -> tuple[str, ...]:
    return tuple(n for n in names if n.casefold() != reviewer.casefold())


def _pm_approved(inc: Incident, e: ev.PostMortemApproved) -> dict[str, Any]:
    pm = inc.postmortem
    if pm is None:
        return {}
    approvals = pm.approvals if e.reviewer in pm.approvals else (*pm.approvals, e.reviewer)
    return _pm(
        inc,
        approvals=approvals,
        changes_requested=_without(pm.changes_requested, e.reviewer),
        verdict_at=_verdicts(pm, e.reviewer, e.happened_at),
    )


def _pm_changes(inc: Incident, e: ev.PostMortemChangesRequested) -> dict[str, Any]:
    pm = inc.postmortem
    if pm is None:
        return {}
    return _pm(
        inc,
        approvals=_without(pm.approvals, e.reviewer),
        changes_requested=(*_without(pm.changes_requested, e.reviewer), e.reviewer),
        verdict_at=_verdicts(pm, e.reviewer, e.happened_at),
    )


def _pm_amended(inc: Incident, e: ev.PostMortemAmended) -> dict[str, Any]:
    changes = {
        name: value
        for name, value in (
            ("impact", e.impact),
            ("root_cause", e.root_cause),
            ("learnings", e.learnings),
        )
        if value is not None
    }
    return _pm(inc, **changes)


def _pm_submitted(inc: Incident, e: ev.PostMortemSubmitted) -> dict[str, Any]:
    return _pm(
        inc, reviewers=e.reviewers, review=e.review, submitted_at=e.at, review_closed_at=None
    )


def _runbook_added(inc: Incident, e: ev.RunbookAdded) -> dict[str, Any]:
    return {"runbook": inc.runbook or e.runbook}


def _delivered(inc: Incident, e: ev.MessageDelivered) -> dict[str, Any]:
    if e.kind == "page" and inc.paged_at is None:
        return {"paged_at": e.at}
    if e.kind == "notify" and e.channel == "chat":
        if inc.incident_channel is not None:  # its own channel stays where it talks
            return {"chat_notified": True}
        return {"chat_thread": e.receipt, "chat_notified": True}
    if e.channel == "publisher" and inc.postmortem is not None:
        if e.kind in ("submit", "update"):
            return _pm(inc, review_url=e.receipt)
        return _pm(inc, location=e.receipt)  # saved (merged): 0.1's "postmortem" and "merge"
    return {}


def _repeated(inc: Incident, e: ev.AlertRepeated) -> dict[str, Any]:
    count = inc.alert_count + 1
    if not e.said:
        return {"alert_count": count, **_held(inc, e.at)}
    return {
        "alert_count": count,
        "repeats_said_at": e.at,
        "repeats_said_count": count,
        **_held(inc, e.at),
    }


def _held(inc: Incident, at: datetime) -> dict[str, Any]:
    """The firing at ``at`` counted while a page is held (the oldest beyond need dropped)."""
    hold = inc.page_hold
    if hold is None:
        return {}
    return {"firings": (*inc.firings, at)[-hold.firings :]}


def _grouped(inc: Incident, e: ev.AlertGrouped) -> dict[str, Any]:
    count = inc.alert_count + 1
    changes: dict[str, Any] = {
        "alert_count": count,
        "members": (*inc.members, e.alert.dedup_key),
        "group_until": e.until,
        **_held(inc, e.at),
    }
    if e.said:
        changes.update(repeats_said_at=e.at, repeats_said_count=count)
    return changes


def _page_held(inc: Incident, e: ev.PageHeld) -> dict[str, Any]:
    hold = PageAfter(e.firings, timedelta(seconds=e.within_seconds))
    return {"page_hold": hold, "firings": (e.at,)}


def _nothing(inc: Incident, e: ev.Event) -> dict[str, Any]:
    return {}


def _action(inc: Incident, e: ev.ActionApplied | ev.ActionIgnored) -> dict[str, Any]:
    if e.delivery_id is None:
        return {}
    return {"deliveries": inc.deliveries | {e.delivery_id}}


_APPLY: dict[type[ev.Event], _Apply] = {
    ev.IncidentClassified: _classified,
    ev.IncidentNotified: lambda inc, e: {
        "paged": inc.paged or e.paged,
        "escalation_due_at": e.escalate_at,
    },
    ev.SeverityChanged: _severity_changed,
    ev.IncidentAcknowledged: _acknowledged,
    ev.RunbookStarted: _runbook_started,
    ev.ActionItemRaised: _item_raised,
    ev.ActionItemCompleted: _item_completed,
    ev.ActionItemWaived: _item_waived,
    ev.FollowUpExported: _item_exported,
    ev.IncidentResolved: lambda inc, e: {
        "resolved_at": e.happened_at or e.at,
        "escalation_due_at": None,
        # The group's window ends with the outage (its last instant just before it resolved):
        # a reopen by one of its alerts does not take the group back (a newer incident may
        # hold it by then).
        "group_until": None if inc.group_until is None else min(inc.group_until, e.at - _INSTANT),
    },
    ev.IncidentReopened: _reopened,
    ev.PostMortemStarted: _pm_started,
    ev.PostMortemApproved: _pm_approved,
    ev.PostMortemPublished: lambda inc, e: _pm(inc, published_at=e.at),
    ev.PostMortemAmended: _pm_amended,
    ev.PostMortemSubmitted: _pm_submitted,
    ev.PostMortemChangesRequested: _pm_changes,
    ev.PostMortemRevised: lambda inc, e: _pm(
        inc, impact=e.impact, root_cause=e.root_cause, learnings=e.learnings
    ),
    ev.PostMortemMerged: lambda inc, e: _pm(inc, merged_at=e.at, location=e.location),
    ev.PostMortemReviewClosed: lambda inc, e: _pm(inc, review_closed_at=e.at),
    ev.RunbookAdded: _runbook_added,
    ev.RunbookUpdated: _nothing,
    ev.IncidentClosed: lambda inc, e: {"closed_at": e.at},
    ev.NoteAdded: _nothing,
    ev.TeamReassigned: _reassigned,
    ev.RoleAssigned: assigned,
    ev.CommanderScheduled: scheduled,
    ev.CommanderReminded: reminded,
    ev.AlertRepeated: _repeated,
    ev.AlertRecovered: _nothing,
    ev.MessageDelivered: _delivered,
    ev.DeliveryFailed: _nothing,
    ev.Escalated: lambda inc, e: {"escalation_level": e.level, "escalation_due_at": e.escalate_at},
    ev.ReminderScheduled: lambda inc, e: {
        "reminder_about": e.about,
        "reminder_due_at": e.remind_at,
    },
    ev.Reminded: lambda inc, e: {"reminder_due_at": e.remind_at},
    ev.ActionApplied: _action,
    ev.ActionIgnored: _action,
    ev.GroupStarted: lambda inc, e: {
        "group": e.group,
        "group_rule": e.rule,
        "group_until": e.until,
    },
    ev.AlertGrouped: _grouped,
    ev.PageHeld: _page_held,
    ev.PageReleased: lambda inc, e: {
        "paged": True,
        "page_hold": None,
        "firings": (),
        "escalation_due_at": e.escalate_at,
    },
    ev.AlertSilenced: lambda inc, e: {"silence_id": e.silence_id, "silenced_until": e.until},
    ev.SilenceLifted: lambda inc, e: {"silenced_until": None},
    ev.IncidentDismissed: lambda inc, e: {"silenced_until": None, "closed_at": e.at},
    ev.ChannelRequested: lambda inc, e: {"incident_channel_name": e.name},
    # Its message in the channel is where the incident's later messages go.
    ev.ChannelOpened: lambda inc, e: {"incident_channel": e.channel, "chat_thread": e.message},
    ev.ChannelNotOpened: lambda inc, e: {"incident_channel_error": e.reason},
}


def _start(event: ev.Event) -> Incident:
    if not isinstance(event, ev.IncidentTriggered) or event.version != 1:
        msg = f"an incident's stream starts with IncidentTriggered at version 1, got {event!r}"
        raise ValueError(msg)
    alert = event.alert
    return Incident(
        id=event.incident_id,
        state=INITIAL_STATE,
        severity=alert.severity or Severity.P3,  # provisional: classify follows in the same append
        alert=alert,
        title=event.title,
        dedup_key=event.dedup_key,
        team=event.team,
        service=event.service,
        created_at=event.at,
        updated_at=event.at,
        version=1,
    )


def _replace(incident: Incident, changes: dict[str, Any]) -> Incident:
    # attrs.evolve re-runs __init__ over every field; the fold runs on every command, and an
    # Incident has no converters or validators to re-run, so copy the instance dict instead.
    # (A copy of the dict, given to the new instance whole: cheaper than filling an empty one.)
    new: Incident = object.__new__(Incident)
    fields = incident.__dict__.copy()
    if changes:
        fields.update(changes)
    object.__setattr__(new, "__dict__", fields)
    return new


def fold(incident: Incident | None, events: Iterable[ev.Event]) -> Incident:
    """Apply ``events`` (in version order) to ``incident`` (None for a new stream).

    Raises:
        ValueError: the events do not continue the incident (a gap, or no IncidentTriggered).
    """
    # One new Incident for the whole fold, its fields changed in place event after event:
    # nobody else sees it before it is returned, and each handler reads the fields the
    # events before it left (one copy of the fields per fold, not one per event).
    new: Incident | None = None
    fields: dict[str, Any] = {}
    version = 0 if incident is None else incident.version
    for event in events:
        if new is None:
            if incident is None:
                incident = new = _start(event)
                fields = new.__dict__
                version = 1
                continue
            new = _replace(incident, {})
            fields = new.__dict__
        if event.version != version + 1:
            msg = f"incident {fields['id']}: event version {event.version} after {version}"
            raise ValueError(msg)
        changes = _APPLY[type(event)](new, event)
        if changes:
            fields.update(changes)
        version = fields["version"] = event.version
        fields["updated_at"] = event.at
        if event.trigger is not None:
            fields["state"] = PROCESS.next_state(fields["state"], event.trigger)
    if new is None:
        if incident is None:
            msg = "no events to fold"
            raise ValueError(msg)
        return incident
    return new
