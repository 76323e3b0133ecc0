"""The ports: what the flow needs from the outside world, as small Protocols.

Host services satisfy them structurally, without inheriting from anything of ours. The contract
suites in :mod:`incident_flow.testing` pin what the core relies on; run them against your own
adapter.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

import attrs

from ._core.events import Event
from ._core.incident import Incident
from ._core.messages import Notification, OutboxMessage
from ._core.process import FINAL_STATE
from ._core.storms import Silence
from ._core.trackers import AsyncTracker, FollowUp, Tracker, TrackerIssue
from ._review.document import PostMortemDocument, ReviewStatus
from ._runbooks.catalog import RunbookRevision
from .schedules._book import Shift
from .schedules._model import Override

__all__ = [
    "AsyncChannelOpener",
    "AsyncEventStore",
    "AsyncNotifier",
    "AsyncPostMortemPublisher",
    "AsyncTracker",
    "BatchAppend",
    "ChannelOpener",
    "ClaimRenewal",
    "Clock",
    "CommandTransaction",
    "EventLog",
    "EventStore",
    "FollowUp",
    "GroupAppend",
    "IncidentFilter",
    "IncidentPage",
    "IncidentQuery",
    "Notifier",
    "Outbox",
    "OverrideLog",
    "PostMortemPublisher",
    "ReviewedPublisher",
    "RunbookLog",
    "ShiftLog",
    "SilenceLog",
    "StoreCounts",
    "StoreStats",
    "StreamAppend",
    "Timers",
    "Tracker",
    "TrackerIssue",
]


@runtime_checkable
class Clock(Protocol):
    """Where time comes from. The domain never calls ``datetime.now()`` itself."""

    def now(self) -> datetime:
        """Return the current time as a timezone-aware UTC datetime."""
        ...


class EventLog(Protocol):
    """Append-only streams of events, one per incident, with optimistic concurrency.

    The core relies on: ``append`` is atomic (all the events and outbox changes, or none);
    it raises :class:`~incident_flow.ConcurrencyError` when the stream's version is not
    ``expected_version``, or when it would open a second incident accepting alerts for one
    dedup key; ``load`` returns events in version order. It does not assume the store keeps
    the Python objects (a durable store serialises them; see ``incident_flow.testing``).
    """

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
        """Append ``events`` (versions ``expected_version + 1``...) and upsert ``outbox``.

        ``snapshot`` is the incident after the events; the store keeps what it indexes from
        it (state for listing, dedup key while ``snapshot.accepts_alerts``). An upserted
        message drops any claim on it; with ``claimed_until``, the new messages (pending, never
        attempted) are inserted already claimed by the caller until then, so that
        ``claim_due`` hands them to nobody else while the caller delivers them.
        """
        ...

    def load(self, incident_id: str, after_version: int = 0) -> list[Event]:
        """Return the incident's events with a version above ``after_version`` (maybe none)."""
        ...

    def find_by_dedup_key(self, dedup_key: str) -> str | None:
        """Return the id of the incident that accepts alerts with this key, or None.

        That is the incident whose ``dedup_key`` it is while ``accepts_alerts``, or, for a
        grouped incident (``snapshot.grouped``), one of ``snapshot.alert_keys()`` as of its
        last append whose events ``routes_changed`` (a grouped alert's key, the group's key).
        ``append`` refuses with ConcurrencyError a key another incident holds without a
        deadline or with a deadline after ``snapshot.updated_at``; an expired group key goes
        to its new holder.
        """
        ...

    def incident_ids(self, state: str | None = None) -> list[str]:
        """Return the ids of the incidents (in ``state`` when given), oldest first."""
        ...


class Outbox(Protocol):
    """The delivery side of the outbox, shared safely by several senders.

    The core relies on: a claimed message is not handed to another caller until its lease
    expires; a message is due when pending and ``next_attempt_at <= now``.
    """

    def claim_due(
        self,
        now: datetime,
        *,
        lease: timedelta,
        limit: int = 100,
        ids: Collection[str] | None = None,
    ) -> list[OutboxMessage]:
        """Claim up to ``limit`` due messages (only those in ``ids`` when given), oldest first."""
        ...


