"""Opsgenie outgoing webhooks (the Webhook integration, "Add Alert Description to Payload").

Our OpsgeniePager creates each alert with ``alias`` = our incident's id, and Opsgenie carries
the alias in every webhook about the alert, so ``alert.alias`` names our incident. Opsgenie
sends no delivery id: a delivery is named by the alert, the action and ``alert.updatedAt``
(nanoseconds, different for every change), which a retry repeats.
"""

from __future__ import annotations

from typing import Any

from ..._responders.actions import Action
from .._common import Body, Fields, load_json

__all__ = ["SOURCE", "parse"]

SOURCE = "opsgenie"
#: Opsgenie's ``action`` -> the action kind.
_KINDS = {
    "Acknowledge": "acknowledge",
    "Close": "resolve",
    "AddNote": "note",
    "EscalateToNext": "escalate",
    "EscalateNext": "escalate",  # the spelling some integrations use
}
#: Actions recorded as notes, with what they say.
_NOTES = {
    "UnAcknowledge": "Opsgenie un-acknowledged it",
    "AssignOwnership": "Opsgenie assigned it",
    "TakeOwnership": "took ownership in Opsgenie",
}
#: What our OpsgeniePager names itself as (``source``): its own requests echo back so.
_OURS = "incident_flow"


def parse(body: Body, headers: Any = None) -> list[Action]:
    """The action in one webhook, or none (an alert that is not ours, an action we skip)."""
    data = load_json(SOURCE, body)
    f = Fields(SOURCE, data)
    name = f.text("action").strip()
    kind = _KINDS.get(name)
    note = _NOTES.get(name)
    if kind is None and note is None:
        return []  # Create, Escalate (Opsgenie's own rules), Delete...: not a responder's act
    alert = f.obj("alert")
    assert alert is not None  # noqa: S101 - required above
    alias = alert.optional_text("alias")
    origin = f.obj("source", required=False)
    if alias is None or (origin is not None and origin.text("name", "") == _OURS):
        return []  # not one of our alerts, or our own request coming back
    text = note or ""
    if kind == "note":
        text = alert.text("note", "").strip()
        if not text:
            return []
    elif kind == "resolve":
        text = alert.text("note", "").strip()
    by = alert.optional_text("username") or alert.optional_text("userId") or "opsgenie"
    stamp = alert.text("updatedAt", "")
    return [
        Action(
            source=SOURCE,
            kind=kind or "note",
            incident=alias,
            by=by,
            by_aliases=[a for a in (alert.optional_text("userId"),) if a],
            at=alert.time("updatedAt"),  # nanoseconds, read as such
            text=text,
            delivery_id=f"{SOURCE}:{alert.text('alertId')}:{name}:{stamp}",
            raw=data,
        )
    ]
