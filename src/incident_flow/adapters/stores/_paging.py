"""A page of the incidents a filter matches (``ports.IncidentQuery``), for the SQL stores.

One statement for SQLite and PostgreSQL alike: the incidents' index row gives the state, the
severity and the order (``seq``, the order they were opened in); the first event of the
stream (its primary key: one index probe per row) gives the source, the service and when it
opened, read from its JSON only when the filter asks for them. Newest first, ``limit + 1``
rows so the page knows whether another follows; the cursor is the last row's ``seq``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ...exceptions import InvalidCommand
from ...ports import IncidentFilter, IncidentPage
from ._pg_sql import Query

__all__ = ["page_from_rows", "page_statement", "pg_page"]

#: The JSON fields of an IncidentTriggered event the filter reads, by what they mean.
_FIELDS = {"source": ("alert", "source"), "service": ("service",), "opened": ("at",)}


def _sqlite_json(path: tuple[str, ...]) -> str:
    return "json_extract(e.data, '$." + ".".join(path) + "')"


def _pg_json(path: tuple[str, ...]) -> str:
    *parents, last = path
    steps = "".join(f" -> '{p}'" for p in parents)
    return f"(e.data::jsonb{steps} ->> '{last}')"


def page_statement(
    filters: IncidentFilter, cursor: str | None, limit: int, *, dialect: str
) -> tuple[str, tuple[Any, ...]]:
    """The statement and parameters of one page (``dialect``: ``sqlite`` or ``postgres``).

    Raises:
        InvalidCommand: a cursor this store did not make.
    """
    postgres = dialect == "postgres"
    mark = "%s" if postgres else "?"
    table = "{s}." if postgres else ""
    json: Callable[[tuple[str, ...]], str] = _pg_json if postgres else _sqlite_json
    where: list[str] = []
    params: list[Any] = []
    if filters.states:
        if postgres:
            where.append("i.state = ANY(%s)")
            params.append(list(filters.states))
        else:
            where.append(f"i.state IN ({', '.join('?' for _ in filters.states)})")
            params.extend(filters.states)
    if filters.severity is not None:
        where.append(f"i.severity = {mark}")
        params.append(filters.severity)
    if cursor is not None:
        if not cursor.isdigit() or len(cursor) > 19:
            msg = f"not a cursor of this list: {cursor[:40]!r}"
            raise InvalidCommand(msg)
        where.append(f"i.seq < {mark}")
        params.append(int(cursor))
    joined = False
    for name, value in (("source", filters.source), ("service", filters.service)):
        if value is not None:
            joined = True
            where.append(f"{json(_FIELDS[name])} = {mark}")
            params.append(value)
    for bound, sign in ((filters.opened_from, ">="), (filters.opened_before, "<")):
        if bound is not None:
            joined = True
            where.append(f"{json(_FIELDS['opened'])} {sign} {mark}")
            params.append(_iso(bound))
    # Only our own fragments and placeholders go into the text; every value is a parameter.
    text = f"SELECT i.seq, i.id FROM {table}incidents i"  # noqa: S608
    if joined:
        text += f" JOIN {table}events e ON e.incident_id = i.id AND e.version = 1"
    if where:
        text += " WHERE " + " AND ".join(where)
    text += f" ORDER BY i.seq DESC LIMIT {mark}"
    params.append(limit + 1)
    return text, tuple(params)


def page_from_rows(rows: list[tuple[Any, ...]], limit: int) -> IncidentPage:
    """The page of ``(seq, id)`` rows fetched with ``limit + 1``."""
    shown = rows[:limit]
    more = str(int(shown[-1][0])) if len(rows) > limit and shown else None
    return IncidentPage(ids=tuple(str(r[1]) for r in shown), next_cursor=more)


def _iso(at: datetime) -> str:
    """As the events' JSON writes times: ISO 8601 in UTC (compared as text, in order)."""
    return at.astimezone(UTC).isoformat()  # IncidentFilter takes aware times only


def pg_page(filters: IncidentFilter, cursor: str | None, limit: int) -> Query[IncidentPage]:
    """The PostgreSQL stores' query of one page."""
    text, params = page_statement(filters, cursor, limit, dialect="postgres")
    return Query("listing a page", text, params, lambda rows: page_from_rows(rows, limit))
