"""AsyncPostgresStore on the real server: the store contract, sharing a schema, racing callers."""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import attrs
import psycopg
import pytest

from incident_flow import Alert, ConcurrencyError, IncidentFlow, StorageError
from incident_flow._core.incident import fold
from incident_flow._core.messages import Notification
from incident_flow.adapters.stores.postgres import PostgresStore
from incident_flow.adapters.stores.postgres_async import AsyncPostgresStore
from incident_flow.events import NoteAdded
from incident_flow.ports import StreamAppend
from incident_flow.testing import ManualClock
from incident_flow.testing._async import LoopThread
from incident_flow.testing.contracts import StoreContract, sample_history

from .conftest import T0, pg_schema

OpenStore = Callable[..., AsyncPostgresStore]
_ALERT = Alert(source="s", name="n", title="t", severity="P1")


class TestAsyncPostgresStore(StoreContract):
    """AsyncPostgresStore passes the store contract, its coroutines run on the test's loop."""

    @pytest.fixture
    def store(self, postgres_dsn: str, loop: LoopThread) -> Iterator[AsyncPostgresStore]:
        with pg_schema(postgres_dsn) as schema:
            store = loop.run(AsyncPostgresStore.open(postgres_dsn, schema=schema))
            yield store
            loop.run(store.close())


@pytest.fixture
def loop() -> Iterator[LoopThread]:
    with LoopThread() as running:
        yield running


@pytest.fixture
def schema(postgres_dsn: str) -> Iterator[str]:
    with pg_schema(postgres_dsn) as name:
        yield name


@pytest.fixture
def open_store(postgres_dsn: str, schema: str, loop: LoopThread) -> Iterator[OpenStore]:
    """Opens stores on the test's schema and loop (keyword arguments go to ``open``)."""
    opened: list[AsyncPostgresStore] = []

    def open_(dsn: str = postgres_dsn, **options: Any) -> AsyncPostgresStore:
        options.setdefault("schema", schema)
        store = loop.run(AsyncPostgresStore.open(dsn, **options))
        opened.append(store)
        return store

    yield open_
    for store in opened:
        loop.run(store.close())


class _Down:
    """A channel whose receiver is down: every message stays pending."""

    def send(self, message: Notification) -> str | None:
        raise RuntimeError("receiver down")


def _with(dsn: str, option: str) -> str:
    return dsn + ("&" if "?" in dsn else "?") + option


def _set_version(dsn: str, schema: str, version: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            f"UPDATE \"{schema}\".incident_flow_meta SET value = '{version}' "  # noqa: S608
            "WHERE key = 'schema_version'"
        )


class TestSharedSchema:
    """A sync and an async store on one schema are one store."""

    def test_each_sees_the_others_writes_and_claims(
        self, postgres_dsn: str, schema: str, open_store: OpenStore, loop: LoopThread
    ) -> None:
        with PostgresStore(postgres_dsn, schema=schema) as sync_store:
            async_store = open_store()
            flow = IncidentFlow(
                store=sync_store, notifier=_Down(), pager=_Down(), clock=ManualClock(T0)
            )
            incident = flow.trigger(_ALERT)
            assert loop.run(async_store.load(incident.id)) == sync_store.load(incident.id)
            assert loop.run(async_store.find_by_dedup_key(incident.dedup_key)) == incident.id
            assert loop.run(async_store.incident_ids("notified")) == [incident.id]
            pending = sync_store.outbox_messages(incident.id)
            assert pending and loop.run(async_store.outbox_messages()) == pending

            later = T0 + timedelta(days=1)
            claimed = loop.run(async_store.claim_due(later, lease=timedelta(minutes=1)))
            assert {m.id for m in claimed} == {m.id for m in pending}
            assert sync_store.claim_due(later, lease=timedelta(minutes=1)) == []

            history = sample_history()
            other = fold(None, history)
            loop.run(async_store.append(other.id, 0, history, snapshot=other))
            assert sync_store.load(other.id) == history
            assert sync_store.incident_ids() == [incident.id, other.id]
            assert sync_store.due_incidents(later) == loop.run(async_store.due_incidents(later))


