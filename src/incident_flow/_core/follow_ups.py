"""Follow-ups: items a person adds, items completed, and what the team's tracker is told.

Pure. An item of a kind the policy's ``[tracker]`` exports is opened there (an outbox message
``open:<item>`` to the ``tracker`` channel, committed with the event that raised it); settling
it here (done or waived) closes its issue (``close:<item>``), unless the tracker is where it
was settled. The delivery of an ``open`` records :class:`~incident_flow.events.FollowUpExported`
(see :func:`tracker_answered`), so each item has one issue however often the message is sent.
"""

from __future__ import annotations

from . import commands as cmd
from . import events as ev
from .decision import Draft, refuse
from .incident import ActionItem, Incident, fold
from .policy import Policy

__all__ = ["add_follow_up", "complete", "export_follow_ups", "settle_target", "tracker_answered"]


def add_follow_up(inc: Incident, c: cmd.AddFollowUp, policy: Policy, d: Draft) -> None:
    """Record a follow-up item a person names (it is owed before the incident closes)."""
    item_id = f"AI-{len(inc.action_items) + 1}"
    d.add(
        ev.ActionItemRaised, item_id=item_id, kind="follow_up", description=c.title, owner=c.owner
    )
    owner = f" (owner: {c.owner})" if c.owner else ""
    d.say("chat", "update", f"Follow-up {item_id} added by {c.by}: {c.title}{owner}")


def settle_target(inc: Incident, trigger: str, item_id: str) -> ActionItem:
    """The open item ``item_id`` of ``inc``, or the refusal naming the items there are."""
    item = inc.action_item(item_id)
    if item is None:
        known = ", ".join(i.id for i in inc.action_items) or "none"
        raise refuse(
            inc, trigger, "unknown_action_item", f"no action item {item_id!r} (has: {known})"
        )
    if not item.open:
        raise refuse(inc, trigger, "action_item_settled", f"{item.id} is already settled")
    return item


def complete(inc: Incident, c: cmd.CompleteActionItem, policy: Policy, d: Draft) -> None:
    """An action item is done: by command, or its tracker issue was closed (``origin``)."""
    item = settle_target(inc, c.trigger, c.item_id)
    d.add(ev.ActionItemCompleted, item_id=item.id)
    where = f" (closed in {c.origin})" if c.origin else ""
    note = f": {c.note}" if c.note else ""
    d.say("chat", "update", f"{item.id} done by {c.by}{where}{note}")


def export_follow_ups(draft: Draft, policy: Policy) -> None:
    """Tell the tracker of the items ``draft`` raised or settled, as the policy says.

    Called on every decision that may raise or settle items, just before it is finished.
    """
    tracker = policy.tracker
    if tracker is None or not draft.events:
        return
    base = draft.base
    before = {i.id: i for i in base.action_items} if base is not None else {}
    raised: dict[str, str] = {}
    for event in draft.events:
        if isinstance(event, ev.ActionItemRaised):
            raised[event.item_id] = event.kind
            if tracker.exports(event.kind):
                draft.say("tracker", f"open:{event.item_id}")
        elif isinstance(event, ev.ActionItemCompleted | ev.ActionItemWaived):
            if draft.origin == tracker.kind:
                continue  # settled by closing its issue there: nothing to send back
            item = before.get(event.item_id)
            kind = raised.get(event.item_id) or (item.kind if item is not None else None)
            exported = item is not None and item.tracker_key is not None
            if exported or (kind is not None and tracker.exports(kind)):
                draft.say("tracker", f"close:{event.item_id}")


def tracker_answered(draft: Draft, kind: str, receipt: str | None, tracker: str) -> None:
    """The tracker opened an item's issue: record it once (``receipt``: ``"<key> <url>"``)."""
    action, _, item_id = kind.partition(":")
    if action != "open" or not receipt:
        return
    key, _, url = receipt.partition(" ")
    base = draft.base
    assert base is not None  # noqa: S101 - outcomes are recorded on an incident
    item = fold(base, draft.events).action_item(item_id)
    if item is None or item.tracker_key is not None:
        return  # the same issue answered again (a retried open finds the first one)
    draft.add(ev.FollowUpExported, item_id=item_id, tracker=tracker, key=key, url=url or key)
    draft.say("chat", "update", f"{item_id} is tracked at {url or key}")
