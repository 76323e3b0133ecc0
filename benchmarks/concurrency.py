"""Benchmark concurrent callers on PostgreSQL: AsyncIncidentFlow tasks against IncidentFlow threads.

    python benchmarks/concurrency.py [--callers 50] [--per-caller 10] [--rounds 3]
                                     [--latency-ms 20] [--pool 10]

Each of ``--callers`` callers repeatedly triggers a new P1 incident and acknowledges it
(``--per-caller`` times: two commands, each with its deliveries). The chat and pager channels
answer after ``--latency-ms`` (a Slack or PagerDuty round trip; 0 measures the store alone).
The same work runs three ways, in the same run, on fresh PostgreSQL schemas:

- async: one AsyncIncidentFlow on one AsyncPostgresStore (a pool of ``--pool`` connections),
  the callers as asyncio tasks, the channels ``await asyncio.sleep``;
- threads, one store: one IncidentFlow on one PostgresStore (one connection), the callers as
  threads, the channels ``time.sleep`` (how a sync service shares a flow);
- threads, a store each: every thread its own IncidentFlow and PostgresStore (as many
  connections as callers: the most a sync service can get from threads).

Printed: commands/s and the p50 and p99 latency of one command, medians over rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
import structlog

from incident_flow import (
    Alert,
    AsyncIncidentFlow,
    IncidentFlow,
    Notification,
    Policy,
    PostgresStore,
)
from incident_flow.adapters.stores.postgres_async import AsyncPostgresStore
from incident_flow.testing import RecordingPublisher

DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
POLICY = Policy()


class SleepingChannel:
    """A sync channel taking ``latency`` seconds per message (a blocking HTTP call)."""

    def __init__(self, latency: float) -> None:
        self.latency = latency

    def send(self, message: Notification) -> str | None:
        time.sleep(self.latency)
        return None


class AsyncSleepingChannel:
    """An async channel taking ``latency`` seconds per message."""

    def __init__(self, latency: float) -> None:
        self.latency = latency

    async def send(self, message: Notification) -> str | None:
        await asyncio.sleep(self.latency)
        return None


def alert(caller: int, n: int, run: str) -> Alert:
    return Alert(
        source="bench", name="n", title="t", severity="P1", dedup_key=f"{run}-{caller}-{n}"
    )


@contextmanager
def schema() -> Iterator[str]:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    try:
        yield name
    finally:
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def run_async(
    callers: int, per_caller: int, latency: float, pool: int
) -> tuple[float, list[float]]:
    async def main(name: str) -> tuple[float, list[float]]:
        store = await AsyncPostgresStore.open(DSN, schema=name, max_size=pool)
        flow = AsyncIncidentFlow(
            POLICY,
            store=store,
            notifier=AsyncSleepingChannel(latency),
            pager=AsyncSleepingChannel(latency),
            publisher=RecordingPublisher(),
        )
        latencies: list[float] = []

        async def caller(c: int) -> None:
            for n in range(per_caller):
                start = time.perf_counter()
                incident = await flow.trigger(alert(c, n, name))
                middle = time.perf_counter()
                await flow.acknowledge(incident.id, by="bench")
                latencies.extend((middle - start, time.perf_counter() - middle))

        try:
            start = time.perf_counter()
            await asyncio.gather(*(caller(c) for c in range(callers)))
            elapsed = time.perf_counter() - start
        finally:
            await store.close()
        return elapsed, latencies

    with schema() as name:
        return asyncio.run(main(name))


def run_threads(
    callers: int, per_caller: int, latency: float, *, shared: bool
) -> tuple[float, list[float]]:
    with schema() as name:
        stores: list[PostgresStore] = []

        def make_flow() -> IncidentFlow:
            store = PostgresStore(DSN, schema=name)
            stores.append(store)
            return IncidentFlow(
                POLICY,
                store=store,
                notifier=SleepingChannel(latency),
                pager=SleepingChannel(latency),
                publisher=RecordingPublisher(),
            )

        shared_flow = make_flow()
        flows = [shared_flow if shared else make_flow() for _ in range(callers)]
        latencies: list[float] = []
        lock = threading.Lock()
        barrier = threading.Barrier(callers + 1)

        def caller(c: int) -> None:
            flow = flows[c]
            mine: list[float] = []
            barrier.wait()
            for n in range(per_caller):
                start = time.perf_counter()
                incident = flow.trigger(alert(c, n, name))
                middle = time.perf_counter()
                flow.acknowledge(incident.id, by="bench")
                mine.extend((middle - start, time.perf_counter() - middle))
            with lock:
                latencies.extend(mine)

        threads = [threading.Thread(target=caller, args=(c,)) for c in range(callers)]
        for thread in threads:
            thread.start()
        barrier.wait()
        start = time.perf_counter()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - start
        for store in stores:
            store.close()
        return elapsed, latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--callers", type=int, default=50)
    parser.add_argument("--per-caller", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--pool", type=int, default=10)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    latency = args.latency_ms / 1000
    commands = args.callers * args.per_caller * 2
    ways: dict[str, Callable[[], tuple[float, list[float]]]] = {
        f"async tasks, pool of {args.pool}": lambda: run_async(
            args.callers, args.per_caller, latency, args.pool
        ),
        "sync threads, one shared store": lambda: run_threads(
            args.callers, args.per_caller, latency, shared=True
        ),
        "sync threads, a store each": lambda: run_threads(
            args.callers, args.per_caller, latency, shared=False
        ),
    }
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, way in ways.items():  # interleaved, so drift hits every way alike
            elapsed, latencies = way()
            assert len(latencies) == commands
            results[name].append(
                (commands / elapsed, percentile(latencies, 0.5), percentile(latencies, 0.99))
            )
    print(
        f"{args.callers} concurrent callers x {args.per_caller} (trigger + acknowledge) = "
        f"{commands} commands on PostgreSQL, channels {args.latency_ms:g} ms; "
        f"median of {args.rounds} rounds"
    )
    medians: dict[str, tuple[float, float, float]] = {}
    for name, rows in results.items():
        medians[name] = tuple(statistics.median(r[i] for r in rows) for i in range(3))  # type: ignore[assignment]
        rate, p50, p99 = medians[name]
        latency_ms = f"p50 {p50 * 1000:7.1f} ms   p99 {p99 * 1000:7.1f} ms"
        print(f"  {name:34} {rate:8.0f} commands/s   {latency_ms}")
    base = medians["sync threads, one shared store"]
    best = medians["sync threads, a store each"]
    ours = medians[f"async tasks, pool of {args.pool}"]
    print(
        f"  async vs threads on one store: {ours[0] / base[0]:.2f}x commands/s, "
        f"p99 {ours[2] / base[2]:.2f}x"
    )
    print(
        f"  async vs threads with a store each: {ours[0] / best[0]:.2f}x commands/s, "
        f"p99 {ours[2] / best[2]:.2f}x"
    )


if __name__ == "__main__":
    sys.exit(main())
