"""Benchmark an alert storm: 10,000 firings spread over 50 distinct alerts, on durable stores.

    python benchmarks/storm.py [--backend sqlite|postgres|both] [--alerts 10000] [--rounds 5]

Fifty alerts of one outage (``service=checkout``, Alertmanager-like) fire again and again, as
Alertmanager sends them: bodies of 50 alerts every 30 seconds of a manual clock, 200 bodies in
all. Each round applies them to a fresh durable store (SQLiteStore with synchronous=FULL, and
PostgresStore), two ways:

- ``body``: ``flow.trigger_all(body)``, what the service does with a webhook body;
- ``alert``: ``flow.trigger(alert)`` for each alert, as a script would;

with a grouping rule (the 50 alerts are one incident) and without one (50 incidents). The
baseline is measured in the same run: raw durable single-row inserts of the same alert JSON,
one transaction per row, through sqlite3 / psycopg with the same durability. Reported: alerts/s
(median of the rounds), the fraction of the raw rate, and the Slack messages and pages the
storm caused (Slack allows about one message per second per channel).
"""

from __future__ import annotations

import argparse
import json
import logging
import sqlite3
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

sys.path.insert(0, str(Path(__file__).parent))
import stores

from incident_flow import (
    Alert,
    GroupingRule,
    IncidentFlow,
    Policy,
    RecordingNotifier,
)
from incident_flow.testing import ManualClock

DSN = stores.DSN
DISTINCT = 50
EVERY = timedelta(seconds=30)
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
OUTAGE = GroupingRule(name="outage", by=["service"], window=timedelta(minutes=10))


def bodies(total: int) -> list[list[Alert]]:
    """``total`` firings as bodies of the 50 distinct alerts."""
    alerts = [
        Alert(
            source="alertmanager",
            name=f"Checkout{n:02d}",
            title=f"checkout symptom {n}",
            severity="P1",
            labels={"service": "checkout", "alertname": f"Checkout{n:02d}", "pod": f"pod-{n}"},
            raw={"labels": {"alertname": f"Checkout{n:02d}"}, "status": "firing"},
        )
        for n in range(DISTINCT)
    ]
    return [alerts for _ in range(max(total // DISTINCT, 1))]


class Storm:
    """One storm run: a flow on a store, its chat and pager counted."""

    def __init__(self, store: Any, grouped: bool) -> None:
        self.clock = ManualClock(START)
        self.chat, self.pager = RecordingNotifier(), RecordingNotifier()
        policy = Policy(grouping=[OUTAGE] if grouped else [])
        self.flow = IncidentFlow(
            policy, store=store, notifier=self.chat, pager=self.pager, clock=self.clock
        )

    def run(self, storm: list[list[Alert]], mode: str) -> float:
        start = time.perf_counter()
        for body in storm:
            if mode == "body":
                self.flow.trigger_all(body)
            else:
                for alert in body:
                    self.flow.trigger(alert)
            self.clock.advance(EVERY)
        return time.perf_counter() - start


class SQLite(stores.SQLite):
    """The stores benchmark's SQLite backend, with a raw baseline of single-row inserts."""

    def raw_rows(self, rows: list[str]) -> float:
        db = sqlite3.connect(self.folder / f"raw-{uuid.uuid4().hex}.db", isolation_level=None)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        db.execute("CREATE TABLE alerts (seq INTEGER PRIMARY KEY, data TEXT NOT NULL)")
        start = time.perf_counter()
        for data in rows:
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO alerts (data) VALUES (?)", (data,))
            db.execute("COMMIT")
        elapsed = time.perf_counter() - start
        db.close()
        return len(rows) / elapsed


class Postgres(stores.Postgres):
    """The stores benchmark's PostgreSQL backend, with a raw baseline of single-row inserts."""

    def raw_rows(self, rows: list[str]) -> float:
        import psycopg

        schema = f"raw_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
            conn.execute(f'CREATE TABLE "{schema}".alerts (seq bigserial PRIMARY KEY, data text)')
            sql = f'INSERT INTO "{schema}".alerts (data) VALUES (%s)'  # noqa: S608
            start = time.perf_counter()
            with conn.cursor() as cur:
                for data in rows:
                    with conn.transaction():
                        cur.execute(sql, (data,))
            elapsed = time.perf_counter() - start
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        return len(rows) / elapsed


def one_round(backend: Any, storm: list[list[Alert]], mode: str, grouped: bool) -> dict[str, Any]:
    with backend.store() as store:
        run = Storm(store, grouped)
        elapsed = run.run(storm, mode)
        incidents = len(run.flow.incidents())
    total = sum(len(body) for body in storm)
    return {
        "rate": total / elapsed,
        "slack": len(run.chat.messages),
        "pages": len(run.pager.messages),
        "incidents": incidents,
    }


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--modes", default="body,alert", help="body, alert, or both (comma)")
    args = parser.parse_args()
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        cache_logger_on_first_use=True,
    )
    logging.getLogger("incident_flow").setLevel(logging.ERROR)
    storm = bodies(args.alerts)
    total = sum(len(body) for body in storm)
    minutes = len(storm) * EVERY / timedelta(minutes=1)
    rows = [json.dumps(a.raw) for body in storm for a in body]
    backends: list[Any] = []
    if args.backend in ("sqlite", "both"):
        backends.append(SQLite())
    if args.backend in ("postgres", "both"):
        backends.append(Postgres())
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    print(
        f"{total} firings of {DISTINCT} alerts, bodies of {DISTINCT} every "
        f"{EVERY.total_seconds():.0f}s ({minutes:.0f} simulated minutes); "
        f"median of {args.rounds} rounds"
    )
    for backend in backends:
        raws: list[float] = []
        results: dict[tuple[str, bool], list[dict[str, Any]]] = {}
        for _ in range(args.rounds):  # interleaved: the noise falls on every figure alike
            raws.append(backend.raw_rows(rows))
            for mode in modes:
                for grouped in (True, False):
                    results.setdefault((mode, grouped), []).append(
                        one_round(backend, storm, mode, grouped)
                    )
        raw = median(raws)
        print(f"\n{backend.name}: raw durable single-row inserts {raw:,.0f} rows/s")
        for (mode, grouped), found in results.items():
            rate = median([r["rate"] for r in found])
            last = found[-1]
            what = "grouped  " if grouped else "ungrouped"
            print(
                f"  {mode:5} {what} {rate:9,.0f} alerts/s  {rate / raw:5.2f} of raw  "
                f"{last['incidents']:3} incidents  {last['slack']:4} Slack messages  "
                f"{last['pages']:3} pages"
            )


if __name__ == "__main__":
    main()
