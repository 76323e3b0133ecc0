"""Sync ports for AsyncIncidentFlow: a blocking store or channel runs on a worker thread.

AsyncIncidentFlow never calls a blocking method on the event loop. A sync port that says it
never blocks (``nonblocking = True``: the memory store, the recording and log channels) is
called inline; any other sync port is wrapped here:

- :class:`ThreadedStore` runs every call of a store on ONE thread of its own, in order (a
  SQLite connection is used by one thread at a time, and the store's writes stay serial); the
  calls that queue up while that thread is busy are run by one job and answered together (one
  wake-up of the event loop for all of them, not one thread hand-off each);
- :class:`ThreadedNotifier` and :class:`ThreadedPublisher` run each send on the loop's default
  executor, so that a slow Slack or ``git push`` holds up nobody else.

:class:`AsyncSQLiteStore` is the SQLite store behind such a thread: no second SQLite driver.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import queue
import threading
from collections.abc import Awaitable, Callable, Collection, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ParamSpec, Self, TypeVar

from ..._core.events import Event
from ..._core.incident import Incident
from ..._core.messages import Notification, OutboxMessage
from ..._core.storms import Silence
from ..._review.document import PostMortemDocument, ReviewStatus
from ..._runbooks.catalog import RunbookRevision
from ...exceptions import StorageError
from ...ports import (
    AsyncEventStore,
    AsyncNotifier,
    AsyncPostMortemPublisher,
    EventStore,
    IncidentFilter,
    IncidentPage,
    Notifier,
    PostMortemPublisher,
    StoreCounts,
    StreamAppend,
)
from ...schedules._book import Shift
from ...schedules._model import Override
from ._group import GroupCommit, Waiting
from .sqlite import SQLiteStore

__all__ = [
    "AsyncSQLiteStore",
    "ThreadedNotifier",
    "ThreadedPublisher",
    "ThreadedStore",
    "as_async_notifier",
    "as_async_publisher",
    "as_async_store",
]

P = ParamSpec("P")
T = TypeVar("T")


async def _on(executor: Executor | None, function: Callable[P, T], *args: Any, **kwargs: Any) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, functools.partial(function, *args, **kwargs))


#: Seconds the store's own thread waits for another call before its job ends.
_LINGER = 0.05
#: One call waiting for the store's thread: what to run, and the future that gets its answer.
_Queued = tuple[Callable[[], Any], "asyncio.Future[Any]"]
#: One call run: its future, whether it returned, and its answer or error.
_Answered = tuple["asyncio.Future[Any]", bool, Any]


class _Serial:
    """Calls run one at a time, in order, on an executor; the queued ones in one job.

    A call that finds no job running submits one; the calls made while it runs join its
    queue, and it runs them too, in order. The answers of each pass go back to the event loop
    in one ``call_soon_threadsafe``: under load, one executor job and one wake-up of the loop
    serve many calls (a store call's hand-off was a quarter of the service's CPU). On its own
    executor the job waits ``linger`` seconds for the next call before it ends, so calls a
    few milliseconds apart cost a queue put each, not an executor submit. A call whose caller
    was cancelled before it started is not run (as with ``run_in_executor``).
    """

    def __init__(self, executor: Executor, *, linger: float = 0.0) -> None:
        self.executor = executor
        self._linger = linger
        self._guard = threading.Lock()
        self._queue: queue.SimpleQueue[_Queued] = queue.SimpleQueue()
        self._running = False

    def call(self, function: Callable[[], T]) -> asyncio.Future[T]:
        """Queue ``function``; the future its answer (or its error) will be set on."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        with self._guard:
            self._queue.put((function, future))
            if self._running:
                return future  # the running job takes it
            self._running = True
        try:
            self.executor.submit(self._run)
        except BaseException as exc:
            # The executor is shut down: every call queued is refused, none left waiting.
            refused: list[_Answered] = []
            with self._guard:
                self._running = False
                while not self._queue.empty():
                    waiting = self._queue.get_nowait()[1]
                    if waiting is not future:
                        refused.append((waiting, False, exc))
            _answer(refused)
            raise
        return future

    def _run(self) -> None:
        """On the executor: the queued calls, in order, until none comes within ``linger``."""
        waiting = self._queue
        while True:
            try:
                batch = [
                    waiting.get(timeout=self._linger) if self._linger else waiting.get_nowait()
                ]
            except queue.Empty:
                with self._guard:
                    if waiting.empty():
                        self._running = False
                        return
                continue
            while True:
                try:
                    batch.append(waiting.get_nowait())
                except queue.Empty:
                    break
            answered: list[_Answered] = []
            for function, future in batch:
                if future.cancelled():
                    continue
                try:
                    answered.append((future, True, function()))
                except BaseException as exc:  # noqa: BLE001 - handed to its caller
                    answered.append((future, False, exc))
            _answer(answered)


