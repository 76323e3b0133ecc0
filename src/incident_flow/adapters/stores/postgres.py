"""PostgresStore: the store several replicas share (psycopg 3, extra ``postgres``)."""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Self, TypeVar

from ..._core.events import Event
from ..._core.incident import Incident
from ..._core.messages import OutboxMessage
from ..._core.storms import Silence
from ..._runbooks.catalog import RunbookRevision
from ...exceptions import ConcurrencyError, StorageError
from ...ports import IncidentFilter, IncidentPage, StoreCounts, StreamAppend
from ...schedules._book import Shift
from ...schedules._model import Override
from . import _pg_sql as pgsql
from ._paging import pg_page as pgsql_page

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresStore"]

T = TypeVar("T")


class _Unit:
    """A command's unit of work on this thread: its connection once it read, and whether over."""

    __slots__ = ("conn", "done")

    def __init__(self) -> None:
        self.conn: psycopg.Connection[Any] | None = None
        self.done = False


class PostgresStore:
    """Events, the outbox and the incident index in PostgreSQL, shared by several replicas.

    An append is one transaction, sent as one pipeline: it updates the incident's row only
    where the version is the one the writer expected (which also locks the row, so writers
    of one incident queue up and a stale one gets ``ConcurrencyError``); the
    ``(incident, version)`` key and a unique index on the dedup key of incidents accepting
    alerts make the database itself refuse a lost race. Senders claim outbox messages with
    ``FOR UPDATE SKIP LOCKED`` and a lease.

    :class:`~incident_flow.adapters.stores.postgres_async.AsyncPostgresStore` is the same store for
    asyncio; both may share one schema.

    Args:
        dsn: a libpq connection string or URL. Its password never appears in a repr, a log
            line or an error.
        schema: the PostgreSQL schema holding the tables (created when missing), so one
            database can hold several independent stores.

    Raises:
        StorageError: the server cannot be reached, or the schema was written by a newer
            incident_flow.
    """

    def __init__(self, dsn: str, *, schema: str = "public") -> None:
        self._db = pgsql.Database.parse(dsn, schema, owner="PostgresStore")
        self._pg = pgsql.psycopg_module()
        self.schema = schema
        self._lock = threading.RLock()
        self._conn: psycopg.Connection[Any] | None = None
        # A command's unit of work (``transaction``) runs on a connection of its thread, so
        # that holding its transaction open across the command's steps blocks no other thread.
        self._local = threading.local()
        self._unit_conns: list[psycopg.Connection[Any]] = []
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"PostgresStore({self._db.shown!r}, schema={self.schema!r})"

    def close(self) -> None:
        """Close the connection (a later call reconnects)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            units, self._unit_conns = self._unit_conns, []
        for conn in units:
            with suppress(Exception):  # another thread's, maybe in use: it reconnects
                conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connection(self) -> psycopg.Connection[Any]:
        conn = self._conn
        if conn is None or conn.closed or conn.broken or not self._idle(conn):
            if conn is not None:
                conn.close()
            conn = self._conn = self._pg.connect(self._db.dsn, autocommit=True)
        return conn

    #: Delivery outcomes are committed without waiting for the disk (ports.StreamAppend).
    light_appends = True

    @contextmanager
    def _transaction(self, what: str, *, write: bool = True) -> Iterator[psycopg.Cursor[Any]]:
        """A cursor, in a transaction when ``write`` (a read is one autocommit statement).

        psycopg errors become StorageError; a unique constraint refusing a write, Conflict.
        After any other failure the connection is dropped, so the next call starts on a fresh
        one: a connection killed in the middle of a pipelined append (a failover, a restart,
        ``pg_terminate_backend``) is left in pipeline mode with psycopg calling it neither
        closed nor broken, and would refuse every later statement.
        """
        with self._lock:
            try:
                with self._db.errors(what):
                    conn = self._connection()
                    with conn.transaction() if write else nullcontext(), conn.cursor() as cursor:
                        yield cursor
            except pgsql.Conflict:
                raise  # a lost race: the connection is fine
            except StorageError:
                self._drop()
                raise

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A command's unit of work: its reads and its first append share one transaction.

        Inside it (on this thread), the first read opens a transaction (its BEGIN sent with it,
        in one round trip), held across the command's steps, and the first append commits it
        with the append's own writes (its COMMIT sent with them): one transaction per command,
        and one round trip per read and one per append. Reads after that append, and other
        writes (claims, silences...), run as they do outside. Left without an append (a
        refused command, a read-only one), it is committed at the end (rolled back on an
        error). Nested: the outer one counts. The driver opens one per command (``IncidentFlow``).
        """
        local = self._local
        if getattr(local, "unit", None) is not None:
            yield
            return
        unit = local.unit = _Unit()
        try:
            yield
        except BaseException:
            self._end_unit(unit, commit=False)
            raise
        else:
            self._end_unit(unit, commit=True)
        finally:
            local.unit = None

    def _open_unit(self) -> psycopg.Connection[Any] | None:
        """This thread's unit connection, in its transaction; None outside a unit (or done)."""
        unit: _Unit | None = getattr(self._local, "unit", None)
        if unit is None or unit.done:
            return None
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            # In autocommit: the unit says BEGIN and COMMIT itself, each riding with a
            # statement (psycopg's own BEGIN would be a round trip of its own).
            conn = self._pg.connect(self._db.dsn, autocommit=True)
            self._local.conn = conn
            with self._lock:
                self._unit_conns.append(conn)
        unit.conn = conn
        return conn

    def _end_unit(self, unit: _Unit, *, commit: bool) -> None:
        conn, unit.conn, unit.done = unit.conn, None, True
        if conn is None:
            return
        try:
            with self._db.errors("ending a command's transaction"):
                conn.commit() if commit else conn.rollback()
        except StorageError:
            self._drop_unit(conn)
            if commit:
                raise

    def _drop_unit(self, conn: psycopg.Connection[Any]) -> None:
        self._local.conn = None
        with self._lock:
            if conn in self._unit_conns:
                self._unit_conns.remove(conn)
        with suppress(Exception):  # it is already broken; closing is a courtesy
            conn.close()

    def _idle(self, conn: psycopg.Connection[Any]) -> bool:
        """True when the connection is between statements: no transaction or pipeline open."""
        pq = self._pg.pq
        status = conn.pgconn
        return bool(
            status.transaction_status == pq.TransactionStatus.IDLE
            and status.pipeline_status == pq.PipelineStatus.OFF
        )

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(Exception):  # it is already broken; closing is a courtesy
                conn.close()

    def _fetch(self, query: pgsql.Query[T]) -> T:
        unit = None if query.write else self._open_unit()
        if unit is not None:  # a read of a command: in its transaction
            try:
                with self._db.errors(query.what), unit.cursor() as cur:
                    if unit.pgconn.transaction_status == self._pg.pq.TransactionStatus.IDLE:
                        # The command's first read: its BEGIN rides with it (one round trip).
                        with unit.pipeline():
                            cur.execute(pgsql.BEGIN)
                            cur.execute(self._db.bind(query.text), query.params)
                    else:
                        cur.execute(self._db.bind(query.text), query.params)
                    rows = cur.fetchall()
            except StorageError:
                self._end_unit(self._local.unit, commit=False)
                raise
            return query.decode(rows)
        with self._transaction(query.what, write=query.write) as cur:
            cur.execute(self._db.bind(query.text), query.params)
            rows = cur.fetchall()
        return query.decode(rows)

    def _migrate(self) -> None:
        with self._transaction("creating the schema") as cur:
            for text, params in pgsql.setup(self.schema):
                cur.execute(self._db.bind(text), params)
            for text, params in pgsql.upgrade(cur.fetchone(), self.schema):
                cur.execute(self._db.bind(text), params)

    def append(
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
        plan = pgsql.append(
            incident_id, expected_version, events, snapshot, outbox, claimed_until, runbooks
        )
        self._run([plan])

    def append_all(
        self, appends: Sequence[StreamAppend], *, runbooks: Sequence[RunbookRevision] = ()
    ) -> None:
        """Append to several incidents in one transaction: all of them, or none."""
        plans, durable = pgsql.append_all_plans(appends, runbooks)
        if plans:
            self._run(plans, durable=durable)

    def _run(self, plans: Sequence[pgsql.Append], *, durable: bool = True) -> None:
        """The plans in one pipelined transaction: each guard checked, or nothing kept.

        Not ``durable`` (delivery outcomes only): committed without waiting for the WAL flush
        (``synchronous_commit = off`` for this transaction).
        """
        unit: _Unit | None = getattr(self._local, "unit", None)
        if unit is not None and (unit.done or unit.conn is None):
            unit.done = True  # the command's first append, with no read before: as outside
        elif unit is not None and unit.conn is not None:
            self._append_in_unit(unit, unit.conn, plans, durable=durable)  # commits the reads'
            return
        try:
            with self._transaction("append", write=False) as cur:
                self._send_append(cur, plans, durable=durable, begin=True)
        except pgsql.Conflict as exc:
            raise plans[0].lost_race() from exc

    def _send_append(
        self,
        cur: psycopg.Cursor[Any],
        plans: Sequence[pgsql.Append],
        *,
        durable: bool,
        begin: bool,
    ) -> None:
        """The plans and their COMMIT (and BEGIN, when ``begin``) in one pipeline: one round trip.

        A durable append of one plan with no batches, outside a command's transaction, is one
        statement: sent alone, in autocommit, it is its own transaction.

        The guards are checked by the server: a stale version, or a unique key taken, aborts
        the transaction and the rest of the pipeline (the COMMIT too), and psycopg raises it
        at the pipeline's end; the transaction left open (failed, or cut short by an error
        here) is then rolled back, so the connection is ready for the next statement (when it
        is still up).
        """
        conn = cur.connection
        status = self._pg.pq.TransactionStatus
        if begin and durable and len(plans) == 1 and not plans[0].batches:
            # One statement, on a connection in autocommit: a transaction of its own.
            cur.execute(self._db.bind(plans[0].guard), plans[0].guard_params)
            return
        try:
            with conn.pipeline():
                if begin:
                    cur.execute(pgsql.BEGIN)
                if not durable:
                    cur.execute(pgsql.LIGHT_COMMIT)
                for plan in plans:
                    cur.execute(self._db.bind(plan.guard), plan.guard_params)
                    for text, rows in plan.batches:
                        cur.executemany(self._db.bind(text), rows)
                cur.execute(pgsql.COMMIT)
        except BaseException:
            if conn.pgconn.transaction_status in (status.INTRANS, status.INERROR):
                with suppress(Exception):  # the connection went meanwhile: it is dropped
                    conn.rollback()
            raise

    def _append_in_unit(
        self,
        unit: _Unit,
        conn: psycopg.Connection[Any],
        plans: Sequence[pgsql.Append],
        *,
        durable: bool,
    ) -> None:
        """The append in the command's open transaction, with its COMMIT; the unit is over."""
        committed = False
        try:
            with self._db.errors("append"), conn.cursor() as cur:
                self._send_append(cur, plans, durable=durable, begin=False)
                committed = True
        except pgsql.Conflict as exc:
            raise plans[0].lost_race() from exc
        finally:
            if not committed:
                self._end_unit(unit, commit=False)
            else:
                unit.conn, unit.done = None, True

    def append_each(self, groups: Sequence[Sequence[StreamAppend]]) -> list[Exception | None]:
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
            self._run([plan for _, made in todo for plan in made], durable=durable)
        except ConcurrencyError as exc:
            if len(todo) == 1:
                results[todo[0][0]] = exc
                return results
        else:
            return results
        with self._transaction("append") as cur:
            if not durable:
                cur.execute(pgsql.LIGHT_COMMIT)
            for index, made in todo:
                cur.execute(pgsql.GROUP_SAVEPOINT)
                try:
                    with self._db.errors("append"), cur.connection.pipeline() as pipeline:
                        guards = []
                        for plan in made:
                            guard = cur.connection.cursor()
                            guard.execute(self._db.bind(plan.guard), plan.guard_params)
                            guards.append(guard)
                            for text, rows in plan.batches:
                                cur.executemany(self._db.bind(text), rows)
                        pipeline.sync()
                    for plan, guard in zip(made, guards, strict=True):
                        plan.check(guard.rowcount)
                except (pgsql.Conflict, ConcurrencyError) as exc:
                    cur.execute(pgsql.GROUP_ROLLBACK)
                    refused = exc if isinstance(exc, ConcurrencyError) else made[0].lost_race()
                    results[index] = refused
                cur.execute(pgsql.GROUP_RELEASE)
        return results

    def record_runbook(self, revision: RunbookRevision) -> None:
        """Add a catalog revision made outside an incident (a second one with its key: none)."""
        self._fetch(pgsql.record_runbook(revision))

    def runbook_revisions(self, after: int = 0) -> list[RunbookRevision]:
        """The catalog's revisions after number ``after``, oldest first."""
        return self._fetch(pgsql.runbook_revisions(after))

    def load(self, incident_id: str, after_version: int = 0) -> list[Event]:
        """Return the events after ``after_version``, oldest first."""
        return self._fetch(pgsql.load(incident_id, after_version))

    def save_override(self, override: Override) -> None:
        """Keep a schedule override (replacing the one with its id)."""
        self._fetch(pgsql.save_override(override))

    def overrides(self, active_after: datetime | None = None) -> list[Override]:
        """The overrides (ending after ``active_after`` when given), by start."""
        return self._fetch(pgsql.overrides(active_after))

    def record_shifts(self, shifts: Sequence[Shift]) -> None:
        """Keep ended shifts, each once per (schedule, start)."""
        if shifts:
            self._fetch(pgsql.record_shifts(shifts))

    def recorded_shifts(self, schedule: str, start: datetime, end: datetime) -> list[Shift]:
        """The kept shifts of ``schedule`` overlapping [start, end), oldest first."""
        return self._fetch(pgsql.recorded_shifts(schedule, start, end))

    def shifts_recorded_until(self, schedule: str) -> datetime | None:
        """The end of the last kept shift of ``schedule``, or None."""
        return self._fetch(pgsql.shifts_recorded_until(schedule))

    def save_silence(self, silence: Silence) -> None:
        """Keep a silence (replacing the one with its id)."""
        self._fetch(pgsql.save_silence(silence))

    def silences(self, active_at: datetime | None = None) -> list[Silence]:
        """The silences (not over at ``active_at`` when given), oldest first."""
        return self._fetch(pgsql.silences(active_at))

    def find_by_dedup_key(self, dedup_key: str) -> str | None:
        """Return the incident accepting alerts with this key, or None."""
        return self._fetch(pgsql.find_by_dedup_key(dedup_key))

    def incident_ids(self, state: str | None = None) -> list[str]:
        """Return incident ids, oldest first, optionally only those in ``state``."""
        return self._fetch(pgsql.incident_ids(state))

    def incident_page(
        self, filters: IncidentFilter, *, cursor: str | None = None, limit: int = 50
    ) -> IncidentPage:
        """A page of the ids ``filters`` matches, newest first (see ``ports.IncidentQuery``)."""
        return self._fetch(pgsql_page(filters, cursor, limit))

    def ping(self) -> None:
        """Read the schema version (one key of a small table): raise when the server cannot."""
        self._fetch(pgsql.ping())

    def counts(self) -> StoreCounts:
        """Incidents by state and severity, and the outbox backlog, from the indexes."""
        return self._fetch(pgsql.counts())

    def due_incidents(self, now: datetime, *, limit: int = 100) -> list[str]:
        """Incidents whose escalation is due, most overdue first (an index range)."""
        return self._fetch(pgsql.due_incidents(now, limit))

    def claim_due(
        self,
        now: datetime,
        *,
        lease: timedelta,
        limit: int = 100,
        ids: Collection[str] | None = None,
    ) -> list[OutboxMessage]:
        """Claim due, unclaimed pending messages for ``lease`` (``FOR UPDATE SKIP LOCKED``)."""
        return self._fetch(pgsql.claim_due(now, lease, limit, ids))

    def renew_claims(self, ids: Collection[str], *, until: datetime) -> None:
        """Hold the claimed, pending messages among ``ids`` until ``until`` (never shorter)."""
        if ids:
            self._fetch(pgsql.renew_claims(ids, until))

    def outbox_messages(self, incident_id: str | None = None) -> list[OutboxMessage]:
        """Every outbox message (of one incident when given), delivered or not; for inspection."""
        return self._fetch(pgsql.outbox_messages(incident_id))
