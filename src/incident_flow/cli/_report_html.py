"""The report as one self-contained HTML page, with inline SVG charts (no scripts, no CDN)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import date
from typing import Any

from .._core.events import Event
from .._core.incident import Incident
from ._report import DEFINITIONS, Report

__all__ = ["render_html"]

_COLORS = {"P1": "#c62828", "P2": "#ef6c00", "P3": "#f9a825", "P4": "#2e7d32", "P5": "#546e7a"}


def _bars(report: Report) -> str:
    rows = [(s, r["incidents"]) for s, r in report.by_severity.items()]
    top = max((n for _, n in rows), default=1) or 1
    width, bar = 420, 34
    height = bar * max(len(rows), 1) + 10
    parts = [
        f'<svg role="img" aria-label="Incidents per severity" width="{width}" height="{height}">'
    ]
    for index, (severity, count) in enumerate(rows):
        y = index * bar + 5
        length = int((width - 120) * count / top)
        parts.append(
            f'<text x="0" y="{y + 20}" font-size="14">{severity}</text>'
            f'<rect x="40" y="{y}" width="{length}" height="{bar - 10}" '
            f'fill="{_COLORS.get(severity, "#888")}"/>'
            f'<text x="{length + 48}" y="{y + 20}" font-size="14">{count}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _mttr_by_day(incidents: Sequence[tuple[Incident, Sequence[Event]]]) -> list[tuple[date, float]]:
    days: dict[date, list[float]] = {}
    for incident, history in incidents:
        resolved = next((e for e in history if e.type == "IncidentResolved"), None)
        if resolved is not None:
            minutes = (resolved.at - incident.created_at).total_seconds() / 60
            days.setdefault(incident.created_at.date(), []).append(minutes)
    return [(day, sum(v) / len(v)) for day, v in sorted(days.items())]


def _line(points: list[tuple[date, float]]) -> str:
    """MTTR per day as a line on two labelled axes (one day of data is one labelled point)."""
    if not points:
        return "<p>No resolved incidents yet.</p>"
    width, height, left, right, top_pad, bottom = 440, 200, 56, 20, 20, 40
    top = max(v for _, v in points) or 1
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    step = plot_w / max(len(points) - 1, 1)
    coords = [
        (
            left + (plot_w / 2 if len(points) == 1 else i * step),
            top_pad + plot_h - plot_h * v / top,
        )
        for i, (_, v) in enumerate(points)
    ]
    base = top_pad + plot_h
    axes = (
        f'<line x1="{left}" y1="{top_pad}" x2="{left}" y2="{base}" stroke="#555"/>'
        f'<line x1="{left}" y1="{base}" x2="{width - right}" y2="{base}" stroke="#555"/>'
        f'<text x="{left - 6}" y="{base}" font-size="11" text-anchor="end">0</text>'
        f'<text x="{left - 6}" y="{top_pad + 4}" font-size="11" text-anchor="end">{top:.0f}</text>'
        f'<text x="12" y="{top_pad + plot_h / 2:.0f}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 12 {top_pad + plot_h / 2:.0f})">MTTR (min)</text>'
        f'<text x="{left + plot_w / 2:.0f}" y="{height - 4}" font-size="11" '
        f'text-anchor="middle">day the incident opened</text>'
    )
    path = " ".join(f"{x:.0f},{y:.0f}" for x, y in coords)
    line = (
        f'<polyline points="{path}" fill="none" stroke="#1565c0" stroke-width="2"/>'
        if len(points) > 1
        else ""
    )
    dots = "".join(
        f'<circle cx="{x:.0f}" cy="{y:.0f}" r="4" fill="#1565c0"/>'
        f'<text x="{x:.0f}" y="{base + 16}" font-size="11" text-anchor="middle">'
        f'{day:%b %d}</text><text x="{x:.0f}" y="{y - 8:.0f}" font-size="11" '
        f'text-anchor="middle">{v:.0f} min</text>'
        for (x, y), (day, v) in zip(coords, points, strict=True)
    )
    return (
        f'<svg role="img" aria-label="MTTR over time" width="{width}" height="{height}">'
        f"{axes}{line}{dots}</svg>"
    )


def _rows(table: dict[str, dict[str, Any]]) -> str:
    """One table row per key: its incidents, open ones, MTTA and MTTR (escaped)."""
    e = html.escape
    return "".join(
        f"<tr><td>{e(s)}</td><td>{r['incidents']}</td><td>{r['open']}</td>"
        f"<td>{'-' if r['mtta_minutes'] is None else r['mtta_minutes']}</td>"
        f"<td>{'-' if r['mttr_minutes'] is None else r['mttr_minutes']}</td></tr>"
        for s, r in table.items()
    )


def _by_team(report: Report) -> str:
    """The per-team section (a policy with teams only)."""
    if not report.by_team:
        return ""
    return (
        "<h2>By team</h2><table><tr><th>team</th><th>incidents</th><th>open</th>"
        f"<th>MTTA (min)</th><th>MTTR (min)</th></tr>{_rows(report.by_team)}</table>"
    )


def render_html(
    report: Report,
    incidents: Sequence[tuple[Incident, Sequence[Event]]],
    *,
    team: str | None = None,
) -> str:
    """The report as a standalone HTML page (of one ``team``'s incidents when named)."""
    e = html.escape
    rows = _rows(report.by_severity)
    whose = f": team {e(team)}" if team else ""
    items = "".join(f"<li>{e(i)} {e(a)}: {e(d)}</li>" for i, a, d in report.open_action_items)
    definitions = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in DEFINITIONS.items())
    missing = ", ".join(report.noncompliant) or "none"
    roles = ""
    if report.roles:
        found = report.roles
        leaderless = ", ".join(found["without_commander"]) or "none"
        minutes = found["time_to_commander_minutes"]
        roles = (
            f"<h2>Roles</h2><p>{found['commander_needed']} incidents needed a commander; "
            f"without one: {e(leaderless)}; time to commander: "
            f"{'-' if minutes is None else minutes} min; {found['handovers']} hand-overs.</p>\n"
        )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>incident_flow report{whose}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 60rem; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: .3rem .8rem; }}
th {{ background: #f4f4f4; }} .charts {{ display: flex; gap: 3rem; flex-wrap: wrap; }}
dt {{ font-weight: bold; }} dd {{ margin: 0 0 .5rem 1rem; color: #555; }}
</style></head><body>
<h1>Incident report{whose}</h1>
<p>{report.incidents} incidents.</p>
<table><tr><th>severity</th><th>incidents</th><th>open</th><th>MTTA (min)</th>
<th>MTTR (min)</th></tr>{rows}</table>
{_by_team(report)}
<div class="charts">
<section><h2>Incidents per severity</h2>{_bars(report)}</section>
<section><h2>MTTR over time</h2>{_line(_mttr_by_day(incidents))}</section>
</div>
<h2>Post-mortem compliance</h2>
<p>Closed incidents missing a reviewed post-mortem: {e(missing)}</p>
<h2>Runbook coverage</h2>
<p>{report.with_runbook} of {report.incidents} incidents had a runbook;
{report.runbooks_added} runbooks were added from the learnings.</p>
{roles}<h2>Open action items</h2><ul>{items or "<li>none</li>"}</ul>
<h2>Definitions</h2><dl>{definitions}</dl>
</body></html>
"""
