"""SQLiteStore: the store contract on a real file, plus what only a durable store must do."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from incident_flow import Alert, AsyncSQLiteStore, IncidentFlow, RecordingNotifier, StorageError
from incident_flow.adapters.stores._common import SCHEMA_VERSION
from incident_flow.adapters.stores.sqlite import SQLiteStore
from incident_flow.testing import ManualClock, RecordingPublisher
from incident_flow.testing._async import LoopThread
from incident_flow.testing.contracts import StoreContract

from .conftest import T0


class TestSQLiteStore(StoreContract):
    """SQLiteStore passes the store contract on a file."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> SQLiteStore:
        return SQLiteStore(tmp_path / "incidents.db")


class TestDurability:
    """What a restart sees, and what a broken or newer database says."""

    def test_a_restart_reads_everything_back(self, tmp_path: Path) -> None:
        path = tmp_path / "incidents.db"
        clock = ManualClock(T0)
        flow = IncidentFlow(
            store=SQLiteStore(path),
            notifier=RecordingNotifier(),
            pager=RecordingNotifier(),
            publisher=RecordingPublisher(),
            clock=clock,
        )
        incident = flow.trigger(Alert(source="s", name="n", title="t", severity="P1"))
        flow.acknowledge(incident.id, by="alice")
        live = flow.get(incident.id)
        reopened = IncidentFlow(store=SQLiteStore(path), clock=clock)
        assert reopened.get(incident.id) == live
        assert reopened.history(incident.id) == flow.history(incident.id)
        assert reopened.store.find_by_dedup_key("s:n") == incident.id

    def test_defaults_are_durable(self, tmp_path: Path) -> None:
        store = SQLiteStore(tmp_path / "a.db")
        assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        fast = SQLiteStore(tmp_path / "b.db", synchronous="NORMAL")
        assert fast._db.execute("PRAGMA synchronous").fetchone()[0] == 1
        assert "synchronous='NORMAL'" in repr(fast)

    def test_bad_synchronous_setting(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="synchronous must be"):
            SQLiteStore(tmp_path / "a.db", synchronous="SOMETIMES")  # type: ignore[arg-type]

    def test_newer_schema_is_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "a.db"
        SQLiteStore(path).close()
        db = sqlite3.connect(path)
        db.execute("UPDATE incident_flow_meta SET value = '99' WHERE key = 'schema_version'")
        db.commit()
        db.close()
        with pytest.raises(StorageError, match=r"newer incident_flow \(schema version 99"):
            SQLiteStore(path)

    def test_not_a_database(self, tmp_path: Path) -> None:
        path = tmp_path / "a.db"
        path.write_bytes(b"this is not sqlite" * 100)
        with pytest.raises(StorageError, match="cannot open the SQLite store") as info:
            SQLiteStore(path)
        assert isinstance(info.value.__cause__, sqlite3.Error)

    def test_unusable_path(self, tmp_path: Path) -> None:
        (tmp_path / "file").write_text("x")
        with pytest.raises(StorageError, match="cannot open the SQLite store"):
            SQLiteStore(tmp_path / "file" / "a.db")

    def test_backend_errors_are_storage_errors(self, tmp_path: Path) -> None:
        store = SQLiteStore(tmp_path / "a.db")
        store.close()
        with pytest.raises(StorageError) as info:
            store.load("x")
        assert isinstance(info.value.__cause__, sqlite3.Error)
        with pytest.raises(StorageError):
            store.incident_ids()

    def test_corrupt_event_row(self, tmp_path: Path) -> None:
        store = SQLiteStore(tmp_path / "a.db")
        store._db.execute("INSERT INTO events VALUES ('i', 1, 'Nope', '{\"type\": \"Nope\"}')")
        with pytest.raises(StorageError, match="stored event cannot be read"):
            store.load("i")


