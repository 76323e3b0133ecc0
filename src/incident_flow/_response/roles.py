"""Roles, decided: a person takes a role (a hand-over), and the commander nobody took.

Pure, like every decision: the policy's roles (:class:`~incident_flow.Roles`, the team's when
it has its own) say which roles exist and when a commander is missed; the time comes in.
"""

from __future__ import annotations

from datetime import datetime

from .._core import commands as cmd
from .._core import events as ev
from .._core.decision import Decision, Draft, refuse, team_policy
from .._core.incident import Incident
from .._core.policy import Policy
from .._core.process import PROCESS
from .._core.roles import COMMANDER

__all__ = ["assign", "decide_commander", "person_named"]


def person_named(policy: Policy, name: str) -> str | None:
    """The person of ``policy.people`` called ``name`` (any case), as the policy writes it.

    A policy that names no people takes any name as it is given.
    """
    if not len(policy.people):
        return name
    key = name.strip().casefold()
    return next((p.name for p in policy.people if p.name.casefold() == key), None)


def _people(policy: Policy) -> str:
    names = [p.name for p in policy.people]
    shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    return shown or "none"


def assign(inc: Incident, c: cmd.AssignRole, policy: Policy, d: Draft) -> None:
    """``c.person`` takes ``c.role``: recorded, said in the chat; the same holder again: nothing.

    Raises:
        PolicyViolation: ``unknown_role`` (not one of the policy's roles), ``unknown_person``
            (not a person of ``Policy.people``; from a vendor's tool, the person assigning must
            be one too).
    """
    if c.origin is not None and c.by is not None and person_named(policy, c.by) is None:
        # A vendor identity nobody in the directory claims (another workspace's user, a guest):
        # they may press buttons that are mirrored, but they do not hand out the lead.
        raise refuse(
            inc,
            c.trigger,
            "unknown_person",
            f"{c.by} is not a person of the policy: only its people assign roles",
        )
    role = policy.roles.role(c.role)
    if role is None:
        known = ", ".join(policy.roles.names)
        raise refuse(inc, c.trigger, "unknown_role", f"no role {c.role!r} (the roles: {known})")
    person = person_named(policy, c.person)
    if person is None:
        raise refuse(
            inc,
            c.trigger,
            "unknown_person",
            f"{c.person!r} is not a person of the policy (people: {_people(policy)})",
        )
    previous = inc.roles.get(role)
    if previous == person:
        return  # they hold it already: a second press of "I'll lead" changes nothing
    d.add(ev.RoleAssigned, role=role, person=person, previous=previous)
    if previous is not None:
        d.say("chat", "update", f"{role}: {previous} handed over to {person} (by {c.by})")
    elif c.by is not None and c.by.casefold() == person.casefold():
        d.say("chat", "update", f"{person} is {role} now")
    else:
        d.say("chat", "update", f"{person} is {role} now (assigned by {c.by})")


def decide_commander(incident: Incident, policy: Policy, now: datetime) -> Decision:
    """The commander timer: remind the chat, then page the commander rotation; else nothing.

    Nothing happens before it is due, once somebody leads, or after it was done. Only a
    critical incident is paged (a commander page is a page), and only when
    ``Roles.page`` names someone; a schedule with nobody on call is said loudly instead.
    """
    due, step = incident.commander_due_at, incident.commander_step
    if due is None or due > now or step not in ("remind", "page"):
        return Decision(incident)
    PROCESS.fire(incident.state, "remind_commander", incident_id=incident.id)
    policy = team_policy(policy, incident)
    roles = policy.roles
    draft = Draft(incident, now, None, channel=policy.chat_channel)
    pages = bool(roles.page) and incident.critical
    if step == "remind":
        follow = "page" if pages else "done"
        draft.add(
            ev.CommanderReminded,
            step="remind",
            next=follow,
            due_at=draft.at + roles.page_after if pages else None,
        )
        then = " before the commander rotation is paged" if pages else ""
        draft.say(
            "chat",
            "update",
            f"No incident commander yet for this {incident.severity} incident: take the lead "
            f"(/incident lead {incident.id}, or the I'll lead button){then}",
        )
        return draft.finish()
    if not pages:  # no longer paged (a downgrade below critical): said once more, then done
        draft.add(ev.CommanderReminded, step="remind", next="done")
        draft.say("chat", "update", f"Still no {COMMANDER} for this {incident.severity} incident")
        return draft.finish()
    names, gaps = policy.on_call_targets(roles.page, draft.at)
    draft.add(ev.CommanderReminded, step="page", targets=names, paged=bool(names), next="done")
    if names:
        draft.say(
            "pager",
            "page",
            f"[{incident.severity}] {incident.title} (no {COMMANDER}: paging {', '.join(names)})",
            to=names,
        )
        draft.say("chat", "update", f"Still no {COMMANDER}: paged {', '.join(names)} to lead")
    else:
        where = ", ".join(gaps) or "the commander rotation"
        draft.say("chat", "update", f"Still no {COMMANDER} and NOBODY IS ON CALL in {where}")
    return draft.finish()
