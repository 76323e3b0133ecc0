"""The pages that read the whole record: the runbook catalog, the report, the process.

``GET /runbooks``: the catalog as the team's table (the seed's columns), coverage by alert
source, the runbooks used most, and the ones not updated since an incident used them.
``GET /report?weeks=N``: MTTA and MTTR per week and severity and post-mortem compliance, as
charts, with the report's table and definitions. ``GET /process``: the process diagram,
drawn from the machine's table, and its Mermaid text. The figures are
:func:`incident_flow._response.report.build_report`'s, as ``incident-flow report`` prints them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._core.events import Event
from .._core.incident import Incident
from .._core.process import IN_PLACE, STATES, TRANSITIONS
from .._response.report import DEFINITIONS, build_report
from .._runbooks.table import COLUMNS
from ..ports import IncidentFilter
from ..process import to_mermaid
from ..schedules._clock import at_wall
from ._app import Console, Refused
from ._auth import Viewer
from ._charts import compliance_chart, line_chart, weekly
from ._process_svg import process_svg

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

__all__ = ["NAV", "routes"]

NAV = (("Runbooks", "/runbooks"), ("Report", "/report"), ("Process", "/process"))
#: The report's default span, and the longest one a page draws.
DEFAULT_WEEKS, MAX_WEEKS = 12, 104
#: The catalog's coverage is over this many weeks by default (``?weeks=``), at most the second.
DEFAULT_CATALOG_WEEKS, MAX_CATALOG_WEEKS = 52, 520
#: The most incidents one page reads (their histories too): more are left out, and it says so.
MAX_INCIDENTS = 5000
_PAGE = 500


def _link(url: str | None) -> str | None:
    from ._incidents import safe_link  # noqa: PLC0415 - one rule for every link

    return safe_link(url)


async def _record(
    console: Console, since: datetime
) -> tuple[list[tuple[Incident, Sequence[Event]]], bool]:
    """The incidents opened since ``since``, with their histories, as the report reads them.

    Read a page at a time through the store's index (``incident_page``), at most
    :data:`MAX_INCIDENTS` of them (the second value says whether more were left out).
    """
    flow = console.flow
    found: list[Incident] = []
    cursor: str | None = None
    while True:
        page = await flow.incident_page(
            IncidentFilter(opened_from=since), cursor=cursor, limit=_PAGE
        )
        found += page.incidents
        cursor = page.next_cursor
        if cursor is None or len(found) >= MAX_INCIDENTS:
            break
    cut = cursor is not None
    found = found[:MAX_INCIDENTS]
    return [(i, await flow.history(i.id)) for i in found], cut


def _weeks(request: Request, default: int, largest: int) -> int:
    text = request.query_params.get("weeks", str(default))
    if not text.isdigit() or not 1 <= int(text) <= largest:
        raise Refused(400, f"weeks is a whole number from 1 to {largest}")
    return int(text)


def _since(console: Console, request: Request, weeks: int) -> tuple[date, datetime]:
    """The Monday ``weeks`` weeks back (this week counting), in the viewer's zone."""
    zone = console.zone(request)
    today = console.now().astimezone(zone).date()
    first = today - timedelta(days=today.weekday(), weeks=weeks - 1)
    return first, at_wall(first, time(0), zone)


async def runbooks_page(console: Console, request: Request, viewer: Viewer) -> Response:
    """The catalog, its coverage and what may be out of date."""
    weeks = _weeks(request, DEFAULT_CATALOG_WEEKS, MAX_CATALOG_WEEKS)
    first, since = _since(console, request, weeks)
    catalog = await console.flow.runbooks()
    record, cut = await _record(console, since)
    report = build_report(record, catalog)
    revisions = {r.runbook.name: r for r in catalog.revisions}
    rows = [
        {
            "runbook": rb,
            "link": _link(rb.url),
            "source_link": _link(rb.source_url),
            "last": revisions.get(rb.name),
        }
        for rb in sorted(catalog.runbooks.runbooks, key=lambda r: r.name)
    ]
    coverage = [
        {
            "source": source,
            "with": counts.get("with", 0),
            "without": counts.get("without", 0),
            "share": counts.get("with", 0) / max(sum(counts.values()), 1),
        }
        for source, counts in report.coverage_by_source.items()
    ]
    return console.render(
        request,
        viewer,
        "runbooks.html",
        {
            "columns": COLUMNS,
            "rows": rows,
            "coverage": coverage,
            "report": report,
            "definition": DEFINITIONS["runbook coverage"],
            "weeks": weeks,
            "first": first,
            "cut": cut,
            "limit": MAX_INCIDENTS,
        },
    )


async def report_page(console: Console, request: Request, viewer: Viewer) -> Response:
    """The charts of the last ``weeks`` weeks, and the whole period's table."""
    count = _weeks(request, DEFAULT_WEEKS, MAX_WEEKS)
    zone = console.zone(request)
    first, since = _since(console, request, count)
    record, cut = await _record(console, since)
    weeks = weekly(record, zone, first=first, last=console.now().astimezone(zone).date())
    report = build_report(record, await console.flow.runbooks())
    return console.render(
        request,
        viewer,
        "report.html",
        {
            "weeks": weeks,
            "count": count,
            "first": first,
            "report": report,
            # The charts are SVG whose every outside string is escaped (_charts.py, tested).
            "mtta": Markup(line_chart(weeks, "mtta_minutes")),  # noqa: S704
            "mttr": Markup(line_chart(weeks, "mttr_minutes")),  # noqa: S704
            "compliance": Markup(compliance_chart(weeks)),  # noqa: S704
            "definitions": DEFINITIONS,
            "spans": (4, 12, 26, 52),
            "cut": cut,
            "limit": MAX_INCIDENTS,
        },
    )


async def process_page(console: Console, request: Request, viewer: Viewer) -> Response:
    """The process diagram, its steps with their rules, and what happens in place."""
    current = request.query_params.get("state")
    if current is not None and current not in STATES:
        raise Refused(400, f"no state {current[:40]!r}: {', '.join(STATES)}")
    return console.render(
        request,
        viewer,
        "process.html",
        {
            "diagram": Markup(process_svg(TRANSITIONS, STATES, current=current)),  # noqa: S704
            "steps": TRANSITIONS,
            "in_place": IN_PLACE,
            "mermaid": to_mermaid(),
        },
    )


def routes(console: Console) -> list[BaseRoute]:
    """The three reading pages."""

    async def runbooks(request: Request, viewer: Viewer) -> Response:
        return await runbooks_page(console, request, viewer)

    async def report(request: Request, viewer: Viewer) -> Response:
        return await report_page(console, request, viewer)

    async def process(request: Request, viewer: Viewer) -> Response:
        return await process_page(console, request, viewer)

    return [
        Route("/runbooks", console.page(runbooks), methods=["GET"]),
        Route("/report", console.page(report), methods=["GET"]),
        Route("/process", console.page(process), methods=["GET"]),
    ]
