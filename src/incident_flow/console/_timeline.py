"""An incident's events as timeline rows: when (in the viewer's zone), who, what, the outcome.

Every event is shown, the deliveries too (delivered, failed and when it is tried again, held
by a paused channel). The text is the events' own, left to the template to escape.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from .._core.alerts import Alert
from .._core.events import Event
from .._core.runbooks import Runbook
from .._delivery.pauses import held_by_pause

__all__ = ["Row", "timeline"]

#: Fields not worth a column: the alert (its title is shown instead), the audit copy, ids.
_SKIP = {"version", "at", "by", "incident_id", "raw", "dedup_key", "message_id"}


@attrs.frozen(kw_only=True)
class Row:
    """One line of the timeline.

    Attributes:
        at: the time, in the viewer's zone, as text.
        by: who acted (``system`` where nobody did).
        what: the event's name in words (``Incident acknowledged``).
        detail: its fields as ``name: value`` pairs.
        outcome: ``ok``, ``failed``, ``held`` for deliveries; ``""`` otherwise.
    """

    at: str
    by: str
    what: str
    detail: tuple[tuple[str, str], ...]
    outcome: str = ""


def timeline(events: Sequence[Event], zone: ZoneInfo) -> list[Row]:
    """The rows of ``events``, oldest first."""
    return [_row(event, zone) for event in events]


def _row(event: Event, zone: ZoneInfo) -> Row:
    outcome = ""
    if event.type == "MessageDelivered":
        outcome = "ok"
    elif event.type == "DeliveryFailed":
        error = str(getattr(event, "error", ""))
        outcome = "held" if held_by_pause(str(getattr(event, "channel", "")), error) else "failed"
    detail = tuple(
        (field.name.replace("_", " "), _text(getattr(event, field.name), zone))
        for field in attrs.fields(type(event))
        if field.name not in _SKIP and getattr(event, field.name) not in (None, "", ())
    )
    return Row(
        at=_at(event.at, zone),
        by=event.by or "system",
        what=_words(event.type),
        detail=detail,
        outcome=outcome,
    )


def _at(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def _words(name: str) -> str:
    """``IncidentAcknowledged`` -> ``Incident acknowledged``."""
    out = "".join(f" {c.lower()}" if c.isupper() else c for c in name).strip()
    return out[:1].upper() + out[1:]


def _text(value: Any, zone: ZoneInfo) -> str:
    if isinstance(value, datetime):
        return _at(value, zone)
    if isinstance(value, Alert):
        return f"{value.status}: {value.title}"
    if isinstance(value, Runbook):
        return f"{value.name} ({value.url})"
    if isinstance(value, tuple | list | frozenset):
        return ", ".join(_text(v, zone) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
