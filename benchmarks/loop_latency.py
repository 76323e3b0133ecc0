"""How long AsyncIncidentFlow holds the event loop: the longest callbacks of a P1 lifecycle.

    python benchmarks/loop_latency.py [--rounds 5] [--lifecycles 6]

A service's loop answers every request: a step that holds it (a fold, a serialisation) delays
them all. asyncio's debug mode times every callback; this runs ``--lifecycles`` concurrent P1
lifecycles (trigger, ack, note, resolve, post-mortem, two approvals) on SQLite (a worker thread)
and on PostgreSQL (psycopg's async pool), and, as the baseline in the same run, the same number
of tasks doing nothing but yielding to the loop. Printed per backend: the median over rounds of
the p50, p99 and longest callback, and the longest against the baseline's.

(This figure was a timing assertion in tests/test_async_flow.py until issue 33: a test now
checks which thread each port runs on, and the times live here.)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import statistics
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import psycopg
import structlog

from incident_flow import (
    Alert,
    AsyncIncidentFlow,
    AsyncPostgresStore,
    AsyncSQLiteStore,
    Policy,
    RecordingNotifier,
)
from incident_flow.testing import RecordingPublisher

DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
_TOOK = re.compile(r"took (\d+\.\d+) seconds")


class _Timings(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        found = _TOOK.search(record.getMessage())
        if found:
            self.seconds.append(float(found.group(1)))


async def _lifecycle(flow: AsyncIncidentFlow, key: str) -> None:
    incident = await flow.trigger(
        Alert(source="s", name="n", title="t", severity="P1", dedup_key=key)
    )
    await flow.acknowledge(incident.id, by="alice")
    await flow.note(incident.id, "rolling back", by="alice")
    await flow.resolve(incident.id, by="alice")
    await flow.start_postmortem(
        incident.id, author="alice", impact="i", root_cause="r", learnings=["canary"]
    )
    await flow.submit_postmortem(incident.id, by="alice")
    await flow.approve_postmortem(incident.id, reviewer="bob")
    await flow.approve_postmortem(incident.id, reviewer="carol")


def _measure(work: Callable[[], Awaitable[None]]) -> list[float]:
    """Every callback's duration while ``work`` runs on a debug loop."""
    timings = _Timings()
    logger = logging.getLogger("asyncio")
    logger.addHandler(timings)
    logger.setLevel(logging.WARNING)
    loop = asyncio.new_event_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = 0.0  # report every callback, with its time
    try:
        loop.run_until_complete(work())
    finally:
        loop.close()
        logger.removeHandler(timings)
    return timings.seconds or [0.0]


def _flow(store: object) -> AsyncIncidentFlow:
    return AsyncIncidentFlow(
        Policy(postmortem_review_pool=["bob", "carol"]),
        store=store,  # type: ignore[arg-type]
        notifier=RecordingNotifier(),
        pager=RecordingNotifier(),
        publisher=RecordingPublisher(),
    )


def _sqlite(n: int, folder: Path) -> Callable[[], Awaitable[None]]:
    async def work() -> None:
        store = await AsyncSQLiteStore.open(folder / f"{uuid.uuid4().hex}.db")
        try:
            flow = _flow(store)
            await asyncio.gather(*(_lifecycle(flow, f"k{i}") for i in range(n)))
        finally:
            await store.close()

    return work


def _postgres(n: int, schema: str) -> Callable[[], Awaitable[None]]:
    async def work() -> None:
        store = await AsyncPostgresStore.open(DSN, schema=schema, max_size=4)
        try:
            flow = _flow(store)
            await asyncio.gather(*(_lifecycle(flow, f"k{i}") for i in range(n)))
        finally:
            await store.close()

    return work


def _baseline(n: int) -> Callable[[], Awaitable[None]]:
    async def idle() -> None:
        for _ in range(200):
            await asyncio.sleep(0)

    async def work() -> None:
        await asyncio.gather(*(idle() for _ in range(n)))

    return work


def _figures(seconds: list[float]) -> tuple[float, float, float]:
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99, ordered[-1]


def main() -> None:
    """Run the rounds (interleaved) and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--lifecycles", type=int, default=6)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    results: dict[str, list[tuple[float, float, float]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.rounds):
            results.setdefault("baseline", []).append(
                _figures(_measure(_baseline(args.lifecycles)))
            )
            results.setdefault("sqlite", []).append(
                _figures(_measure(_sqlite(args.lifecycles, Path(folder))))
            )
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            try:
                results.setdefault("postgres", []).append(
                    _figures(_measure(_postgres(args.lifecycles, schema)))
                )
            finally:
                with psycopg.connect(DSN, autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    base = statistics.median(longest for _, _, longest in results["baseline"])
    print(f"{'backend':10} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'max/baseline':>13}")
    for name, rows in results.items():
        p50, p99, longest = (statistics.median(column) * 1000 for column in zip(*rows, strict=True))
        ratio = longest / (base * 1000) if base else float("nan")
        print(f"{name:10} {p50:8.3f} {p99:8.3f} {longest:8.3f} {ratio:13.1f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
