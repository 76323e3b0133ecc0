"""The import report: what was read, what was made of it, and every field that did not map."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._core.text import markdown_inline
from ._findings import APPROXIMATED, DROPPED, Finding, plural

if TYPE_CHECKING:
    from ._common import Imported

__all__ = ["to_report"]


def _rows(findings: list[Finding]) -> list[str]:
    lines = ["| Where | Value | What happened |", "| --- | --- | --- |"]
    lines += [
        f"| {markdown_inline(f.where)} | {markdown_inline(f.value)} | {markdown_inline(f.why)} |"
        for f in findings
    ]
    return lines


def to_report(imported: Imported) -> str:
    """The report in Markdown: a summary, then each finding (vendor text escaped)."""
    layers = sum(len(s.layers) for s in imported.schedules)
    overrides = sum(len(s.overrides) for s in imported.schedules)
    made = ", ".join(
        [
            (
                f"{plural(len(imported.schedules), 'schedule')} ({plural(layers, 'layer')}, "
                f"{plural(overrides, 'override')})"
            ),
            plural(len(imported.escalation), "escalation level"),
            plural(len(imported.people), "new person", "new people"),
        ]
    )
    if imported.teams:
        made += f", {plural(len(imported.teams), 'team')}, {plural(len(imported.routes), 'route')}"
    lines = [f"# Import report: {markdown_inline(imported.vendor)}", ""]
    if imported.read:
        lines += [f"Read: {markdown_inline(imported.read)}.", ""]
    lines += [f"Imported: {made}.", ""]
    for outcome, title in (
        (DROPPED, "Not carried over"),
        (APPROXIMATED, "Carried over approximately"),
    ):
        found = [f for f in imported.findings if f.outcome == outcome]
        lines += [f"## {title} ({len(found)})", ""]
        lines += [*_rows(found), ""] if found else ["Nothing.", ""]
    if imported.teams:
        lines += ["## Teams and routes", ""]
        for team in imported.teams:
            chain = " -> ".join(", ".join(lv.targets) for lv in team.escalation or ())
            default = " (the default team)" if team.name == imported.default_team else ""
            lines += [f"- team {markdown_inline(team.name)}{default}: {markdown_inline(chain)}"]
        lines += [f"- route {markdown_inline(r.describe())}" for r in imported.routes]
        lines += [""]
    if imported.people:
        lines += ["## New people", ""]
        lines += [
            f"- {markdown_inline(p.name)}: {markdown_inline(', '.join(p.email) or 'no email')}"
            for p in imported.people
        ]
        lines += [
            "",
            "Add each one's Slack id and phone in `[[people]]` to page them without the vendor.",
            "",
        ]
    return "\n".join(lines).rstrip("\n") + "\n"
