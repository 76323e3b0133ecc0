"""GitHubPublisher against a local server that answers like the GitHub REST API."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import attrs
import pytest
from pytest_httpserver import HTTPServer

from incident_flow import (
    Alert,
    DeliveryError,
    GitHubPublisher,
    IncidentFlow,
    Policy,
    PostMortemDocument,
    RecordingNotifier,
)
from incident_flow._core.incident import fold
from incident_flow.adapters._http import HttpClient
from incident_flow.testing import ManualClock
from incident_flow.testing.contracts import ReviewedPublisherContract, sample_history

from .conftest import T0
from .vendors import GITHUB_TOKEN, SERVER_ERROR, FakeGitHub


@pytest.fixture
def github(httpserver: HTTPServer) -> FakeGitHub:
    return FakeGitHub(httpserver)


@pytest.fixture
def client() -> Iterator[HttpClient]:
    http = HttpClient(sleep=lambda _: None)
    yield http
    http.close()


@pytest.fixture
def document() -> PostMortemDocument:
    history = sample_history()
    incident = fold(None, history)
    assert incident.postmortem is not None
    asked = attrs.evolve(incident.postmortem, reviewers=("bob", "carol"))
    return PostMortemDocument(attrs.evolve(incident, postmortem=asked), history, "postmortems")


def make(github: FakeGitHub, client: HttpClient, **kwargs: object) -> GitHubPublisher:
    return GitHubPublisher(
        "acme/runbooks", GITHUB_TOKEN, api_url=github.api_url, client=client, **kwargs
    )  # type: ignore[arg-type]


def file_of(github: FakeGitHub, pull_url: str) -> str:
    number = int(pull_url.rsplit("/", 1)[1])
    pull = next(p for p in github.pulls if p["number"] == number)
    (content,) = [c for _, c in github.files[pull["head"]["ref"]].values()]
    return content.decode()


class TestGitHubPublisherContract(ReviewedPublisherContract):
    """GitHubPublisher passes the publisher contract and the reviewed publisher's."""

    @pytest.fixture
    def publisher(self, github: FakeGitHub, client: HttpClient) -> GitHubPublisher:
        return make(github, client)

    @pytest.fixture
    def read(self, github: FakeGitHub) -> Callable[[str], str]:
        return lambda location: file_of(github, location)

    @pytest.fixture
    def read_merged(self, github: FakeGitHub) -> Callable[[str], str]:
        base = "https://github.com/acme/runbooks/blob/main/"
        return lambda location: github.files["main"][location.removeprefix(base)][1].decode()


