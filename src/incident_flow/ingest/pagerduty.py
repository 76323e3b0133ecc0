"""PagerDuty Events API v2 bodies (``event_action`` trigger / acknowledge / resolve)."""

from __future__ import annotations

from typing import Any

from .._alerts import Alert
from .._severity import Severity
from ..exceptions import InvalidPayload
from ._common import Body, Fields, load_json, priority

__all__ = ["parse"]

SOURCE = "pagerduty"
#: PagerDuty's four severities -> ours.
SEVERITIES = {
    "critical": Severity.P1,
    "error": Severity.P2,
    "warning": Severity.P3,
    "info": Severity.P4,
}


def parse(body: Body, headers: Any = None) -> list[Alert]:
    """A trigger -> a firing Alert; a resolve -> a resolved one; an acknowledge -> none.

    Severity: ``payload.custom_details.priority`` (P1..P5) first, else ``payload.severity``
    (critical -> P1, error -> P2, warning -> P3, info -> P4). Dedup key: ``dedup_key``
    (required to resolve; a trigger without one is keyed by its source and summary).
    """
    data = load_json(SOURCE, body)
    f = Fields(SOURCE, data)
    action = f.text("event_action").strip().lower()
    if action == "acknowledge":
        return []  # not an alert: a person acknowledged somewhere else
    if action not in ("trigger", "resolve"):
        msg = f"{SOURCE}: event_action must be trigger, acknowledge or resolve, got {action!r}"
        raise InvalidPayload(msg)
    key = f.text("dedup_key", "").strip()
    payload = f.obj("payload", required=action == "trigger")
    if action == "resolve" and not key:
        msg = f"{SOURCE}: a resolve event needs its dedup_key"
        raise InvalidPayload(msg)
    if payload is None:
        return [
            Alert(
                source=SOURCE,
                name=key,
                title=key,
                dedup_key=f"{SOURCE}:{key}",
                status="resolved",
                raw=data,
            )
        ]
    summary = payload.text("summary").strip()
    if not summary:
        msg = f"{SOURCE}: payload.summary is empty"
        raise InvalidPayload(msg)
    origin = payload.text("source", "").strip()
    details = payload.string_map("custom_details")
    severity_word = payload.text("severity", "").strip().lower()
    if action == "trigger" and severity_word not in SEVERITIES:
        msg = (
            f"{SOURCE}: payload.severity must be one of {', '.join(SEVERITIES)}, "
            f"got {severity_word!r}"
        )
        raise InvalidPayload(msg)
    severity = priority(details.get("priority")) or SEVERITIES.get(severity_word)
    labels = {k: v for k, v in details.items() if len(v) <= 500}
    for key_name in ("source", "component", "group", "class"):
        if payload.optional_text(key_name):
            labels[key_name] = payload.text(key_name)
    links = [link for link in data.get("links") or [] if isinstance(link, dict)]
    url = f.optional_text("client_url") or next(
        (str(link["href"]) for link in links if isinstance(link.get("href"), str)), None
    )
    name = payload.optional_text("class") or payload.optional_text("component") or summary
    return [
        Alert(
            source=SOURCE,
            name=name,
            title=summary,
            severity=severity,
            dedup_key=f"{SOURCE}:{key or origin + ':' + summary}",
            status="firing" if action == "trigger" else "resolved",
            description=details.get("description", ""),
            labels=labels,
            url=url,
            started_at=payload.time("timestamp"),
            raw=data,
        )
    ]
