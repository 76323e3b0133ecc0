"""Benchmark the durable stores: lifecycle throughput, cost growth, loading a long stream.

    python benchmarks/stores.py [--backend sqlite|postgres|both] [--n 200] [--big 100000]

(a) A full P1 lifecycle through IncidentFlow on SQLiteStore (its durable default,
    synchronous=FULL) and on PostgresStore, in commands/s, against raw inserts of the same
    event rows (the same JSON, committed in the same groups, with the same durability settings)
    through sqlite3 / psycopg in the same run. Target: the store reaches at least half the raw
    rate.
(b) Cost growth: the latency of a trigger that opens an incident and of one that attaches to
    it by dedup key, with 1,000 and with --big incidents stored. Target: ratio at most 1.5.
(c) Loading an incident with 1,000 events (store.load, and a cold IncidentFlow.get).

Medians of several rounds; the machine is shared and noisy, so read the ratios.
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import structlog

sys.path.insert(0, str(Path(__file__).parent))
from lifecycle import COMMANDS, RUNBOOK, flow_lifecycle

from incident_flow import (
    Alert,
    IncidentFlow,
    MemoryStore,
    Policy,
    PostgresStore,
    RecordingNotifier,
    SQLiteStore,
)
from incident_flow._response.decide import decide_new
from incident_flow.adapters.stores._common import encode_event, micros
from incident_flow.testing import RecordingPublisher

DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def flow_on(store: Any) -> IncidentFlow:
    return IncidentFlow(
        Policy(runbooks=[RUNBOOK]),
        store=store,
        notifier=RecordingNotifier(),
        pager=RecordingNotifier(),
        publisher=RecordingPublisher(),
    )


def append_groups() -> list[list[tuple[int, str, str]]]:
    """The (version, type, json) rows of one lifecycle, grouped as IncidentFlow appends them."""
    groups: list[list[tuple[int, str, str]]] = []

    class Spy(MemoryStore):
        def append(self, incident_id: str, expected_version: int, events: Any, **kw: Any) -> None:
            groups.append([(e.version, e.type, encode_event(e)) for e in events])
            super().append(incident_id, expected_version, events, **kw)

    flow_lifecycle(flow_on(Spy()), 0)
    return groups


# ----------------------------------------------------------------- backends


class SQLite:
    name = "SQLite (synchronous=FULL)"

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="bench-"))

    @contextmanager
    def store(self) -> Iterator[SQLiteStore]:
        with SQLiteStore(self.folder / f"{uuid.uuid4().hex}.db") as store:
            yield store

    def raw(self, groups: list[list[tuple[int, str, str]]], n: int) -> float:
        db = sqlite3.connect(self.folder / f"raw-{uuid.uuid4().hex}.db", isolation_level=None)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        db.execute(
            "CREATE TABLE events (incident_id TEXT NOT NULL, version INTEGER NOT NULL, "
            "type TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (incident_id, version)) "
            "WITHOUT ROWID"
        )
        start = time.perf_counter()
        for i in range(n):
            for group in groups:
                db.execute("BEGIN IMMEDIATE")
                db.executemany(
                    "INSERT INTO events VALUES (?, ?, ?, ?)",
                    [(f"raw-{i}", v, t, d) for v, t, d in group],
                )
                db.execute("COMMIT")
        elapsed = time.perf_counter() - start
        db.close()
        return n / elapsed

    def populate(self, store: SQLiteStore, count: int) -> None:
        rows_events, rows_incidents = _rows(count)
        db = store._db
        db.execute("BEGIN")
        db.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", rows_events)
        db.executemany(
            "INSERT INTO incidents (id, state, severity, dedup_key, accepts_alerts, version, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows_incidents,
        )
        db.execute("COMMIT")


class Postgres:
    name = "PostgreSQL"

    @contextmanager
    def store(self) -> Iterator[PostgresStore]:
        import psycopg

        schema = f"bench_{uuid.uuid4().hex[:10]}"
        try:
            with PostgresStore(DSN, schema=schema) as store:
                yield store
        finally:
            with psycopg.connect(DSN, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    def raw(self, groups: list[list[tuple[int, str, str]]], n: int) -> float:
        import psycopg

        schema = f"raw_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
            conn.execute(
                f'CREATE TABLE "{schema}".events (incident_id text NOT NULL, '
                "version integer NOT NULL, type text NOT NULL, data text NOT NULL, "
                "PRIMARY KEY (incident_id, version))"
            )
            sql = f'INSERT INTO "{schema}".events VALUES (%s, %s, %s, %s)'  # noqa: S608
            start = time.perf_counter()
            with conn.cursor() as cur:
                for i in range(n):
                    for group in groups:
                        with conn.transaction():
                            cur.executemany(sql, [(f"raw-{i}", v, t, d) for v, t, d in group])
            elapsed = time.perf_counter() - start
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        return n / elapsed

    def populate(self, store: PostgresStore, count: int) -> None:
        rows_events, rows_incidents = _rows(count)
        conn = store._connection()
        schema = store.schema
        with conn.transaction(), conn.cursor() as cur:
            with cur.copy(
                f'COPY "{schema}".events (incident_id, version, type, data) FROM STDIN'
            ) as copy:
                for row in rows_events:
                    copy.write_row(row)
            with cur.copy(
                f'COPY "{schema}".incidents (id, state, severity, dedup_key, accepts_alerts, '
                "version, updated_at) FROM STDIN"
            ) as copy:
                for row in rows_incidents:
                    copy.write_row((*row[:4], bool(row[4]), *row[5:]))
        conn.execute(f'ANALYZE "{schema}".incidents')
        conn.execute(f'ANALYZE "{schema}".events')


def _rows(count: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Rows of ``count`` opened incidents, as the stores write them (events and index)."""
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    policy = Policy()
    events: list[tuple[Any, ...]] = []
    incidents: list[tuple[Any, ...]] = []
    template = decide_new(
        "tmpl", Alert(source="pop", name="n", title="t", dedup_key="k"), policy, now
    )
    for i in range(count):
        incident_id = f"pop-{i}"
        for e in template.events:
            data = (
                encode_event(e).replace('"tmpl"', f'"{incident_id}"').replace('"k"', f'"pop-{i}"')
            )
            events.append((incident_id, e.version, e.type, data))
        incidents.append((incident_id, "notified", "P3", f"pop-{i}", 1, 3, micros(now)))
    return events, incidents


