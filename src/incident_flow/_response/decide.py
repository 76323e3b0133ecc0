"""The decision step: an incident's state and a command in, new events and outbox messages out.

Here are the response's commands (acknowledge, reclassify, resolve, reopen, waive, close...),
the reminders, and the one table that sends each command to its concern's handler; each
concern keeps its own decisions (``_alerting``, ``_oncall``, ``_runbooks``, ``_review``,
``_delivery``), and the names the drivers call are re-exported here.

Pure: no I/O, no clock, no randomness (time and ids come in as arguments), so the sync and async
drivers share it and tests can call it directly. A refusal raises and decides nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from .._alerting.decide import decide_join, decide_new, decide_release, record_alert
from .._core import commands as cmd
from .._core import events as ev
from .._core.decision import (
    CHANGES_WHAT_IS_OWED,
    Decision,
    Draft,
    Via,
    record_only,
    refuse,
    team_policy,
)
from .._core.follow_ups import add_follow_up, complete, export_follow_ups
from .._core.incident import Incident
from .._core.policy import Policy
from .._core.process import PROCESS
from .._core.rooms_decide import follow
from .._delivery.decide import Outcome, decide_outcomes
from .._oncall.decide import (
    decide_escalation,
    escalate,
    escalation_timer,
    page_first_level,
)
from .._review import decide as review
from .._runbooks.decide import (
    add_runbook,
    needs_runbook_item,
    raise_runbook_item,
    runbook_for,
    update_runbook,
)
from .roles import assign, decide_commander

__all__ = [
    "Decision",
    "Outcome",
    "decide",
    "decide_escalation",
    "decide_join",
    "decide_new",
    "decide_outcomes",
    "decide_release",
    "decide_reminder",
    "record_only",
]


def decide(
    incident: Incident,
    command: cmd.Command,
    policy: Policy,
    now: datetime,
    *,
    via: Via | None = None,
) -> Decision:
    """Decide what ``command`` does to ``incident``.

    ``via`` is the vendor action the command comes from: an ``ActionApplied`` event records
    it first, and a command that then changes nothing decides nothing at all.

    Raises:
        InvalidTransition: the process has no such trigger in the incident's state.
        PolicyViolation: the policy's standards refuse it now (the detail says which and why).
    """
    trigger = command.fired_trigger if isinstance(command, cmd.RecordAlert) else command.trigger
    PROCESS.fire(incident.state, trigger, incident_id=incident.id)
    whole, policy = policy, team_policy(policy, incident)
    draft = Draft(incident, now, command.by, command.origin, channel=policy.chat_channel)
    if via is not None:
        draft.add(
            ev.ActionApplied,
            source=via.source,
            kind=via.kind,
            identity=via.by,
            delivery_id=via.delivery_id,
        )
    if isinstance(command, cmd.Reassign):
        _reassign(incident, command, whole, draft)  # the one decision between teams
    else:
        _HANDLERS[type(command)](incident, command, policy, draft)
    if via is not None and len(draft.events) == 1:
        return Decision(incident)  # the action changes nothing: do not record it either
    export_follow_ups(draft, policy)
    follow(draft, policy)  # the incident's own channel: opened, invited to, archived
    return draft.finish(
        reminders=policy if trigger in CHANGES_WHAT_IS_OWED else None,
        roles=whole if trigger in CHANGES_WHO_LEADS else None,
    )


#: The triggers after which whether the incident awaits a commander may change (its
#: severity, its team, resolved or not, who leads).
CHANGES_WHO_LEADS = frozenset(
    {"reclassify", "reassign", "resolve", "reopen", "assign_role", "alert_repeated"}
)


def decide_reminder(incident: Incident, policy: Policy, now: datetime) -> Decision:
    """Remind the thread of an overdue post-mortem or open action items, else nothing.

    An unresolved incident's commander timer is this turn's too (:func:`decide_commander`).
    """
    if incident.commander_due_at is not None and incident.commander_due_at <= now:
        return decide_commander(incident, policy, now)
    due = incident.reminder_due_at
    about = incident.reminder_about
    if due is None or due > now or about is None:
        return Decision(incident)
    PROCESS.fire(incident.state, "remind", incident_id=incident.id)
    policy = team_policy(policy, incident)
    draft = Draft(incident, now, None, channel=policy.chat_channel)
    draft.add(ev.Reminded, about=about, remind_at=policy.due_after(draft.at, policy.remind_every))
    if about == "postmortem":
        text = review.review_reminder(incident, policy)
    else:
        items = "; ".join(f"{i.id} {i.description}" for i in incident.open_action_items)
        text = f"Reminder: open action items: {items}"
    draft.say("chat", "update", text)
    return draft.finish()


def _reclassify(inc: Incident, c: cmd.Reclassify, policy: Policy, d: Draft) -> None:
    if c.severity == inc.severity:
        return
    critical = policy.is_critical(c.severity)
    unresolved = inc.state in ("notified", "runbook")
    page = critical and not inc.paged and unresolved
    # An upgrade starts the escalation timer at once (with the new severity's timeout); a
    # downgrade below critical stops it; otherwise it runs on as it was.
    if not critical or not unresolved or inc.acknowledged_at is not None:
        escalate_at = None
    elif page or c.severity.is_more_severe_than(inc.severity):
        escalate_at = escalation_timer(policy, inc.escalation_level, c.severity, d.at, paging=True)
    else:
        escalate_at = inc.escalation_due_at
    d.add(
        ev.SeverityChanged,
        old=inc.severity,
        new=c.severity,
        critical=critical,
        postmortem_required=policy.requires_postmortem(c.severity),
        paged=page,
        escalate_at=escalate_at,
    )
    d.say("chat", "update", f"Severity {inc.severity} -> {c.severity} by {c.by}")
    if page:
        page_first_level(c.severity, inc.title, policy, d)


def _vendor_time(inc: Incident, c: cmd.Command, d: Draft) -> datetime | None:
    """When the person acted in the vendor's tool, kept between the incident's start and now."""
    if c.at is None:
        return None
    return min(max(c.at, inc.created_at), d.at)


def _acknowledge(inc: Incident, c: cmd.Acknowledge, policy: Policy, d: Draft) -> None:
    if inc.acknowledged_at is not None:
        return
    d.add(ev.IncidentAcknowledged, happened_at=_vendor_time(inc, c, d))
    d.say("chat", "update", f"Acknowledged by {c.by}")
    if inc.paged:
        d.say("pager", "ack", f"Acknowledged by {c.by}")


def _start_runbook(inc: Incident, c: cmd.StartRunbook, policy: Policy, d: Draft) -> None:
    runbook = c.runbook or inc.runbook or runbook_for(inc.alert, policy)
    d.add(ev.RunbookStarted, runbook=runbook)
    if runbook is None:
        if not any(item.kind == "add_runbook" for item in inc.action_items):
            raise_runbook_item(inc, d)
        d.say("chat", "update", f"No runbook for {inc.alert.name!r}: action item raised to add one")
    else:
        d.say("chat", "update", f"Runbook {runbook.name}: {runbook.url}")


def _resolve(inc: Incident, c: cmd.Resolve, policy: Policy, d: Draft) -> None:
    d.add(ev.IncidentResolved, summary=c.summary, happened_at=_vendor_time(inc, c, d))
    if needs_runbook_item(inc, policy):
        raise_runbook_item(inc, d)
    summary = f": {c.summary}" if c.summary else ""
    unsaid = inc.alert_count - inc.repeats_said_count
    fired = f" (the alert fired {inc.alert_count} times)" if unsaid > 0 else ""
    d.say("chat", "update", f"Resolved by {c.by}{summary}{fired}")
    if inc.paged:
        d.say("pager", "resolve", f"Resolved by {c.by}")


def _reopen(inc: Incident, c: cmd.Reopen, policy: Policy, d: Draft) -> None:
    # A flapping alert (fired again soon after it resolved) is one incident and one page: the
    # alert's own reopen within policy.flap_window does not page again; a person's does.
    flapping = (
        c.by is None
        and policy.flap_window > timedelta(0)
        and inc.resolved_at is not None
        and d.at - inc.resolved_at <= policy.flap_window
    )
    page = inc.critical and not flapping and inc.page_hold is None
    d.add(
        ev.IncidentReopened,
        paged=page,
        escalate_at=escalation_timer(policy, 0, inc.severity, d.at, paging=page),
    )
    if flapping:
        d.say(
            "chat",
            "update",
            "Reopened: the alert is flapping (fired again soon after it resolved; not paged again)",
        )
        return
    who = f" by {c.by}" if c.by else " (the alert fired again)"
    d.say("chat", "update", f"Reopened{who}")
    if page:
        page_first_level(inc.severity, inc.title, policy, d, note=" (reopened)")


def _waive(inc: Incident, c: cmd.WaiveActionItem, policy: Policy, d: Draft) -> None:
    item = inc.action_item(c.item_id)
    if item is None:
        known = ", ".join(i.id for i in inc.action_items) or "none"
        raise refuse(
            inc, c.trigger, "unknown_action_item", f"no action item {c.item_id!r} (has: {known})"
        )
    if not item.open:
        raise refuse(inc, c.trigger, "action_item_settled", f"{item.id} is already settled")
    d.add(ev.ActionItemWaived, item_id=item.id, reason=c.reason)


def _close(inc: Incident, c: cmd.Close, policy: Policy, d: Draft) -> None:
    if inc.state == "resolved" and inc.postmortem_required:
        raise refuse(
            inc,
            c.trigger,
            "postmortem_required",
            "a reviewed post-mortem is required: the incident reached a severity that needs one "
            "(the obligation stays after a downgrade); start one with start_postmortem",
        )
    pm = inc.postmortem
    if inc.state == "runbook_update" and pm is not None and pm.location is None:
        raise refuse(
            inc,
            c.trigger,
            "postmortem_saved",
            "the post-mortem is not saved yet (its delivery is pending; run deliver_pending())",
        )
    if inc.open_action_items:
        items = "; ".join(f"{i.id} {i.description}" for i in inc.open_action_items)
        raise refuse(
            inc,
            c.trigger,
            "open_action_items",
            f"open action items must be done or waived first: {items}",
        )
    d.add(ev.IncidentClosed)
    d.say("chat", "update", f"Closed by {c.by}")


def _reassign(inc: Incident, c: cmd.Reassign, whole: Policy, d: Draft) -> None:
    """Hand ``inc`` to team ``c.team`` of ``whole`` (the policy with every team).

    The old thread hears of it; the new team's channel gets the incident's first message
    there (its new thread); a critical, unresolved incident pages the new team's first level
    and its escalation starts over with that team's levels.
    """
    current = inc.team if inc.team in whole.team_names else whole.default_team_name
    if c.team not in whole.team_names:
        known = ", ".join(whole.team_names)
        raise refuse(inc, c.trigger, "unknown_team", f"no team {c.team!r} (known: {known})")
    if c.team == current:
        raise refuse(inc, c.trigger, "same_team", f"the incident is already team {current}'s")
    new = whole.for_team(c.team)
    page = inc.critical and inc.state in ("notified", "runbook")
    d.add(
        ev.TeamReassigned,
        team=c.team,
        previous=inc.team,
        paged=page,
        escalate_at=escalation_timer(new, 0, inc.severity, d.at, paging=page),
    )
    if inc.chat_thread is not None:
        d.say("chat", "update", f"Reassigned to team {c.team} by {c.by}", thread=inc.chat_thread)
    d.channel = new.chat_channel
    note = f" (reassigned from team {current} by {c.by})"
    d.say("chat", "notify", f"[{inc.severity}] {inc.title}{note}")
    if page:
        page_first_level(inc.severity, inc.title, new, d, note=f" (reassigned to team {c.team})")


def _note(inc: Incident, c: cmd.Note, policy: Policy, d: Draft) -> None:
    d.add(ev.NoteAdded, text=c.text)
    d.say("chat", "update", f"{c.by}: {c.text}")


_HANDLERS: dict[type[cmd.Command], Callable[[Incident, Any, Policy, Draft], None]] = {
    cmd.Reclassify: _reclassify,
    cmd.Acknowledge: _acknowledge,
    cmd.Escalate: escalate,
    cmd.StartRunbook: _start_runbook,
    cmd.Resolve: _resolve,
    cmd.Reopen: _reopen,
    cmd.StartPostmortem: review.start,
    cmd.AmendPostmortem: review.amend,
    cmd.SubmitPostmortem: review.submit,
    cmd.ApprovePostmortem: review.approve,
    cmd.RequestPostmortemChanges: review.request_changes,
    cmd.RevisePostmortem: review.revise,
    cmd.RecordMerge: review.merged,
    cmd.RecordReviewClosed: review.closed,
    cmd.PublishPostmortem: review.publish,
    cmd.AddRunbook: add_runbook,
    cmd.UpdateRunbook: update_runbook,
    cmd.WaiveActionItem: _waive,
    cmd.AddFollowUp: add_follow_up,
    cmd.CompleteActionItem: complete,
    cmd.Close: _close,
    cmd.Note: _note,
    cmd.AssignRole: assign,
    cmd.RecordAlert: record_alert,
}
