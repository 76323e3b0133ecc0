"""The flow's one copy of load -> decide -> append (+ outbox) -> deliver, as steps.

:class:`IncidentFlow` and :class:`AsyncIncidentFlow` are thin drivers around :class:`FlowCore`:
every operation here is a generator of port calls (see :mod:`._steps`), which the sync driver
performs by calling its ports and the async one by awaiting them. The decisions themselves are
the pure functions of :mod:`._decide` and :mod:`._actions`.

Map: follow one alert, then one responder's action (port calls in brackets)::

    trigger(alert)
      _trigger     lock "alert:<dedup key>"
      _route       [store.find_by_dedup_key]
                     an open incident takes it: _attach -> _execute(_on_alert) (repeat, recovery)
                     none does: [store.silences] a silence in force?  a grouping rule's key?
                       [store.find_by_dedup_key(group key)] its incident joinable: _join
                       else: decide_new (grouped, held, or silenced) -> _commit -> _deliver
    trigger_all(alerts)  _to_open_incidents: _decide_together (every incident's alerts, one
                   [store.append_all]), else an _execute per incident; _to_new_incidents:
                   _open_together (ungrouped new alerts, one append_all), else _trigger each,
                   a new group's others in one _joins
    apply(action)  lock the incident; person = policy.people.name(...); _execute(decide_action)
                   (pushed commits: record_action, then _poll_review reads the branch)
    acknowledge(...) and every other command: lock the incident; _execute(decide)

    _execute       the loop every change goes through: decide on the cached incident (else
                   _load); a refusal or a no-op decided on the cache is re-decided on a fresh
                   _load before it is believed; _commit, and on ConcurrencyError _load and
                   decide again (up to ``retries``); then _deliver what the commit queued
    _load          [store.load(id, after the cached version)] -> fold -> the cache
    _commit        [store.append(id, expected version, events, snapshot, outbox claimed)]
    _deliver       -> _settle: per incident, _attempt each message while half the lease is
                   left, then _record
    _attempt       _send [notifier.send | pager.send | store.load + publisher.publish/merge]
    _record        _execute(decide_outcomes): MessageDelivered / DeliveryFailed events (a
                   publisher's merge publishes the post-mortem there)

    escalate_due, remind_due   _run_timers [store.due_incidents] -> _execute(decider) each
                   (a silenced incident's timer is its silence's end: decide_release)
    silence, end_silence       [store.save_silence]; ending one: _release_silenced
    deliver_pending            [store.claim_due] -> _settle, until nothing is due
    poll_reviews   [store.incident_ids("postmortem")] -> _poll_review each: [store.load]
                   [publisher.review_status] -> status_changes -> _command(revise), _apply(...)

The ports are named ``store``, ``notifier``, ``pager`` and ``publisher``; the clock is read
directly (a clock never blocks), through ``FlowCore._now``, which keeps every time in UTC.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TypeVar

import attrs

from .._core import commands as cmd
from .._core import events as ev
from .._core.alerts import Alert
from .._core.events import Event
from .._core.incident import Incident, fold
from .._core.log import OncePerCause, get_logger
from .._core.messages import Notification, OutboxMessage, backoff
from .._core.policy import Policy
from .._core.runbooks import Runbook, RunbookCatalog
from .._core.severity import Severity
from .._core.steps import Steps, call
from .._core.storms import GroupingRule, LabelMatcher, Silence, group_key, matching_silence
from .._delivery.pauses import Pauses
from .._responders.actions import READ_AGAIN, Action, decide_action, record_action, status_changes
from .._response.decide import (
    Decision,
    Outcome,
    decide,
    decide_escalation,
    decide_join,
    decide_new,
    decide_outcomes,
    decide_release,
    decide_reminder,
)
from .._review.document import PostMortemDocument
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
from ..schedules import Override, Schedules, Shift
from ..schedules._book import notices
from .locks import AsyncKeyedLocks, KeyedLocks

__all__ = ["FlowCore", "new_incident_id"]

_log = get_logger("incident_flow")
_CACHE_SIZE = 4096
#: The events that only say how a delivery went.
_OUTCOMES = (ev.MessageDelivered, ev.DeliveryFailed)
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
    return all(type(e) in _OUTCOMES for e in decision.events) and all(
        m.attempts > 0 for m in decision.outbox
    )


def new_incident_id() -> str:
    """A fresh incident id: ``inc-`` and 12 hex digits."""
    return f"inc-{uuid.uuid4().hex[:12]}"


class FlowCore:
    """What both drivers share: the settings, the incident cache and every operation as steps."""

    policy: Policy
    clock: Clock
    lease: timedelta
    #: Per-incident and per-dedup-key locks (the driver's kind); the steps take them.
    _locks: KeyedLocks | AsyncKeyedLocks

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

    def _now(self) -> datetime:
        """The clock's time in UTC (a naive answer is taken as UTC, as ``utcnow()`` gives).

        A clock answering in another zone (``+02:00``) is converted, so stored times, timers
        and the Markdown timeline are all UTC.
        """
        now = self.clock.now()
        if now.tzinfo is UTC:
            return now  # the usual answer: checked first, as this runs dozens of times a command
        if now.utcoffset() is None:
            return now.replace(tzinfo=UTC)
        return now.astimezone(UTC)

    def _port(self, name: str) -> object:
        """The port a step names (``store``, ``notifier``, ``pager``, ``publisher``, ``_locks``)."""
        return getattr(self, name)

    # ----------------------------------------------------------------- commands

    def _trigger(self, alert: Alert) -> Steps[Incident]:
        if not isinstance(alert, Alert):
            msg = f"trigger takes an Alert, got {type(alert).__name__}"
            raise InvalidCommand(msg)
        key = f"alert:{alert.dedup_key}"
        yield from call("_locks", "acquire", key)
        try:
            return (yield from self._route(alert))
        finally:
            self._locks.release(key)

    def _route(self, alert: Alert) -> Steps[Incident]:
        for _ in range(3):
            existing = yield from call("store", "find_by_dedup_key", alert.dedup_key)
            if existing is not None:
                done = yield from self._attach(
                    existing, lambda inc, now: _on_alert(inc, alert, self._policy(), now)
                )
                if done is not None:
                    return done
                continue  # it moved on to its post-mortem meanwhile: look again
            if not alert.firing:
                raise IncidentNotFound(
                    alert.dedup_key, f"no open incident for resolved alert {alert.dedup_key!r}"
                )
            silences = yield from self._active_silences()
            now = self._now()
            silence = matching_silence(silences, alert, now)
            grouped = group_key(self.policy.grouping, alert)
            if grouped is not None and silence is not None:
                # Silenced alerts group among themselves, apart from the group's live alerts.
                grouped = (grouped[0], f"{grouped[1]}|{silence.id}")
            if grouped is not None:
                holder = yield from call("store", "find_by_dedup_key", grouped[1])
                if holder is not None:
                    done, apart = yield from self._join(holder, alert, grouped, silence)
                    if done is not None:
                        return done  # joined the group's incident
                    if apart:
                        grouped = None  # the group is held by the other side: open alone
            yield from self._refresh_catalog()  # a runbook any replica added is this alert's
            now = self._now()
            decision = yield from self._on_fresh_overrides(
                partial(decide_new, self._new_id(), alert, now=now, group=grouped, silence=silence)
            )
            incident = decision.incident
            try:
                yield from self._commit(None, decision, now)
            except ConcurrencyError:
                continue  # another writer opened it (or its group) first: attach to theirs
            yield from self._deliver(decision.outbox)
            return self._cache.get(incident.id, incident)
        raise ConcurrencyError(alert.dedup_key, 0)

    def _trigger_all(self, alerts: Sequence[Alert]) -> Steps[list[Incident | None]]:
        """Route many alerts (one webhook body) in a few transactions.

        The alerts open incidents take (repeats, recoveries) are decided one after the other
        on each and appended together, every incident in one ``append_all`` where the store
        has it; new alerts no rule groups open their incidents in one more; the first alert
        of a new group opens (or joins) its incident and the rest of the group joins it in one
        append. Anything else (a silence in force, an incident that stopped taking alerts, a
        refused batch) goes through :meth:`_trigger` one by one. ``None`` for a recovery of
        nothing open.
        """
        for alert in alerts:
            if not isinstance(alert, Alert):
                msg = f"trigger_all takes Alerts, got {type(alert).__name__}"
                raise InvalidCommand(msg)
        found: list[Incident | None] = [None] * len(alerts)
        rest = yield from self._to_open_incidents(alerts, found)
        if rest:  # else every alert repeated an open incident (a storm's usual body): no read
            yield from self._to_new_incidents(alerts, rest, found)
        return found

    def _to_open_incidents(
        self, alerts: Sequence[Alert], found: list[Incident | None]
    ) -> Steps[list[int]]:
        """Decide, per open incident, the alerts it takes in one append; the others' indexes."""
        by_incident: dict[str, list[int]] = {}
        rest: list[int] = []
        for index, alert in enumerate(alerts):
            holder = yield from call("store", "find_by_dedup_key", alert.dedup_key)
            if holder is None:
                rest.append(index)
            else:
                by_incident.setdefault(holder, []).append(index)
        if len(by_incident) > 1:
            units = {i: [alerts[n] for n in indexes] for i, indexes in by_incident.items()}
            together = yield from self._decide_together(units)
            if together is not None:
                for incident_id, indexes in by_incident.items():
                    for index in indexes:
                        found[index] = together[incident_id]
                return sorted(rest)
        for incident_id, indexes in by_incident.items():
            taken = [alerts[i] for i in indexes]

            def decider(inc: Incident, now: datetime, taken: list[Alert] = taken) -> Decision:
                policy = self._policy()
                return _chain(
                    inc, [partial(_on_alert, alert=a, policy=policy, now=now) for a in taken]
                )

            done = yield from self._attach(incident_id, decider)
            if done is None:
                rest.extend(indexes)  # it stopped taking them: each finds its way alone
            else:
                for index in indexes:
                    found[index] = done
        return sorted(rest)

    def _decide_together(self, units: dict[str, list[Alert]]) -> Steps[dict[str, Incident] | None]:
        """The alerts of several open incidents, decided on each and appended in one go.

        None (nothing written) when that is not possible: the store cannot, an incident
        stopped taking alerts, or another writer got there first. Locks are taken in order.
        """
        if not self._appends_all():
            return None
        ids = sorted(units)
        held: list[str] = []
        try:
            for incident_id in ids:
                yield from call("_locks", "acquire", incident_id)
                held.append(incident_id)
            now = self._now()
            loaded: list[Incident] = []
            for incident_id in ids:
                loaded.append((yield from self._load(incident_id)))  # noqa: PERF401 - yields

            def decide_all(policy: Policy) -> list[Decision]:
                return [
                    _chain(
                        incident,
                        [
                            partial(_on_alert, alert=a, policy=policy, now=now)
                            for a in units[incident.id]
                        ],
                    )
                    for incident in loaded
                ]

            try:
                decisions = yield from self._on_fresh_overrides(decide_all)
            except (_StoppedAcceptingAlerts, InvalidTransition, PolicyViolation):
                return None
            after = {d.incident.id: d.incident for d in decisions}
            decided: list[tuple[Incident | None, Decision]] = [
                (incident, d) for incident, d in zip(loaded, decisions, strict=True) if d.events
            ]
            try:
                if decided and not (yield from self._commit_all(decided, now)):
                    return None
            except ConcurrencyError:
                for incident_id in ids:
                    self._forget(incident_id)
                return None
            yield from self._deliver([m for _, d in decided for m in d.outbox])
            return {i: self._cache.get(i, after[i]) for i in ids}
        finally:
            for incident_id in held:
                self._locks.release(incident_id)

    def _open_together(self, alerts: Sequence[Alert]) -> Steps[list[Incident] | None]:
        """New incidents for alerts of distinct keys that no rule groups, in one append.

        None (nothing written) when not possible: the store cannot, or one of them has an
        incident by now (another writer): the caller opens them one by one.
        """
        if len(alerts) < 2 or not self._appends_all():
            return None
        keys = sorted(f"alert:{a.dedup_key}" for a in alerts)
        held: list[str] = []
        try:
            for key in keys:
                yield from call("_locks", "acquire", key)
                held.append(key)
            for alert in alerts:
                if (yield from call("store", "find_by_dedup_key", alert.dedup_key)) is not None:
                    return None
            yield from self._refresh_catalog()
            now = self._now()
            ids = [self._new_id() for _ in alerts]

            def decide_all(policy: Policy) -> list[Decision]:
                return [
                    decide_new(new_id, alert, policy, now)
                    for new_id, alert in zip(ids, alerts, strict=True)
                ]

            decisions = yield from self._on_fresh_overrides(decide_all)
            decided: list[tuple[Incident | None, Decision]] = [(None, d) for d in decisions]
            try:
                if not (yield from self._commit_all(decided, now)):
                    return None
            except ConcurrencyError:
                return None
            yield from self._deliver([m for _, d in decided for m in d.outbox])
            return [self._cache.get(d.incident.id, d.incident) for _, d in decided]
        finally:
            for key in held:
                self._locks.release(key)

    def _to_new_incidents(
        self, alerts: Sequence[Alert], rest: list[int], found: list[Incident | None]
    ) -> Steps[None]:
        """The alerts no open incident took: one by one, a new group's alerts together."""
        # The first alert of a new group opens (or joins) the group's incident; the rest of
        # the group joins it in one append. Not while a silence is in force: each alone.
        quiet = not (yield from self._active_silences())
        if quiet:
            alone: dict[str, int] = {}
            for index in rest:
                alert = alerts[index]
                if alert.firing and group_key(self.policy.grouping, alert) is None:
                    alone.setdefault(alert.dedup_key, index)
            opened = yield from self._open_together([alerts[i] for i in alone.values()])
            if opened is not None:
                for index, incident in zip(alone.values(), opened, strict=True):
                    found[index] = incident
                rest = [i for i in rest if found[i] is None]
        groups: dict[str, tuple[tuple[GroupingRule, str], Incident, list[Alert]]] = {}
        joining: dict[int, str] = {}
        for index in rest:
            alert = alerts[index]
            grouped = group_key(self.policy.grouping, alert) if quiet and alert.firing else None
            if grouped is not None and grouped[1] in groups:
                groups[grouped[1]][2].append(alert)
                joining[index] = grouped[1]
                continue
            try:
                incident = yield from self._trigger(alert)
            except IncidentNotFound:
                continue  # a recovery of nothing open: None
            found[index] = incident
            if grouped is not None:
                groups[grouped[1]] = (grouped, incident, [])
        joined: dict[str, Incident | None] = {}
        for key, (grouped, incident, taken) in groups.items():
            if taken:
                joined[key] = yield from self._attach(
                    incident.id, partial(self._joins, alerts=taken, grouped=grouped)
                )
        for index, key in joining.items():
            done = joined.get(key)
            found[index] = done if done is not None else (yield from self._trigger(alerts[index]))

    def _joins(
        self,
        incident: Incident,
        now: datetime,
        *,
        alerts: Sequence[Alert],
        grouped: tuple[GroupingRule, str],
    ) -> Decision:
        """A group's alerts join its incident one after the other, in one decision."""
        policy = self._policy()

        def one(inc: Incident, alert: Alert) -> Decision:
            if alert.dedup_key == inc.dedup_key or alert.dedup_key in inc.members:
                return _on_alert(inc, alert, policy, now)  # joined already: a repeat
            if inc.silenced or not inc.joinable(now):
                raise _StoppedAcceptingAlerts
            return decide_join(inc, alert, grouped, policy, now)

        return _chain(incident, [partial(one, alert=a) for a in alerts])

    def _join(
        self,
        holder: str,
        alert: Alert,
        grouped: tuple[GroupingRule, str],
        silence: Silence | None,
    ) -> Steps[tuple[Incident | None, bool]]:
        """Join ``alert`` to its group's incident; (None, apart) when it does not take it.

        ``apart``: one of them is silenced and the other not, so they may not share it.
        """
        apart: list[bool] = []

        def join(inc: Incident, now: datetime) -> Decision:
            if inc.silenced != (silence is not None):
                apart.append(True)
                raise _StoppedAcceptingAlerts
            if not inc.joinable(now):
                raise _StoppedAcceptingAlerts
            return decide_join(inc, alert, grouped, self._policy(), now)

        done = yield from self._attach(holder, join)
        return done, bool(apart)

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
        yield from call("_locks", "acquire", incident_id)
        try:
            incident, _ = yield from self._execute(
                incident_id, lambda inc, now: decide(inc, command, self._policy(), now), retries=2
            )
        finally:
            self._locks.release(incident_id)
        return incident

    def _apply(self, action: Action) -> Steps[Incident]:
        if not isinstance(action, Action):
            msg = f"apply takes an Action, got {type(action).__name__}"
            raise InvalidCommand(msg)
        person = self.policy.people.name(action.source, action.by, *action.by_aliases)
        yield from self._refresh_catalog()
        incident_id = yield from self._named(action.incident)
        if action.kind in READ_AGAIN and self._polls_reviews():
            # Commits were pushed: recorded once, and what they changed read from the branch.
            yield from call("_locks", "acquire", incident_id)
            try:
                before = yield from self._load(incident_id)
                recorded, _ = yield from self._execute(
                    incident_id, lambda inc, now: record_action(inc, action, person, now)
                )
            finally:
                self._locks.release(incident_id)
            if recorded.version == before.version:
                return recorded  # this delivery was recorded already
            try:
                polled = yield from self._poll_review(incident_id)
            except Exception as exc:  # noqa: BLE001 - the vendor gets its 2xx; the worker polls
                _log.warning(
                    "incident_flow.review_poll_failed",
                    incident_id=incident_id,
                    error=f"{type(exc).__name__}: {exc}",
                )
                return recorded
            return polled if polled is not None else recorded
        yield from call("_locks", "acquire", incident_id)
        try:
            incident, _ = yield from self._execute(
                incident_id,
                lambda inc, now: decide_action(inc, action, person, self._policy(), now),
                retries=_DELIVERY_RETRIES,  # a vendor's action is never dropped lightly
            )
        finally:
            self._locks.release(incident_id)
        return incident

    def _named(self, reference: str) -> Steps[str]:
        """The id of the incident a vendor names: our id, else an open incident's dedup key."""
        if reference in self._cache:
            return reference
        try:
            yield from self._load(reference)
        except IncidentNotFound:
            found = yield from call("store", "find_by_dedup_key", reference)
            if found is None:
                raise IncidentNotFound(
                    reference, f"no incident here is named {reference!r} (by id or dedup key)"
                ) from None
            return str(found)
        return reference

    def _submit_command(self, by: str) -> cmd.SubmitPostmortem:
        """Submit, reviewed where the publisher keeps it (a pull request, a branch, nowhere)."""
        place = getattr(self._port("publisher"), "review", "command")
        return cmd.SubmitPostmortem(
            by=by, review=place if place in cmd.REVIEW_PLACES else "command"
        )

    @staticmethod
    def _reopen_command(by: str) -> cmd.Command:
        if by is None:
            msg = "reopen: say who acts (by=)"
            raise InvalidCommand(msg)
        return cmd.Reopen(by=by)

    # ----------------------------------------------------------------- silences

    def _keeps_silences(self) -> bool:
        return self._store_can("keeps_silences", "save_silence")

    def _silences(self, active_at: datetime | None) -> Steps[list[Silence]]:
        """The silences (those not over at ``active_at`` when given), oldest first."""
        if self._keeps_silences():
            found: list[Silence] = yield from call("store", "silences", active_at=active_at)
            return found
        kept = list(self._kept_silences.values())
        return kept if active_at is None else [s for s in kept if s.until > active_at]

    def _active_silences(self) -> Steps[list[Silence]]:
        return (yield from self._silences(self._now()))

    def _save_silence(self, silence: Silence) -> Steps[None]:
        if self._keeps_silences():
            yield from call("store", "save_silence", silence)
        else:
            self._kept_silences[silence.id] = silence

    def _silence(
        self,
        matchers: Mapping[str, object] | Sequence[LabelMatcher],
        *,
        by: str,
        why: str,
        ends_at: datetime | None,
        duration: timedelta | None,
        starts_at: datetime | None,
    ) -> Steps[Silence]:
        now = self._now()
        start = now if starts_at is None else _utc(starts_at)
        if (ends_at is None) == (duration is None):
            msg = "a silence is time-boxed: give its duration or its end (one of them)"
            raise InvalidCommand(msg)
        end = start + duration if duration is not None else _utc(ends_at)  # type: ignore[arg-type]
        if end <= now:
            msg = f"a silence ending at {end:%Y-%m-%d %H:%M} UTC is over already"
            raise InvalidCommand(msg)
        try:
            silence = Silence(
                id=f"sil-{uuid.uuid4().hex[:12]}",
                matchers=matchers,
                starts_at=start,
                ends_at=end,
                by=by,
                why=why,
                created_at=now,
            )
        except (ValueError, TypeError) as exc:
            raise InvalidCommand(f"silence: {exc}") from None
        yield from self._save_silence(silence)
        _log.info("incident_flow.silenced", silence_id=silence.id, by=by, until=str(end))
        return silence

    def _end_silence(self, silence_id: str, by: str) -> Steps[Silence]:
        known = {s.id: s for s in (yield from self._silences(None))}
        silence = known.get(silence_id)
        if silence is None:
            msg = f"no silence {silence_id!r}"
            raise InvalidCommand(msg)
        now = self._now()
        if silence.until > now:
            silence = attrs.evolve(silence, ended_at=max(now, silence.starts_at), ended_by=by)
            yield from self._save_silence(silence)
            _log.info("incident_flow.silence_ended", silence_id=silence.id, by=by)
        yield from self._release_silenced(silence.id)
        return silence

    def _release_silenced(self, silence_id: str) -> Steps[list[Incident]]:
        """Open (or keep silenced by another silence) the incidents ``silence_id`` held."""
        released: list[Incident] = []
        active = yield from self._active_silences()
        for incident_id in (yield from call("store", "incident_ids", "triggered")):
            incident = yield from self._load(incident_id)
            if incident.silence_id != silence_id:
                continue
            yield from call("_locks", "acquire", incident_id)
            try:
                done, _ = yield from self._execute(
                    incident_id,
                    lambda inc, now: decide_release(inc, self._policy(), now, active),
                    retries=_DELIVERY_RETRIES,
                )
            finally:
                self._locks.release(incident_id)
            released.append(done)
        return released

    # ----------------------------------------------------------------- who is on call

    def _keeps_shifts(self) -> bool:
        return self._store_can("keeps_shifts", "record_shifts")

    def _record_shifts(self) -> Steps[int]:
        """Keep each schedule's shifts that ended since the last kept one, as they were."""
        if not self._keeps_shifts():
            return 0
        now = self._now()
        book = self.policy.schedules
        kept = 0
        for name in book.names:
            since = yield from call("store", "shifts_recorded_until", name)
            if since is None:
                # Nothing kept yet: the shifts that ended in the last 35 days (the first one,
                # cut short by that arbitrary start, is left out).
                found = book.shifts(name, now - _FIRST_RECORD, now)[1:]
            else:
                found = book.shifts(name, since, now)
            ended = [shift for shift in found if shift.end < now]
            if ended:
                yield from call("store", "record_shifts", ended)
                kept += len(ended)
        return kept

    def _who(self, name: str, at: datetime) -> Steps[tuple[str, ...]]:
        """Who was on call at ``at``: the kept record when it covers ``at``, else the policy."""
        at = _utc(at)
        book = yield from self._schedules(name)
        if self._keeps_shifts():
            found: list[Shift] = yield from call(
                "store", "recorded_shifts", name, at, at + timedelta(seconds=1)
            )
            for shift in found:
                if shift.start <= at < shift.end:
                    return shift.people
        return book.on_call(name, at)

    def _schedule_shifts(self, name: str, start: datetime, end: datetime) -> Steps[list[Shift]]:
        """The shifts of a period: as kept where the record reaches, then as the policy says."""
        start, end = _utc(start), _utc(end)
        book = yield from self._schedules(name)
        kept: list[Shift] = []
        if self._keeps_shifts():
            kept = yield from call("store", "recorded_shifts", name, start, end)
        if not kept:
            return book.shifts(name, start, end)
        shifts = [attrs.evolve(s, start=max(s.start, start), end=min(s.end, end)) for s in kept]
        if shifts[0].start > start:
            shifts = book.shifts(name, start, shifts[0].start) + shifts
        if shifts[-1].end < end:
            later = book.shifts(name, shifts[-1].end, end)
            if later and later[0].people == shifts[-1].people:
                shifts[-1] = attrs.evolve(shifts[-1], end=later[0].end)
                later = later[1:]
            shifts += later
        return shifts

    def _with_overrides(self) -> Steps[Policy]:
        yield from self._refresh_overrides()
        return self._policy()

    def _schedules(self, name: str) -> Steps[Schedules]:
        """The schedules as decisions see them (run-time overrides in), having ``name``."""
        book = self.policy.schedules
        if name not in book:
            msg = f"no schedule {name!r} (known: {', '.join(book.names) or 'none'})"
            raise InvalidCommand(msg)
        return (yield from self._with_overrides()).schedules

    def _notify_oncall(self) -> Steps[int]:
        """Say the handoffs since the last turn, and the shift reminders now due, in the chat.

        Sent straight to the chat notifier (no incident's outbox holds them), each with a key
        of its own and marked as possibly sent already, so a notifier that can look (Slack)
        posts it once; one that fails is logged and not retried: a notice, not a page.
        """
        policy = self.policy
        now = self._now()
        since, self._notices_since = self._notices_since or now, now
        if not (policy.oncall_notices or policy.shift_reminder) or not policy.schedules.names:
            return 0
        book = (yield from self._with_overrides()).schedules
        sent = 0
        for name in book.names:
            for key, text in notices(book, name, since, now, policy.shift_reminder):
                if key.startswith("handoff/") and not policy.oncall_notices:
                    continue
                notice = Notification(
                    incident_id=f"schedule:{name}",
                    kind="handoff" if key.startswith("handoff/") else "shift_reminder",
                    text=text,
                    title=f"on call in {name}",
                    severity=Severity.P5,
                    state="notice",
                    idempotency_key=key,
                    resent=True,  # look before posting: another worker may have said it
                    since=since,  # ...at the handoff at the earliest, which is in this window
                )
                try:
                    yield from call("notifier", "send", notice)
                except Exception as exc:  # noqa: BLE001 - a notice never stops the worker
                    _log.warning("incident_flow.notice_failed", key=key, error=str(exc))
                    continue
                sent += 1
        return sent

    def _keeps_overrides(self) -> bool:
        return self._store_can("keeps_overrides", "save_override")

    def _refresh_overrides(self) -> Steps[tuple[Override, ...]]:
        """Re-read the run-time overrides in force (only when the policy has schedules)."""
        if not self.policy.schedules.names:
            return ()
        now = self._now()
        if self._keeps_overrides():
            found: list[Override] = yield from call(
                "store", "overrides", active_after=now - _OVERRIDES_KEPT
            )
        else:
            found = [o for o in self._kept_overrides.values() if o.end > now - _OVERRIDES_KEPT]
        fresh = tuple(found)
        if fresh != self._overrides:
            self._overrides = fresh
        return self._overrides

    def _on_fresh_overrides(self, decide_it: Callable[[Policy], _Decided]) -> Steps[_Decided]:
        """``decide_it(policy)``; when it pages, made on the run-time overrides in the store.

        Whom a page goes to is the only thing the overrides change in a decision, so they are
        read for the decisions that page, whichever path they come by (a new alert, a
        release at a silence's end, a reopen, an escalation), and on every store: a flow made
        for one command (the command line) has read none before. Decided again when they
        differ from those the first decision saw.
        """
        seen = self._overrides
        decided = decide_it(self._policy())
        pages = any(map(_pages, decided if isinstance(decided, list) else [decided]))
        if pages and (yield from self._refresh_overrides()) != seen:
            decided = decide_it(self._policy())
        return decided

    def _override(
        self,
        schedule: str,
        *,
        start: datetime | None,
        end: datetime,
        replace: Sequence[str] | None,
        add: Sequence[str],
        remove: Sequence[str],
        layer: str | None,
        by: str,
        why: str,
    ) -> Steps[Override]:
        book = self.policy.schedules
        now = self._now()
        version = book.version_at(schedule, now) if schedule in book else None
        if version is None:
            msg = f"no schedule {schedule!r} in force (known: {', '.join(book.names) or 'none'})"
            raise InvalidCommand(msg)
        if layer is not None and layer not in {x.name for x in version.layers}:
            names = ", ".join(x.name for x in version.layers)
            msg = f"no layer {layer!r} in schedule {schedule!r} (has: {names})"
            raise InvalidCommand(msg)
        if not by.strip() or not why.strip():
            msg = "an override says who made it and why (by=, why=)"
            raise InvalidCommand(msg)
        if replace is None and not add and not remove:
            msg = "an override changes something: give replace, add or remove"
            raise InvalidCommand(msg)
        begin = now if start is None else _utc(start)
        try:
            override = Override(
                start=begin,
                end=_utc(end),
                layer=layer,
                add=tuple(add),
                remove=tuple(remove),
                replace=None if replace is None else tuple(replace),
                by=by,
                why=why,
                id=f"ovr-{uuid.uuid4().hex[:12]}",
                schedule=schedule,
            )
        except ValueError as exc:
            raise InvalidCommand(f"override: {exc}") from None
        if override.end <= now:
            msg = f"an override ending at {override.end:%Y-%m-%d %H:%M} UTC is over already"
            raise InvalidCommand(msg)
        yield from self._save_override(override)
        yield from self._refresh_overrides()
        _log.info("incident_flow.override_added", override_id=override.id, schedule=schedule)
        return override

    def _save_override(self, override: Override) -> Steps[None]:
        if self._keeps_overrides():
            yield from call("store", "save_override", override)
        else:
            self._kept_overrides[str(override.id)] = override

    def _list_overrides(self, active: bool) -> Steps[list[Override]]:
        after = self._now() if active else None
        if self._keeps_overrides():
            found: list[Override] = yield from call("store", "overrides", active_after=after)
            return found
        kept = sorted(self._kept_overrides.values(), key=lambda o: (o.start, str(o.id)))
        return kept if after is None else [o for o in kept if o.end > after]

    def _cancel_override(self, override_id: str, by: str) -> Steps[Override]:
        known = {o.id: o for o in (yield from self._list_overrides(active=False))}
        override = known.get(override_id)
        if override is None:
            msg = f"no override {override_id!r}"
            raise InvalidCommand(msg)
        now = self._now()
        if override.end > now:
            # Cut short, not deleted: who was on call until now stays as it was.
            cut = max(now, override.start + timedelta(microseconds=1))
            why = f"{override.why} (cancelled by {by})"
            override = attrs.evolve(override, end=cut, why=why)
            yield from self._save_override(override)
            yield from self._refresh_overrides()
        return override

    # ----------------------------------------------------------------- timers and the outbox

    def _escalate_due(self, limit: int) -> Steps[list[Incident]]:
        silences = yield from self._active_silences()

        def decider(inc: Incident, policy: Policy, now: datetime) -> Decision:
            if inc.silenced:  # its silence's end is its timer
                return decide_release(inc, policy, now, silences)
            return decide_escalation(inc, policy, now)

        escalated = yield from self._run_timers(decider, "escalation", limit)
        for incident in escalated:
            if incident.escalation_level == 0:
                continue  # a silenced alert opened at its silence's end
            _log.warning(
                "incident_flow.escalated", incident_id=incident.id, level=incident.escalation_level
            )
        return escalated

    def _remind_due(self, limit: int) -> Steps[list[Incident]]:
        return (yield from self._run_timers(decide_reminder, "reminder", limit))

    def _run_timers(
        self,
        decider: Callable[[Incident, Policy, datetime], Decision],
        what: str,
        limit: int,
    ) -> Steps[list[Incident]]:
        """Run ``decider`` on every incident whose next timer is due; return those it changed.

        Escalations and reminders share one index: each decider does nothing for a timer
        that is not its own (or not due any more when the incident is reloaded).
        """
        changed: list[Incident] = []
        due = yield from call("store", "due_incidents", self._now(), limit=limit)
        for incident_id in due:
            decided: list[Decision] = []

            def decide_now(
                inc: Incident, now: datetime, decided: list[Decision] = decided
            ) -> Decision:
                decision = decider(inc, self._policy(), now)
                decided.append(decision)
                return decision

            try:
                incident, _ = yield from self._execute(
                    incident_id, decide_now, retries=_DELIVERY_RETRIES
                )
            except (InvalidTransition, ConcurrencyError) as exc:
                _log.warning(
                    f"incident_flow.{what}_skipped", incident_id=incident_id, error=str(exc)
                )
                continue
            if decided and decided[-1].events:
                changed.append(incident)
        return changed

    def _deliver_pending(self, limit: int, batches: int | None) -> Steps[int]:
        delivered = 0
        claims = 0
        while batches is None or claims < batches:
            now = self._now()
            batch = yield from call(
                "store", "claim_due", now, lease=self._claim_span(), limit=limit
            )
            if not batch:
                break
            claims += 1
            # A claim of ours that lapsed (its renewal was late) is still being sent by this
            # process: claimed again just now, it is left to that send, not sent twice.
            mine = self._hold_claimed(batch, now)
            delivered += yield from self._settle(mine, lock=True)
        return delivered

    # ----------------------------------------------------------------- claims held while sent

    def _renews(self) -> bool:
        """Whether this flow's claims are short and renewed (a keeper runs; the store can)."""
        return self._hold is not None and self._store_can("renews_claims", "renew_claims")

    def _claim_span(self) -> timedelta:
        """How long a new claim lasts: the hold while it is renewed, else the whole lease."""
        hold = self._hold
        if hold is not None and hold < self.lease and self._renews():
            return hold
        return self.lease

    def _hold_new(self, outbox: Sequence[OutboxMessage], now: datetime) -> None:
        """Renew the new messages a commit just claimed for us until they are sent."""
        if self._renews():
            fresh = [m for m in outbox if m.pending and m.attempts == 0]
            if fresh:
                self._hold_claimed(fresh, now)

    def _hold_claimed(self, claimed: Sequence[OutboxMessage], now: datetime) -> list[OutboxMessage]:
        """Renew ``claimed`` until sent; return those not already being sent by this flow."""
        if not self._renews():
            return list(claimed)
        limit = now + self.lease
        mine: list[OutboxMessage] = []
        with self._held_lock:
            for message in claimed:
                if message.id not in self._held:
                    self._held[message.id] = limit
                    mine.append(message)
        return mine

    def _release(self, claimed: Sequence[OutboxMessage]) -> None:
        """Stop renewing these claims: their outcomes are recorded (or they are left)."""
        if self._held:
            with self._held_lock:
                for message in claimed:
                    self._held.pop(message.id, None)

    def _renewal(self, *, final: bool = False) -> Steps[int]:
        """Renew the claims this flow holds for another hold; return how many it renewed.

        Never past a claim's lease (a send that hangs is still taken over a lease after its
        claim). ``final`` (the keeper stops): each is held to the end of its lease, as a
        flow without a keeper holds its claims, so the sends still going finish under it.
        """
        now = self._now()
        hold = self._hold
        with self._held_lock:
            for message_id in [i for i, limit in self._held.items() if limit <= now]:
                del self._held[message_id]
            held = dict(self._held)
        if not held or (hold is None and not final):
            return 0
        untils: dict[datetime, list[str]] = {}
        for message_id, limit in held.items():
            until = limit if final or hold is None else min(limit, now + hold)
            untils.setdefault(until, []).append(message_id)
        for until, ids in untils.items():
            yield from call("store", "renew_claims", ids, until=until)
        return len(held)

    # ----------------------------------------------------------------- post-mortem reviews

    def _polls_reviews(self) -> bool:
        return hasattr(self._port("publisher"), "review_status")

    def _poll_reviews(self, limit: int) -> Steps[list[Incident]]:
        """Read every post-mortem under review on its branch; apply what changed there."""
        if not self._polls_reviews():
            return []
        ids = yield from call("store", "incident_ids", "postmortem")
        changed: list[Incident] = []
        for incident_id in ids[:limit]:
            try:
                incident = yield from self._poll_review(incident_id)
            except Exception as exc:  # noqa: BLE001 - one pull request must not stop the rest
                _log.warning(
                    "incident_flow.review_poll_failed",
                    incident_id=incident_id,
                    error=f"{type(exc).__name__}: {exc}",
                )
                continue
            if incident is not None:
                changed.append(incident)
        return changed

    def _poll_review(self, incident_id: str) -> Steps[Incident | None]:
        """Apply what the post-mortem's branch says now; the incident if that changed it."""
        events = yield from call("store", "load", incident_id)
        if not events:
            raise IncidentNotFound(incident_id)
        incident = fold(None, events)
        pm = incident.postmortem
        if pm is None or not pm.on_branch or pm.stage not in ("review", "merged"):
            return None
        status = yield from call("publisher", "review_status", self._document(events, incident))
        if status is None:
            return None
        before = incident.version
        revision, actions = status_changes(incident, status, self.policy.people)
        if revision is not None:
            incident = yield from self._command(incident_id, revision)
        for action in actions:
            incident = yield from self._apply(action)
        return incident if incident.version != before else None

    def _document(
        self, events: Sequence[Event], incident: Incident | None = None
    ) -> PostMortemDocument:
        """The post-mortem of these events (their fold, ``incident``), with GitHub logins."""
        incident = incident if incident is not None else fold(None, events)
        pm = incident.postmortem
        people = self.policy.people
        logins = {}
        for name in (*pm.reviewers, pm.author) if pm is not None else ():
            login = people.identity(name, "github")
            if login is not None:
                logins[name] = login
        return PostMortemDocument(
            incident=incident, events=events, folder=self.policy.postmortem_folder, logins=logins
        )

    # ----------------------------------------------------------------- reads

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

    # ----------------------------------------------------------------- internals

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
        if not revisions and _outcomes_only(decision) and self._lightly():
            # Delivery outcomes only: kept without a disk flush of their own (lost on a power
            # cut, the messages go again under their idempotency keys; see docs/reliability).
            yield from call(
                "store",
                "append_all",
                [
                    StreamAppend(
                        incident_id=incident.id,
                        expected_version=0 if before is None else before.version,
                        events=decision.events,
                        snapshot=incident,
                        outbox=decision.outbox,
                        claimed_until=now + self._claim_span(),
                        durable=False,
                    )
                ],
            )
        else:
            # New messages are inserted already claimed by us: we deliver them right after the
            # commit, and no other sender may take them meanwhile (and no extra round trip).
            yield from call(
                "store",
                "append",
                incident.id,
                0 if before is None else before.version,
                decision.events,
                snapshot=incident,
                outbox=decision.outbox,
                claimed_until=now + self._claim_span(),
                **({"runbooks": revisions} if keeps else {}),
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
        return self._store_can("light_appends", "append_all") and self._appends_all()

    def _appends_all(self) -> bool:
        """Whether the store appends to several incidents in one transaction."""
        return self._store_can("appends_all", "append_all")

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
            StreamAppend(
                incident_id=d.incident.id,
                expected_version=0 if before is None else before.version,
                events=d.events,
                snapshot=d.incident,
                outbox=d.outbox,
                claimed_until=now + self._claim_span(),
                durable=not _outcomes_only(d),
            )
            for before, d in decided
        ]
        yield from call("store", "append_all", appends)
        for before, d in decided:
            self._hold_new(d.outbox, now)
            self._remember(d.incident)
            self._committed(before, d.incident)
        return True

    # ----------------------------------------------------------------- the runbook catalog

    def _reads_the_catalog(self, incident_id: str, command: cmd.Command) -> bool:
        """Whether the decision may consult the catalog (then it is re-read first).

        Adding or updating a runbook always does; starting the runbook or resolving only while
        the incident has none (else the catalog is not asked): one read fewer on most commands.
        """
        if command.trigger in ("add_runbook", "update_runbook"):
            return True
        if command.trigger not in ("start_runbook", "resolve"):
            return False
        cached = self._cache.get(incident_id)
        return cached is None or cached.runbook is None

    def _keeps_runbooks(self) -> bool:
        return self._store_can("keeps_runbooks", "runbook_revisions")

    def _store_can(self, flag: str, method: str) -> bool:
        """Whether the store has an optional port: a wrapper's ``flag``, else its ``method``.

        Asked once per store (the host may replace it): this runs on every command.
        """
        store = self._port("store")
        if self._abilities[0] is not store:
            self._abilities = (store, {})
        known = self._abilities[1]
        answer = known.get(flag)
        if answer is None:
            said = getattr(store, flag, None)
            answer = known[flag] = bool(said) if said is not None else hasattr(store, method)
        return answer

    def _refresh_catalog(self) -> Steps[Catalog]:
        """Fold in the catalog revisions other writers (and replicas) kept since we last read."""
        if self._keeps_runbooks():
            newer = yield from call("store", "runbook_revisions", self._catalog.version)
            if newer:
                self._catalog = self._catalog.extended(newer)
        return self._catalog

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

    def _save_runbook(
        self, runbook: Runbook, by: str, note: str, incident_id: str | None
    ) -> Steps[RunbookRevision]:
        catalog = yield from self._refresh_catalog()
        revision = RunbookRevision(
            key=f"catalog/{uuid.uuid4().hex}",
            runbook=runbook,
            change="updated" if catalog.get(runbook.name) is not None else "added",
            at=self._now(),
            by=by,
            note=note,
            incident_id=incident_id,
        )
        if self._keeps_runbooks():
            yield from call("store", "record_runbook", revision)
            catalog = yield from self._refresh_catalog()
        else:
            revision = attrs.evolve(revision, number=catalog.version + 1)
            self._catalog = catalog = catalog.extended([revision])
        return catalog.history(runbook.name)[-1]

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

    def _deliver(self, messages: Sequence[OutboxMessage]) -> Steps[int]:
        """Deliver the new messages a commit just inserted (claimed by us in that commit).

        Inline (the library's calls return once delivery was attempted), or handed to the
        driver to run after the caller has its answer (0 delivered so far, then).
        """
        fresh = [m for m in messages if m.pending and m.attempts == 0]
        if not fresh:
            return 0
        if self._later is not None:
            self._later(self._settle(fresh, lock=True))
            return 0
        return (yield from self._settle(fresh))

    def _settle(self, claimed: Sequence[OutboxMessage], *, lock: bool = False) -> Steps[int]:
        """Send the claimed messages, pages first, then record the outcomes (one append).

        ``lock``: the outcomes are recorded under the incidents' locks (delivering in the
        background or from the outbox, where the caller holds none): they then queue behind
        the incident's own appends in this process instead of colliding with them (an alert
        storm appends to its incident all the time). Inline, the caller holds them already.

        A channel that failed just now is paused (:mod:`._pauses`): its messages are recorded
        as not tried, with the pause's end as their next attempt. A sender only sends while it
        holds the claim: once half the lease is gone, the rest is
        left for the next claim, so no message is sent after another sender could take it.
        """
        try:
            return (yield from self._send_all(claimed, lock=lock))
        finally:
            self._release(claimed)

    def _send_all(self, claimed: Sequence[OutboxMessage], *, lock: bool) -> Steps[int]:
        start = self._now()
        deadline = start + self.lease / 2
        # The claim ends a lease after it was taken (just before ``start``); a send must be over
        # before then, or a second sender could take the message while it is still going out.
        claim_ends = start + self.lease * 0.9
        delivered = 0
        sent: dict[str, list[Outcome]] = {}
        # Pages first, then chat, then the publisher, each in the order decided: a page never
        # waits behind another channel's message (a hanging chat), of its incident or another.
        for message in sorted(claimed, key=_channel_order) if len(claimed) > 1 else claimed:
            now = self._now()  # one reading per message: the deadline and the pause
            if now > deadline:
                break
            outcomes = sent.setdefault(message.incident_id, [])
            paused = self._pauses.until(message.channel, now)
            if paused is not None:
                # Not tried: the channel failed just now. It stays pending until the pause ends.
                until, why = paused
                error = f"{message.channel} paused until {until:%H:%M:%S} UTC after: {why}"
                outcomes.append(Outcome(message, error=error, delay=until - now))
                continue
            # Only a later chat message may thread under this batch's first one.
            first = None
            if message.channel == "chat" and message.kind != "notify":
                first = next(
                    (
                        o
                        for o in outcomes
                        if o.error is None and o.message.channel == "chat"
                        and o.message.kind == "notify"
                    ),
                    None,
                )  # fmt: skip
            outcome = yield from self._attempt(message, claim_ends, first)
            delivered += outcome.error is None
            outcomes.append(outcome)
        sent = {incident_id: outcomes for incident_id, outcomes in sent.items() if outcomes}
        if not lock:
            return delivered + (yield from self._record_all(sent))
        held: list[str] = []
        try:
            for incident_id in sorted(sent):  # in order: no two recorders wait for each other
                yield from call("_locks", "acquire", incident_id)
                held.append(incident_id)
            delivered += yield from self._record_all(sent)
        finally:
            for incident_id in held:
                self._locks.release(incident_id)
        return delivered

    def _record_all(self, sent: dict[str, list[Outcome]]) -> Steps[int]:
        """Record several incidents' outcomes in one append when the store can; else each."""
        if len(sent) > 1 and self._appends_all():
            decided: list[tuple[Incident | None, Decision]] = []
            committed = False
            try:
                now = self._now()
                policy = self._policy()
                for incident_id, outcomes in sent.items():
                    incident = self._cache.get(incident_id) or (yield from self._load(incident_id))
                    decision = decide_outcomes(incident, outcomes, now, policy)
                    if decision.events:
                        decided.append((incident, decision))
                committed = yield from self._commit_all(decided, now)
            except Exception as exc:  # noqa: BLE001 - nothing was written: each recorded below
                for incident_id in sent:
                    self._forget(incident_id)
                _log.debug("incident_flow.delivery_record_retried", error=type(exc).__name__)
            if committed:
                return (yield from self._deliver([m for _, d in decided for m in d.outbox]))
        delivered = 0
        for incident_id, outcomes in sent.items():
            delivered += yield from self._record(incident_id, outcomes)
        return delivered

    def _record(self, incident_id: str, outcomes: list[Outcome]) -> Steps[int]:
        """Append the outcomes of one incident's sends; never fail the caller over it."""
        tries = 0

        def decider(incident: Incident, now: datetime) -> Decision:
            nonlocal tries
            tries += 1
            return decide_outcomes(incident, outcomes, now, self._policy())

        try:
            # Recording may queue follow-ups (a saved post-mortem's link); they count too.
            _, delivered = yield from self._execute(incident_id, decider, retries=_OUTCOME_RETRIES)
        except ConcurrencyError as exc:
            # Other processes kept appending to the incident: nothing is lost. The messages
            # stay claimed until the lease ends, then go again under their idempotency keys
            # (deduplicated by every receiver): the cost of a lost outcome, not an error.
            _log.warning(
                "incident_flow.delivery_not_recorded",
                incident_id=incident_id,
                messages=[o.message.id for o in outcomes],
                error=f"{type(exc).__name__}: {exc}",
                then="sent again under the same idempotency keys after the lease",
            )
            return 0
        except Exception as exc:  # noqa: BLE001 - the messages' own command is already committed
            # Failing now would make a caller retry what already happened. The messages stay
            # claimed until the lease ends, then are sent again with the same idempotency keys.
            _log.error(
                "incident_flow.delivery_not_recorded",
                incident_id=incident_id,
                messages=[o.message.id for o in outcomes],
                error=f"{type(exc).__name__}: {exc}",
            )
            return 0
        if tries > 1:  # another append got there first: decided again on the reloaded incident
            _log.debug(
                "incident_flow.delivery_record_retried", incident_id=incident_id, tries=tries
            )
        return delivered

    def _attempt(
        self, message: OutboxMessage, claim_ends: datetime, first: Outcome | None = None
    ) -> Steps[Outcome]:
        try:
            receipt = yield from self._send(message, claim_ends, first)
        except Exception as exc:  # noqa: BLE001 - any adapter failure is a failed attempt
            known = exc if isinstance(exc, DeliveryError) else None
            retry_after = known.retry_after if known is not None else None
            kind = "DeliveryError" if isinstance(exc, _FirstNotOut) else type(exc).__name__
            error = f"{kind}: {exc}"
            now = self._now()
            if not isinstance(exc, _FirstNotOut):  # says nothing about the channel
                self._pauses.failed(
                    message.channel,
                    now,
                    error,
                    retry_after=retry_after,
                    permanent=known is not None and known.permanent,
                )
            delay = backoff(message.attempts + 1, retry_after)
            status = known.status if known is not None else None
            subject = (message.incident_id, message.channel)
            said = self._failures_said.first(subject, str(status) if status else error)
            (_log.warning if said else _log.debug)(
                "incident_flow.delivery_failed",
                incident_id=message.incident_id,
                channel=message.channel,
                kind=message.kind,
                status=status,
                attempts=message.attempts + 1,
                retry_at=(now + delay).isoformat(timespec="seconds"),
                error=error,
            )
            return Outcome(message, error=error, delay=delay)
        self._pauses.delivered(message.channel)
        recovered = self._failures_said.forget((message.incident_id, message.channel))
        _log.info(
            "incident_flow.delivered",
            incident_id=message.incident_id,
            channel=message.channel,
            kind=message.kind,
            attempts=message.attempts + 1,
            # A failure was said: this says it is over (a new one is news again).
            **({"recovered": True} if recovered else {}),
        )
        return Outcome(message, receipt=receipt)

    def _send(
        self, message: OutboxMessage, claim_ends: datetime, first: Outcome | None = None
    ) -> Steps[str | None]:
        """Send one message through its channel.

        ``first`` is the incident's first chat message when it went out in this same batch:
        its receipt is the thread, not recorded yet.
        """
        if message.channel == "publisher":
            # One read: the timeline and its fold.
            events = yield from call("store", "load", message.incident_id)
            cached = self._cache.get(message.incident_id)
            if cached is None or not events or cached.version != events[-1].version:
                cached = None  # the fold of these very events is not at hand: made below
            document = self._document(events, cached)
            merges = message.kind == "merge" and hasattr(self._port("publisher"), "merge")
            receipt: str | None = yield from call(
                "publisher", "merge" if merges else "publish", document
            )
            return receipt
        notification = message.notification
        assert notification is not None  # noqa: S101 - chat and pager carry one
        within = max((claim_ends - self._now()).total_seconds(), 0.0)
        notification = notification.to_send(
            resent=bool(message.reclaimed or message.attempts),
            send_within=within,
            since=message.created_at,
        )
        if message.channel == "pager":
            paged: str | None = yield from call("pager", "send", notification)
            return paged
        if notification.kind != "notify" and notification.thread is None:
            # The first message was not out yet when this one was decided: thread it under
            # the first one if that has been delivered since (by any replica: read the store).
            incident = yield from self._load(message.incident_id)
            if first is not None:
                if first.receipt is not None:
                    notification = attrs.evolve(notification, thread=first.receipt)
            elif incident.chat_thread is not None:
                notification = attrs.evolve(notification, thread=incident.chat_thread)
            elif not incident.chat_notified:
                # Posted now, it would start a thread of its own: wait for the first message.
                msg = "the incident's first chat message is not out yet: this one follows it"
                raise _FirstNotOut(msg, retry_after=2.0)
        sent: str | None = yield from call("notifier", "send", notification)
        return sent


