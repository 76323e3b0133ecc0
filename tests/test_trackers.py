"""Follow-ups in the tracker (issue 32): the adapters against fakes like GitHub and Jira."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pytest_httpserver import HTTPServer

from incident_flow.adapters import AsyncHttpClient, HttpClient
from incident_flow.adapters.trackers import (
    AsyncGitHubTracker,
    AsyncJiraTracker,
    GitHubTracker,
    JiraTracker,
    MemoryTracker,
    ThreadedTracker,
    as_async_tracker,
)
from incident_flow.testing.trackers import TrackerContract
from tests.trackers import JIRA_EMAIL, JIRA_TOKEN, FakeGitHubIssues, FakeJira
from tests.vendors import GITHUB_TOKEN, AsyncSleeps, Sleeps


@pytest.fixture
def github(httpserver: HTTPServer) -> FakeGitHubIssues:
    return FakeGitHubIssues(httpserver)


@pytest.fixture
def jira(httpserver: HTTPServer) -> FakeJira:
    return FakeJira(httpserver)


class TestGitHubContract(TrackerContract):
    """GitHubTracker (blocking) passes the tracker contract against the fake GitHub."""

    @pytest.fixture
    def tracker(self, github: FakeGitHubIssues) -> Iterator[GitHubTracker]:
        client = HttpClient(sleep=Sleeps())
        yield GitHubTracker(GITHUB_TOKEN, api_url=github.api_url, client=client)
        client.close()

    @pytest.fixture
    def where(self) -> str:
        return "acme/ops"

    @pytest.fixture
    def close_there(self, github: FakeGitHubIssues) -> Callable[[str], None]:
        return lambda key: github.close_there(int(key.rsplit("#", 1)[1])) and None


class TestAsyncGitHubContract(TestGitHubContract):
    """AsyncGitHubTracker passes the same contract."""

    @pytest.fixture
    def tracker(self, github: FakeGitHubIssues) -> AsyncGitHubTracker:  # type: ignore[override]
        client = AsyncHttpClient(sleep=AsyncSleeps())
        return AsyncGitHubTracker(GITHUB_TOKEN, api_url=github.api_url, client=client)


class TestJiraContract(TrackerContract):
    """JiraTracker (blocking) passes the tracker contract against the fake Jira."""

    @pytest.fixture
    def tracker(self, jira: FakeJira) -> Iterator[JiraTracker]:
        client = HttpClient(sleep=Sleeps())
        yield JiraTracker(jira.site, JIRA_EMAIL, JIRA_TOKEN, client=client)
        client.close()

    @pytest.fixture
    def where(self) -> str:
        return "OPS"

    @pytest.fixture
    def close_there(self, jira: FakeJira) -> Callable[[str], None]:
        return jira.close_there


class TestAsyncJiraContract(TestJiraContract):
    """AsyncJiraTracker passes the same contract."""

    @pytest.fixture
    def tracker(self, jira: FakeJira) -> AsyncJiraTracker:  # type: ignore[override]
        return AsyncJiraTracker(
            jira.site, JIRA_EMAIL, JIRA_TOKEN, client=AsyncHttpClient(sleep=AsyncSleeps())
        )


class TestMemoryContract(TrackerContract):
    """MemoryTracker, the double, passes it too."""

    @pytest.fixture
    def tracker(self) -> MemoryTracker:
        return MemoryTracker("github")

    @pytest.fixture
    def where(self) -> str:
        return "acme/ops"

    @pytest.fixture
    def close_there(self, tracker: MemoryTracker) -> Callable[[str], None]:
        return lambda key: tracker.close_there(key) and None


class TestThreadedContract(TestMemoryContract):
    """A sync tracker that blocks runs on threads under the async flow, and passes it."""

    @pytest.fixture
    def tracker(self) -> MemoryTracker:
        tracker = MemoryTracker("github")
        tracker.nonblocking = False  # type: ignore[misc]  # as a blocking adapter is
        return tracker


class _Broken(MemoryTracker):
    """Opens a new issue every time: a lost answer would open the item twice."""

    def open(self, follow_up):  # type: ignore[no-untyped-def]
        import attrs

        return super().open(attrs.evolve(follow_up, resent=False))


class TestABrokenTrackerFailsTheContract:
    """The suite catches a tracker that opens an item twice."""

    def test_it_fails(self, request: pytest.FixtureRequest) -> None:
        suite = TrackerContract()
        port = _Broken("github")
        with pytest.raises(AssertionError):
            suite.test_a_resent_open_finds_the_first_issue(port, "acme/ops")


class TestWrapping:
    """The async flow's view of a tracker."""

    def test_a_blocking_one_is_threaded_and_an_async_one_kept(self) -> None:
        """Sync trackers run on threads, async and non-blocking ones as they are."""
        blocking = GitHubTracker(GITHUB_TOKEN, api_url="http://127.0.0.1:9")
        assert isinstance(as_async_tracker(blocking), ThreadedTracker)
        assert "ThreadedTracker" in repr(as_async_tracker(blocking))
        awaited = AsyncGitHubTracker(GITHUB_TOKEN, api_url="http://127.0.0.1:9")
        assert as_async_tracker(awaited) is awaited
        memory = MemoryTracker()
        assert as_async_tracker(memory) is memory
        blocking.close_client()
