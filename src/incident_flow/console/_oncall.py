"""Who is on call: now per schedule and escalation level, a schedule's calendar, overrides.

``GET /oncall``: each schedule's on-call now, until when and who is next; each team's
escalation levels and who they page now (run-time overrides in), and the overrides in force.
``GET /oncall/{schedule}?view=week|month&day=YYYY-MM-DD``: the calendar (layers, overrides,
handoffs; the days in the viewer's zone, DST days their real length) and the shift record.
``POST /oncall/{schedule}/override`` and ``POST /oncall/overrides/{id}/cancel``: the flow's
``override`` and ``cancel_override``, ``by=`` the person.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import attrs
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..schedules import Override, Schedules
from ..schedules._clock import instant
from ._app import Act, Console, Refused
from ._auth import Viewer
from ._calendar import OVERRIDES, VIEWS, bounds, build_calendar
from ._calendar_svg import person_colour, week_svg

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

__all__ = ["NAV", "local_time", "routes"]

NAV = (("On call", "/oncall"),)
#: How far from today a calendar may look (days).
MAX_DAYS_AWAY = 3660
#: How the override form changes who is on call.
MODES = ("replace", "add", "remove")


def _who(people: tuple[str, ...]) -> str:
    return ", ".join(people) if people else "nobody (a gap)"


def local_time(text: str, zone: ZoneInfo, name: str) -> datetime:
    """A ``datetime-local`` field (``2027-03-14T02:30``) as an instant, wall time in ``zone``.

    A wall time the day skips or repeats follows the schedules' DST rules (the jump; the first
    occurrence). A time with an offset is taken as it is.

    Raises:
        Refused: not such a time (400).
    """
    try:
        wall = datetime.fromisoformat(text.strip())
    except ValueError:
        raise Refused(400, f"{name} must be a time like 2027-03-14T09:00, got {text!r}") from None
    return wall if wall.utcoffset() is not None else instant(wall, zone)


def _people(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))


async def _book(console: Console, *, active: bool) -> tuple[Schedules, list[Override]]:
    overrides = await console.flow.overrides(active=active)
    return console.flow.policy.schedules.with_overrides(overrides), overrides


async def board(console: Console, request: Request, viewer: Viewer) -> Response:
    """Each schedule and each team's levels: who now, until when, who next."""
    flow = console.flow
    policy = flow.policy
    now = console.now()
    overrides = await flow.overrides(active=True)
    schedules = []
    for name in policy.schedules.names:
        people = await flow.on_call(name, now)
        ahead = await flow.shifts(name, now, now + timedelta(days=60))
        schedules.append(
            {
                "name": name,
                "people": _who(people),
                "gap": not people,
                "colour": person_colour(people),
                "until": ahead[0].end if len(ahead) > 1 else None,
                "next": _who(ahead[1].people) if len(ahead) > 1 else None,
            }
        )
    teams = []
    for team in policy.team_names:
        seen = policy.for_team(team)
        seen = attrs.evolve(seen, schedules=seen.schedules.with_overrides(overrides))
        levels = []
        for level, step in enumerate(seen.escalation):
            names, gaps = seen.page_targets(level, now)
            levels.append(
                {
                    "level": level + 1,
                    "targets": ", ".join(step.targets),
                    "people": ", ".join(names),
                    "gaps": ", ".join(gaps),
                }
            )
        teams.append({"name": team, "levels": levels})
    return console.render(
        request,
        viewer,
        "oncall.html",
        {"schedules": schedules, "teams": teams, "overrides": overrides, "now": now},
    )


def _anchor(text: str, zone: ZoneInfo, now: datetime) -> date:
    if not text:
        return now.astimezone(zone).date()
    try:
        return date.fromisoformat(text.strip()[:10])
    except ValueError:
        raise Refused(400, f"day must be a date like 2027-03-14, got {text!r}") from None