def _answer(answered: list[_Answered]) -> None:
    """Hand the answers to their loops: one call per loop (usually one) for the whole batch."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Answered]] = {}
    for item in answered:
        by_loop.setdefault(item[0].get_loop(), []).append(item)
    for loop, items in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_settle, items)


def _settle(answered: list[_Answered]) -> None:
    """On the loop: set each answer on its future (unless its caller was cancelled)."""
    for future, returned, value in answered:
        if future.cancelled():
            continue
        if returned:
            future.set_result(value)
        else:
            future.set_exception(value)


class ThreadedStore:
    """An :class:`~incident_flow.ports.AsyncEventStore` over a sync store, on a thread of its own.

    Args:
        store: the sync store (its methods are called on the worker thread only).
        executor: where to run them (default: a new single-thread executor, shut down by
            :meth:`close`).
    """

    def __init__(self, store: EventStore, *, executor: Executor | None = None) -> None:
        self.store = store
        self._closed = False
        self._owns_executor = executor is None
        self._executor: Executor = (
            executor
            if executor is not None
            else ThreadPoolExecutor(max_workers=1, thread_name_prefix="incident_flow-store")
        )
        # Its own thread waits a little for the next call (the one job of a busy service).
        self._serial = _Serial(self._executor, linger=_LINGER if executor is None else 0.0)
        #: Group commit (``ports.GroupAppend``): appends that queue up behind the store thread
        #: go together, in one transaction, when the wrapped store has ``append_each``.
        self.group_commit: GroupCommit | None = GroupCommit(self._commit_group)

    async def _commit_group(self, take: Callable[[], list[Waiting]]) -> list[Exception | None]:
        def commit() -> list[Exception | None]:
            # On the store thread: every append that arrived while it was busy goes now.
            groups = [group for group, _ in take()]
            return self.store.append_each(groups) if groups else []  # type: ignore[attr-defined]

        return await self._call(commit)

    def _grouped(self, runbooks: Sequence[RunbookRevision]) -> GroupCommit | None:
        """The group committer for an append, or None (runbooks, or a store without one)."""
        if runbooks or not hasattr(self.store, "append_each"):
            return None
        return self.group_commit

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.store!r})"

    async def _call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._closed:
            msg = f"{self!r} is closed"
            raise StorageError(msg)
        return await self._serial.call(
            functools.partial(function, *args, **kwargs) if args or kwargs else function
        )

    async def append(
        self,
        incident_id: str,
        expected_version: int,
        events: Sequence[Event],
        *,
        snapshot: Incident,
        outbox: Sequence[OutboxMessage] = (),
        claimed_until: datetime | None = None,
        runbooks: Sequence[RunbookRevision] = (),
    ) -> None:
        """See :meth:`~incident_flow.ports.EventLog.append`."""
        group = self._grouped(runbooks)
        if group is not None:
            one = StreamAppend(
                incident_id=incident_id,
                expected_version=expected_version,
                events=events,
                snapshot=snapshot,
                outbox=outbox,
                claimed_until=claimed_until,
            )
            await group.append([one])
            return
        extra = {"runbooks": runbooks} if runbooks else {}
        await self._call(
            self.store.append,
            incident_id,
            expected_version,
            events,
            snapshot=snapshot,
            outbox=outbox,
            claimed_until=claimed_until,
            **extra,
        )

    @property
    def appends_all(self) -> bool:
        """Whether the wrapped store appends to several incidents at once (``BatchAppend``)."""
        return hasattr(self.store, "append_all")

    @property
    def light_appends(self) -> bool:
        """Whether the wrapped store commits delivery outcomes without waiting for the disk."""
        return bool(getattr(self.store, "light_appends", False))

    async def append_all(self, appends: Sequence[StreamAppend]) -> None:
        """See :meth:`~incident_flow.ports.BatchAppend.append_all`."""
        group = self._grouped(())
        if group is not None:
            await group.append(appends)
            return
        await self._call(self.store.append_all, appends)  # type: ignore[attr-defined]

    @property
    def keeps_runbooks(self) -> bool:
        """Whether the wrapped store keeps the runbook catalog (see ``ports.RunbookLog``)."""
        return hasattr(self.store, "runbook_revisions")

    async def record_runbook(self, revision: RunbookRevision) -> None:
        """See :meth:`~incident_flow.ports.RunbookLog.record_runbook`."""
        await self._call(self.store.record_runbook, revision)  # type: ignore[attr-defined]

    async def runbook_revisions(self, after: int = 0) -> list[RunbookRevision]:
        """See :meth:`~incident_flow.ports.RunbookLog.runbook_revisions`."""
        revisions: list[RunbookRevision] = await self._call(
            self.store.runbook_revisions,  # type: ignore[attr-defined]
            after,
        )
        return revisions

    @property
    def keeps_silences(self) -> bool:
        """Whether the wrapped store keeps silences (see ``ports.SilenceLog``)."""
        return hasattr(self.store, "save_silence")

    async def save_silence(self, silence: Silence) -> None:
        """See :meth:`~incident_flow.ports.SilenceLog.save_silence`."""
        await self._call(self.store.save_silence, silence)  # type: ignore[attr-defined]

    async def silences(self, active_at: datetime | None = None) -> list[Silence]:
        """See :meth:`~incident_flow.ports.SilenceLog.silences`."""
        found: list[Silence] = await self._call(
            self.store.silences,  # type: ignore[attr-defined]
            active_at=active_at,
        )
        return found

    @property
    def keeps_overrides(self) -> bool:
        """Whether the wrapped store keeps run-time overrides (see ``ports.OverrideLog``)."""
        return hasattr(self.store, "save_override")

    async def save_override(self, override: Override) -> None:
        """See :meth:`~incident_flow.ports.OverrideLog.save_override`."""
        await self._call(self.store.save_override, override)  # type: ignore[attr-defined]

    async def overrides(self, active_after: datetime | None = None) -> list[Override]:
        """See :meth:`~incident_flow.ports.OverrideLog.overrides`."""
        found: list[Override] = await self._call(
            self.store.overrides,  # type: ignore[attr-defined]
            active_after=active_after,
        )
        return found

    @property
    def keeps_shifts(self) -> bool:
        """Whether the wrapped store keeps a record of shifts (see ``ports.ShiftLog``)."""
        return hasattr(self.store, "record_shifts")

    async def record_shifts(self, shifts: Sequence[Shift]) -> None:
        """See :meth:`~incident_flow.ports.ShiftLog.record_shifts`."""
        await self._call(self.store.record_shifts, shifts)  # type: ignore[attr-defined]

    async def recorded_shifts(self, schedule: str, start: datetime, end: datetime) -> list[Shift]:
        """See :meth:`~incident_flow.ports.ShiftLog.recorded_shifts`."""
        found: list[Shift] = await self._call(
            self.store.recorded_shifts,  # type: ignore[attr-defined]
            schedule,
            start,
            end,
        )
        return found

    async def shifts_recorded_until(self, schedule: str) -> datetime | None:
        """See :meth:`~incident_flow.ports.ShiftLog.shifts_recorded_until`."""
        until: datetime | None = await self._call(
            self.store.shifts_recorded_until,  # type: ignore[attr-defined]
            schedule,
        )
        return until

    @property
    def counts_incidents(self) -> bool:
        """Whether the wrapped store answers the probes cheaply (see ``ports.StoreStats``)."""
        return hasattr(self.store, "counts")

    async def ping(self) -> None:
        """See :meth:`~incident_flow.ports.StoreStats.ping`."""
        await self._call(self.store.ping)  # type: ignore[attr-defined]

    async def counts(self) -> StoreCounts:
        """See :meth:`~incident_flow.ports.StoreStats.counts`."""
        counted: StoreCounts = await self._call(self.store.counts)  # type: ignore[attr-defined]
        return counted

    @property
    def queries_incidents(self) -> bool:
        """Whether the wrapped store lists a page from its indexes (``ports.IncidentQuery``)."""
        return hasattr(self.store, "incident_page")

    async def incident_page(
        self, filters: IncidentFilter, *, cursor: str | None = None, limit: int = 50
    ) -> IncidentPage:
        """See :meth:`~incident_flow.ports.IncidentQuery.incident_page`."""
        page: IncidentPage = await self._call(
            self.store.incident_page,  # type: ignore[attr-defined]
            filters,
            cursor=cursor,
            limit=limit,
        )
        return page

    async def load(self, incident_id: str, after_version: int = 0) -> list[Event]:
        """See :meth:`~incident_flow.ports.EventLog.load`."""
        return await self._call(self.store.load, incident_id, after_version)

    async def find_by_dedup_key(self, dedup_key: str) -> str | None:
        """See :meth:`~incident_flow.ports.EventLog.find_by_dedup_key`."""
        return await self._call(self.store.find_by_dedup_key, dedup_key)

    async def incident_ids(self, state: str | None = None) -> list[str]:
        """See :meth:`~incident_flow.ports.EventLog.incident_ids`."""
        return await self._call(self.store.incident_ids, state)

    async def claim_due(
        self,
        now: datetime,
        *,
        lease: timedelta,
        limit: int = 100,
        ids: Collection[str] | None = None,
    ) -> list[OutboxMessage]:
        """See :meth:`~incident_flow.ports.Outbox.claim_due`."""
        return await self._call(self.store.claim_due, now, lease=lease, limit=limit, ids=ids)

    @property
    def renews_claims(self) -> bool:
        """Whether the wrapped store renews claims (``ports.ClaimRenewal``)."""
        return hasattr(self.store, "renew_claims")

    async def renew_claims(self, ids: Collection[str], *, until: datetime) -> None:
        """See :meth:`~incident_flow.ports.ClaimRenewal.renew_claims`."""
        await self._call(getattr(self.store, "renew_claims"), ids, until=until)  # noqa: B009

    async def due_incidents(self, now: datetime, *, limit: int = 100) -> list[str]:
        """See :meth:`~incident_flow.ports.Timers.due_incidents`."""
        return await self._call(self.store.due_incidents, now, limit=limit)

    async def outbox_messages(self, incident_id: str | None = None) -> list[OutboxMessage]:
        """The store's ``outbox_messages`` (for inspection), when it has one."""
        return await self._call(getattr(self.store, "outbox_messages"), incident_id)  # noqa: B009

    async def close(self) -> None:
        """Close the store (when it can be closed) and stop the thread this wrapper started."""
        if self._closed:
            return
        closer = getattr(self.store, "close", None)
        if closer is not None:
            await self._call(closer)
        self._closed = True
        if self._owns_executor:
            self._executor.shutdown(wait=False)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class AsyncSQLiteStore(ThreadedStore):
    """:class:`~incident_flow.SQLiteStore` for async code: every call runs on one worker thread.

    Open it with ``await AsyncSQLiteStore.open(path, ...)`` (opening reads and may migrate
    the file, so it happens on a worker thread too); close it with ``await store.close()``.
    Several processes may share the file, as with the sync store.
    """

    @classmethod
    async def open(cls, path: str | Path, **options: Any) -> Self:
        """Open (and create or migrate) the database at ``path``, off the event loop.

        Args:
            path: the database file.
            options: :class:`~incident_flow.SQLiteStore`'s keyword arguments.
        """
        return cls(await asyncio.to_thread(SQLiteStore, path, **options))


