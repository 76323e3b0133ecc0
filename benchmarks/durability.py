"""Commits and disk flushes per command: what the P1 lifecycle asks of SQLite and PostgreSQL.

    python benchmarks/durability.py [--n 20] [--rounds 5] [--callers 16]
                                    [--backend sqlite|postgres|both]

Issue 27's targets: durable commits per command <= 1.05 (a command's decision is the one commit
that waits for the disk; delivery outcomes do not), PostgreSQL transactions per command <= 1.5;
commands at >= 0.7 of raw durable single-row inserts (SQLite and PostgreSQL). And group commit:
``--callers`` commands awaited together through AsyncIncidentFlow share transactions, against
the same commands with group commit off, in the same run.

- SQLite (WAL, synchronous=FULL): every transaction is seen through sqlite3's trace callback;
  a COMMIT under FULL is durable (the WAL is fsynced), one under NORMAL is not. When ``strace``
  is on this machine, the fsync/fdatasync calls of the whole run are counted too (a second,
  independent figure).
- PostgreSQL: ``pg_stat_database.xact_commit`` of a database made for the run (so other
  sessions on the server add nothing; dropped after), and ``pg_stat_wal.wal_sync`` (server-wide:
  other sessions add to it) before and after (PostgreSQL 14+).
- Rates: commands/s of the lifecycle against raw durable single-row inserts/s (one per
  transaction), interleaved rounds, the median of the rounds' ratios.
- Baseline, in the same run: raw durable single-row inserts, one per transaction (1 commit and
  1 flush each), so the ratios read directly.

The lifecycle is benchmarks/lifecycle.py's (11 commands: trigger, ack, runbook, resolve,
post-mortem, submit, two approvals, runbook update, close).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import structlog

sys.path.insert(0, str(Path(__file__).parent))
from lifecycle import COMMANDS, RUNBOOK, flow_lifecycle

from incident_flow import (
    Alert,
    AsyncIncidentFlow,
    AsyncSQLiteStore,
    IncidentFlow,
    MemoryStore,
    Policy,
    PostgresStore,
    RecordingNotifier,
    SQLiteStore,
)
from incident_flow.adapters.stores.postgres_async import AsyncPostgresStore
from incident_flow.testing import RecordingPublisher

DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _flow(store: object) -> IncidentFlow:
    return IncidentFlow(
        Policy(runbooks=[RUNBOOK], postmortem_approvers="anyone"),
        store=store,  # type: ignore[arg-type]
        notifier=RecordingNotifier(),
        pager=RecordingNotifier(),
        publisher=RecordingPublisher(),
    )


def sqlite_counts(n: int, folder: Path) -> tuple[int, int, int]:
    """(commands, commits, durable commits) of ``n`` lifecycles on SQLite."""
    store = SQLiteStore(folder / f"{uuid.uuid4().hex}.db")
    mode = ["FULL"]
    commits = [0, 0]

    def traced(statement: str) -> None:
        if statement.startswith("PRAGMA synchronous = "):
            mode[0] = statement.rsplit(" ", 1)[1]
        elif statement == "COMMIT":
            commits[0] += 1
            commits[1] += mode[0] in ("FULL", "EXTRA")

    store._db.set_trace_callback(traced)
    flow = _flow(store)
    for i in range(n):
        flow_lifecycle(flow, i)
    store.close()
    return n * COMMANDS, commits[0], commits[1]


def sqlite_baseline(n: int, folder: Path) -> tuple[int, int]:
    """(inserts, commits) of raw durable single-row inserts."""
    db = sqlite3.connect(folder / f"raw-{uuid.uuid4().hex}.db", isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, data TEXT)")
    for i in range(n):
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t (data) VALUES (?)", (f"row {i}",))
        db.execute("COMMIT")
    db.close()
    return n, n


@contextmanager
def private_database() -> Iterator[str]:
    """A database made for this run (its statistics are ours alone); dropped after."""
    name = f"bench_txn_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield DSN.rsplit("/", 1)[0] + f"/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _xacts(database: str) -> tuple[int, int]:
    """(commits of ``database``, server WAL syncs) once its sessions' statistics are in."""
    with psycopg.connect(DSN, autocommit=True) as admin:
        seen: list[tuple[int, int]] = []
        while len(seen) < 3 or seen[-1] != seen[-3]:  # settled: unchanged over two reads
            xacts = admin.execute(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (database,)
            ).fetchone()
            wal = admin.execute("SELECT wal_sync FROM pg_stat_wal").fetchone()
            admin.execute("SELECT pg_stat_clear_snapshot()")
            seen.append((int(xacts[0]) if xacts else 0, int(wal[0]) if wal else 0))
            time.sleep(0.3)  # a benchmark waiting for the server's statistics, not a test
    return seen[-1]


