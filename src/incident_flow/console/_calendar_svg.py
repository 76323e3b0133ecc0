"""A calendar's week drawn as inline SVG: each day its real length (pure; no script, no CDN).

SVG, not positioned HTML: the console's Content-Security-Policy allows no inline style, and
the geometry (a 23-hour day shorter, a 25-hour day longer, hour lines labelled by the local
clock) is drawing, not layout. Every name and note placed in it is escaped; each block carries
a ``<title>`` (its tooltip, and what a screen reader says), and the page lists the same shifts
as a table beside it.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Sequence

from ._calendar import ON_CALL, OVERRIDES, Calendar, Day, Segment

__all__ = ["person_colour", "week_svg"]

_PALETTE = (
    "#bbdefb", "#c8e6c9", "#ffe0b2", "#e1bee7", "#b2ebf2",
    "#f8bbd0", "#dcedc8", "#d7ccc8", "#fff9c4", "#cfd8dc",
)  # fmt: skip
_GAP = "#ffcdd2"
_PX_PER_HOUR = 22
_HEAD = 46
_LEFT = 48
_DAY_WIDTH = 150
_STRIP = 44


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def person_colour(people: Sequence[str]) -> str:
    """A stable pastel colour for a group of people (the same in every week and page)."""
    if not people:
        return _GAP
    digest = hashlib.sha256(", ".join(people).encode()).digest()
    return _PALETTE[digest[0] % len(_PALETTE)]


def _who(people: Sequence[str]) -> str:
    return ", ".join(people) if people else "nobody (a gap)"


def _block(segment: Segment, x: float, y0: float, width: float, *, hours: float, zone: str) -> str:
    top = y0 + segment.top * hours * _PX_PER_HOUR
    height = max(segment.height * hours * _PX_PER_HOUR, 1.0)
    fill = "#eeeeee" if segment.lane == OVERRIDES else person_colour(segment.people)
    dashed = ' stroke-dasharray="4 2"' if segment.lane == OVERRIDES or segment.gap else ""
    stroke = "#c62828" if segment.gap else "#607d8b"
    tip = f"{segment.lane}: {_who(segment.people)}, {segment.from_text}-{segment.to_text} ({zone})"
    if segment.note:
        tip += f"; {segment.note}"
    parts = [
        (
            f'<g class="block"><title>{_e(tip)}</title>'
            f'<rect x="{x:.1f}" y="{top:.1f}" width="{width:.1f}" height="{height:.1f}" '
            f'fill="{fill}" stroke="{stroke}"{dashed} rx="2"/>'
        )
    ]
    if height >= 14:
        label = _who(segment.people) if segment.people or segment.lane == ON_CALL else ""
        if len(label) > int(width / 6.5):
            label = label[: max(int(width / 6.5) - 1, 1)] + "…"
        parts.append(f'<text x="{x + 3:.1f}" y="{top + 11:.1f}" font-size="10">{_e(label)}</text>')
    parts.append("</g>")
    return "".join(parts)


def _day(calendar: Calendar, day: Day, index: int) -> list[str]:
    x0 = _LEFT + index * _DAY_WIDTH
    hours = day.length.total_seconds() / 3600
    head = f"{day.day:%a %d %b}"
    parts = [
        (
            f'<text x="{x0 + _DAY_WIDTH / 2:.1f}" y="16" font-size="12" font-weight="bold" '
            f'text-anchor="middle">{_e(head)}</text>'
        ),
        (
            f'<rect x="{x0 + 1}" y="{_HEAD}" width="{_DAY_WIDTH - 2}" '
            f'height="{hours * _PX_PER_HOUR:.1f}" fill="{"#fffbe6" if day.note else "#fafafa"}" '
            f'stroke="#bbb"/>'
        ),
    ]
    if day.note:
        parts.append(
            f'<text x="{x0 + _DAY_WIDTH / 2:.1f}" y="30" font-size="10" text-anchor="middle" '
            f'fill="#8a5a00" class="dst">{hours:g} hours<title>{_e(day.note)}</title></text>'
        )
    for mark in day.hours:
        y = _HEAD + mark.offset * hours * _PX_PER_HOUR
        parts.append(
            f'<line x1="{x0 + 1}" y1="{y:.1f}" x2="{x0 + _DAY_WIDTH - 1}" y2="{y:.1f}" '
            f'stroke="{"#e0a800" if mark.repeated else "#e6e6e6"}"/>'
        )
        if index == 0 or day.note:
            # The first day labels the hours at the left; a DST day labels its own clock.
            label = mark.label + (" (again)" if mark.repeated else "")
            anchor_x = x0 - 3 if index == 0 else x0 + _STRIP
            parts.append(
                f'<text x="{anchor_x:.1f}" y="{y + 4:.1f}" font-size="9" '
                f'text-anchor="end" fill="#666">{_e(label)}</text>'
            )
    lanes = calendar.lanes
    # A DST day keeps a strip at its left for its own clock's labels.
    left = x0 + 2 + (_STRIP + 2 if day.note and index else 0)
    lane_width = (x0 + _DAY_WIDTH - 2 - left) / len(lanes)
    for lane_index, lane in enumerate(lanes):
        x = left + lane_index * lane_width
        parts.extend(
            _block(s, x, _HEAD, lane_width - 2, hours=hours, zone=calendar.zone)
            for s in day.lane(lane)
        )
    for handoff in day.handoffs:
        y = _HEAD + (handoff.at - day.start).total_seconds() / 3600 * _PX_PER_HOUR
        moved = bool(handoff.note)
        tip = f"handoff {handoff.local_text}: {_who(handoff.before)} -> {_who(handoff.after)}"
        if moved:
            tip += f" ({handoff.note})"
        parts.append(
            f'<g class="handoff{" moved" if moved else ""}"><title>{_e(tip)}</title>'
            f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + _DAY_WIDTH}" y2="{y:.1f}" '
            f'stroke="{"#e65100" if moved else "#37474f"}" stroke-width="2"/>'
            f'<polygon points="{x0},{y - 4:.1f} {x0 + 6},{y:.1f} {x0},{y + 4:.1f}" '
            f'fill="{"#e65100" if moved else "#37474f"}"/></g>'
        )
    return parts


def week_svg(calendar: Calendar) -> str:
    """The calendar's days side by side, each as long as it really is, lanes within a day.

    Meant for a week (seven columns); a month view is a table of days instead.
    """
    longest = max(d.length.total_seconds() / 3600 for d in calendar.days)
    width = _LEFT + _DAY_WIDTH * len(calendar.days) + 10
    height = _HEAD + longest * _PX_PER_HOUR + 24
    lanes = ", ".join(calendar.lanes)
    label = (
        f"{calendar.schedule}: {calendar.first:%Y-%m-%d} to {calendar.last:%Y-%m-%d} in "
        f"{calendar.zone}; columns per day: {lanes}"
    )
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{_e(label)}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
            f'class="calendar">'
        ),
        f"<title>{_e(label)}</title>",
    ]
    for index, day in enumerate(calendar.days):
        parts += _day(calendar, day, index)
    legend_y = height - 8
    lane_text = " | ".join(calendar.lanes)
    parts.append(
        f'<text x="{_LEFT}" y="{legend_y:.0f}" font-size="10" fill="#555">columns in each day: '
        f"{_e(lane_text)} · times in {_e(calendar.zone)}</text>"
    )
    parts.append("</svg>")
    return "".join(parts)
