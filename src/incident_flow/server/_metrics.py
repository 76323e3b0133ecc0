"""Prometheus metrics of a running service: what the process did and where incidents stand."""

from __future__ import annotations

from datetime import UTC, datetime

from .._core.incident import Incident
from .._core.process import FINAL_STATE, OPEN_STATES
from .._delivery.pauses import Pauses
from ..ports import StoreCounts

__all__ = ["ServiceMetrics"]

#: The channels whose pause gauges are always exported (0 when not paused).
CHANNELS = ("pager", "chat", "publisher")
#: Seconds: a minute to a day, for time to acknowledge and to resolve.
_BUCKETS = (60.0, 300.0, 900.0, 1800.0, 3600.0, 4 * 3600.0, 12 * 3600.0, 86400.0)


class ServiceMetrics:
    """The service's metrics on their own registry (a host's registry stays untouched).

    Counters move as the service works (requests, deliveries by channel, pages, escalations);
    gauges are set at scrape time from the store's counts (incidents by state and severity,
    the outbox backlog and its oldest age, and each channel's pause: :meth:`observe_pauses`);
    MTTA and MTTR are observed when this process
    commits an acknowledgement or a resolution (:meth:`committed`), so several replicas'
    histograms add up to every incident once.
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
        self.paused = Gauge(
            "incident_flow_channel_paused",
            "1 while a channel is paused after failing (its messages wait), else 0",
            ["channel"],
            registry=r,
        )
        self.paused_for = Gauge(
            "incident_flow_channel_paused_seconds",
            "Seconds until a paused channel is tried again (0 when not paused)",
            ["channel"],
            registry=r,
        )
        self.pauses = Counter(
            "incident_flow_channel_pauses",
            "Pauses of a channel (each failure in a row starts or lengthens one)",
            ["channel"],
            registry=r,
        )
        self._pauses_seen: dict[str, int] = {}
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

    def delivered(self, channel: str, kind: str) -> None:
        """A message went out."""
        self.deliveries.labels(channel, kind).inc()
        if channel == "pager" and kind == "page":
            self.pages.inc()

    def observe(self, counts: StoreCounts) -> None:
        """Set the gauges from the store's counts (closed incidents as ``severity="any"``)."""
        self.incidents.clear()
        for state, severity, n in counts.incidents:
            if state in COUNTED_STATES:
                self.incidents.labels(state, severity).set(n)
        if counts.closed:
            self.incidents.labels(FINAL_STATE, "any").set(counts.closed)
        self.backlog.set(counts.pending)
        oldest = counts.oldest_pending
        age = 0.0 if oldest is None else (datetime.now(UTC) - oldest).total_seconds()
        self.oldest.set(age)

    def observe_pauses(self, pauses: Pauses, now: datetime | None = None) -> None:
        """Set each channel's pause gauges and count the pauses since the last scrape."""
        now = now if now is not None else datetime.now(UTC)
        paused = pauses.paused(now)
        for channel in (*CHANNELS, *sorted(set(paused) - set(CHANNELS))):
            until = paused.get(channel)
            self.paused.labels(channel).set(0 if until is None else 1)
            left = 0.0 if until is None else (until - now).total_seconds()
            self.paused_for.labels(channel).set(max(left, 0.0))
        started = pauses.started()
        for channel in sorted(set(CHANNELS) | set(started)):
            counter = self.pauses.labels(channel)  # exported at 0 before the first pause
            new = started.get(channel, 0) - self._pauses_seen.get(channel, 0)
            if new > 0:
                counter.inc(new)
                self._pauses_seen[channel] = started[channel]

    def committed(self, before: Incident | None, incident: Incident) -> None:
        """Observe MTTA / MTTR when a commit acknowledges or resolves the incident."""
        acked = incident.acknowledged_at
        if acked is not None and (before is None or before.acknowledged_at is None):
            self.mtta.observe((acked - incident.created_at).total_seconds())
        resolved = incident.resolved_at
        if resolved is not None and (before is None or before.resolved_at is None):
            self.mttr.observe((resolved - incident.created_at).total_seconds())

    def text(self) -> bytes:
        """The Prometheus text exposition."""
        from prometheus_client import generate_latest  # noqa: PLC0415

        return generate_latest(self.registry)


#: The states whose incidents are counted by severity (closed ones only by number).
COUNTED_STATES = OPEN_STATES