class TestMigration:
    """A version-1 database (before escalation timers) is brought to version 2 on open."""

    def test_v1_to_v2(self, tmp_path: Path) -> None:
        from datetime import timedelta

        path = tmp_path / "old.db"
        SQLiteStore(path).close()
        db = sqlite3.connect(path)
        db.execute("DROP INDEX incidents_timer")
        db.execute("ALTER TABLE incidents DROP COLUMN timer_at")
        db.execute("UPDATE incident_flow_meta SET value = '1' WHERE key = 'schema_version'")
        db.commit()
        db.close()
        with SQLiteStore(path) as store:
            version = store._db.execute(
                "SELECT value FROM incident_flow_meta WHERE key = 'schema_version'"
            ).fetchone()
            assert version == (str(SCHEMA_VERSION),)
            clock = ManualClock(T0)
            flow = IncidentFlow(
                store=store,
                notifier=RecordingNotifier(),
                pager=RecordingNotifier(),
                publisher=RecordingPublisher(),
                clock=clock,
            )
            incident = flow.trigger(Alert(source="s", name="n", title="t", severity="P1"))
            clock.advance(timedelta(minutes=5))
            assert [i.id for i in flow.escalate_due()] == [incident.id]


class TestAsyncSQLiteStore(StoreContract):
    """The same contract for AsyncSQLiteStore (the SQLite store on a worker thread)."""

    @pytest.fixture
    def store(self, tmp_path: Path, loop: LoopThread) -> Iterator[AsyncSQLiteStore]:
        store = loop.run(AsyncSQLiteStore.open(tmp_path / "events.db"))
        yield store
        loop.run(store.close())


class TestWhatAStoreCannotHold:
    """Every driver problem is a StorageError; a clock's zone is converted to UTC."""

    def test_a_non_numeric_schema_version(self, tmp_path: Path) -> None:
        path = tmp_path / "x.db"
        SQLiteStore(path).close()
        with sqlite3.connect(path) as db:
            db.execute("UPDATE incident_flow_meta SET value = 'two' WHERE key = 'schema_version'")
        with pytest.raises(StorageError, match="schema_version that is not a number"):
            SQLiteStore(path)

    def test_an_event_row_that_is_not_an_object(self, tmp_path: Path) -> None:
        path = tmp_path / "x.db"
        flow = IncidentFlow(
            store=SQLiteStore(path), notifier=RecordingNotifier(), pager=RecordingNotifier()
        )
        incident = flow.trigger(Alert(source="s", name="n", title="t", severity="P4"))
        with sqlite3.connect(path) as db:
            db.execute("UPDATE events SET data = '[1, 2]' WHERE version = 2")
        with pytest.raises(StorageError, match="holds list, not a JSON object"):
            SQLiteStore(path).load(incident.id)

    def test_a_naive_time_is_refused_by_the_store(self, tmp_path: Path) -> None:
        with (
            SQLiteStore(tmp_path / "x.db") as store,
            pytest.raises(StorageError, match="timezone-aware times only"),
        ):
            store.due_incidents(datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test

    @pytest.mark.parametrize(
        "now",
        [
            datetime(2026, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))),
            datetime(2026, 1, 1, 12, 0),  # noqa: DTZ001 - naive is taken as UTC
        ],
    )
    def test_the_clock_is_kept_in_utc(self, tmp_path: Path, now: datetime) -> None:
        class Fixed:
            def now(self) -> datetime:
                return now

        flow = IncidentFlow(
            store=SQLiteStore(tmp_path / "x.db"),
            clock=Fixed(),
            notifier=RecordingNotifier(),
            pager=RecordingNotifier(),
        )
        incident = flow.trigger(Alert(source="s", name="n", title="t", severity="P1"))
        stamps = {e.at for e in flow.history(incident.id)}
        assert stamps == {datetime(2026, 1, 1, 12, 0, tzinfo=UTC)}
        assert all(e.at.tzinfo is UTC for e in flow.history(incident.id))
        assert incident.escalation_due_at == datetime(2026, 1, 1, 12, 5, tzinfo=UTC)


class TestOneFlushPerCommand:
    """Issue 27: a command's decision waits for the disk; its delivery outcomes do not."""

    def test_outcomes_are_committed_without_a_flush_and_the_setting_comes_back(
        self, tmp_path: Path
    ) -> None:
        store = SQLiteStore(tmp_path / "x.db")
        said: list[str] = []
        store._db.set_trace_callback(said.append)
        flow = IncidentFlow(
            store=store,
            notifier=RecordingNotifier(),
            pager=RecordingNotifier(),
            publisher=RecordingPublisher(),
        )
        incident = flow.trigger(Alert(source="s", name="n", title="t", severity="P1"))
        flow.get(incident.id)  # writes the outcomes, which waited for the next append
        commits = [s for s in said if s in ("BEGIN IMMEDIATE", "COMMIT") or "synchronous" in s]
        # The decision under FULL (the store's setting), then the outcomes under NORMAL (no
        # fsync in WAL mode), and FULL again for whatever comes next.
        assert commits == [
            "BEGIN IMMEDIATE",
            "COMMIT",
            "PRAGMA synchronous = NORMAL",
            "BEGIN IMMEDIATE",
            "COMMIT",
            "PRAGMA synchronous = FULL",
        ]
        assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        store.close()


