"""Grafana unified alerting webhooks: the Alertmanager shape with Grafana's extras."""

from __future__ import annotations

from typing import Any

from .._alerts import Alert
from ..exceptions import InvalidPayload
from ._common import Body, load_json
from .alertmanager import parse_group

__all__ = ["parse"]

SOURCE = "grafana"


def parse(body: Body, headers: Any = None) -> list[Alert]:
    """A Grafana notification -> one Alert per alert, read as Alertmanager's shape.

    Severity and dedup key as for Alertmanager; dashboard, panel and silence links are kept as
    labels. A custom payload (Grafana 12+) that dropped ``alerts`` is refused with that reason.
    """
    data = load_json(SOURCE, body)
    if isinstance(data, dict) and "alerts" not in data:
        msg = (
            f"{SOURCE}: no alerts list: a custom webhook payload replaces Grafana's default "
            "body; keep the default body for incident_flow"
        )
        raise InvalidPayload(msg)
    return parse_group(SOURCE, data, extra=("dashboardURL", "panelURL", "silenceURL"))
