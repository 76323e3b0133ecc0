"""Reads for screens, as steps: a page of the incidents a filter matches (the web console).

The incidents not closed come first, then the closed ones (two lists, one after the other). A
store with :class:`~incident_flow.ports.IncidentQuery` answers from its indexes and only the
page's incidents are loaded; any other store is listed the slow way (every incident of the
states asked, filtered here), so the console works on every store.
"""

from __future__ import annotations

import attrs

from .._core.incident import Incident
from .._core.process import FINAL_STATE, STATES
from .._core.steps import Steps, call
from ..exceptions import InvalidCommand
from ..ports import IncidentFilter, IncidentPage
from .loop import Loop

#: The most incidents one page may ask for.
MAX_PAGE = 500


class QuerySteps(Loop):
    """A page of incidents, through the store's index when it has one."""

    def _incident_page(
        self, filters: IncidentFilter, cursor: str | None, limit: int
    ) -> Steps[IncidentPage]:
        """The incidents not closed first (newest first), then the closed ones.

        The flow's cursor is ``PART:STORE_CURSOR``: which of the two lists, and the store's
        cursor in it (empty: its start).
        """
        if not isinstance(filters, IncidentFilter):
            msg = f"incident_page takes an IncidentFilter, got {type(filters).__name__}"
            raise InvalidCommand(msg)
        if not 1 <= limit <= MAX_PAGE:
            msg = f"a page has 1 to {MAX_PAGE} incidents, not {limit}"
            raise InvalidCommand(msg)
        parts = _parts(filters)
        part, inner = _cursor(cursor, len(parts))
        ids: list[str] = []
        incidents: list[Incident] = []
        while part < len(parts):
            page = yield from self._one_page(parts[part], inner, limit - len(ids))
            ids.extend(page.ids)
            incidents.extend(page.incidents)
            if page.next_cursor is not None:
                return _page(ids, incidents, f"{part}:{page.next_cursor}")
            part, inner = part + 1, None
            if len(ids) == limit:
                break
        if part < len(parts):  # the page is full: is there anything after it?
            peek = yield from self._one_page(parts[part], None, 1)
            if peek.ids:
                return _page(ids, incidents, f"{part}:")
        return _page(ids, incidents, None)

    def _one_page(
        self, filters: IncidentFilter, cursor: str | None, limit: int
    ) -> Steps[IncidentPage]:
        if self._store_can("queries_incidents", "incident_page"):
            page: IncidentPage = yield from call(
                "store", "incident_page", filters, cursor=cursor, limit=limit
            )
            loaded = []
            for incident_id in page.ids:
                loaded.append((yield from self._load(incident_id)))  # noqa: PERF401 - yields
            return IncidentPage(ids=page.ids, next_cursor=page.next_cursor, incidents=tuple(loaded))
        return (yield from self._scanned_page(filters, cursor, limit))

    def _scanned_page(
        self, filters: IncidentFilter, cursor: str | None, limit: int
    ) -> Steps[IncidentPage]:
        """Every incident of the states asked, loaded and filtered: for stores without an index."""
        everything: list[str] = yield from call("store", "incident_ids", None)
        wanted: set[str] | None = None
        if filters.states:
            wanted = set()
            for state in filters.states:
                wanted.update((yield from call("store", "incident_ids", state)))
        found: list[Incident] = []
        for incident_id in reversed(everything):  # newest first: the store's order, reversed
            if wanted is not None and incident_id not in wanted:
                continue
            incident = yield from self._load(incident_id)
            if filters.matches(incident):
                found.append(incident)
        start = 0
        if cursor is not None:
            if not cursor.isdigit():
                msg = f"not a cursor of this list: {cursor[:40]!r}"
                raise InvalidCommand(msg)
            start = int(cursor)
        shown = found[start : start + limit]
        more = str(start + limit) if start + limit < len(found) else None
        return IncidentPage(
            ids=tuple(i.id for i in shown), next_cursor=more, incidents=tuple(shown)
        )


def _parts(filters: IncidentFilter) -> list[IncidentFilter]:
    """The filter as two lists: the states asked that are not closed, then closed."""
    states = filters.states or STATES
    parts = []
    live = tuple(state for state in states if state != FINAL_STATE)
    if live:
        parts.append(attrs.evolve(filters, states=live))
    if FINAL_STATE in states:
        parts.append(attrs.evolve(filters, states=(FINAL_STATE,)))
    return parts


def _cursor(cursor: str | None, parts: int) -> tuple[int, str | None]:
    if cursor is None:
        return 0, None
    part, colon, inner = cursor.partition(":")
    if not colon or not part.isdigit() or int(part) >= max(parts, 1):
        msg = f"not a cursor of this list: {cursor[:40]!r}"
        raise InvalidCommand(msg)
    return int(part), inner or None


def _page(ids: list[str], incidents: list[Incident], more: str | None) -> IncidentPage:
    return IncidentPage(ids=tuple(ids), next_cursor=more, incidents=tuple(incidents))
