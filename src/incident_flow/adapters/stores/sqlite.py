"""SQLiteStore: the embedded durable store (standard library sqlite3, WAL, one file)."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal, Self

import attrs

from ..._core.events import Event
from ..._core.incident import Incident, routes_changed
from ..._core.messages import OutboxMessage
from ..._core.storms import Silence
from ..._runbooks.catalog import RunbookRevision
from ...exceptions import ConcurrencyError, StorageError
from ...ports import IncidentFilter, IncidentPage, StoreCounts, StreamAppend
from ...schedules._book import Shift
from ...schedules._model import Override
from ._common import (
    SCHEMA_VERSION,
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
    schema_version,
    shift_from_row,
    shift_rows,
)
from ._paging import page_from_rows, page_statement
from ._sqlite_sql import (
    _COUNT_PARAMS,
    _COUNTS,
    _DROP_EXPIRED_ROUTE,
    _DROP_ROUTES,
    _FIND_DEDUP,
    _INSERT_INCIDENT,
    _INSERT_REVISION,
    _INSERT_ROUTE,
    _MIGRATIONS,
    _RENEW_CLAIM,
    _SAVE_SILENCE,
    _SCHEMA,
    _UPDATE_INCIDENT,
    _UPDATE_UNINDEXED,
    _UPSERT_MESSAGE,
)

__all__ = ["SQLiteStore"]

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]


def _unindexed(summary: tuple[object, ...], expected_version: int) -> tuple[object, ...]:
    """``_UPDATE_UNINDEXED``'s parameters from ``incident_row`` + id (``_UPDATE_INCIDENT``'s)."""
    state, severity, dedup_key, accepts, version, updated_at, timer, incident_id = summary
    return (version, updated_at, incident_id, expected_version, state, severity, dedup_key,
            accepts, timer)  # fmt: skip


def _checked(
    groups: Sequence[Sequence[StreamAppend]], results: list[Exception | None]
) -> list[int]:
    """The indexes of the groups to write; a group of bad input gets its error in ``results``."""
    todo: list[int] = []
    for index, group in enumerate(groups):
        try:
            if not group:
                continue
            for one in group:
                check_versions(one.expected_version, one.events)
        except Exception as exc:  # noqa: BLE001 - bad input: refused alone, as its error
            results[index] = exc
        else:
            todo.append(index)
    return todo


def _reclaimed(message: OutboxMessage, was_claimed: bool) -> OutboxMessage:
    return attrs.evolve(message, reclaimed=True) if was_claimed else message


class SQLiteStore:
    """Events, the outbox and the incident index in one SQLite file.

    Every append is one ``BEGIN IMMEDIATE`` transaction (events, incident row and outbox
    together), so a crash loses nothing a caller saw succeed. WAL lets readers run beside the
    writer; several processes may share the file (``busy_timeout`` waits for the lock).

    Args:
        path: the database file (created with its folder when missing).
        synchronous: SQLite's ``synchronous`` setting. ``FULL`` (the default) makes every
            committed command survive a power cut; ``NORMAL`` survives a process crash but may
            lose the last commits on power loss, and is faster.
        busy_timeout: how long to wait for another process's write lock.

    Raises:
        StorageError: the file cannot be opened, is not a database, or was written by a newer
            incident_flow.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Synchronous = "FULL",
        busy_timeout: timedelta = timedelta(seconds=10),
    ) -> None:
        if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            msg = f"synchronous must be OFF, NORMAL, FULL or EXTRA, got {synchronous!r}"
            raise ValueError(msg)
        self.path = Path(path)
        self.synchronous = synchronous
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=busy_timeout.total_seconds(),
            )
            self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout.total_seconds() * 1000)}")
            try:
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute(f"PRAGMA synchronous = {synchronous}")
                self._migrate()
            except BaseException:
                self._db.close()
                raise
        except sqlite3.Error as exc:
            msg = f"cannot open the SQLite store {self.path}: {exc}"
            raise StorageError(msg) from exc
        except OSError as exc:
            msg = f"cannot open the SQLite store {self.path}: {exc.strerror or exc}"
            raise StorageError(msg) from exc

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r}, synchronous={self.synchronous!r})"

    def close(self) -> None:
        """Close the connection (the store cannot be used afterwards)."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _migrate(self) -> None:
        with self._transaction() as db:
            # executescript() would COMMIT the transaction, so run the statements one by one.
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            row = db.execute(
                "SELECT value FROM incident_flow_meta WHERE key = 'schema_version'"
            ).fetchone()
            found = schema_version(row, str(self.path))
            for version in range(found + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[version]:
                    db.execute(statement)
            db.execute(
                "INSERT INTO incident_flow_meta (key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(SCHEMA_VERSION),),
            )

    #: Delivery outcomes are committed without waiting for the disk (ports.StreamAppend).
    light_appends = True

    @contextmanager
    def _transaction(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction; sqlite3 errors become StorageError, rollback on any error.

        Not ``durable``: committed under ``synchronous = NORMAL`` (in WAL mode: no fsync of
        its own; consistent, and kept through a crash of the process, not a power cut; the
        next durable commit's fsync covers it too).
        """
        with self._lock:
            db = self._db
            light = not durable and self.synchronous in ("FULL", "EXTRA")
            try:
                if light:
                    db.execute("PRAGMA synchronous = NORMAL")
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                msg = f"SQLite store {self.path}: cannot start a transaction: {exc}"
                raise StorageError(msg) from exc
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    # A failed ROLLBACK must not hide the error that caused it.
                    with suppress(sqlite3.Error):
                        db.execute("ROLLBACK")
                raise
            finally:
                if light:
                    with suppress(sqlite3.Error):
                        db.execute(f"PRAGMA synchronous = {self.synchronous}")

    def _read(self, sql: str, params: Sequence[object]) -> list[tuple[object, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                msg = f"SQLite store {self.path}: read failed: {exc}"
                raise StorageError(msg) from exc

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
        one = StreamAppend(
            incident_id=incident_id,
            expected_version=expected_version,
            events=events,
            snapshot=snapshot,
            outbox=outbox,
            claimed_until=claimed_until,
        )
        self.append_all([one], runbooks=runbooks)

    def append_all(
        self, appends: Sequence[StreamAppend], *, runbooks: Sequence[RunbookRevision] = ()
    ) -> None:
        """Append to several incidents in one transaction: all of them, or none."""
        for one in appends:
            check_versions(one.expected_version, one.events)
        first = appends[0] if appends else None
        durable = any(one.durable for one in appends) or bool(runbooks)
        try:
            with self._transaction(durable=durable) as db:
                for one in appends:
                    self._write(db, one)
                if runbooks:
                    db.executemany(_INSERT_REVISION, revision_rows(runbooks))
        except sqlite3.IntegrityError as exc:
            # A duplicate (incident, version) or a second incident accepting one dedup key:
            # another writer got there first.
            assert first is not None  # noqa: S101 - nothing written, nothing refused
            raise ConcurrencyError(first.incident_id, first.expected_version) from exc
        except sqlite3.Error as exc:
            msg = f"SQLite store {self.path}: append failed: {exc}"
            raise StorageError(msg) from exc

    def append_each(self, groups: Sequence[Sequence[StreamAppend]]) -> list[Exception | None]:
        """Keep each group as ``append_all`` would, all in one transaction (group commit).

        Each group runs in a savepoint of its own: one that is refused (a stale version, a
        dedup key taken, bad input) is rolled back alone and its error returned in its place;
        the others are kept by the one commit. Durable unless every append is ``durable=False``.
        """
        results: list[Exception | None] = [None] * len(groups)
        todo = _checked(groups, results)
        if not todo:
            return results
        if len(todo) == 1:  # alone (a quiet service): its own transaction, no savepoint
            results[todo[0]] = self._append_alone(groups[todo[0]])
            return results
        durable = any(one.durable for index in todo for one in groups[index])
        try:
            with self._transaction(durable=durable) as db:
                for index in todo:
                    db.execute("SAVEPOINT incident_flow_group")
                    try:
                        for one in groups[index]:
                            self._write(db, one)
                    except (sqlite3.IntegrityError, ConcurrencyError) as exc:
                        db.execute("ROLLBACK TO incident_flow_group")
                        first = groups[index][0]
                        results[index] = (
                            exc
                            if isinstance(exc, ConcurrencyError)
                            else ConcurrencyError(first.incident_id, first.expected_version)
                        )
                    except sqlite3.Error:
                        raise  # the database itself failed: no group is kept
                    except Exception as exc:  # noqa: BLE001 - bad input: refused alone
                        db.execute("ROLLBACK TO incident_flow_group")
                        results[index] = exc
                    db.execute("RELEASE incident_flow_group")
        except sqlite3.Error as exc:
            msg = f"SQLite store {self.path}: append failed: {exc}"
            raise StorageError(msg) from exc
        return results

    def _append_alone(self, group: Sequence[StreamAppend]) -> Exception | None:
        """``append_each`` of one group: ``append_all``, its refusal returned, not raised."""
        try:
            self.append_all(group)
        except StorageError:
            raise  # the database itself failed
        except Exception as exc:  # noqa: BLE001 - refused (or bad input): as its error
            return exc
        return None

    @staticmethod
    def _write(db: sqlite3.Connection, one: StreamAppend) -> None:
        incident_id, snapshot = one.incident_id, one.snapshot
        summary = (*incident_row(snapshot), incident_id)
        # The incident's row, guarded by the version the writer decided on: a stale writer
        # updates nothing (a new stream collides on the id) and is refused.
        if one.expected_version == 0:
            db.execute(_INSERT_INCIDENT, summary)
        elif (
            db.execute(_UPDATE_UNINDEXED, _unindexed(summary, one.expected_version)).rowcount != 1
            and db.execute(_UPDATE_INCIDENT, (*summary, one.expected_version)).rowcount != 1
        ):
            raise ConcurrencyError(incident_id, one.expected_version)
        db.executemany(
            "INSERT INTO events (incident_id, version, type, data) VALUES (?, ?, ?, ?)",
            event_rows(incident_id, one.events),
        )
        if one.outbox:
            db.executemany(_UPSERT_MESSAGE, outbox_rows(one.outbox, one.claimed_until))
        if snapshot.grouped and routes_changed(one.events):
            routes = route_rows(incident_id, snapshot)
            db.execute(_DROP_ROUTES, (incident_id,))
            written = micros(snapshot.updated_at)
            db.executemany(_DROP_EXPIRED_ROUTE, [(r[0], written) for r in routes])
            db.executemany(_INSERT_ROUTE, routes)

    def record_runbook(self, revision: RunbookRevision) -> None:
        """Add a catalog revision made outside an incident (a second one with its key: none)."""
        try:
            with self._transaction() as db:
                db.executemany(_INSERT_REVISION, revision_rows([revision]))
        except sqlite3.Error as exc:
            msg = f"SQLite store {self.path}: recording a runbook revision failed: {exc}"
            raise StorageError(msg) from exc

    def runbook_revisions(self, after: int = 0) -> list[RunbookRevision]:
        """The catalog's revisions after number ``after``, oldest first."""
        rows = self._read(
            "SELECT number, data FROM runbook_revisions WHERE number > ? ORDER BY number",
            (after,),
        )
        return [decode_revision(int(str(row[0])), str(row[1])) for row in rows]

    def load(self, incident_id: str, after_version: int = 0) -> list[Event]:
        """Return the events after ``after_version``, oldest first."""
        rows = self._read(
            "SELECT data FROM events WHERE incident_id = ? AND version > ? ORDER BY version",
            (incident_id, after_version),
        )
        return [decode_event(str(row[0])) for row in rows]

    def find_by_dedup_key(self, dedup_key: str) -> str | None:
        """Return the incident accepting alerts with this key, or None."""
        rows = self._read(_FIND_DEDUP, (dedup_key, dedup_key))
        return str(rows[0][0]) if rows else None

    def save_override(self, override: Override) -> None:
        """Keep a schedule override (replacing the one with its id)."""
        row = (override.id, micros(override.start), micros(override.end), encode_override(override))
        try:
            with self._transaction() as db:
                db.execute(
                    "INSERT INTO schedule_overrides (id, start_at, end_at, data) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                    "start_at = excluded.start_at, end_at = excluded.end_at, data = excluded.data",
                    row,
                )
        except sqlite3.Error as exc:
            msg = f"SQLite store {self.path}: saving an override failed: {exc}"
            raise StorageError(msg) from exc

    def overrides(self, active_after: datetime | None = None) -> list[Override]:
        """The overrides (ending after ``active_after`` when given), by start."""
        after = -(2**62) if active_after is None else micros(active_after)
        rows = self._read(
            "SELECT data FROM schedule_overrides WHERE end_at > ? ORDER BY start_at, id", (after,)
        )
        return [decode_override(str(row[0])) for row in rows]

    def record_shifts(self, shifts: Sequence[Shift]) -> None:
        """Keep ended shifts, each once per (schedule, start)."""
        try:
            with self._transaction() as db:
                db.executemany(
                    "INSERT INTO shifts (schedule, start_at, end_at, people) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (schedule, start_at) DO NOTHING",
                    shift_rows(shifts),
                )
        except sqlite3.Error as exc:
            msg = f"SQLite store {self.path}: recording shifts failed: {exc}"
            raise StorageError(msg) from exc

    def recorded_shifts(self, schedule: str, start: datetime, end: datetime) -> list[Shift]:
        """The kept shifts of ``schedule`` overlapping [start, end), oldest first."""
        rows = self._read(
            "SELECT schedule, start_at, end_at, people FROM shifts WHERE schedule = ? "
            "AND start_at < ? AND end_at > ? ORDER BY start_at",
            (schedule, micros(end), micros(start)),
        )
        return [shift_from_row(str(r[0]), int(str(r[1])), int(str(r[2])), str(r[3])) for r in rows]

    def shifts_recorded_until(self, schedule: str) -> datetime | None:
        """The end of the last kept shift of ``schedule``, or None."""
        rows = self._read("SELECT MAX(end_at) FROM shifts WHERE schedule = ?", (schedule,))
        return None if not rows or rows[0][0] is None else from_micros(int(str(rows[0][0])))

    def save_silence(self, silence: Silence) -> None:
        """Keep a silence (replacing the one with its id)."""
        row = (
            silence.id,
            micros(silence.created_at),
            micros(silence.until),
            encode_silence(silence),
        )
        try:
            with self._transaction() as db:
                db.execute(_SAVE_SILENCE, row)
        except sqlite3.Error as exc:
            msg = f"SQLite store {self.path}: saving a silence failed: {exc}"
            raise StorageError(msg) from exc

    def silences(self, active_at: datetime | None = None) -> list[Silence]:
        """The silences (not over at ``active_at`` when given), oldest first."""
        after = -(2**62) if active_at is None else micros(active_at)
        rows = self._read(
            "SELECT data FROM silences WHERE until_at > ? ORDER BY created_at, id", (after,)
        )
        return [decode_silence(str(row[0])) for row in rows]

    def incident_ids(self, state: str | None = None) -> list[str]:
        """Return incident ids, oldest first, optionally only those in ``state``."""
        if state is None:
            rows = self._read("SELECT id FROM incidents ORDER BY seq", ())
        else:
            rows = self._read("SELECT id FROM incidents WHERE state = ? ORDER BY seq", (state,))
        return [str(row[0]) for row in rows]

    def incident_page(
        self, filters: IncidentFilter, *, cursor: str | None = None, limit: int = 50
    ) -> IncidentPage:
        """A page of the ids ``filters`` matches, newest first (see ``ports.IncidentQuery``)."""
        text, params = page_statement(filters, cursor, limit, dialect="sqlite")
        return page_from_rows(self._read(text, params), limit)

    def ping(self) -> None:
        """Read the schema version (one key of a small table): raise when the file cannot."""
        self._read("SELECT value FROM incident_flow_meta WHERE key = 'schema_version'", ())

    def counts(self) -> StoreCounts:
        """Incidents by state and severity, and the outbox backlog, from the indexes."""
        rows = self._read(_COUNTS, _COUNT_PARAMS)
        # By their shape: (state, severity, n), ('all', NULL, n), (NULL, NULL, pending, data).
        total = next(int(str(r[2])) for r in rows if r[0] is not None and r[1] is None)
        pending, first = next((int(str(r[2])), r[3]) for r in rows if r[0] is None)
        incidents = [(str(r[0]), str(r[1]), int(str(r[2]))) for r in rows if r[1] is not None]
        return StoreCounts(
            incidents=incidents,
            # A state this release does not know (a newer writer's) would count as closed.
            closed=total - sum(n for _, _, n in incidents),
            pending=pending,
            oldest_pending=None if first is None else decode_message(str(first)).created_at,
        )

    def due_incidents(self, now: datetime, *, limit: int = 100) -> list[str]:
        """Incidents whose escalation is due, most overdue first (an index range)."""
        rows = self._read(
            "SELECT id FROM incidents WHERE timer_at IS NOT NULL AND timer_at <= ? "
            "ORDER BY timer_at LIMIT ?",
            (micros(now), limit),
        )
        return [str(row[0]) for row in rows]

    def claim_due(
        self,
        now: datetime,
        *,
        lease: timedelta,
        limit: int = 100,
        ids: Collection[str] | None = None,
    ) -> list[OutboxMessage]:
        """Claim due, unclaimed pending messages for ``lease`` (in one write transaction)."""
        at, until = micros(now), micros(now + lease)
        only = ""
        params: list[object] = [until, at, at]
        if ids is not None:
            if not ids:
                return []
            only = f" AND id IN ({', '.join('?' * len(ids))})"
            params.extend(ids)
        params.append(limit)
        select = f"""
            SELECT seq, data, claimed_until IS NOT NULL FROM outbox
            WHERE delivered = 0 AND due <= ? AND (claimed_until IS NULL OR claimed_until <= ?)
            {only}
            ORDER BY seq LIMIT ?
        """  # noqa: S608 - only placeholders are interpolated
        try:
            with self._transaction() as db:
                rows = db.execute(select, params[1:]).fetchall()
                db.executemany(
                    "UPDATE outbox SET claimed_until = ? WHERE seq = ?",
                    [(until, seq) for seq, _, _ in rows],
                )
        except sqlite3.Error as exc:
            msg = f"SQLite store {self.path}: claim failed: {exc}"
            raise StorageError(msg) from exc
        # A lease that ran out with no outcome recorded: the sender may have sent it.
        return [_reclaimed(decode_message(str(data)), bool(was)) for _, data, was in rows]

    def renew_claims(self, ids: Collection[str], *, until: datetime) -> None:
        """Hold the claimed, pending messages among ``ids`` until ``until`` (never shorter).

        Committed without a flush of its own: a renewal lost on a power cut only lets the
        claims lapse sooner (the messages go again under their idempotency keys).
        """
        if not ids:
            return
        at = micros(until)
        try:
            with self._transaction(durable=False) as db:
                db.executemany(_RENEW_CLAIM, [(at, message_id) for message_id in ids])
        except sqlite3.Error as exc:
            msg = f"SQLite store {self.path}: renewing claims failed: {exc}"
            raise StorageError(msg) from exc

    def outbox_messages(self, incident_id: str | None = None) -> list[OutboxMessage]:
        """Every outbox message (of one incident when given), delivered or not; for inspection."""
        if incident_id is None:
            rows = self._read("SELECT data FROM outbox ORDER BY seq", ())
        else:
            rows = self._read(
                "SELECT data FROM outbox WHERE incident_id = ? ORDER BY seq", (incident_id,)
            )
        return [decode_message(str(row[0])) for row in rows]
