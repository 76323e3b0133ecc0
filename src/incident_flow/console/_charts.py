"""The report's figures week by week, and their charts as inline SVG (pure; no script, no CDN).

The figures are the report's own: each week's incidents go through
:func:`incident_flow._response.report.build_report`, the function behind ``incident-flow
report``, so a week's MTTA and MTTR mean here what they mean there (see its ``DEFINITIONS``).
Weeks are cut in the viewer's time zone (Monday first) by when each incident opened; a week
with no incident is drawn as one (an honest time axis), its figures missing, not zero.

Every piece of outside text placed in the SVG (labels, titles) is escaped; numbers are written
by this module.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from .._core.events import Event
from .._core.incident import Incident
from .._core.severity import Severity
from .._response.report import build_report

__all__ = ["METRICS", "Week", "compliance_chart", "line_chart", "weekly"]

#: The per-severity figures a line chart can draw, and their axis titles.
METRICS = {"mtta_minutes": "MTTA (min)", "mttr_minutes": "MTTR (min)"}
#: One colour per severity (P1 red ... P5 grey), as the static HTML report draws them.
COLORS = {"P1": "#c62828", "P2": "#ef6c00", "P3": "#b28704", "P4": "#2e7d32", "P5": "#546e7a"}
_OTHER = "#6a1b9a"
_WIDTH, _HEIGHT = 640, 260
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 90, 24, 44


@attrs.frozen
class Week:
    """One week's figures, as the report computes them for that week's incidents."""

    start: date  # the Monday, in the viewer's time zone
    incidents: int
    by_severity: Mapping[str, Mapping[str, Any]]  # the report's rows
    required: int  # closed incidents that required a post-mortem
    noncompliant: tuple[str, ...]  # of those, the ones without a reviewed, saved one

    @property
    def compliance(self) -> float | None:
        """The share of ``required`` with their post-mortem (None: none was required)."""
        if not self.required:
            return None
        return (self.required - len(self.noncompliant)) / self.required


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def weekly(
    incidents: Sequence[tuple[Incident, Sequence[Event]]],
    zone: ZoneInfo,
    *,
    first: date | None = None,
    last: date | None = None,
) -> tuple[Week, ...]:
    """The report's figures per week of opening, from ``first``'s week to ``last``'s.

    Without ``first``/``last``: from the earliest to the latest incident's week (no incident:
    no week).
    """
    buckets: dict[date, list[tuple[Incident, Sequence[Event]]]] = {}
    for incident, history in incidents:
        opened = incident.created_at.astimezone(zone).date()
        buckets.setdefault(_monday(opened), []).append((incident, history))
    if first is None or last is None:
        if not buckets:
            return ()
        first = first or min(buckets)
        last = last or max(buckets)
    out = []
    week = _monday(first)
    while week <= _monday(last):
        mine = buckets.get(week, [])
        report = build_report(mine)
        out.append(
            Week(
                start=week,
                incidents=sum(r["incidents"] for r in report.by_severity.values()),
                by_severity=report.by_severity,
                required=sum(
                    1 for i, h in mine if i.closed and i.postmortem_required and _opened(h)
                ),
                noncompliant=report.noncompliant,
            )
        )
        week += timedelta(days=7)
    return tuple(out)


def _opened(history: Iterable[Event]) -> bool:
    # The report counts only incidents that opened (a silenced alert waiting is none).
    return any(e.type == "IncidentClassified" for e in history)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _x(index: int, count: int, *, band: bool = False) -> float:
    """A week's x: points from edge to edge (a line), or band centres (bars stay inside)."""
    plot = _WIDTH - _LEFT - _RIGHT
    if band:
        return _LEFT + plot * (index + 0.5) / count
    return _LEFT + (plot / 2 if count == 1 else plot * index / (count - 1))


def _y(value: float, top: float) -> float:
    plot = _HEIGHT - _TOP - _BOTTOM
    return _TOP + plot - plot * value / top


def _nice(top: float) -> float:
    """A round axis maximum at or above ``top`` (1, 2, 5 x 10^n)."""
    step = 1.0
    while step * 10 <= top:
        step *= 10
    for factor in (1, 2, 5, 10):
        if step * factor >= top:
            return step * factor
    return step * 10  # pragma: no cover (the loop always returns)


