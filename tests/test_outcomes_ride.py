"""Delivery outcomes ride on the next append (issue 27): one transaction per command.

A command's own sends are recorded in memory and written with the flow's next append (in the
same transaction), or flushed by a read of the flow, ``deliver_pending``, a claim renewal,
``drain`` or the interpreter's exit. What is checked is the store: which transactions wrote
what (SQLite's trace of COMMITs, PostgreSQL's ``xmin`` of the event rows), what another
replica reads, and that nothing is recorded twice or lost. Never a time.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from incident_flow import (
    Alert,
    AsyncIncidentFlow,
    IncidentFlow,
    Notification,
    Policy,
    RecordingNotifier,
    StorageError,
)
from incident_flow._core.steps import run
from incident_flow._drivers import steps_delivery
from incident_flow._drivers.locks import AsyncKeyedLocks, KeyedLocks
from incident_flow.adapters.stores.postgres import PostgresStore
from incident_flow.adapters.stores.sqlite import SQLiteStore
from incident_flow.testing import ManualClock, RecordingPublisher, capture_events

from .conftest import T0, MakeFlow, pg_schema

P1 = Alert(source="datadog", name="CheckoutDown", title="Checkout down", severity="P1")
P3 = Alert(source="datadog", name="DiskFull", title="Disk full", severity="P3", dedup_key="d")


def _flow(store: Any, make: Any = IncidentFlow, chat: Any = None) -> IncidentFlow:
    flow: IncidentFlow = make(
        Policy(),
        store=store,
        notifier=chat if chat is not None else RecordingNotifier(),
        pager=RecordingNotifier(),
        publisher=RecordingPublisher(),
        clock=ManualClock(T0),
    )
    return flow


def _delivered(store: Any, incident_id: str) -> list[str]:
    """The ids of the messages the store has a MessageDelivered event for."""
    return [e.message_id for e in store.load(incident_id) if e.type == "MessageDelivered"]


def _commits(store: SQLiteStore) -> list[int]:
    """A counter of the store's COMMITs (sqlite3's trace callback sees every statement)."""
    seen = [0]

    def traced(statement: str) -> None:
        seen[0] += statement == "COMMIT"

    store._db.set_trace_callback(traced)
    return seen


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "incidents.db")
    yield store
    store.close()


@pytest.fixture
def postgres(postgres_dsn: str) -> Iterator[PostgresStore]:
    with pg_schema(postgres_dsn) as schema, PostgresStore(postgres_dsn, schema=schema) as store:
        yield store


class TestOneTransactionPerCommand:
    """The outcomes of a command's sends are written by the next command's own transaction."""

    def test_on_sqlite_each_command_commits_once(self, sqlite: SQLiteStore) -> None:
        """Trigger, acknowledge, resolve: three commits, each outcome in the next one."""
        flow = _flow(sqlite)
        commits = _commits(sqlite)
        incident = flow.trigger(P1)
        assert commits[0] == 1
        sent = [m.id for m in sqlite.outbox_messages(incident.id)]
        assert len(sent) == 2 and _delivered(sqlite, incident.id) == []  # not written yet
        # The command's answer shows them all the same.
        assert incident.chat_thread is not None and incident.version > 3
        flow.acknowledge(incident.id, by="alice")
        assert commits[0] == 2
        assert sorted(_delivered(sqlite, incident.id)) == sorted(sent)  # rode on the ack
        flow.resolve(incident.id, by="alice")
        assert commits[0] == 3
        events = sqlite.load(incident.id)
        assert [e.version for e in events] == list(range(1, len(events) + 1))

    def test_on_postgres_the_outcomes_and_the_next_decision_share_a_transaction(
        self, postgres: PostgresStore
    ) -> None:
        """The trigger's MessageDelivered rows and the acknowledgement's: one xmin."""
        flow = _flow(postgres)
        incident = flow.trigger(P1)
        flow.acknowledge(incident.id, by="alice")
        with psycopg.connect(postgres._db.dsn, autocommit=True) as conn:
            table = f'"{postgres.schema}".events'
            rows = conn.execute(
                f"SELECT version, data::jsonb->>'type', xmin::text FROM {table} "  # noqa: S608
                "WHERE incident_id = %s ORDER BY version",
                (incident.id,),
            ).fetchall()
        by_type = {kind: xmin for _, kind, xmin in rows}
        delivered = {xmin for _, kind, xmin in rows if kind == "MessageDelivered"}
        assert delivered == {by_type["IncidentAcknowledged"]}
        assert by_type["IncidentAcknowledged"] != by_type["IncidentTriggered"]

    def test_another_incident_s_outcomes_ride_too(self, sqlite: SQLiteStore) -> None:
        """A new incident's trigger writes the last one's outcomes in its own commit."""
        flow = _flow(sqlite)
        first = flow.trigger(P1)
        commits = _commits(sqlite)
        flow.trigger(P3)
        assert commits[0] == 1
        assert len(_delivered(sqlite, first.id)) == 2


class TestTheFlowsReadsShowThem:
    """After a command returns, the flow's reads show its outcomes, and so does the store."""

    def test_get_history_and_incidents_write_them_first(
        self, sqlite: SQLiteStore, make_flow: MakeFlow
    ) -> None:
        flow = _flow(sqlite, make_flow)
        incident = flow.trigger(P1)
        assert flow.get(incident.id).chat_thread == incident.chat_thread
        assert len(_delivered(sqlite, incident.id)) == 2  # written by the read
        flow.note(incident.id, "looking", by="alice")
        assert [e.type for e in flow.history(incident.id)][-1] == "MessageDelivered"
        flow.note(incident.id, "still looking", by="alice")
        (listed,) = flow.incidents()
        assert listed == flow.get(incident.id)
        assert fold_of(sqlite, incident.id) == listed

    def test_deliver_pending_writes_them(self, sqlite: SQLiteStore) -> None:
        flow = _flow(sqlite)
        incident = flow.trigger(P1)
        assert flow.deliver_pending() == 0
        assert len(_delivered(sqlite, incident.id)) == 2
        assert not any(m.pending for m in sqlite.outbox_messages())

    def test_a_claim_renewal_writes_them(self, sqlite: SQLiteStore) -> None:
        """A ClaimKeeper's renewal (every third of a hold) writes them before renewing."""
        flow = _flow(sqlite)
        incident = flow.trigger(P1)
        assert run(flow._renewal(), flow._port) == 0
        assert len(_delivered(sqlite, incident.id)) == 2

    def test_drain_writes_them(self, sqlite: SQLiteStore) -> None:
        async def main() -> None:
            flow = AsyncIncidentFlow(
                Policy(), store=sqlite, notifier=RecordingNotifier(), pager=RecordingNotifier()
            )
            incident = await flow.trigger(P1)
            assert _delivered(sqlite, incident.id) == []
            await flow.drain()
            assert len(_delivered(sqlite, incident.id)) == 2

        asyncio.run(main())

    def test_a_script_s_last_outcomes_are_written_at_its_exit(self, tmp_path: Path) -> None:
        path = tmp_path / "script.db"
        script = (
            "from incident_flow import Alert, IncidentFlow, RecordingNotifier, SQLiteStore\n"
            f"flow = IncidentFlow(store=SQLiteStore({str(path)!r}), notifier=RecordingNotifier(),"
            " pager=RecordingNotifier())\n"
            "inc = flow.trigger(Alert(source='s', name='n', title='t', severity='P1'))\n"
            "assert flow._exit_hook\n"
            "print(inc.id)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        )
        store = SQLiteStore(path)
        try:
            assert len(_delivered(store, done.stdout.strip())) == 2
            assert not any(m.pending for m in store.outbox_messages())
        finally:
            store.close()

    def test_the_exit_hook_is_there_only_while_outcomes_wait(self, sqlite: SQLiteStore) -> None:
        flow = _flow(sqlite)
        incident = flow.trigger(P1)
        assert flow._exit_hook
        flow.get(incident.id)
        assert not flow._exit_hook
        flow._flush_at_exit()  # nothing waits: nothing written, nothing raised
        assert not flow._exit_hook


def fold_of(store: Any, incident_id: str) -> Any:
    from incident_flow._core.incident import fold

    return fold(None, store.load(incident_id))


class TestWhatIsWrittenAtOnce:
    """Failures, and outcomes that decide something, are written at once as before."""

    def test_a_failed_send_is_written_at_once(self, sqlite: SQLiteStore) -> None:
        """Its retry is due in seconds, for any sender: no waiting for the next append."""

        class Down(RecordingNotifier):
            def send(self, message: Notification) -> str | None:
                raise RuntimeError("slack is down")

        flow = _flow(sqlite, chat=Down())
        incident = flow.trigger(P1)
        failed = [e for e in sqlite.load(incident.id) if e.type == "DeliveryFailed"]
        assert [e.channel for e in failed] == ["chat"]
        assert len(_delivered(sqlite, incident.id)) == 1  # the page's, with it
        assert not flow._unflushed

    def test_past_the_bound_they_are_written_at_once(
        self, sqlite: SQLiteStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(steps_delivery, "MOST", 0)
        flow = _flow(sqlite)
        incident = flow.trigger(P1)
        assert len(_delivered(sqlite, incident.id)) == 2


class TestAnotherWriter:
    """Another replica appending meanwhile costs a re-decision, never a loss or a double."""

    def test_the_next_command_re_decides_them_on_the_stored_incident(
        self, sqlite: SQLiteStore
    ) -> None:
        ours, theirs = _flow(sqlite), _flow(sqlite)
        incident = ours.trigger(P1)
        theirs.note(incident.id, "from the other replica", by="zoe")
        with capture_events() as logs:
            acked = ours.acknowledge(incident.id, by="alice")
        assert acked.acknowledged_by == "alice"
        assert not [e for e in logs if e["log_level"] in ("error", "warning")]
        ours.get(incident.id)
        theirs.get(incident.id)
        delivered = _delivered(sqlite, incident.id)
        assert len(delivered) == len(set(delivered)) == 4  # the trigger's 2, the ack's 2
        # The other replica could not see our first chat message yet: its note waits for it
        # (retried in 2 s), rather than starting a thread of its own.
        (waiting,) = [e for e in sqlite.load(incident.id) if e.type == "DeliveryFailed"]
        assert waiting.message_id.endswith("/chat/update") and "not out yet" in waiting.error
        events = sqlite.load(incident.id)
        assert [e.version for e in events] == list(range(1, len(events) + 1))
        assert fold_of(sqlite, incident.id) == ours.get(incident.id)

    def test_a_read_re_decides_them_too(self, sqlite: SQLiteStore) -> None:
        ours, theirs = _flow(sqlite), _flow(sqlite)
        incident = ours.trigger(P1)
        theirs.note(incident.id, "from the other replica", by="zoe")
        seen = ours.get(incident.id)
        assert "NoteAdded" in [e.type for e in sqlite.load(incident.id)]
        assert len(_delivered(sqlite, incident.id)) == 2
        assert seen == fold_of(sqlite, incident.id)

    def test_another_incident_s_refused_outcomes_do_not_refuse_the_command(
        self, sqlite: SQLiteStore
    ) -> None:
        """Folded into a trigger of another incident and refused: written alone, trigger kept."""
        ours, theirs = _flow(sqlite), _flow(sqlite)
        first = ours.trigger(P1)
        theirs.note(first.id, "from the other replica", by="zoe")
        second = ours.trigger(P3)
        assert fold_of(sqlite, second.id).state == "notified"
        assert len(_delivered(sqlite, first.id)) == 2
        events = sqlite.load(first.id)
        assert [e.version for e in events] == list(range(1, len(events) + 1))

    def test_a_store_that_fails_keeps_them_for_the_next_append(
        self, sqlite: SQLiteStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        flow = _flow(sqlite)
        incident = flow.trigger(P1)
        real = sqlite.append_all
        calls = [0]

        def failing(*args: Any, **kwargs: Any) -> None:
            calls[0] += 1
            if calls[0] == 1:
                raise StorageError("disk full")
            real(*args, **kwargs)

        monkeypatch.setattr(sqlite, "append_all", failing)
        with pytest.raises(StorageError):
            flow.acknowledge(incident.id, by="alice")
        assert _delivered(sqlite, incident.id) == []
        flow.acknowledge(incident.id, by="alice")
        assert len(_delivered(sqlite, incident.id)) == 2
        calls[0] = 0
        with pytest.raises(StorageError):
            flow.get(incident.id)  # the flush fails: kept for later, the read raises
        assert len(flow._unflushed) == 1
        flow.get(incident.id)
        assert len(_delivered(sqlite, incident.id)) == 4

    def test_a_flush_that_cannot_write_one_says_so_and_forgets_it(
        self, sqlite: SQLiteStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Refused together, then failing alone: logged, the message goes again later."""
        from incident_flow import ConcurrencyError

        flow = _flow(sqlite)
        incident = flow.trigger(P1)
        errors = iter([ConcurrencyError(incident.id, 1), StorageError("disk full")])

        def failing(*args: Any, **kwargs: Any) -> None:
            raise next(errors)

        monkeypatch.setattr(sqlite, "append_all", failing)
        with capture_events() as logs:
            assert run(flow._flush(), flow._port) == 1
        assert [e["event"] for e in logs if e["log_level"] == "error"] == [
            "incident_flow.delivery_not_recorded"
        ]
        monkeypatch.undo()
        assert flow.get(incident.id).version == fold_of(sqlite, incident.id).version


class TestLocksTakenWithoutWaiting:
    """A flusher takes an incident's lock only when it is free (its holder writes them)."""

    def test_sync_locks_are_reentrant_and_refuse_another_thread(self) -> None:
        locks = KeyedLocks()
        assert locks.try_acquire("a") and locks.try_acquire("a")  # this thread, again
        got: list[bool] = []
        other = threading.Thread(target=lambda: got.append(locks.try_acquire("a")))
        other.start()
        other.join()
        assert got == [False]
        locks.release("a")
        locks.release("a")
        assert len(locks) == 0

    def test_async_locks_refuse_a_held_one(self) -> None:
        async def main() -> None:
            locks = AsyncKeyedLocks()
            assert locks.try_acquire("a")
            assert not locks.try_acquire("a")
            locks.release("a")
            await locks.acquire("a")
            assert not locks.try_acquire("a")
            locks.release("a")
            assert len(locks) == 0

        asyncio.run(main())

    def test_a_command_in_progress_keeps_its_incident_s_outcomes(self, sqlite: SQLiteStore) -> None:
        flow = _flow(sqlite)
        incident = flow.trigger(P1)
        held = threading.Event()
        done = threading.Event()

        def hold() -> None:
            flow._locks.acquire(incident.id)
            held.set()
            done.wait()
            flow._locks.release(incident.id)

        holder = threading.Thread(target=hold)
        holder.start()
        held.wait()
        try:
            assert run(flow._flush(), flow._port) == 0  # left to the command holding it
            assert flow.get(incident.id) == incident  # the read shows them all the same
        finally:
            done.set()
            holder.join()
        assert run(flow._flush(), flow._port) == 1


class TestAWholeLifecycle:
    """The P1 lifecycle on SQLite: publisher answers written at once, runbook revisions alone."""

    def test_the_store_ends_as_the_flow_says(self, sqlite: SQLiteStore) -> None:
        from incident_flow import Runbook

        runbook = Runbook(name="checkout", url="https://runbooks.example/c", alert="Checkout*")
        flow = IncidentFlow(
            Policy(runbooks=[runbook], postmortem_approvers="anyone"),
            store=sqlite,
            notifier=RecordingNotifier(),
            pager=RecordingNotifier(),
            publisher=RecordingPublisher(),
            clock=ManualClock(T0),
        )
        inc = flow.trigger(P1)
        flow.acknowledge(inc.id, by="alice")
        flow.start_runbook(inc.id, by="alice")
        flow.resolve(inc.id, by="alice", summary="rolled back")
        flow.start_postmortem(
            inc.id, author="alice", impact="i", root_cause="r", learnings=["page on p95"]
        )
        flow.submit_postmortem(inc.id, by="alice")
        flow.approve_postmortem(inc.id, reviewer="bob")
        flow.approve_postmortem(inc.id, reviewer="carol")
        flow.update_runbook(inc.id, "checkout", by="alice", note="added the check")
        closed = flow.close(inc.id, by="alice")
        assert closed.state == "closed"
        assert flow.get(inc.id) == closed == fold_of(sqlite, inc.id)
        assert not any(m.pending for m in sqlite.outbox_messages())
        delivered = _delivered(sqlite, inc.id)
        assert len(delivered) == len(set(delivered)) == len(sqlite.outbox_messages())
