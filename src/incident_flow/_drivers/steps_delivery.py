"""Delivery, as steps: the outbox sent (the page first), outcomes recorded, claims held.

A message is sent after its decision is committed, under its idempotency key; its outcome
is recorded lightly (see docs/reliability.md). Decisions on outcomes are
:mod:`incident_flow._delivery.decide`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import attrs

from .._core.incident import Incident
from .._core.messages import Notification, OutboxMessage, backoff
from .._core.rooms import NOT_OPENED, ROOM_KINDS, read_receipt
from .._core.steps import Steps, call
from .._response.decide import (
    Decision,
    Outcome,
    decide_outcomes,
)
from ..exceptions import (
    ConcurrencyError,
    DeliveryError,
)
from .loop import _OUTCOME_RETRIES, _channel_order, _FirstNotOut, _log
from .steps_outcomes import MOST, OutcomeSteps

_CHAT_ORDER = {"notify": 0, "invite": 2, "archive": 2}


def _order(message: OutboxMessage) -> tuple[int, int]:
    """Pages, then chat, then the publisher, each in the order decided.

    In chat, an incident's first message goes before the rest (which wait for it), and the
    invitations to and the archive of an incident's channel after them (they wait for the
    message that opens it).
    """
    return _channel_order(message), _CHAT_ORDER.get(message.kind, 1)


class DeliverySteps(OutcomeSteps):
    """Delivery, as steps: the outbox sent (the page first), outcomes recorded, claims held."""

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
        # Outcomes waiting to be written first: their messages' claims are not renewed.
        yield from self._flush()
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
        for message in sorted(claimed, key=_order) if len(claimed) > 1 else claimed:
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
            # Only a later chat message may thread under this batch's first one; an invitation
            # or an archive goes to the channel this batch opened.
            first = None
            if message.channel == "chat" and message.kind in ROOM_KINDS[1:]:
                first = next(
                    (o for o in outcomes if o.error is None and o.message.kind == "channel"), None
                )
            elif message.channel == "chat" and message.kind != "notify":
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
        if not lock:  # the caller's own sends, under its locks: their outcomes may wait
            return delivered + (yield from self._record_all(sent, defer=True))
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

    def _deliver_pending(self, limit: int, batches: int | None) -> Steps[int]:
        # Outcomes waiting first: a message of ours whose claim ran out is not sent again.
        yield from self._flush()
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
        yield from self._flush()  # the outcomes of what recording them queued and sent
        return delivered

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

    def _record_all(self, sent: dict[str, list[Outcome]], *, defer: bool = False) -> Steps[int]:
        """Record several incidents' outcomes in one append when the store can; else each.

        ``defer``: those that decide nothing else wait for the next append (steps_outcomes).
        """
        if defer and self._defers():
            sent = self._defer(sent)
            if len(self._unflushed) > MOST:
                yield from self._flush()
            if not sent:
                return 0
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
        if message.channel == "tracker":
            return (yield from self._send_follow_up(message))
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
            # What call() yields, without a generator of its own: this runs for every send.
            paged: str | None = yield ("pager", "send", (notification,), {})
            return paged
        if notification.kind in ROOM_KINDS[1:]:
            return (yield from self._room(message.incident_id, notification, first))
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
        if notification.kind == "channel":
            return (yield from self._room(message.incident_id, notification))
        sent: str | None = yield ("notifier", "send", (notification,), {})
        return sent

    def _room(
        self, incident_id: str, notification: Notification, opened: Outcome | None = None
    ) -> Steps[str | None]:
        """Open the incident's channel, invite to it or archive it (``notification.kind``).

        A notifier that cannot (no ``incident_channel``) opens none: the thread is used, and
        the receipt says why. A refusal the chat will repeat (a name taken by a channel not
        ours) is that answer too, not a retry. Inviting or archiving waits for the channel
        to be open (``opened``: it was, in this very batch), and does nothing when it never
        was.
        """
        if not hasattr(self._port("notifier"), "incident_channel"):
            if notification.kind == "channel":
                return f"{NOT_OPENED}the chat notifier cannot open channels"
            return None
        got = read_receipt(opened.receipt) if opened is not None else None
        if notification.kind != "channel" and notification.room is None and isinstance(got, tuple):
            notification = attrs.evolve(notification, room=got[0])
        if notification.kind != "channel" and notification.room is None:
            incident = yield from self._load(incident_id)
            if incident.incident_channel is not None:
                notification = attrs.evolve(notification, room=incident.incident_channel)
            elif incident.incident_channel_error is None:
                msg = "the incident's channel is not open yet: this waits for it"
                raise _FirstNotOut(msg, retry_after=2.0)
            else:
                return None  # it was never opened: the thread is used
        try:
            receipt: str | None = yield from call("notifier", "incident_channel", notification)
        except DeliveryError as exc:
            if notification.kind == "channel" and exc.permanent:
                return f"{NOT_OPENED}{exc}"
            raise
        return receipt
