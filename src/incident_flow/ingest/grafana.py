"""Grafana unified alerting webhooks: the Alertmanager shape with Grafana's extras."""

from __future__ import annotations

from typing import Any

from .._core.alerts import Alert
from ..exceptions import InvalidPayload
from ._common import Body, load_json
from .alertmanager import parse_group

__all__ = ["parse"]

SOURCE = "grafana"


#: The keys of a legacy (before unified alerting, Grafana < 8 or with it turned off) body.
_LEGACY = ("ruleName", "ruleId", "evalMatches")
#: What Grafana's contact point "Test" button sends as its one alert's labels.
_TEST_LABELS = {"alertname": "TestAlert", "instance": "Grafana"}


def parse(body: Body, headers: Any = None) -> list[Alert]:
    """A Grafana notification -> one Alert per alert, read as Alertmanager's shape.

    Severity and dedup key as for Alertmanager; dashboard, panel and silence links are kept as
    labels; a relative ``generatorURL`` is joined with ``externalURL``. The contact point's
    "Test" notification is accepted and opens nothing (``[]``). Refused with the reason: a
    legacy-alerting body (``ruleName``/``state``), and a custom payload (Grafana 12+) that
    dropped ``alerts``.
    """
    data = load_json(SOURCE, body)
    if isinstance(data, dict) and "alerts" not in data:
        if any(key in data for key in _LEGACY):
            msg = (
                f"{SOURCE}: a legacy alerting body (ruleName/state, Grafana before unified "
                "alerting): use a unified alerting webhook contact point"
            )
            raise InvalidPayload(msg)
        msg = (
            f"{SOURCE}: no alerts list: a custom webhook payload replaces Grafana's default "
            "body; keep the default body for incident_flow"
        )
        raise InvalidPayload(msg)
    if _is_test(data):
        return []  # the contact point's Test button: the receiver works, nothing to open
    return parse_group(SOURCE, data, extra=("dashboardURL", "panelURL", "silenceURL"))


def _is_test(data: object) -> bool:
    alerts = data.get("alerts") if isinstance(data, dict) else None
    if not isinstance(alerts, list) or not alerts:
        return False
    return all(
        isinstance(alert, dict)
        and isinstance(alert.get("labels"), dict)
        and all(alert["labels"].get(k) == v for k, v in _TEST_LABELS.items())
        for alert in alerts
    )
