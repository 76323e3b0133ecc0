"""Follow-ups in the tracker (issue 32): the adapters against fakes like GitHub and Jira."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

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


class TestEdges:
    """What the adapters and the policy refuse, and the answers they cannot read."""

    def test_adapters_check_their_settings(self) -> None:
        with pytest.raises(ValueError, match="needs a token"):
            GitHubTracker(" ")
        with pytest.raises(ValueError, match="site's URL"):
            JiraTracker("acme.atlassian.net", JIRA_EMAIL, JIRA_TOKEN)
        with pytest.raises(ValueError, match="email and an API token"):
            JiraTracker("https://acme.atlassian.net", "", JIRA_TOKEN)
        with pytest.raises(ValueError, match="whitespace"):
            JiraTracker("https://acme.atlassian.net", JIRA_EMAIL, JIRA_TOKEN + "\n")
        with pytest.raises(ValueError, match="MemoryTracker kind"):
            MemoryTracker("linear")
        jira = JiraTracker("https://acme.atlassian.net", JIRA_EMAIL, JIRA_TOKEN)
        assert JIRA_TOKEN not in repr(jira)
        assert GITHUB_TOKEN not in repr(GitHubTracker(GITHUB_TOKEN))
        jira.close_client()

    def test_a_made_async_client_is_closed(self, loop_thread: Any) -> None:
        tracker = AsyncGitHubTracker(GITHUB_TOKEN)
        loop_thread.run(tracker.aclose())
        given = AsyncGitHubTracker(GITHUB_TOKEN, client=AsyncHttpClient())
        loop_thread.run(given.aclose())  # not its own: left open

    def test_unreadable_answers(self, httpserver: HTTPServer) -> None:
        from incident_flow import DeliveryError
        from incident_flow.ports import TrackerIssue
        from incident_flow.testing.trackers import TrackerContract as C

        httpserver.expect_request("/repos/acme/ops/issues").respond_with_data("<html>")
        httpserver.expect_request("/rest/api/3/issue").respond_with_json({"errors": {}})
        client = HttpClient(sleep=Sleeps())
        github = GitHubTracker(GITHUB_TOKEN, api_url=httpserver.url_for("/"), client=client)
        with pytest.raises(DeliveryError, match="not an issue"):
            github.open(C.follow_up("acme/ops"))
        with pytest.raises(DeliveryError, match="not an issue key"):
            github.status(TrackerIssue(key="OPS-1", url=""))
        jira = JiraTracker(httpserver.url_for("/"), JIRA_EMAIL, JIRA_TOKEN, client=client)
        with pytest.raises(DeliveryError, match="not an issue"):
            jira.open(C.follow_up("OPS"))
        client.close()

    def test_jira_without_a_done_transition(self, jira: FakeJira) -> None:
        from incident_flow import DeliveryError
        from incident_flow.testing.trackers import TrackerContract as C

        client = HttpClient(sleep=Sleeps())
        tracker = JiraTracker(jira.site, JIRA_EMAIL, JIRA_TOKEN, client=client)
        issue = tracker.open(C.follow_up("OPS"))
        jira.no_done = True
        with pytest.raises(DeliveryError, match="no transition to a done status") as caught:
            tracker.close(issue, "done")
        assert caught.value.permanent
        client.close()

    def test_the_policy_table(self) -> None:
        from incident_flow import InvalidPolicy, Policy, TrackerPolicy
        from incident_flow._core.trackers import incident_from_labels, tracker_value

        with pytest.raises(InvalidPolicy) as caught:
            Policy.from_mapping(
                {"tracker": {"kind": "github", "repo": "nope", "labels": "x", "colour": 1}}
            )
        text = str(caught.value)
        assert "tracker.colour: unknown key" in text
        assert "must be a list of strings" in text
        with pytest.raises(InvalidPolicy, match="must be a table"):
            Policy.from_mapping({"tracker": "github"})
        with pytest.raises(InvalidPolicy, match="non-blank strings"):
            Policy.from_mapping({"tracker": {"kind": "github", "repo": "a/b", "labels": [" "]}})
        with pytest.raises(ValueError, match="owner/name"):
            Policy(tracker={"kind": "github", "repo": "nope"})
        made = TrackerPolicy(kind="jira", where="OPS", items=["follow_up"])
        assert tracker_value(made) is made
        assert Policy(tracker=made).tracker is made
        assert not made.exports("add_runbook")
        assert (
            incident_from_labels(
                ["incident-flow", "incident-flow-inc-1", "incident-flow-inc-1--AI-1"]
            )
            == "inc-1"
        )
        assert incident_from_labels(["incident-flow-a", "incident-flow-b"]) is None
        assert incident_from_labels(["bug"]) is None


@pytest.fixture
def loop_thread() -> Iterator[Any]:
    from incident_flow.testing import LoopThread

    with LoopThread() as loop:
        yield loop