class TestOpening:
    """Opening, migrating, closing, and what errors show."""

    def test_making_one_does_no_io(self) -> None:
        # No loop runs here and nothing listens on port 1: only open() connects.
        store = AsyncPostgresStore("postgresql://postgres:hunter2@127.0.0.1:1/nope", schema="x")
        assert repr(store) == (
            "AsyncPostgresStore('dbname=nope host=127.0.0.1 port=1 user=postgres', schema='x')"
        )

    def test_async_with_opens_and_closes(
        self, postgres_dsn: str, schema: str, loop: LoopThread
    ) -> None:
        async def use() -> AsyncPostgresStore:
            async with AsyncPostgresStore(postgres_dsn, schema=schema) as store:
                assert await store.incident_ids() == []
                async with store:  # entering an open store again does not reopen it
                    assert await store.load("x") == []
            return store

        store = loop.run(use())
        with pytest.raises(StorageError, match="closed"):
            loop.run(store.load("x"))
        loop.run(store.close())  # closing twice is fine

    def test_v1_schema_is_migrated(
        self, postgres_dsn: str, schema: str, open_store: OpenStore, loop: LoopThread
    ) -> None:
        loop.run(open_store().close())
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            conn.execute(f'ALTER TABLE "{schema}".incidents DROP COLUMN timer_at')
        _set_version(postgres_dsn, schema, 1)
        store = open_store()
        assert loop.run(store.due_incidents(T0)) == []
        history = sample_history()[:3]  # triggered, classified, notified with a P1 page
        incident = fold(None, history)
        loop.run(store.append(incident.id, 0, history, snapshot=incident))
        due = incident.escalation_due_at
        assert due is not None
        assert loop.run(store.due_incidents(due)) == [incident.id]
        # The sync store reads the migrated schema as its own.
        with PostgresStore(postgres_dsn, schema=schema) as sync_store:
            assert sync_store.due_incidents(due) == [incident.id]

    def test_newer_schema_is_refused(
        self, postgres_dsn: str, schema: str, open_store: OpenStore, loop: LoopThread
    ) -> None:
        loop.run(open_store().close())
        _set_version(postgres_dsn, schema, 7)
        with pytest.raises(StorageError, match=r"newer incident_flow \(schema version 7"):
            open_store()

    def test_unreachable_server_is_a_storage_error_without_the_password(
        self, loop: LoopThread
    ) -> None:
        dsn = "postgresql://postgres:hunter2@127.0.0.1:1/nope?connect_timeout=2"
        with pytest.raises(StorageError) as info:
            loop.run(AsyncPostgresStore.open(dsn))
        assert "hunter2" not in str(info.value)
        assert "127.0.0.1" in str(info.value)
        assert isinstance(info.value.__cause__, psycopg.Error)

    def test_unparsable_dsn_is_not_echoed(self) -> None:
        with pytest.raises(StorageError, match="not a valid connection string") as info:
            AsyncPostgresStore("host=x password='hunter2")
        assert "hunter2" not in str(info.value)
        assert info.value.__cause__ is None and info.value.__suppress_context__

    def test_repr_and_errors_hide_the_password(
        self, postgres_dsn: str, open_store: OpenStore, loop: LoopThread
    ) -> None:
        store = open_store(_with(postgres_dsn, "password=s3cret"))
        assert "s3cret" not in repr(store)
        assert "127.0.0.1" in repr(store)
        loop.run(store.close())
        with pytest.raises(StorageError, match=r"127\.0\.0\.1") as info:
            loop.run(store.load("x"))
        assert "s3cret" not in str(info.value)

    def test_bad_schema_name(self, postgres_dsn: str) -> None:
        with pytest.raises(ValueError, match="schema must be"):
            AsyncPostgresStore(postgres_dsn, schema='x"; DROP TABLE events; --')