def _frame(
    title: str, axis: str, weeks: Sequence[Week], top: float, unit: str, *, band: bool = False
) -> list[str]:
    base = _HEIGHT - _BOTTOM
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{_e(title)}" '
            f'viewBox="0 0 {_WIDTH} {_HEIGHT}" width="{_WIDTH}" height="{_HEIGHT}" '
            'class="chart">'
        ),
        f"<title>{_e(title)}</title>",
        f'<line x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{base}" stroke="#555"/>',
        f'<line x1="{_LEFT}" y1="{base}" x2="{_WIDTH - _RIGHT}" y2="{base}" stroke="#555"/>',
    ]
    for tick in range(5):
        value = top * tick / 4
        y = _y(value, top)
        parts.append(
            f'<line x1="{_LEFT - 4}" y1="{y:.1f}" x2="{_WIDTH - _RIGHT}" y2="{y:.1f}" '
            f'stroke="#ddd"/><text x="{_LEFT - 6}" y="{y + 4:.1f}" font-size="11" '
            f'text-anchor="end">{value:g}{_e(unit)}</text>'
        )
    middle = _TOP + (_HEIGHT - _TOP - _BOTTOM) / 2
    parts.append(
        f'<text x="12" y="{middle:.0f}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 12 {middle:.0f})">{_e(axis)}</text>'
    )
    every = max(1, len(weeks) // 8)  # at most about 8 labels under the axis
    for index, week in enumerate(weeks):
        if index % every == 0 or index == len(weeks) - 1:
            parts.append(
                f'<text x="{_x(index, len(weeks), band=band):.1f}" y="{base + 16}" font-size="11" '
                f'text-anchor="middle">{week.start:%b %d}</text>'
            )
    parts.append(
        f'<text x="{_LEFT + (_WIDTH - _LEFT - _RIGHT) / 2:.0f}" y="{_HEIGHT - 6}" '
        f'font-size="11" text-anchor="middle">week the incidents opened (from Monday)</text>'
    )
    return parts


def _empty(title: str, why: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{_e(title)}" '
        f'viewBox="0 0 {_WIDTH} 60" width="{_WIDTH}" height="60" class="chart">'
        f'<title>{_e(title)}</title><text x="{_LEFT}" y="34" font-size="13">{_e(why)}</text>'
        "</svg>"
    )


def line_chart(weeks: Sequence[Week], metric: str, *, title: str | None = None) -> str:
    """One line per severity of a report figure (``mtta_minutes``, ``mttr_minutes``) by week.

    A week without the figure breaks the line (it is missing, not zero). A severity's point
    carries its value as a tooltip (``<title>``).

    Raises:
        ValueError: an unknown metric.
    """
    if metric not in METRICS:
        msg = f"a line chart draws one of {', '.join(METRICS)}, not {metric!r}"
        raise ValueError(msg)
    axis = METRICS[metric]
    title = title or f"{axis} per week and severity"
    severities = [str(s) for s in Severity if any(str(s) in w.by_severity for w in weeks)] + sorted(
        {k for w in weeks for k in w.by_severity} - {str(s) for s in Severity}
    )
    values = [
        (w.by_severity.get(s, {}).get(metric), index, s)
        for index, w in enumerate(weeks)
        for s in severities
    ]
    known = [v for v, _, _ in values if v is not None]
    if not known:
        return _empty(title, f"No {axis.split(' ')[0]} yet in these weeks.")
    top = _nice(max(known) or 1)
    parts = _frame(title, axis, weeks, top, "")
    for rank, severity in enumerate(severities):
        colour = COLORS.get(severity, _OTHER)
        runs: list[list[tuple[float, float, float, date]]] = [[]]
        for index, week in enumerate(weeks):
            value = week.by_severity.get(severity, {}).get(metric)
            if value is None:
                runs.append([])
                continue
            runs[-1].append((_x(index, len(weeks)), _y(value, top), value, week.start))
        for run in runs:
            if len(run) > 1:
                points = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in run)
                parts.append(
                    f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>'
                )
            parts.extend(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}">'
                f"<title>{_e(severity)}, week of {start:%Y-%m-%d}: {value:g} min</title>"
                "</circle>"
                for x, y, value, start in run
            )
        legend_y = _TOP + 16 * rank
        parts.append(
            f'<rect x="{_WIDTH - _RIGHT + 12}" y="{legend_y}" width="12" height="12" '
            f'fill="{colour}"/><text x="{_WIDTH - _RIGHT + 30}" y="{legend_y + 10}" '
            f'font-size="12">{_e(severity)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def compliance_chart(weeks: Sequence[Week], *, title: str | None = None) -> str:
    """Post-mortem compliance per week: the share of required post-mortems done, as bars.

    A week that required none has no bar and says so.
    """
    title = title or "Post-mortem compliance per week"
    if not any(w.required for w in weeks):
        return _empty(title, "No closed incident required a post-mortem in these weeks.")
    parts = _frame(title, "post-mortems done (%)", weeks, 100, "%", band=True)
    plot = _WIDTH - _LEFT - _RIGHT
    bar = min(36.0, plot / max(len(weeks), 1) * 0.6)
    base = _HEIGHT - _BOTTOM
    for index, week in enumerate(weeks):
        x = _x(index, len(weeks), band=True) - bar / 2
        share = week.compliance
        if share is None:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{base - 4}" font-size="10" '
                f'text-anchor="middle" fill="#777">n/a</text>'
            )
            continue
        y = _y(share * 100, 100)
        done = week.required - len(week.noncompliant)
        colour = "#2e7d32" if share == 1 else "#c62828"
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{base - y:.1f}" '
            f'fill="{colour}"><title>week of {week.start:%Y-%m-%d}: {done} of '
            f"{week.required} required post-mortems done"
            f"{_missing(week.noncompliant)}</title></rect>"
            f'<text x="{x + bar / 2:.1f}" y="{y - 4:.1f}" font-size="11" '
            f'text-anchor="middle">{done}/{week.required}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _missing(ids: Sequence[str]) -> str:
    return f" (missing: {_e(', '.join(ids))})" if ids else ""
