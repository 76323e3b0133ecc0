"""A page of the incidents a filter matches (``ports.IncidentQuery``, optional).

Part of :class:`incident_flow.testing.contracts.StoreContract`; run through it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from .._core import events as ev
from .._core.alerts import Alert
from .._core.incident import Incident, fold
from .._core.severity import Severity
from ..exceptions import InvalidCommand
from ..ports import EventStore, IncidentFilter
from ._contract_data import T0, _Drivers


def _incident(
    n: int,
    *,
    source: str = "test",
    service: str | None = None,
    severity: Severity = Severity.P3,
    resolved: bool = False,
) -> tuple[list[ev.Event], Incident]:
    at = T0 + timedelta(hours=n)
    labels = {"service": service} if service else {}
    alert = Alert(source=source, name="n", title=f"t{n}", dedup_key=f"k{n}", labels=labels)
    events: list[ev.Event] = [
        ev.IncidentTriggered(
            version=1,
            at=at,
            incident_id=f"inc-{n}",
            alert=alert,
            title=f"t{n}",
            dedup_key=f"k{n}",
            service=service,
        ),
        ev.IncidentClassified(
            version=2,
            at=at,
            severity=severity,
            source="alert",
            critical=False,
            postmortem_required=False,
        ),
        ev.IncidentNotified(version=3, at=at, paged=False),
    ]
    if resolved:
        events.append(ev.IncidentResolved(version=4, at=at, by="a"))
    return events, fold(None, events)


class StoreQueryContract(_Drivers):
    """A page of ids from the indexes: the filter's, newest first, each once across pages."""

    def _query(self, port: EventStore) -> Any:
        if not hasattr(port, "incident_page"):
            pytest.skip("this store lists no pages (ports.IncidentQuery is optional)")
        return port

    def _fill(self, port: EventStore) -> dict[str, Incident]:
        made = [
            _incident(0, source="datadog", service="api", severity=Severity.P1),
            _incident(1, service="api", resolved=True),
            _incident(2, source="datadog", severity=Severity.P2),
            _incident(3, service="web"),
            _incident(4, source="grafana", service="api", resolved=True),
            _incident(5),
            _incident(6, source="datadog", service="web", severity=Severity.P1),
        ]
        for events, incident in made:
            port.append(incident.id, 0, events, snapshot=incident)
        return {incident.id: incident for _, incident in made}

    def _all(self, query: Any, filters: IncidentFilter, limit: int = 50) -> list[str]:
        ids: list[str] = []
        cursor = None
        for _ in range(20):
            page = query.incident_page(filters, cursor=cursor, limit=limit)
            assert len(page.ids) <= limit
            ids.extend(page.ids)
            cursor = page.next_cursor
            if cursor is None:
                return ids
        raise AssertionError("the pages never end")  # pragma: no cover

    def test_each_filter_as_the_filter_says(self, port: EventStore) -> None:
        """The ids are those ``IncidentFilter.matches`` accepts, newest opened first."""
        query = self._query(port)
        made = self._fill(port)
        for filters in (
            IncidentFilter(),
            IncidentFilter(states=("notified",)),
            IncidentFilter(states=("notified", "resolved"), severity="P1"),
            IncidentFilter(source="datadog"),
            IncidentFilter(service="api"),
            IncidentFilter(service="api", states=("resolved",)),
            IncidentFilter(opened_from=T0 + timedelta(hours=2)),
            IncidentFilter(opened_before=T0 + timedelta(hours=2)),
            IncidentFilter(
                opened_from=T0 + timedelta(hours=3), opened_before=T0 + timedelta(hours=5)
            ),
            IncidentFilter(source="nowhere"),
        ):
            expected = [i for i in reversed(list(made)) if filters.matches(made[i])]
            assert self._all(query, filters) == expected, filters

    def test_pages_follow_each_other(self, port: EventStore) -> None:
        """Following the cursor gives every match once, in order, then a last page."""
        query = self._query(port)
        made = self._fill(port)
        assert self._all(query, IncidentFilter(), limit=2) == list(reversed(list(made)))
        assert self._all(query, IncidentFilter(source="datadog"), limit=1) == [
            "inc-6",
            "inc-2",
            "inc-0",
        ]
        last = query.incident_page(IncidentFilter(), limit=7)
        assert len(last.ids) == 7 and last.next_cursor is None

    def test_as_of_the_last_append(self, port: EventStore) -> None:
        """A reclassified incident is found by its severity now."""
        query = self._query(port)
        made = self._fill(port)
        before = made["inc-5"]
        changed = [
            ev.SeverityChanged(
                version=before.version + 1,
                at=before.updated_at,
                by="a",
                old=Severity.P3,
                new=Severity.P1,
                critical=True,
                postmortem_required=True,
            )
        ]
        port.append("inc-5", before.version, changed, snapshot=fold(before, changed))
        assert self._all(query, IncidentFilter(severity="P1")) == ["inc-6", "inc-5", "inc-0"]

    def test_a_cursor_it_did_not_make(self, port: EventStore) -> None:
        """A made-up cursor is refused, not guessed at."""
        query = self._query(port)
        self._fill(port)
        with pytest.raises(InvalidCommand):
            query.incident_page(IncidentFilter(), cursor="x; DROP TABLE incidents", limit=2)
