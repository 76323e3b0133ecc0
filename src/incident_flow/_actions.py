"""Actions: what a responder did in a vendor's tool, for one of our incidents, and its decision.

0.1 only talked: it posted to Slack, paged through PagerDuty or Opsgenie and opened pull
requests. An :class:`Action` is what comes back: an acknowledgement in the PagerDuty app, an
Opsgenie close, a Slack button, a review on the post-mortem's pull request.
``incident_flow.ingest.actions`` reads them from the vendors' webhooks; ``flow.apply`` applies
them through :func:`decide_action`, which is pure like the rest of the decisions:

1. a delivery already applied (the vendor retried it) changes nothing;
2. an action whose effect the incident already has changes nothing: that is the echo of what
   we mirrored ourselves (we acknowledged in PagerDuty because someone pressed Acknowledge in
   Slack, and PagerDuty tells us about it), or a second person doing the same thing;
3. otherwise it runs as the matching command, by the person ``Policy.people`` names, after an
   ``ActionApplied`` event that keeps the vendor, the delivery and the vendor's identity;
4. an action the process or the policy refuses now (a late resolve after close) is recorded
   as ``ActionIgnored`` with the reason, never raised: the vendor must get its 2xx.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import attrs

from . import _commands as cmd
from . import _events as ev
from ._decide import Decision, decide, record_only
from ._incident import Incident
from ._policy import Policy
from ._severity import Severity
from ._text import storable
from .exceptions import InvalidCommand, InvalidTransition, PolicyViolation

__all__ = ["ACTION_KINDS", "ACTION_SOURCES", "Action", "decide_action"]

#: What an action can be. The review kinds come from the post-mortem's pull request.
ACTION_KINDS = (
    "acknowledge",
    "resolve",
    "note",
    "reclassify",
    "escalate",
    "reopen",
    "start_runbook",
    "approve_postmortem",
    "request_changes",
    "dismiss_review",
    "postmortem_merged",
    "postmortem_closed",
)
#: The vendors actions come from.
ACTION_SOURCES = ("pagerduty", "opsgenie", "slack", "github")

#: Review kinds that are recorded as notes until the post-mortem is reviewed on its pull
#: request: what each says in the timeline.
_REVIEW_NOTES = {
    "request_changes": "requested changes on the post-mortem",
    "dismiss_review": "dismissed a review of the post-mortem",
    "postmortem_merged": "merged the post-mortem's pull request",
    "postmortem_closed": "closed the post-mortem's pull request without merging",
}


def _one_of(values: tuple[str, ...], what: str) -> Any:
    def check(instance: object, attribute: object, value: object) -> None:
        if value not in values:
            msg = f"Action.{what} must be one of {', '.join(values)}, got {value!r}"
            raise ValueError(msg)

    return check


def _text(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        msg = f"Action.{attribute.name} must be a non-empty string, got {value!r}"
        raise ValueError(msg)


def _aliases(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (storable(value),)
    return tuple(storable(str(v)) for v in value if v) if isinstance(value, (list, tuple)) else ()


def _stored(value: object) -> object:
    # A lone surrogate or a NUL cannot be stored by every store: normalised for all alike.
    return storable(value) if isinstance(value, str) else value


def _aware(instance: object, attribute: attrs.Attribute[datetime | None], value: object) -> None:
    if value is not None and (not isinstance(value, datetime) or value.utcoffset() is None):
        msg = f"Action.at must be a timezone-aware datetime or None, got {value!r}"
        raise ValueError(msg)


def _severity(value: Severity | str | None) -> Severity | None:
    return None if value is None else Severity(value)


@attrs.frozen(kw_only=True)
class Action:
    """What a person did in a vendor's tool, for one of our incidents.

    Attributes:
        source: the vendor: ``pagerduty``, ``opsgenie``, ``slack`` or ``github``.
        kind: one of :data:`ACTION_KINDS`.
        incident: our incident's id, as the vendor carries it (the PagerDuty dedup key and
            the Opsgenie alias we sent, the value of our Slack button, the post-mortem's
            branch).
        by: the vendor's identity of who acted (a Slack user id, a PagerDuty user id, an
            Opsgenie username, a GitHub login); ``Policy.people`` maps it to a person.
        by_aliases: other identities the vendor gave for the same actor (an email, a user id).
        by_name: the vendor's display name for the actor, if it gave one (shown, never matched).
        at: when the vendor says it happened, if it says.
        text: a note, a resolution summary, a review comment.
        severity: the new severity of a ``reclassify``.
        delivery_id: the vendor's id of the webhook delivery (its retries carry the same).
        raw: the parsed body it came from, for audit.
    """

    source: str = attrs.field(validator=_text)
    kind: str = attrs.field(validator=_one_of(ACTION_KINDS, "kind"))
    incident: str = attrs.field(converter=_stored, validator=_text)
    by: str = attrs.field(converter=_stored, validator=_text)
    by_aliases: tuple[str, ...] = attrs.field(default=(), converter=_aliases)
    by_name: str | None = attrs.field(default=None, converter=_stored)
    at: datetime | None = attrs.field(default=None, validator=_aware)
    text: str = attrs.field(default="", converter=_stored)
    severity: Severity | None = attrs.field(default=None, converter=_severity)
    delivery_id: str | None = None
    raw: Any = attrs.field(default=None, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.kind == "reclassify" and self.severity is None:
            msg = "a reclassify action needs its severity"
            raise ValueError(msg)


_Builder = Callable[[Action, str], cmd.Command]
#: How each kind becomes a command (by the person, from the vendor).
_COMMANDS: dict[str, _Builder] = {
    "acknowledge": lambda a, p: cmd.Acknowledge(by=p, origin=a.source, at=a.at),
    "resolve": lambda a, p: cmd.Resolve(by=p, summary=a.text, origin=a.source, at=a.at),
    "note": lambda a, p: cmd.Note(by=p, text=a.text, origin=a.source),
    "reclassify": lambda a, p: cmd.Reclassify(by=p, severity=a.severity, origin=a.source),
    "escalate": lambda a, p: cmd.Escalate(by=p, origin=a.source),
    "reopen": lambda a, p: cmd.Reopen(by=p, origin=a.source),
    "start_runbook": lambda a, p: cmd.StartRunbook(by=p, origin=a.source),
    "approve_postmortem": lambda a, p: cmd.ApprovePostmortem(by=p, origin=a.source),
}


def command_for(action: Action, person: str) -> cmd.Command:
    """The command ``action`` asks for, given by ``person``.

    Raises:
        InvalidCommand: the action's values do not make a valid command (a blank note).
    """
    build = _COMMANDS.get(action.kind)
    if build is not None:
        return build(action, person)
    said = f": {action.text.strip()}" if action.text.strip() else ""
    text = f"{_REVIEW_NOTES[action.kind]}{said}"
    return cmd.Note(by=person, text=text, origin=action.source)


def already_done(incident: Incident, command: cmd.Command) -> bool:
    """True when the incident already has the state ``command`` would move it to (an echo).

    The in-place commands need no check here: one that changes nothing (a second
    acknowledgement, the same severity, a reviewer approving twice) decides no events.
    """
    if isinstance(command, cmd.Resolve):
        return incident.resolved_at is not None
    if isinstance(command, cmd.Reopen):
        return incident.state in ("notified", "runbook")
    if isinstance(command, cmd.StartRunbook):
        return incident.state == "runbook"
    return False


def decide_action(
    incident: Incident, action: Action, person: str, policy: Policy, now: datetime
) -> Decision:
    """Decide what ``action`` (by ``person``) does to ``incident``; never refuses.

    Returns a decision with no events for a repeated delivery or an echo, the command's events
    after an ``ActionApplied`` when it applies, or one ``ActionIgnored`` with the reason when
    the process or the policy refuses it now.
    """
    if action.delivery_id is not None and action.delivery_id in incident.deliveries:
        return Decision(incident)
    try:
        command = command_for(action, person)
    except InvalidCommand as exc:
        return _ignored(incident, action, person, now, str(exc))
    if not incident.closed and already_done(incident, command):
        return Decision(incident)
    try:
        return decide(incident, command, policy, now, via=action)
    except (InvalidTransition, PolicyViolation) as refusal:
        return _ignored(incident, action, person, now, str(refusal))


def _ignored(
    incident: Incident, action: Action, person: str, now: datetime, reason: str
) -> Decision:
    return record_only(
        incident,
        now,
        ev.ActionIgnored,
        by=person,
        source=action.source,
        kind=action.kind,
        identity=action.by,
        delivery_id=action.delivery_id,
        reason=reason,
    )
