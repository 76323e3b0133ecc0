"""AsyncIncidentFlow in its own right: concurrency, never blocking the loop, the async worker.

That every command behaves as under IncidentFlow is shown by the suites parametrised over the
``driver`` fixture (contracts, flow, delivery, escalation, the stateful machine); here are the
things only an event loop has.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Literal

import pytest

from incident_flow import (
    Alert,
    AsyncIncidentFlow,
    AsyncPostgresStore,
    AsyncSQLiteStore,
    FolderPublisher,
    IncidentFlow,
    MemoryStore,
    Notification,
    Policy,
    RecordingNotifier,
    SQLiteStore,
    run_worker_async,
)
from incident_flow.adapters.stores.threaded import (
    ThreadedNotifier,
    ThreadedPublisher,
    ThreadedStore,
)
from incident_flow.testing import ManualClock, RecordingPublisher
from incident_flow.testing._async import LoopThread

from .conftest import T0, pg_schema

P1 = Alert(source="datadog", name="CheckoutDown", title="Checkout down", severity="P1")
# Seconds a callback may hold the loop before asyncio debug mode reports it: above any CPU
# step of the flow on a loaded 2-core machine, below the blocking calls the channels make.
SLOW = 0.1


class SlowNotifier(RecordingNotifier):
    """A sync notifier that blocks like a real HTTP call (its own kind, not marked nonblocking)."""

    nonblocking = False

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[str] = set()

    def send(self, message: Notification) -> str | None:
        self.threads.add(threading.current_thread().name)
        time.sleep(SLOW * 1.5)
        return super().send(message)


class LyingNotifier(SlowNotifier):
    """Claims it never blocks, and blocks: the check below must catch it."""

    nonblocking = True


@pytest.fixture
def debug_loop(caplog: pytest.LogCaptureFixture) -> Iterator[LoopThread]:
    caplog.set_level(logging.WARNING, logger="asyncio")
    with LoopThread(debug=True, slow_callback=SLOW) as loop:
        yield loop


async def lifecycle(flow: AsyncIncidentFlow, key: str) -> str:
    incident = await flow.trigger(
        Alert(source="s", name="n", title="t", severity="P1", dedup_key=key)
    )
    await flow.acknowledge(incident.id, by="alice")
    await flow.note(incident.id, "rolling back", by="alice")
    await flow.resolve(incident.id, by="alice")
    await flow.start_postmortem(
        incident.id,
        author="alice",
        impact="checkout failed",
        root_cause="a bad deploy",
        learnings=["canary"],
    )
    await flow.submit_postmortem(incident.id, by="alice")
    await flow.approve_postmortem(incident.id, reviewer="bob")
    await flow.approve_postmortem(incident.id, reviewer="carol")
    return incident.id


class TestNeverBlocksTheLoop:
    """Nothing that blocks runs on the loop: blocking sync ports are called on worker threads.

    Behaviour, not time: which thread each port was called on. How long the loop's callbacks
    take under load is a figure, measured by ``benchmarks/loop_latency.py``.
    """

    def test_a_lifecycle_over_sqlite_a_slow_channel_and_a_folder(
        self, debug_loop: LoopThread, tmp_path: Path
    ) -> None:
        chat, pager = SlowNotifier(), SlowNotifier()

        async def scenario() -> list[str]:
            store = await AsyncSQLiteStore.open(tmp_path / "incidents.db")
            flow = AsyncIncidentFlow(
                store=store,
                notifier=chat,
                pager=pager,
                publisher=FolderPublisher(tmp_path / "pm"),
            )
            try:
                return await asyncio.gather(*(lifecycle(flow, f"k{n}") for n in range(4)))
            finally:
                await store.close()

        ids = debug_loop.run(scenario())
        assert len(set(ids)) == 4
        assert len(chat.messages) >= 4 * 4 and len(pager.messages) == 4 * 3  # page, ack, resolve
        assert chat.threads and "incident_flow-loop" not in chat.threads | pager.threads

    def test_a_lifecycle_over_postgres(self, debug_loop: LoopThread, postgres_dsn: str) -> None:
        async def scenario(schema: str) -> list[str]:
            store = await AsyncPostgresStore.open(postgres_dsn, schema=schema, max_size=4)
            flow = AsyncIncidentFlow(store=store, publisher=RecordingPublisher())
            try:
                ids = await asyncio.gather(*(lifecycle(flow, f"k{n}") for n in range(6)))
                await flow.deliver_pending()
                await flow.escalate_due()
                return ids
            finally:
                await store.close()

        with pg_schema(postgres_dsn) as schema:
            assert len(set(debug_loop.run(scenario(schema)))) == 6

    def test_a_port_that_says_it_never_blocks_is_called_inline(
        self, debug_loop: LoopThread
    ) -> None:
        lying = LyingNotifier()  # says nonblocking, blocks: its own word is taken
        flow = AsyncIncidentFlow(notifier=lying, publisher=RecordingPublisher())
        debug_loop.run(flow.trigger(P1))
        assert lying.threads == {"incident_flow-loop"}


class TestConcurrentCallers:
    """Many tasks at once on one flow: nothing lost, nothing doubled."""

    def test_fifty_callers_trigger_and_acknowledge(self, tmp_path: Path) -> None:
        pager = RecordingNotifier()

        async def scenario() -> list[str]:
            store = await AsyncSQLiteStore.open(tmp_path / "incidents.db")
            flow = AsyncIncidentFlow(store=store, pager=pager, publisher=RecordingPublisher())

            async def caller(n: int) -> str:
                alert = Alert(source="s", name="n", title="t", severity="P1", dedup_key=f"k{n}")
                incident = await flow.trigger(alert)
                return (await flow.acknowledge(incident.id, by=f"user{n}")).id

            try:
                ids = await asyncio.gather(*(caller(n) for n in range(50)))
                incidents = await flow.incidents()
            finally:
                await store.close()
            assert sorted(ids) == sorted(i.id for i in incidents if i.acknowledged_by)
            return ids

        ids = asyncio.run(scenario())
        assert len(set(ids)) == 50
        assert sorted(m.incident_id for m in pager.messages if m.kind == "page") == sorted(ids)
        assert sorted(m.incident_id for m in pager.messages if m.kind == "ack") == sorted(ids)

    def test_one_dedup_key_from_many_tasks_opens_one_incident(self, tmp_path: Path) -> None:
        pager = RecordingNotifier()

        async def scenario() -> set[str]:
            store = await AsyncSQLiteStore.open(tmp_path / "incidents.db")
            flow = AsyncIncidentFlow(store=store, pager=pager, publisher=RecordingPublisher())
            try:
                opened = await asyncio.gather(*(flow.trigger(P1) for _ in range(20)))
            finally:
                await store.close()
            return {i.id for i in opened}

        ids = asyncio.run(scenario())
        assert len(ids) == 1
        assert [m.kind for m in pager.messages] == ["page"]

    def test_sync_and_async_replicas_share_a_store(self, tmp_path: Path) -> None:
        path = tmp_path / "incidents.db"
        sync_flow = IncidentFlow(store=SQLiteStore(path), publisher=RecordingPublisher())
        incident = sync_flow.trigger(P1)

        async def scenario() -> str | None:
            store = await AsyncSQLiteStore.open(path)
            flow = AsyncIncidentFlow(store=store, publisher=RecordingPublisher())
            try:
                attached = await flow.trigger(P1)
                assert attached.id == incident.id
                return (await flow.acknowledge(incident.id, by="bob")).acknowledged_by
            finally:
                await store.close()

        assert asyncio.run(scenario()) == "bob"
        assert sync_flow.get(incident.id).acknowledged_by == "bob"


class TestPorts:
    """Sync ports are adapted: inline when they never block, else on a worker thread."""

    def test_adaptation(self, tmp_path: Path) -> None:
        memory, chat = MemoryStore(), RecordingNotifier()
        flow = AsyncIncidentFlow(
            store=memory,
            notifier=chat,
            pager=SlowNotifier(),
            publisher=FolderPublisher(tmp_path),
        )
        assert flow.store is memory and flow.notifier is chat
        assert isinstance(flow.pager, ThreadedNotifier)
        assert isinstance(flow.publisher, ThreadedPublisher)
        flow.store = SQLiteStore(tmp_path / "x.db")
        assert isinstance(flow.store, ThreadedStore)
        assert "ThreadedStore(SQLiteStore" in repr(flow)
        asyncio.run(flow.store.close())  # type: ignore[union-attr]

    def test_threaded_store_passes_through_inspection(self, tmp_path: Path) -> None:
        async def scenario() -> int:
            store = await AsyncSQLiteStore.open(tmp_path / "incidents.db")
            flow = AsyncIncidentFlow(store=store, publisher=RecordingPublisher())
            try:
                incident = await flow.trigger(P1)
                return len(await store.outbox_messages(incident.id))
            finally:
                await store.close()

        assert asyncio.run(scenario()) == 2  # the Slack notify and the page

    def test_opening_a_bad_path_fails_cleanly(self, tmp_path: Path) -> None:
        from incident_flow import StorageError

        with pytest.raises(StorageError):
            asyncio.run(AsyncSQLiteStore.open(tmp_path))  # a directory, not a database


class WaitedOn(asyncio.Event):
    """A stop event that says when the worker first waits on it (its first turn is done)."""

    def __init__(self) -> None:
        super().__init__()
        self.waited = asyncio.Event()

    async def wait(self) -> Literal[True]:
        self.waited.set()
        return await super().wait()


class TestAsyncWorker:
    """run_worker_async: deliveries and escalations on the service's own loop."""

    def test_turns_and_stop(self) -> None:
        clock = ManualClock(T0)
        pager = RecordingNotifier()

        async def scenario() -> tuple[int, int, int]:
            flow = AsyncIncidentFlow(
                Policy(), pager=pager, clock=clock, publisher=RecordingPublisher()
            )
            incident = await flow.trigger(P1)
            clock.advance(timedelta(minutes=6))
            stats = await run_worker_async(flow, interval=timedelta(0), max_iterations=2)
            assert [m.kind for m in pager.of(incident.id)] == ["page", "page"]
            stop = WaitedOn()
            task = asyncio.create_task(
                run_worker_async(flow, interval=timedelta(seconds=30), stop=stop)
            )
            await stop.waited.wait()  # a turn is done: the worker waits out its 30 s...
            stop.set()  # ...which stop cuts short
            stopped = await asyncio.wait_for(task, 5)
            return stats.iterations, stats.escalated, stopped.iterations

        assert asyncio.run(scenario()) == (2, 1, 1)

    def test_a_failing_step_is_survived(self) -> None:
        class Broken(MemoryStore):
            def due_incidents(self, *args: object, **kwargs: object) -> list[str]:
                raise RuntimeError("database away")

        flow = AsyncIncidentFlow(store=Broken(), publisher=RecordingPublisher())
        stats = asyncio.run(run_worker_async(flow, interval=timedelta(0), max_iterations=3))
        assert (stats.iterations, stats.errors) == (3, 6)


