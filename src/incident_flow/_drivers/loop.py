"""The loop every change goes through: load, decide, commit (+ outbox), then deliver.

:class:`Loop` holds what every concern's steps share: the settings, the incident cache, and
``_execute`` / ``_commit`` / ``_load``. The concerns' steps (``alerting``, ``oncall``,
``response``, ``review``, ``runbooks``, ``delivery``) subclass it, and :class:`FlowCore`
composes them. The steps a concern calls on another are named below under
``TYPE_CHECKING``: that list is the whole of what the concerns ask of each other.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

import attrs

from .._core import commands as cmd
from .._core import events as ev
from .._core.clock import SystemClock
from .._core.events import Event
from .._core.incident import Incident, fold
from .._core.log import OncePerCause, get_logger
from .._core.messages import OutboxMessage
from .._core.policy import Policy
from .._core.runbooks import RunbookCatalog
from .._core.steps import Steps, call
from .._core.storms import Silence
from .._delivery.pauses import Pauses
from .._response.decide import (
    Decision,
    decide,
)
from .._runbooks.catalog import Catalog, RunbookRevision
from ..exceptions import (
    ConcurrencyError,
    DeliveryError,
    IncidentNotFound,
    InvalidCommand,
    InvalidTransition,
    PolicyViolation,
)
from ..ports import Clock, StreamAppend
from ..schedules import Override, Schedules
from .locks import AsyncKeyedLocks, KeyedLocks

if TYPE_CHECKING:  # only the steps named below, for the type checker
    from .._responders.actions import Action
    from .._review.document import PostMortemDocument
    from .steps_outcomes import Unflushed

_log = get_logger("incident_flow")
_CACHE_SIZE = 4096
#: The events that only say how a delivery went.
_OUTCOMES = (ev.MessageDelivered, ev.DeliveryFailed)
_OUTCOME_TYPES = frozenset(_OUTCOMES)
#: The order of the channels when a batch of messages is sent: the pager first.
_FIRST = {"pager": 0, "chat": 1, "publisher": 2}


def _channel_order(message: OutboxMessage) -> int:
    return _FIRST.get(message.channel, 3)


_DELIVERY_RETRIES = 8
#: Tries at recording delivery outcomes while other processes append to the incident.
_OUTCOME_RETRIES = 32
#: How far back the first record of a schedule's shifts reaches.
_FIRST_RECORD = timedelta(days=35)
#: Run-time overrides ended longer ago than this are not read for decisions any more.
_OVERRIDES_KEPT = timedelta(days=1)

Decider = Callable[[Incident, datetime], Decision]
_Decided = TypeVar("_Decided", Decision, list[Decision])


def _utc(at: datetime) -> datetime:
    if at.utcoffset() is None:
        msg = f"a silence's times are timezone-aware, got {at!r}"
        raise InvalidCommand(msg)
    return at.astimezone(UTC)


def _outcomes_only(decision: Decision) -> bool:
    """True when a decision only records how deliveries went: nothing new to send or decide.

    Its events are delivery outcomes, and its outbox rows are the attempted messages settled
    (no message queued by it). Losing such an append on a power cut costs a message sent again
    under its idempotency key, never a decision.
    """
    # Sets and loops, not all() over generators: this runs on every commit.
    if not _OUTCOME_TYPES.issuperset(map(type, decision.events)):
        return False
    for message in decision.outbox:  # noqa: SIM110 - no generator per commit
        if message.attempts == 0:
            return False
    return True


def new_incident_id() -> str:
    """A fresh incident id: ``inc-`` and 12 hex digits."""
    return f"inc-{uuid.uuid4().hex[:12]}"


class Loop:
    """What both drivers share: the settings, the incident cache and every operation as steps."""

    policy: Policy
    clock: Clock
    lease: timedelta
    #: Per-incident and per-dedup-key locks (the driver's kind); the steps take them.
    _locks: KeyedLocks | AsyncKeyedLocks

    if TYPE_CHECKING:
        # Steps of the concerns that the loop and the other concerns call.
        def _active_silences(self) -> Steps[list[Silence]]: ...

        def _append_with_outcomes(self, appends: Sequence[StreamAppend]) -> Steps[bool]: ...

        def _fold(
            self,
            before: Incident | None,
            decision: Decision,
            now: datetime,
            *,
            light: bool,
            alone: bool,
        ) -> Steps[bool]: ...

        def _apply(self, action: Action) -> Steps[Incident]: ...

        def _claim_span(self) -> timedelta: ...

        def _deliver(self, messages: Sequence[OutboxMessage]) -> Steps[int]: ...

        def _document(
            self, events: Sequence[Event], incident: Incident | None = None
        ) -> PostMortemDocument: ...

        def _hold_new(self, outbox: Sequence[OutboxMessage], now: datetime) -> None: ...

        def _keeps_runbooks(self) -> bool: ...

        def _on_fresh_overrides(
            self, decide_it: Callable[[Policy], _Decided]
        ) -> Steps[_Decided]: ...

        def _poll_review(self, incident_id: str) -> Steps[Incident | None]: ...

        def _polls_reviews(self) -> bool: ...

        def _reads_the_catalog(self, incident_id: str, command: cmd.Command) -> bool: ...

        def _refresh_catalog(self) -> Steps[Catalog]: ...

        def _refresh_overrides(self) -> Steps[tuple[Override, ...]]: ...

        def _send_follow_up(self, message: OutboxMessage) -> Steps[str | None]: ...

    def __init__(
        self,
        policy: Policy,
        clock: Clock,
        lease: timedelta,
        new_id: Callable[[], str],
    ) -> None:
        self.policy = policy
        self.clock = clock
        self.lease = lease
        self._new_id = new_id
        self._cache: dict[str, Incident] = {}
        # Threads share one flow: the cache's writes (and its eviction) are one at a time.
        self._cache_lock = threading.Lock()
        # The runbook catalog: the policy's, then the store's revisions (re-read before the
        # decisions that consult it); the policy the decisions see carries it.
        self._catalog = Catalog(policy.runbooks)
        self._decided_for: tuple[Policy, RunbookCatalog, tuple[Override, ...]] | None = None
        self._decided_with = policy
        # What optional ports the store has, asked once per store (the host may replace it).
        self._abilities: tuple[object, dict[str, bool]] = (None, {})
        # Silences, for a store that keeps none (ports.SilenceLog is optional).
        self._kept_silences: dict[str, Silence] = {}
        # Schedule overrides made at run time, as last read (ports.OverrideLog is optional).
        self._overrides: tuple[Override, ...] = ()
        self._kept_overrides: dict[str, Override] = {}
        # Handoffs are said from here on (the worker's first turn says none of the past).
        self._notices_since: datetime | None = None
        # Channels paused after a failure: their messages wait, the others go on.
        self._pauses = Pauses()
        # Delivery failures said already: each is a warning once per incident, channel and
        # cause, not once per retry (a restart's backlog retrying for a minute says it once).
        self._failures_said = OncePerCause()
        # A driver that answers before it delivers takes the delivery steps here (the
        # service: the webhook's answer waits for the commit only); None: deliver inline.
        self._later: Callable[[Steps[int]], None] | None = None
        # Told (before, after) of each incident this flow commits: the service's MTTA and MTTR.
        self._on_commit: list[Callable[[Incident | None, Incident], None]] = []
        # Takeover in seconds (ports.ClaimRenewal): while a keeper renews this flow's claims
        # (the worker's, serve's), they are taken for ``_hold`` only, not the whole lease,
        # and renewed while they are being sent. ``_held``: each message this flow is
        # sending, and the most it may hold it (its claim's time and the lease).
        self._hold: timedelta | None = None
        self._held: dict[str, datetime] = {}
        self._held_lock = threading.Lock()
        # Delivery outcomes decided and not written yet, by incident (steps_outcomes): the
        # cache shows them; the next append carries them.
        self._unflushed: dict[str, Unflushed] = {}
        self._unflushed_lock = threading.Lock()

    def _now(self) -> datetime:
        """The clock's time in UTC (a naive answer is taken as UTC, as ``utcnow()`` gives).

        A clock answering in another zone (``+02:00``) is converted, so stored times, timers
        and the Markdown timeline are all UTC.
        """
        clock = self.clock
        if type(clock) is SystemClock:  # the default: its answer, without a call through it
            return datetime.now(UTC)
        now = clock.now()
        if now.tzinfo is UTC:
            return now  # the usual answer: checked first, as this runs dozens of times a command
        if now.utcoffset() is None:
            return now.replace(tzinfo=UTC)
        return now.astimezone(UTC)

    def _port(self, name: str) -> object:
        """The port a step names (``store``, ``notifier``, ``pager``, ``publisher``, ``_locks``)."""
        return getattr(self, name)

    def _execute(
        self,
        incident_id: str,
        decider: Decider,
        retries: int = 2,
    ) -> Steps[tuple[Incident, int]]:
        """Decide, append, deliver; return the incident and how many messages went out.

        The decision is first made on the cached incident, without reading the store: an
        append is checked by the store against the version it was decided on, so a stale
        cache can only cost a ConcurrencyError, a reload and a retry. A refusal or a decision
        to do nothing proves nothing about the stored incident, so those are re-made on a
        fresh read before they are believed.
        """
        cached = self._cache.get(incident_id)
        incident = cached if cached is not None else (yield from self._load(incident_id))
        fresh = cached is None
        conflicts = 0
        overrides_read = False
        while True:
            now = self._now()
            seen = self._overrides
            try:
                decision = decider(incident, now)
            except (InvalidTransition, PolicyViolation):
                if fresh:
                    raise
                incident, fresh = (yield from self._load(incident_id)), True
                continue
            if not decision.events:
                if fresh:
                    return incident, 0
                incident, fresh = (yield from self._load(incident_id)), True
                continue
            if not overrides_read and _pages(decision):
                # Whom it pages depends on the run-time overrides: made on those in the store.
                overrides_read = True
                if (yield from self._refresh_overrides()) != seen:
                    continue
            try:
                yield from self._commit(incident, decision, now)
            except ConcurrencyError:
                conflicts += 1
                if conflicts == retries:
                    self._forget(incident_id)
                    raise
                incident, fresh = (yield from self._load(incident_id)), True
                continue
            delivered = yield from self._deliver(decision.outbox)
            return self._cache.get(incident_id, decision.incident), delivered

    def _commit(self, before: Incident | None, decision: Decision, now: datetime) -> Steps[None]:
        incident = decision.incident
        revisions = catalog_revisions(incident, decision.events, self._catalog)
        keeps = bool(revisions) and self._keeps_runbooks()
        light = not revisions and _outcomes_only(decision)
        if self._unflushed and (
            yield from self._fold(before, decision, now, light=light, alone=keeps)
        ):
            pass  # written with this flow's unflushed delivery outcomes (steps_outcomes)
        elif light and self._lightly():
            # Delivery outcomes only: kept without a disk flush of their own (lost on a power
            # cut, the messages go again under their idempotency keys; see docs/reliability).
            one = self._append_of(before, decision, now, durable=False)
            yield ("store", "append_all", ([one],), {})  # as call() yields it
        else:
            # New messages are inserted already claimed by us: we deliver them right after the
            # commit, and no other sender may take them meanwhile (and no extra round trip).
            # (The call yielded as ``call`` would yield it: no generator of its own per commit.)
            yield (
                "store",
                "append",
                (incident.id, 0 if before is None else before.version, decision.events),
                {
                    "snapshot": incident,
                    "outbox": decision.outbox,
                    "claimed_until": now + self._claim_span(),
                    **({"runbooks": revisions} if keeps else {}),
                },
            )
        self._remember(incident)
        self._hold_new(decision.outbox, now)
        if keeps:
            yield from self._refresh_catalog()
        elif revisions:  # a store without a catalog: this process keeps what it learned
            self._catalog = self._catalog.extended(
                attrs.evolve(r, number=self._catalog.version + n)
                for n, r in enumerate(revisions, start=1)
            )
        self._committed(before, incident)

    def _committed(self, before: Incident | None, incident: Incident) -> None:
        """Log a change of state, and tell ``_on_commit`` (a failing watcher is logged only)."""
        _log_change(before, incident)
        for watcher in self._on_commit:
            try:
                watcher(before, incident)
            except Exception as exc:  # noqa: BLE001 - committed already: only the watcher failed
                _log.error(
                    "incident_flow.commit_watcher_failed",
                    incident_id=incident.id,
                    error=f"{type(exc).__name__}: {exc}",
                )

    def _lightly(self) -> bool:
        """Whether the store commits delivery outcomes without a disk flush of their own."""
        known_for, known = self._abilities
        if known_for is self.store:  # type: ignore[attr-defined]  # asked on every commit
            answer = known.get("_lightly")
            if answer is not None:
                return answer
        answer = self._store_can("light_appends", "append_all") and self._appends_all()
        self._abilities[1]["_lightly"] = answer
        return answer

    def _appends_all(self) -> bool:
        """Whether the store appends to several incidents in one transaction."""
        return self._store_can("appends_all", "append_all")

    def _append_of(
        self, before: Incident | None, decision: Decision, now: datetime, *, durable: bool
    ) -> StreamAppend:
        """The append that writes ``decision`` on ``before`` (``None``: a new incident)."""
        return StreamAppend(
            incident_id=decision.incident.id,
            expected_version=0 if before is None else before.version,
            events=decision.events,
            snapshot=decision.incident,
            outbox=decision.outbox,
            claimed_until=now + self._claim_span(),
            durable=durable,
        )

    def _commit_all(
        self, decided: Sequence[tuple[Incident | None, Decision]], now: datetime
    ) -> Steps[bool]:
        """Several incidents' decisions in one append; False when that is not possible.

        Not possible (nothing written): the store cannot, or a decision changes the runbook
        catalog. The caller then commits them one by one.
        """
        if not self._appends_all() or any(
            catalog_revisions(d.incident, d.events, self._catalog) for _, d in decided
        ):
            return False
        appends = [
            self._append_of(before, d, now, durable=not _outcomes_only(d)) for before, d in decided
        ]
        if not (self._unflushed and (yield from self._append_with_outcomes(appends))):
            yield from call("store", "append_all", appends)
        for before, d in decided:
            self._hold_new(d.outbox, now)
            self._remember(d.incident)
            self._committed(before, d.incident)
        return True

    def _store_can(self, flag: str, method: str) -> bool:
        """Whether the store has an optional port: a wrapper's ``flag``, else its ``method``.

        Asked once per store (the host may replace it): this runs on every command.
        """
        store = self.store  # type: ignore[attr-defined]  # what _port("store") answers
        known_for, known = self._abilities
        if known_for is not store:
            known = {}
            self._abilities = (store, known)
        answer = known.get(flag)
        if answer is None:
            said = getattr(store, flag, None)
            answer = known[flag] = bool(said) if said is not None else hasattr(store, method)
        return answer

    def _policy(self) -> Policy:
        """The policy the decisions see: its catalog as the stored revisions made it."""
        policy = self.policy
        if self._catalog.base is not policy.runbooks:  # the host set a new policy
            self._catalog = Catalog(policy.runbooks, self._catalog.revisions)
        runbooks = self._catalog.runbooks
        overrides = self._overrides
        known = self._decided_for
        if (  # identity checks: cheap, on every decision
            known is None
            or known[0] is not policy
            or known[1] is not runbooks
            or known[2] is not overrides
        ):
            self._decided_for = (policy, runbooks, overrides)
            schedules = policy.schedules.with_overrides(overrides)
            self._decided_with = _policy_with(policy, runbooks, schedules)
        return self._decided_with

    def _remember(self, incident: Incident) -> None:
        cache = self._cache
        with self._cache_lock:
            known = cache.get(incident.id)
            if known is not None and known.version > incident.version:
                return  # a thread that read earlier must not put an older incident back
            cache[incident.id] = incident
            if len(cache) > _CACHE_SIZE:
                del cache[next(iter(cache))]

    def _forget(self, incident_id: str) -> None:
        with self._cache_lock:
            self._cache.pop(incident_id, None)

    def _load(self, incident_id: str) -> Steps[Incident]:
        waiting = self._unflushed.get(incident_id) if self._unflushed else None
        if waiting is not None:  # its outcomes are not written yet: the store is behind
            return waiting.append.snapshot
        cached = self._cache.get(incident_id)
        events = yield from call(
            "store", "load", incident_id, cached.version if cached is not None else 0
        )
        if not events:
            if cached is None:
                raise IncidentNotFound(incident_id)
            return cached
        incident = fold(cached, events)
        self._remember(incident)
        return incident

    def _history(self, incident_id: str) -> Steps[list[Event]]:
        events: list[Event] = yield from call("store", "load", incident_id)
        if not events:
            raise IncidentNotFound(incident_id)
        return events

    def _incidents(self, state: str | None) -> Steps[list[Incident]]:
        ids = yield from call("store", "incident_ids", state)
        incidents = []
        for incident_id in ids:
            incidents.append((yield from self._load(incident_id)))  # noqa: PERF401 - yields
        return incidents

    def _attach(self, incident_id: str, decider: Decider) -> Steps[Incident | None]:
        """Decide an alert on the incident that takes it; None when it stopped taking it.

        Decided on the cached incident first (a stale one only costs a refused append and a
        retry); "it takes no alerts any more" is believed only of a fresh read.
        """
        yield from call("_locks", "acquire", incident_id)
        try:
            for fresh in (incident_id not in self._cache, True):
                try:
                    done, _ = yield from self._execute(
                        incident_id,
                        decider,
                        retries=_DELIVERY_RETRIES,  # never dropped lightly
                    )
                except _StoppedAcceptingAlerts:
                    if fresh:
                        return None
                    yield from self._load(incident_id)
                    continue
                return done
            return None  # pragma: no cover - the second turn always returns
        finally:
            self._locks.release(incident_id)

    def _command(self, incident_id: str, command: cmd.Command) -> Steps[Incident]:
        if self._reads_the_catalog(incident_id, command):
            yield from self._refresh_catalog()
        yield ("_locks", "acquire", (incident_id,), {})  # what call() yields, without its generator
        try:
            incident, _ = yield from self._execute(
                incident_id, lambda inc, now: decide(inc, command, self._policy(), now), retries=2
            )
        finally:
            self._locks.release(incident_id)
        return incident


class _FirstNotOut(DeliveryError):
    """A later chat message waits for its incident's first one (the channel is not down)."""


