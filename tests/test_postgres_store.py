"""PostgresStore on the real server: the store contract, plus what a shared database must do."""

from __future__ import annotations

from collections.abc import Iterator

import attrs
import psycopg
import pytest

from incident_flow import Alert, ConcurrencyError, IncidentFlow, RecordingNotifier, StorageError
from incident_flow._core.incident import fold
from incident_flow.adapters.stores.postgres import PostgresStore
from incident_flow.events import NoteAdded
from incident_flow.testing import ManualClock, RecordingPublisher
from incident_flow.testing.contracts import StoreContract, sample_history

from .conftest import T0, pg_schema


class TestPostgresStore(StoreContract):
    """PostgresStore passes the store contract."""

    @pytest.fixture
    def store(self, postgres_dsn: str) -> Iterator[PostgresStore]:
        with pg_schema(postgres_dsn) as schema:
            store = PostgresStore(postgres_dsn, schema=schema)
            yield store
            store.close()


class TestSharedDatabase:
    """Restarts, replicas, errors and secrets."""

    def test_a_second_replica_reads_everything(self, postgres_dsn: str) -> None:
        with (
            pg_schema(postgres_dsn) as schema,
            PostgresStore(postgres_dsn, schema=schema) as ours,
            PostgresStore(postgres_dsn, schema=schema) as theirs,
        ):
            clock = ManualClock(T0)
            flow = IncidentFlow(
                store=ours,
                notifier=RecordingNotifier(),
                pager=RecordingNotifier(),
                publisher=RecordingPublisher(),
                clock=clock,
            )
            incident = flow.trigger(Alert(source="s", name="n", title="t", severity="P1"))
            flow.acknowledge(incident.id, by="alice")
            replica = IncidentFlow(store=theirs, clock=clock)
            seen = flow.get(incident.id)  # its read writes its delivery outcomes (issue 27)
            assert replica.get(incident.id) == seen
            assert replica.history(incident.id) == flow.history(incident.id)

    def test_newer_schema_is_refused(self, postgres_dsn: str) -> None:
        with pg_schema(postgres_dsn) as schema:
            PostgresStore(postgres_dsn, schema=schema).close()
            with psycopg.connect(postgres_dsn, autocommit=True) as conn:
                conn.execute(
                    f"UPDATE \"{schema}\".incident_flow_meta SET value = '7' "  # noqa: S608
                    "WHERE key = 'schema_version'"
                )
            with pytest.raises(StorageError, match=r"newer incident_flow \(schema version 7"):
                PostgresStore(postgres_dsn, schema=schema).close()

    def test_unreachable_server_is_a_storage_error_without_the_password(self) -> None:
        dsn = "postgresql://postgres:hunter2@127.0.0.1:1/nope?connect_timeout=2"
        with pytest.raises(StorageError) as info:
            PostgresStore(dsn)
        assert "hunter2" not in str(info.value)
        assert isinstance(info.value.__cause__, psycopg.Error)

    def test_repr_hides_the_password(self, postgres_dsn: str) -> None:
        dsn = postgres_dsn + ("&" if "?" in postgres_dsn else "?") + "password=s3cret"
        with pg_schema(postgres_dsn) as schema, PostgresStore(dsn, schema=schema) as store:
            assert "s3cret" not in repr(store)
            assert "127.0.0.1" in repr(store)

    def test_an_append_ahead_of_the_stream_is_refused(self, postgres_dsn: str) -> None:
        # No stored event has the versions it writes: only the incident row's guard sees it.
        with pg_schema(postgres_dsn) as schema, PostgresStore(postgres_dsn, schema=schema) as store:
            history = sample_history()[:3]
            base = fold(None, history)
            store.append(base.id, 0, history, snapshot=base)
            ahead = [NoteAdded(version=8, at=T0, by="a", text="from the future")]
            with pytest.raises(ConcurrencyError):
                store.append(base.id, 7, ahead, snapshot=attrs.evolve(base, version=8))
            assert [e.version for e in store.load(base.id)] == [1, 2, 3]

    def test_unparsable_dsn_is_not_echoed(self) -> None:
        with pytest.raises(StorageError, match="not a valid connection string") as info:
            PostgresStore("host=x password='hunter2")
        assert "hunter2" not in str(info.value)

    def test_bad_schema_name(self, postgres_dsn: str) -> None:
        with pytest.raises(ValueError, match="schema must be"):
            PostgresStore(postgres_dsn, schema='x"; DROP TABLE events; --')

    def test_reconnects_after_the_connection_drops(self, postgres_dsn: str) -> None:
        with pg_schema(postgres_dsn) as schema, PostgresStore(postgres_dsn, schema=schema) as store:
            store.close()
            assert store.incident_ids() == []
            assert store._conn is not None
            store._conn.close()
            assert store.load("x") == []


