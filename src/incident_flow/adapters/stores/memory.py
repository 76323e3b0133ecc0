"""MemoryStore: the in-memory event store, a real adapter for tests, examples and scripts."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

import attrs

from ..._core.events import Event
from ..._core.incident import Incident, routes_changed
from ..._core.messages import OutboxMessage
from ..._core.process import FINAL_STATE
from ..._core.storms import Silence
from ..._runbooks.catalog import RunbookRevision
from ...exceptions import ConcurrencyError, InvalidCommand
from ...ports import IncidentFilter, IncidentPage, StoreCounts, StreamAppend
from ...schedules._book import Shift
from ...schedules._model import Override
from ._common import check_versions, live

__all__ = ["MemoryStore"]


class MemoryStore:
    """Keeps every stream and the outbox in memory; thread-safe; lost when the process ends.

    It passes the same contract suite as the durable stores: optimistic concurrency, atomic
    appends with the outbox, the dedup-key index and leased claims.
    """

    #: Never blocks: AsyncIncidentFlow calls it inline (see adapters.threaded).
    nonblocking = True

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._streams: dict[str, list[Event]] = {}
        # Each incident's (state, severity), and how many incidents have each: the counts.
        self._kinds: dict[str, tuple[str, str]] = {}
        self._counted: Counter[tuple[str, str]] = Counter()
        self._dedup: dict[str, str] = {}
        # Grouped alerts' keys and group keys (Incident.alert_keys): key -> (incident, until).
        self._routes: dict[str, tuple[str, datetime | None]] = {}
        self._routed: dict[str, tuple[str, ...]] = {}
        self._silences: dict[str, Silence] = {}
        self._shifts: dict[tuple[str, datetime], Shift] = {}
        self._overrides: dict[str, Override] = {}
        self._keys: dict[str, str] = {}
        self._outbox: dict[str, OutboxMessage] = {}
        self._pending: dict[str, None] = {}
        self._claims: dict[str, datetime] = {}
        self._timers: dict[str, datetime] = {}
        self._revisions: list[RunbookRevision] = []
        self._revision_keys: set[str] = set()
        # Each incident as of its last append: what a page of the list filters on.
        self._snapshots: dict[str, Incident] = {}

    def __repr__(self) -> str:
        return f"MemoryStore(incidents={len(self._streams)}, pending={len(self._pending)})"

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
        """Append events and upsert outbox messages atomically (see :class:`~.ports.EventLog`)."""
        # append_all of one, without building its StreamAppend: this runs on every command.
        check_versions(expected_version, events)
        with self._lock:
            self._check(incident_id, expected_version, events, snapshot, None)
            self._apply(incident_id, events, snapshot, outbox, claimed_until)
            self._record(runbooks)

    def append_all(
        self, appends: Sequence[StreamAppend], *, runbooks: Sequence[RunbookRevision] = ()
    ) -> None:
        """Append to several incidents at once: all of them, or none (ConcurrencyError)."""
        for one in appends:
            check_versions(one.expected_version, one.events)
        with self._lock:
            # The keys the batch's appends take, to refuse two taking one (none: one append).
            claimed: dict[str, str] | None = {} if len(appends) > 1 else None
            for one in appends:
                self._check(
                    one.incident_id, one.expected_version, one.events, one.snapshot, claimed
                )
            for one in appends:
                self._apply(
                    one.incident_id, one.events, one.snapshot, one.outbox, one.claimed_until
                )
            self._record(runbooks)

    def _check(
        self,
        incident_id: str,
        expected_version: int,
        events: Sequence[Event],
        snapshot: Incident,
        claimed: dict[str, str] | None,
    ) -> None:
        """Refuse an append the store (or an earlier one of the batch) would not take.

        ``claimed``: the keys the batch's earlier appends take (None: an append alone).
        """
        stream = self._streams.get(incident_id)
        current = 0 if stream is None else len(stream)

        def lost() -> ConcurrencyError:  # made only when refused: appends mostly succeed
            return ConcurrencyError(incident_id, expected_version, current)

        if current != expected_version:
            raise lost()
        if claimed is not None:
            if claimed.get(f"id:{incident_id}") is not None:
                raise lost()
            claimed[f"id:{incident_id}"] = incident_id
        keys = [snapshot.dedup_key] if snapshot.accepts_alerts else []
        holder = self._dedup.get(snapshot.dedup_key)
        if keys and holder not in (None, incident_id):
            # A second incident would accept the same alerts: the writer lost a race.
            raise lost()
        if snapshot.grouped and routes_changed(events):
            for route, _ in snapshot.alert_keys():
                taken = self._routes.get(route)
                if taken is not None and taken[0] != incident_id and live(taken[1], snapshot):
                    raise lost()
                keys.append(route)
        if claimed is not None:
            for key in keys:
                if claimed.setdefault(key, incident_id) != incident_id:
                    raise lost()  # two appends of the batch would take one key

    def _apply(
        self,
        incident_id: str,
        events: Sequence[Event],
        snapshot: Incident,
        outbox: Sequence[OutboxMessage],
        claimed_until: datetime | None,
    ) -> None:
        stream = self._streams.setdefault(incident_id, [])
        stream.extend(events)
        self._snapshots[incident_id] = snapshot
        self._count(incident_id, (snapshot.state, str(snapshot.severity)))
        timer = snapshot.next_timer_at
        if timer is None:
            self._timers.pop(incident_id, None)
        else:
            self._timers[incident_id] = timer
        key = snapshot.dedup_key
        self._keys[incident_id] = key
        if snapshot.accepts_alerts:
            self._dedup[key] = incident_id
        elif self._dedup.get(key) == incident_id:
            del self._dedup[key]
        if snapshot.grouped and routes_changed(events):
            self._route(incident_id, snapshot.alert_keys())
        for message in outbox:
            self._upsert(message, claimed_until)

    def _count(self, incident_id: str, kind: tuple[str, str]) -> None:
        known = self._kinds.get(incident_id)
        if known == kind:
            return
        if known is not None:
            self._counted[known] -= 1
            if not self._counted[known]:
                del self._counted[known]
        self._counted[kind] += 1
        self._kinds[incident_id] = kind

    def _route(self, incident_id: str, routes: Sequence[tuple[str, datetime | None]]) -> None:
        for route in self._routed.pop(incident_id, ()):
            if self._routes.get(route, ("",))[0] == incident_id:
                del self._routes[route]
        for route, until in routes:
            self._routes[route] = (incident_id, until)
        self._routed[incident_id] = tuple(route for route, _ in routes)

    def save_override(self, override: Override) -> None:
        """Keep a schedule override (replacing the one with its id)."""
        with self._lock:
            self._overrides[str(override.id)] = override

    def overrides(self, active_after: datetime | None = None) -> list[Override]:
        """The overrides (ending after ``active_after`` when given), by start."""
        with self._lock:
            kept = sorted(self._overrides.values(), key=lambda o: (o.start, str(o.id)))
        return kept if active_after is None else [o for o in kept if o.end > active_after]

    def record_shifts(self, shifts: Sequence[Shift]) -> None:
        """Keep ended shifts, each once per (schedule, start)."""
        with self._lock:
            for shift in shifts:
                self._shifts.setdefault((shift.schedule, shift.start), shift)

    def recorded_shifts(self, schedule: str, start: datetime, end: datetime) -> list[Shift]:
        """The kept shifts of ``schedule`` overlapping [start, end), oldest first."""
        with self._lock:
            kept = [s for (name, _), s in self._shifts.items() if name == schedule]
        return sorted((s for s in kept if s.start < end and s.end > start), key=lambda s: s.start)

    def shifts_recorded_until(self, schedule: str) -> datetime | None:
        """The end of the last kept shift of ``schedule``, or None."""
        with self._lock:
            ends = [s.end for (name, _), s in self._shifts.items() if name == schedule]
        return max(ends, default=None)

    def save_silence(self, silence: Silence) -> None:
        """Keep a silence (replacing the one with its id)."""
        with self._lock:
            self._silences[silence.id] = silence

    def silences(self, active_at: datetime | None = None) -> list[Silence]:
        """The silences (not over at ``active_at`` when given), oldest first."""
        with self._lock:
            kept = sorted(self._silences.values(), key=lambda s: (s.created_at, s.id))
        return kept if active_at is None else [s for s in kept if s.until > active_at]

    def _record(self, revisions: Sequence[RunbookRevision]) -> None:
        for revision in revisions:
            if revision.key not in self._revision_keys:
                self._revision_keys.add(revision.key)
                number = len(self._revisions) + 1
                self._revisions.append(attrs.evolve(revision, number=number))

    def record_runbook(self, revision: RunbookRevision) -> None:
        """Add a catalog revision made outside an incident (a second one with its key: none)."""
        with self._lock:
            self._record([revision])

    def runbook_revisions(self, after: int = 0) -> list[RunbookRevision]:
        """The catalog's revisions after number ``after``, oldest first."""
        with self._lock:
            return self._revisions[after:]

    def _upsert(self, message: OutboxMessage, claimed_until: datetime | None) -> None:
        message_id = message.id
        known = self._outbox.get(message_id)
        if known is not None and known.delivered_at is not None:
            return  # delivered stays delivered (a late failure changes nothing)
        self._outbox[message_id] = message
        pending = message.delivered_at is None  # message.pending, read once
        # claimed_on_insert(message, claimed_until), inline: this runs for every message.
        if claimed_until is not None and pending and message.attempts == 0:
            self._claims[message_id] = claimed_until
        else:
            self._claims.pop(message_id, None)
        if pending:
            self._pending[message_id] = None
        else:
            self._pending.pop(message_id, None)

    def load(self, incident_id: str, after_version: int = 0) -> list[Event]:
        """Return the events after ``after_version``, oldest first."""
        with self._lock:
            stream = self._streams.get(incident_id)
            return [] if stream is None else stream[after_version:]

    def find_by_dedup_key(self, dedup_key: str) -> str | None:
        """Return the incident accepting alerts with this key, or None."""
        found = self._dedup.get(dedup_key)
        if found is None:
            route = self._routes.get(dedup_key)
            found = None if route is None else route[0]
        return found

    def incident_ids(self, state: str | None = None) -> list[str]:
        """Return incident ids, oldest first, optionally only those in ``state``."""
        with self._lock:
            if state is None:
                return list(self._streams)
            return [i for i, (s, _) in self._kinds.items() if s == state]

    def incident_page(
        self, filters: IncidentFilter, *, cursor: str | None = None, limit: int = 50
    ) -> IncidentPage:
        """A page of the ids ``filters`` matches, newest first (see ``ports.IncidentQuery``).

        The cursor is the position (in the order they opened) of the page's last incident.
        """
        if cursor is not None and not cursor.isdigit():
            msg = f"not a cursor of this list: {cursor[:40]!r}"
            raise InvalidCommand(msg)
        with self._lock:
            order = list(self._streams)
            snapshots = self._snapshots
            position = len(order) if cursor is None else min(int(cursor), len(order))
            found: list[tuple[int, str]] = []
            while position > 0 and len(found) <= limit:
                position -= 1
                if filters.matches(snapshots[order[position]]):
                    found.append((position, order[position]))
        shown = found[:limit]
        more = str(shown[-1][0]) if len(found) > limit else None
        return IncidentPage(ids=tuple(i for _, i in shown), next_cursor=more)

    def ping(self) -> None:
        """Answer at once (the store is this process's memory)."""
        return

    def counts(self) -> StoreCounts:
        """Incidents by state and severity, and the outbox backlog (kept as they change)."""
        with self._lock:
            first = next(iter(self._pending), None)
            counted = self._counted.items()
            return StoreCounts(
                incidents=[(s, v, n) for (s, v), n in counted if s != FINAL_STATE],
                closed=sum(n for (s, _), n in counted if s == FINAL_STATE),
                pending=len(self._pending),
                oldest_pending=None if first is None else self._outbox[first].created_at,
            )

    def due_incidents(self, now: datetime, *, limit: int = 100) -> list[str]:
        """Incidents whose escalation is due, most overdue first."""
        with self._lock:
            due = sorted((at, i) for i, at in self._timers.items() if at <= now)
        return [incident_id for _, incident_id in due[:limit]]

    def claim_due(
        self,
        now: datetime,
        *,
        lease: timedelta,
        limit: int = 100,
        ids: Collection[str] | None = None,
    ) -> list[OutboxMessage]:
        """Claim due, unclaimed pending messages for ``lease``."""
        claimed: list[OutboxMessage] = []
        with self._lock:
            candidates = self._pending if ids is None else [i for i in ids if i in self._pending]
            for message_id in candidates:
                if len(claimed) >= limit:
                    break
                message = self._outbox[message_id]
                if message.next_attempt_at > now:
                    continue
                claimed_until = self._claims.get(message_id)
                if claimed_until is not None and claimed_until > now:
                    continue
                self._claims[message_id] = now + lease
                if claimed_until is not None:
                    message = attrs.evolve(message, reclaimed=True)
                claimed.append(message)
        return claimed

    def renew_claims(self, ids: Collection[str], *, until: datetime) -> None:
        """Hold the claimed, pending messages among ``ids`` until ``until`` (never shorter)."""
        with self._lock:
            for message_id in ids:
                held = self._claims.get(message_id)
                if held is not None and message_id in self._pending and held < until:
                    self._claims[message_id] = until

    def outbox_messages(self, incident_id: str | None = None) -> list[OutboxMessage]:
        """Every outbox message (of one incident when given), delivered or not; for inspection."""
        with self._lock:
            messages = self._outbox.values()
            return [m for m in messages if incident_id in (None, m.incident_id)]