class TestGitHubPublisher:
    """Branch, file, pull request, reviewers; republishing updates instead of duplicating."""

    def test_first_publish(
        self, github: FakeGitHub, client: HttpClient, document: PostMortemDocument
    ) -> None:
        url = make(github, client).publish(document)
        branch = f"postmortem/{document.incident.id}"
        assert url == "https://github.com/acme/runbooks/pull/318"
        assert branch in github.refs
        assert set(github.files[branch]) == {document.path}
        assert github.commits == [(branch, f"postmortem: {document.incident.id} (Checkout errors)")]
        (pull,) = github.pulls
        assert (pull["head"]["ref"], pull["base"]["ref"]) == (branch, "main")
        assert github.review_requests == [(318, ["bob", "carol"])]

    def test_republish_updates_the_file_and_reuses_the_pull(
        self, github: FakeGitHub, client: HttpClient, document: PostMortemDocument
    ) -> None:
        publisher = make(github, client)
        first = publisher.publish(document)
        assert publisher.publish(document) == first
        assert len(github.commits) == 1  # unchanged text: no commit
        import attrs

        pm = document.incident.postmortem
        assert pm is not None
        changed = attrs.evolve(
            document,
            incident=attrs.evolve(
                document.incident, postmortem=attrs.evolve(pm, root_cause="no canary")
            ),
        )
        assert publisher.publish(changed) == first
        assert [m for _, m in github.commits][-1] == f"postmortem: update {document.incident.id}"
        assert len(github.pulls) == 1
        assert github.review_requests == [(318, ["bob", "carol"])]  # asked once
        assert "no canary" in file_of(github, first)

    def test_configured_reviewers_and_logins(
        self, github: FakeGitHub, client: HttpClient, document: PostMortemDocument
    ) -> None:
        make(github, client, logins={"bob": "bob-gh", "carol": "carol-gh"}).publish(document)
        assert github.review_requests == [(318, ["bob-gh", "carol-gh"])]
        github.pulls.clear()
        github.review_requests.clear()
        make(github, client, reviewers=["alice", "sre-lead"]).publish(document)
        # The policy's reviewers and the configured ones; never the author.
        assert github.review_requests == [(318, ["sre-lead", "bob", "carol"])]

    def test_a_pull_opened_meanwhile_is_reused(
        self, github: FakeGitHub, client: HttpClient, document: PostMortemDocument
    ) -> None:
        publisher = make(github, client)
        original = publisher._find_pull
        calls = iter([None])
        publisher._find_pull = lambda branch: next(calls, None) or original(branch)  # type: ignore[method-assign]
        github.pulls.append(
            {
                "number": 400,
                "state": "open",
                "html_url": "https://x/pull/400",
                "head": {"ref": f"postmortem/{document.incident.id}"},
                "base": {"ref": "main"},
                "requested_reviewers": [],
            }
        )
        assert publisher.publish(document) == "https://x/pull/400"

    def test_failures(
        self, github: FakeGitHub, client: HttpClient, document: PostMortemDocument
    ) -> None:
        github.fail_next(SERVER_ERROR, times=3)
        with pytest.raises(DeliveryError, match="GitHub branch lookup: HTTP 500"):
            make(github, client).publish(document)
        bad = GitHubPublisher("acme/runbooks", "wrong-token", api_url=github.api_url, client=client)
        with pytest.raises(DeliveryError, match=r"HTTP 401: .*Bad credentials"):
            bad.publish(document)
        github.refs.pop("main")
        with pytest.raises(DeliveryError, match="no branch 'main'"):
            make(github, client).publish(document)

    def test_configuration(self) -> None:
        with pytest.raises(ValueError, match="owner/name"):
            GitHubPublisher("runbooks", "t")
        with pytest.raises(ValueError, match="token"):
            GitHubPublisher("acme/runbooks", "")
        assert GITHUB_TOKEN not in repr(GitHubPublisher("acme/runbooks", GITHUB_TOKEN))

    def test_through_the_flow(self, github: FakeGitHub, client: HttpClient) -> None:
        chat = RecordingNotifier()
        flow = IncidentFlow(
            Policy(postmortem_merge="manual", postmortem_review_pool=["bob", "carol"]),
            notifier=chat,
            pager=RecordingNotifier(),
            clock=ManualClock(T0),
            publisher=make(github, client),
        )
        incident = flow.trigger(Alert(source="s", name="n", title="Disk full", severity="P1"))
        flow.resolve(incident.id, by="alice")
        flow.start_postmortem(
            incident.id, author="alice", impact="checkout failed", root_cause="a bad deploy"
        )
        flow.submit_postmortem(incident.id, by="alice")
        assert github.review_requests == [(318, ["bob", "carol"])]
        github.review(318, "bob", "APPROVED")
        github.review(318, "carol", "APPROVED")
        (approved,) = flow.poll_reviews()
        assert approved.state == "postmortem" and github.merge_calls == []
        assert chat.messages[-1].text.endswith(
            "ready to merge at " + str(approved.postmortem.review_url)
        )  # type: ignore[union-attr]
        published = flow.publish_postmortem(incident.id, by="alice")  # "merge it now"
        assert published.state == "runbook_update" and github.merge_calls == [318]
        assert published.postmortem is not None
        assert published.postmortem.location is not None
        assert published.postmortem.location.startswith(
            "https://github.com/acme/runbooks/blob/main/postmortems/"
        )
        assert chat.messages[-1].text == f"Post-mortem published: {published.postmortem.location}"
