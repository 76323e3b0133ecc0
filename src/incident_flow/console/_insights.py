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
from datetime import datetime, time, timedelta
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


def _link(url: str | None) -> str | None:
    from ._incidents import safe_link  # noqa: PLC0415 - one rule for every link

    return safe_link(url)


async def _record(
    console: Console, since: datetime | None = None
) -> list[tuple[Incident, Sequence[Event]]]:
    """Every incident (opened since ``since``) with its history, as the report reads them."""
    flow = console.flow
    found = await flow.incidents()
    if since is not None:
        found = [i for i in found if i.created_at >= since]
    return [(i, await flow.history(i.id)) for i in found]


async def runbooks_page(console: Console, request: Request, viewer: Viewer) -> Response:
    """The catalog, its coverage and what may be out of date."""
    catalog = await console.flow.runbooks()
    report = build_report(await _record(console), catalog)
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
        },
    )


async def report_page(console: Console, request: Request, viewer: Viewer) -> Response:
    """The charts of the last ``weeks`` weeks, and the whole period's table."""
    text = request.query_params.get("weeks", str(DEFAULT_WEEKS))
    if not text.isdigit() or not 1 <= int(text) <= MAX_WEEKS:
        raise Refused(400, f"weeks is a whole number from 1 to {MAX_WEEKS}")
    count = int(text)
    zone = console.zone(request)
    now = console.now()
    today = now.astimezone(zone).date()
    first = today - timedelta(days=today.weekday(), weeks=count - 1)
    since = at_wall(first, time(0), zone)
    record = await _record(console, since)
    weeks = weekly(record, zone, first=first, last=today)
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