_CHANGES_A_RUNBOOK = frozenset({ev.RunbookAdded, ev.RunbookUpdated})


def catalog_revisions(
    incident: Incident, events: Sequence[Event], catalog: Catalog
) -> list[RunbookRevision]:
    """The catalog revisions an incident's new events make (a runbook added or updated)."""
    if _CHANGES_A_RUNBOOK.isdisjoint(map(type, events)):
        return []  # the usual case, on every commit: nothing to look at
    revisions: list[RunbookRevision] = []
    settled = [e.item_id for e in events if isinstance(e, ev.ActionItemCompleted)]
    learnings = (
        "; ".join(item.description for item in incident.action_items if item.id in settled) or None
    )
    for event in events:
        if isinstance(event, ev.RunbookAdded):
            runbook, note = event.runbook, f"added in {incident.id}"
        elif isinstance(event, ev.RunbookUpdated):
            known = catalog.get(event.name) or (
                incident.runbook
                if incident.runbook and incident.runbook.name == event.name
                else None
            )
            if known is None:
                continue
            runbook, note = known, event.note
        else:
            continue
        revisions.append(
            RunbookRevision(
                key=f"{incident.id}/{event.version}",
                runbook=runbook,
                change="updated" if catalog.get(runbook.name) is not None else "added",
                at=event.at,
                by=event.by or "system",
                note=note,
                incident_id=incident.id,
                learning=learnings,
            )
        )
    return revisions


