"""PagerDuty webhooks v3: what responders did to the incidents we paged.

PagerDuty names its own incident (``data.id``, ``PQ1K5C8``); the dedup key we sent as
``incident_key`` is not in every v3 body (a note's body has only a reference to the incident).
Our incident is found by the reference our pager puts at the end of every page's summary
(``[P1] Checkout 5xx [inc-3f2a9c1d0b7e]``), which PagerDuty carries as the incident's title
(``data.title``, or ``data.incident.summary`` for a note). Else the action names
``pagerduty:<incident_key or id>``: the dedup key of the incident a PagerDuty alert (a v3
``incident.triggered``) opened here, which ``flow.apply`` looks up. A body about another
resource gives no actions.
"""

from __future__ import annotations

import re
from typing import Any

from ..._core.severity import Severity
from ..._responders.actions import Action
from .._common import Body, Fields, load_json, priority

__all__ = ["SOURCE", "our_reference", "parse"]

SOURCE = "pagerduty"
#: The reference our PagerDutyPager appends to a page's summary.
_REFERENCE = re.compile(r"\[([A-Za-z0-9][A-Za-z0-9_.:-]{0,127})\]\s*$")
#: Event types -> the action kind they are (the rest become notes, or nothing).
_KINDS = {
    "incident.acknowledged": "acknowledge",
    "incident.resolved": "resolve",
    "incident.annotated": "note",
    "incident.reopened": "reopen",
    "incident.priority_updated": "reclassify",
}
#: Event types recorded as notes: what each says, and what it adds from the body.
_NOTES = {
    "incident.unacknowledged": (
        "PagerDuty un-acknowledged it (its acknowledgement timed out)",
        None,
    ),
    "incident.escalated": ("PagerDuty escalated it", "assignees"),
    "incident.reassigned": ("PagerDuty reassigned it", "assignees"),
    "incident.delegated": (
        "PagerDuty delegated it to another escalation policy",
        "escalation_policy",
    ),
}


def our_reference(title: str) -> str | None:
    """The incident id our pager put at the end of a page's summary, or None."""
    found = _REFERENCE.search(title)
    return found.group(1) if found else None


def parse(body: Body, headers: Any = None) -> list[Action]:
    """The action in one v3 webhook (``{"event": {...}}``), or none when it is not for us."""
    data = load_json(SOURCE, body)
    event = Fields(SOURCE, data).obj("event")
    assert event is not None  # noqa: S101 - required above
    event_type = event.text("event_type").strip()
    kind = _KINDS.get(event_type)
    note, adds = _NOTES.get(event_type, (None, None))
    if event.text("resource_type", "incident") != "incident" or (kind is None and note is None):
        return []
    details = event.obj("data")
    assert details is not None  # noqa: S101 - required above
    incident = _incident(details)
    if incident is None:
        return []
    agent = event.obj("agent", required=False)
    by = (agent.optional_text("id") if agent else None) or "pagerduty"
    by_name = (agent.optional_text("summary") if agent else None) or None
    text = ""
    severity: Severity | None = None
    if kind == "note":
        text = details.text("content", "").strip()
        if not text:
            return []
    elif kind == "reclassify":
        named = _priority_name(details)
        severity = priority(named)
        if severity is None:
            kind, note = None, f"PagerDuty priority changed to {named or 'none'}"
    elif kind == "resolve":
        text = _resolve_reason(details)
    if kind is None:
        kind, text = "note", _note_text(note or "", adds, details)
    return [
        Action(
            source=SOURCE,
            kind=kind,
            incident=incident,
            by=by,
            by_name=by_name,
            at=event.time("occurred_at"),
            text=text,
            severity=severity,
            delivery_id=f"{SOURCE}:{_delivery(headers) or event.text('id')}",
            raw=data,
        )
    ]


def _delivery(headers: Any) -> str | None:
    """``X-Webhook-Id``: "unique to the webhook but repeated for each delivery attempt"."""
    for key, value in (headers or {}).items():
        if str(key).lower() == "x-webhook-id" and str(value).strip():
            return str(value).strip()
    return None


def _incident(details: Fields) -> str | None:
    """Our incident's id (from the title's reference), else ``pagerduty:<incident_key>``."""
    nested = details.obj("incident", required=False)  # a note: data is the note
    holder = nested if nested is not None and details.text("type", "") != "incident" else details
    title = holder.text("title", "") or holder.text("summary", "")
    reference = our_reference(title)
    if reference is not None:
        return reference
    key = holder.optional_text("incident_key") or holder.optional_text("id")
    return f"{SOURCE}:{key}" if key else None


def _priority_name(details: Fields) -> str | None:
    found = details.obj("priority", required=False)
    return (found.optional_text("summary") or found.optional_text("name")) if found else None


def _resolve_reason(details: Fields) -> str:
    reason = details.data.get("resolve_reason")
    if isinstance(reason, dict):
        return str(reason.get("summary") or reason.get("type") or "")
    return str(reason) if isinstance(reason, str) else ""


def _note_text(note: str, adds: str | None, details: Fields) -> str:
    """The note, with who the incident went to (or which policy) when the event says."""
    if adds == "assignees":
        names = [
            str(a.get("summary"))
            for a in details.data.get("assignees") or []
            if isinstance(a, dict) and a.get("summary")
        ]
        return f"{note}: assigned to {', '.join(names)}" if names else note
    if adds == "escalation_policy":
        policy = details.obj("escalation_policy", required=False)
        name = policy.optional_text("summary") if policy is not None else None
        return f"{note}: {name}" if name else note
    return note
