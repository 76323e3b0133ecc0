"""incident.io HTTP alert-source events (``title``, ``status``, ``deduplication_key``...)."""

from __future__ import annotations

from typing import Any

from .._alerts import Alert, AlertStatus
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
    metadata = f.string_map("metadata")
    severity = convention_severity(metadata.get("priority")) or convention_severity(
        metadata.get("severity")
    )
    name = metadata.get("alert_name") or metadata.get("alertname") or title
    return [
        Alert(
            source=SOURCE,
            name=name,
            title=title,
            severity=severity,
            dedup_key=f"{SOURCE}:{key}",
            status=status,
            description=f.text("description", ""),
            labels=metadata,
            url=f.optional_text("source_url"),
            raw=data,
        )
    ]
