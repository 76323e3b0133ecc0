"""Prometheus metrics of a running service: what the process did and where incidents stand."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .._incident import Incident
from .._process import OPEN_STATES

__all__ = ["ServiceMetrics"]

#: Seconds: a minute to a day, for time to acknowledge and to resolve.
_BUCKETS = (60.0, 300.0, 900.0, 1800.0, 3600.0, 4 * 3600.0, 12 * 3600.0, 86400.0)


class ServiceMetrics:
    """The service's metrics on their own registry (a host's registry stays untouched).

    Counters move as the service works (requests, deliveries by channel, pages, escalations);
    gauges are read from the store at scrape time (incidents by state and severity, the outbox
    backlog and its oldest age); MTTA and MTTR are observed once per incident this process
    saw acknowledged or resolved.
    """

    def __init__(self) -> None:
        from prometheus_client import (  # noqa: PLC0415 - the server extra
            CollectorRegistry,
            Counter,
            Gauge,
            Histogram,
        )

        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "incident_flow_requests",
            "HTTP requests by route and status",
            ["route", "status"],
            registry=r,
        )
        self.alerts = Counter(
            "incident_flow_alerts", "Alerts received by source", ["source"], registry=r
        )
        self.deliveries = Counter(
            "incident_flow_deliveries",
            "Messages delivered by channel and kind",
            ["channel", "kind"],
            registry=r,
        )
        self.failures = Counter(
            "incident_flow_delivery_failures",
            "Failed delivery attempts by channel",
            ["channel"],
            registry=r,
        )
        self.pages = Counter("incident_flow_pages", "Pages sent (kind page)", registry=r)
        self.escalations = Counter(
            "incident_flow_escalations", "Escalation levels paged by the timers", registry=r
        )
        self.incidents = Gauge(
            "incident_flow_incidents",
            "Incidents by state and severity",
            ["state", "severity"],
            registry=r,
        )
        self.backlog = Gauge(
            "incident_flow_outbox_backlog", "Outbox messages not delivered yet", registry=r
        )
        self.oldest = Gauge(
            "incident_flow_outbox_oldest_seconds",
            "Age of the oldest undelivered outbox message",
            registry=r,
        )
        self.worker_turns = Counter(
            "incident_flow_worker_turns", "Turns of the worker loop", registry=r
        )
        self.mtta = Histogram(
            "incident_flow_time_to_acknowledge_seconds",
            "From opened to acknowledged",
            buckets=_BUCKETS,
            registry=r,
        )
        self.mttr = Histogram(
            "incident_flow_time_to_resolve_seconds",
            "From opened to resolved",
            buckets=_BUCKETS,
            registry=r,
        )
        self._acked: set[str] = set()
        self._resolved: set[str] = set()

    def delivered(self, channel: str, kind: str) -> None:
        """A message went out."""
        self.deliveries.labels(channel, kind).inc()
        if channel == "pager" and kind == "page":
            self.pages.inc()

    def observe(self, incidents: list[Incident], closed: int, pending: list[Any]) -> None:
        """Set the gauges from a fresh look at the store."""
        self.incidents.clear()
        for incident in incidents:
            self.incidents.labels(incident.state, str(incident.severity)).inc()
            self._times(incident)
        if closed:
            self.incidents.labels("closed", "any").set(closed)
        self.backlog.set(len(pending))
        now = datetime.now(UTC)
        oldest = min((m.created_at for m in pending), default=None)
        self.oldest.set((now - oldest).total_seconds() if oldest is not None else 0.0)

    def _times(self, incident: Incident) -> None:
        if incident.acknowledged_at is not None and incident.id not in self._acked:
            self._acked.add(incident.id)
            self.mtta.observe((incident.acknowledged_at - incident.created_at).total_seconds())
        if incident.resolved_at is not None and incident.id not in self._resolved:
            self._resolved.add(incident.id)
            self.mttr.observe((incident.resolved_at - incident.created_at).total_seconds())

    def text(self) -> bytes:
        """The Prometheus text exposition."""
        from prometheus_client import generate_latest  # noqa: PLC0415

        return generate_latest(self.registry)


#: The states whose incidents are counted one by one (closed ones only by number).
COUNTED_STATES = OPEN_STATES
