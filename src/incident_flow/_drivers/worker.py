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

from .._core.log import get_logger
from .._core.steps import run, run_async

if TYPE_CHECKING:
    from .async_flow import AsyncIncidentFlow
    from .flow import IncidentFlow

__all__ = [
    "HOLD",
    "AsyncClaimKeeper",
    "ClaimKeeper",
    "WorkerStats",
    "run_worker",
    "run_worker_async",
]

_log = get_logger("incident_flow.worker")

#: How long a message claimed by a worker's process stays claimed should that process die
#: (its claims are renewed every third of it while it lives): a replica, or the process
#: restarted, takes the message over this long after the last renewal, not a lease later.
HOLD = timedelta(seconds=3)


def _checked(hold: object) -> timedelta:
    """``hold`` when it is a positive duration (a zero one would renew in a busy loop)."""
    if not isinstance(hold, timedelta) or hold <= timedelta(0):
        msg = f"hold must be a positive timedelta (or None: claims last the lease), got {hold!r}"
        raise ValueError(msg)
    return hold


class ClaimKeeper:
    """Keeps a sync flow's claims while it lives: short claims, renewed on a thread.

    While it runs (``with ClaimKeeper(flow):``), the flow claims messages for ``hold`` only
    (on a store with ``renew_claims``; any other keeps the lease) and a daemon thread renews
    the claims of the messages it is sending every third of ``hold``. Killed, the process
    renews nothing: its messages are free ``hold`` later. Stopped, the claims still held are
    renewed to the end of their lease (the sends going on finish under it).
    """

    def __init__(self, flow: Any, hold: timedelta = HOLD) -> None:
        self.flow = flow
        self.hold = _checked(hold)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> ClaimKeeper:
        self.flow._hold = self.hold
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._renew_until_stopped, name="incident_flow-claims", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.flow._hold = None
        self.renew(final=True)

    def renew(self, *, final: bool = False) -> int:
        """Renew the claims held now; return how many (a failure is logged, not raised)."""
        try:
            renewed: int = run(self.flow._renewal(final=final), self.flow._port)
        except Exception as exc:  # noqa: BLE001 - the next renewal tries again
            _log.warning("incident_flow.claims_not_renewed", error=f"{type(exc).__name__}: {exc}")
            return 0
        return renewed

    def _renew_until_stopped(self) -> None:
        while not self._stop.wait(self.hold.total_seconds() / 3):
            self.renew()


class AsyncClaimKeeper:
    """:class:`ClaimKeeper` for an async flow: the renewals run as a task on its loop."""

    def __init__(self, flow: Any, hold: timedelta = HOLD) -> None:
        self.flow = flow
        self.hold = _checked(hold)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AsyncClaimKeeper:
        self.flow._hold = self.hold
        self._task = asyncio.create_task(self._renew_forever())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.flow._hold = None
        await self.renew(final=True)

    async def renew(self, *, final: bool = False) -> int:
        """Renew the claims held now; return how many (a failure is logged, not raised)."""
        try:
            renewed: int = await run_async(self.flow._renewal(final=final), self.flow._port)
        except Exception as exc:  # noqa: BLE001 - the next renewal tries again
            _log.warning("incident_flow.claims_not_renewed", error=f"{type(exc).__name__}: {exc}")
            return 0
        return renewed

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.hold.total_seconds() / 3)
            await self.renew()


def first_wait(interval: timedelta, hold: timedelta, turns: int) -> float:
    """Seconds until the next turn: a third of ``hold`` for the first three (the takeover).

    A process restarted right after it was killed finds its messages still claimed by its
    dead self: those claims lapse within ``hold`` of the kill, so before ``hold`` has passed
    since this process started. Turns every third of it until then take them over within a
    second of their lapse, however long ``interval`` is; then the turns keep ``interval``.
    """
    if turns <= 3:
        return min(interval, hold / 3).total_seconds()
    return interval.total_seconds()


