"""IncidentFlow: the synchronous driver. Load -> decide -> append (+ outbox) -> deliver."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

import attrs
import structlog

from . import _commands as cmd
from ._alerts import Alert
from ._clock import SystemClock
from ._decide import (
    Decision,
    Outcome,
    decide,
    decide_escalation,
    decide_new,
    decide_outcomes,
    decide_reminder,
)
from ._events import Event
from ._incident import Incident, fold
from ._messages import OutboxMessage, backoff
from ._policy import Policy
from ._postmortem import PostMortemDocument
from ._runbooks import Runbook
from ._severity import Severity
from .adapters.folder import FolderPublisher
from .adapters.memory import MemoryStore
from .adapters.notifiers import LogNotifier
from .exceptions import (
    ConcurrencyError,
    DeliveryError,
    IncidentNotFound,
    InvalidCommand,
    InvalidTransition,
    PolicyViolation,
)
from .ports import Clock, EventStore, Notifier, PostMortemPublisher

__all__ = ["IncidentFlow"]

_log = structlog.get_logger("incident_flow")
_CACHE_SIZE = 4096
_DELIVERY_RETRIES = 8


def _new_id() -> str:
    return f"inc-{uuid.uuid4().hex[:12]}"


class IncidentFlow:
    """Runs the incident process over a store, a chat notifier, a pager and a publisher.

    Every command loads the incident, decides (the machine and the policy), appends the new
    events together with the outbox messages they cause, then delivers those messages before
    it returns. A refused command raises and changes nothing. A stale write
    (:class:`~incident_flow.ConcurrencyError`) is retried once on the reloaded incident.

    Args:
        policy: the standards (default :meth:`Policy.default`).
        store: the event store (default :class:`MemoryStore`).
        notifier: the chat channel, Slack (default :class:`LogNotifier`).
        pager: the pager (default :class:`LogNotifier` on channel ``pager``).
        publisher: where post-mortems go (default ``FolderPublisher(policy.postmortem_folder)``).
        clock: where time comes from (default the system clock, UTC).
        lease: how long a sender holds a message it is delivering before others may retry it.
        new_id: makes incident ids (default ``inc-`` and 12 hex digits).
    """

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        store: EventStore | None = None,
        notifier: Notifier | None = None,
        pager: Notifier | None = None,
        publisher: PostMortemPublisher | None = None,
        clock: Clock | None = None,
        lease: timedelta = timedelta(minutes=1),
        new_id: Callable[[], str] = _new_id,
    ) -> None:
        self.policy = policy if policy is not None else Policy.default()
        self.store: EventStore = store if store is not None else MemoryStore()
        self.notifier: Notifier = notifier if notifier is not None else LogNotifier("chat")
        self.pager: Notifier = pager if pager is not None else LogNotifier("pager")
        self.publisher: PostMortemPublisher = (
            publisher if publisher is not None else FolderPublisher(self.policy.postmortem_folder)
        )
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.lease = lease
        self._new_id = new_id
        self._cache: dict[str, Incident] = {}

    def __repr__(self) -> str:
        return (
            f"IncidentFlow(store={self.store!r}, notifier={self.notifier!r}, "
            f"pager={self.pager!r}, publisher={self.publisher!r})"
        )

    # ----------------------------------------------------------------- commands

    def trigger(self, alert: Alert) -> Incident:
        """Route an alert: open an incident, or attach it to the open one with its dedup key.

        A firing alert with a new key opens an incident (triggered -> classified -> notified:
        Slack, and a page when critical). A firing alert whose key matches an incident that
        still accepts alerts is recorded on it (no new incident, no new page) and reopens it
        when it was resolved. A resolved alert is recorded on its incident.

        Raises:
            IncidentNotFound: a resolved alert matched no open incident (nothing is recorded).
            InvalidCommand: ``alert`` is not an :class:`Alert`.
        """
        if not isinstance(alert, Alert):
            msg = f"trigger takes an Alert, got {type(alert).__name__}"
            raise InvalidCommand(msg)
        for _ in range(3):
            existing = self.store.find_by_dedup_key(alert.dedup_key)
            if existing is not None:
                incident = self._load(existing)
                if incident.accepts_alerts:
                    try:
                        return self._execute(
                            existing, lambda inc, now: _on_alert(inc, alert, self.policy, now)
                        )[0]
                    except _StoppedAcceptingAlerts:
                        continue  # it moved on to its post-mortem meanwhile: look again
            if not alert.firing:
                raise IncidentNotFound(
                    alert.dedup_key, f"no open incident for resolved alert {alert.dedup_key!r}"
                )
            now = self.clock.now()
            decision = decide_new(self._new_id(), alert, self.policy, now)
            incident = decision.incident
            try:
                self._commit(None, decision, now)
            except ConcurrencyError:
                continue  # another writer opened it first: attach to theirs
            self._deliver(decision.outbox)
            return self._cache.get(incident.id, incident)
        raise ConcurrencyError(alert.dedup_key, 0)

    def reclassify(self, incident_id: str, severity: Severity | str, *, by: str) -> Incident:
        """Change the severity; an upgrade to critical pages at once while unresolved."""
        return self._run(incident_id, cmd.Reclassify(by=by, severity=severity))

    def acknowledge(self, incident_id: str, *, by: str) -> Incident:
        """Acknowledge the incident (mirrored to the pager when it was paged)."""
        return self._run(incident_id, cmd.Acknowledge(by=by))

    def start_runbook(
        self, incident_id: str, *, by: str, runbook: Runbook | None = None
    ) -> Incident:
        """Start working a runbook: ``runbook``, or the catalog's; none found raises an item."""
        return self._run(incident_id, cmd.StartRunbook(by=by, runbook=runbook))

    def resolve(self, incident_id: str, *, by: str, summary: str = "") -> Incident:
        """Resolve the incident; never blocked by the process."""
        return self._run(incident_id, cmd.Resolve(by=by, summary=summary))

    def reopen(self, incident_id: str, *, by: str) -> Incident:
        """Reopen a resolved incident (a critical one is paged again)."""
        if by is None:
            msg = "reopen: say who acts (by=)"
            raise InvalidCommand(msg)
        return self._run(incident_id, cmd.Reopen(by=by))

    def start_postmortem(
        self,
        incident_id: str,
        *,
        author: str,
        impact: str = "",
        root_cause: str = "",
        learnings: Iterable[str] = (),
    ) -> Incident:
        """Start the post-mortem; each learning becomes an 'update runbook' item on publish."""
        command = cmd.StartPostmortem(
            by=author, impact=impact, root_cause=root_cause, learnings=learnings
        )
        return self._run(incident_id, command)

    def approve_postmortem(self, incident_id: str, *, reviewer: str) -> Incident:
        """Approve the post-mortem (not by its author; twice by one reviewer counts once)."""
        return self._run(incident_id, cmd.ApprovePostmortem(by=reviewer))

    def publish_postmortem(self, incident_id: str, *, by: str) -> Incident:
        """Publish the approved post-mortem; its learnings become 'update runbook' items.

        The publisher has saved it when this returns, unless it failed: then the delivery stays
        pending, ``deliver_pending()`` retries it, and ``close`` waits for it.
        """
        return self._run(incident_id, cmd.PublishPostmortem(by=by))

    def add_runbook(self, incident_id: str, runbook: Runbook, *, by: str) -> Incident:
        """Record a missing runbook as written; settles the 'add runbook' items."""
        return self._run(incident_id, cmd.AddRunbook(by=by, runbook=runbook))

    def update_runbook(self, incident_id: str, name: str, *, by: str, note: str) -> Incident:
        """Record a runbook update from the learnings; settles that runbook's update items."""
        return self._run(incident_id, cmd.UpdateRunbook(by=by, name=name, note=note))

    def waive_action_item(
        self, incident_id: str, item_id: str, *, by: str, reason: str
    ) -> Incident:
        """Waive an open action item, with a reason."""
        return self._run(incident_id, cmd.WaiveActionItem(by=by, item_id=item_id, reason=reason))

    def close(self, incident_id: str, *, by: str) -> Incident:
        """Close the incident: needs the post-mortem (if required) and no open action items."""
        return self._run(incident_id, cmd.Close(by=by))

    def note(self, incident_id: str, text: str, *, by: str) -> Incident:
        """Add a status update to the timeline and the Slack thread."""
        return self._run(incident_id, cmd.Note(by=by, text=text))

    def escalate_due(self, *, limit: int = 100) -> list[Incident]:
        """Page the next escalation level of every incident whose ack timeout has passed.

        The timers are data (each incident's ``escalation_due_at``, indexed by the store), so
        they survive restarts and are the same on every replica; several processes may call
        this at once and each level is paged once (a loser of the race finds the timer moved
        on). An acknowledgement or a resolution stops an incident's escalation.

        Returns:
            The incidents that escalated in this call.
        """
        escalated = self._run_timers(decide_escalation, "escalation", limit)
        for incident in escalated:
            _log.warning(
                "incident_flow.escalated", incident_id=incident.id, level=incident.escalation_level
            )
        return escalated

    def remind_due(self, *, limit: int = 100) -> list[Incident]:
        """Remind every incident whose post-mortem or action items are overdue.

        A reminder goes to the incident's chat thread when a required post-mortem is still
        unpublished ``policy.postmortem_due`` business days after resolution, or action items
        are open ``policy.action_items_due`` business days after the post-mortem, then every
        ``policy.remind_every`` business days until settled. Timers survive restarts, like
        escalation's.

        Returns:
            The incidents reminded in this call.
        """
        return self._run_timers(decide_reminder, "reminder", limit)

    def _run_timers(
        self,
        decider: Callable[[Incident, Policy, datetime], Decision],
        what: str,
        limit: int,
    ) -> list[Incident]:
        """Run ``decider`` on every incident whose next timer is due; return those it changed.

        Escalations and reminders share one index: each decider does nothing for a timer
        that is not its own (or not due any more when the incident is reloaded).
        """
        changed: list[Incident] = []
        for incident_id in self.store.due_incidents(self.clock.now(), limit=limit):
            decided: list[Decision] = []

            def decide_now(
                inc: Incident, now: datetime, decided: list[Decision] = decided
            ) -> Decision:
                decision = decider(inc, self.policy, now)
                decided.append(decision)
                return decision

            try:
                incident, _ = self._execute(incident_id, decide_now, retries=_DELIVERY_RETRIES)
            except (InvalidTransition, ConcurrencyError) as exc:
                _log.warning(
                    f"incident_flow.{what}_skipped", incident_id=incident_id, error=str(exc)
                )
                continue
            if decided and decided[-1].events:
                changed.append(incident)
        return changed

    def deliver_pending(self, *, limit: int = 100, batches: int | None = None) -> int:
        """Deliver every due outbox message (retries included); return how many were delivered.

        Safe to call from several processes at once: each message is claimed with a lease.

        Args:
            limit: messages claimed at a time.
            batches: stop after this many claims (a worker takes one per turn, so that a
                flood of messages never holds up escalations); None: until nothing is due.
        """
        delivered = 0
        claims = 0
        while batches is None or claims < batches:
            batch = self.store.claim_due(self.clock.now(), lease=self.lease, limit=limit)
            if not batch:
                break
            claims += 1
            delivered += self._settle(batch)
        return delivered

    # ----------------------------------------------------------------- reads

    def get(self, incident_id: str) -> Incident:
        """Return the incident as its stored events make it.

        Raises:
            IncidentNotFound: no incident has this id.
        """
        return self._load(incident_id)

    def history(self, incident_id: str) -> list[Event]:
        """Return the incident's events, oldest first.

        Raises:
            IncidentNotFound: no incident has this id.
        """
        events = self.store.load(incident_id)
        if not events:
            raise IncidentNotFound(incident_id)
        return events

    def incidents(self, state: str | None = None) -> list[Incident]:
        """Return the incidents (in ``state`` when given), oldest first."""
        return [self._load(i) for i in self.store.incident_ids(state)]

    # ----------------------------------------------------------------- internals

    def _run(self, incident_id: str, command: cmd.Command) -> Incident:
        return self._execute(
            incident_id, lambda inc, now: decide(inc, command, self.policy, now), retries=2
        )[0]

    def _execute(
        self,
        incident_id: str,
        decider: Callable[[Incident, datetime], Decision],
        retries: int = 2,
    ) -> tuple[Incident, int]:
        """Decide, append, deliver; return the incident and how many messages went out.

        The decision is first made on the cached incident, without reading the store: an
        append is checked by the store against the version it was decided on, so a stale
        cache can only cost a ConcurrencyError, a reload and a retry. A refusal or a decision
        to do nothing proves nothing about the stored incident, so those are re-made on a
        fresh read before they are believed.
        """
        cached = self._cache.get(incident_id)
        incident = cached if cached is not None else self._load(incident_id)
        fresh = cached is None
        conflicts = 0
        while True:
            now = self.clock.now()
            try:
                decision = decider(incident, now)
            except (InvalidTransition, PolicyViolation):
                if fresh:
                    raise
                incident, fresh = self._load(incident_id), True
                continue
            if not decision.events:
                if fresh:
                    return incident, 0
                incident, fresh = self._load(incident_id), True
                continue
            try:
                self._commit(incident, decision, now)
            except ConcurrencyError:
                conflicts += 1
                if conflicts == retries:
                    self._cache.pop(incident_id, None)
                    raise
                incident, fresh = self._load(incident_id), True
                continue
            delivered = self._deliver(decision.outbox)
            return self._cache.get(incident_id, decision.incident), delivered

    def _commit(self, before: Incident | None, decision: Decision, now: datetime) -> None:
        incident = decision.incident
        # New messages are inserted already claimed by us: we deliver them right after the
        # commit, and no other sender may take them meanwhile (and no extra round trip).
        self.store.append(
            incident.id,
            0 if before is None else before.version,
            decision.events,
            snapshot=incident,
            outbox=decision.outbox,
            claimed_until=now + self.lease,
        )
        self._remember(incident)
        if before is None or before.state != incident.state:
            _log.info(
                "incident_flow.state_changed",
                incident_id=incident.id,
                state=incident.state,
                previous=None if before is None else before.state,
                severity=str(incident.severity),
                version=incident.version,
            )

    def _remember(self, incident: Incident) -> None:
        cache = self._cache
        cache[incident.id] = incident
        if len(cache) > _CACHE_SIZE:
            del cache[next(iter(cache))]

    def _load(self, incident_id: str) -> Incident:
        cached = self._cache.get(incident_id)
        events = self.store.load(incident_id, cached.version if cached is not None else 0)
        if not events:
            if cached is None:
                raise IncidentNotFound(incident_id)
            return cached
        incident = fold(cached, events)
        self._remember(incident)
        return incident

    def _deliver(self, messages: Sequence[OutboxMessage]) -> int:
        """Deliver the new messages a commit just inserted (claimed by us in that commit)."""
        fresh = [m for m in messages if m.pending and m.attempts == 0]
        return self._settle(fresh) if fresh else 0

    def _settle(self, claimed: Sequence[OutboxMessage]) -> int:
        """Send the claimed messages and record each incident's outcomes right after its sends.

        A sender only sends while it holds the claim: once half the lease is gone, the rest is
        left for the next claim, so no message is sent after another sender could take it.
        """
        groups: dict[str, list[OutboxMessage]] = {}
        for message in claimed:
            groups.setdefault(message.incident_id, []).append(message)
        deadline = self.clock.now() + self.lease / 2
        delivered = 0
        for incident_id, messages in groups.items():
            outcomes: list[Outcome] = []
            for message in messages:
                if self.clock.now() > deadline:
                    break
                outcome = self._attempt(message)
                delivered += outcome.error is None
                outcomes.append(outcome)
            if not outcomes:
                break
            delivered += self._record(incident_id, outcomes)
            if self.clock.now() > deadline:
                break
        return delivered

    def _record(self, incident_id: str, outcomes: list[Outcome]) -> int:
        """Append the outcomes of one incident's sends; never fail the caller over it."""
        try:
            # Recording may queue follow-ups (a saved post-mortem's link); they count too.
            return self._execute(
                incident_id,
                lambda inc, now: decide_outcomes(inc, outcomes, now),
                retries=_DELIVERY_RETRIES,
            )[1]
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

    def _attempt(self, message: OutboxMessage) -> Outcome:
        try:
            receipt = self._send(message)
        except Exception as exc:  # noqa: BLE001 - any adapter failure is a failed attempt
            retry_after = exc.retry_after if isinstance(exc, DeliveryError) else None
            error = f"{type(exc).__name__}: {exc}"
            _log.warning(
                "incident_flow.delivery_failed",
                incident_id=message.incident_id,
                channel=message.channel,
                kind=message.kind,
                attempts=message.attempts + 1,
                error=error,
            )
            return Outcome(message, error=error, delay=backoff(message.attempts + 1, retry_after))
        return Outcome(message, receipt=receipt)

    def _send(self, message: OutboxMessage) -> str | None:
        if message.channel == "publisher":
            events = self.store.load(message.incident_id)  # one read: the timeline and its fold
            document = PostMortemDocument(
                incident=fold(None, events), events=events, folder=self.policy.postmortem_folder
            )
            return self.publisher.publish(document)
        notification = message.notification
        assert notification is not None  # noqa: S101 - chat and pager carry one
        if message.reclaimed or message.attempts:
            notification = attrs.evolve(notification, resent=True)
        if message.channel == "pager":
            return self.pager.send(notification)
        if notification.kind != "notify" and notification.thread is None:
            # The first message was not out yet when this one was decided: thread it under
            # the first one if that has been delivered since.
            incident = self._cache.get(message.incident_id) or self._load(message.incident_id)
            if incident.chat_thread is not None:
                notification = attrs.evolve(notification, thread=incident.chat_thread)
        return self.notifier.send(notification)


class _StoppedAcceptingAlerts(Exception):
    """The incident found by dedup key left the states that take its alerts before we wrote."""


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