# ----------------------------------------------------------------- measurements


def median(fn: Callable[[], float], rounds: int) -> float:
    return statistics.median(fn() for _ in range(rounds))


def lifecycle_rate(backend: Any, n: int) -> float:
    with backend.store() as store:
        flow = flow_on(store)
        flow_lifecycle(flow, -1)
        start = time.perf_counter()
        for i in range(n):
            flow_lifecycle(flow, i)
        return n / (time.perf_counter() - start)


def growth(backend: Any, count: int, probes: int = 60) -> tuple[float, float]:
    """Median latency (us) of a new-incident trigger and of a dedup attach, ``count`` stored."""
    with backend.store() as store:
        backend.populate(store, count)
        flow = flow_on(store)
        opened, attached = [], []
        for i in range(probes):
            alert = Alert(source="probe", name="n", title="t", severity="P3", dedup_key=f"pr-{i}")
            start = time.perf_counter()
            flow.trigger(alert)
            opened.append(time.perf_counter() - start)
            flow._cache.clear()  # a cold replica: the dedup lookup and the load hit the store
            start = time.perf_counter()
            flow.trigger(alert)
            attached.append(time.perf_counter() - start)
        return statistics.median(opened) * 1e6, statistics.median(attached) * 1e6


def long_stream(backend: Any, events: int = 1000, rounds: int = 5) -> tuple[float, float]:
    """Milliseconds to load 1,000 events from the store, and for a cold flow's get()."""
    with backend.store() as store:
        flow = IncidentFlow(
            store=store, notifier=_Silent(), pager=_Silent(), publisher=RecordingPublisher()
        )
        incident = flow.trigger(Alert(source="s", name="n", title="t", severity="P4"))
        while flow.get(incident.id).version < events:
            flow.note(incident.id, "x" * 40, by="alice")
        load = median(lambda: _timed(lambda: store.load(incident.id)), rounds)
        cold = median(lambda: _timed(lambda: IncidentFlow(store=store).get(incident.id)), rounds)
        return load * 1e3, cold * 1e3


class _Silent:
    def send(self, message: Any) -> None:
        return None


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--n", type=int, default=200, help="lifecycles per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--big", type=int, default=100_000, help="incidents for (b)")
    args = parser.parse_args()
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        cache_logger_on_first_use=True,
    )
    backends = {"sqlite": [SQLite()], "postgres": [Postgres()], "both": [SQLite(), Postgres()]}
    groups = append_groups()
    rows = sum(len(g) for g in groups)
    print(f"one P1 lifecycle = {COMMANDS} commands, {len(groups)} appends, {rows} event rows")
    for backend in backends[args.backend]:
        print(f"\n== {backend.name}")
        # Interleaved rounds, so that drift on a shared machine hits both sides alike.
        pairs = [
            (lifecycle_rate(backend, args.n), backend.raw(groups, args.n))
            for _ in range(args.rounds)
        ]
        ours = statistics.median(p[0] for p in pairs)
        raw = statistics.median(p[1] for p in pairs)
        ratio = statistics.median(p[0] / p[1] for p in pairs)
        print(
            f"(a) IncidentFlow lifecycle      {ours * COMMANDS:9.0f} commands/s "
            f"({ours:.1f} lifecycles/s)"
        )
        print(
            f"    raw inserts, same rows      {raw * COMMANDS:9.0f} commands/s "
            f"({raw:.1f} lifecycles/s)"
        )
        print(f"    store / raw (median of the rounds' ratios) {ratio:.2f}   (target >= 0.5)")
        small_open, small_attach = growth(backend, 1000)
        big_open, big_attach = growth(backend, args.big)
        print(
            f"(b) trigger, new incident       {small_open:7.0f} us @1,000  {big_open:7.0f} us "
            f"@{args.big:,}  ratio {big_open / small_open:.2f} (target <= 1.5)"
        )
        print(
            f"    trigger, dedup attach       {small_attach:7.0f} us @1,000  {big_attach:7.0f} us "
            f"@{args.big:,}  ratio {big_attach / small_attach:.2f} (target <= 1.5)"
        )
        load, cold = long_stream(backend)
        print(
            f"(c) 1,000-event incident: store.load {load:.1f} ms, "
            f"cold IncidentFlow.get {cold:.1f} ms"
        )


if __name__ == "__main__":
    main()
