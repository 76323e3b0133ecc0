"""Who is paged: the first level, the next one when nobody acknowledges, gaps said loudly.

Pure: the policy's schedules say who is on call at the draft's time.
"""

from __future__ import annotations

from datetime import datetime

from .._core import commands as cmd
from .._core import events as ev
from .._core.decision import (
    Decision,
    Draft,
    refuse,
    team_policy,
)
from .._core.incident import Incident
from .._core.policy import Policy
from .._core.process import PROCESS
from .._core.rooms_decide import follow
from .._core.severity import Severity


def escalation_timer(
    policy: Policy, level: int, severity: Severity, at: datetime, paging: bool
) -> datetime | None:
    """When the page at ``level`` escalates if nobody acknowledges it (None: never)."""
    if not paging:
        return None
    wait = policy.escalation_wait(level, severity)
    return None if wait is None else at + wait


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
    policy = team_policy(policy, incident)
    draft = Draft(incident, now, None, channel=policy.chat_channel)
    page_next_level(incident, policy, draft)
    follow(draft, policy)  # the people paged now are invited to the incident's channel
    return draft.finish()


def page_next_level(incident: Incident, policy: Policy, d: Draft) -> None:
    """Page the next escalation level (the timer's, or a person's request)."""
    # A person may escalate an acknowledged incident ("we need more hands"); its timer stays
    # stopped, since somebody has it.
    watching = incident.acknowledged_at is None or d.by is None
    page_from(
        incident.escalation_level + 1,
        incident.severity,
        incident.title,
        policy,
        d,
        watching=watching,
    )


def page_from(
    level: int, severity: Severity, title: str, policy: Policy, d: Draft, *, watching: bool
) -> None:
    """Page ``level``, or the first level after it with somebody on call (gaps said loudly)."""
    names, gaps = policy.page_targets(level, d.at)
    while not names and level + 1 < policy.escalation_steps:
        d.add(ev.Escalated, level=level, targets=(), escalate_at=None)  # the gap, recorded
        say_gap(d, gaps, level, policy)
        level += 1
        names, gaps = policy.page_targets(level, d.at)
    d.add(
        ev.Escalated,
        level=level,
        targets=names,
        escalate_at=escalation_timer(policy, level, severity, d.at, paging=watching),
    )
    who = ", ".join(names) or f"nobody: {', '.join(gaps)} had nobody on call"
    d.say("pager", "page", f"[{severity}] {title} (escalated to {who})", to=names)
    if d.by is None:
        d.say("chat", "update", f"Not acknowledged in time: escalated to {who} (level {level})")
    else:
        d.say("chat", "update", f"Escalated to {who} (level {level}) by {d.by}")


def page_first_level(
    severity: Severity, title: str, policy: Policy, d: Draft, note: str = ""
) -> None:
    """A page to the first level's on-call people (a gap there is said loudly)."""
    names, gaps = policy.page_targets(0, d.at)
    if not names:
        say_gap(d, gaps, 0, policy)
    text = f"[{severity}] {title}{note}{naming(policy, 0, names)}"
    d.say("pager", "page", text, to=names)


def say_gap(d: Draft, gaps: tuple[str, ...], level: int, policy: Policy) -> None:
    """Say loudly that nobody is on call at ``level`` (``gaps``: the schedules with nobody)."""
    where = ", ".join(gaps)
    more = level + 1 < policy.escalation_steps
    then = f"paging level {level + 1}" if more else "nobody left to page"
    d.say("chat", "update", f"NOBODY IS ON CALL in {where} (level {level}): {then}")


def naming(policy: Policy, level: int, names: tuple[str, ...]) -> str:
    """`` (paging alice)`` when a schedule chose who; nothing for targets taken as written."""
    return "" if names == policy.escalation_targets(level) else f" (paging {', '.join(names)})"


def escalate(inc: Incident, c: cmd.Escalate, policy: Policy, d: Draft) -> None:
    """Page the next level now, at a person's request (the incident must be paged)."""
    if not inc.paged:
        raise refuse(
            inc,
            c.trigger,
            "escalation_needs_page",
            f"{inc.severity} is not paged; reclassify it to a paging severity first",
        )
    if inc.escalation_level + 1 >= policy.escalation_steps:
        raise refuse(
            inc,
            c.trigger,
            "escalation_levels",
            f"already at the last escalation level ({inc.escalation_level})",
        )
    page_next_level(inc, policy, d)
