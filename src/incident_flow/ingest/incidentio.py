"""incident.io: HTTP alert-source events, and its outgoing webhooks about alerts.

The alert-source event is flat (``title``, ``status``, ``deduplication_key``...). An outgoing
webhook wraps an alert in an envelope named by its type:
``{"event_type": "public_alert.alert_created_v1", "public_alert.alert_created_v1": {...}}``
(also ``public_alert.alert_resolved_v1``), with ``attributes`` instead of ``metadata``. Other
webhook types (incidents, follow-ups, and ``private_alert.*``, which carry only an id) are not
alerts: none.
"""

from __future__ import annotations

from typing import Any

from .._core.alerts import Alert, AlertStatus
from ..exceptions import InvalidPayload
from ._common import Body, Fields, convention_severity, load_json

__all__ = ["parse"]

SOURCE = "incidentio"


def parse(body: Body, headers: Any = None) -> list[Alert]:
    """One alert event -> one Alert.

    The event has no severity field: ``metadata.priority`` (P1..P5), else
    ``metadata.severity`` (a convention word), else none. The dedup key is
    ``deduplication_key``, the same when it fires and resolves.
    """
    data = load_json(SOURCE, body)
    if "event_type" in data:
        return _webhook(data)
    f = Fields(SOURCE, data)
    status_text = f.text("status").strip().lower()
    if status_text not in ("firing", "resolved"):
        msg = f"{SOURCE}: status must be firing or resolved, got {status_text!r}"
        raise InvalidPayload(msg)
    status: AlertStatus = "firing" if status_text == "firing" else "resolved"
    title = f.text("title").strip()
    if not title:
        msg = f"{SOURCE}: title is empty"
        raise InvalidPayload(msg)
    key = f.text("deduplication_key", "").strip()
    if not key:
        msg = f"{SOURCE}: deduplication_key is missing (needed to match a resolve to its alert)"
        raise InvalidPayload(msg)
    return [_alert(f, f.string_map("metadata"), status, title, key, data=data)]


def _alert(
    f: Fields, metadata: dict[str, str], status: AlertStatus, title: str, key: str, *, data: Any
) -> Alert:
    severity = convention_severity(metadata.get("priority")) or convention_severity(
        metadata.get("severity")
    )
    name = metadata.get("alert_name") or metadata.get("alertname") or title
    return Alert(
        source=SOURCE,
        name=name,
        title=title,
        severity=severity,
        dedup_key=f"{SOURCE}:{key}",
        status=status,
        description=f.text("description", ""),
        labels=metadata,
        url=f.optional_text("source_url"),
        runbook_url=metadata.get("runbook_url") or metadata.get("runbook") or None,
        started_at=f.time("created_at"),
        raw=data,
    )


_ALERT_EVENTS = {
    "public_alert.alert_created_v1": "firing",
    "public_alert.alert_resolved_v1": "resolved",
}


def _webhook(data: Any) -> list[Alert]:
    """An outgoing webhook: an alert created or resolved in incident.io -> one Alert."""
    f = Fields(SOURCE, data)
    event_type = f.text("event_type").strip()
    if event_type not in _ALERT_EVENTS:
        return []  # an incident, a follow-up, a private alert (only an id): not an alert here
    alert = f.obj(event_type)
    assert alert is not None  # noqa: S101 - required above
    status: AlertStatus = "resolved" if _ALERT_EVENTS[event_type] == "resolved" else "firing"
    if alert.text("status", "").strip().lower() == "resolved":
        status = "resolved"
    title = alert.text("title").strip()
    if not title:
        msg = f"{SOURCE}: {event_type}.title is empty"
        raise InvalidPayload(msg)
    key = (alert.optional_text("deduplication_key") or alert.text("id")).strip()
    return [_alert(alert, _attributes(alert), status, title, key, data=data)]


def _attributes(alert: Fields) -> dict[str, str]:
    """``attributes[]`` as labels: the attribute's name -> its value's label or literal."""
    labels: dict[str, str] = {}
    for entry in alert.data.get("attributes") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("attribute"), dict):
            continue
        name = entry["attribute"].get("name")
        value = entry.get("value")
        if not isinstance(value, dict):
            values = [v for v in entry.get("array_value") or [] if isinstance(v, dict)]
            value = values[0] if values else None
        if isinstance(name, str) and isinstance(value, dict):
            text = value.get("label") or value.get("literal")
            if isinstance(text, (str, int, float)) and not isinstance(text, bool):
                labels[name] = str(text)
    return labels
