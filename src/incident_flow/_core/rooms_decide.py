"""The incident's own channel, decided: opened, responders invited, archived on close.

Pure. Each decision that may concern the channel calls :func:`follow` on its draft before it
finishes; :func:`follow` reads the draft's new events and adds what the channel needs:

- a severity that wants a channel (:class:`~.rooms.IncidentChannels`), on an incident that
  has none yet (opened so, or reclassified to it): a ``ChannelRequested`` event and a chat
  message of kind ``channel`` (the notifier opens it, invites ``to``, posts the incident's
  message with its buttons there and a pointer in the alerts thread);
- its answer recorded (``MessageDelivered`` of that message): ``ChannelOpened`` (later
  messages go there) or ``ChannelNotOpened`` and a line in the thread saying so. A failed
  attempt (Slack not answering) is retried like any message, the thread used meanwhile;
  it is not said in the thread (the same Slack would not take that line either);
- people paged or acknowledging later: a message of kind ``invite``;
- the incident closed, with ``archive_on_close``: a message of kind ``archive``.

Who is invited is the people the incident knows: those paged and whoever acknowledged,
through their Slack ids in ``Policy.people`` (a Slack user who acknowledged with a button is
known by that id already). :func:`invite` is the hook for more (a commander assigned).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from . import events as ev
from .decision import Draft
from .incident import Incident, fold
from .policy import Policy
from .rooms import channel_name, read_receipt

__all__ = ["follow", "invite", "slack_ids"]

#: A Slack user id (``U024BE7LH``; ``W`` for an Enterprise Grid user).
_SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,20}")
#: The states in which an incident may open its channel (told, and not closed yet).
_OPENS = frozenset({"notified", "runbook", "resolved", "postmortem", "runbook_update"})
#: Events that may concern the channel; a decision with none of them is left alone.
_CONCERNS = (
    ev.IncidentNotified,
    ev.SeverityChanged,
    ev.IncidentAcknowledged,
    ev.Escalated,
    ev.PageReleased,
    ev.IncidentReopened,
    ev.IncidentClosed,
    ev.TeamReassigned,
    ev.RoleAssigned,
)


def slack_ids(names: Iterable[str | None], policy: Policy) -> tuple[str, ...]:
    """The Slack user ids of these people (each once, in order); unknown ones are left out.

    A name is a person of ``policy.people`` (their first Slack id), or a Slack identity
    the flow kept as the vendor's (``slack:U024BE7LH``). Anything else has no Slack id.
    """
    found: list[str] = []
    for name in names:
        if not name:
            continue
        user = name.removeprefix("slack:") if name.startswith("slack:") else None
        user = user or policy.people.identity(name, "slack")
        if user and _SLACK_USER.fullmatch(user) and user not in found:
            found.append(user)
    return tuple(found)


def _paged(draft: Draft) -> list[str]:
    """Who this draft pages (its pager messages' targets)."""
    return [name for said in draft.messages if said[0] == "pager" for name in said[3]]


def _concerns(draft: Draft) -> bool:
    for event in draft.events:
        if isinstance(event, _CONCERNS):
            return True
        if isinstance(event, ev.MessageDelivered) and event.kind == "channel":
            return True
    return False


def follow(draft: Draft, policy: Policy) -> None:
    """Add what the incident's channel needs after the draft's events (see the module)."""
    settings = policy.incident_channels
    base = draft.base
    if settings is None and (base is None or base.incident_channel_name is None):
        return  # the usual case: no channels, none asked for before
    if not _concerns(draft):
        return
    after = fold(base, draft.events)
    _answered(draft, after)
    after = fold(base, draft.events)
    name = after.incident_channel_name
    if name is None:
        if settings is None or not settings.wants(after.severity) or after.state not in _OPENS:
            return
        name = channel_name(
            settings.name,
            incident_id=after.id,
            title=after.title,
            opened_at=after.created_at,
            severity=after.severity,
            team=after.team,
        )
        draft.add(ev.ChannelRequested, name=name)
        people = slack_ids([*_paged(draft), after.acknowledged_by, *after.roles.values()], policy)
        draft.say("chat", "channel", f"Incident channel #{name}", to=people)
        return
    if after.incident_channel_error is not None:
        return
    acked = any(isinstance(e, ev.IncidentAcknowledged) for e in draft.events)
    leads = [e.person for e in draft.events if isinstance(e, ev.RoleAssigned)]
    invite(draft, policy, [*_paged(draft), after.acknowledged_by if acked else None, *leads])
    closed = any(isinstance(e, ev.IncidentClosed) for e in draft.events)
    if closed and settings is not None and settings.archive_on_close:
        draft.say("chat", "archive", f"Archiving #{name}: the incident is closed")


def invite(draft: Draft, policy: Policy, people: Iterable[str | None]) -> None:
    """Invite ``people`` (names, or ``slack:`` identities) to the incident's channel.

    Nothing when the incident has no channel asked for, when it could not be opened, or
    when none of them has a Slack id. A channel not open yet is waited for by the
    delivery. Whoever takes a role on the incident (a commander) is invited too.
    """
    base = draft.base
    incident = fold(base, draft.events) if draft.events else base
    if incident is None or incident.incident_channel_name is None:
        return
    if incident.incident_channel_error is not None:
        return
    users = slack_ids(people, policy)
    if users:
        draft.say("chat", "invite", f"Inviting {', '.join(users)}", to=users)


def _answered(draft: Draft, incident: Incident) -> None:
    """Record what the notifier answered when it opened (or failed to open) the channel."""
    name = incident.incident_channel_name
    if name is None or incident.incident_channel or incident.incident_channel_error:
        return  # asked for none, or its answer is recorded already
    for event in list(draft.events):
        if isinstance(event, ev.MessageDelivered) and event.kind == "channel":
            got = read_receipt(event.receipt)
            if isinstance(got, tuple):
                draft.add(ev.ChannelOpened, channel=got[0], message=got[1])
                return
            draft.add(ev.ChannelNotOpened, reason=got)
            draft.say(
                "chat",
                "update",
                f"Could not open the incident channel #{name} ({got}): "
                "the incident stays in this thread",
            )
            return