class ThreadedNotifier:
    """An :class:`~incident_flow.ports.AsyncNotifier` over a sync notifier (sends on threads).

    It opens incident channels when the wrapped one does (``incident_channel``, on a worker
    thread too).
    """

    incident_channel: Callable[[Notification], Awaitable[str | None]]

    def __init__(self, notifier: Notifier, *, executor: Executor | None = None) -> None:
        self.notifier = notifier
        self._executor = executor
        method = getattr(notifier, "incident_channel", None)
        if method is not None:
            self.incident_channel = functools.partial(_on, executor, method)

    def __repr__(self) -> str:
        return f"ThreadedNotifier({self.notifier!r})"

    async def send(self, message: Notification) -> str | None:
        """Send through the wrapped notifier on a worker thread."""
        return await _on(self._executor, self.notifier.send, message)


class ThreadedPublisher:
    """An :class:`~incident_flow.ports.AsyncPostMortemPublisher` over a sync publisher.

    It reviews where the wrapped one does (``review``), and has its ``merge`` and
    ``review_status`` (on a worker thread too) when the wrapped one has them.
    """

    review: str
    merge: Callable[[PostMortemDocument], Awaitable[str]]
    review_status: Callable[[PostMortemDocument], Awaitable[ReviewStatus]]

    def __init__(self, publisher: PostMortemPublisher, *, executor: Executor | None = None) -> None:
        self.publisher = publisher
        self._executor = executor
        self.review = getattr(publisher, "review", "command")
        for name in ("merge", "review_status"):
            method = getattr(publisher, name, None)
            if method is not None:
                setattr(self, name, functools.partial(_on, executor, method))

    def __repr__(self) -> str:
        return f"ThreadedPublisher({self.publisher!r})"

    async def publish(self, document: PostMortemDocument) -> str:
        """Publish through the wrapped publisher on a worker thread."""
        return await _on(self._executor, self.publisher.publish, document)


