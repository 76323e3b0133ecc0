"""PagerDuty bodies: Events API v2 (``event_action``) and webhooks v3 (``event.event_type``).

A v3 webhook's ``incident.triggered`` is an incident opened in PagerDuty (by another
integration, or by hand): it is an alert here, keyed by PagerDuty's ``incident_key`` (else its
incident id), and its ``incident.resolved`` is that alert's recovery. A v3 incident that our
own pager opened (its title ends with our ``[inc-...]`` reference) is not an alert: what
happens to it comes back through ``ingest.actions("pagerduty", ...)``.
"""

from __future__ import annotations

import re
from typing import Any

from .._core.alerts import Alert
from .._core.severity import Severity
from ..exceptions import InvalidPayload
from ._common import Body, Fields, level, load_json

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

    A v3 webhook (``{"event": {...}}``): ``incident.triggered`` -> a firing alert,
    ``incident.resolved`` -> a resolved one, for incidents opened in PagerDuty; other event
    types, and incidents our pager opened, -> none.

    Severity: ``payload.custom_details.priority`` (P1..P5; P0 / SEV0 read as P1) first, else
    ``payload.severity`` (critical -> P1, error -> P2, warning -> P3, info -> P4). Dedup key:
    ``dedup_key`` (required to resolve; a trigger without one is keyed by its source and
    summary).
    """
    data = load_json(SOURCE, body)
    f = Fields(SOURCE, data)
    if "event_action" not in data and isinstance(data.get("event"), dict):
        return _webhook_v3(data)
    if "event_action" not in data and "event_type" in data:
        return _events_v1(data)
    if "event_action" not in data and isinstance(data.get("payload"), dict):
        msg = (
            f"{SOURCE}: a change event (Events API v2 change/enqueue: a deploy or a config "
            "change, no event_action) is not an alert; send it to PagerDuty's change events"
        )
        raise InvalidPayload(msg)
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
    severity = level(details.get("priority")) or SEVERITIES.get(severity_word)
    labels = {k: v for k, v in details.items() if len(v) <= 500}
    for key_name in ("source", "component", "group", "class"):
        if payload.optional_text(key_name):
            labels[key_name] = payload.text(key_name)
    links = [link for link in data.get("links") or [] if isinstance(link, dict)]
    url = f.optional_text("client_url") or next(
        (str(link["href"]) for link in links if isinstance(link.get("href"), str)), None
    )
    runbook_url = details.get("runbook_url") or next(
        (
            str(link["href"])
            for link in links
            if isinstance(link.get("href"), str) and "runbook" in str(link.get("text", "")).lower()
        ),
        None,
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
            runbook_url=runbook_url,
            started_at=payload.time("timestamp"),
            raw=data,
        )
    ]


def _events_v1(data: dict[str, Any]) -> list[Alert]:
    """An Events API v1 body (``service_key``, ``event_type``, ``incident_key``).

    Alertmanager's ``pagerduty_configs`` with a ``service_key`` still send these. A trigger is
    a firing alert keyed by ``incident_key`` (else its description), a resolve its recovery,
    an acknowledge none. v1 has no severity: ``details.priority``/``details.severity`` if any.
    """
    f = Fields(SOURCE, data)
    kind = f.text("event_type").strip().lower()
    if kind == "acknowledge":
        return []
    if kind not in ("trigger", "resolve"):
        msg = (
            f"{SOURCE}: an Events API v1 event_type must be trigger, acknowledge or resolve, "
            f"got {kind!r}"
        )
        raise InvalidPayload(msg)
    key = f.text("incident_key", "").strip()
    summary = f.text("description", "").strip()
    if kind == "resolve" and not key:
        msg = f"{SOURCE}: an Events API v1 resolve needs its incident_key"
        raise InvalidPayload(msg)
    if kind == "trigger" and not (key or summary):
        msg = f"{SOURCE}: an Events API v1 trigger needs an incident_key or a description"
        raise InvalidPayload(msg)
    details = f.string_map("details") if isinstance(data.get("details"), dict) else {}
    severity = level(details.get("priority")) or SEVERITIES.get(
        details.get("severity", "").strip().lower()
    )
    title = summary or key
    return [
        Alert(
            source=SOURCE,
            name=title,
            title=title,
            severity=severity,
            dedup_key=f"{SOURCE}:{key or summary}",
            status="firing" if kind == "trigger" else "resolved",
            labels={"events_api": "v1", **{k: v for k, v in details.items() if len(v) <= 500}},
            url=f.optional_text("client_url"),
            raw=data,
        )
    ]


#: PagerDuty's urgency when an incident has no priority: high pages, low does not.
_URGENCIES = {"high": Severity.P2, "low": Severity.P4}
#: Our default incident ids, as our pager puts them at the end of a page's summary.
_OUR_REFERENCE = re.compile(r"\[(inc-[0-9a-f]{12})\]\s*$")


def _webhook_v3(data: dict[str, Any]) -> list[Alert]:
    event = Fields(SOURCE, data).obj("event")
    assert event is not None  # noqa: S101 - checked by the caller
    kind = event.text("event_type").strip()
    if kind not in ("incident.triggered", "incident.resolved"):
        return []  # acknowledgements, notes...: actions, not alerts
    incident = event.obj("data")
    assert incident is not None  # noqa: S101 - required above
    title = incident.text("title").strip()
    key = incident.optional_text("incident_key")
    ours = _OUR_REFERENCE.search(title)
    if ours is not None and key in (None, ours.group(1)):
        return []  # the page our own pager sent: not a new alert
    if not title:
        msg = f"{SOURCE}: event.data.title is empty"
        raise InvalidPayload(msg)
    priority_of = incident.obj("priority", required=False)
    named = priority_of.optional_text("summary") if priority_of is not None else None
    urgency = incident.text("urgency", "").strip().lower()
    service = incident.obj("service", required=False)
    service_name = service.optional_text("summary") if service is not None else None
    labels = {"pagerduty_incident": incident.text("id")}
    if service_name:
        labels["service"] = service_name
    if urgency:
        labels["urgency"] = urgency
    if named:
        labels["priority"] = named
    return [
        Alert(
            source=SOURCE,
            name=service_name or title,
            title=title,
            severity=level(named) or _URGENCIES.get(urgency),
            dedup_key=f"{SOURCE}:{key or incident.text('id')}",
            status="firing" if kind == "incident.triggered" else "resolved",
            labels=labels,
            url=incident.optional_text("html_url"),
            started_at=incident.time("created_at") or event.time("occurred_at"),
            raw=data,
        )
    ]
