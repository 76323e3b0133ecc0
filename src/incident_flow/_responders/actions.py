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
from urllib.parse import urlsplit

import attrs

from .._core import commands as cmd
from .._core import events as ev
from .._core.incident import ActionItem, Incident
from .._core.people import People
from .._core.policy import Policy
from .._core.roles import COMMANDER
from .._core.severity import Severity
from .._core.text import storable
from .._response.decide import Decision, decide, record_only
from .._review.document import VERDICTS, PostMortemDocument, Review, ReviewStatus, read_sections
from ..exceptions import InvalidCommand, InvalidTransition, PolicyViolation

__all__ = [
    "ACTION_KINDS",
    "ACTION_SOURCES",
    "ON_THE_PULL_REQUEST",
    "READ_AGAIN",
    "Action",
    "decide_action",
    "elsewhere",
    "follow_up_delivery",
    "merge_delivery",
    "record_action",
    "review_delivery",
    "status_changes",
]

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
    "postmortem_revised",
    "follow_up_closed",
    "assign_role",
)
#: The vendors actions come from.
ACTION_SOURCES = ("pagerduty", "opsgenie", "slack", "github", "jira")

#: Kinds that ask the flow to read the post-mortem's branch again (commits were pushed).
READ_AGAIN = frozenset({"postmortem_revised"})
#: The vendors that host no post-mortem review: their review kinds never count.
_NO_REVIEWS = frozenset({"pagerduty", "opsgenie", "slack", "jira"})
#: Kinds about the post-mortem's pull request: from GitHub they count only from that one.
ON_THE_PULL_REQUEST = frozenset(
    {
        "approve_postmortem",
        "request_changes",
        "dismiss_review",
        "postmortem_merged",
        "postmortem_closed",
        "postmortem_revised",
    }
)


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
        review_url: for the post-mortem's review kinds, the pull request the vendor says it
            happened on: it counts only when that is the pull request the incident's review
            recorded (another repository's, or another pull request's, changes nothing).
        issue: for ``follow_up_closed``, the tracker's key of the issue closed
            (``owner/repo#12``, ``OPS-7``): it settles the item whose issue that is, and
            nothing when no item of the incident has it.
        raw: the parsed body it came from, for audit.
        role: for ``assign_role``, the role taken (None: ``commander``).
        assignee: for ``assign_role``, who takes it: the vendor's identity (a Slack user id,
            mapped through ``Policy.people``) or a person's name; None: whoever acted.
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
    review_url: str | None = None
    issue: str | None = None
    raw: Any = attrs.field(default=None, eq=False, repr=False)
    role: str | None = attrs.field(default=None, converter=_stored)
    assignee: str | None = attrs.field(default=None, converter=_stored)

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
    "approve_postmortem": lambda a, p: cmd.ApprovePostmortem(by=p, origin=a.source, at=a.at),
    "request_changes": lambda a, p: cmd.RequestPostmortemChanges(
        by=p, text=a.text, origin=a.source, at=a.at
    ),
    # A dismissed review no longer approves: the reviewer's approval is withdrawn.
    "dismiss_review": lambda a, p: cmd.RequestPostmortemChanges(
        by=p, text=f"review dismissed{': ' + a.text if a.text else ''}", origin=a.source, at=a.at
    ),
    "postmortem_merged": lambda a, p: cmd.RecordMerge(
        by=p, location=a.text or None, origin=a.source, at=a.at
    ),
    "postmortem_closed": lambda a, p: cmd.RecordReviewClosed(
        by=p, text=a.text, origin=a.source, at=a.at
    ),
    "assign_role": lambda a, p: cmd.AssignRole(
        by=p, role=a.role or COMMANDER, person=a.assignee or p, origin=a.source
    ),
    "postmortem_revised": lambda a, p: cmd.Note(
        by=p,
        text=f"pushed commits to the post-mortem{': ' + a.text if a.text else ''}",
        origin=a.source,
    ),
}


def command_for(action: Action, person: str) -> cmd.Command:
    """The command ``action`` asks for, given by ``person``.

    Raises:
        InvalidCommand: the action's values do not make a valid command (a blank note).
    """
    return _COMMANDS[action.kind](action, person)


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
    repeated = action.delivery_id is not None and action.delivery_id in incident.deliveries
    if repeated or elsewhere(incident, action):
        return Decision(incident)  # applied already, or not our pull request: nothing done
    if action.kind == "follow_up_closed":
        return _issue_closed(incident, action, person, policy, now)
    if action.kind == "assign_role" and action.assignee:
        # Who takes the role, as the vendor names them (a Slack user id): the directory's name.
        found = policy.people.find(action.source, action.assignee)
        action = action if found is None else attrs.evolve(action, assignee=found)
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


def _issue_closed(
    incident: Incident, action: Action, person: str, policy: Policy, now: datetime
) -> Decision:
    """An item's tracker issue was closed: the item is done (from the tracker: no echo)."""
    item = tracked_item(incident, action.issue)
    if item is None or not item.open:
        return Decision(incident)  # not an issue of ours, or settled already (an echo)
    command = cmd.CompleteActionItem(
        by=person, item_id=item.id, note=action.text, origin=action.source, at=action.at
    )
    return decide(incident, command, policy, now, via=action)


def tracked_item(incident: Incident, issue: str | None) -> ActionItem | None:
    """The incident's item whose tracker issue is ``issue`` (a key, case aside), or None."""
    if not issue:
        return None
    wanted = issue.strip().casefold()
    return next(
        (
            item
            for item in incident.action_items
            if item.tracker_key is not None and item.tracker_key.casefold() == wanted
        ),
        None,
    )