class TestOneIncidentManyCallers:
    """Callers of one flow queue per incident (and per dedup key): no ConcurrencyError, no loss."""

    def test_async_alert_storm_and_notes(self, tmp_path: Path) -> None:
        async def scenario() -> tuple[int, int, int]:
            store = await AsyncSQLiteStore.open(tmp_path / "incidents.db")
            flow = AsyncIncidentFlow(store=store, publisher=RecordingPublisher())
            try:
                first = await flow.trigger(P1)
                # Repeats of the alert and notes on its incident, all at once.
                done = await asyncio.gather(
                    *(flow.trigger(P1) for _ in range(29)),
                    *(flow.note(first.id, f"note {n}", by="a") for n in range(30)),
                )
                (incident_id,) = {i.id for i in done}
                history = await flow.history(incident_id)
            finally:
                await store.close()
            alerts = sum(e.type == "AlertRepeated" for e in history)
            notes = sum(e.type == "NoteAdded" for e in history)
            return alerts, notes, len(flow._locks)

        assert asyncio.run(scenario()) == (29, 30, 0)

    def test_threads_on_a_sync_flow(self, tmp_path: Path) -> None:
        flow = IncidentFlow(store=SQLiteStore(tmp_path / "x.db"), publisher=RecordingPublisher())
        opened: list[str] = []
        barrier = threading.Barrier(8)

        def storm() -> None:
            barrier.wait()
            opened.extend(flow.trigger(P1).id for _ in range(4))

        threads = [threading.Thread(target=storm) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(opened) == 32 and len(set(opened)) == 1
        assert sum(e.type == "AlertRepeated" for e in flow.history(opened[0])) == 31
        assert len(flow._locks) == 0


class TestCancellation:
    """A caller cancelled mid-command (a web request timing out) cancels its wait, not the work."""

    def test_a_cancelled_trigger_still_delivers_and_records(self) -> None:
        store, chat, pager = MemoryStore(), RecordingNotifier(), RecordingNotifier()

        class SlowPager:
            def __init__(self) -> None:
                self.started, self.release = asyncio.Event(), asyncio.Event()

            async def send(self, message: Notification) -> str | None:
                self.started.set()
                await self.release.wait()  # in flight until the caller has given up
                return pager.send(message)

        async def scenario() -> str:
            slow = SlowPager()
            flow = AsyncIncidentFlow(
                store=store, notifier=chat, pager=slow, publisher=RecordingPublisher()
            )
            task = asyncio.create_task(flow.trigger(P1))
            await slow.started.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, 5)  # the page is still held: the wait ends alone
            assert pager.messages == []
            slow.release.set()
            await flow.drain()
            assert len(flow._locks) == 0
            (incident_id,) = store.incident_ids()
            return incident_id

        incident_id = asyncio.run(scenario())
        assert [m.kind for m in pager.messages] == ["page"]
        assert [m.kind for m in chat.messages] == ["notify"]
        assert not [m for m in store.outbox_messages(incident_id) if m.pending]

    def test_work_cut_off_for_good_is_redelivered_after_the_lease(self) -> None:
        clock = ManualClock(T0)
        store = MemoryStore()
        sent: list[str] = []

        class Hangs:
            def __init__(self) -> None:
                self.started = asyncio.Event()
                self.hang = True

            async def send(self, message: Notification) -> str | None:
                self.started.set()
                if self.hang:
                    await (
                        asyncio.Event().wait()
                    )  # Slack never answers (the task dies with the loop)
                sent.append(message.kind)
                return None

        async def scenario() -> tuple[str, str | None]:
            chat = Hangs()
            flow = AsyncIncidentFlow(
                store=store,
                notifier=chat,
                pager=RecordingNotifier(),
                clock=clock,
                publisher=RecordingPublisher(),
            )
            task = asyncio.create_task(flow.trigger(P1))
            await chat.started.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            (incident_id,) = store.incident_ids()  # committed before the delivery began
            chat.hang = False
            # The trigger holds its alert's lock, not the incident's: commands go through.
            acked = await asyncio.wait_for(flow.acknowledge(incident_id, by="alice"), 5)
            assert await flow.deliver_pending() == 0  # the stuck send is still leased
            clock.advance(timedelta(minutes=2))
            await flow.deliver_pending()
            return incident_id, acked.acknowledged_by

        incident_id, acked_by = asyncio.run(scenario())
        assert acked_by == "alice"
        assert sent.count("notify") == 1
        assert not [m for m in store.outbox_messages(incident_id) if m.pending]


