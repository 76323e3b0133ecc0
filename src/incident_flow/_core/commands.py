"""Commands: what a person, a bot or the system asks of an incident (input to the decision step).

A command checks its own arguments when it is built, so a wrong one never reaches a decision:
who acts must be named (a non-blank string, stripped), texts that carry meaning must not be
blank, a severity must be P1..P5. A wrong argument raises :class:`~incident_flow.InvalidCommand`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, ClassVar

import attrs

from ..exceptions import InvalidCommand
from .alerts import Alert
from .runbooks import Runbook
from .severity import Severity
from .teams import team_name_problem

__all__ = [
    "REVIEW_PLACES",
    "Acknowledge",
    "AddFollowUp",
    "AddRunbook",
    "AmendPostmortem",
    "ApprovePostmortem",
    "AssignRole",
    "Close",
    "Command",
    "CompleteActionItem",
    "Escalate",
    "Note",
    "PublishPostmortem",
    "Reassign",
    "Reclassify",
    "RecordAlert",
    "RecordMerge",
    "RecordReviewClosed",
    "Reopen",
    "RequestPostmortemChanges",
    "Resolve",
    "RevisePostmortem",
    "StartPostmortem",
    "StartRunbook",
    "SubmitPostmortem",
    "UpdateRunbook",
    "WaiveActionItem",
    "same_person",
]


def same_person(a: str, b: str) -> bool:
    """True when two names are one person (``Alice``, ``alice``, ``alice ``)."""
    return a.strip().casefold() == b.strip().casefold()


def _actor(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        msg = f"say who acts: a non-empty name is needed, got {value!r}"
        raise InvalidCommand(msg)
    return value.strip()


def _string(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str):
        msg = f"{attribute.name} must be a string, got {type(value).__name__}"
        raise InvalidCommand(msg)


def _not_blank(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    _string(instance, attribute, value)
    if not str(value).strip():
        msg = f"{attribute.name} must not be blank"
        raise InvalidCommand(msg)


def _texts(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        msg = f"learnings must be a list of strings, got {value!r}"
        raise InvalidCommand(msg)
    items = tuple(value)
    if not all(isinstance(item, str) and item.strip() for item in items):
        msg = f"learnings must be non-blank strings, got {items!r}"
        raise InvalidCommand(msg)
    return tuple(item.strip() for item in items)


def _severity(value: object) -> Severity:
    try:
        return Severity(value)  # type: ignore[arg-type]  # checked right here
    except ValueError:
        msg = f"severity must be one of P1..P5, got {value!r}"
        raise InvalidCommand(msg) from None


def _instance(cls: type, name: str, *, optional: bool = False) -> Any:
    def check(instance: object, attribute: object, value: object) -> None:
        if value is None and optional:
            return
        if not isinstance(value, cls):
            msg = f"{name} must be a {cls.__name__}, got {type(value).__name__}"
            raise InvalidCommand(msg)

    return check


@attrs.frozen(kw_only=True)
class Command:
    """Base of the commands; ``trigger`` names the process trigger it fires.

    ``by`` is who acts. Commands a person gives need it; the system's own (a reopen or a
    repeat caused by the alert source) leave it None. ``origin`` is the vendor the person
    acted in (``pagerduty``, ``slack``...) when the command comes from an action: what it
    mirrors is not sent back to that vendor.
    """

    trigger: ClassVar[str] = ""
    needs_actor: ClassVar[bool] = True
    by: str | None = attrs.field(default=None, converter=_actor)
    origin: str | None = None
    at: datetime | None = None

    def __attrs_post_init__(self) -> None:
        if self.needs_actor and self.by is None:
            msg = f"{self.trigger}: say who acts (by=)"
            raise InvalidCommand(msg)


@attrs.frozen(kw_only=True)
class Reclassify(Command):
    """Change the severity."""

    trigger: ClassVar[str] = "reclassify"
    severity: Severity = attrs.field(converter=_severity)


@attrs.frozen(kw_only=True)
class Acknowledge(Command):
    """A responder takes the incident."""

    trigger: ClassVar[str] = "acknowledge"


@attrs.frozen(kw_only=True)
class Escalate(Command):
    """A responder asks for the next escalation level now, without waiting for the timer."""

    trigger: ClassVar[str] = "escalate"


@attrs.frozen(kw_only=True)
class StartRunbook(Command):
    """Work the catalog's runbook, or ``runbook`` when given."""

    trigger: ClassVar[str] = "start_runbook"
    runbook: Runbook | None = attrs.field(
        default=None, validator=_instance(Runbook, "runbook", optional=True)
    )


