"""The contract suite every tracker passes (``ports.Tracker``), sync and async.

Subclass :class:`TrackerContract` and provide ``tracker`` (your adapter, sync or async),
``where`` (the repository or project it writes to) and ``close_there`` (a callable that
closes an issue by its key as a person in the tracker would)::

    class TestMyTracker(TrackerContract):
        @pytest.fixture
        def tracker(self, my_server):
            return MyTracker(my_server.url)

Requires ``pytest`` (the ``test`` extra).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .._core.severity import Severity
from .._core.trackers import FollowUp, TrackerIssue
from ..adapters.trackers.threaded import as_async_tracker
from ..ports import AsyncTracker, Tracker
from ._async import as_driven, flow_for
from ._contract_data import _ALERT, T0, _Drivers
from ._doubles import ManualClock, RecordingPublisher

__all__ = ["TrackerContract"]


class TrackerContract(_Drivers):
    """What every :class:`~incident_flow.ports.Tracker` must do (under both drivers)."""

    @pytest.fixture
    def tracker(self) -> Tracker:
        """The tracker under test, sync or async; override in the subclass."""
        raise NotImplementedError  # pragma: no cover

    @pytest.fixture
    def where(self) -> str:
        """The repository (``owner/name``) or project key it writes to; override."""
        raise NotImplementedError  # pragma: no cover

    @pytest.fixture
    def close_there(self) -> Callable[[str], None]:
        """Close an issue by its key as a person in the tracker does; override."""
        raise NotImplementedError  # pragma: no cover

    @pytest.fixture
    def port(
        self, tracker: Tracker | AsyncTracker, driver: str, request: pytest.FixtureRequest
    ) -> Tracker:
        """``tracker`` as the ``driver`` calls it, behind a sync face for the test bodies."""
        driven: Tracker = as_driven(tracker, driver, as_async_tracker, request)
        return driven

    @staticmethod
    def follow_up(where: str, item: str = "AI-1", *, resent: bool = False) -> FollowUp:
        """A follow-up for the tests (its title is hostile outside text)."""
        return FollowUp(
            incident_id="inc-contract",
            item_id=item,
            kind="follow_up",
            title="Alert on p95 @everyone #1 <b>`x`</b>",
            where=where,
            incident_title="Checkout errors",
            severity=Severity.P1,
            state="runbook_update",
            owner="alice",
            link="https://monitor.example/a",
            resent=resent,
        )

    def test_open_gives_an_open_issue(self, port: Tracker, where: str) -> None:
        """Opening gives a key and a URL; the issue reads back open."""
        issue = port.open(self.follow_up(where))
        assert issue.key
        assert issue.url
        assert not issue.closed
        assert not port.status(issue).closed

    def test_a_resent_open_finds_the_first_issue(self, port: Tracker, where: str) -> None:
        """An open sent again (its answer lost) finds the issue, never opens a second."""
        first = port.open(self.follow_up(where))
        again = port.open(self.follow_up(where, resent=True))
        assert again.key == first.key
        other = port.open(self.follow_up(where, "AI-2", resent=True))
        assert other.key != first.key

    def test_close_closes_once(self, port: Tracker, where: str) -> None:
        """Closing closes it; closing a closed issue is no error and changes nothing."""
        issue = port.open(self.follow_up(where))
        assert port.close(issue, "Done in incident inc-contract.").closed
        assert port.status(issue).closed
        assert port.close(issue, "again").closed

    def test_closed_there_reads_closed(
        self, port: Tracker, where: str, close_there: Callable[[str], None]
    ) -> None:
        """An issue a person closed in the tracker reads back closed."""
        issue = port.open(self.follow_up(where))
        close_there(issue.key)
        assert port.status(TrackerIssue(key=issue.key, url=issue.url)).closed

    def test_satisfies_the_port(self, tracker: Tracker | AsyncTracker) -> None:
        """It is a Tracker (or AsyncTracker) structurally, says its kind, prints no secret."""
        assert isinstance(tracker, Tracker | AsyncTracker)
        assert tracker.kind in ("github", "jira")
        assert repr(tracker)

    def test_a_flow_opens_and_closes_through_it(
        self,
        tracker: Tracker | AsyncTracker,
        where: str,
        port: Tracker,
        driver: str,
        request: pytest.FixtureRequest,
    ) -> None:
        """A follow-up added in a flow opens one issue; completing it closes that issue."""
        from .._core.policy import Policy  # noqa: PLC0415

        where_key = "repo" if tracker.kind == "github" else "project"
        flow = flow_for(
            driver,
            request,
            Policy(tracker={"kind": tracker.kind, where_key: where}),
            publisher=RecordingPublisher(),
            clock=ManualClock(T0),
            tracker=tracker,
        )
        incident = flow.trigger(_ALERT)
        incident = flow.add_follow_up(incident.id, "canary the deploy", by="alice", owner="bob")
        (item,) = [i for i in incident.action_items if i.kind == "follow_up"]
        assert item.tracker_key is not None
        incident = flow.complete_action_item(incident.id, item.id, by="bob")
        assert port.status(TrackerIssue(key=item.tracker_key, url="")).closed
