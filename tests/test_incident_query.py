"""ports.IncidentQuery: the contract suite has teeth; the flows page through any store."""

from __future__ import annotations

import pytest

SLOPPY = '''
import pytest
from incident_flow import MemoryStore
from incident_flow.ports import IncidentPage
from incident_flow.testing.contracts import StoreContract


class SloppyStore(MemoryStore):
    """Pages oldest first and forgets the severity: a list that shows the wrong incidents."""

    def incident_page(self, filters, *, cursor=None, limit=50):
        ids = [i for i in self.incident_ids() if not filters.states
               or self._snapshots[i].state in filters.states]
        start = int(cursor or 0)
        more = str(start + limit) if start + limit < len(ids) else None
        return IncidentPage(ids=tuple(ids[start:start + limit]), next_cursor=more)


class TestSloppyStore(StoreContract):
    @pytest.fixture
    def store(self):
        return SloppyStore()
'''


class TestTheSuiteChecksPages:
    """A store whose pages are in the wrong order and ignore a filter fails the suite."""

    def test_sloppy_pages_fail(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile(test_sloppy=SLOPPY)
        result = pytester.runpytest_inprocess(
            "-q", "-p", "no:cacheprovider", "-k", "filter or follow or last_append or cursor"
        )
        outcomes = result.parseoutcomes()
        assert outcomes.get("failed", 0) >= 6, result.stdout.str()  # sync and async, 3+ each
        result.stdout.fnmatch_lines(["*test_each_filter_as_the_filter_says*"])


def test_a_filter_takes_aware_times_only() -> None:
    from datetime import UTC, datetime

    from incident_flow.ports import IncidentFilter

    with pytest.raises(ValueError, match="timezone-aware"):
        IncidentFilter(opened_from=datetime(2026, 3, 27))  # noqa: DTZ001 - the point
    with pytest.raises(ValueError, match="timezone-aware"):
        IncidentFilter(opened_before="2026-03-27")  # type: ignore[arg-type]
    assert IncidentFilter(opened_from=datetime(2026, 3, 27, tzinfo=UTC)).opened_from is not None
