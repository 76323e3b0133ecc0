"""Prometheus Alertmanager webhooks (version 4), and the Grafana shape built on them."""

from __future__ import annotations

import hashlib
from typing import Any

from .._alerts import Alert, AlertStatus
from ..exceptions import InvalidPayload
from ._common import Body, Fields, convention_severity, load_json, priority

__all__ = ["parse", "parse_group"]

SOURCE = "alertmanager"


def parse(body: Body, headers: Any = None) -> list[Alert]:
    """An Alertmanager group -> one Alert per entry of ``alerts`` (each with its own status).

    Severity: a ``priority`` label P1..P5, else the ``severity`` label (critical -> P1,
    error/high/major -> P2, warning -> P3, info -> P4, none/low -> P5). Dedup key: the
    alert's ``fingerprint`` (stable per label set), the same when it fires and resolves.
    """
    return parse_group(SOURCE, load_json(SOURCE, body))


def parse_group(source: str, data: object, extra: tuple[str, ...] = ()) -> list[Alert]:
    """Parse the Alertmanager group shape for ``source``; ``extra`` names per-alert URL keys."""
    group = Fields(source, data)
    alerts = group.objects("alerts")
    if not alerts:
        msg = f"{source}: alerts is empty"
        raise InvalidPayload(msg)
    return [_alert(source, a, extra) for a in alerts]


def _alert(source: str, a: Fields, extra: tuple[str, ...]) -> Alert:
    status_text = a.text("status").strip().lower()
    if status_text not in ("firing", "resolved"):
        msg = f"{source}: {a.path}.status must be firing or resolved, got {status_text!r}"
        raise InvalidPayload(msg)
    status: AlertStatus = "firing" if status_text == "firing" else "resolved"
    labels = a.string_map("labels")
    annotations = a.string_map("annotations")
    name = labels.get("alertname", "").strip()
    if not name:
        msg = f"{source}: {a.path}.labels.alertname is missing"
        raise InvalidPayload(msg)
    severity = priority(labels.get("priority")) or convention_severity(labels.get("severity"))
    fingerprint = a.text("fingerprint", "").strip()
    if not fingerprint:
        # Alertmanager always sends one; derive a stable one from the labels otherwise.
        canonical = "\x1f".join(f"{k}={v}" for k, v in sorted(labels.items()))
        fingerprint = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    for key in ("runbook_url", *extra):
        value = a.optional_text(key) or annotations.get(key)
        if value:
            labels[key] = value
    return Alert(
        source=source,
        name=name,
        title=(annotations.get("summary") or annotations.get("title") or name).strip() or name,
        severity=severity,
        dedup_key=f"{source}:{fingerprint}",
        status=status,
        description=annotations.get("description", ""),
        labels=labels,
        url=a.optional_text("generatorURL"),
        runbook_url=labels.get("runbook_url") or annotations.get("runbook") or None,
        started_at=a.time("startsAt"),
        raw=dict(a.data),
    )
