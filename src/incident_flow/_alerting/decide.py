"""Alerts in: a new incident, an alert joining a group, a silence's release, a repeat.

Pure: the driver hands in the incident, the alert, the policy and the time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from .._core import commands as cmd
from .._core import events as ev
from .._core.alerts import Alert
from .._core.decision import (
    Decision,
    Draft,
    team_policy,
)
from .._core.incident import Incident
from .._core.policy import Policy
from .._core.process import PROCESS
from .._core.rooms_decide import follow
from .._core.storms import GroupingRule, Silence, duration_text, matching_silence
from .._oncall.decide import escalation_timer, naming, page_first_level, page_from, say_gap
from .._runbooks.decide import runbook_for
from ..exceptions import InvalidTransition


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
    The incident belongs to the team the policy routes the alert to (none: a policy without
    teams), and is paged and posted as that team's.
    """
    team = policy.team_for(alert).name if policy.teams else None
    policy = policy.owner_of(team)
    draft = Draft(None, now, None, channel=policy.chat_channel)
    draft.add(
        ev.IncidentTriggered,
        incident_id=incident_id,
        alert=alert,
        title=alert.title,
        dedup_key=alert.dedup_key,
        team=team,
        service=alert.labels.get("service") or None,
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
    return draft.finish(roles=policy)


def _silenced(draft: Draft, silence: Silence) -> None:
    draft.add(
        ev.AlertSilenced,
        silence_id=silence.id,
        until=silence.until,
        why=silence.why,
        silenced_by=silence.by,
    )


def _open(
    draft: Draft,
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
        escalate_at=escalation_timer(policy, 0, severity, draft.at, paging and bool(names)),
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
        named = naming(policy, 0, names)
        draft.say("pager", "page", f"[{severity}] {alert.title}{named}", to=names)
    elif paging:
        # Nobody is on call at the first level: said loudly, and the next level is paged now.
        say_gap(draft, gaps, 0, policy)
        page_from(1, severity, alert.title, policy, draft, watching=True)
    follow(draft, policy)  # a severity with a channel of its own opens it


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
    policy = team_policy(policy, incident)
    draft = Draft(incident, now, None, channel=policy.chat_channel)
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
    follow(draft, policy)  # the people a released page pages are invited
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
    policy = team_policy(policy, incident)
    draft = Draft(incident, now, None, channel=policy.chat_channel)
    # The team's view of the policy names that one team: what a team's silence asks for.
    still = matching_silence(silences, incident.alert, draft.at, policy.default_team_name)
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
    return draft.finish(roles=policy)


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


def _release_held_page(incident: Incident, policy: Policy, d: Draft) -> None:
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
        escalate_at=escalation_timer(policy, 0, incident.severity, d.at, paging=True),
    )
    within = duration_text(hold.within)
    d.say(
        "chat", "update", f"Paging on-call: the alerts fired {hold.firings} times within {within}"
    )
    page_first_level(incident.severity, incident.title, policy, d)


def record_alert(inc: Incident, c: cmd.RecordAlert, policy: Policy, d: Draft) -> None:
    """Record an alert firing again or recovering on its open incident.

    A repeat is said in the thread at most once per ``repeat_summary_every``.
    """
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
