"""Pieces every store shares: checking an append, and the plain-data rows durable stores write."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import attrs

from ..._core.events import Event
from ..._core.incident import Incident
from ..._core.messages import OutboxMessage
from ..._core.process import FINAL_STATE, STATES
from ..._core.serialization import (
    converter,
    event_from_dict,
    event_to_dict,
    message_from_dict,
    message_to_dict,
)
from ..._core.severity import Severity
from ..._core.storms import Silence
from ..._runbooks.catalog import RunbookRevision
from ...exceptions import StorageError
from ...schedules._book import Shift
from ...schedules._model import Override

__all__ = [
    "KINDS",
    "SCHEMA_VERSION",
    "check_versions",
    "claimed_on_insert",
    "decode_event",
    "decode_message",
    "decode_override",
    "decode_revision",
    "decode_silence",
    "encode_event",
    "encode_message",
    "encode_override",
    "encode_silence",
    "event_rows",
    "from_micros",
    "incident_row",
    "live",
    "micros",
    "newer_schema",
    "outbox_rows",
    "revision_rows",
    "route_rows",
    "schema_version",
    "shift_from_row",
    "shift_rows",
]

_T = TypeVar("_T")

#: The schema version durable stores write; a database from a newer release is refused.
SCHEMA_VERSION = 4
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: Every (state, severity) an incident not closed may have: the durable stores count each by
#: an index range (a GROUP BY pays a comparison of two strings per row on top).
KINDS: tuple[tuple[str, str], ...] = tuple(
    (state, str(severity)) for state in STATES if state != FINAL_STATE for severity in Severity
)


def check_versions(expected_version: int, events: Sequence[Event]) -> None:
    """Refuse events whose versions do not continue the stream from ``expected_version``.

    Raises:
        ValueError: a gap, a repeat or a non-increasing version (a programming error).
    """
    for offset, event in enumerate(events, start=1):
        if event.version != expected_version + offset:
            msg = (
                f"event versions must continue from {expected_version}: "
                f"got {[e.version for e in events]}"
            )
            raise ValueError(msg)


def incident_row(snapshot: Incident) -> tuple[Any, ...]:
    """The indexed columns of an incident's row, times as microseconds.

    State, severity, dedup key, whether it accepts alerts, version, last change, next timer.
    """
    timer = snapshot.next_timer_at
    return (
        snapshot.state,
        str(snapshot.severity),
        snapshot.dedup_key,
        snapshot.accepts_alerts,
        snapshot.version,
        micros(snapshot.updated_at),
        None if timer is None else micros(timer),
    )


def event_rows(incident_id: str, events: Sequence[Event]) -> list[tuple[Any, ...]]:
    """``(incident_id, version, type, json)`` rows of the events."""
    return [(incident_id, e.version, e.type, encode_event(e)) for e in events]


def claimed_on_insert(message: OutboxMessage, claimed_until: datetime | None) -> bool:
    """Whether an append's ``claimed_until`` leases this message.

    New ones only (pending and never attempted); an upserted retry or outcome drops any claim.
    """
    return claimed_until is not None and message.pending and message.attempts == 0


def outbox_rows(
    outbox: Sequence[OutboxMessage], claimed_until: datetime | None
) -> list[tuple[Any, ...]]:
    """``(id, incident_id, due, claimed_until, delivered, json)`` rows of the messages."""
    claim = None if claimed_until is None else micros(claimed_until)
    return [
        (
            m.id,
            m.incident_id,
            micros(m.next_attempt_at),
            claim if claimed_on_insert(m, claimed_until) else None,
            not m.pending,
            encode_message(m),
        )
        for m in outbox
    ]


def micros(when: datetime) -> int:
    """A timezone-aware datetime as whole microseconds since the epoch (sortable, exact).

    Raises:
        StorageError: ``when`` is naive (a time a store cannot place).
    """
    if when.utcoffset() is None:
        msg = f"stores keep timezone-aware times only, got the naive {when!r}"
        raise StorageError(msg)
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def encode_event(event: Event) -> str:
    """The event as compact JSON."""
    return json.dumps(event_to_dict(event), separators=(",", ":"), ensure_ascii=False)


def decode_event(data: str | bytes | dict[str, Any]) -> Event:
    """An event from :func:`encode_event`'s JSON (or already parsed JSON).

    Raises:
        StorageError: the stored row is not a readable event (corruption or a newer writer).
    """
    try:
        parsed = data if isinstance(data, dict) else json.loads(data)
        if not isinstance(parsed, dict):
            msg = f"the row holds {type(parsed).__name__}, not a JSON object"
            raise ValueError(msg)
        return event_from_dict(parsed)
    except (ValueError, TypeError, RecursionError) as exc:
        msg = f"a stored event cannot be read: {exc}"
        raise StorageError(msg) from exc


def live(until: datetime | None, snapshot: Incident) -> bool:
    """Whether a routing key held until ``until`` still routes when ``snapshot`` is written."""
    return until is None or until > snapshot.updated_at


def route_rows(incident_id: str, snapshot: Incident) -> list[tuple[str, str, int | None]]:
    """``(key, incident_id, until)`` rows of the keys besides the dedup key that route here.

    See :meth:`Incident.alert_keys`: grouped alerts' keys, and the group's key while it is
    joinable (``until`` in microseconds; None: no deadline).
    """
    return [
        (key, incident_id, None if until is None else micros(until))
        for key, until in snapshot.alert_keys()
    ]


def shift_rows(shifts: Sequence[Shift]) -> list[tuple[str, int, int, str]]:
    """``(schedule, start, end, people json)`` rows of shifts (times in microseconds)."""
    return [
        (s.schedule, micros(s.start), micros(s.end), json.dumps(list(s.people))) for s in shifts
    ]


def shift_from_row(schedule: str, start: int, end: int, people: str) -> Shift:
    """A shift from its row."""
    return Shift(schedule, from_micros(start), from_micros(end), tuple(json.loads(people)))


def from_micros(value: int) -> datetime:
    """Microseconds since the epoch as a UTC datetime (the inverse of :func:`micros`)."""
    return _EPOCH + timedelta(microseconds=int(value))


def encode_override(override: Override) -> str:
    """A schedule override as compact JSON."""
    return json.dumps(converter.unstructure(override), separators=(",", ":"), ensure_ascii=False)


def decode_override(data: str | bytes | dict[str, Any]) -> Override:
    """A schedule override from :func:`encode_override`'s JSON.

    Raises:
        StorageError: the row is not a readable override.
    """
    return _structured(data, Override, "schedule override")


def _structured(data: str | bytes | dict[str, Any], cls: type[_T], what: str) -> _T:
    try:
        parsed = data if isinstance(data, dict) else json.loads(data)
        return converter.structure(parsed, cls)
    except Exception as exc:
        msg = f"a stored {what} cannot be read: {exc}"
        raise StorageError(msg) from exc


def encode_silence(silence: Silence) -> str:
    """A silence as compact JSON."""
    data = converter.unstructure(silence)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def decode_silence(data: str | bytes | dict[str, Any]) -> Silence:
    """A silence from :func:`encode_silence`'s JSON.

    Raises:
        StorageError: the row is not a readable silence.
    """
    return _structured(data, Silence, "silence")


def revision_rows(revisions: Sequence[RunbookRevision]) -> list[tuple[str, str]]:
    """``(key, json)`` rows of catalog revisions (the store numbers them)."""
    return [
        (r.key, json.dumps(converter.unstructure(r), separators=(",", ":"), ensure_ascii=False))
        for r in revisions
    ]


def decode_revision(number: int, data: str | bytes | dict[str, Any]) -> RunbookRevision:
    """A catalog revision from its row, with the number the store gave it.

    Raises:
        StorageError: the row is not a readable revision.
    """
    try:
        parsed = data if isinstance(data, dict) else json.loads(data)
        revision = converter.structure(parsed, RunbookRevision)
    except Exception as exc:
        msg = f"a stored runbook revision cannot be read: {exc}"
        raise StorageError(msg) from exc
    return attrs.evolve(revision, number=int(number))


def encode_message(message: OutboxMessage) -> str:
    """The outbox message as compact JSON."""
    return json.dumps(message_to_dict(message), separators=(",", ":"), ensure_ascii=False)


def decode_message(data: str | bytes | dict[str, Any]) -> OutboxMessage:
    """An outbox message from :func:`encode_message`'s JSON.

    Raises:
        StorageError: the stored row is not a readable message.
    """
    try:
        parsed = data if isinstance(data, dict) else json.loads(data)
        return message_from_dict(parsed)
    except Exception as exc:
        msg = f"a stored outbox message cannot be read: {exc}"
        raise StorageError(msg) from exc


def schema_version(row: tuple[Any, ...] | None, where: str) -> int:
    """The schema version a database's meta row says (1 before the row existed).

    Raises:
        StorageError: the value is not a whole number (the database is not ours, or damaged),
            or it is newer than this release reads.
    """
    if row is None:
        return 1
    try:
        found = int(str(row[0]).strip())
    except ValueError:
        msg = (
            f"{where} has a schema_version that is not a number ({row[0]!r}): not ours, or damaged"
        )
        raise StorageError(msg) from None
    if found > SCHEMA_VERSION:
        raise newer_schema(found, where)
    return found


def newer_schema(found: int, where: str) -> StorageError:
    """The error for a database written by a newer incident_flow."""
    return StorageError(
        f"{where} was created by a newer incident_flow (schema version {found}; this release "
        f"reads up to {SCHEMA_VERSION}): upgrade incident_flow to use it"
    )
