"""Silences: the ones in force (or all), a form to make one, a button to end one.

``GET /silences`` (``?all=1`` with the ended ones), ``POST /silences`` (the flow's ``silence``)
and ``POST /silences/{id}/end`` (``end_silence``), ``by=`` the person. Matchers are written as
on the command line: ``service=checkout env=prod,eu team=* region!=us`` (spaces or commas
between them; a value list with commas and no spaces).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._core.policy_values import parse_duration
from ._app import Act, Console, Refused
from ._auth import Viewer
from ._oncall import local_time

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

__all__ = ["NAV", "matchers", "routes"]

NAV = (("Silences", "/silences"),)


def matchers(text: str) -> dict[str, object]:
    """``service=checkout env=prod,eu team=* region!=us`` as the flow's label table.

    Raises:
        Refused: a term that is not ``label=value`` (400).
    """
    out: dict[str, object] = {}
    for term in text.split():
        name, sep, value = term.partition("=")
        if not sep or not name.strip("!") or not value:
            msg = f"each matcher is label=value (or label!=value, label=a,b, label=*), got {term!r}"
            raise Refused(400, msg[:300])
        if name.endswith("!"):
            out[name[:-1]] = f"!{value}"
        elif "," in value:
            out[name] = [v for v in value.split(",") if v]
        else:
            out[name] = value
    if not out:
        raise Refused(400, "a silence needs at least one matcher, like service=checkout")
    return out


async def silences_page(console: Console, request: Request, viewer: Viewer) -> Response:
    """The silences in force (or all of them), newest first, and the form."""
    everything = request.query_params.get("all") == "1"
    found = await console.flow.silences(active=not everything)
    now = console.now()
    rows = sorted(found, key=lambda s: s.created_at, reverse=True)
    return console.render(
        request,
        viewer,
        "silences.html",
        {
            "rows": [
                {
                    "silence": s,
                    "matchers": " ".join(str(m) for m in s.matchers),
                    "over": s.ended_at is not None or s.ends_at <= now,
                    "pending": s.starts_at > now,
                }
                for s in rows
            ],
            "everything": everything,
            "now": now,
        },
    )


async def create_silence(console: Console, act: Act) -> str:
    """The flow's ``silence``: matchers, for how long (or until when), and why."""
    act.back = "/silences"
    zone = console.zone(act.request)
    table = matchers(act.field("matchers")[:2000])
    why = act.field("why")[:500]
    duration_text = act.field("duration", required=False)
    until_text = act.field("until", required=False)
    start_text = act.field("start", required=False)
    duration: timedelta | None = None
    if duration_text:
        try:
            duration = parse_duration(duration_text)
        except ValueError as exc:
            raise Refused(400, f"for how long: {exc}") from None
    until = local_time(until_text, zone, "until") if until_text else None
    start = local_time(start_text, zone, "start") if start_text else None
    made = await console.flow.silence(
        table, by=act.person, why=why, duration=duration, ends_at=until, starts_at=start
    )
    ends = f"{made.ends_at.astimezone(zone):%Y-%m-%d %H:%M %Z}"
    return f"silence {made.id} until {ends}"


async def end_silence(console: Console, act: Act) -> str:
    """The flow's ``end_silence``: it ends now; what it held and still fires opens."""
    act.back = "/silences"
    silence_id = act.request.path_params["silence_id"]
    await console.flow.end_silence(silence_id, by=act.person)
    return f"silence {silence_id} ended"


def routes(console: Console) -> list[BaseRoute]:
    """The list and the two commands."""

    async def show(request: Request, viewer: Viewer) -> Response:
        return await silences_page(console, request, viewer)

    async def create(act: Act) -> str:
        return await create_silence(console, act)

    async def end(act: Act) -> str:
        return await end_silence(console, act)

    return [
        Route("/silences", console.page(show), methods=["GET"]),
        Route("/silences", console.action(create), methods=["POST"]),
        Route("/silences/{silence_id}/end", console.action(end), methods=["POST"]),
    ]
