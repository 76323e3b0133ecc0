"""What a delivery's outcome decides: delivered, retried later, or given up and said.

Pure: the outcomes come in from the driver, which sent the messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import attrs

from .._core import events as ev
from .._core.decision import (
    Decision,
    Draft,
    team_policy,
)
from .._core.follow_ups import export_follow_ups, tracker_answered
from .._core.incident import Incident, fold
from .._core.messages import OutboxMessage
from .._core.policy import Policy
from .._core.rooms_decide import follow
from .._review import decide as review


@attrs.frozen
class Outcome:
    """How one delivery attempt went: a receipt, or an error and the delay before a retry."""

    message: OutboxMessage
    receipt: str | None = None
    error: str | None = None
    delay: timedelta = timedelta(0)


def _settled(
    message: OutboxMessage,
    attempts: int,
    *,
    delivered_at: datetime | None = None,
    next_attempt_at: datetime | None = None,
    error: str | None = None,
) -> OutboxMessage:
    # Built directly rather than with attrs.evolve: this runs for every delivery.
    return OutboxMessage(
        id=message.id,
        incident_id=message.incident_id,
        channel=message.channel,
        kind=message.kind,
        created_at=message.created_at,
        next_attempt_at=next_attempt_at or message.next_attempt_at,
        notification=message.notification,
        attempts=attempts,
        delivered_at=delivered_at,
        last_error=error,
        reclaimed=False,
    )


def decide_outcomes(
    incident: Incident, outcomes: Sequence[Outcome], now: datetime, policy: Policy | None = None
) -> Decision:
    """Record delivery attempts of the incident's messages, one event each.

    A delivered message gets a MessageDelivered event and is settled; a failed one gets a
    DeliveryFailed event and stays pending until its next attempt. The publisher's answers
    move the post-mortem on: a branch or pull request opened is posted to the thread, and a
    merged (or saved) post-mortem is published once its approvals are there.
    """
    policy = team_policy(policy if policy is not None else Policy(), incident)
    draft = Draft(incident, now, None, channel=policy.chat_channel)
    settled: list[OutboxMessage] = []
    publisher = False
    # Retries are timed from this replica's real clock, not from the event time (which never
    # goes backwards): a replica whose clock lags must not hold retries back by the lag.
    for outcome in outcomes:
        message = outcome.message
        attempts = message.attempts + 1
        if outcome.error is None:
            draft.add(
                ev.MessageDelivered,
                message_id=message.id,
                channel=message.channel,
                kind=message.kind,
                attempts=attempts,
                receipt=outcome.receipt,
            )
            if message.channel == "publisher":
                publisher = True
                _publisher_answered(draft, message.kind, outcome.receipt, policy)
            elif message.channel == "tracker" and policy.tracker is not None:
                tracker_answered(draft, message.kind, outcome.receipt, policy.tracker.kind)
            settled.append(_settled(message, attempts, delivered_at=draft.at))
        else:
            next_attempt_at = now + outcome.delay
            draft.add(
                ev.DeliveryFailed,
                message_id=message.id,
                channel=message.channel,
                kind=message.kind,
                attempts=attempts,
                error=outcome.error,
                next_attempt_at=next_attempt_at,
            )
            if message.channel == "publisher" and message.kind == "merge" and attempts == 1:
                draft.say(
                    "chat",
                    "update",
                    f"Could not merge the post-mortem ({outcome.error}); retrying. "
                    "A merge on the pull request itself counts too.",
                )
            settled.append(
                _settled(message, attempts, next_attempt_at=next_attempt_at, error=outcome.error)
            )
    if publisher:  # a merge publishes the post-mortem: its learnings' items are raised
        export_follow_ups(draft, policy)
    follow(draft, policy)  # the incident's channel opened (or not): recorded, said
    return draft.finish(tuple(settled), reminders=policy if publisher else None)


def _publisher_answered(draft: Draft, kind: str, receipt: str | None, policy: Policy) -> None:
    """The publisher opened the review (``submit``), or merged or saved the post-mortem."""
    before = draft.base
    assert before is not None  # noqa: S101 - outcomes are recorded on an incident
    now = fold(before, draft.events)
    pm = now.postmortem
    if pm is None:
        return
    if kind == "submit":
        if before.postmortem is None or before.postmortem.review_url is None:
            draft.say("chat", "update", f"Post-mortem up for review: {receipt}")
    elif kind in ("merge", "postmortem"):
        if pm.published and pm.merged_at is None:
            # 0.1 published first and saved after: only the location follows.
            draft.say("chat", "update", f"Post-mortem published: {receipt}")
        elif pm.published:
            return  # a person's merge was recorded first: it was said then
        elif now.state == "postmortem" and pm.stage != "merged":
            review.record_merge(now, pm, receipt or "saved", policy, draft)
