"""The incident list, one incident's page, and the commands a responder gives from it.

``GET /`` and ``GET /incidents``: open incidents first (newest first), filtered by state,
severity, source, service and the day they opened (in the viewer's zone), a page at a time.
``GET /incidents/{id}``: the alert, the runbook, the post-mortem and its review, the action
items, grouping and silences, the timeline. ``POST /incidents/{id}/{command}``: acknowledge,
start_runbook, note, resolve, escalate, reclassify (the flow's commands, ``by=`` the person).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._core.incident import Incident
from .._core.process import OPEN_STATES, STATES
from .._core.severity import Severity
from ..ports import IncidentFilter
from ._app import Act, Console, Refused
from ._auth import Viewer
from ._timeline import timeline

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

__all__ = ["COMMANDS", "NAV", "routes"]

NAV = (("Incidents", "/incidents"),)
#: Incidents on one page of the list.
PAGE_SIZE = 50
_UNRESOLVED = ("notified", "runbook")


def filters_from(request: Request, console: Console) -> tuple[IncidentFilter, dict[str, str]]:
    """The list's filter from the query (and the query as given, for the form and links)."""
    q = request.query_params
    asked = {k: q.get(k, "").strip()[:100] for k in ("state", "severity", "source", "service")}
    asked |= {k: q.get(k, "").strip()[:10] for k in ("from", "to")}
    state = asked["state"] or "open"
    if state == "open":
        states: tuple[str, ...] = OPEN_STATES
    elif state == "all":
        states = ()
    elif state in STATES:
        states = (state,)
    else:
        raise Refused(400, f"no state {state!r}: open, all, or one of {', '.join(STATES)}")
    severity = asked["severity"] or None
    if severity is not None:
        try:
            severity = str(Severity(severity))
        except ValueError:
            raise Refused(400, f"no severity {severity!r}: P1 to P5") from None
    zone = console.zone(request)
    opened_from = _day(asked["from"], "from", zone)
    opened_to = _day(asked["to"], "to", zone)
    found = IncidentFilter(
        states=states,
        severity=severity,
        source=asked["source"] or None,
        service=asked["service"] or None,
        opened_from=opened_from,
        opened_before=opened_to + timedelta(days=1) if opened_to is not None else None,
    )
    asked["state"] = state
    return found, asked


def _day(text: str, name: str, zone: Any) -> datetime | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise Refused(400, f"{name} must be a date like 2026-03-29, got {text!r}") from None
    return datetime.combine(day, time(0), tzinfo=zone)


async def incident_list(console: Console, request: Request, viewer: Viewer) -> Response:
    """The list: a page of incidents matching the filter."""
    found, asked = filters_from(request, console)
    cursor = request.query_params.get("after") or None
    page = await console.flow.incident_page(found, cursor=cursor, limit=PAGE_SIZE)
    now = console.now()
    policy = console.flow.policy
    teams = bool(policy.teams)
    rows = [_list_row(incident, now) for incident in page.incidents]
    if teams:  # an incident without one is the default team's, as the policy decides
        for row, incident in zip(rows, page.incidents, strict=True):
            team = incident.team
            row["team"] = team if team in policy.team_names else policy.default_team_name
    shown = {k: v for k, v in asked.items() if v}
    more = urlencode({**shown, "after": page.next_cursor}) if page.next_cursor else None
    return console.render(
        request,
        viewer,
        "incidents.html",
        {
            "rows": rows,
            "asked": asked,
            "states": ("open", "all", *STATES),
            "severities": [str(s) for s in Severity],
            "more": more,
            "first": urlencode(shown),
            "paged": cursor is not None,
            "refresh": int(console.config.refresh.total_seconds()),
            "now": now,
            "teams": teams,
        },
    )


def _list_row(incident: Incident, now: datetime) -> dict[str, Any]:
    unacked = incident.acknowledged_at is None and incident.state in _UNRESOLVED
    return {
        "id": incident.id,
        "severity": str(incident.severity),
        "critical": incident.critical,
        "title": incident.title,
        "state": incident.state,
        "opened": incident.created_at,
        "acknowledged_by": incident.acknowledged_by,
        "next_escalation": incident.escalation_due_at if unacked else None,
        "source": incident.alert.source,
        "service": incident.service,
    }


def safe_link(url: str | None) -> str | None:
    """A link worth an ``href``: http(s) only (never ``javascript:`` or ``data:``)."""
    if not url:
        return None
    return url if urlsplit(url.strip()).scheme.lower() in ("http", "https") else None


