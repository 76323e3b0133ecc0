"""The events of who owns and leads an incident (re-exported by :mod:`.events`).

Its team, its roles, its own channel.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from .event_base import Event, _strings

__all__ = [
    "ChannelNotOpened",
    "ChannelOpened",
    "ChannelRequested",
    "CommanderReminded",
    "CommanderScheduled",
    "RoleAssigned",
    "TeamReassigned",
]


@attrs.frozen(kw_only=True)
class TeamReassigned(Event):
    """The incident was handed to another team (``previous``: None, the default team).

    ``paged`` when that paged the new team (a critical, unresolved incident): its escalation
    starts over, due at ``escalate_at``.
    """

    team: str
    previous: str | None = None
    paged: bool = False
    escalate_at: datetime | None = None


@attrs.frozen(kw_only=True)
class RoleAssigned(Event):
    """``person`` took ``role`` from ``previous`` (None: nobody had it); ``by`` assigned it."""

    role: str
    person: str
    previous: str | None = None


@attrs.frozen(kw_only=True)
class CommanderScheduled(Event):
    """The commander timer: ``step`` (remind, page, done; None: off) at ``due_at``."""

    required: bool  # a commander was ever needed (it stays)
    step: str | None = None
    due_at: datetime | None = None


@attrs.frozen(kw_only=True)
class CommanderReminded(Event):
    """Nobody led: the chat reminded or ``targets`` paged (``step``); ``next`` at ``due_at``."""

    step: str
    targets: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    paged: bool = False
    next: str = "done"
    due_at: datetime | None = None


@attrs.frozen(kw_only=True)
class ChannelRequested(Event):
    """The incident gets a channel of its own, ``name`` (the policy's pattern filled in)."""

    name: str


@attrs.frozen(kw_only=True)
class ChannelOpened(Event):
    """Its channel is open: ``channel`` (the chat's id); ``message``: its message there."""

    channel: str
    message: str


@attrs.frozen(kw_only=True)
class ChannelNotOpened(Event):
    """Its channel could not be opened (``reason``): the alerts channel's thread is used."""

    reason: str
