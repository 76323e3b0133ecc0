"""The decision step: an incident's state and a command in, new events and outbox messages out.

Pure: no I/O, no clock, no randomness (time and ids come in as arguments), so the sync and async
drivers share it and tests can call it directly. A refusal raises and decides nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from . import _commands as cmd
from . import _events as ev
from . import _review as review
from ._alerts import Alert
from ._incident import Incident, fold
from ._messages import Channel, Notification, OutboxMessage
from ._policy import Policy
from ._process import PROCESS
from ._runbooks import Runbook, exact_pattern
from ._severity import Severity
from ._storms import GroupingRule, Silence, duration_text, matching_silence
from .exceptions import InvalidTransition, PolicyViolation

if TYPE_CHECKING:
    from ._actions import Action

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

_E = TypeVar("_E", bound=ev.Event)


@attrs.frozen
class Decision:
    """What a command decided: the incident after it, its new events and outbox messages."""

    incident: Incident
    events: tuple[ev.Event, ...] = ()
    outbox: tuple[OutboxMessage, ...] = ()


class _Draft:
    """Collects the events and messages of one command, numbering and timestamping them."""

    def __init__(
        self, incident: Incident | None, now: datetime, by: str | None, origin: str | None = None
    ) -> None:
        self.base = incident
        # Timestamps never go backwards, even when the host's clock does.
        self.at = now if incident is None or now >= incident.updated_at else incident.updated_at
        self.by = by
        self.origin = origin
        self.version = 0 if incident is None else incident.version
        self.events: list[ev.Event] = []
        self.messages: list[tuple[Channel, str, str, tuple[str, ...]]] = []

    def add(self, cls: type[_E], **fields: Any) -> _E:
        self.version += 1
        fields.setdefault("by", self.by)
        event = cls(version=self.version, at=self.at, **fields)
        self.events.append(event)
        return event

    def say(self, channel: Channel, kind: str, text: str = "", to: tuple[str, ...] = ()) -> None:
        self.messages.append((channel, kind, text, to))

    def finish(
        self, settled: tuple[OutboxMessage, ...] = (), *, reminders: Policy | None = None
    ) -> Decision:
        if not self.events:
            assert self.base is not None  # noqa: S101 - a new incident always has events
            return Decision(self.base)
        after = fold(self.base, self.events)
        if reminders is not None:
            schedule = _reminder_schedule(after, reminders, self.at)
            if schedule is not None:
                event = self.add(
                    ev.ReminderScheduled, by=None, about=schedule[0], remind_at=schedule[1]
                )
                after = fold(after, [event])
        if not self.messages:
            return Decision(after, tuple(self.events), settled)
        first = self.events[0].version
        keys: list[str] = []
        seen: dict[str, int] = {}
        for channel, kind, _, _ in self.messages:
            key = f"{after.id}/{first}/{channel}/{kind}"
            # A second message of a kind in one decision (an approval and "ready to merge")
            # needs a key of its own: the key is what makes a re-send idempotent.
            n = seen[key] = seen.get(key, 0) + 1
            keys.append(key if n == 1 else f"{key}#{n}")
        outbox = tuple(
            _message(after, channel, kind, text, key=key, draft=self, to=to)
            for (channel, kind, text, to), key in zip(self.messages, keys, strict=True)
        )
        return Decision(after, tuple(self.events), settled + outbox)


def _message(
    incident: Incident,
    channel: Channel,
    kind: str,
    text: str,
    *,
    key: str,
    draft: _Draft,
    to: tuple[str, ...] = (),
) -> OutboxMessage:
    notification = None
    if channel != "publisher":
        notification = Notification(
            incident_id=incident.id,
            kind=kind,
            text=text,
            title=incident.title,
            severity=incident.severity,
            state=incident.state,
            idempotency_key=key,
            by=draft.by,
            origin=draft.origin,
            url=incident.alert.url,
            runbook_url=incident.runbook.url if incident.runbook else None,
            acknowledged_by=incident.acknowledged_by,
            thread=incident.chat_thread if kind != "notify" else None,
            fired=incident.alert_count,
            to=to,
        )
    return OutboxMessage(
        id=key,
        incident_id=incident.id,
        channel=channel,
        kind=kind,
        created_at=draft.at,
        next_attempt_at=draft.at,
        notification=notification,
    )


def _refuse(incident: Incident, trigger: str, standard: str, detail: str) -> PolicyViolation:
    return PolicyViolation(incident.id, incident.state, trigger, standard, detail)


def decide_new(
    incident_id: str,
    alert: Alert,
    policy: Policy,
    now: datetime,
    *,
    group: tuple[GroupingRule, str] | None = None,
    silence: Silence | None = None,
) -> Decision:
    """Open an incident for a firing alert: triggered -> classified -> notified, one append.

    ``group``: the grouping rule (and group key) it starts; ``silence``: the silence it fired
    in: then it is only recorded (triggered, waiting for the silence to end), and says nothing.
    """
    draft = _Draft(None, now, None)
    draft.add(
        ev.IncidentTriggered,
        incident_id=incident_id,
        alert=alert,
        title=alert.title,
        dedup_key=alert.dedup_key,
    )
    rule = None
    if group is not None:
        rule, key = group
        draft.add(
            ev.GroupStarted,
            rule=rule.name,
            group=key,
            window=duration_text(rule.window),
            until=draft.at + rule.window,
        )
    if silence is not None:
        _silenced(draft, silence)
        return draft.finish()
    _open(draft, incident_id, alert, policy, rule)
    return draft.finish()


def _silenced(draft: _Draft, silence: Silence) -> None:
    draft.add(
        ev.AlertSilenced,
        silence_id=silence.id,
        until=silence.until,
        why=silence.why,
        silenced_by=silence.by,
    )


def _open(
    draft: _Draft,
    incident_id: str,
    alert: Alert,
    policy: Policy,
    rule: GroupingRule | None,
) -> None:
    """Classify and notify (posting, and paging unless ``rule``'s threshold holds the page)."""
    state = PROCESS.fire("triggered", "classify", incident_id=incident_id)
    runbook = runbook_for(alert, policy)
    if alert.severity is not None:
        severity, source = alert.severity, "alert"
    elif runbook is not None and runbook.severity is not None:
        severity, source = runbook.severity, "catalog"
    else:
        severity, source = policy.default_severity, "default"
    critical = policy.is_critical(severity)
    draft.add(
        ev.IncidentClassified,
        severity=severity,
        source=source,
        critical=critical,
        postmortem_required=policy.requires_postmortem(severity),
        runbook=runbook,
    )
    hold = policy.page_threshold(severity, rule) if critical else None
    if hold is not None:
        draft.add(
            ev.PageHeld,
            firings=hold.firings,
            within_seconds=hold.within.total_seconds(),
            rule=None if rule is None else rule.name,
        )
    PROCESS.fire(state, "notify", incident_id=incident_id)
    paging = critical and hold is None
    names, gaps = policy.page_targets(0, draft.at) if paging else ((), ())
    draft.add(
        ev.IncidentNotified,
        paged=paging,
        escalate_at=_timer(policy, 0, severity, draft.at, paging and bool(names)),
        targets=names,
    )
    if paging and names:
        note = f" (paging {', '.join(names)})"  # who the page goes to, as the pager's copy says
    elif paging:
        note = " (nobody on call at the first level: paging the next)"
    elif hold is not None:
        note = f" (page held until {hold})"
    else:
        note = ""
    draft.say("chat", "notify", f"[{severity}] {alert.title}{note}")
    if paging and names:
        named = _naming(policy, 0, names)
        draft.say("pager", "page", f"[{severity}] {alert.title}{named}", to=names)
    elif paging:
        # Nobody is on call at the first level: said loudly, and the next level is paged now.
        _say_gap(draft, gaps, 0, policy)
        _page_from(1, severity, alert.title, policy, draft, watching=True)


def decide_join(
    incident: Incident,
    alert: Alert,
    group: tuple[GroupingRule, str],
    policy: Policy,
    now: datetime,
) -> Decision:
    """Another alert of the incident's group joins it (no incident, no page of its own).

    The thread hears of the group at most once per ``policy.repeat_summary_every``; a held
    page goes out once the group fired often enough.

    Raises:
        InvalidTransition: the incident no longer takes the group's alerts (resolved, or past
            its window): the caller opens a new incident instead.
    """
    rule, key = group
    draft = _Draft(incident, now, None)
    if not incident.joinable(draft.at):
        raise InvalidTransition(incident.id, incident.state, "group", ())
    said = not incident.silenced and _summary_due(incident, policy, draft.at)
    draft.add(
        ev.AlertGrouped,
        alert=alert,
        rule=rule.name,
        group=key,
        window=duration_text(rule.window),
        until=draft.at + rule.window,
        said=said,
    )
    if said:
        draft.say("chat", "update", _storm_summary(incident, alert, joined=True))
    _release_held_page(incident, policy, draft)
    return draft.finish()


def decide_release(
    incident: Incident, policy: Policy, now: datetime, silences: Sequence[Silence]
) -> Decision:
    """At its silence's end, a silenced incident opens as usual (or waits for another one).

    Nothing before the silence ends; a silence still matching the alert then (extended, or
    another one) keeps it waiting until that one ends.
    """
    until = incident.silenced_until
    if not incident.silenced or until is None:
        return Decision(incident)
    draft = _Draft(incident, now, None)
    still = matching_silence(silences, incident.alert, draft.at)
    if still is not None:
        if still.id == incident.silence_id and still.until == until:
            return Decision(incident)
        _silenced(draft, still)
        return draft.finish()
    if until > draft.at and any(s.id == incident.silence_id for s in silences):
        return Decision(incident)  # its silence is known and not over yet: nothing to do
    assert incident.silence_id is not None  # noqa: S101 - silenced says so
    draft.add(ev.SilenceLifted, silence_id=incident.silence_id)
    rule = next((r for r in policy.grouping if r.name == incident.group_rule), None)
    _open(draft, incident.id, incident.alert, policy, rule)
    return draft.finish()


def _summary_due(incident: Incident, policy: Policy, at: datetime) -> bool:
    last = incident.repeats_said_at
    every = policy.repeat_summary_every
    return last is None or not every or at - last >= every


def _storm_summary(incident: Incident, alert: Alert, *, joined: bool) -> str:
    """The thread's one line about a grouped incident's alerts since it last heard."""
    fired = incident.alert_count + 1
    alerts = len(incident.members) + (2 if joined else 1)
    since = fired - incident.repeats_said_count
    more = f"; {since} since the last update" if incident.repeats_said_at and since > 1 else ""
    rule = incident.group_rule or "grouping"
    return f"{alerts} alerts grouped by {rule}, {fired} firings{more}; latest: {alert.title}"


def _release_held_page(incident: Incident, policy: Policy, d: _Draft) -> None:
    """Page now when a held page's threshold is reached by the firing just recorded."""
    hold = incident.page_hold
    if hold is None or incident.state not in ("notified", "runbook"):
        return
    firings = (*incident.firings, d.at)
    if not hold.reached(firings, d.at):
        return
    d.add(
        ev.PageReleased,
        firings=hold.firings,
        escalate_at=_timer(policy, 0, incident.severity, d.at, paging=True),
    )
    within = duration_text(hold.within)
    d.say(
        "chat", "update", f"Paging on-call: the alerts fired {hold.firings} times within {within}"
    )
    _page_first_level(incident.severity, incident.title, policy, d)


def decide(
    incident: Incident,
    command: cmd.Command,
    policy: Policy,
    now: datetime,
    *,
    via: Action | None = None,
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
    draft = _Draft(incident, now, command.by, command.origin)
    if via is not None:
        draft.add(
            ev.ActionApplied,
            source=via.source,
            kind=via.kind,
            identity=via.by,
            delivery_id=via.delivery_id,
        )
    _HANDLERS[type(command)](incident, command, policy, draft)
    if via is not None and len(draft.events) == 1:
        return Decision(incident)  # the action changes nothing: do not record it either
    return draft.finish(reminders=policy if trigger in _CHANGES_WHAT_IS_OWED else None)


def record_only(incident: Incident, now: datetime, cls: type[ev.Event], **fields: Any) -> Decision:
    """One event that changes no state and says nothing (an ignored action)."""
    draft = _Draft(incident, now, fields.pop("by", None))
    draft.add(cls, **fields)
    return draft.finish()


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
    policy = policy if policy is not None else Policy()
    draft = _Draft(incident, now, None)
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
    return draft.finish(tuple(settled), reminders=policy if publisher else None)


def _publisher_answered(draft: _Draft, kind: str, receipt: str | None, policy: Policy) -> None:
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


def _timer(
    policy: Policy, level: int, severity: Severity, at: datetime, paging: bool
) -> datetime | None:
    """When the page at ``level`` escalates if nobody acknowledges it (None: never)."""
    if not paging:
        return None
    wait = policy.escalation_wait(level, severity)
    return None if wait is None else at + wait


#: The triggers after which what an incident owes (a post-mortem, action items) may change;
#: the others (an acknowledgement, a note, an approval...) never need the reminder recomputed.
_CHANGES_WHAT_IS_OWED = frozenset(
    {
        "resolve",
        "reopen",
        "reclassify",
        "start_postmortem",
        "submit_postmortem",
        "approve_postmortem",
        "postmortem_merged",
        "publish_postmortem",
        "add_runbook",
        "update_runbook",
        "waive_action_item",
        "close",
    }
)


def _owed(incident: Incident) -> str | None:
    """What follow-up the incident owes now: ``postmortem``, ``action_items`` or nothing."""
    pm = incident.postmortem
    if incident.closed or incident.state in ("notified", "runbook"):
        return None
    if incident.postmortem_required and (pm is None or not pm.published):
        return "postmortem"
    if incident.open_action_items:
        return "action_items"
    return None


def _reminder_schedule(
    incident: Incident, policy: Policy, at: datetime
) -> tuple[str | None, datetime | None] | None:
    """The reminder to schedule after a decision, or None when the current one stands."""
    about = _owed(incident)
    if about == incident.reminder_about:
        return None
    if about is None:
        return None, None
    if about == "postmortem":
        start = incident.resolved_at or at
        return about, policy.due_after(start, policy.postmortem_due)
    pm = incident.postmortem
    start = (pm.published_at if pm is not None else None) or incident.resolved_at or at
    return about, policy.due_after(start, policy.action_items_due)


def decide_reminder(incident: Incident, policy: Policy, now: datetime) -> Decision:
    """Remind the thread of an overdue post-mortem or open action items, else nothing."""
    due = incident.reminder_due_at
    about = incident.reminder_about
    if due is None or due > now or about is None:
        return Decision(incident)
    PROCESS.fire(incident.state, "remind", incident_id=incident.id)
    draft = _Draft(incident, now, None)
    draft.add(ev.Reminded, about=about, remind_at=policy.due_after(draft.at, policy.remind_every))
    if about == "postmortem":
        text = review.review_reminder(incident, policy)
    else:
        items = "; ".join(f"{i.id} {i.description}" for i in incident.open_action_items)
        text = f"Reminder: open action items: {items}"
    draft.say("chat", "update", text)
    return draft.finish()


def decide_escalation(incident: Incident, policy: Policy, now: datetime) -> Decision:
    """Page the next escalation level when the incident's timer has run out, else nothing.

    Nothing happens before the timer, after an acknowledgement or a resolution (they stop it),
    or past the last level. Run by several workers at once, only one append wins per level:
    the others find the timer moved on when they reload.
    """
    due = incident.escalation_due_at
    if due is None or due > now:
        return Decision(incident)
    PROCESS.fire(incident.state, "escalate", incident_id=incident.id)
    draft = _Draft(incident, now, None)
    _page_next_level(incident, policy, draft)
    return draft.finish()


def _page_next_level(incident: Incident, policy: Policy, d: _Draft) -> None:
    """Page the next escalation level (the timer's, or a person's request)."""
    # A person may escalate an acknowledged incident ("we need more hands"); its timer stays
    # stopped, since somebody has it.
    watching = incident.acknowledged_at is None or d.by is None
    _page_from(
        incident.escalation_level + 1,
        incident.severity,
        incident.title,
        policy,
        d,
        watching=watching,
    )


def _page_from(
    level: int, severity: Severity, title: str, policy: Policy, d: _Draft, *, watching: bool
) -> None:
    """Page ``level``, or the first level after it with somebody on call (gaps said loudly)."""
    names, gaps = policy.page_targets(level, d.at)
    while not names and level + 1 < policy.escalation_steps:
        d.add(ev.Escalated, level=level, targets=(), escalate_at=None)  # the gap, recorded
        _say_gap(d, gaps, level, policy)
        level += 1
        names, gaps = policy.page_targets(level, d.at)
    d.add(
        ev.Escalated,
        level=level,
        targets=names,
        escalate_at=_timer(policy, level, severity, d.at, paging=watching),
    )
    who = ", ".join(names) or f"nobody: {', '.join(gaps)} had nobody on call"
    d.say("pager", "page", f"[{severity}] {title} (escalated to {who})", to=names)
    if d.by is None:
        d.say("chat", "update", f"Not acknowledged in time: escalated to {who} (level {level})")
    else:
        d.say("chat", "update", f"Escalated to {who} (level {level}) by {d.by}")


def _page_first_level(
    severity: Severity, title: str, policy: Policy, d: _Draft, note: str = ""
) -> None:
    """A page to the first level's on-call people (a gap there is said loudly)."""
    names, gaps = policy.page_targets(0, d.at)
    if not names:
        _say_gap(d, gaps, 0, policy)
    text = f"[{severity}] {title}{note}{_naming(policy, 0, names)}"
    d.say("pager", "page", text, to=names)


def _say_gap(d: _Draft, gaps: tuple[str, ...], level: int, policy: Policy) -> None:
    where = ", ".join(gaps)
    more = level + 1 < policy.escalation_steps
    then = f"paging level {level + 1}" if more else "nobody left to page"
    d.say("chat", "update", f"NOBODY IS ON CALL in {where} (level {level}): {then}")


def _naming(policy: Policy, level: int, names: tuple[str, ...]) -> str:
    """`` (paging alice)`` when a schedule chose who; nothing for targets taken as written."""
    return "" if names == policy.escalation_targets(level) else f" (paging {', '.join(names)})"


def _escalate(inc: Incident, c: cmd.Escalate, policy: Policy, d: _Draft) -> None:
    if not inc.paged:
        raise _refuse(
            inc,
            c.trigger,
            "escalation_needs_page",
            f"{inc.severity} is not paged; reclassify it to a paging severity first",
        )
    if inc.escalation_level + 1 >= policy.escalation_steps:
        raise _refuse(
            inc,
            c.trigger,
            "escalation_levels",
            f"already at the last escalation level ({inc.escalation_level})",
        )
    _page_next_level(inc, policy, d)


def runbook_for(alert: Alert, policy: Policy) -> Runbook | None:
    """The alert's runbook: the link its source gave it, then the catalog's, then none."""
    if alert.runbook_url:
        catalog = policy.runbooks.find(alert)
        if catalog is not None and catalog.url == alert.runbook_url:
            return catalog  # the catalog knows it already (with its name and history)
        return Runbook(
            name=alert.name,
            url=alert.runbook_url,
            alert=exact_pattern(alert.name),
            source=alert.source,
            description="linked by the alert's source",
        )
    return policy.runbooks.find(alert)


def _needs_runbook_item(incident: Incident, policy: Policy) -> bool:
    if incident.runbook is not None or runbook_for(incident.alert, policy) is not None:
        return False
    return not any(item.kind == "add_runbook" for item in incident.action_items)


def _raise_runbook_item(incident: Incident, draft: _Draft) -> None:
    draft.add(
        ev.ActionItemRaised,
        item_id=f"AI-{len(incident.action_items) + 1}",
        kind="add_runbook",
        description=f"Add a runbook for alert {incident.alert.name!r} ({incident.alert.source})",
    )


def _reclassify(inc: Incident, c: cmd.Reclassify, policy: Policy, d: _Draft) -> None:
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
        escalate_at = _timer(policy, inc.escalation_level, c.severity, d.at, paging=True)
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
        _page_first_level(c.severity, inc.title, policy, d)


def _vendor_time(inc: Incident, c: cmd.Command, d: _Draft) -> datetime | None:
    """When the person acted in the vendor's tool, kept between the incident's start and now."""
    if c.at is None:
        return None
    return min(max(c.at, inc.created_at), d.at)


def _acknowledge(inc: Incident, c: cmd.Acknowledge, policy: Policy, d: _Draft) -> None:
    if inc.acknowledged_at is not None:
        return
    d.add(ev.IncidentAcknowledged, happened_at=_vendor_time(inc, c, d))
    d.say("chat", "update", f"Acknowledged by {c.by}")
    if inc.paged:
        d.say("pager", "ack", f"Acknowledged by {c.by}")


def _start_runbook(inc: Incident, c: cmd.StartRunbook, policy: Policy, d: _Draft) -> None:
    runbook = c.runbook or inc.runbook or runbook_for(inc.alert, policy)
    d.add(ev.RunbookStarted, runbook=runbook)
    if runbook is None:
        if not any(item.kind == "add_runbook" for item in inc.action_items):
            _raise_runbook_item(inc, d)
        d.say("chat", "update", f"No runbook for {inc.alert.name!r}: action item raised to add one")
    else:
        d.say("chat", "update", f"Runbook {runbook.name}: {runbook.url}")


def _resolve(inc: Incident, c: cmd.Resolve, policy: Policy, d: _Draft) -> None:
    d.add(ev.IncidentResolved, summary=c.summary, happened_at=_vendor_time(inc, c, d))
    if _needs_runbook_item(inc, policy):
        _raise_runbook_item(inc, d)
    summary = f": {c.summary}" if c.summary else ""
    unsaid = inc.alert_count - inc.repeats_said_count
    fired = f" (the alert fired {inc.alert_count} times)" if unsaid > 0 else ""
    d.say("chat", "update", f"Resolved by {c.by}{summary}{fired}")
    if inc.paged:
        d.say("pager", "resolve", f"Resolved by {c.by}")


def _reopen(inc: Incident, c: cmd.Reopen, policy: Policy, d: _Draft) -> None:
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
        escalate_at=_timer(policy, 0, inc.severity, d.at, paging=page),
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
        _page_first_level(inc.severity, inc.title, policy, d, note=" (reopened)")


def _add_runbook(inc: Incident, c: cmd.AddRunbook, policy: Policy, d: _Draft) -> None:
    runbook = c.runbook
    if runbook.alert is None:
        # Written for this incident's alert: it answers that alert from now on.
        runbook = attrs.evolve(runbook, alert=exact_pattern(inc.alert.name))
    d.add(ev.RunbookAdded, runbook=runbook)
    for item in inc.open_action_items:
        # The missing runbook is written now, and with it the learnings that had no runbook
        # to go into when the post-mortem was published.
        if item.kind == "add_runbook" or (item.kind == "update_runbook" and item.runbook is None):
            d.add(ev.ActionItemCompleted, item_id=item.id)
    d.say("chat", "update", f"Runbook {runbook.name} added by {c.by}: {runbook.url}")


def _update_runbook(inc: Incident, c: cmd.UpdateRunbook, policy: Policy, d: _Draft) -> None:
    own = inc.runbook if inc.runbook is not None and inc.runbook.name == c.name else None
    if policy.runbooks.get(c.name) is None and own is None:
        if c.url is None:
            known = ", ".join(r.name for r in policy.runbooks) or "none yet"
            raise _refuse(
                inc,
                c.trigger,
                "unknown_runbook",
                f"no runbook {c.name!r} in the catalog (known: {known}); add it with "
                "add_runbook, or give its url to add it now",
            )
        _add_runbook(
            inc, cmd.AddRunbook(by=c.by, runbook=Runbook(name=c.name, url=c.url)), policy, d
        )
    d.add(ev.RunbookUpdated, name=c.name, note=c.note)
    for item in inc.open_action_items:
        if item.kind == "update_runbook" and item.runbook == c.name:
            d.add(ev.ActionItemCompleted, item_id=item.id)
    d.say("chat", "update", f"Runbook {c.name} updated by {c.by}: {c.note}")


def _waive(inc: Incident, c: cmd.WaiveActionItem, policy: Policy, d: _Draft) -> None:
    item = inc.action_item(c.item_id)
    if item is None:
        known = ", ".join(i.id for i in inc.action_items) or "none"
        raise _refuse(
            inc, c.trigger, "unknown_action_item", f"no action item {c.item_id!r} (has: {known})"
        )
    if not item.open:
        raise _refuse(inc, c.trigger, "action_item_settled", f"{item.id} is already settled")
    d.add(ev.ActionItemWaived, item_id=item.id, reason=c.reason)


def _close(inc: Incident, c: cmd.Close, policy: Policy, d: _Draft) -> None:
    if inc.state == "resolved" and inc.postmortem_required:
        raise _refuse(
            inc,
            c.trigger,
            "postmortem_required",
            "a reviewed post-mortem is required: the incident reached a severity that needs one "
            "(the obligation stays after a downgrade); start one with start_postmortem",
        )
    pm = inc.postmortem
    if inc.state == "runbook_update" and pm is not None and pm.location is None:
        raise _refuse(
            inc,
            c.trigger,
            "postmortem_saved",
            "the post-mortem is not saved yet (its delivery is pending; run deliver_pending())",
        )
    if inc.open_action_items:
        items = "; ".join(f"{i.id} {i.description}" for i in inc.open_action_items)
        raise _refuse(
            inc,
            c.trigger,
            "open_action_items",
            f"open action items must be done or waived first: {items}",
        )
    d.add(ev.IncidentClosed)
    d.say("chat", "update", f"Closed by {c.by}")


def _note(inc: Incident, c: cmd.Note, policy: Policy, d: _Draft) -> None:
    d.add(ev.NoteAdded, text=c.text)
    d.say("chat", "update", f"{c.by}: {c.text}")


def _record_alert(inc: Incident, c: cmd.RecordAlert, policy: Policy, d: _Draft) -> None:
    if inc.silenced:
        # Recorded, never said: its silence has not ended.
        if c.alert.firing:
            d.add(ev.AlertRepeated, alert=c.alert, said=False)
        else:
            d.add(ev.AlertRecovered, alert=c.alert)
            assert inc.silence_id is not None  # noqa: S101 - silenced says so
            d.add(ev.IncidentDismissed, silence_id=inc.silence_id)
        return
    if c.alert.firing:
        # A storm repeats an alert every few seconds: the thread hears of it at most once per
        # policy.repeat_summary_every (the timeline keeps every repeat, the count is exact).
        said = _summary_due(inc, policy, d.at)
        d.add(ev.AlertRepeated, alert=c.alert, said=said)
        if said and inc.members:
            d.say("chat", "update", _storm_summary(inc, c.alert, joined=False))
        elif said:
            fired = inc.alert_count + 1
            since = fired - inc.repeats_said_count
            more = f"; {since} since the last update" if inc.repeats_said_at and since > 1 else ""
            d.say("chat", "update", f"Alert fired again ({fired} times{more})")
        _release_held_page(inc, policy, d)
    else:
        d.add(ev.AlertRecovered, alert=c.alert)
        d.say("chat", "update", f"{c.alert.source} reports the alert recovered")


_HANDLERS: dict[type[cmd.Command], Callable[[Incident, Any, Policy, _Draft], None]] = {
    cmd.Reclassify: _reclassify,
    cmd.Acknowledge: _acknowledge,
    cmd.Escalate: _escalate,
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
    cmd.AddRunbook: _add_runbook,
    cmd.UpdateRunbook: _update_runbook,
    cmd.WaiveActionItem: _waive,
    cmd.Close: _close,
    cmd.Note: _note,
    cmd.RecordAlert: _record_alert,
}
