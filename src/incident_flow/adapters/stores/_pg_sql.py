"""What both PostgreSQL stores share: the SQL, the migration plan, rows in and out, errors.

:class:`~incident_flow.adapters.stores.postgres.PostgresStore` and
:class:`~incident_flow.adapters.stores.postgres_async.AsyncPostgresStore` differ only in how
they talk to the server (one connection behind a lock, or an asyncio pool). What they send and
what they make of the answer is built here as plain values, so both write the same tables the
same way and a sync and an async store can share one schema.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs

from ..._core.events import Event
from ..._core.incident import Incident, routes_changed
from ..._core.messages import OutboxMessage
from ..._core.process import FINAL_STATE
from ..._core.storms import Silence
from ..._runbooks.catalog import RunbookRevision
from ...exceptions import ConcurrencyError, StorageError
from ...ports import StoreCounts, StreamAppend
from ...schedules._book import Shift
from ...schedules._model import Override
from ._common import (
    KINDS,
    check_versions,
    decode_event,
    decode_message,
    decode_override,
    decode_revision,
    decode_silence,
    encode_override,
    encode_silence,
    event_rows,
    from_micros,
    incident_row,
    micros,
    outbox_rows,
    revision_rows,
    route_rows,
    shift_from_row,
    shift_rows,
)
from ._pg_schema import META_READ, Statement, setup, upgrade

if TYPE_CHECKING:
    from psycopg import sql

__all__ = [
    "BEGIN",
    "COMMIT",
    "Append",
    "Conflict",
    "Database",
    "Query",
    "Statement",
    "append",
    "claim_due",
    "counts",
    "due_incidents",
    "find_by_dedup_key",
    "incident_ids",
    "load",
    "outbox_messages",
    "overrides",
    "ping",
    "psycopg_module",
    "record_shifts",
    "recorded_shifts",
    "renew_claims",
    "save_override",
    "save_silence",
    "setup",
    "shifts_recorded_until",
    "silences",
    "upgrade",
]


class _QuietLostRaces(logging.Filter):
    """Drops psycopg's "error ignored terminating <Pipeline>... pipeline aborted" warning.

    psycopg logs it when a pipeline ends after a failed statement; for us that is a lost write
    race (a unique key refused an append), which the store raises as ConcurrencyError and the
    flow retries. It is noise in the host's logs, not a fault.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.msg if isinstance(record.msg, str) else ""
        args = record.args if isinstance(record.args, tuple) else ()
        if not text.startswith("error ignored terminating") or len(args) != 2:
            return True
        lost_race = "Pipeline" in type(args[0]).__name__ and "pipeline aborted" in str(args[1])
        return not lost_race


logging.getLogger("psycopg").addFilter(_QuietLostRaces())

T = TypeVar("T")
Rows = list[tuple[Any, ...]]
#: A statement (``{s}`` stands for the schema) and its parameters.

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def psycopg_module() -> Any:
    """psycopg, imported when a store is first made (it is the ``postgres`` extra)."""
    try:
        import psycopg  # noqa: PLC0415 - an optional extra, imported when the store is used
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        msg = "the PostgreSQL stores need psycopg: pip install 'incident-flow[postgres]'"
        raise ImportError(msg) from exc
    return psycopg


class Conflict(StorageError):
    """A unique constraint refused a write: another writer got there first."""