@attrs.define
class WorkerStats:
    """What a worker did: loop turns, messages delivered, escalations paged, errors survived."""

    iterations: int = 0
    delivered: int = 0
    escalated: int = 0
    reminded: int = 0
    reviewed: int = 0
    followed: int = 0
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
    follow-ups' tracker issues and the schedules' ended shifts are read at the same pace.
    """
    steps: tuple[tuple[str, Callable[[], Any]], ...] = (
        ("delivered", lambda: flow.deliver_pending(batches=1)),
        ("escalated", flow.escalate_due),
        ("reminded", flow.remind_due),
        ("noticed", flow.notify_oncall),
    )
    if not polls.due():
        return steps
    return (
        *steps,
        ("reviewed", flow.poll_reviews),
        ("followed", flow.poll_follow_ups),  # follow-up issues closed in the tracker
        ("recorded", flow.record_shifts),
    )


def run_worker(
    flow: IncidentFlow,
    *,
    interval: timedelta = timedelta(seconds=5),
    stop: threading.Event | None = None,
    max_iterations: int | None = None,
    handle_signals: bool = True,
    review_poll_every: timedelta | None = timedelta(minutes=2),
    hold: timedelta | None = HOLD,
) -> WorkerStats:
    """Loop ``deliver_pending()``, ``escalate_due()``, ``remind_due()`` until stopped.

    Every ``review_poll_every`` it also runs ``poll_reviews()``.

    Several replicas may run this against one database: outbox messages are claimed with a
    lease and each escalation level is appended once, so nothing is sent or paged twice. A
    failing turn (the database is away) is logged and the loop goes on.

    While it runs, the flow's claims are held for ``hold`` and renewed as long as this
    process lives (:class:`ClaimKeeper`, on a store with ``renew_claims``): a message
    claimed by a killed worker is taken over ``hold`` after the kill, and the first turns
    come every third of ``hold``, so that a restarted worker takes over its own at once.

    Args:
        flow: the flow to drive.
        interval: the pause between turns.
        stop: set it to stop the loop (it finishes the step it is in, not the whole turn).
        max_iterations: stop after this many turns (for scripts and tests).
        handle_signals: in the main thread, SIGTERM and SIGINT stop the loop cleanly.
        review_poll_every: how often the post-mortems' pull requests are read for reviews
            and merges whose webhook never came (None: never; the first turn always does).
        hold: how long a claim outlives its process (None: the flow's whole lease).

    Raises:
        ValueError: ``hold`` is not a positive timedelta.

    Returns:
        What the worker did.
    """
    if hold is not None:
        _checked(hold)
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
    keeper = (
        ClaimKeeper(flow, hold)
        if hold is not None and flow._hold is None
        else contextlib.nullcontext()
    )
    try:
        with keeper:
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
                stop.wait(first_wait(interval, hold or interval, stats.iterations))
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
    hold: timedelta | None = HOLD,
) -> WorkerStats:
    """:func:`run_worker` for a service that already runs an event loop.

    Run it as a task beside your web app (``asyncio.create_task(run_worker_async(flow))``).
    It never blocks the loop; it stops when ``stop`` is set (after the current step) or after
    ``max_iterations`` turns. Cancelling the task stops it at once, but the step it was in
    finishes its deliveries and records them in the background (``await flow.drain()`` waits
    for that). Signals are the host's business: set ``stop`` from your own handler. Its
    claims are held for ``hold`` and renewed while it runs (:class:`AsyncClaimKeeper`).

    Returns:
        What the worker did.
    """
    if hold is not None:
        _checked(hold)
    stop = stop if stop is not None else asyncio.Event()
    stats = WorkerStats()
    polls = _ReviewPolls(review_poll_every)
    keeper = (
        AsyncClaimKeeper(flow, hold)
        if hold is not None and flow._hold is None
        else contextlib.nullcontext()
    )
    async with keeper:
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
                await asyncio.wait_for(
                    stop.wait(), first_wait(interval, hold or interval, stats.iterations)
                )
    return stats
