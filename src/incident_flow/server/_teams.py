"""``/incident team ID TEAM`` in Slack: hand an incident to another team, answered privately."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._core.text import unknown_key
from ..adapters.channels.slack import escape as slack_escape
from ..exceptions import IncidentFlowError, IncidentNotFound

if TYPE_CHECKING:
    from .._drivers.async_flow import AsyncIncidentFlow
    from ..ingest._actions.slack import TeamRequest

__all__ = ["team_answer"]


async def team_answer(flow: AsyncIncidentFlow, asked: TeamRequest) -> str:
    """Reassign as asked and say what happened (or why not), as Slack text to the one who typed.

    The person is the one ``Policy.people`` names for the Slack user (else ``slack:ID``). An
    unknown team is answered with the closest name and every team; a policy without teams has
    only ``default``. What the person typed is escaped: it is shown, never a mention or a link.
    """
    policy = flow.policy
    if asked.team not in policy.team_names:
        problem = unknown_key(asked.team, policy.team_names, "team")
        return slack_escape(f"{asked.team!r}: {problem}. Nothing changed.")
    by = policy.people.name("slack", asked.user)
    try:
        incident = await flow.reassign(asked.incident, asked.team, by=by)
    except IncidentNotFound:
        return slack_escape(f"No incident {asked.incident!r}. Nothing changed.")
    except IncidentFlowError as exc:
        return slack_escape(f"{asked.incident}: {exc}. Nothing changed.")
    return slack_escape(f"{incident.id}: reassigned to team {incident.team} by {by}.")
