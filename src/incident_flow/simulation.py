"""Dry-run a policy: replay alerts and human actions on a manual clock, see who is paged when.

    from datetime import timedelta as td
    from incident_flow import Alert, Policy
    from incident_flow.simulation import Act, simulate

    report = simulate(Policy.from_toml("policy.toml"), [
        (td(0), Alert(source="datadog", name="CheckoutDown", title="Checkout down", severity="P1")),
        (td(minutes=12), Act("ack", "datadog:CheckoutDown", by="alice")),
    ])
    print(report.format())

Nothing leaves the process: an in-memory store and recording channels stand in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import attrs

from ._core import events as ev
from ._core.alerts import Alert
from ._core.messages import Notification
from ._core.policy import Policy
from ._core.storms import duration_text
from ._drivers.flow import IncidentFlow
from .adapters.channels.notifiers import RecordingNotifier
from .adapters.stores.memory import MemoryStore
from .testing._doubles import ManualClock, RecordingPublisher

__all__ = ["Act", "Page", "SimulationReport", "StormNote", "simulate"]


@attrs.frozen
class Act:
    """A person's action in a simulated timeline: ``ack`` or ``resolve`` the incident of a key."""

    action: str = attrs.field(validator=attrs.validators.in_(("ack", "resolve")))
    dedup_key: str
    by: str = "responder"


@attrs.frozen
class Page:
    """One page the policy sent: when (from the start), for which incident, what it said."""

    after: timedelta
    incident_id: str
    severity: str
    text: str
    #: Who it went to (whom the schedules had on call then, or the level's targets as written).
    to: tuple[str, ...] = ()


@attrs.frozen
class StormNote:
    """Why the storm rules treated an alert as they did: grouped, held, released, silenced."""

    after: timedelta
    incident_id: str
    text: str


@attrs.frozen
class SimulationReport:
    """The pages of a simulated timeline, in order, and what the storm rules decided."""

    pages: tuple[Page, ...]
    notes: tuple[StormNote, ...] = ()

    def format(self) -> str:
        """One line a page or note: ``+00:05:00 [P1] Checkout down (escalated to ...)``."""
        lines = [(p.after, 1, p.text) for p in self.pages]
        lines += [(n.after, 0, f"  {n.incident_id}: {n.text}") for n in self.notes]
        return "\n".join(f"+{_clock(at)} {text}" for at, _, text in sorted(lines)) or "no pages"


def _clock(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class _Pages(RecordingNotifier):
    def __init__(self, clock: ManualClock, start: datetime) -> None:
        super().__init__()
        self.clock, self.start = clock, start
        self.log: list[Page] = []

    def send(self, message: Notification) -> str | None:
        if message.kind == "page":
            self.log.append(
                Page(
                    self.clock.now() - self.start,
                    message.incident_id,
                    str(message.severity),
                    message.text,
                    message.to,
                )
            )
        return super().send(message)


def simulate(
    policy: Policy,
    timeline: Sequence[tuple[timedelta, Alert | Act]],
    *,
    start: datetime | None = None,
    tick: timedelta = timedelta(seconds=30),
    horizon: timedelta = timedelta(hours=2),
) -> SimulationReport:
    """Replay ``timeline`` against ``policy`` and report every page and when it went out.

    Args:
        policy: the policy to try.
        timeline: ``(offset from start, Alert or Act)`` pairs, in any order.
        start: the simulated start (default 2025-01-06 09:00 UTC, a Monday).
        tick: how often the simulated worker looks for due escalations.
        horizon: how long to keep the clock running after the last step.
    """
    begin = start or datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
    clock = ManualClock(begin)
    pager = _Pages(clock, begin)
    flow = IncidentFlow(
        policy,
        store=MemoryStore(),
        notifier=RecordingNotifier(),
        pager=pager,
        publisher=RecordingPublisher(),
        clock=clock,
    )
    steps = sorted(timeline, key=lambda step: step[0])
    end = begin + (steps[-1][0] if steps else timedelta(0)) + horizon
    index = 0
    while clock.now() <= end:
        while index < len(steps) and begin + steps[index][0] <= clock.now():
            _apply(flow, steps[index][1])
            index += 1
        flow.escalate_due()
        clock.advance(tick)
    notes = [
        StormNote(event.at - begin, incident.id, text)
        for incident in flow.incidents()
        for event in flow.history(incident.id)
        if (text := _storm_note(event)) is not None
    ]
    return SimulationReport(tuple(pager.log), tuple(sorted(notes, key=lambda n: n.after)))


def _storm_note(event: ev.Event) -> str | None:
    """What a storm event says about the alert's fate, or None for other events."""
    if isinstance(event, ev.GroupStarted):
        return f"opened group {event.group} (rule {event.rule}, window {event.window})"
    if isinstance(event, ev.AlertGrouped):
        return (
            f"{event.alert.dedup_key} grouped by rule {event.rule} "
            f"(same {event.group.split(':', 2)[2] or 'match'}, within {event.window})"
        )
    if isinstance(event, ev.PageHeld):
        within = duration_text(timedelta(seconds=event.within_seconds))
        return f"page held until {event.firings} firings within {within}"
    if isinstance(event, ev.PageReleased):
        return f"page released: {event.firings} firings reached"
    if isinstance(event, ev.AlertSilenced):
        return f"silenced by {event.silence_id} ({event.why})"
    return None


def _apply(flow: IncidentFlow, step: Alert | Act) -> None:
    if isinstance(step, Alert):
        flow.trigger(step)
        return
    incident_id = flow.store.find_by_dedup_key(step.dedup_key)
    if incident_id is None:
        return
    if step.action == "ack":
        flow.acknowledge(incident_id, by=step.by)
    elif flow.get(incident_id).state in ("notified", "runbook"):
        flow.resolve(incident_id, by=step.by)
