"""PostgresStore.transaction: a command's reads and its append in one transaction.

What is checked is the store's state, never a time: which connection holds a transaction open,
what another session sees, that a refused or read-only command leaves nothing open, and that
threads running commands at once (each on its unit connection) neither block nor lose one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import attrs
import psycopg
import pytest

from incident_flow import Alert, ConcurrencyError, IncidentFlow, RecordingNotifier
from incident_flow._core.incident import fold
from incident_flow.adapters.stores.postgres import PostgresStore
from incident_flow.events import NoteAdded
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