@attrs.frozen
class Database:
    """Where a store's tables are: the DSN, shown without its password, and the schema."""

    dsn: str = attrs.field(repr=False)
    schema: str
    shown: str

    @classmethod
    def parse(cls, dsn: str, schema: str, *, owner: str) -> Database:
        """Check the schema name and the DSN without connecting.

        Raises:
            ValueError: ``schema`` is not a lower-case SQL identifier.
            StorageError: the DSN cannot be parsed (the message does not quote it).
        """
        if not _IDENTIFIER.match(schema):
            msg = f"schema must be a lower-case SQL identifier, got {schema!r}"
            raise ValueError(msg)
        pg = psycopg_module()
        try:
            parts = pg.conninfo.conninfo_to_dict(dsn)
        except pg.Error:
            # psycopg's message quotes the part it could not read, which may be the password.
            msg = f"{owner}: the DSN is not a valid connection string or URL"
            raise StorageError(msg) from None
        kept = sorted((k, v) for k, v in parts.items() if k in ("host", "port", "dbname", "user"))
        return cls(dsn, schema, " ".join(f"{k}={v}" for k, v in kept) or "<default>")

    def bind(self, text: str) -> sql.SQL:
        """The statement with ``{s}`` bound to this schema (cached)."""
        return _bound(text, self.schema)

    @contextmanager
    def errors(self, what: str) -> Iterator[None]:
        """Turn psycopg's errors (the pool's too) raised inside into ours.

        Raises:
            Conflict: a unique constraint refused a write.
            StorageError: any other psycopg error, with the DSN shown without its password.
        """
        pg = psycopg_module()
        try:
            yield
        except (pg.errors.IntegrityError, pg.errors.DivisionByZero) as exc:
            # A unique constraint, or an append's version guard (_APPEND_NEXT): stale.
            msg = f"PostgreSQL store: {what} conflicts with another writer"
            raise Conflict(msg) from exc
        except pg.Error as exc:
            first_line = str(exc).split("\n", 1)[0]
            msg = (
                f"PostgreSQL store ({self.shown}, schema {self.schema}): {what} failed: "
                f"{type(exc).__name__}: {first_line}"
            )
            raise StorageError(msg) from exc


@functools.lru_cache(maxsize=512)
def _bound(text: str, schema: str) -> sql.SQL:
    # Rendered once, as plain SQL: a Composed would quote the schema again at every execute.
    pg_sql = psycopg_module().sql
    composed = pg_sql.SQL(text).format(s=pg_sql.Identifier(schema))
    rendered: sql.SQL = pg_sql.SQL(composed.as_string(None))
    return rendered


# ------------------------------------------------------------------------------------- append


@attrs.frozen
class Append:
    """One append: one statement for the incident's row, its events and its outbox, then batches.

    The ``guard`` statement writes the incident's row first: that takes the row lock that
    queues writers of one incident, and its version guard (a ``WHERE version =`` update, or an
    insert for a new stream) changes no row for a stale writer, which aborts the statement in
    the server (STALE_WRITER) before any event or message is written. The same statement
    inserts the events and upserts the outbox (arrays unnested: one statement whatever their
    number). The ``batches`` are the rarer writes (alert routes, runbook revisions), one
    statement a row. The store sends them all, with their COMMIT, in one pipeline: one round
    trip.
    """

    incident_id: str
    expected_version: int
    guard: str
    guard_params: tuple[Any, ...]
    batches: tuple[tuple[str, Rows], ...]

    def check(self, guarded_rows: int) -> None:
        """Raise ConcurrencyError unless the guard changed the incident's row."""
        if guarded_rows != 1:
            raise self.lost_race()

    def lost_race(self) -> ConcurrencyError:
        """The error for a stale writer, or for a :class:`Conflict` the append ran into.

        A duplicate (incident, version), a second new stream with one id, or a second incident
        accepting one dedup key: another writer got there first.
        """
        return ConcurrencyError(self.incident_id, self.expected_version)


def plan_of(one: StreamAppend, runbooks: Sequence[RunbookRevision] = ()) -> Append:
    """The plan of one :class:`~incident_flow.ports.StreamAppend` (see :func:`append`)."""
    return append(
        one.incident_id,
        one.expected_version,
        one.events,
        one.snapshot,
        one.outbox,
        one.claimed_until,
        runbooks,
    )


def append_all_plans(
    appends: Sequence[StreamAppend], runbooks: Sequence[RunbookRevision] = ()
) -> tuple[list[Append], bool]:
    """The plans of ``append_all`` (the revisions ride on the first) and whether it is durable."""
    plans = [plan_of(one, runbooks if index == 0 else ()) for index, one in enumerate(appends)]
    return plans, any(one.durable for one in appends) or bool(runbooks)


def group_plans(
    groups: Sequence[Sequence[StreamAppend]],
) -> tuple[list[list[Append] | None], list[Exception | None]]:
    """Each group's plans (None where it is empty or refused) and its error so far, if any."""
    plans: list[list[Append] | None] = []
    results: list[Exception | None] = []
    for group in groups:
        try:
            made = [plan_of(one) for one in group]
        except Exception as exc:  # noqa: BLE001 - bad input: that group is refused alone
            plans.append(None)
            results.append(exc)
        else:
            plans.append(made or None)
            results.append(None)
    return plans, results


