"""Roles: who leads an incident (the commander), who talks (communications), who writes (scribe).

The policy declares the roles (:class:`Roles`, ``[roles]`` in the policy file; a team may
override them), which severities need a commander, and what happens when such an incident has
none: after ``remind_after`` the incident's chat is reminded, then after ``page_after`` the
commander rotation (``page``, escalation targets such as ``schedule:commanders``) is paged.
An incident keeps who holds each role (``Incident.roles``) and every hand-over
(``Incident.role_changes``); once a commander was required, a hand-over never leaves it
without one.

Pure: :func:`commander_watch` says what the commander timer should be after a decision; the
decisions themselves live in ``_response/roles.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import attrs

from .events import CommanderReminded, CommanderScheduled, RoleAssigned
from .severity import Severity

if TYPE_CHECKING:
    from .incident import Incident

__all__ = [
    "COMMANDER",
    "DEFAULT_ROLES",
    "NO_ROLES",
    "RoleChange",
    "Roles",
    "assigned",
    "commander_watch",
    "reminded",
    "role_slug",
    "roles_mapping",
    "scheduled",
]

#: The role that leads; the one a severity may require and whose absence is reminded and paged.
COMMANDER = "commander"
#: Nobody holds a role yet (read-only, shared by every incident that has none).
NO_ROLES: Mapping[str, str] = MappingProxyType({})
#: The roles a policy declares when it says nothing.
DEFAULT_ROLES = ("commander", "communications", "scribe")
#: A role's name: a slug (lower-case letters, digits, ``-``), safe in a command and a message.
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_UNRESOLVED = frozenset({"notified", "runbook"})


def role_slug(value: object) -> str:
    """The slug of a role's name: ``Communications Lead`` is ``communications-lead``.

    Raises:
        ValueError: not a string, or nothing of it is a letter or a digit.
    """
    if not isinstance(value, str):
        msg = f"a role is named by a string, got {value!r}"
        raise ValueError(msg)
    slug = _NOT_SLUG.sub("-", value.strip().casefold()).strip("-")
    if not slug or len(slug) > 40 or not _SLUG.fullmatch(slug):
        msg = f"a role's name needs letters or digits (at most 40), like 'scribe', got {value!r}"
        raise ValueError(msg)
    return slug


def _slugs(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        msg = f"Roles.names must be a list of role names, got {value!r}"
        raise ValueError(msg)
    names = tuple(dict.fromkeys(role_slug(v) for v in value))
    if not names:
        msg = "Roles.names must declare at least one role"
        raise ValueError(msg)
    return names


def _severities(value: Iterable[Severity | str]) -> frozenset[Severity]:
    return frozenset(Severity(v) for v in value)


def _delay(value: object) -> timedelta:
    if isinstance(value, timedelta) and value > timedelta(0):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return timedelta(seconds=value)
    msg = f"Roles delays must be a positive timedelta or seconds, got {value!r}"
    raise ValueError(msg)


def _targets(value: object) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else value
    if not isinstance(items, Iterable) or not all(isinstance(t, str) and t.strip() for t in items):
        msg = f"Roles.page must be a list of targets like 'schedule:commanders', got {value!r}"
        raise ValueError(msg)
    return tuple(t.strip() for t in items)


def _needs_commander(instance: Roles, attribute: object, value: frozenset[Severity]) -> None:
    if value and COMMANDER not in instance.names:
        msg = (
            f"Roles.commander_required names severities, but {COMMANDER!r} is not among the "
            f"roles ({', '.join(instance.names)})"
        )
        raise ValueError(msg)


@attrs.frozen(kw_only=True)
class Roles:
    """The roles of an incident and the commander rule.

    Attributes:
        names: the roles people can take, as slugs (default commander, communications,
            scribe); names given are slugged (``Comms Lead`` is ``comms-lead``).
        commander_required: severities whose incidents need a commander (default none: no
            reminder, no page, as in 0.2).
        remind_after: how long an incident that needs a commander may have none before its
            chat is reminded (default 10 minutes).
        page_after: how long after that reminder the commander rotation is paged (default
            10 minutes); only a critical incident is paged, and only when ``page`` names
            someone.
        page: who is paged then: escalation targets (``schedule:NAME``, a schedule's name, a
            person or a name the pager knows); empty: the reminder only.
    """

    names: tuple[str, ...] = attrs.field(default=DEFAULT_ROLES, converter=_slugs)
    commander_required: frozenset[Severity] = attrs.field(
        default=frozenset(), converter=_severities, validator=_needs_commander
    )
    remind_after: timedelta = attrs.field(default=timedelta(minutes=10), converter=_delay)
    page_after: timedelta = attrs.field(default=timedelta(minutes=10), converter=_delay)
    page: tuple[str, ...] = attrs.field(default=(), converter=_targets)

    def role(self, name: object) -> str | None:
        """The declared role ``name`` names (slugged), or None."""
        try:
            slug = role_slug(name)
        except ValueError:
            return None
        return slug if slug in self.names else None

    def needs_commander(self, severity: Severity) -> bool:
        """Whether incidents of ``severity`` need a commander."""
        return severity in self.commander_required

    def describe(self) -> str:
        """One line for ``policy check``: the roles, and the commander rule."""
        line = f"roles: {', '.join(self.names)}"
        if not self.commander_required:
            return f"{line}; no severity needs a commander"
        needs = ", ".join(str(s) for s in sorted(self.commander_required))
        line += f"; {needs} need a commander: reminded after {_text(self.remind_after)}"
        if self.page:
            line += f", then {', '.join(self.page)} paged {_text(self.page_after)} later"
        return line


def _text(delay: timedelta) -> str:
    seconds = int(delay.total_seconds())
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@attrs.frozen(kw_only=True)
class RoleChange:
    """One hand-over: ``person`` took ``role`` from ``previous`` (None: nobody had it).

    ``by`` is who made it, ``at`` when.
    """

    role: str
    person: str
    previous: str | None
    by: str | None
    at: datetime


def roles_mapping(value: Mapping[str, str]) -> Mapping[str, str]:
    """A read-only copy of who holds each role."""
    return MappingProxyType(dict(value))


def commander_watch(
    incident: Incident, roles: Roles, at: datetime
) -> tuple[bool, str | None, datetime | None] | None:
    """What the commander timer of ``incident`` should become after a decision, or None.

    Returns ``(required, step, due_at)`` when it changes: ``required`` once the severity ever
    needed a commander (it stays); the timer runs while the incident is unresolved, its
    severity needs a commander and nobody holds the role (a reopened incident starts over).
    """
    needs = incident.severity in roles.commander_required
    required = incident.commander_required or needs
    waiting = needs and incident.state in _UNRESOLVED and COMMANDER not in incident.roles
    step, due = incident.commander_step, incident.commander_due_at
    if waiting and step is None:
        step, due = "remind", at + roles.remind_after
    elif not waiting and step is not None:
        step, due = None, None
    if (required, step, due) == (
        incident.commander_required,
        incident.commander_step,
        incident.commander_due_at,
    ):
        return None
    return required, step, due


def assigned(incident: Incident, event: RoleAssigned) -> dict[str, Any]:
    """The fold of a :class:`~.events.RoleAssigned`: who holds the role now, and the hand-over.

    A commander stops the commander timer.
    """
    change = RoleChange(
        role=event.role,
        person=event.person,
        previous=event.previous,
        by=event.by,
        at=event.at,
    )
    changes: dict[str, Any] = {
        "roles": roles_mapping({**incident.roles, event.role: event.person}),
        "role_changes": (*incident.role_changes, change),
    }
    if event.role == COMMANDER:
        changes.update(commander_step=None, commander_due_at=None)
    return changes


def scheduled(incident: Incident, event: CommanderScheduled) -> dict[str, Any]:
    """The fold of a :class:`~.events.CommanderScheduled`."""
    return {
        "commander_required": incident.commander_required or event.required,
        "commander_step": event.step,
        "commander_due_at": event.due_at,
    }


def reminded(incident: Incident, event: CommanderReminded) -> dict[str, Any]:
    """The fold of a :class:`~.events.CommanderReminded` (a page counts as paged)."""
    return {
        "commander_step": event.next,
        "commander_due_at": event.due_at,
        "paged": incident.paged or event.paged,
    }
