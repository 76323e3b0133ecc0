"""Prometheus Alertmanager webhooks (version 4), and the Grafana shape built on them."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urljoin

from .._core.alerts import Alert, AlertStatus
from ..exceptions import InvalidPayload
from ._common import Body, Fields, convention_severity, level, load_json

__all__ = ["parse", "parse_group"]

SOURCE = "alertmanager"


def parse(body: Body, headers: Any = None) -> list[Alert]:
    """An Alertmanager group -> one Alert per entry of ``alerts`` (each with its own status).

    Severity: a ``priority`` label P1..P5 (P0 / SEV0 read as P1, the label kept), else the
    ``severity`` label (critical -> P1, error/high/major -> P2, warning -> P3, info -> P4,
    none/low -> P5). Dedup key: the
    alert's ``fingerprint`` (stable per label set), the same when it fires and resolves.
    """
    return parse_group(SOURCE, load_json(SOURCE, body))


def _url(url: str | None, group: _Group) -> str | None:
    """``generatorURL`` as an absolute URL: a relative one is joined with ``externalURL``."""
    if not url or "://" in url:
        return url
    external = group.external_url
    if not external.startswith(("http://", "https://")):
        return url
    return urljoin(external.rstrip("/") + "/", url.lstrip("/"))


def parse_group(source: str, data: object, extra: tuple[str, ...] = ()) -> list[Alert]:
    """Parse the Alertmanager group shape for ``source``; ``extra`` names per-alert URL keys.

    What an alert leaves out, the group gives: its ``status``, its ``alertname`` (from
    ``commonLabels``, then ``groupLabels``); a relative ``generatorURL`` is joined with the
    group's ``externalURL``.
    """
    group = Fields(source, data)
    alerts = group.objects("alerts")
    if not alerts:
        msg = f"{source}: alerts is empty"
        raise InvalidPayload(msg)
    shared = _Group(group)
    return [_alert(source, a, extra, shared) for a in alerts]


class _Group:
    """What the group gives its alerts; read only when an alert leaves something out."""

    def __init__(self, group: Fields) -> None:
        self.fields = group
        self._status: str | None = None

    @property
    def status(self) -> str:
        if self._status is None:
            self._status = self.fields.text("status", "").strip().lower()
        return self._status

    def names(self) -> list[str]:
        return [
            name
            for key in ("commonLabels", "groupLabels")
            if (name := self.fields.string_map(key).get("alertname", "").strip())
        ]

    @property
    def external_url(self) -> str:
        return self.fields.text("externalURL", "").strip()


def _name(labels: dict[str, str], annotations: dict[str, str], group: _Group) -> str:
    """The alert's name: ``alertname``, the group's, then Grafana's rule name or the summary."""
    name = labels.get("alertname", "").strip()
    if name:
        return name
    for candidate in (
        *group.names(),
        labels.get("rulename", ""),
        labels.get("__alert_rule_title__", ""),
        annotations.get("summary", ""),
    ):
        if candidate.strip():
            return candidate.strip()
    return ""


def _alert(source: str, a: Fields, extra: tuple[str, ...], group: _Group) -> Alert:
    status_text = a.text("status", "").strip().lower() or group.status
    if status_text not in ("firing", "resolved"):
        msg = f"{source}: {a.path}.status must be firing or resolved, got {status_text!r}"
        raise InvalidPayload(msg)
    status: AlertStatus = "firing" if status_text == "firing" else "resolved"
    labels = a.string_map("labels")
    annotations = a.string_map("annotations")
    name = _name(labels, annotations, group)
    if not name:
        msg = (
            f"{source}: {a.path}.labels.alertname is missing, and neither the group's labels "
            "nor a rule name or summary names the alert"
        )
        raise InvalidPayload(msg)
    severity = level(labels.get("priority")) or convention_severity(labels.get("severity"))
    fingerprint = a.text("fingerprint", "").strip()
    if not fingerprint:
        # Alertmanager always sends one; derive a stable one from the labels otherwise.
        canonical = "\x1f".join(f"{k}={v}" for k, v in sorted(labels.items()))
        fingerprint = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    for key in ("runbook_url", *extra):
        value = a.optional_text(key) or annotations.get(key)
        if value:
            labels[key] = value
    # kubernetes-mixin's older rules say it all in "message".
    message = annotations.get("message", "").strip()
    title = annotations.get("summary") or annotations.get("title") or message or name
    return Alert(
        source=source,
        name=name,
        title=title.strip() or name,
        severity=severity,
        dedup_key=f"{source}:{fingerprint}",
        status=status,
        description=annotations.get("description", "") or message,
        labels=labels,
        url=_url(a.optional_text("generatorURL"), group),
        runbook_url=labels.get("runbook_url") or annotations.get("runbook") or None,
        started_at=a.time("startsAt"),
        raw=dict(a.data),
    )
