"""The process diagram as inline SVG, generated from the machine's own table (pure).

The same source as ``incident_flow.process.to_mermaid()`` (``TRANSITIONS``, ``STATES``), drawn
on the server so the page needs no Mermaid script at run time: the states in their order on
one line, a step to the next state as a straight arrow, a step further forward as an arc above,
a step back as an arc below, each labelled with its trigger.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from .._core.process import STATES, Step

__all__ = ["process_svg"]

_BOX_W, _BOX_H, _GAP = 112, 40, 104
_LANE = 22  # the height one level of arcs adds


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _edges(steps: Sequence[Step], states: Sequence[str]) -> list[tuple[int, int, str]]:
    """(from index, to index, triggers) for each pair of states a step links."""
    index = {s: i for i, s in enumerate(states)}
    joined: dict[tuple[int, int], list[str]] = {}
    for step in steps:
        if step.dest is None:
            continue
        for source in step.sources:
            triggers = joined.setdefault((index[source], index[step.dest]), [])
            if step.trigger not in triggers:
                triggers.append(step.trigger)
    return [(a, b, ", ".join(t)) for (a, b), t in joined.items()]


def process_svg(
    steps: Sequence[Step], states: Sequence[str] = STATES, *, current: str | None = None
) -> str:
    """The diagram of ``steps`` (the machine's ``TRANSITIONS``) over ``states``, in order.

    ``current`` (a state's name) is drawn highlighted: where an incident is now.
    """
    edges = _edges(steps, states)
    above = [e for e in edges if e[1] > e[0] + 1]
    below = [e for e in edges if e[1] < e[0]]
    levels_up = max((b - a for a, b, _ in above), default=0)
    levels_down = max((a - b for a, b, _ in below), default=0)
    top = 20 + _LANE * levels_up
    width = len(states) * (_BOX_W + _GAP) + _GAP
    height = top + _BOX_H + _LANE * levels_down + 40

    def centre(i: int) -> float:
        return _GAP + i * (_BOX_W + _GAP) + _BOX_W / 2

    parts = [
        (
            '<svg xmlns="http://www.w3.org/2000/svg" role="img" '
            'aria-label="The incident process: states and the triggers between them" '
            f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" class="process">'
        ),
        "<title>The incident process</title>",
        (
            '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
            'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
            'fill="#37474f"/></marker></defs>'
        ),
    ]
    for i, state in enumerate(states):
        x = _GAP + i * (_BOX_W + _GAP)
        here = state == current
        parts.append(
            f'<g class="state"><title>{_e(state)}</title>'
            f'<rect x="{x}" y="{top}" width="{_BOX_W}" height="{_BOX_H}" rx="8" '
            f'fill="{"#1565c0" if here else "#e3f2fd"}" stroke="#1565c0"/>'
            f'<text x="{x + _BOX_W / 2}" y="{top + 25}" font-size="13" text-anchor="middle" '
            f'fill="{"#fff" if here else "#0d47a1"}">{_e(state)}</text></g>'
        )
    for a, b, label in edges:
        x1, x2 = centre(a), centre(b)
        if b == a + 1:
            y = top + _BOX_H / 2
            parts.append(
                f'<g class="edge"><title>{_e(label)}: {_e(states[a])} -&gt; {_e(states[b])}'
                f'</title><line x1="{x1 + _BOX_W / 2:.0f}" y1="{y:.0f}" '
                f'x2="{x2 - _BOX_W / 2:.0f}" y2="{y:.0f}" stroke="#37474f" '
                f'marker-end="url(#arrow)"/><text x="{(x1 + x2) / 2:.0f}" y="{y - 6:.0f}" '
                f'font-size="10" text-anchor="middle">{_e(label)}</text></g>'
            )
            continue
        forward = b > a
        span = abs(b - a)
        edge_y = top if forward else top + _BOX_H
        peak = edge_y - _LANE * span if forward else edge_y + _LANE * span
        sx, ex = (x1 + 12, x2 - 12) if forward else (x1 - 12, x2 + 12)
        # A cubic with both controls at the peak reaches three quarters of the way there.
        label_y = edge_y + 0.75 * (peak - edge_y) + (-4 if forward else 12)
        parts.append(
            f'<g class="edge"><title>{_e(label)}: {_e(states[a])} -&gt; {_e(states[b])}</title>'
            f'<path d="M{sx:.0f},{edge_y:.0f} C{sx:.0f},{peak:.0f} {ex:.0f},{peak:.0f} '
            f'{ex:.0f},{edge_y:.0f}" fill="none" stroke="#37474f" marker-end="url(#arrow)"/>'
            f'<text x="{(x1 + x2) / 2:.0f}" y="{label_y:.0f}" '
            f'font-size="10" text-anchor="middle">{_e(label)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
