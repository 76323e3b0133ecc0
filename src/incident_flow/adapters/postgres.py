"""PostgresStore: the store several replicas share (psycopg 3, extra ``postgres``)."""

from __future__ import annotations

import re
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Self

import attrs

from .._events import Event
from .._incident import Incident
from .._messages import OutboxMessage
from ..exceptions import ConcurrencyError, StorageError
from ._common import (
    SCHEMA_VERSION,
    check_versions,
    decode_event,
    decode_message,
    event_rows,
    incident_row,
    micros,
    newer_schema,
    outbox_rows,
)

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresStore"]

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS {s}.incident_flow_meta (
    key text PRIMARY KEY,
    value text NOT NULL
);
CREATE TABLE IF NOT EXISTS {s}.events (
    incident_id text NOT NULL,
    version integer NOT NULL,
    type text NOT NULL,
    data text NOT NULL,
    PRIMARY KEY (incident_id, version)
);
CREATE TABLE IF NOT EXISTS {s}.incidents (
    seq bigserial UNIQUE,
    id text PRIMARY KEY,
    state text NOT NULL,
    severity text NOT NULL,
    dedup_key text NOT NULL,
    accepts_alerts boolean NOT NULL,
    version integer NOT NULL,
    updated_at bigint NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS incidents_accepting_dedup_key
    ON {s}.incidents (dedup_key) WHERE accepts_alerts;
CREATE INDEX IF NOT EXISTS incidents_by_state ON {s}.incidents (state, seq);
CREATE TABLE IF NOT EXISTS {s}.outbox (
    seq bigserial PRIMARY KEY,
    id text NOT NULL UNIQUE,
    incident_id text NOT NULL,
    due bigint NOT NULL,
    claimed_until bigint,
    delivered boolean NOT NULL DEFAULT false,
    data text NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_pending ON {s}.outbox (due, seq) WHERE NOT delivered
"""

#: Schema changes after version 1, by the version they lead to.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: (
        "ALTER TABLE {s}.incidents ADD COLUMN IF NOT EXISTS timer_at bigint",
        (
            "CREATE INDEX IF NOT EXISTS incidents_timer ON {s}.incidents (timer_at) "
            "WHERE timer_at IS NOT NULL"
        ),
    ),
}


def _psycopg() -> Any:
    try:
        import psycopg  # noqa: PLC0415 - an optional extra, imported when the store is used
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        msg = "PostgresStore needs psycopg: pip install 'incident-flow[postgres]'"
        raise ImportError(msg) from exc
    return psycopg


def _redacted(dsn: str) -> str:
    """The connection string without its password, for repr and errors."""
    psycopg = _psycopg()
    try:
        parts = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.Error:
        return "<unparsable dsn>"
    shown = {k: v for k, v in parts.items() if k in ("host", "port", "dbname", "user")}
    return " ".join(f"{k}={v}" for k, v in sorted(shown.items())) or "<default>"


class _Conflict(StorageError):
    """A unique constraint refused a write: another writer got there first."""


class PostgresStore:
    """Events, the outbox and the incident index in PostgreSQL, shared by several replicas.

    An append is one transaction, sent as one pipeline: it updates the incident's row only
    where the version is the one the writer expected (which also locks the row, so writers
    of one incident queue up and a stale one gets ``ConcurrencyError``); the
    ``(incident, version)`` key and a unique index on the dedup key of incidents accepting
    alerts make the database itself refuse a lost race. Senders claim outbox messages with
    ``FOR UPDATE SKIP LOCKED`` and a lease.

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
        if not _IDENTIFIER.match(schema):
            msg = f"schema must be a lower-case SQL identifier, got {schema!r}"
            raise ValueError(msg)
        self._pg = _psycopg()
        try:
            self._pg.conninfo.conninfo_to_dict(dsn)
        except self._pg.Error:
            # psycopg's message quotes the part it could not read, which may be the password.
            msg = "PostgresStore: the DSN is not a valid connection string or URL"
            raise StorageError(msg) from None
        self._dsn = dsn
        self.schema = schema
        self._where = _redacted(dsn)
        self._lock = threading.RLock()
        self._conn: psycopg.Connection[Any] | None = None
        self._queries: dict[str, Any] = {}
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"PostgresStore({self._where!r}, schema={self.schema!r})"

    def close(self) -> None:
        """Close the connection (a later call reconnects)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connection(self) -> psycopg.Connection[Any]:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            conn = self._conn = self._pg.connect(self._dsn, autocommit=True)
        return conn

    @contextmanager
    def _transaction(self, what: str, *, write: bool = True) -> Iterator[psycopg.Cursor[Any]]:
        """A cursor, in a transaction when ``write`` (a read is one autocommit statement).

        psycopg errors become StorageError; a unique constraint refusing a write, _Conflict.
        """
        pg = self._pg
        with self._lock:
            try:
                conn = self._connection()
                if not write:
                    with conn.cursor() as cursor:
                        yield cursor
                    return
                with conn.transaction(), conn.cursor() as cursor:
                    yield cursor
            except pg.errors.IntegrityError as exc:
                msg = f"PostgreSQL store: {what} conflicts with another writer"
                raise _Conflict(msg) from exc
            except pg.Error as exc:
                first_line = str(exc).split("\n", 1)[0]
                msg = (
                    f"PostgreSQL store ({self._where}, schema {self.schema}): {what} failed: "
                    f"{type(exc).__name__}: {first_line}"
                )
                raise StorageError(msg) from exc

    def _q(self, text: str) -> Any:
        """A statement with ``{s}`` bound to this store's schema (cached)."""
        query = self._queries.get(text)
        if query is None:
            sql = self._pg.sql
            query = self._queries[text] = sql.SQL(text).format(s=sql.Identifier(self.schema))
        return query

    def _migrate(self) -> None:
        with self._transaction("creating the schema") as cur:
            # Serialise the first start of several replicas (CREATE ... IF NOT EXISTS races).
            cur.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"incident_flow:{self.schema}",)
            )
            cur.execute(self._q("CREATE SCHEMA IF NOT EXISTS {s}"))
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    cur.execute(self._q(statement))
            cur.execute(self._q(_META_READ))
            row = cur.fetchone()
            found = 1 if row is None else int(row[0])
            if found > SCHEMA_VERSION:
                raise newer_schema(found, f"PostgreSQL schema {self.schema!r}")
            for version in range(found + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[version]:
                    cur.execute(self._q(statement))
            cur.execute(self._q(_META_WRITE), (str(SCHEMA_VERSION),))

    def append(
        self,
        incident_id: str,
        expected_version: int,
        events: Sequence[Event],
        *,
        snapshot: Incident,
        outbox: Sequence[OutboxMessage] = (),
        claimed_until: datetime | None = None,
    ) -> None:
        """Append events, update the incident's row and upsert outbox messages, atomically."""
        check_versions(expected_version, events)
        summary = incident_row(snapshot)
        try:
            with self._transaction("append") as cur, cur.connection.pipeline() as pipeline:
                # The incident's row first: it takes the row lock that queues writers of one
                # incident, and its version guard refuses a stale writer. Everything is sent
                # in one pipeline: one round trip, then the check, then COMMIT.
                guard = cur.connection.cursor()
                if expected_version == 0:
                    guard.execute(self._q(_INSERT_INCIDENT), (incident_id, *summary))
                else:
                    guard.execute(
                        self._q(_UPDATE_INCIDENT), (*summary, incident_id, expected_version)
                    )
                cur.executemany(self._q(_INSERT_EVENT), event_rows(incident_id, events))
                if outbox:
                    cur.executemany(self._q(_UPSERT_MESSAGE), outbox_rows(outbox, claimed_until))
                pipeline.sync()
                if guard.rowcount != 1:
                    raise ConcurrencyError(incident_id, expected_version)
        except _Conflict as exc:
            # A duplicate (incident, version), a second new stream with one id, or a second
            # incident accepting one dedup key: another writer got there first.
            raise ConcurrencyError(incident_id, expected_version) from exc

    def load(self, incident_id: str, after_version: int = 0) -> list[Event]:
        """Return the events after ``after_version``, oldest first."""
        with self._transaction("load", write=False) as cur:
            cur.execute(self._q(_LOAD), (incident_id, after_version))
            rows = cur.fetchall()
        return [decode_event(row[0]) for row in rows]

    def find_by_dedup_key(self, dedup_key: str) -> str | None:
        """Return the incident accepting alerts with this key, or None."""
        with self._transaction("dedup lookup", write=False) as cur:
            cur.execute(self._q(_FIND_DEDUP), (dedup_key,))
            row = cur.fetchone()
        return None if row is None else str(row[0])

    def incident_ids(self, state: str | None = None) -> list[str]:
        """Return incident ids, oldest first, optionally only those in ``state``."""
        with self._transaction("listing", write=False) as cur:
            if state is None:
                cur.execute(self._q("SELECT id FROM {s}.incidents ORDER BY seq"))
            else:
                cur.execute(
                    self._q("SELECT id FROM {s}.incidents WHERE state = %s ORDER BY seq"), (state,)
                )
            rows = cur.fetchall()
        return [str(row[0]) for row in rows]

    def due_incidents(self, now: datetime, *, limit: int = 100) -> list[str]:
        """Incidents whose escalation is due, most overdue first (an index range)."""
        with self._transaction("timers", write=False) as cur:
            cur.execute(self._q(_DUE), (micros(now), limit))
            rows = cur.fetchall()
        return [str(row[0]) for row in rows]

    def claim_due(
        self,
        now: datetime,
        *,
        lease: timedelta,
        limit: int = 100,
        ids: Collection[str] | None = None,
    ) -> list[OutboxMessage]:
        """Claim due, unclaimed pending messages for ``lease`` (``FOR UPDATE SKIP LOCKED``)."""
        at, until = micros(now), micros(now + lease)
        with self._transaction("claim") as cur:
            if ids is None:
                cur.execute(self._q(_CLAIM), (at, at, limit, until))
            else:
                cur.execute(self._q(_CLAIM_IDS), (at, at, list(ids), limit, until))
            rows = cur.fetchall()
        # A lease that ran out with no outcome recorded: the sender may have sent it.
        messages = []
        for _, data, was_claimed in sorted(rows):
            message = decode_message(data)
            messages.append(attrs.evolve(message, reclaimed=True) if was_claimed else message)
        return messages

    def outbox_messages(self, incident_id: str | None = None) -> list[OutboxMessage]:
        """Every outbox message (of one incident when given), delivered or not; for inspection."""
        with self._transaction("outbox listing", write=False) as cur:
            if incident_id is None:
                cur.execute(self._q("SELECT data FROM {s}.outbox ORDER BY seq"))
            else:
                cur.execute(
                    self._q("SELECT data FROM {s}.outbox WHERE incident_id = %s ORDER BY seq"),
                    (incident_id,),
                )
            rows = cur.fetchall()
        return [decode_message(row[0]) for row in rows]


_META_READ = "SELECT value FROM {s}.incident_flow_meta WHERE key = 'schema_version'"
_META_WRITE = (
    "INSERT INTO {s}.incident_flow_meta (key, value) VALUES ('schema_version', %s) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
_INSERT_EVENT = "INSERT INTO {s}.events (incident_id, version, type, data) VALUES (%s, %s, %s, %s)"
_INSERT_INCIDENT = """
INSERT INTO {s}.incidents (id, state, severity, dedup_key, accepts_alerts, version, updated_at,
    timer_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
"""
_UPDATE_INCIDENT = """
UPDATE {s}.incidents SET state = %s, severity = %s, dedup_key = %s, accepts_alerts = %s,
    version = %s, updated_at = %s, timer_at = %s
WHERE id = %s AND version = %s
"""
_UPSERT_MESSAGE = """
INSERT INTO {s}.outbox (id, incident_id, due, claimed_until, delivered, data)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (id) DO UPDATE SET
    due = excluded.due, claimed_until = excluded.claimed_until, delivered = excluded.delivered,
    data = excluded.data
WHERE NOT {s}.outbox.delivered
"""
_LOAD = "SELECT data FROM {s}.events WHERE incident_id = %s AND version > %s ORDER BY version"
_DUE = (
    "SELECT id FROM {s}.incidents WHERE timer_at IS NOT NULL AND timer_at <= %s "
    "ORDER BY timer_at LIMIT %s"
)
_FIND_DEDUP = "SELECT id FROM {s}.incidents WHERE dedup_key = %s AND accepts_alerts"
_CLAIM_WHERE = """
    SELECT seq, claimed_until IS NOT NULL AS reclaimed FROM {s}.outbox
    WHERE NOT delivered AND due <= %s AND (claimed_until IS NULL OR claimed_until <= %s)
"""
_CLAIM_TAIL = """
    ORDER BY seq LIMIT %s FOR UPDATE SKIP LOCKED
)
UPDATE {s}.outbox o SET claimed_until = %s FROM due WHERE o.seq = due.seq
RETURNING o.seq, o.data, due.reclaimed
"""
_CLAIM = "WITH due AS (" + _CLAIM_WHERE + _CLAIM_TAIL
_CLAIM_IDS = "WITH due AS (" + _CLAIM_WHERE + " AND id = ANY(%s)" + _CLAIM_TAIL