@attrs.frozen(kw_only=True)
class Resolve(Command):
    """The incident is resolved."""

    trigger: ClassVar[str] = "resolve"
    summary: str = attrs.field(default="", validator=_string)


@attrs.frozen(kw_only=True)
class Reopen(Command):
    """A resolved incident is back (``by`` is None when the alert fired again)."""

    trigger: ClassVar[str] = "reopen"
    needs_actor: ClassVar[bool] = False


@attrs.frozen(kw_only=True)
class StartPostmortem(Command):
    """Start the post-mortem (``by`` is the author)."""

    trigger: ClassVar[str] = "start_postmortem"
    impact: str = attrs.field(default="", validator=_string)
    root_cause: str = attrs.field(default="", validator=_string)
    learnings: tuple[str, ...] = attrs.field(default=(), converter=_texts)


def _plain_texts(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _optional_texts(value: object) -> tuple[str, ...] | None:
    return None if value is None else _texts(value)


def _optional_string(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if value is not None:
        _string(instance, attribute, value)


@attrs.frozen(kw_only=True)
class AmendPostmortem(Command):
    """The author changes the draft; a field left None keeps what it says."""

    trigger: ClassVar[str] = "amend_postmortem"
    impact: str | None = attrs.field(default=None, validator=_optional_string)
    root_cause: str | None = attrs.field(default=None, validator=_optional_string)
    learnings: tuple[str, ...] | None = attrs.field(default=None, converter=_optional_texts)


#: Where a submitted post-mortem is reviewed (what the flow's publisher can do).
REVIEW_PLACES = ("pull_request", "branch", "command")


def _review_place(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if value not in REVIEW_PLACES:
        msg = f"review must be one of {', '.join(REVIEW_PLACES)}, got {value!r}"
        raise InvalidCommand(msg)


@attrs.frozen(kw_only=True)
class SubmitPostmortem(Command):
    """Submit the draft for review (the flow fills ``review`` from its publisher)."""

    trigger: ClassVar[str] = "submit_postmortem"
    review: str = attrs.field(default="command", validator=_review_place)


@attrs.frozen(kw_only=True)
class ApprovePostmortem(Command):
    """A reviewer (``by``) approves the post-mortem."""

    trigger: ClassVar[str] = "approve_postmortem"


@attrs.frozen(kw_only=True)
class RequestPostmortemChanges(Command):
    """A reviewer (``by``) asks for changes: their approval no longer counts until renewed."""

    trigger: ClassVar[str] = "request_changes"
    text: str = attrs.field(default="", validator=_string)


@attrs.frozen(kw_only=True)
class RevisePostmortem(Command):
    """Commits pushed to the post-mortem's branch changed its sections (read back from it)."""

    trigger: ClassVar[str] = "revise_postmortem"
    needs_actor: ClassVar[bool] = False
    impact: str = attrs.field(default="", validator=_string)
    root_cause: str = attrs.field(default="", validator=_string)
    learnings: tuple[str, ...] = attrs.field(default=(), converter=_plain_texts)


@attrs.frozen(kw_only=True)
class RecordMerge(Command):
    """The post-mortem's branch was merged (its webhook, a poll); ``location`` is where."""

    trigger: ClassVar[str] = "postmortem_merged"
    needs_actor: ClassVar[bool] = False
    location: str | None = None


@attrs.frozen(kw_only=True)
class RecordReviewClosed(Command):
    """The post-mortem's pull request was closed without merging."""

    trigger: ClassVar[str] = "postmortem_closed"
    needs_actor: ClassVar[bool] = False
    text: str = attrs.field(default="", validator=_string)


@attrs.frozen(kw_only=True)
class PublishPostmortem(Command):
    """Publish the approved post-mortem: merge it (or save it, without a branch) now."""

    trigger: ClassVar[str] = "publish_postmortem"


@attrs.frozen(kw_only=True)
class AddRunbook(Command):
    """A missing runbook was written."""

    trigger: ClassVar[str] = "add_runbook"
    runbook: Runbook = attrs.field(validator=_instance(Runbook, "runbook"))


@attrs.frozen(kw_only=True)
class UpdateRunbook(Command):
    """A runbook was updated from the learnings."""

    trigger: ClassVar[str] = "update_runbook"
    name: str = attrs.field(validator=_not_blank)
    note: str = attrs.field(validator=_not_blank)
    #: Where it lives, for a runbook the catalog does not know yet (it is added first).
    url: str | None = None


@attrs.frozen(kw_only=True)
class WaiveActionItem(Command):
    """An action item will not be done, for a reason."""

    trigger: ClassVar[str] = "waive_action_item"
    item_id: str = attrs.field(validator=_not_blank)
    reason: str = attrs.field(validator=_not_blank)


def _owner(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        msg = f"owner must be a non-blank name or None, got {value!r}"
        raise InvalidCommand(msg)
    return value.strip()


@attrs.frozen(kw_only=True)
class AddFollowUp(Command):
    """A follow-up item a person names (``owner``: who is to do it, if named)."""

    trigger: ClassVar[str] = "add_follow_up"
    title: str = attrs.field(validator=_not_blank)
    owner: str | None = attrs.field(default=None, converter=_owner)


@attrs.frozen(kw_only=True)
class CompleteActionItem(Command):
    """An action item is done (by command, or its tracker issue was closed)."""

    trigger: ClassVar[str] = "complete_action_item"
    item_id: str = attrs.field(validator=_not_blank)
    note: str = attrs.field(default="", validator=_string)


@attrs.frozen(kw_only=True)
class Close(Command):
    """Close the incident for good."""

    trigger: ClassVar[str] = "close"


@attrs.frozen(kw_only=True)
class Note(Command):
    """A status update."""

    trigger: ClassVar[str] = "note"
    text: str = attrs.field(validator=_not_blank)


def _team(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    problem = team_name_problem(value)
    if problem is not None:
        msg = f"{attribute.name} {problem}"
        raise InvalidCommand(msg)


@attrs.frozen(kw_only=True)
class Reassign(Command):
    """Hand the incident to another team (a critical, unresolved one pages it)."""

    trigger: ClassVar[str] = "reassign"
    team: str = attrs.field(validator=_team)


def _person(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        msg = f"say who takes the role: a non-empty name is needed, got {value!r}"
        raise InvalidCommand(msg)
    name = value.strip()
    if len(name) > 200 or not name.isprintable():
        msg = f"a person's name is one line of text (at most 200 characters), got {name[:40]!r}"
        raise InvalidCommand(msg)
    return name


@attrs.frozen(kw_only=True)
class AssignRole(Command):
    """``person`` takes ``role`` (a hand-over when someone holds it); ``by`` assigns it.

    The role is checked against the policy's roles (slugged) by the decision.
    """

    trigger: ClassVar[str] = "assign_role"
    role: str = attrs.field(validator=_not_blank)
    person: str = attrs.field(converter=_person)


@attrs.frozen(kw_only=True)
class RecordAlert(Command):
    """The incident's alert fired again or recovered (from the source; ``by`` is None)."""

    trigger: ClassVar[str] = "alert_repeated"
    needs_actor: ClassVar[bool] = False
    alert: Alert = attrs.field(validator=_instance(Alert, "alert"))

    @property
    def fired_trigger(self) -> str:
        """``alert_repeated`` for a firing alert, ``alert_recovered`` for a recovery."""
        return "alert_repeated" if self.alert.firing else "alert_recovered"