async def schedule_page(console: Console, request: Request, viewer: Viewer) -> Response:
    """One schedule's week or month, its overrides and the forms to change them."""
    flow = console.flow
    name = request.path_params["schedule"]
    if name not in flow.policy.schedules:
        known = ", ".join(flow.policy.schedules.names) or "none"
        raise Refused(404, f"no schedule {name!r} (known: {known})")
    view = request.query_params.get("view", "week")
    if view not in VIEWS:
        raise Refused(400, f"view is week or month, not {view[:20]!r}")
    zone = console.zone(request)
    now = console.now()
    anchor = _anchor(request.query_params.get("day", ""), zone, now)
    today = now.astimezone(zone).date()
    if abs((anchor - today).days) > MAX_DAYS_AWAY:
        # A rotation counted turn by turn (skipping turns outside its windows) costs a step a
        # turn: a day centuries away would be a viewer's way to keep the service busy.
        raise Refused(400, f"day is at most {MAX_DAYS_AWAY // 365} years from today")
    book, overrides = await _book(console, active=False)
    start, end = bounds(anchor, view, zone)
    shifts = await flow.shifts(name, start, end)
    calendar = build_calendar(book, name, zone=zone, anchor=anchor, view=view, shifts=shifts)
    mine = [o for o in overrides if o.schedule == name]
    layers = sorted({layer.name for v in book.versions if v.name == name for layer in v.layers})
    return console.render(
        request,
        viewer,
        "schedule.html",
        {
            "name": name,
            "calendar": calendar,
            "svg": Markup(week_svg(calendar)) if view == "week" else None,  # noqa: S704 - escaped
            "moved": [h for h in calendar.handoffs if h.note],
            "overrides_lane": OVERRIDES,
            "active": [o for o in mine if o.end > now],
            "past": [o for o in mine if o.end <= now][-20:],
            "layers": layers,
            "people": sorted(p.name for p in flow.policy.people),
            "modes": MODES,
            "today": today,
            "now": now,
            "default_start": f"{now.astimezone(zone):%Y-%m-%dT%H:%M}",
            "default_end": f"{(now + timedelta(hours=8)).astimezone(zone):%Y-%m-%dT%H:%M}",
            "colour": person_colour,
        },
    )


async def create_override(console: Console, act: Act) -> str:
    """``flow.override``: who instead (or added, or removed), from when to when, and why."""
    name = act.request.path_params["schedule"]
    act.back = f"/oncall/{name}"
    zone = console.zone(act.request)
    mode = act.field("mode")
    if mode not in MODES:
        raise Refused(400, f"mode is one of {', '.join(MODES)}")
    people = _people(act.field("people", required=mode != "replace"))
    start_text = act.field("start", required=False)
    start = local_time(start_text, zone, "start") if start_text else None
    end = local_time(act.field("end"), zone, "end")
    layer = act.field("layer", required=False) or None
    why = act.field("why")[:500]
    changes: dict[str, Any] = {mode: people}
    made = await console.flow.override(
        name, start=start, end=end, layer=layer, by=act.person, why=why, **changes
    )
    act.back = f"/oncall/{name}?day={made.start.astimezone(zone).date()}"
    until = f"{made.end.astimezone(zone):%Y-%m-%d %H:%M %Z}"
    return f"override {made.id} in {name}: {_change_text(made)} until {until}"


def _change_text(override: Override) -> str:
    if override.replace is not None:
        return f"{_who(override.replace)} instead"
    if override.add:
        return f"{', '.join(override.add)} added"
    return f"{', '.join(override.remove)} removed"


async def cancel_override(console: Console, act: Act) -> str:
    """``flow.cancel_override``: the override ends now."""
    override_id = act.request.path_params["override_id"]
    ended = await console.flow.cancel_override(override_id, by=act.person)
    act.back = f"/oncall/{ended.schedule or ''}".rstrip("/")
    return f"override {override_id} ended"


def routes(console: Console) -> list[BaseRoute]:
    """The board, a schedule's calendar, and the override commands."""

    async def show_board(request: Request, viewer: Viewer) -> Response:
        return await board(console, request, viewer)

    async def show_schedule(request: Request, viewer: Viewer) -> Response:
        return await schedule_page(console, request, viewer)

    async def create(act: Act) -> str:
        return await create_override(console, act)

    async def cancel(act: Act) -> str:
        return await cancel_override(console, act)

    return [
        Route("/oncall", console.page(show_board), methods=["GET"]),
        Route("/oncall/{schedule}", console.page(show_schedule), methods=["GET"]),
        Route("/oncall/{schedule}/override", console.action(create), methods=["POST"]),
        Route("/oncall/overrides/{override_id}/cancel", console.action(cancel), methods=["POST"]),
    ]