class TestTestingHelpers:
    """LoopThread refuses what would deadlock; a closed threaded store says so."""

    def test_run_on_the_loops_own_thread_is_refused(self) -> None:
        with LoopThread() as loop:

            async def nested() -> None:
                loop.run(asyncio.sleep(0))

            with pytest.raises(RuntimeError, match="own thread"):
                loop.run(nested())

    def test_a_closed_store_raises_storage_error(self, tmp_path: Path) -> None:
        from incident_flow import StorageError

        async def scenario() -> None:
            store = await AsyncSQLiteStore.open(tmp_path / "x.db")
            await store.close()
            await store.close()  # twice is fine
            with pytest.raises(StorageError, match="closed"):
                await store.load("inc-1")

        asyncio.run(scenario())


class TestCancellationEdges:
    """What nobody is left to hear is logged; a cancelled wait for a lock takes nothing."""

    def test_a_failure_after_the_caller_left_is_logged(self) -> None:
        from incident_flow import StorageError
        from incident_flow.testing import capture_events

        class GoesAway(MemoryStore):
            """Fails its append once the caller has gone (events, not sleeps, say when)."""

            def __init__(self) -> None:
                super().__init__()
                self.entered = asyncio.Event()
                self.caller_left = asyncio.Event()

            async def append(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
                self.entered.set()
                await self.caller_left.wait()
                raise StorageError("database away")

        async def scenario() -> None:
            store = GoesAway()
            flow = AsyncIncidentFlow(store=store, publisher=RecordingPublisher())
            task = asyncio.create_task(flow.trigger(P1))
            await store.entered.wait()  # the command is inside its append
            task.cancel()
            await asyncio.sleep(0)  # the cancellation reaches the caller's wait...
            store.caller_left.set()  # ...then the append fails, with nobody to hear it
            with pytest.raises(asyncio.CancelledError):
                await task
            await flow.drain()

        with capture_events() as logs:
            asyncio.run(scenario())
        (failed,) = [e for e in logs if e["event"] == "incident_flow.command_failed_after_cancel"]
        assert "database away" in failed["error"]

    def test_a_cancelled_lock_wait_leaves_no_entry(self) -> None:
        from incident_flow._drivers.locks import AsyncKeyedLocks

        async def scenario() -> int:
            locks = AsyncKeyedLocks()
            await locks.acquire("inc-1")
            waiter = asyncio.create_task(locks.acquire("inc-1"))
            await asyncio.sleep(0)
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
            locks.release("inc-1")
            return len(locks)

        assert asyncio.run(scenario()) == 0
