"""Prometheus metrics of a running service: what the process did and where incidents stand."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

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

    def __init__(self, teams: tuple[str, ...] = (), default_team: str | None = None) -> None:
        """The metrics; with ``teams`` (a policy's teams), incidents and MTTA/MTTR by team.

        Without teams every metric is as it was, with no ``team`` label. With them the label's
        values are those teams and ``other`` (an incident of a team the policy no longer
        declares); an incident with no team (opened before the policy had teams) is the
        ``default_team``'s, as the policy decides it.
        """
        self.teams = tuple(teams)
        self.default_team = default_team or (self.teams[0] if self.teams else None)
        by_team = ["team"] if self.teams else []
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
            "incident_flow_alerts",
            "Alerts received by source" + (" and the team they are routed to" if by_team else ""),
            ["source", *by_team],
            registry=r,
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
            "Incidents by state and severity" + (" and team" if by_team else ""),
            ["state", "severity", *by_team],
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
            by_team,
            buckets=_BUCKETS,
            registry=r,
        )
        self.mttr = Histogram(
            "incident_flow_time_to_resolve_seconds",
            "From opened to resolved",
            by_team,
            buckets=_BUCKETS,
            registry=r,
        )

    def delivered(self, channel: str, kind: str) -> None:
        """A message went out."""
        self.deliveries.labels(channel, kind).inc()
        if channel == "pager" and kind == "page":
            self.pages.inc()

    def received(self, source: str, teams: Sequence[str]) -> None:
        """Alerts came in from ``source``, one per team they are routed to (in order).

        Without teams only how many counts (one ``source`` label, as before teams).
        """
        if not self.teams:
            self.alerts.labels(source).inc(len(teams))
            return
        counted: dict[str, int] = {}
        for team in teams:
            label = self.team_label(team)
            counted[label] = counted.get(label, 0) + 1
        for label, n in counted.items():
            self.alerts.labels(source, label).inc(n)

    def team_label(self, team: str | None) -> str:
        """The ``team`` label of an incident of ``team``: bounded by the configured teams."""
        if team is None:
            return self.default_team or "other"
        return team if team in self.teams else "other"

    def observe(
        self, counts: StoreCounts, by_team: Mapping[tuple[str, str, str | None], int] | None = None
    ) -> None:
        """Set the gauges from the store's counts (closed incidents as ``severity="any"``).

        With teams, ``by_team`` counts the open incidents by ``(state, severity, team)``
        (closed ones are ``team="any"``).
        """
        self.incidents.clear()
        closed_labels: tuple[str, ...] = (FINAL_STATE, "any")
        if self.teams:
            closed_labels = (*closed_labels, "any")
            found: dict[tuple[str, str, str], int] = {}
            for (state, severity, team), n in (by_team or {}).items():
                key = (state, severity, self.team_label(team))
                found[key] = found.get(key, 0) + n
            for key, n in found.items():
                if key[0] in COUNTED_STATES and n:
                    self.incidents.labels(*key).set(n)
        else:
            for state, severity, n in counts.incidents:
                if state in COUNTED_STATES:
                    self.incidents.labels(state, severity).set(n)
        if counts.closed:
            self.incidents.labels(*closed_labels).set(counts.closed)
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
            self._by_team(self.mtta, incident).observe(
                (acked - incident.created_at).total_seconds()
            )
        resolved = incident.resolved_at
        if resolved is not None and (before is None or before.resolved_at is None):
            fixed = (resolved - incident.created_at).total_seconds()
            self._by_team(self.mttr, incident).observe(fixed)

    def _by_team(self, histogram: Any, incident: Incident) -> Any:
        return histogram.labels(self.team_label(incident.team)) if self.teams else histogram

    def text(self) -> bytes:
        """The Prometheus text exposition."""
        from prometheus_client import generate_latest  # noqa: PLC0415

        return generate_latest(self.registry)


#: The states whose incidents are counted by severity (closed ones only by number).
COUNTED_STATES = OPEN_STATES