class ClaimRenewal(Protocol):
    """Claims held by a live sender, renewed while it sends (optional; takeover in seconds).

    A sender that renews its claims takes them for a short hold (seconds) instead of the
    whole lease, and renews them while it lives: should its process die, its messages are
    free again a hold later, not a lease later. A store without it is claimed for the lease.
    The core relies on: ``renew_claims`` moves the claim of each pending, claimed message
    among ``ids`` to ``until`` when that is later (it never shortens a claim); a message
    delivered, or freed by an upsert (a failed attempt's retry), is left as it is; an unknown
    id is ignored.
    """

    def renew_claims(self, ids: Collection[str], *, until: datetime) -> None:
        """Hold the claimed, pending messages among ``ids`` until ``until`` (or later)."""
        ...


class Timers(Protocol):
    """The incidents whose next timer (escalation or reminder) has run out, from an index.

    The core relies on: an incident is listed while ``snapshot.next_timer_at`` of its last
    append is at or before ``now``; the list is ordered by due time.
    """

    def due_incidents(self, now: datetime, *, limit: int = 100) -> list[str]:
        """Return up to ``limit`` incident ids whose next timer is due, most overdue first."""
        ...


class RunbookLog(Protocol):
    """The runbook catalog's revisions, kept beside the incidents (optional).

    A store without it keeps the policy's catalog and what this process adds to it. A store
    that has it also takes ``runbooks=`` (revisions) in ``append``, kept in the same
    transaction as the events that made them. The core relies on: a revision's ``key`` is
    kept once (writing it again changes nothing); revisions are numbered in increasing order
    (gaps allowed) as they are kept, and ``runbook_revisions`` returns them in that order.
    """

    def record_runbook(self, revision: RunbookRevision) -> None:
        """Keep a revision made outside an incident."""
        ...

    def runbook_revisions(self, after: int = 0) -> list[RunbookRevision]:
        """The revisions numbered above ``after``, oldest first."""
        ...


@attrs.frozen(kw_only=True)
class StreamAppend:
    """One incident's append, as :meth:`EventLog.append` takes it, for :class:`BatchAppend`."""

    incident_id: str
    expected_version: int
    events: Sequence[Event]
    snapshot: Incident
    outbox: Sequence[OutboxMessage] = ()
    claimed_until: datetime | None = None
    #: False for what may be lost on a power cut and redone: delivery outcomes only. A store
    #: that says ``light_appends`` commits a batch of only such appends without waiting for
    #: the disk (its decision, and every message it sends, were durable before); others
    #: may ignore it.
    durable: bool = True


class BatchAppend(Protocol):
    """Appends to several incidents in one transaction (optional; a storm's webhook body).

    The core relies on: all of them are kept, or none; ``ConcurrencyError`` when any one of
    them would be refused by ``append`` (the flow then appends them one by one).
    """

    def append_all(self, appends: Sequence[StreamAppend]) -> None:
        """Append each one as ``append`` would, atomically together."""
        ...


class GroupAppend(Protocol):
    """Appends of several callers in one transaction and one flush, each failing on its own.

    Optional: group commit. A store wrapper that serves concurrent callers (the threaded store,
    the async PostgreSQL store) gathers the appends that arrive together and hands them here.
    The core relies on: each group (the appends of one ``append`` or ``append_all`` call) is
    kept atomically, or not at all; a group refused (``ConcurrencyError``, bad input) changes
    nothing and does not stop the others, which are kept in the same commit; one commit for
    all of them, durable unless every append in it says ``durable=False``.
    """

    def append_each(self, groups: Sequence[Sequence[StreamAppend]]) -> list[Exception | None]:
        """Keep each group as ``append_all`` would, in one transaction; None or its error each.

        Raises:
            StorageError: the transaction itself failed (then no group was kept).
        """
        ...


class CommandTransaction(Protocol):
    """A command's unit of work (optional): its reads and its append in one transaction.

    ``IncidentFlow`` runs each command (``trigger``, ``apply`` and the incident commands)
    inside ``with store.transaction():``. The core relies on: the store's answers inside are
    what they would be outside; the first append inside commits what the command read with
    it (one transaction, not one per read); what follows that append runs as it would
    outside; a command left without an append ends its transaction with the block. A store
    without it runs each call in its own transaction (or none: an embedded store's reads).
    """

    def transaction(self) -> AbstractContextManager[None]:
        """Open the command's unit of work on this thread (nested ones join the outer one)."""
        ...


