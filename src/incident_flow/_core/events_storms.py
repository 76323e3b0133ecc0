"""The events of alert storms: groups, held pages and silences (re-exported by :mod:`.events`)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import attrs

from .alerts import Alert
from .event_base import Event

__all__ = [
    "AlertGrouped",
    "AlertSilenced",
    "GroupStarted",
    "IncidentDismissed",
    "PageHeld",
    "PageReleased",
    "SilenceLifted",
]


@attrs.frozen(kw_only=True)
class GroupStarted(Event):
    """The incident's alert started a group: alerts ``rule`` puts in ``group`` join it.

    Until ``until`` (the rule's ``window`` after the group's last new alert), while unresolved.
    """

    rule: str
    group: str
    window: str
    until: datetime


@attrs.frozen(kw_only=True)
class AlertGrouped(Event):
    """Another alert joined the incident by a grouping rule (no incident, no page of its own).

    It keeps its own dedup key (its repeats and recovery come here too); ``rule`` and
    ``window`` say why; ``until`` is the group's new deadline; ``said`` when the chat thread
    was told (at most once per ``Policy.repeat_summary_every``).
    """

    alert: Alert
    rule: str
    group: str
    window: str
    until: datetime
    said: bool = True


@attrs.frozen(kw_only=True)
class PageHeld(Event):
    """The incident is critical but pages only after ``firings`` within ``within_seconds``."""

    firings: int
    within_seconds: float
    rule: str | None = None


@attrs.frozen(kw_only=True)
class PageReleased(Event):
    """A held page went out: the alerts fired ``firings`` times within the threshold."""

    firings: int
    escalate_at: datetime | None = None


@attrs.frozen(kw_only=True)
class AlertSilenced(Event):
    """The incident's alert fired during a silence: recorded, neither posted nor paged.

    The incident waits, unclassified, until ``until``; the alert still firing then opens it as
    usual, and its recovery before then dismisses it.
    """

    silence_id: str
    until: datetime
    why: str
    silenced_by: str


@attrs.frozen(kw_only=True)
class SilenceLifted(Event):
    """The silence ended with the alert still firing: the incident opens as usual now."""

    silence_id: str


@attrs.frozen(kw_only=True)
class IncidentDismissed(Event):
    """A silenced alert recovered before its silence ended: closed, never posted nor paged."""

    trigger: ClassVar[str | None] = "dismiss"

    silence_id: str