#: The savepoint each group of a group commit runs in, after a first try together failed.
GROUP_SAVEPOINT = "SAVEPOINT incident_flow_group"
GROUP_ROLLBACK = "ROLLBACK TO SAVEPOINT incident_flow_group"
GROUP_RELEASE = "RELEASE SAVEPOINT incident_flow_group"


#: An append's transaction is opened and committed by statements sent in its pipeline, not by
#: psycopg's ``transaction()``: inside a pipeline that one waits for the server at its BEGIN and
#: again at its COMMIT (a sync each), where these ride with the writes in the one round trip.
BEGIN = "BEGIN"
COMMIT = "COMMIT"

#: Said first in a transaction of delivery outcomes only: its commit does not wait for the WAL
#: flush (a crash of the server may lose it; the messages are then sent again, deduplicated).
LIGHT_COMMIT = "SET LOCAL synchronous_commit = off"


def append(  # noqa: PLR0917 - EventLog.append's arguments, in its order
    incident_id: str,
    expected_version: int,
    events: Sequence[Event],
    snapshot: Incident,
    outbox: Sequence[OutboxMessage],
    claimed_until: datetime | None,
    runbooks: Sequence[RunbookRevision] = (),
) -> Append:
    """The statements of one append (see :meth:`EventLog.append`).

    Raises:
        ValueError: the events' versions do not continue from ``expected_version``.
    """
    check_versions(expected_version, events)
    summary = incident_row(snapshot)
    if expected_version == 0:
        guard, params = _APPEND_NEW, (incident_id, *summary)
    else:
        guard, params = _APPEND_NEXT, (*summary, incident_id, expected_version)
    rows = [row[1:] for row in event_rows(incident_id, events)]
    messages = _last_upserts(outbox_rows(outbox, claimed_until))
    params = (*params, incident_id, _json_rows(rows), _json_rows(messages))
    batches: list[tuple[str, Rows]] = []
    if runbooks:
        batches.append((_INSERT_REVISION, revision_rows(runbooks)))
    if snapshot.grouped and routes_changed(events):
        routes = route_rows(incident_id, snapshot)
        batches.append((_DROP_ROUTES, [(incident_id,)]))
        if routes:
            written = micros(snapshot.updated_at)
            batches.append((_DROP_EXPIRED_ROUTE, [(r[0], written) for r in routes]))
            batches.append((_INSERT_ROUTE, routes))
    return Append(incident_id, expected_version, guard, params, tuple(batches))


def _json_rows(rows: Rows) -> str:
    """The rows as one JSON array of arrays: a single parameter, whatever their number."""
    return json.dumps(rows, separators=(",", ":"), ensure_ascii=False)


def _last_upserts(rows: Rows) -> Rows:
    """Outbox rows with one row per message id: what upserting them one by one would leave.

    One statement may not upsert a row twice. One by one, a later row replaces an earlier one
    unless that one was delivered (the upsert's ``WHERE NOT delivered``); the row the server
    holds already is then judged by the same rule against the one kept here.
    """
    kept: dict[str, tuple[Any, ...]] = {}
    for row in rows:
        earlier = kept.get(row[0])
        if earlier is None or not earlier[4]:  # row[4]: delivered
            kept[row[0]] = row
    return list(kept.values()) if len(kept) < len(rows) else rows


# -------------------------------------------------------------------------------------- reads


@attrs.frozen
class Query(Generic[T]):
    """One statement and what its rows mean; in a transaction when ``write``."""

    what: str
    text: str
    params: tuple[Any, ...]
    decode: Callable[[Rows], T]
    write: bool = False


def load(incident_id: str, after_version: int) -> Query[list[Event]]:
    """The events after ``after_version``, oldest first."""
    return Query("load", _LOAD, (incident_id, after_version), _events)


def runbook_revisions(after: int) -> Query[list[RunbookRevision]]:
    """The catalog's revisions after number ``after``, oldest first."""
    return Query("runbook revisions", _REVISIONS, (after,), _revisions)


def record_runbook(revision: RunbookRevision) -> Query[None]:
    """Keep a catalog revision made outside an incident (its key once)."""
    ((key, data),) = revision_rows([revision])
    return Query("recording a runbook revision", _RECORD_REVISION, (key, data), _nothing, True)


def _revisions(rows: Rows) -> list[RunbookRevision]:
    return [decode_revision(int(number), data) for number, data in rows]


def _nothing(rows: Rows) -> None:
    return None