class SilenceLog(Protocol):
    """Silences, kept beside the incidents so every replica honours them (optional).

    A store without it leaves them to each flow (kept in the process). The core relies on:
    ``save_silence`` replaces the silence with the same id; ``silences`` returns them oldest
    first, only those whose ``until`` is after ``active_at`` when it is given.
    """

    def save_silence(self, silence: Silence) -> None:
        """Keep a silence (a new one, or one ended early, under its id)."""
        ...

    def silences(self, active_at: datetime | None = None) -> list[Silence]:
        """The silences (those not over at ``active_at`` when given), oldest first."""
        ...


class ShiftLog(Protocol):
    """The shifts of each schedule as they happened (optional).

    The worker records each shift once it has ended; who was on call in the past is read from
    here, not recomputed from today's policy. The core relies on: ``record_shifts`` keeps a
    shift once per (schedule, start) (writing it again changes nothing); ``recorded_shifts``
    returns those overlapping the period, oldest first; ``shifts_recorded_until`` is the end of
    the last one kept (None: none yet).
    """

    def record_shifts(self, shifts: Sequence[Shift]) -> None:
        """Keep ended shifts (each once)."""
        ...

    def recorded_shifts(self, schedule: str, start: datetime, end: datetime) -> list[Shift]:
        """The kept shifts of ``schedule`` overlapping [start, end), oldest first."""
        ...

    def shifts_recorded_until(self, schedule: str) -> datetime | None:
        """The end of the last kept shift of ``schedule``, or None."""
        ...


class OverrideLog(Protocol):
    """Schedule overrides made at run time (optional; ``incident-flow schedule override``).

    The core relies on: ``save_override`` replaces the one with the same ``id``; ``overrides``
    returns them by start, only those ending after ``active_after`` when it is given.
    """

    def save_override(self, override: Override) -> None:
        """Keep an override (a new one, or one cut short, under its id)."""
        ...

    def overrides(self, active_after: datetime | None = None) -> list[Override]:
        """The overrides (those ending after ``active_after`` when given), by start."""
        ...


def _counted(rows: Iterable[tuple[str, str, int]]) -> tuple[tuple[str, str, int], ...]:
    return tuple(sorted((str(s), str(v), int(n)) for s, v, n in rows if int(n) > 0))


@attrs.frozen(kw_only=True)
class StoreCounts:
    """What a store counts from its indexes (:class:`StoreStats`): a service's metrics.

    Attributes:
        incidents: ``(state, severity, count)`` of the incidents not closed, for each state
            and severity that has some, sorted (a severity as ``str(Severity)``: ``P1``...).
        closed: how many incidents are closed, by number only (it grows with the history:
            a store may count it without reading their severities).
        pending: the outbox messages not delivered yet.
        oldest_pending: when the pending message queued first was created (None: none is).
    """

    incidents: tuple[tuple[str, str, int], ...] = attrs.field(default=(), converter=_counted)
    closed: int = 0
    pending: int = 0
    oldest_pending: datetime | None = None

    def count(self, state: str | None = None, severity: str | None = None) -> int:
        """How many incidents are in ``state`` with ``severity`` (None: any).

        Closed incidents count for ``state`` None or ``closed``, with no ``severity`` asked.
        """
        found = sum(n for s, v, n in self.incidents if state in (None, s) and severity in (None, v))
        if state in (None, FINAL_STATE) and severity is None:
            found += self.closed
        return found


class StoreStats(Protocol):
    """Cheap answers for a service's probes (optional): ``/readyz`` and ``/metrics``.

    The core relies on: ``ping`` raises (StorageError) when the store cannot answer, in a time
    that does not grow with the incidents kept; ``counts`` agrees with ``incident_ids(state)``
    and with the outbox's pending messages, as of one moment, and reads indexes, never the
    events or the delivered messages. A store without it is asked ``due_incidents(now,
    limit=1)`` for readiness, and its open incidents are loaded for the metrics (slow with
    thousands).
    """

    def ping(self) -> None:
        """Ask the store one constant-time question; raise when it cannot answer."""
        ...

    def counts(self) -> StoreCounts:
        """Incidents by state and severity, and the outbox backlog, from the indexes."""
        ...


