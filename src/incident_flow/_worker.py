"""run_worker: the loop that keeps deliveries and escalations moving, on any number of replicas."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from datetime import timedelta
from types import FrameType
from typing import TYPE_CHECKING

import attrs
import structlog

if TYPE_CHECKING:
    from ._flow import IncidentFlow

__all__ = ["WorkerStats", "run_worker"]

_log = structlog.get_logger("incident_flow.worker")


@attrs.define
class WorkerStats:
    """What a worker did: loop turns, messages delivered, escalations paged, errors survived."""

    iterations: int = 0
    delivered: int = 0
    escalated: int = 0
    reminded: int = 0
    errors: int = 0


def run_worker(
    flow: IncidentFlow,
    *,
    interval: timedelta = timedelta(seconds=5),
    stop: threading.Event | None = None,
    max_iterations: int | None = None,
    handle_signals: bool = True,
) -> WorkerStats:
    """Loop ``deliver_pending()``, ``escalate_due()`` and ``remind_due()`` until stopped.

    Several replicas may run this against one database: outbox messages are claimed with a
    lease and each escalation level is appended once, so nothing is sent or paged twice. A
    failing turn (the database is away) is logged and the loop goes on.

    Args:
        flow: the flow to drive.
        interval: the pause between turns.
        stop: set it to stop the loop (it finishes the current turn).
        max_iterations: stop after this many turns (for scripts and tests).
        handle_signals: in the main thread, SIGTERM and SIGINT stop the loop cleanly.

    Returns:
        What the worker did.
    """
    stop = stop if stop is not None else threading.Event()
    stats = WorkerStats()
    previous: dict[signal.Signals, object] = {}

    def on_signal(number: int, frame: FrameType | None) -> None:
        _log.info("incident_flow.worker_stopping", signal=signal.Signals(number).name)
        stop.set()

    if handle_signals and threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        while not stop.is_set():
            # Each step on its own: one that fails (a receiver refusing, the database away)
            # never starves the others. Pending deliveries go first, so that an incident's
            # first Slack message is out before the updates an escalation adds to its thread.
            steps: tuple[tuple[str, Callable[[], int]], ...] = (
                ("delivered", lambda: flow.deliver_pending(batches=1)),
                ("escalated", lambda: len(flow.escalate_due())),
                ("reminded", lambda: len(flow.remind_due())),
            )
            for name, step in steps:
                try:
                    setattr(stats, name, getattr(stats, name) + step())
                except Exception as exc:  # noqa: BLE001 - a worker outlives a bad turn
                    stats.errors += 1
                    _log.error(
                        "incident_flow.worker_step_failed",
                        step=name,
                        error=f"{type(exc).__name__}: {exc}",
                    )
            stats.iterations += 1
            if max_iterations is not None and stats.iterations >= max_iterations:
                break
            stop.wait(interval.total_seconds())
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
    return stats