def find_by_dedup_key(dedup_key: str) -> Query[str | None]:
    """The incident accepting alerts with this key (its own, or a grouped one's), or None."""
    return Query("dedup lookup", _FIND_DEDUP, (dedup_key, dedup_key), _first_id)


def save_silence(silence: Silence) -> Query[None]:
    """Keep a silence (replacing the one with its id)."""
    params = (
        silence.id,
        micros(silence.created_at),
        micros(silence.until),
        encode_silence(silence),
    )
    return Query("saving a silence", _SAVE_SILENCE, params, _nothing, write=True)


def silences(active_at: datetime | None) -> Query[list[Silence]]:
    """The silences (not over at ``active_at`` when given), oldest first."""
    after = -(2**62) if active_at is None else micros(active_at)
    return Query("silences", _SILENCES, (after,), _silences)


def save_override(override: Override) -> Query[None]:
    """Keep a schedule override (replacing the one with its id)."""
    params = (override.id, micros(override.start), micros(override.end), encode_override(override))
    return Query("saving an override", _SAVE_OVERRIDE, params, _nothing, write=True)


def overrides(active_after: datetime | None) -> Query[list[Override]]:
    """The overrides (ending after ``active_after`` when given), by start."""
    after = -(2**62) if active_after is None else micros(active_after)
    return Query("overrides", _OVERRIDES, (after,), _overrides)


def _overrides(rows: Rows) -> list[Override]:
    return [decode_override(row[0]) for row in rows]


def record_shifts(shifts: Sequence[Shift]) -> Query[None]:
    """Keep ended shifts, each once per (schedule, start): one statement for them all."""
    rows = shift_rows(shifts)
    params = (
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
    )
    return Query("recording shifts", _RECORD_SHIFTS, params, _nothing, write=True)


def recorded_shifts(schedule: str, start: datetime, end: datetime) -> Query[list[Shift]]:
    """The kept shifts of ``schedule`` overlapping [start, end), oldest first."""
    return Query("shifts", _SHIFTS, (schedule, micros(end), micros(start)), _shifts)


def shifts_recorded_until(schedule: str) -> Query[datetime | None]:
    """The end of the last kept shift of ``schedule``, or None."""
    return Query("shifts", _SHIFTS_UNTIL, (schedule,), _until)


def _shifts(rows: Rows) -> list[Shift]:
    return [shift_from_row(r[0], int(r[1]), int(r[2]), r[3]) for r in rows]


def _until(rows: Rows) -> datetime | None:
    return None if not rows or rows[0][0] is None else from_micros(int(rows[0][0]))


def _silences(rows: Rows) -> list[Silence]:
    return [decode_silence(row[0]) for row in rows]


def incident_ids(state: str | None) -> Query[list[str]]:
    """Incident ids, oldest first, optionally only those in ``state``."""
    if state is None:
        return Query("listing", "SELECT id FROM {s}.incidents ORDER BY seq", (), _ids)
    text = "SELECT id FROM {s}.incidents WHERE state = %s ORDER BY seq"
    return Query("listing", text, (state,), _ids)


def ping() -> Query[None]:
    """Read the schema version (one key of a small table): fails when the schema cannot."""
    return Query("ping", META_READ, (), _nothing)


def counts() -> Query[StoreCounts]:
    """Incidents by state and severity, and the outbox backlog, from the indexes."""
    params = ([k[0] for k in KINDS], [k[1] for k in KINDS], FINAL_STATE, FINAL_STATE)
    return Query("counting", _COUNTS, params, _counts)


def _counts(rows: Rows) -> StoreCounts:
    # By their shape, not their order: (state, severity, n), (closed, NULL, n), (NULL, NULL...).
    closed = next(int(r[2]) for r in rows if r[0] is not None and r[1] is None)
    pending, first = next((int(r[2]), r[3]) for r in rows if r[0] is None)
    return StoreCounts(
        incidents=[(str(r[0]), str(r[1]), int(r[2])) for r in rows if r[1] is not None],
        closed=closed,
        pending=pending,
        oldest_pending=None if first is None else decode_message(first).created_at,
    )


def due_incidents(now: datetime, limit: int) -> Query[list[str]]:
    """Incidents whose escalation is due, most overdue first (an index range)."""
    return Query("timers", _DUE, (micros(now), limit), _ids)