class _FirstNotOut(DeliveryError):
    """A later chat message waits for its incident's first one (the channel is not down)."""


_CHANGES_A_RUNBOOK = (ev.RunbookAdded, ev.RunbookUpdated)


def catalog_revisions(
    incident: Incident, events: Sequence[Event], catalog: Catalog
) -> list[RunbookRevision]:
    """The catalog revisions an incident's new events make (a runbook added or updated)."""
    if not any(type(e) in _CHANGES_A_RUNBOOK for e in events):
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


_POLICY_FIELDS = tuple(a.name for a in attrs.fields(Policy))


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
    return new


def _pages(decision: Decision) -> bool:
    """Whether ``decision`` pages anybody (a new page: a retried one was decided already).

    The decisions that ask the schedules who is on call (``Policy.page_targets``) are exactly
    those that page, gaps included (a gap pages the next level, or nobody, loudly).
    """
    return any(
        m.channel == "pager" and m.kind == "page" and m.attempts == 0 for m in decision.outbox
    )


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


def _chain(incident: Incident, deciders: Sequence[Callable[[Incident], Decision]]) -> Decision:
    """One decision made of several, each decided on the incident the previous one left."""
    events: tuple[Event, ...] = ()
    outbox: tuple[OutboxMessage, ...] = ()
    current = incident
    for decider in deciders:
        decision = decider(current)
        events += decision.events
        outbox += decision.outbox
        current = decision.incident
    return Decision(current, events, outbox)


def _on_alert(incident: Incident, alert: Alert, policy: Policy, now: datetime) -> Decision:
    """A repeat or recovery of the incident's alert; a firing repeat reopens a resolved one."""
    if not incident.accepts_alerts:
        raise _StoppedAcceptingAlerts
    if alert.firing and incident.state == "resolved":
        reopened = decide(incident, cmd.Reopen(), policy, now)
        recorded = decide(reopened.incident, cmd.RecordAlert(alert=alert), policy, now)
        return Decision(
            recorded.incident,
            reopened.events + recorded.events,
            reopened.outbox + recorded.outbox,
        )
    return decide(incident, cmd.RecordAlert(alert=alert), policy, now)