# Its teams' views are not copied: made from the old catalog and schedules, they would be stale.
_POLICY_FIELDS = tuple(a.name for a in attrs.fields(Policy) if a.init)


def _policy_with(policy: Policy, runbooks: RunbookCatalog, schedules: Schedules) -> Policy:
    """``attrs.evolve(policy, runbooks=..., schedules=...)`` without re-running converters.

    Every field of ``policy`` was converted and checked when it was made, and the catalog and
    schedules given are of their final types (a converter would hand them back as they are):
    the catalog changes after every runbook update, and each change made a new policy.
    """
    new: Policy = object.__new__(Policy)
    put = object.__setattr__
    for name in _POLICY_FIELDS:
        put(new, name, getattr(policy, name))
    put(new, "runbooks", runbooks)
    put(new, "schedules", schedules)
    put(new, "_team_views", {})
    return new


def _pages(decision: Decision) -> bool:
    """Whether ``decision`` pages anybody (a new page: a retried one was decided already).

    The decisions that ask the schedules who is on call (``Policy.page_targets``) are exactly
    those that page, gaps included (a gap pages the next level, or nobody, loudly).
    """
    for m in decision.outbox:  # a loop, not any() over a generator: on every decision
        if m.channel == "pager" and m.kind == "page" and m.attempts == 0:
            return True
    return False


def _log_change(before: Incident | None, incident: Incident) -> None:
    if (before is None or before.state != incident.state) and _log.enabled(logging.INFO):
        _log.info(
            "incident_flow.state_changed",
            incident_id=incident.id,
            state=incident.state,
            previous=None if before is None else before.state,
            severity=str(incident.severity),
            version=incident.version,
        )


class _StoppedAcceptingAlerts(Exception):
    """The incident found by dedup key left the states that take its alerts before we wrote."""
