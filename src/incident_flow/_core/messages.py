"""Outbox messages: what the flow owes the outside world, committed with their events."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Literal

import attrs

from .severity import Severity

__all__ = ["Channel", "Notification", "OutboxMessage", "backoff"]

#: ``chat`` goes to the notifier (Slack), ``pager`` to the pager, ``publisher`` to the publisher,
#: ``tracker`` to the team's issue tracker (kinds ``open:<item>`` and ``close:<item>``).
Channel = Literal["chat", "pager", "publisher", "tracker"]


def _names(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _pairs(value: Iterable[Iterable[str]]) -> tuple[tuple[str, str], ...]:
    return tuple((str(role), str(person)) for role, person in value)


@attrs.frozen(kw_only=True)
class Notification:
    """What a notifier or pager is asked to deliver.

    Attributes:
        incident_id: the incident.
        kind: ``notify`` (an incident's first chat message), ``update`` (later chat messages),
            ``page`` (every page: the first and each re-page), ``ack`` / ``resolve`` (mirrored to
            a pager that was paged).
        text: the human text.
        title, severity, state: the incident as it was when the message was decided.
        idempotency_key: the same for every attempt of this message; receivers that dedup on
            it (PagerDuty ``dedup_key`` + this, Slack ``client_msg_id``) see one message.
        by: who acted, when a person did.
        origin: the vendor the person acted in, when the message mirrors a vendor action
            (``pagerduty``, ``opsgenie``, ``slack``...): that vendor already knows, so its
            adapter does not send it back there (no echo, no loop).
        url: the alert's link back to its source.
        runbook_url: the runbook in use, if any.
        acknowledged_by: who acknowledged the incident, if anyone has.
        thread: for later chat messages, the receipt of the incident's first chat message
            (a Slack ``channel:ts``), so updates go into its thread; filled in when sent.
        resent: an earlier attempt may have reached the receiver (it failed without an answer,
            or its sender crashed); a receiver that can look up what it already has should,
            before posting again. Filled in when sent.
        send_within: seconds the sender still holds the message's claim; an adapter that
            retries stops before they run out (another sender may take it then). Filled in
            when sent; None: no bound.
        to: for a page, the people it goes to (who the policy's schedules had on call, or the
            escalation level's targets as written); empty: the pager's own routing.
        fired: how many times the incident's alert has fired so far (a storm's repeats are
            summed up, not posted one by one: a channel may show this count instead).
        since: when the message was decided: no attempt of it can be older, so a receiver
            that looks before posting again need look no further back. Filled in when sent.
        channel: for a chat message, the chat channel of the incident's team (a Slack channel
            id); None: the channel the notifier was configured with. A threaded message goes
            where its ``thread`` is.
        roles: who holds each role, as ``(role, person)`` pairs; a commander the incident
            needs and nobody holds is ``("commander", "")`` (a chat may offer to lead).
        room: the incident's own channel (a Slack channel id) once it is open: a message
            whose ``thread`` is there is posted in the channel, not as a reply. For the
            message that opens it (``kind`` ``channel``), the name to give it.
    """

    incident_id: str
    kind: str
    text: str
    title: str
    severity: Severity
    state: str
    idempotency_key: str
    by: str | None = None
    origin: str | None = None
    url: str | None = None
    runbook_url: str | None = None
    acknowledged_by: str | None = None
    thread: str | None = None
    resent: bool = False
    send_within: float | None = None
    fired: int = 1
    to: tuple[str, ...] = attrs.field(default=(), converter=_names)
    since: datetime | None = None
    channel: str | None = None
    roles: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_pairs)
    room: str | None = None

    def to_send(
        self, *, resent: bool, send_within: float | None, since: datetime | None = None
    ) -> Notification:
        """This message as a sender hands it over (built directly: it runs for every send)."""
        return Notification(
            incident_id=self.incident_id,
            kind=self.kind,
            text=self.text,
            title=self.title,
            severity=self.severity,
            state=self.state,
            idempotency_key=self.idempotency_key,
            by=self.by,
            origin=self.origin,
            url=self.url,
            runbook_url=self.runbook_url,
            acknowledged_by=self.acknowledged_by,
            thread=self.thread,
            resent=resent,
            send_within=send_within,
            fired=self.fired,
            to=self.to,
            since=since if since is not None else self.since,
            channel=self.channel,
            roles=self.roles,
            room=self.room,
        )


@attrs.frozen(kw_only=True)
class OutboxMessage:
    """A message in the outbox: pending until delivered, retried with backoff when it fails.

    Attributes:
        id: unique and stable (``incident/version/channel/kind``); also the idempotency key.
        channel: where it goes.
        notification: what to send (None for the publisher, which is sent the post-mortem).
        attempts: how many deliveries were tried.
        next_attempt_at: when it is due (again).
        delivered_at: when it was delivered, or None while pending.
        last_error: what the last failed attempt said.
        reclaimed: set by the store when it hands out a message whose previous sender's lease
            ran out with no outcome recorded (a crash between sending and recording): it may
            have reached the receiver already.

    Which sender holds a message (its lease) is the store's business, not part of the value.
    """

    id: str
    incident_id: str
    channel: Channel
    kind: str
    created_at: datetime
    next_attempt_at: datetime
    notification: Notification | None = None
    attempts: int = 0
    delivered_at: datetime | None = None
    last_error: str | None = None
    reclaimed: bool = False

    @property
    def pending(self) -> bool:
        """True until the message is delivered."""
        return self.delivered_at is None


_BASE = 5.0
_CAP = 15 * 60.0


def backoff(attempts: int, retry_after: float | None = None) -> timedelta:
    """How long to wait after ``attempts`` failed attempts: 5 s doubling up to 15 min.

    A receiver's ``Retry-After`` wins when it asks for longer.
    """
    delay = min(_BASE * 2 ** min(max(attempts - 1, 0), 20), _CAP)
    if retry_after is not None and retry_after > delay:
        delay = min(retry_after, 24 * 3600.0)  # never trust a receiver with forever
    return timedelta(seconds=delay)