def claim_due(
    now: datetime, lease: timedelta, limit: int, ids: Collection[str] | None
) -> Query[list[OutboxMessage]]:
    """Claim due, unclaimed pending messages for ``lease`` (``FOR UPDATE SKIP LOCKED``)."""
    at, until = micros(now), micros(now + lease)
    if ids is None:
        return Query("claim", _CLAIM, (at, at, limit, until), _claimed, write=True)
    params = (at, at, list(ids), limit, until)
    return Query("claim", _CLAIM_IDS, params, _claimed, write=True)


def renew_claims(ids: Collection[str], until: datetime) -> Query[list[str]]:
    """Hold the claimed, pending messages among ``ids`` until ``until`` (never shorter)."""
    return Query("renewing claims", _RENEW, (micros(until), list(ids), micros(until)), _ids, True)


def outbox_messages(incident_id: str | None) -> Query[list[OutboxMessage]]:
    """Every outbox message (of one incident when given), delivered or not."""
    if incident_id is None:
        return Query("outbox listing", "SELECT data FROM {s}.outbox ORDER BY seq", (), _messages)
    text = "SELECT data FROM {s}.outbox WHERE incident_id = %s ORDER BY seq"
    return Query("outbox listing", text, (incident_id,), _messages)


def _events(rows: Rows) -> list[Event]:
    return [decode_event(row[0]) for row in rows]


def _messages(rows: Rows) -> list[OutboxMessage]:
    return [decode_message(row[0]) for row in rows]


def _ids(rows: Rows) -> list[str]:
    return [str(row[0]) for row in rows]


def _first_id(rows: Rows) -> str | None:
    return str(rows[0][0]) if rows else None


def _claimed(rows: Rows) -> list[OutboxMessage]:
    # RETURNING does not keep the CTE's order: sort by seq. A lease that ran out with no
    # outcome recorded comes back ``reclaimed``: its sender may have sent it.
    messages = []
    for _, data, was_claimed in sorted(rows):
        message = decode_message(data)
        messages.append(attrs.evolve(message, reclaimed=True) if was_claimed else message)
    return messages


# ---------------------------------------------------------------------------------------- SQL