class TestARepeatRewritesNoIndex:
    """Issue 27: an append that changes no indexed column sets only the version and time."""

    @staticmethod
    def _updates(said: list[str]) -> list[str]:
        return [" ".join(s.split()[:4]) for s in said if s.lstrip().startswith("UPDATE incidents")]

    def test_a_repeat_sets_the_version_alone_and_a_change_of_state_sets_the_row(
        self, tmp_path: Path
    ) -> None:
        store = SQLiteStore(tmp_path / "x.db")
        flow = IncidentFlow(store=store, notifier=RecordingNotifier(), pager=RecordingNotifier())
        alert = Alert(source="s", name="n", title="t", severity="P1")
        incident = flow.trigger(alert)
        flow.get(incident.id)  # the delivery outcomes written
        said: list[str] = []
        store._db.set_trace_callback(said.append)
        flow.trigger(alert)  # a repeat: state, severity, key and timer as they were
        assert self._updates(said) == ["UPDATE incidents SET version"]
        said.clear()
        flow.resolve(incident.id, by="alice")  # the state (indexed) changes
        assert self._updates(said) == [
            "UPDATE incidents SET version",  # no row: the state differs
            "UPDATE incidents SET state",
        ]
        resolved = flow.get(incident.id)
        assert store.find_by_dedup_key(alert.dedup_key) == incident.id
        row = store._db.execute(
            "SELECT state, version, updated_at FROM incidents WHERE id = ?", (incident.id,)
        ).fetchone()
        assert (row[0], row[1]) == ("resolved", resolved.version)
        store.close()

    def test_a_stale_repeat_is_still_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "x.db"
        alert = Alert(source="s", name="n", title="t", severity="P1")
        ours = IncidentFlow(store=SQLiteStore(path))
        incident = ours.trigger(alert)
        ours.get(incident.id)
        theirs = IncidentFlow(store=SQLiteStore(path))
        theirs.trigger(alert)  # a replica's repeat: our cached incident is one behind
        again = ours.trigger(alert)  # refused on the stale version, reloaded, retried
        assert again.alert_count == 3
        assert IncidentFlow(store=SQLiteStore(path)).get(incident.id).alert_count == 3


class TestARepeatFollowsItsKeyAcrossReplicas:
    """Issue 27: a repeat routed from memory still lands where the store routes its key."""

    @pytest.mark.parametrize("many", [False, True], ids=["trigger", "trigger_all"])
    def test_a_key_another_replica_moved_on_opens_where_the_store_says(
        self, tmp_path: Path, many: bool
    ) -> None:
        path = tmp_path / "x.db"
        alert = Alert(source="s", name="n", title="t", severity="P1")
        ours = IncidentFlow(store=SQLiteStore(path), pager=RecordingNotifier())
        theirs = IncidentFlow(store=SQLiteStore(path), pager=RecordingNotifier())

        def trigger(flow: IncidentFlow) -> str:
            if many:
                found = flow.trigger_all([alert])[0]
                assert found is not None
                return found.id
            return flow.trigger(alert).id

        first = trigger(ours)
        assert trigger(ours) == first  # a repeat: the key's incident is remembered now
        # A replica ends the incident's intake (its post-mortem starts) and opens a new one.
        theirs.resolve(first, by="bob")
        theirs.start_postmortem(first, author="bob")
        second = trigger(theirs)
        assert second != first
        # Ours still holds the first as taking the key: its append is refused, it reads
        # again, and the repeat joins the incident the store routes the key to.
        assert trigger(ours) == second
        assert ours.get(second).alert_count == 2
        assert ours.get(first).alert_count == 2
        assert theirs.store.find_by_dedup_key(alert.dedup_key) == second