def _as_async(port: Any, method: str, wrap: Callable[[Any], Any]) -> Any:
    """``port`` itself when its ``method`` is async or it never blocks, else ``wrap(port)``."""
    if inspect.iscoroutinefunction(getattr(port, method, None)):
        return port
    return port if getattr(port, "nonblocking", False) is True else wrap(port)


def as_async_store(store: AsyncEventStore | EventStore) -> AsyncEventStore | EventStore:
    """The store as AsyncIncidentFlow calls it: async or non-blocking as is, else threaded."""
    adapted: AsyncEventStore | EventStore = _as_async(store, "append", ThreadedStore)
    return adapted


def as_async_notifier(notifier: AsyncNotifier | Notifier) -> AsyncNotifier | Notifier:
    """The notifier as AsyncIncidentFlow calls it: async or non-blocking as is, else threaded."""
    adapted: AsyncNotifier | Notifier = _as_async(notifier, "send", ThreadedNotifier)
    return adapted


def as_async_publisher(
    publisher: AsyncPostMortemPublisher | PostMortemPublisher,
) -> AsyncPostMortemPublisher | PostMortemPublisher:
    """The publisher as AsyncIncidentFlow calls it: async or non-blocking as is, else threaded."""
    adapted: AsyncPostMortemPublisher | PostMortemPublisher = _as_async(
        publisher, "publish", ThreadedPublisher
    )
    return adapted
