"""PostgresStore.transaction: a command's reads and its append in one transaction.

What is checked is the store's state, never a time: which connection holds a transaction open,
what another session sees, that a refused or read-only command leaves nothing open, that
threads running commands at once (each on its unit connection) neither block nor lose one, and
how many times a command waits on the server (libpq's own trace of the protocol: each wait
ends with the server's ReadyForQuery).
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import attrs
import psycopg
import pytest

from incident_flow import Alert, ConcurrencyError, IncidentFlow, RecordingNotifier
from incident_flow._core.incident import fold
from incident_flow.adapters.stores.postgres import PostgresStore
from incident_flow.events import NoteAdded
from incident_flow.ports import StreamAppend
from incident_flow.testing.contracts import sample_history

from .conftest import T0, pg_schema


@pytest.fixture
def store(postgres_dsn: str) -> Iterator[PostgresStore]:
    with pg_schema(postgres_dsn) as schema, PostgresStore(postgres_dsn, schema=schema) as opened:
        yield opened


def _open(conn: psycopg.Connection[object] | None) -> bool:
    return conn is not None and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE


def test_reads_then_the_append_commit_together(store: PostgresStore) -> None:
    history = sample_history()[:3]
    base = fold(None, history)
    with store.transaction():
        assert store.find_by_dedup_key(base.dedup_key) is None
        unit = store._local.conn
        assert _open(unit)  # the read's transaction is held for the append
        store.append(base.id, 0, history, snapshot=base)
        assert not _open(unit)  # committed by the append
        assert store.load(base.id) == history  # after it, reads run as outside
        assert not _open(unit)
    other = PostgresStore(store._db.dsn, schema=store.schema)
    with other:
        assert other.load(base.id) == history
        assert other.find_by_dedup_key(base.dedup_key) == base.id


def test_a_refused_append_keeps_nothing_and_leaves_nothing_open(store: PostgresStore) -> None:
    history = sample_history()[:3]
    base = fold(None, history)
    store.append(base.id, 0, history, snapshot=base)
    note = [NoteAdded(version=3, at=T0, by="a", text="late")]
    with store.transaction():
        assert store.load(base.id) == history
        with pytest.raises(ConcurrencyError):  # a writer that read version 2: stale
            store.append(base.id, 2, note, snapshot=attrs.evolve(base, version=3))
        assert not _open(store._local.conn)
    assert store.load(base.id) == history


def test_a_command_without_an_append_ends_its_transaction(store: PostgresStore) -> None:
    with store.transaction():
        assert store.incident_ids() == []
        assert _open(store._local.conn)
    assert not _open(store._local.conn)

    def failing_command() -> None:
        with store.transaction():
            store.incident_ids()
            raise RuntimeError

    with pytest.raises(RuntimeError):
        failing_command()
    assert not _open(store._local.conn)


def test_flow_commands_leave_no_transaction_open(store: PostgresStore) -> None:
    flow = IncidentFlow(store=store, notifier=RecordingNotifier(), pager=RecordingNotifier())
    incident = flow.trigger(Alert(source="s", name="n", title="t", severity="P1"))
    assert not _open(store._local.conn)
    with pytest.raises(Exception, match="resolve"):
        flow.close(incident.id, by="bob")  # refused by the process
    assert not _open(store._local.conn)
    again = flow.trigger(Alert(source="s", name="n", title="t", severity="P1"))
    assert again.id == incident.id and again.alert_count == 2
    assert not _open(store._local.conn)


def test_threads_running_commands_at_once_each_keep_theirs(store: PostgresStore) -> None:
    flow = IncidentFlow(store=store, notifier=RecordingNotifier(), pager=RecordingNotifier())
    errors: list[BaseException] = []
    opened: list[str] = []

    def work(n: int) -> None:
        try:
            for k in range(5):
                alert = Alert(source="s", name="n", title="t", severity="P2", dedup_key=f"{k}")
                incident = flow.trigger(alert)  # five threads race for each key
                opened.append(incident.id)
                flow.note(incident.id, f"thread {n}", by=f"u{n}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(opened)) == 5  # one incident per key, whoever raced for it
    for incident_id in set(opened):
        incident = flow.get(incident_id)
        assert incident.alert_count == 5
        notes = [e for e in flow.history(incident_id) if isinstance(e, NoteAdded)]
        assert len(notes) == 5


class _Waits:
    """How many times the server answered ReadyForQuery on one connection: its round trips."""

    count = 0


@contextmanager
def _round_trips(conn: psycopg.Connection[object] | None) -> Iterator[_Waits]:
    assert conn is not None
    waits = _Waits()
    with tempfile.TemporaryFile("w+") as trace:
        conn.pgconn.trace(trace.fileno())
        try:
            yield waits
        finally:
            conn.pgconn.untrace()  # flushes libpq's buffered trace
            trace.seek(0)
            waits.count = trace.read().count("\tReadyForQuery")


def test_a_command_waits_once_per_read_and_once_for_its_append(store: PostgresStore) -> None:
    history = sample_history()[:3]
    base = fold(None, history)
    store.append(base.id, 0, history, snapshot=base)
    with store.transaction():
        store.incident_ids()  # this thread's unit connection, made
    note = [NoteAdded(version=4, at=T0, by="a", text="n")]
    with _round_trips(store._local.conn) as waits, store.transaction():
        assert store.find_by_dedup_key(base.dedup_key) == base.id  # BEGIN rides with it
        assert store.load(base.id) == history
        store.append(base.id, 3, note, snapshot=fold(base, note))  # COMMIT rides with it
    assert waits.count == 3
    assert not _open(store._local.conn)
    assert store.load(base.id, 3) == note


def test_an_append_outside_a_command_is_one_round_trip(store: PostgresStore) -> None:
    history = sample_history()[:3]
    base = fold(None, history)
    with _round_trips(store._connection()) as waits:
        store.append(base.id, 0, history, snapshot=base)  # one statement, in autocommit
    assert waits.count == 1
    other = attrs.evolve(base, id="inc-other", dedup_key="other")
    note = [NoteAdded(version=4, at=T0, by="a", text="n")]
    both = [
        StreamAppend(incident_id="inc-other", expected_version=0, events=history, snapshot=other),
        StreamAppend(
            incident_id=base.id,
            expected_version=3,
            events=note,
            snapshot=fold(base, note),
            durable=False,
        ),
    ]
    with _round_trips(store._connection()) as waits:
        store.append_all(both)  # BEGIN, the two, COMMIT: one pipeline
    assert waits.count == 1
    assert store.load("inc-other") == history
    assert store.load(base.id, 3) == note


def test_a_refused_append_leaves_its_connection_ready(store: PostgresStore) -> None:
    history = sample_history()[:3]
    base = fold(None, history)
    store.append(base.id, 0, history, snapshot=base)
    conn = store._connection()
    note = [NoteAdded(version=3, at=T0, by="a", text="late")]
    stale = attrs.evolve(base, version=3)
    with pytest.raises(ConcurrencyError):
        store.append(base.id, 2, note, snapshot=stale)
    light = StreamAppend(
        incident_id=base.id, expected_version=2, events=note, snapshot=stale, durable=False
    )
    with pytest.raises(ConcurrencyError):  # the pipeline's transaction, rolled back
        store.append_all([light])
    assert store._connection() is conn  # not dropped: a lost race is no fault
    assert not _open(conn)
    assert store.load(base.id) == history
