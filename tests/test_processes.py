"""Real processes: a writer killed with SIGKILL loses nothing it reported; three writers race.

Each store runs in separate OS processes (tests/_worker.py) against the same SQLite file or
PostgreSQL schema, as replicas would.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from incident_flow import Alert, IncidentFlow, RecordingNotifier
from incident_flow._core.incident import fold
from incident_flow.adapters.stores.postgres import PostgresStore
from incident_flow.adapters.stores.sqlite import SQLiteStore
from incident_flow.testing import ManualClock, RecordingPublisher

from .conftest import pg_schema

WORKER = str(Path(__file__).with_name("_worker.py"))
CRASH_RUNS = int(os.environ.get("INCIDENT_FLOW_CRASH_RUNS", "6"))


@pytest.fixture(params=["sqlite", "postgres"])
def store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """A store spec for the workers, and a factory for the parent's own view of it."""
    if request.param == "sqlite":
        path = tmp_path / "incidents.db"
        yield f"sqlite:{path}", lambda: SQLiteStore(path)
        return
    dsn = request.getfixturevalue("postgres_dsn")
    with pg_schema(dsn) as schema:
        yield f"postgres:{schema}:{dsn}", lambda: PostgresStore(dsn, schema=schema)


def _lines(output: str, tag: str) -> list[list[str]]:
    return [line.split(" ", 3)[1:] for line in output.splitlines() if line.startswith(tag + " ")]


class TestCrashSafety:
    """SIGKILL at random points: every command a writer saw succeed is stored."""

    def test_sigkill_loses_nothing_seen(self, store_spec: tuple[str, Any]) -> None:
        spec, open_store = store_spec
        rng = random.Random(20251127)
        seen_total = resent = 0
        for run in range(CRASH_RUNS):
            worker = subprocess.Popen(
                [sys.executable, WORKER, "crash", spec, str(run)],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert worker.stdout is not None
            # A cold start (a fresh venv compiling its bytecode) must not eat the run.
            assert worker.stdout.readline().strip() == "READY"
            time.sleep(0.4 + rng.random() * 0.8)
            worker.send_signal(signal.SIGKILL)
            output, _ = worker.communicate(timeout=30)
            seen = _lines(output, "OK")
            assert seen, "the writer never got going"
            seen_total += len(seen)
            with open_store() as store:
                for incident_id, version, _ in seen:
                    events = store.load(incident_id)
                    assert len(events) >= int(version), (incident_id, version)
                    assert [e.version for e in events] == list(range(1, len(events) + 1))
                    fold(None, events)
                sent_before = Counter(key for (key,) in _lines(output, "SENT"))
                pending = [m for m in store.outbox_messages() if m.pending]
                # A restarted replica re-delivers what was never marked delivered.
                chat = RecordingNotifier()
                clock = ManualClock()
                clock.set(max(m.next_attempt_at for m in store.outbox_messages()))
                clock.advance(timedelta(hours=1))
                flow = IncidentFlow(
                    store=store,
                    notifier=chat,
                    pager=chat,
                    clock=clock,
                    publisher=RecordingPublisher(),
                )
                flow.deliver_pending()
                assert [m for m in store.outbox_messages() if m.pending] == []
                redelivered = {m.idempotency_key for m in chat.messages}
                assert redelivered == {m.id for m in pending}
                resent += len(redelivered & set(sent_before))
        # Report for the closing note (pytest -s shows it).
        print(
            f"\n{CRASH_RUNS} kills, {seen_total} commands seen and found, "
            f"{resent} messages sent again after a crash (same idempotency key)"
        )


class TestRacingProcesses:
    """Three writer processes on the same incidents: no event lost, versions contiguous."""

    def test_three_writers(self, store_spec: tuple[str, Any]) -> None:
        spec, open_store = store_spec
        with open_store() as store:
            flow = IncidentFlow(
                store=store,
                notifier=RecordingNotifier(),
                pager=RecordingNotifier(),
                publisher=RecordingPublisher(),
            )
            ids = [
                flow.trigger(Alert(source="s", name="n", title="t", dedup_key=f"k{n}")).id
                for n in range(3)
            ]
        workers = [
            subprocess.Popen(
                [sys.executable, WORKER, "writer", spec, f"w{n}", ",".join(ids), "40"],
                stdout=subprocess.PIPE,
                text=True,
            )
            for n in range(3)
        ]
        outputs = [w.communicate(timeout=120)[0] for w in workers]
        assert all(w.returncode == 0 for w in workers)
        reported: Counter[tuple[str, str]] = Counter()
        conflicts = 0
        for output in outputs:
            for incident_id, _, what in _lines(output, "OK"):
                reported[(incident_id, what.split(" ")[0])] += 1
            conflicts += len(_lines(output, "CONFLICT"))
        with open_store() as store:
            stored: Counter[tuple[str, str]] = Counter()
            for incident_id in ids:
                events = store.load(incident_id)
                assert [e.version for e in events] == list(range(1, len(events) + 1))
                for e in events:
                    if e.type == "NoteAdded":
                        stored[(incident_id, e.by)] += 1
        # Every command either succeeded and is stored exactly once, or was refused with
        # ConcurrencyError (after its one retry) and left nothing behind.
        assert stored == reported
        assert sum(reported.values()) + conflicts == 120
        assert sum(reported.values()) >= 40
        print(f"\n3 writers, 120 notes: {sum(reported.values())} stored, {conflicts} conflicts")


class TestWorkers:
    """Worker processes: SIGTERM stops them cleanly; racing replicas page each level once."""

    def test_sigterm(self, tmp_path: Path) -> None:
        worker = subprocess.Popen(
            [sys.executable, WORKER, "worker", f"sqlite:{tmp_path / 'w.db'}", "60"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "READY"  # a turn done, SIGTERM handled
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
        assert worker.returncode == 0
        (stats,) = _lines(output, "STATS")
        assert int(stats[0]) >= 1

    def test_three_workers_page_each_level_once(self, store_spec: tuple[str, Any]) -> None:
        import importlib.util

        spec, open_store = store_spec
        loader = importlib.util.spec_from_file_location("_worker", WORKER)
        assert loader is not None and loader.loader is not None
        module = importlib.util.module_from_spec(loader)
        loader.loader.exec_module(module)
        with open_store() as store:
            flow = IncidentFlow(
                module.escalation_policy(),
                store=store,
                notifier=RecordingNotifier(),
                pager=RecordingNotifier(),
                publisher=RecordingPublisher(),
            )
            ids = [
                flow.trigger(
                    Alert(source="s", name="n", title="t", severity="P1", dedup_key=f"e{n}")
                ).id
                for n in range(5)
            ]
        workers = [
            subprocess.Popen(
                [sys.executable, WORKER, "worker", spec, "4"], stdout=subprocess.PIPE, text=True
            )
            for _ in range(3)
        ]
        outputs = [w.communicate(timeout=60)[0] for w in workers]
        assert all(w.returncode == 0 for w in workers)
        pages = Counter()
        for output in outputs:
            for incident_id, text in (
                line.split(" ", 2)[1:] for line in output.splitlines() if line.startswith("PAGE ")
            ):
                pages[(incident_id, text)] += 1
        assert all(count == 1 for count in pages.values()), pages
        with open_store() as store:
            for incident_id in ids:
                levels = [e.level for e in store.load(incident_id) if e.type == "Escalated"]  # type: ignore[attr-defined]
                assert levels == [1, 2]
                assert sum(1 for (i, _) in pages if i == incident_id) == 2
        print(f"\n3 workers, 5 incidents: {len(pages)} escalation pages, none twice")