def _states(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(str(v) for v in value)


def _aware(instance: object, attribute: attrs.Attribute[datetime | None], value: object) -> None:
    if value is not None and (not isinstance(value, datetime) or value.utcoffset() is None):
        msg = f"IncidentFilter.{attribute.name} must be a timezone-aware datetime, got {value!r}"
        raise ValueError(msg)


@attrs.frozen(kw_only=True)
class IncidentFilter:
    """Which incidents a list shows (:class:`IncidentQuery`); every condition given must hold.

    Attributes:
        states: the states it may be in (empty: any).
        severity: its severity now (``P1``...), or None for any.
        source: its first alert's source (``datadog``...), or None.
        service: its first alert's service, or None.
        opened_from, opened_before: it opened at or after / before these times (None: open
            ended).
    """

    states: tuple[str, ...] = attrs.field(default=(), converter=_states)
    severity: str | None = None
    source: str | None = None
    service: str | None = None
    opened_from: datetime | None = attrs.field(default=None, validator=_aware)
    opened_before: datetime | None = attrs.field(default=None, validator=_aware)

    def matches(self, incident: Incident) -> bool:
        """Whether ``incident`` is one the filter shows (what every store must agree with)."""
        opened = incident.created_at
        return (
            (not self.states or incident.state in self.states)
            and (self.severity is None or str(incident.severity) == self.severity)
            and (self.source is None or incident.alert.source == self.source)
            and (self.service is None or incident.service == self.service)
            and (self.opened_from is None or opened >= self.opened_from)
            and (self.opened_before is None or opened < self.opened_before)
        )


@attrs.frozen(kw_only=True)
class IncidentPage:
    """One page of a list: the ids (newest first), and where the next page starts.

    Attributes:
        ids: the incidents' ids, the newest opened first.
        next_cursor: pass it back for the next page (None: this is the last one).
        incidents: the incidents themselves (the flow's ``incident_page`` fills them in; a
            store gives the ids only).
    """

    ids: tuple[str, ...] = ()
    next_cursor: str | None = None
    incidents: tuple[Incident, ...] = ()


class IncidentQuery(Protocol):
    """A page of the incidents a filter matches, from indexes (optional: the web console).

    A store without it is listed by loading every incident of the states asked
    (``incident_ids``) and filtering them in the process: slow with thousands. The core
    relies on: the ids are those :meth:`IncidentFilter.matches` accepts (as of each
    incident's last append), newest opened first, at most ``limit``; following
    ``next_cursor`` gives the rest, each once, in the same order; a cursor is opaque text the
    store made, and one it did not make raises ``InvalidCommand``.
    """

    def incident_page(
        self, filters: IncidentFilter, *, cursor: str | None = None, limit: int = 50
    ) -> IncidentPage:
        """Up to ``limit`` ids matching ``filters``, after ``cursor``, newest first."""
        ...


class EventStore(EventLog, Outbox, Timers, Protocol):
    """What :class:`~incident_flow.IncidentFlow` takes as ``store``: events, outbox, timers."""


@runtime_checkable
class Notifier(Protocol):
    """A chat channel (Slack) or a pager (PagerDuty, Opsgenie).

    ``send`` either delivers and returns a receipt (a message ts, an event id; or None), or
    raises. :class:`~incident_flow.DeliveryError` says what the receiver answered and may ask
    for a delay; any other exception is also treated as a failed attempt. Either way the
    message stays pending and is retried with the same ``idempotency_key``.
    """

    def send(self, message: Notification) -> str | None:
        """Deliver one message; return a receipt or None."""
        ...


@runtime_checkable
class ChannelOpener(Protocol):
    """A chat that opens a channel per incident (optional, beside ``send``; Slack's is one).

    ``incident_channel`` gets the chat messages about the incident's own channel, by
    ``message.kind``: ``channel`` opens the channel named ``message.room`` (idempotently:
    a retry or another replica must find the one it opened, never open a second), invites
    ``message.to`` (the chat's user ids), posts the incident's message there and a pointer
    in ``message.thread``, and returns ``CHANNEL:MESSAGE`` (later messages go to MESSAGE's
    channel); ``invite`` invites ``message.to`` to the channel ``message.room``; ``archive``
    archives it. A permanent :class:`~incident_flow.DeliveryError` when opening (a name
    taken by a channel not ours) keeps the incident in its thread; any other failure is
    retried. A notifier without it opens no channels: the incident stays in its thread.
    """

    def incident_channel(self, message: Notification) -> str | None:
        """Open, invite to or archive the incident's channel; the receipt (see the class)."""
        ...


@runtime_checkable
class PostMortemPublisher(Protocol):
    """Saves a post-mortem (a folder, a git branch, a pull request).

    Publishing the same incident again must update, not duplicate, what it saved.
    """

    def publish(self, document: PostMortemDocument) -> str:
        """Save the document and return where it is (a path or a URL)."""
        ...


@runtime_checkable
class ReviewedPublisher(PostMortemPublisher, Protocol):
    """A publisher that keeps the post-mortem on a branch where it is reviewed, then merges it.

    Optional, beside ``publish`` (which opens or updates the branch and its pull request when
    the post-mortem is submitted): ``GitHubPublisher`` and ``GitPublisher`` are ones. A
    publisher without these saves the post-mortem with ``publish`` once approved, by command.
    """

    #: Where approvals come from: ``pull_request`` (its reviews) or ``branch`` (by command).
    review: str

    def merge(self, document: PostMortemDocument) -> str:
        """Merge the approved post-mortem into the base branch; return where it is now.

        A branch merged already (by a person) is not an error: return its location.
        """
        ...

    def review_status(self, document: PostMortemDocument) -> ReviewStatus:
        """Its reviews, whether it is merged or closed unmerged, and its text on the branch."""
        ...


# ------------------------------------------------------------------------------------ async
# The same ports for AsyncIncidentFlow: same methods, same contracts, awaitable. The async
# flow also takes a sync port: one that says it never blocks (``nonblocking = True``, as the
# memory store and the recording doubles do) is called inline, any other runs on a thread.


class AsyncEventStore(Protocol):
    """:class:`EventStore` for :class:`~incident_flow.AsyncIncidentFlow`: every method awaitable."""

    async def append(
        self,
        incident_id: str,
        expected_version: int,
        events: Sequence[Event],
        *,
        snapshot: Incident,
        outbox: Sequence[OutboxMessage] = (),
        claimed_until: datetime | None = None,
    ) -> None:
        """See :meth:`EventLog.append`."""
        ...

    async def load(self, incident_id: str, after_version: int = 0) -> list[Event]:
        """See :meth:`EventLog.load`."""
        ...

    async def find_by_dedup_key(self, dedup_key: str) -> str | None:
        """See :meth:`EventLog.find_by_dedup_key`."""
        ...

    async def incident_ids(self, state: str | None = None) -> list[str]:
        """See :meth:`EventLog.incident_ids`."""
        ...

    async def claim_due(
        self,
        now: datetime,
        *,
        lease: timedelta,
        limit: int = 100,
        ids: Collection[str] | None = None,
    ) -> list[OutboxMessage]:
        """See :meth:`Outbox.claim_due`."""
        ...

    async def due_incidents(self, now: datetime, *, limit: int = 100) -> list[str]:
        """See :meth:`Timers.due_incidents`."""
        ...


@runtime_checkable
class AsyncNotifier(Protocol):
    """:class:`Notifier` with an awaitable ``send`` (same receipts, same errors)."""

    async def send(self, message: Notification) -> str | None:
        """Deliver one message; return a receipt or None."""
        ...


@runtime_checkable
class AsyncChannelOpener(Protocol):
    """:class:`ChannelOpener` with an awaitable ``incident_channel``."""

    async def incident_channel(self, message: Notification) -> str | None:
        """Open, invite to or archive the incident's channel; the receipt."""
        ...


@runtime_checkable
class AsyncPostMortemPublisher(Protocol):
    """:class:`PostMortemPublisher` with an awaitable ``publish``."""

    async def publish(self, document: PostMortemDocument) -> str:
        """Save the document and return where it is (a path or a URL)."""
        ...