def follow_up_delivery(source: str, issue: str) -> str:
    """The delivery id of an item's issue closing: its webhook and a poll give the same."""
    return f"{source}:follow_up_closed:{issue.casefold()}"


def _pull_request(url: str) -> tuple[str, str]:
    """A pull request's URL compared as GitHub does: host and path, case aside."""
    parts = urlsplit(url.strip())
    return parts.netloc.casefold(), parts.path.rstrip("/").casefold()


def elsewhere(incident: Incident, action: Action) -> bool:
    """True for a review act that is not on the pull request the incident recorded.

    A pager's or a chat's "review" is never one (they host no pull request).

    A pull request in another repository (a fork's, or any under an organisation-wide
    webhook), or another pull request of ours, whose branch merely carries our name: its
    reviews and merge must not count. Before the pull request is recorded, none counts.
    """
    if action.kind not in ON_THE_PULL_REQUEST:
        return False
    if action.source in _NO_REVIEWS:
        return True  # a pager or a chat does not host a post-mortem's review
    if action.source != "github":
        return False  # the publisher's own poll (a git branch): about the branch it keeps
    recorded = incident.postmortem.review_url if incident.postmortem is not None else None
    if recorded is None or action.review_url is None:
        return True
    return _pull_request(recorded) != _pull_request(action.review_url)


def record_action(incident: Incident, action: Action, person: str, now: datetime) -> Decision:
    """Record that ``action`` arrived (once per delivery), deciding nothing else."""
    if action.delivery_id is not None and action.delivery_id in incident.deliveries:
        return Decision(incident)
    if elsewhere(incident, action):
        return Decision(incident)
    return _recorded(incident, action, person, now, ev.ActionApplied)


def _ignored(
    incident: Incident, action: Action, person: str, now: datetime, reason: str
) -> Decision:
    return _recorded(incident, action, person, now, ev.ActionIgnored, reason=reason)


def _recorded(
    incident: Incident,
    action: Action,
    person: str,
    now: datetime,
    cls: type[ev.ActionApplied | ev.ActionIgnored],
    **extra: str,
) -> Decision:
    return record_only(
        incident,
        now,
        cls,
        by=person,
        source=action.source,
        kind=action.kind,
        identity=action.by,
        delivery_id=action.delivery_id,
        **extra,
    )


def review_delivery(source: str, review_id: object, state: str) -> str:
    """The delivery id of one review's verdict: its webhook and a poll of it give the same."""
    return f"{source}:review:{review_id}:{state.lower()}"


def merge_delivery(source: str, url: str) -> str:
    """The delivery id of a pull request's merge: its webhook and a poll give the same."""
    return f"{source}:merged:{url}"


def status_changes(
    incident: Incident, status: ReviewStatus, people: People
) -> tuple[cmd.RevisePostmortem | None, list[Action]]:
    """What a poll of the post-mortem's review finds that the incident does not have yet.

    The sections changed on its branch (a revision); each reviewer's latest verdict where it
    differs from the approvals counted here (an approval, or a withdrawal); the merge, or the
    close without merging. Each is an :class:`Action` as a webhook would have given it, with a
    delivery id of the review and its state, so webhooks and polls agree and none twice.
    """
    pm = incident.postmortem
    if pm is None:
        return None, []
    revision = None
    sections = read_sections(status.text) if status.text is not None else None
    # Compared as our own rendering reads back: an unchanged text is never a revision.
    ours = read_sections(PostMortemDocument(incident, (), "").render_markdown())
    if sections is not None and sections != ours:
        revision = cmd.RevisePostmortem(
            impact=sections.impact, root_cause=sections.root_cause, learnings=sections.learnings
        )
    latest: dict[str, Review] = {}
    for review in status.reviews:  # oldest first: the last verdict of each reviewer stands
        if review.state in VERDICTS:
            latest[review.reviewer.casefold()] = review
    approved = {name.casefold() for name in pm.approvals}
    # What the poll read is of the pull request the review recorded (it asked for that one).
    where = status.url or pm.review_url
    found: list[Action] = []
    for review in latest.values():
        person = people.name(status.source, review.reviewer).casefold()
        if (review.state == "approved") == (person in approved):
            continue
        delivery = review_delivery(status.source, review.id, review.state)
        if delivery in incident.deliveries:
            continue  # its webhook (or an earlier poll) brought it already: applied or ignored
        found.append(
            Action(
                source=status.source,
                kind="approve_postmortem" if review.state == "approved" else "request_changes",
                incident=incident.id,
                by=review.reviewer,
                at=review.at,
                text=review.text if review.state == "changes_requested" else "",
                delivery_id=delivery,
                review_url=where,
            )
        )
    if status.merged and pm.stage not in ("merged", "published"):
        found.append(
            Action(
                source=status.source,
                kind="postmortem_merged",
                incident=incident.id,
                by=status.merged_by or "unknown",
                text=status.location or status.url or "",
                delivery_id=merge_delivery(status.source, status.url or incident.id),
                review_url=where,
            )
        )
    elif status.closed and pm.stage == "review":
        found.append(
            Action(
                source=status.source,
                kind="postmortem_closed",
                incident=incident.id,
                by=status.closed_by or "unknown",
                review_url=where,
            )
        )
    return revision, found
