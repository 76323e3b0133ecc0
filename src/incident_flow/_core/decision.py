"""The decision base: a draft collects one command's events and messages into a Decision.

Every concern's pure decisions write through a :class:`Draft`: it numbers and timestamps the
events, folds them into the incident, schedules the follow-up reminder the incident now owes,
and turns what it said into outbox messages whose keys make a re-send idempotent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, TypeVar

import attrs

from ..exceptions import PolicyViolation
from . import events as ev
from .incident import Incident, fold
from .messages import Channel, Notification, OutboxMessage
from .policy import Policy
from .roles import COMMANDER, commander_watch

__all__ = [
    "CHANGES_WHAT_IS_OWED",
    "Decision",
    "Draft",
    "Via",
    "record_only",
    "refuse",
    "reminder_schedule",
    "team_policy",
]

_E = TypeVar("_E", bound=ev.Event)
#: A message said: its channel, kind, text, pager targets, thread, and chat channel.
_Said = tuple[Channel, str, str, tuple[str, ...], str | None, str | None]


class Via(Protocol):
    """The vendor action a command comes from (an :class:`~incident_flow.Action`)."""

    @property
    def source(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def by(self) -> str: ...
    @property
    def delivery_id(self) -> str | None: ...


@attrs.frozen
class Decision:
    """What a command decided: the incident after it, its new events and outbox messages."""

    incident: Incident
    events: tuple[ev.Event, ...] = ()
    outbox: tuple[OutboxMessage, ...] = ()


def team_policy(policy: Policy, incident: Incident | None) -> Policy:
    """The policy as ``incident``'s team sees it: every decision about an incident reads this.

    Its escalation, schedules, reviewers, folder and chat channel are the team's
    (:meth:`~incident_flow.Policy.owner_of`); a policy without teams is itself.
    """
    return policy.owner_of(None if incident is None else incident.team)


class Draft:
    """Collects the events and messages of one command, numbering and timestamping them.

    ``channel``: the chat channel its chat messages go to (the team's; None: the notifier's).
    """

    def __init__(
        self,
        incident: Incident | None,
        now: datetime,
        by: str | None,
        origin: str | None = None,
        *,
        channel: str | None = None,
    ) -> None:
        self.base = incident
        self.channel = channel
        # Timestamps never go backwards, even when the host's clock does.
        self.at = now if incident is None or now >= incident.updated_at else incident.updated_at
        self.by = by
        self.origin = origin
        self.version = 0 if incident is None else incident.version
        self.events: list[ev.Event] = []
        self.messages: list[_Said] = []

    def add(self, cls: type[_E], **fields: Any) -> _E:
        self.version += 1
        fields.setdefault("by", self.by)
        event = cls(version=self.version, at=self.at, **fields)
        self.events.append(event)
        return event

    def say(
        self,
        channel: Channel,
        kind: str,
        text: str = "",
        to: tuple[str, ...] = (),
        *,
        thread: str | None = None,
    ) -> None:
        """Queue a message; ``thread``: a chat thread other than the incident's (a handover).

        A chat message goes to :attr:`channel` as it is when said.
        """
        self.messages.append((channel, kind, text, to, thread, self.channel))

    def finish(
        self,
        settled: tuple[OutboxMessage, ...] = (),
        *,
        reminders: Policy | None = None,
        roles: Policy | None = None,
    ) -> Decision:
        """The decision: the events folded, the timers they call for, the messages keyed.

        ``reminders``: the policy whose follow-up reminder is scheduled anew; ``roles``: the
        policy (with every team: the incident's own is read) whose commander timer is.
        """
        if not self.events:
            assert self.base is not None  # noqa: S101 - a new incident always has events
            return Decision(self.base)
        after = fold(self.base, self.events)
        if roles is not None and (after.commander_step is not None or _leads(roles)):
            watch = commander_watch(after, team_policy(roles, after).roles, self.at)
            if watch is not None:
                required, step, due = watch
                watched = self.add(
                    ev.CommanderScheduled, by=None, required=required, step=step, due_at=due
                )
                after = fold(after, [watched])
        if reminders is not None:
            schedule = reminder_schedule(after, reminders, self.at)
            if schedule is not None:
                event = self.add(
                    ev.ReminderScheduled, by=None, about=schedule[0], remind_at=schedule[1]
                )
                after = fold(after, [event])
        if not self.messages:
            return Decision(after, tuple(self.events), settled)
        first = self.events[0].version
        keys: list[str] = []
        seen: dict[str, int] = {}
        for channel, kind, *_ in self.messages:
            key = f"{after.id}/{first}/{channel}/{kind}"
            # A second message of a kind in one decision (an approval and "ready to merge")
            # needs a key of its own: the key is what makes a re-send idempotent.
            n = seen[key] = seen.get(key, 0) + 1
            keys.append(key if n == 1 else f"{key}#{n}")
        outbox = tuple(
            _message(after, said, key=key, draft=self)
            for said, key in zip(self.messages, keys, strict=True)
        )
        return Decision(after, tuple(self.events), settled + outbox)


def _message(incident: Incident, said: _Said, *, key: str, draft: Draft) -> OutboxMessage:
    channel, kind, text, to, thread, chat = said
    notification = None
    if channel not in ("publisher", "tracker"):  # sent what the store holds at send time
        notification = Notification(
            incident_id=incident.id,
            kind=kind,
            text=text,
            title=incident.title,
            severity=incident.severity,
            state=incident.state,
            idempotency_key=key,
            by=draft.by,
            origin=draft.origin,
            url=incident.alert.url,
            runbook_url=incident.runbook.url if incident.runbook else None,
            acknowledged_by=incident.acknowledged_by,
            thread=thread or (incident.chat_thread if kind != "notify" else None),
            fired=incident.alert_count,
            to=to,
            channel=chat if channel == "chat" else None,
            roles=_roles_shown(incident),
            room=_room(incident, channel, kind),
        )
    return OutboxMessage(
        id=key,
        incident_id=incident.id,
        channel=channel,
        kind=kind,
        created_at=draft.at,
        next_attempt_at=draft.at,
        notification=notification,
    )


def _roles_shown(incident: Incident) -> tuple[tuple[str, str], ...]:
    """Who holds each role; a commander needed and missing as ``("commander", "")``."""
    held = tuple(incident.roles.items())
    if incident.commander_required and COMMANDER not in incident.roles:
        return ((COMMANDER, ""), *held)
    return held


def _leads(policy: Policy) -> bool:
    """Whether any severity of the policy (or one of its teams) needs a commander."""
    if policy.roles.commander_required:
        return True
    return any(t.roles is not None and t.roles.commander_required for t in policy.teams)


def _room(incident: Incident, channel: Channel, kind: str) -> str | None:
    """The incident's own channel for a chat message (its name, for the one that opens it)."""
    if channel != "chat":
        return None
    return incident.incident_channel_name if kind == "channel" else incident.incident_channel


def refuse(incident: Incident, trigger: str, standard: str, detail: str) -> PolicyViolation:
    """The refusal of ``trigger`` by the policy's ``standard``, saying why."""
    return PolicyViolation(incident.id, incident.state, trigger, standard, detail)


def record_only(incident: Incident, now: datetime, cls: type[ev.Event], **fields: Any) -> Decision:
    """One event that changes no state and says nothing (an ignored action)."""
    draft = Draft(incident, now, fields.pop("by", None))
    draft.add(cls, **fields)
    return draft.finish()


#: The triggers after which what an incident owes (a post-mortem, action items) may change;
#: the others (an acknowledgement, a note, an approval...) never need the reminder recomputed.
CHANGES_WHAT_IS_OWED = frozenset(
    {
        "resolve",
        "reopen",
        "reclassify",
        "start_postmortem",
        "submit_postmortem",
        "approve_postmortem",
        "postmortem_merged",
        "publish_postmortem",
        "add_runbook",
        "update_runbook",
        "waive_action_item",
        "add_follow_up",
        "complete_action_item",
        "close",
    }
)


def _owed(incident: Incident) -> str | None:
    """What follow-up the incident owes now: ``postmortem``, ``action_items`` or nothing."""
    pm = incident.postmortem
    if incident.closed or incident.state in ("notified", "runbook"):
        return None
    if incident.postmortem_required and (pm is None or not pm.published):
        return "postmortem"
    if incident.open_action_items:
        return "action_items"
    return None


def reminder_schedule(
    incident: Incident, policy: Policy, at: datetime
) -> tuple[str | None, datetime | None] | None:
    """The reminder to schedule after a decision, or None when the current one stands."""
    about = _owed(incident)
    if about == incident.reminder_about:
        return None
    if about is None:
        return None, None
    if about == "postmortem":
        start = incident.resolved_at or at
        return about, policy.due_after(start, policy.postmortem_due)
    pm = incident.postmortem
    start = (pm.published_at if pm is not None else None) or incident.resolved_at or at
    return about, policy.due_after(start, policy.action_items_due)