def postgres_counts(n: int, baseline: bool) -> tuple[int, int, int]:
    """(work items, transactions, WAL syncs) of the lifecycles, or of raw inserts."""
    with private_database() as dsn:
        database = dsn.rsplit("/", 1)[1]
        if baseline:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("CREATE TABLE t (id serial PRIMARY KEY, data text)")
            before = _xacts(database)
            with psycopg.connect(dsn, autocommit=True) as conn:
                for i in range(n):
                    with conn.transaction():
                        conn.execute("INSERT INTO t (data) VALUES (%s)", (f"row {i}",))
            work = n
        else:
            with PostgresStore(dsn) as store:
                flow_lifecycle(_flow(store), -1)  # the schema, and a warm path
            before = _xacts(database)
            store = PostgresStore(dsn)  # opening reads the schema version: one transaction
            flow = _flow(store)
            for i in range(n):
                flow_lifecycle(flow, i)
            store.close()
            work = n * COMMANDS
        after = _xacts(database)
    opening = 0 if baseline else 1
    return work, after[0] - before[0] - opening, after[1] - before[1]


def rates(backend: str, n: int, rounds: int, folder: Path) -> list[tuple[float, float, float]]:
    """(commands/s, raw durable inserts/s, in-memory commands/s) of each round, interleaved.

    The in-memory rate (MemoryStore, same lifecycle) says how much of a command is the
    process's own work rather than the store's.
    """
    found = []
    for r in range(rounds):
        got = [0.0, 0.0, 0.0]
        for which in (0, 1, 2) if r % 2 == 0 else (2, 1, 0):
            if which == 0:
                got[0] = _lifecycle_rate(backend, n, folder)
            elif which == 1:
                got[1] = _raw_rate(backend, n * COMMANDS, folder)
            else:
                got[2] = _lifecycle_rate("memory", n, folder)
        found.append((got[0], got[1], got[2]))
    return found


def _lifecycle_rate(backend: str, n: int, folder: Path) -> float:
    if backend == "memory":
        store: Any = MemoryStore()
    elif backend == "sqlite":
        store = SQLiteStore(folder / f"{uuid.uuid4().hex}.db")
    else:
        store = PostgresStore(DSN, schema=f"bench_{uuid.uuid4().hex[:8]}")
    try:
        flow = _flow(store)
        flow_lifecycle(flow, -1)  # warm
        start = time.perf_counter()
        for i in range(n):
            flow_lifecycle(flow, i)
        return n * COMMANDS / (time.perf_counter() - start)
    finally:
        if backend == "postgres":
            store._connection().execute(f'DROP SCHEMA "{store.schema}" CASCADE')
        if backend != "memory":
            store.close()


def _raw_rate(backend: str, n: int, folder: Path) -> float:
    if backend == "sqlite":
        db = sqlite3.connect(folder / f"raw-{uuid.uuid4().hex}.db", isolation_level=None)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, data TEXT)")
        start = time.perf_counter()
        for i in range(n):
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO t (data) VALUES (?)", (f"row {i}",))
            db.execute("COMMIT")
        took = time.perf_counter() - start
        db.close()
        return n / took
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'CREATE TABLE "{schema}".t (id serial PRIMARY KEY, data text)')
        insert = f'INSERT INTO "{schema}".t (data) VALUES (%s)'  # noqa: S608
        start = time.perf_counter()
        for i in range(n):
            with conn.transaction():
                conn.execute(insert, (f"row {i}",))
        took = time.perf_counter() - start
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    return n / took


def group_commit(backend: str, callers: int, grouped: bool, folder: Path) -> tuple[float, float]:
    """(transactions per command, commands/s) of ``callers`` commands awaited together.

    Each caller's incident is opened first (not counted); then every caller acknowledges its
    incident and adds a note, all awaited together through AsyncIncidentFlow.
    """
    return asyncio.run(_group_commit(backend, callers, grouped, folder))


async def _group_commit(
    backend: str, callers: int, grouped: bool, folder: Path
) -> tuple[float, float]:
    counted = [0]
    if backend == "sqlite":
        store: Any = await AsyncSQLiteStore.open(folder / f"{uuid.uuid4().hex}.db")

        def traced(statement: str) -> None:
            counted[0] += statement == "COMMIT"

        store.store._db.set_trace_callback(traced)
    else:
        store = await AsyncPostgresStore.open(
            DSN, schema=f"bench_{uuid.uuid4().hex[:8]}", max_size=callers
        )
        opened = store._transaction

        def counting(*args: Any, **kwargs: Any) -> Any:
            counted[0] += 1  # every transaction, reads (autocommit statements) included
            return opened(*args, **kwargs)

        store._transaction = counting
    if not grouped:
        store.group_commit = None
    try:
        flow = AsyncIncidentFlow(
            store=store, notifier=RecordingNotifier(), pager=RecordingNotifier()
        )
        alerts = [
            Alert(source="s", name="n", title="t", severity="P1", dedup_key=f"g{k}")
            for k in range(callers)
        ]
        incidents = await asyncio.gather(*(flow.trigger(alert) for alert in alerts))
        counted[0] = 0
        start = time.perf_counter()
        await asyncio.gather(*(flow.acknowledge(i.id, by="alice") for i in incidents))
        await asyncio.gather(*(flow.note(i.id, "on it", by="alice") for i in incidents))
        took = time.perf_counter() - start
        return counted[0] / (2 * callers), 2 * callers / took
    finally:
        if backend == "postgres":
            async with store._pool.connection() as conn:
                await conn.execute(f'DROP SCHEMA "{store.schema}" CASCADE')
        await store.close()