async def incident_page(console: Console, request: Request, viewer: Viewer) -> Response:
    """One incident: what fired, what to do, what happened, and what may be done now."""
    incident_id = request.path_params["incident_id"]
    incident = await console.flow.get(incident_id)
    events = await console.flow.history(incident_id)
    zone = console.zone(request)
    silence = None
    if incident.silence_id is not None:
        silences = await console.flow.silences(active=False)
        silence = next((s for s in silences if s.id == incident.silence_id), None)
    unresolved = incident.state in _UNRESOLVED
    can = {
        "acknowledge": incident.state in OPEN_STATES and incident.acknowledged_at is None,
        "start_runbook": incident.state == "notified",
        "note": incident.state in OPEN_STATES,
        "resolve": unresolved,
        "escalate": unresolved and incident.critical,
        "reclassify": incident.state in OPEN_STATES,
    }
    pm = incident.postmortem
    return console.render(
        request,
        viewer,
        "incident.html",
        {
            "incident": incident,
            "alert": incident.alert,
            "alert_link": safe_link(incident.alert.url),
            "runbook_link": safe_link(incident.runbook.url if incident.runbook else None),
            "postmortem": pm,
            "review_link": safe_link(pm.review_url if pm else None),
            "rows": timeline(events, zone),
            "silence": silence,
            "can": can,
            "acts": viewer.person is not None,
            "severities": [str(s) for s in Severity],
            "now": console.now(),
        },
    )


# ---------------------------------------------------------------------- the commands


async def _acknowledge(flow: Any, act: Act, incident_id: str) -> str:
    before = await flow.get(incident_id)
    if before.acknowledged_at is not None:  # said as it is, not as if this one counted
        raise Refused(409, f"already acknowledged by {before.acknowledged_by}")
    incident = await flow.acknowledge(incident_id, by=act.person)
    return f"acknowledged by {incident.acknowledged_by}"


async def _start_runbook(flow: Any, act: Act, incident_id: str) -> str:
    incident = await flow.start_runbook(incident_id, by=act.person)
    if incident.runbook is None:
        return "runbook started: none in the catalog for this alert (an action item says so)"
    return f"runbook started: {incident.runbook.name}"


async def _note(flow: Any, act: Act, incident_id: str) -> str:
    await flow.note(incident_id, act.field("text")[:4000], by=act.person)
    return "note added"


async def _resolve(flow: Any, act: Act, incident_id: str) -> str:
    summary = act.field("summary", required=False)[:4000]
    incident = await flow.resolve(incident_id, by=act.person, summary=summary)
    return f"resolved ({incident.state})"


async def _escalate(flow: Any, act: Act, incident_id: str) -> str:
    incident = await flow.escalate(incident_id, by=act.person)
    return f"escalated to level {incident.escalation_level}"


async def _reclassify(flow: Any, act: Act, incident_id: str) -> str:
    try:
        severity = Severity(act.field("severity"))
    except ValueError:
        raise Refused(400, "severity must be P1 to P5") from None
    incident = await flow.reclassify(incident_id, severity, by=act.person)
    return f"now {incident.severity}"


#: The commands of an incident's page: ``POST /incidents/{id}/{name}``.
COMMANDS: dict[str, Callable[[Any, Act, str], Awaitable[str]]] = {
    "acknowledge": _acknowledge,
    "start_runbook": _start_runbook,
    "note": _note,
    "resolve": _resolve,
    "escalate": _escalate,
    "reclassify": _reclassify,
}


def incident_command(
    console: Console, commands: dict[str, Callable[[Any, Act, str], Awaitable[str]]]
) -> Callable[[Act], Awaitable[str]]:
    """An action running the named one of ``commands`` on the incident of the path."""

    async def command(act: Act) -> str:
        incident_id = act.request.path_params["incident_id"]
        name = act.request.path_params["command"]
        act.back = f"/incidents/{incident_id}"
        handler = commands.get(name)
        if handler is None:
            raise Refused(404, f"no command {name!r}: {', '.join(commands)}")
        return await handler(console.flow, act, incident_id)

    return command


def routes(console: Console) -> list[BaseRoute]:
    """The list, the incident page and its commands."""

    async def listing(request: Request, viewer: Viewer) -> Response:
        return await incident_list(console, request, viewer)

    async def one(request: Request, viewer: Viewer) -> Response:
        return await incident_page(console, request, viewer)

    command = incident_command(console, COMMANDS)
    return [
        Route("/", console.page(listing), methods=["GET"]),
        Route("/incidents", console.page(listing), methods=["GET"]),
        Route("/incidents/{incident_id}", console.page(one), methods=["GET"]),
        Route("/incidents/{incident_id}/{command}", console.action(command), methods=["POST"]),
    ]
