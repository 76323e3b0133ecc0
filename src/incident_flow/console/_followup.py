"""After the fix: the post-mortem and its review, the action items, and the close.

``POST /incidents/{id}/followup/{command}``: ``start_postmortem`` (the person is its author),
``amend_postmortem`` (impact, root cause, learnings one a line), ``submit_postmortem``,
``approve_postmortem`` (the person reviews), ``publish_postmortem``, ``waive_action_item``
(an item and the reason) and ``close``: the flow's commands with their own refusals (a
post-mortem still required, an item still open, a reviewer who wrote it). The forms are on
the incident's page (``incident_followup.html``, included there).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.routing import Route

from ._app import Act, Console
from ._incidents import incident_command

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

__all__ = ["COMMANDS", "NAV", "routes"]

NAV: tuple[tuple[str, str], ...] = ()


async def _start(flow: Any, act: Act, incident_id: str) -> str:
    await flow.start_postmortem(incident_id, author=act.person)
    return f"post-mortem started, written by {act.person}"


async def _amend(flow: Any, act: Act, incident_id: str) -> str:
    learnings = [line.strip() for line in act.field("learnings", required=False).splitlines()]
    await flow.amend_postmortem(
        incident_id,
        by=act.person,
        impact=act.field("impact", required=False)[:8000] or None,
        root_cause=act.field("root_cause", required=False)[:8000] or None,
        learnings=[line[:1000] for line in learnings if line][:50] or None,
    )
    return "post-mortem draft saved"


async def _submit(flow: Any, act: Act, incident_id: str) -> str:
    incident = await flow.submit_postmortem(incident_id, by=act.person)
    pm = incident.postmortem
    asked = ", ".join(pm.reviewers) if pm is not None and pm.reviewers else "nobody"
    return f"post-mortem submitted for review (asked: {asked}; now {incident.state})"


async def _approve(flow: Any, act: Act, incident_id: str) -> str:
    incident = await flow.approve_postmortem(incident_id, reviewer=act.person)
    pm = incident.postmortem
    count = len(pm.approvals) if pm is not None else 0
    return (
        f"approved by {act.person} ({count} approval{'s' if count != 1 else ''}; {incident.state})"
    )


async def _publish(flow: Any, act: Act, incident_id: str) -> str:
    incident = await flow.publish_postmortem(incident_id, by=act.person)
    where = incident.postmortem.location if incident.postmortem is not None else None
    return f"post-mortem published{f' at {where}' if where else ''} ({incident.state})"


async def _waive(flow: Any, act: Act, incident_id: str) -> str:
    item = act.field("item")[:100]
    await flow.waive_action_item(
        incident_id, item, by=act.person, reason=act.field("reason")[:1000]
    )
    return f"{item} waived"


async def _close(flow: Any, act: Act, incident_id: str) -> str:
    await flow.close(incident_id, by=act.person)
    return "closed"


#: ``POST /incidents/{id}/followup/{name}``.
COMMANDS: dict[str, Callable[[Any, Act, str], Awaitable[str]]] = {
    "start_postmortem": _start,
    "amend_postmortem": _amend,
    "submit_postmortem": _submit,
    "approve_postmortem": _approve,
    "publish_postmortem": _publish,
    "waive_action_item": _waive,
    "close": _close,
}


def routes(console: Console) -> list[BaseRoute]:
    """The follow-up commands of an incident's page."""
    command = incident_command(console, COMMANDS)
    return [
        Route(
            "/incidents/{incident_id}/followup/{command}",
            console.action(command),
            methods=["POST"],
        )
    ]