def fsyncs(n: int) -> int | None:
    """fsync + fdatasync calls of a process running ``n`` SQLite lifecycles (strace), if any."""
    if os.environ.get("CI") or not _has_strace():
        return None
    script = (
        "import sys, tempfile; from pathlib import Path; sys.path.insert(0, 'benchmarks');"
        "from durability import sqlite_counts;"
        f"sqlite_counts({n}, Path(tempfile.mkdtemp()))"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter and a fixed script
        ["strace", "-f", "-c", "-e", "trace=fsync,fdatasync", sys.executable, "-c", script],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    calls = 0
    for line in done.stderr.splitlines():
        found = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(fsync|fdatasync)$", line)
        if found:
            calls += int(found.group(1))
    return calls


def _has_strace() -> bool:
    return subprocess.run(["which", "strace"], capture_output=True, check=False).returncode == 0  # noqa: S607


def main() -> None:
    """Count, time and print, each figure beside its target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--callers", type=int, default=16)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    print(f"{'run':32} {'commands':>9} {'commits':>8} {'per cmd':>8} {'durable':>8} {'per cmd':>8}")
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory() as folder:
            commands, commits, durable = sqlite_counts(args.n, Path(folder))
            raw, raw_commits = sqlite_baseline(args.n * COMMANDS, Path(folder))
        print(
            f"{'sqlite lifecycle':32} {commands:9d} {commits:8d} {commits / commands:8.2f} "
            f"{durable:8d} {durable / commands:8.2f}  (target <= 1.05 durable per command)"
        )
        print(
            f"{'sqlite raw durable inserts':32} {raw:9d} {raw_commits:8d} {1.0:8.2f} "
            f"{raw_commits:8d} {1.0:8.2f}"
        )
        flushes = fsyncs(args.n)
        if flushes is not None:
            print(f"sqlite fsync+fdatasync calls (strace): {flushes} for {commands} commands: "
                  f"{flushes / commands:.2f} per command (raw inserts: 1 per insert)")  # fmt: skip
    if "postgres" in backends:
        work, xacts, syncs = postgres_counts(args.n, baseline=False)
        raw, raw_xacts, raw_syncs = postgres_counts(args.n * COMMANDS, baseline=True)
        print(
            f"{'postgres lifecycle':32} {work:9d} {xacts:8d} {xacts / work:8.2f} "
            f"{syncs:8d} {syncs / work:8.2f}  (transactions target <= 1.5 per command;"
            " WAL syncs are server-wide)"
        )
        print(
            f"{'postgres raw durable inserts':32} {raw:9d} {raw_xacts:8d} {raw_xacts / raw:8.2f} "
            f"{raw_syncs:8d} {raw_syncs / raw:8.2f}"
        )
    print()
    print(f"commands vs raw durable single-row inserts: {args.rounds} interleaved rounds, medians")
    with tempfile.TemporaryDirectory() as folder:
        for backend in backends:
            found = rates(backend, args.n, args.rounds, Path(folder))
            ours = statistics.median(f[0] for f in found)
            raw_rate = statistics.median(f[1] for f in found)
            ratio = statistics.median(f[0] / f[1] for f in found)
            # What a command costs beyond a raw insert, split: the process's own work (the
            # in-memory lifecycle) and the rest (the store: bigger writes, outcome commits).
            own = statistics.median(f[0] / f[2] for f in found)
            print(f"  {backend:9} commands {ours:8.0f}/s  raw inserts {raw_rate:8.0f}/s  "
                  f"ratio {ratio:.2f}  (target >= 0.70); the in-memory lifecycle is "
                  f"{own:.0%} of a command's time")  # fmt: skip
        print()
        print(f"group commit: {args.callers} callers awaited together (AsyncIncidentFlow: "
              f"acknowledge, then note), {args.rounds} interleaved rounds, medians")  # fmt: skip
        for backend in backends:
            on: list[tuple[float, float]] = []
            off: list[tuple[float, float]] = []
            for r in range(args.rounds):
                for grouped in (True, False) if r % 2 == 0 else (False, True):
                    (on if grouped else off).append(
                        group_commit(backend, args.callers, grouped, Path(folder))
                    )
            tx_on = statistics.median(t for t, _ in on)
            tx_off = statistics.median(t for t, _ in off)
            speed = statistics.median(a[1] / b[1] for a, b in zip(on, off, strict=True))
            print(f"  {backend:9} transactions per command {tx_on:.2f} grouped vs {tx_off:.2f} "
                  f"one by one (target: fewer than one); commands/s {speed:.2f}x "
                  "the ungrouped run")  # fmt: skip


if __name__ == "__main__":
    main()