_INSERT_REVISION = (
    "INSERT INTO {s}.runbook_revisions (key, data) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING"
)
# One row back (the number) keeps fetchall() happy; a key already there returns none.
_RECORD_REVISION = _INSERT_REVISION + " RETURNING number"
_REVISIONS = "SELECT number, data FROM {s}.runbook_revisions WHERE number > %s ORDER BY number"
#: The rest of an append's statement, after its ``guarded`` write of the incident's row: the
#: events and the outbox rows, each given as one JSON array of rows and taken in its order (the
#: outbox's ``seq`` follows it). Both read ``kept`` first, so nothing is written before the
#: guard held: a stale writer updates no row, and the division by the count of updated rows
#: aborts the statement (STALE_WRITER), so that an append is sent with its COMMIT in one round
#: trip. The statement answers one row for a writer that is not stale. One JSON parameter each
#: (made by the json module's C encoder, parsed once by the server as jsonb, whose strings keep
#: their text exactly) costs less, client and server together, than psycopg's array dumpers.
_APPEND_REST = """,
kept AS (SELECT 1 / count(*) AS one FROM guarded),
new_events AS (
    INSERT INTO {s}.events (incident_id, version, type, data)
    SELECT %s, (e.item ->> 0)::integer, e.item ->> 1, e.item ->> 2
    FROM kept, jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS e (item, n)
    ORDER BY e.n
),
new_messages AS (
    INSERT INTO {s}.outbox (id, incident_id, due, claimed_until, delivered, data)
    SELECT m.item ->> 0, m.item ->> 1, (m.item ->> 2)::bigint, (m.item ->> 3)::bigint,
        (m.item ->> 4)::boolean, m.item ->> 5
    FROM kept, jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS m (item, n)
    ORDER BY m.n
    ON CONFLICT (id) DO UPDATE SET
        due = excluded.due, claimed_until = excluded.claimed_until,
        delivered = excluded.delivered, data = excluded.data
    WHERE NOT {s}.outbox.delivered
)
SELECT one FROM kept
"""
#: An append that starts a stream: its row inserted (a second one with that id, or a second
#: incident accepting that dedup key, is refused by a unique key: Conflict).
_NEW_ROW = """
WITH guarded AS (
    INSERT INTO {s}.incidents (id, state, severity, dedup_key, accepts_alerts, version,
        updated_at, timer_at)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
    RETURNING 1
)"""
_APPEND_NEW = _NEW_ROW + _APPEND_REST
#: An append to a stream: its row updated only at the version the writer expected.
_NEXT_ROW = """
WITH guarded AS (
    UPDATE {s}.incidents SET state = %s, severity = %s, dedup_key = %s, accepts_alerts = %s,
        version = %s, updated_at = %s, timer_at = %s
    WHERE id = %s AND version = %s
    RETURNING 1
)"""
_APPEND_NEXT = _NEXT_ROW + _APPEND_REST
_LOAD = "SELECT data FROM {s}.events WHERE incident_id = %s AND version > %s ORDER BY version"
_DUE = (
    "SELECT id FROM {s}.incidents WHERE timer_at IS NOT NULL AND timer_at <= %s "
    "ORDER BY timer_at LIMIT %s"
)
_FIND_DEDUP = """
(SELECT id FROM {s}.incidents WHERE dedup_key = %s AND accepts_alerts)
UNION ALL (SELECT incident_id FROM {s}.alert_routes WHERE key = %s)
LIMIT 1
"""
# One statement, so one snapshot. Each (state, severity) of the incidents not closed is an
# index-only range count (a GROUP BY pays two collated string comparisons per row on top); the
# closed ones are counted by state alone; then the pending outbox: its count and the message
# queued first, from the pending index.
_COUNTS = """
SELECT k.state, k.severity, c.n, NULL FROM unnest(%s::text[], %s::text[]) AS k (state, severity)
CROSS JOIN LATERAL (
    SELECT count(*) AS n FROM {s}.incidents i WHERE i.state = k.state AND i.severity = k.severity
) AS c
UNION ALL SELECT %s, NULL, (SELECT count(*) FROM {s}.incidents WHERE state = %s), NULL
UNION ALL SELECT NULL, NULL, (SELECT count(*) FROM {s}.outbox WHERE NOT delivered),
    (SELECT data FROM {s}.outbox WHERE NOT delivered ORDER BY seq LIMIT 1)
"""
_DROP_ROUTES = "DELETE FROM {s}.alert_routes WHERE incident_id = %s"
# A group key whose deadline passed may be taken over by the group's next incident.
_DROP_EXPIRED_ROUTE = (
    "DELETE FROM {s}.alert_routes WHERE key = %s AND until_at IS NOT NULL AND until_at <= %s"
)
_INSERT_ROUTE = "INSERT INTO {s}.alert_routes (key, incident_id, until_at) VALUES (%s, %s, %s)"
# One row back keeps fetchall() happy.
_SAVE_SILENCE = """
INSERT INTO {s}.silences (id, created_at, until_at, data) VALUES (%s, %s, %s, %s)
ON CONFLICT (id) DO UPDATE SET until_at = excluded.until_at, data = excluded.data
RETURNING id
"""
_SILENCES = "SELECT data FROM {s}.silences WHERE until_at > %s ORDER BY created_at, id"
# One row back keeps fetchall() happy (a count, even for none).
_RECORD_SHIFTS = """
WITH kept AS (
    INSERT INTO {s}.shifts (schedule, start_at, end_at, people)
    SELECT * FROM unnest(%s::text[], %s::bigint[], %s::bigint[], %s::text[])
    ON CONFLICT (schedule, start_at) DO NOTHING
    RETURNING 1
)
SELECT count(*) FROM kept
"""
_SHIFTS = (
    "SELECT schedule, start_at, end_at, people FROM {s}.shifts WHERE schedule = %s "
    "AND start_at < %s AND end_at > %s ORDER BY start_at"
)
_SHIFTS_UNTIL = "SELECT max(end_at) FROM {s}.shifts WHERE schedule = %s"
_SAVE_OVERRIDE = """
INSERT INTO {s}.schedule_overrides (id, start_at, end_at, data) VALUES (%s, %s, %s, %s)
ON CONFLICT (id) DO UPDATE SET start_at = excluded.start_at, end_at = excluded.end_at,
    data = excluded.data
RETURNING id
"""
_OVERRIDES = "SELECT data FROM {s}.schedule_overrides WHERE end_at > %s ORDER BY start_at, id"
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
_RENEW = """
UPDATE {s}.outbox SET claimed_until = %s
WHERE id = ANY(%s) AND NOT delivered AND claimed_until IS NOT NULL AND claimed_until < %s
RETURNING id
"""