class TestConcurrency:
    """Racing coroutines on one store: the database decides, the pool queues."""

    @pytest.mark.parametrize("expected_version", [0, 3])
    def test_one_of_twenty_racing_appends_wins(
        self, expected_version: int, open_store: OpenStore, loop: LoopThread
    ) -> None:
        store = open_store()
        history = sample_history()[:3]
        base = fold(None, history)
        incident_id = base.id
        if expected_version:
            loop.run(store.append(incident_id, 0, history, snapshot=base))

        async def race() -> list[BaseException | None]:
            appends = []
            for n in range(20):
                if expected_version:
                    events: list[Any] = [NoteAdded(version=4, at=T0, by="a", text=f"writer {n}")]
                    snapshot = fold(base, events)
                else:
                    events, snapshot = history, base
                appends.append(
                    store.append(incident_id, expected_version, events, snapshot=snapshot)
                )
            return await asyncio.gather(*appends, return_exceptions=True)

        outcomes = loop.run(race())
        assert outcomes.count(None) == 1
        assert all(isinstance(o, ConcurrencyError) for o in outcomes if o is not None)
        stored = [e.version for e in loop.run(store.load(incident_id))]
        assert stored == ([1, 2, 3, 4] if expected_version else [1, 2, 3])

    def test_an_append_ahead_of_the_stream_is_refused(
        self, open_store: OpenStore, loop: LoopThread
    ) -> None:
        # No stored event has the versions it writes: only the incident row's guard sees it.
        store = open_store()
        history = sample_history()[:3]
        base = fold(None, history)
        loop.run(store.append(base.id, 0, history, snapshot=base))
        ahead = [NoteAdded(version=8, at=T0, by="a", text="from the future")]
        with pytest.raises(ConcurrencyError):
            loop.run(store.append(base.id, 7, ahead, snapshot=attrs.evolve(base, version=8)))
        assert [e.version for e in loop.run(store.load(base.id))] == [1, 2, 3]

    def test_racing_claims_never_share_a_message(
        self, postgres_dsn: str, schema: str, open_store: OpenStore, loop: LoopThread
    ) -> None:
        with PostgresStore(postgres_dsn, schema=schema) as sync_store:
            flow = IncidentFlow(
                store=sync_store, notifier=_Down(), pager=_Down(), clock=ManualClock(T0)
            )
            for n in range(10):
                flow.trigger(Alert(source="s", name=f"n{n}", title="t", severity="P1"))
            pending = {m.id for m in sync_store.outbox_messages()}
        store = open_store(max_size=4)
        later, lease = T0 + timedelta(days=1), timedelta(minutes=5)

        async def race() -> list[list[str]]:
            claims = [store.claim_due(later, lease=lease, limit=3) for _ in range(12)]
            return [[m.id for m in batch] for batch in await asyncio.gather(*claims)]

        batches = loop.run(race())
        claimed = [message_id for batch in batches for message_id in batch]
        assert len(claimed) == len(set(claimed))
        assert set(claimed) == pending

    def test_more_calls_than_connections_wait_their_turn(
        self, postgres_dsn: str, schema: str, open_store: OpenStore, loop: LoopThread
    ) -> None:
        name = f"{schema}_pool"
        store = open_store(_with(postgres_dsn, f"application_name={name}"), max_size=2)

        async def burst() -> list[list[str]]:
            return await asyncio.gather(*(store.incident_ids() for _ in range(25)))

        assert loop.run(burst()) == [[]] * 25
        stats = store._pool.get_stats()
        assert stats["requests_queued"] >= 1  # some calls found no free connection
        assert stats["pool_size"] <= 2
        with psycopg.connect(postgres_dsn) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (name,)
            ).fetchone()
        assert row is not None and 1 <= row[0] <= 2

    def test_a_call_waits_no_longer_than_the_timeout(
        self, open_store: OpenStore, loop: LoopThread
    ) -> None:
        store = open_store(max_size=1, timeout=0.2)

        async def starved() -> None:
            async with store._pool.connection():
                await store.load("x")

        with pytest.raises(StorageError, match="PoolTimeout"):
            loop.run(starved())
        assert loop.run(store.load("x")) == []

    def test_a_broken_connection_is_replaced(self, open_store: OpenStore, loop: LoopThread) -> None:
        store = open_store(max_size=1)

        async def break_it() -> None:
            async with store._pool.connection() as conn:
                await conn.close()

        loop.run(break_it())
        assert loop.run(store.load("x")) == []


class TestRoundTrips:
    """An append waits on the server once (libpq's trace: each wait ends in ReadyForQuery)."""

    def test_an_append_and_a_group_of_appends_are_one_round_trip_each(
        self, open_store: OpenStore, loop: LoopThread
    ) -> None:
        store = open_store(min_size=1, max_size=1)  # one connection: the one traced
        history = sample_history()[:3]
        base = fold(None, history)
        other = attrs.evolve(base, id="inc-other", dedup_key="other")
        note = [NoteAdded(version=4, at=T0, by="a", text="n")]
        both = [
            StreamAppend(
                incident_id="inc-other", expected_version=0, events=history, snapshot=other
            ),
            StreamAppend(
                incident_id=base.id, expected_version=3, events=note, snapshot=fold(base, note)
            ),
        ]

        async def traced(trace: int) -> list[int]:
            async with store._pool.connection() as conn:
                conn.pgconn.trace(trace)
            waits = [await _flushed_count(store, trace)]
            await store.append(base.id, 0, history, snapshot=base)  # one statement
            waits.append(await _flushed_count(store, trace))
            await store.append_all(both)  # BEGIN, the two, COMMIT: one pipeline
            waits.append(await _flushed_count(store, trace))
            async with store._pool.connection() as conn:
                conn.pgconn.untrace()
            return waits

        with tempfile.TemporaryFile("w+") as trace:
            waits = loop.run(traced(trace.fileno()))
        assert [after - before for before, after in itertools.pairwise(waits)] == [1, 1]
        assert loop.run(store.load("inc-other")) == history
        assert loop.run(store.load(base.id)) == [*history, *note]


async def _flushed_count(store: AsyncPostgresStore, trace: int) -> int:
    """ReadyForQuery messages traced so far (the trace is flushed by pausing it)."""
    async with store._pool.connection() as conn:
        conn.pgconn.untrace()
        with open(trace, closefd=False) as seen:
            seen.seek(0)
            count = seen.read().count("\tReadyForQuery")
        conn.pgconn.trace(trace)
    return count
