"""AsyncPostgresStore: PostgresStore for asyncio, on a pool of psycopg's async connections."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import asynccontextmanager, nullcontext, suppress
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Self, TypeVar

from ..._core.events import Event
from ..._core.incident import Incident
from ..._core.messages import OutboxMessage
from ..._core.storms import Silence
from ..._runbooks.catalog import RunbookRevision
from ...exceptions import ConcurrencyError
from ...ports import IncidentFilter, IncidentPage, StoreCounts, StreamAppend
from ...schedules._book import Shift
from ...schedules._model import Override
from . import _pg_sql as pgsql
from ._group import GroupCommit, Waiting
from ._paging import pg_page as pgsql_page

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import AsyncConnectionPool

__all__ = ["AsyncPostgresStore"]

T = TypeVar("T")


def _pool_class() -> type[AsyncConnectionPool[Any]]:
    try:
        from psycopg_pool import AsyncConnectionPool  # noqa: PLC0415 - part of the extra
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        msg = "AsyncPostgresStore needs psycopg-pool: pip install 'incident-flow[postgres]'"
        raise ImportError(msg) from exc
    return AsyncConnectionPool


class AsyncPostgresStore:
    """:class:`~.postgres.PostgresStore` for asyncio: same tables, same rules.

    Every method is a coroutine and none blocks the event loop: calls run on a pool of
    psycopg's async connections, so up to ``max_size`` of them are in flight at once and the
    rest wait for a free connection. Appends, claims and the schema behave as in
    ``PostgresStore`` (the SQL is the same), and a sync and an async store may share a schema.

    Open it with :meth:`open`, or with ``async with AsyncPostgresStore(...) as store``; making
    one does no I/O. Close it with :meth:`close` (a closed store cannot be opened again).
    psycopg's async connections need a selector event loop, not Windows' default one.

    Args:
        dsn: a libpq connection string or URL. Its password never appears in a repr, a log
            line or an error.
        schema: the PostgreSQL schema holding the tables (created when missing).
        min_size: connections the pool keeps open.
        max_size: connections the pool opens at the most.
        timeout: seconds a call waits for a free connection before StorageError.

    Raises:
        ValueError: ``schema`` is not a lower-case SQL identifier.
        StorageError: the DSN cannot be parsed (the error does not quote it).
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "public",
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 30.0,
    ) -> None:
        self._db = pgsql.Database.parse(dsn, schema, owner="AsyncPostgresStore")
        self._pg = pgsql.psycopg_module()
        self.schema = schema
        self._timeout = timeout
        self._opened = False
        self._pool = _pool_class()(
            dsn,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            kwargs={"autocommit": True},
            open=False,
        )
        #: Group commit (``ports.GroupAppend``): appends that arrive while one commits go
        #: together in the next transaction, each in a savepoint of its own.
        #: None: each append in a transaction of its own (a benchmark's baseline).
        self.group_commit: GroupCommit | None = GroupCommit(self._commit_group)

    async def _commit_group(self, take: Callable[[], list[Waiting]]) -> list[Exception | None]:
        groups = [group for group, _ in take()]
        return await self.append_each(groups) if groups else []

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        schema: str = "public",
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 30.0,
    ) -> Self:
        """Make a store, bring its schema up to date and open its pool.

        Takes the arguments of the class.

        Raises:
            StorageError: the server cannot be reached, or the schema was written by a newer
                incident_flow.
        """
        store = cls(dsn, schema=schema, min_size=min_size, max_size=max_size, timeout=timeout)
        await store._start()
        return store

    def __repr__(self) -> str:
        return f"AsyncPostgresStore({self._db.shown!r}, schema={self.schema!r})"

    async def _start(self) -> None:
        try:
            await self._migrate()
            with self._db.errors("opening the pool"):
                await self._pool.open(wait=True, timeout=self._timeout)
        except BaseException:
            await self.close()
            raise
        self._opened = True

    async def close(self, timeout: float = 5.0) -> None:
        """Close the pool; calls still holding a connection finish first.

        Args:
            timeout: seconds to wait for the pool's own tasks (a reconnection to a server
                that is away) before they are left behind.
        """
        await self._pool.close(timeout=timeout)

    async def __aenter__(self) -> Self:
        if not self._opened:
            await self._start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    #: Delivery outcomes are committed without waiting for the disk (ports.StreamAppend).
    light_appends = True

    @asynccontextmanager
    async def _transaction(
        self, what: str, *, write: bool = True
    ) -> AsyncIterator[psycopg.AsyncCursor[Any]]:
        """A pooled cursor, in a transaction when ``write`` (a read is one autocommit statement).

        psycopg errors (the pool's too) become StorageError; a unique constraint refusing a
        write, Conflict.
        """
        with self._db.errors(what):
            async with (
                self._pool.connection() as conn,
                conn.transaction() if write else nullcontext(),
                conn.cursor() as cursor,
            ):
                yield cursor

    async def _fetch(self, query: pgsql.Query[T]) -> T:
        async with self._transaction(query.what, write=query.write) as cur:
            await cur.execute(self._db.bind(query.text), query.params)
            rows = await cur.fetchall()
        return query.decode(rows)

    async def _migrate(self) -> None:
        # On a connection of its own, before the pool opens: an unreachable server fails here
        # at once with psycopg's reason, where the pool would retry until its timeout.
        with self._db.errors("creating the schema"):
            conn = await self._pg.AsyncConnection.connect(self._db.dsn, autocommit=True)
            async with conn, conn.transaction(), conn.cursor() as cur:
                for text, params in pgsql.setup(self.schema):
                    await cur.execute(self._db.bind(text), params)
                for text, params in pgsql.upgrade(await cur.fetchone(), self.schema):
                    await cur.execute(self._db.bind(text), params)

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
        """Append events, update the incident's row and upsert outbox messages, atomically.

        ``runbooks``: catalog revisions the events made, kept in the same transaction.
        """
        if not runbooks and self.group_commit is not None:
            one = StreamAppend(
                incident_id=incident_id,
                expected_version=expected_version,
                events=events,
                snapshot=snapshot,
                outbox=outbox,
                claimed_until=claimed_until,
            )
            await self.group_commit.append([one])
            return
        plan = pgsql.append(
            incident_id, expected_version, events, snapshot, outbox, claimed_until, runbooks
        )
        await self._run([plan])

    async def append_all(
        self, appends: Sequence[StreamAppend], *, runbooks: Sequence[RunbookRevision] = ()
    ) -> None:
        """Append to several incidents in one transaction: all of them, or none."""
        if not runbooks and self.group_commit is not None:
            await self.group_commit.append(appends)
            return
        plans, durable = pgsql.append_all_plans(appends, runbooks)
        if plans:
            await self._run(plans, durable=durable)

    async def _run(self, plans: Sequence[pgsql.Append], *, durable: bool = True) -> None:
        """The plans in one pipelined transaction: each guard checked, or nothing kept.

        Not ``durable`` (delivery outcomes only): committed without waiting for the WAL flush
        (``synchronous_commit = off`` for this transaction).
        """
        try:
            async with self._transaction("append", write=False) as cur:
                await self._send_append(cur, plans, durable=durable)
        except pgsql.Conflict as exc:
            raise plans[0].lost_race() from exc

    async def _send_append(
        self, cur: psycopg.AsyncCursor[Any], plans: Sequence[pgsql.Append], *, durable: bool
    ) -> None:
        """The plans between BEGIN and COMMIT, all in one pipeline: one round trip.

        A durable append of one plan with no batches is one statement: sent alone, in
        autocommit, it is its own transaction. The guards are checked by the server: a stale
        version, or a unique key taken, aborts the transaction and the rest of the pipeline
        (the COMMIT too), and psycopg raises it at the pipeline's end; the transaction left
        open (failed, or cut short by an error here) is then rolled back, so the pooled
        connection goes back ready (the pool discards one that is not).
        """
        if durable and len(plans) == 1 and not plans[0].batches:
            await cur.execute(self._db.bind(plans[0].guard), plans[0].guard_params)
            return
        conn = cur.connection
        status = self._pg.pq.TransactionStatus
        try:
            async with conn.pipeline():
                await cur.execute(pgsql.BEGIN)
                if not durable:
                    await cur.execute(pgsql.LIGHT_COMMIT)
                for plan in plans:
                    await cur.execute(self._db.bind(plan.guard), plan.guard_params)
                    for text, rows in plan.batches:
                        await cur.executemany(self._db.bind(text), rows)
                await cur.execute(pgsql.COMMIT)
        except BaseException:
            if conn.pgconn.transaction_status in (status.INTRANS, status.INERROR):
                with suppress(Exception):  # the connection went meanwhile: the pool drops it
                    await conn.rollback()
            raise

    async def append_each(self, groups: Sequence[Sequence[StreamAppend]]) -> list[Exception | None]:
        """Keep each group as ``append_all`` would, all in one transaction (group commit).

        Tried first all together in one pipeline (one round trip, one commit). When a group is
        refused, again in one transaction with each group in a savepoint of its own: the
        refused ones are rolled back alone and their errors returned in their places.
        """
        plans, results = pgsql.group_plans(groups)
        todo = [(index, made) for index, made in enumerate(plans) if made is not None]
        if not todo:
            return results
        durable = any(one.durable for index, _ in todo for one in groups[index])
        try:
            await self._run([plan for _, made in todo for plan in made], durable=durable)
        except ConcurrencyError as exc:
            if len(todo) == 1:
                results[todo[0][0]] = exc
                return results
        else:
            return results
        async with self._transaction("append") as cur:
            if not durable:
                await cur.execute(pgsql.LIGHT_COMMIT)
            for index, made in todo:
                await cur.execute(pgsql.GROUP_SAVEPOINT)
                try:
                    with self._db.errors("append"):
                        async with cur.connection.pipeline() as pipeline:
                            guards = []
                            for plan in made:
                                guard = cur.connection.cursor()
                                await guard.execute(self._db.bind(plan.guard), plan.guard_params)
                                guards.append(guard)
                                for text, rows in plan.batches:
                                    await cur.executemany(self._db.bind(text), rows)
                            await pipeline.sync()
                    for plan, guard in zip(made, guards, strict=True):
                        plan.check(guard.rowcount)
                except (pgsql.Conflict, ConcurrencyError) as exc:
                    await cur.execute(pgsql.GROUP_ROLLBACK)
                    refused = exc if isinstance(exc, ConcurrencyError) else made[0].lost_race()
                    results[index] = refused
                await cur.execute(pgsql.GROUP_RELEASE)
        return results

    async def record_runbook(self, revision: RunbookRevision) -> None:
        """Add a catalog revision made outside an incident (a second one with its key: none)."""
        await self._fetch(pgsql.record_runbook(revision))

    async def runbook_revisions(self, after: int = 0) -> list[RunbookRevision]:
        """The catalog's revisions after number ``after``, oldest first."""
        return await self._fetch(pgsql.runbook_revisions(after))

    async def load(self, incident_id: str, after_version: int = 0) -> list[Event]:
        """Return the events after ``after_version``, oldest first."""
        return await self._fetch(pgsql.load(incident_id, after_version))

    async def save_override(self, override: Override) -> None:
        """Keep a schedule override (replacing the one with its id)."""
        await self._fetch(pgsql.save_override(override))

    async def overrides(self, active_after: datetime | None = None) -> list[Override]:
        """The overrides (ending after ``active_after`` when given), by start."""
        return await self._fetch(pgsql.overrides(active_after))

    async def record_shifts(self, shifts: Sequence[Shift]) -> None:
        """Keep ended shifts, each once per (schedule, start)."""
        if shifts:
            await self._fetch(pgsql.record_shifts(shifts))

    async def recorded_shifts(self, schedule: str, start: datetime, end: datetime) -> list[Shift]:
        """The kept shifts of ``schedule`` overlapping [start, end), oldest first."""
        return await self._fetch(pgsql.recorded_shifts(schedule, start, end))

    async def shifts_recorded_until(self, schedule: str) -> datetime | None:
        """The end of the last kept shift of ``schedule``, or None."""
        return await self._fetch(pgsql.shifts_recorded_until(schedule))

    async def save_silence(self, silence: Silence) -> None:
        """Keep a silence (replacing the one with its id)."""
        await self._fetch(pgsql.save_silence(silence))

    async def silences(self, active_at: datetime | None = None) -> list[Silence]:
        """The silences (not over at ``active_at`` when given), oldest first."""
        return await self._fetch(pgsql.silences(active_at))

    async def find_by_dedup_key(self, dedup_key: str) -> str | None:
        """Return the incident accepting alerts with this key, or None."""
        return await self._fetch(pgsql.find_by_dedup_key(dedup_key))

    async def incident_ids(self, state: str | None = None) -> list[str]:
        """Return incident ids, oldest first, optionally only those in ``state``."""
        return await self._fetch(pgsql.incident_ids(state))

    async def incident_page(
        self, filters: IncidentFilter, *, cursor: str | None = None, limit: int = 50
    ) -> IncidentPage:
        """A page of the ids ``filters`` matches, newest first (see ``ports.IncidentQuery``)."""
        return await self._fetch(pgsql_page(filters, cursor, limit))

    async def ping(self) -> None:
        """Read the schema version (one key of a small table): raise when the server cannot."""
        await self._fetch(pgsql.ping())

    async def counts(self) -> StoreCounts:
        """Incidents by state and severity, and the outbox backlog, from the indexes."""
        return await self._fetch(pgsql.counts())

    async def due_incidents(self, now: datetime, *, limit: int = 100) -> list[str]:
        """Incidents whose escalation is due, most overdue first (an index range)."""
        return await self._fetch(pgsql.due_incidents(now, limit))

    async def claim_due(
        self,
        now: datetime,
        *,
        lease: timedelta,
        limit: int = 100,
        ids: Collection[str] | None = None,
    ) -> list[OutboxMessage]:
        """Claim due, unclaimed pending messages for ``lease`` (``FOR UPDATE SKIP LOCKED``)."""
        return await self._fetch(pgsql.claim_due(now, lease, limit, ids))

    async def renew_claims(self, ids: Collection[str], *, until: datetime) -> None:
        """Hold the claimed, pending messages among ``ids`` until ``until`` (never shorter)."""
        if ids:
            await self._fetch(pgsql.renew_claims(ids, until))

    async def outbox_messages(self, incident_id: str | None = None) -> list[OutboxMessage]:
        """Every outbox message (of one incident when given), delivered or not; for inspection."""
        return await self._fetch(pgsql.outbox_messages(incident_id))
