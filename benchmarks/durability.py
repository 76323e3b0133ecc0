"""Commits and disk flushes per command: what the P1 lifecycle asks of SQLite and PostgreSQL.

    python benchmarks/durability.py [--n 20] [--backend sqlite|postgres|both]

Issue 27's targets: durable commits per command <= 1.05 (a command's decision is the one commit
that waits for the disk; delivery outcomes do not), PostgreSQL transactions per command <= 1.5.

- SQLite (WAL, synchronous=FULL): every transaction is seen through sqlite3's trace callback;
  a COMMIT under FULL is durable (the WAL is fsynced), one under NORMAL is not. When ``strace``
  is on this machine, the fsync/fdatasync calls of the whole run are counted too (a second,
  independent figure).
- PostgreSQL: ``pg_stat_database.xact_commit`` and ``pg_stat_wal.wal_sync`` of the database
  before and after (PostgreSQL 14+). Other sessions on the same server add to both: run it on
  a quiet server.
- Baseline, in the same run: raw durable single-row inserts, one per transaction (1 commit and
  1 flush each), so the ratios read directly.

The lifecycle is benchmarks/lifecycle.py's (11 commands: trigger, ack, runbook, resolve,
post-mortem, submit, two approvals, runbook update, close).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import psycopg
import structlog

sys.path.insert(0, str(Path(__file__).parent))
from lifecycle import COMMANDS, RUNBOOK, flow_lifecycle

from incident_flow import IncidentFlow, Policy, PostgresStore, RecordingNotifier, SQLiteStore
from incident_flow.testing import RecordingPublisher

DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
#: A session's statistics reach pg_stat_* at most once a second unless flushed (PostgreSQL 15).
FLUSH = "SELECT pg_stat_force_next_flush()"


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


def postgres_counts(n: int, baseline: bool) -> tuple[int, int, int]:
    """(work items, transactions, WAL syncs) of the lifecycles, or of raw inserts."""
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(DSN, autocommit=True) as admin:

        def stats() -> tuple[int, int]:
            xacts = admin.execute(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
            ).fetchone()
            wal = admin.execute("SELECT wal_sync FROM pg_stat_wal").fetchone()
            admin.execute("SELECT pg_stat_clear_snapshot()")
            return int(xacts[0]) if xacts else 0, int(wal[0]) if wal else 0

        try:
            if baseline:
                with psycopg.connect(DSN, autocommit=True) as conn:
                    conn.execute(f'CREATE SCHEMA "{schema}"')
                    conn.execute(f'CREATE TABLE "{schema}".t (id serial PRIMARY KEY, data text)')
                    before = stats()
                    for i in range(n):
                        with conn.transaction():
                            conn.execute(
                                f'INSERT INTO "{schema}".t (data) VALUES (%s)',  # noqa: S608
                                (f"row {i}",),
                            )
                    conn.execute(FLUSH)  # this session's counters, now (one more transaction)
                    after = stats()
                work = n
            else:
                store = PostgresStore(DSN, schema=schema)
                flow = _flow(store)
                flow_lifecycle(flow, -1)  # warm: the schema and the first connection
                before = stats()
                for i in range(n):
                    flow_lifecycle(flow, i)
                store._connection().execute(FLUSH)
                after = stats()
                store.close()
                work = n * COMMANDS
        finally:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    # The stats reads (admin) and the flush are transactions of their own.
    return work, after[0] - before[0] - 3, after[1] - before[1]


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
    """Count and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    print(f"{'run':32} {'commands':>9} {'commits':>8} {'per cmd':>8} {'durable':>8} {'per cmd':>8}")
    if args.backend in ("sqlite", "both"):
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
                  f"{flushes / commands:.2f} per command")  # fmt: skip
    if args.backend in ("postgres", "both"):
        work, xacts, syncs = postgres_counts(args.n, baseline=False)
        raw, raw_xacts, raw_syncs = postgres_counts(args.n * COMMANDS, baseline=True)
        print(
            f"{'postgres lifecycle':32} {work:9d} {xacts:8d} {xacts / work:8.2f} "
            f"{syncs:8d} {syncs / work:8.2f}  (transactions target <= 1.5 per command)"
        )
        print(
            f"{'postgres raw durable inserts':32} {raw:9d} {raw_xacts:8d} {raw_xacts / raw:8.2f} "
            f"{raw_syncs:8d} {raw_syncs / raw:8.2f}"
        )


if __name__ == "__main__":
    main()