class TestKilledMidAppend:
    """A connection killed during a pipelined append never leaves the store stuck."""

    def test_the_next_command_reconnects_and_succeeds(self, postgres_dsn: str) -> None:
        import random
        import threading
        import time

        with pg_schema(postgres_dsn) as schema, PostgresStore(postgres_dsn, schema=schema) as store:
            flow = IncidentFlow(
                store=store, notifier=RecordingNotifier(), pager=RecordingNotifier()
            )
            incident = flow.trigger(Alert(source="s", name="n", title="t", severity="P4"))
            rng = random.Random(7)
            failed = 0
            for _ in range(15):
                delay = rng.uniform(0, 0.02)

                def kill(delay: float = delay) -> None:
                    time.sleep(delay)
                    conn = store._conn
                    if conn is not None and not conn.closed:
                        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
                            admin.execute(
                                "SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,)
                            )

                killer = threading.Thread(target=kill)
                killer.start()
                for _ in range(30):  # appends while the backend is killed under them
                    try:
                        flow.note(incident.id, "working", by="alice")
                    except StorageError:
                        failed += 1
                killer.join()
                # Was: "cannot exit pipeline mode while busy" for every command from here on.
                flow.note(incident.id, "after the failover", by="alice")
            assert failed >= 1  # the kills did land


class TestWhatTheStoreCannotRead:
    """A damaged or foreign database is a StorageError, never a raw ValueError."""

    def test_a_non_numeric_schema_version(self, postgres_dsn: str) -> None:
        with pg_schema(postgres_dsn) as schema:
            PostgresStore(postgres_dsn, schema=schema).close()
            with psycopg.connect(postgres_dsn, autocommit=True) as conn:
                conn.execute(
                    f"UPDATE \"{schema}\".incident_flow_meta SET value = 'v2' "  # noqa: S608
                    "WHERE key = 'schema_version'"
                )
            with pytest.raises(StorageError, match="schema_version that is not a number"):
                PostgresStore(postgres_dsn, schema=schema)

    def test_an_event_row_that_is_not_an_object(self, postgres_dsn: str) -> None:
        with pg_schema(postgres_dsn) as schema, PostgresStore(postgres_dsn, schema=schema) as store:
            flow = IncidentFlow(
                store=store, notifier=RecordingNotifier(), pager=RecordingNotifier()
            )
            incident = flow.trigger(Alert(source="s", name="n", title="t", severity="P4"))
            with psycopg.connect(postgres_dsn, autocommit=True) as conn:
                conn.execute(
                    f"UPDATE \"{schema}\".events SET data = '[1]' WHERE version = 2"  # noqa: S608
                )
            with pytest.raises(StorageError, match="not a JSON object"):
                store.load(incident.id)


class TestMigration:
    """A version-1 schema is brought to version 2 on open."""

    def test_v1_to_v2(self, postgres_dsn: str) -> None:
        with pg_schema(postgres_dsn) as schema:
            PostgresStore(postgres_dsn, schema=schema).close()
            with psycopg.connect(postgres_dsn, autocommit=True) as conn:
                conn.execute(f'ALTER TABLE "{schema}".incidents DROP COLUMN timer_at')
                conn.execute(
                    f"UPDATE \"{schema}\".incident_flow_meta SET value = '1' "  # noqa: S608
                    "WHERE key = 'schema_version'"
                )
            with PostgresStore(postgres_dsn, schema=schema) as store:
                assert store.due_incidents(T0) == []
                flow = IncidentFlow(
                    store=store,
                    notifier=RecordingNotifier(),
                    pager=RecordingNotifier(),
                    publisher=RecordingPublisher(),
                    clock=ManualClock(T0),
                )
                incident = flow.trigger(Alert(source="s", name="n", title="t", severity="P1"))
                assert store.due_incidents(incident.escalation_due_at) == [incident.id]  # type: ignore[arg-type]
