"""Teams on the command line: ``--team`` checked, who a team pages, ``reassign``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click
from rich.table import Table

from .._core.policy import Policy
from .._core.text import unknown_key
from ..exceptions import InvalidCommand
from ._common import Context, clean, console, errors, pass_context, say
from ._report import Report

__all__ = ["TEAM_OPTION", "check_team", "level_lines", "print_by_team", "reassign", "team_of"]

#: ``--team NAME`` on the commands that can be narrowed to one team.
TEAM_OPTION = click.option(
    "--team", default=None, help="Only this team's (a policy's [[teams]] name; see policy check)."
)


def check_team(policy: Policy, name: str) -> str:
    """``name`` if the policy has that team (``default`` when it declares none).

    Raises:
        InvalidCommand: no such team (the message names the closest one and every team).
    """
    if name not in policy.team_names:
        msg = f"--team {name!r}: " + unknown_key(name, policy.team_names, "team")
        raise InvalidCommand(msg)
    return name


def team_of(policy: Policy, incident: Any) -> str:
    """The team an incident is decided by: its own, else the default team (as the policy)."""
    team: str | None = incident.team
    return team if team in policy.team_names else policy.default_team_name


def level_lines(seen: Policy, at: datetime) -> list[str]:
    """``level 1: dave (schedule:payments-primary)``: who each level of ``seen`` pages at ``at``."""
    lines = []
    for level, step in enumerate(seen.escalation):
        names, gaps = seen.page_targets(level, at)
        who = ", ".join(names)
        targets = ", ".join(step.targets)
        via = f" ({targets})" if targets != who else ""
        gap = f"nobody on call at {', '.join(gaps)}" if gaps else ""
        if not names:
            lines.append(f"  level {level + 1}: {gap or 'nobody'}")
        else:
            lines.append(f"  level {level + 1}: {who}{via}" + (f"; {gap}" if gap else ""))
    return lines


@click.command()
@click.argument("incident_id")
@click.argument("team")
@click.option("--by", required=True, help="Who hands it over (a name, as the timeline shows it).")
@pass_context
def reassign(context: Context, incident_id: str, team: str, by: str) -> None:
    """Hand an incident to another team: its channel, its on-call (paged if critical)."""
    with errors():
        flow = context.flow()
        check_team(flow.policy, team)
        incident = flow.reassign(incident_id, team, by=by)
    say(clean(f"{incident.id}: reassigned to team {incident.team} ({incident.state})"))


def print_by_team(report: Report) -> None:
    """The report's table per team (nothing for a policy without teams)."""
    if not report.by_team:
        return
    table = Table(title="by team")
    for column in ("team", "incidents", "open", "MTTA (min)", "MTTR (min)"):
        table.add_column(column)
    for name, row in report.by_team.items():
        mtta, mttr = row["mtta_minutes"], row["mttr_minutes"]
        table.add_row(
            clean(name),
            str(row["incidents"]),
            str(row["open"]),
            "-" if mtta is None else f"{mtta:.1f}",
            "-" if mttr is None else f"{mttr:.1f}",
        )
    console.print(table)
