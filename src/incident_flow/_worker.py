"""run_worker (and run_worker_async): the loop that keeps deliveries and escalations moving.

Any number of replicas may run it against one store.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from types import FrameType
from typing import TYPE_CHECKING, Any

import attrs

from ._log import get_logger

if TYPE_CHECKING:
    from ._async_flow import AsyncIncidentFlow
    from ._flow import IncidentFlow

__all__ = ["WorkerStats", "run_worker", "run_worker_async"]

_log = get_logger("incident_flow.worker")


@attrs.define
class WorkerStats:
    """What a worker did: loop turns, messages delivered, escalations paged, errors survived."""

    iterations: int = 0
    delivered: int = 0
    escalated: int = 0
    reminded: int = 0
    reviewed: int = 0
    recorded: int = 0
    noticed: int = 0
    errors: int = 0

    def count(self, step: str, result: int | list[Any]) -> None:
        """Add what one step did (a count, or the incidents it changed)."""
        done = result if isinstance(result, int) else len(result)
        setattr(self, step, getattr(self, step) + done)

    def failed(self, step: str, exc: Exception) -> None:
        """Count and log a step that failed; the worker goes on."""
        self.errors += 1
        _log.error(
            "incident_flow.worker_step_failed", step=step, error=f"{type(exc).__name__}: {exc}"
        )


class _ReviewPolls:
    """When the next poll of the post-mortems' pull requests is due (a webhook may be lost)."""

    def __init__(self, every: timedelta | None) -> None:
        self.every = every
        self.next_at = time.monotonic()

    def due(self) -> bool:
        if self.every is None or time.monotonic() < self.next_at:
            return False
        self.next_at = time.monotonic() + self.every.total_seconds()
        return True


def _steps(
    flow: IncidentFlow | AsyncIncidentFlow, polls: _ReviewPolls
) -> tuple[tuple[str, Callable[[], Any]], ...]:
    """One turn: each step on its own, so one that fails never starves the others.

    Pending deliveries go first, so that an incident's first Slack message is out before the
    updates an escalation adds to its thread; one claim per turn, so a flood of messages never
    holds up escalations. The post-mortems' pull requests are read every ``review_poll_every``,
    not every turn: the webhooks bring reviews at once, the poll only what they lost; the
    schedules' ended shifts are recorded at the same pace.
    """
    steps: tuple[tuple[str, Callable[[], Any]], ...] = (
        ("delivered", lambda: flow.deliver_pending(batches=1)),
        ("escalated", flow.escalate_due),
        ("reminded", flow.remind_due),
        ("noticed", flow.notify_oncall),
    )
    if not polls.due():
        return steps
    return (*steps, ("reviewed", flow.poll_reviews), ("recorded", flow.record_shifts))


def run_worker(
    flow: IncidentFlow,
    *,
    interval: timedelta = timedelta(seconds=5),
    stop: threading.Event | None = None,
    max_iterations: int | None = None,
    handle_signals: bool = True,
    review_poll_every: timedelta | None = timedelta(minutes=2),
) -> WorkerStats:
    """Loop ``deliver_pending()``, ``escalate_due()``, ``remind_due()`` until stopped.

    Every ``review_poll_every`` it also runs ``poll_reviews()``.

    Several replicas may run this against one database: outbox messages are claimed with a
    lease and each escalation level is appended once, so nothing is sent or paged twice. A
    failing turn (the database is away) is logged and the loop goes on.

    Args:
        flow: the flow to drive.
        interval: the pause between turns.
        stop: set it to stop the loop (it finishes the step it is in, not the whole turn).
        max_iterations: stop after this many turns (for scripts and tests).
        handle_signals: in the main thread, SIGTERM and SIGINT stop the loop cleanly.
        review_poll_every: how often the post-mortems' pull requests are read for reviews
            and merges whose webhook never came (None: never; the first turn always does).

    Returns:
        What the worker did.
    """
    stop = stop if stop is not None else threading.Event()
    stats = WorkerStats()
    polls = _ReviewPolls(review_poll_every)
    previous: dict[signal.Signals, object] = {}

    def on_signal(number: int, frame: FrameType | None) -> None:
        _log.info("incident_flow.worker_stopping", signal=signal.Signals(number).name)
        stop.set()

    if handle_signals and threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        while not stop.is_set():
            for name, step in _steps(flow, polls):
                if stop.is_set():
                    break  # a stop does not wait for the turn's other steps
                try:
                    stats.count(name, step())
                except Exception as exc:  # noqa: BLE001 - a worker outlives a bad turn
                    stats.failed(name, exc)
            stats.iterations += 1
            if max_iterations is not None and stats.iterations >= max_iterations:
                break
            stop.wait(interval.total_seconds())
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
    return stats


async def run_worker_async(
    flow: AsyncIncidentFlow,
    *,
    interval: timedelta = timedelta(seconds=5),
    stop: asyncio.Event | None = None,
    max_iterations: int | None = None,
    review_poll_every: timedelta | None = timedelta(minutes=2),
) -> WorkerStats:
    """:func:`run_worker` for a service that already runs an event loop.

    Run it as a task beside your web app (``asyncio.create_task(run_worker_async(flow))``).
    It never blocks the loop; it stops when ``stop`` is set (after the current step) or after
    ``max_iterations`` turns. Cancelling the task stops it at once, but the step it was in
    finishes its deliveries and records them in the background (``await flow.drain()`` waits
    for that). Signals are the host's business: set ``stop`` from your own handler.

    Returns:
        What the worker did.
    """
    stop = stop if stop is not None else asyncio.Event()
    stats = WorkerStats()
    polls = _ReviewPolls(review_poll_every)
    while not stop.is_set():
        for name, step in _steps(flow, polls):
            if stop.is_set():
                break  # a stop does not wait for the turn's other steps
            try:
                stats.count(name, await step())
            except Exception as exc:  # noqa: BLE001 - a worker outlives a bad turn
                stats.failed(name, exc)
        stats.iterations += 1
        if max_iterations is not None and stats.iterations >= max_iterations:
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval.total_seconds())
    return stats
