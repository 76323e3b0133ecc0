"""The post-mortem is reviewed on its pull request: GitHub, a local git branch, a folder.

The GitHub server answers with the real recorded bodies of ``samples/github_api``; its webhooks
are the real bodies of ``samples/actions`` (origins in their READMEs).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import attrs
import pytest
from pytest_httpserver import HTTPServer

from incident_flow import (
    Alert,
    AsyncIncidentFlow,
    FolderPublisher,
    GitHubPublisher,
    GitPublisher,
    Incident,
    IncidentFlow,
    InvalidTransition,
    MemoryStore,
    Person,
    Policy,
    PolicyViolation,
    RecordingNotifier,
    Severity,
    ingest,
)
from incident_flow._core.incident import PostMortem, fold
from incident_flow.adapters._http import HttpClient
from incident_flow.events import Event, event_from_dict
from incident_flow.testing import ManualClock, RecordingPublisher

from .conftest import T0
from .inbound import GITHUB_SECRET, github
from .vendors import GITHUB_TOKEN, SERVER_ERROR, FakeGitHub

P1 = Alert(source="datadog", name="CheckoutErrors", title="checkout 5xx", severity=Severity.P1)
STAFF = (
    Person(name="alice", github="alice-gh"),
    Person(name="bob", github="bob-gh"),
    Person(name="carol", github="carol-gh"),
    Person(name="dave", github="dave-gh"),
)


def review_policy(**overrides: object) -> Policy:
    settings: dict[str, object] = {
        "people": STAFF,
        "postmortem_review_pool": ["alice", "bob", "carol", "dave"],
        "postmortem_reviewers": 2,
    }
    settings.update(overrides)
    return Policy(**settings)  # type: ignore[arg-type]


def drafted(publisher: object, policy: Policy | None = None) -> tuple[IncidentFlow, str]:
    """A flow on ``publisher`` with a resolved P1 whose post-mortem alice has drafted."""
    flow = IncidentFlow(
        policy or review_policy(),
        notifier=RecordingNotifier(),
        pager=RecordingNotifier(),
        publisher=publisher,  # type: ignore[arg-type]
        clock=ManualClock(T0),
    )
    incident = flow.trigger(P1)
    flow.resolve(incident.id, by="alice")
    flow.start_postmortem(
        incident.id, author="alice", impact="checkout failed", root_cause="a bad deploy"
    )
    return flow, incident.id


@pytest.fixture
def gh(httpserver: HTTPServer) -> FakeGitHub:
    return FakeGitHub(httpserver)


@pytest.fixture
def client() -> Iterator[HttpClient]:
    http = HttpClient(sleep=lambda _: None)
    yield http
    http.close()


class Setup:
    """A flow whose post-mortems go to the fake GitHub, with recorded Slack."""

    def __init__(self, gh: FakeGitHub, client: HttpClient, policy: Policy) -> None:
        self.gh = gh
        self.chat = RecordingNotifier()
        self.clock = ManualClock(T0)
        self.flow = IncidentFlow(
            policy,
            notifier=self.chat,
            pager=RecordingNotifier(),
            publisher=GitHubPublisher(
                "acme/runbooks", GITHUB_TOKEN, api_url=gh.api_url, client=client
            ),
            clock=self.clock,
        )

    def resolved_p1(self) -> str:
        incident = self.flow.trigger(P1)
        self.flow.resolve(incident.id, by="alice", summary="rolled back")
        return incident.id

    def submitted(self) -> tuple[str, PostMortem]:
        """A resolved P1 whose post-mortem alice drafted and submitted."""
        incident_id = self.resolved_p1()
        self.flow.start_postmortem(
            incident_id, author="alice", impact="checkout failed", root_cause="a bad deploy"
        )
        pm = self.flow.submit_postmortem(incident_id, by="alice").postmortem
        assert pm is not None
        return incident_id, pm

    def webhook(self, event: str, name: str, incident_id: str, login: str, n: int) -> object:
        raw, headers = github(event, name, incident_id, login=login, delivery=f"d-{n}")
        ingest.verify_signature("github", raw, headers, GITHUB_SECRET)  # raises if wrong
        (action,) = ingest.actions("github", raw, headers)
        return self.flow.apply(action)

    def said(self) -> list[str]:
        return [m.text for m in self.chat.messages]


def test_reviewed_on_the_pull_request_end_to_end(gh: FakeGitHub, client: HttpClient) -> None:
    """Done when: drafted -> PR with 2 reviewers -> approve, changes -> push -> poll -> merged."""
    s = Setup(gh, client, review_policy())
    incident_id = s.resolved_p1()
    s.flow.start_postmortem(incident_id, author="alice", impact="5% of checkouts failed")
    s.flow.amend_postmortem(incident_id, by="alice", root_cause="a pool of 1")
    s.flow.amend_postmortem(incident_id, by="alice", learnings=["canary the pool size"])
    gh.fail_next(SERVER_ERROR)  # retried within the call
    submitted = s.flow.submit_postmortem(incident_id, by="alice")

    pm = submitted.postmortem
    assert pm is not None and pm.stage == "review" and pm.review == "pull_request"
    (pull,) = gh.pulls
    assert pm.review_url == pull["html_url"] == "https://github.com/acme/runbooks/pull/318"
    assert len(pm.reviewers) == 2 and "alice" not in pm.reviewers
    assert gh.review_requests == [(318, [f"{name}-gh" for name in pm.reviewers])]
    first, second = pm.reviewers
    branch = f"postmortem/{incident_id}"
    ((path, (_, text)),) = gh.files[branch].items()
    assert path.startswith("postmortems/") and "a pool of 1" in text.decode()
    with pytest.raises(PolicyViolation, match=r"reviewed on https://github\.com/acme"):
        s.flow.approve_postmortem(incident_id, reviewer=first)  # reviews happen on GitHub

    s.webhook("pull_request_review", "pull_request_review_approved", incident_id, f"{first}-gh", 1)
    gh.review(318, f"{first}-gh", "APPROVED")
    s.webhook(
        "pull_request_review",
        "pull_request_review_changes_requested",
        incident_id,
        f"{second}-gh",
        2,
    )
    gh.review(318, f"{second}-gh", "CHANGES_REQUESTED", "say which pool")
    now = s.flow.get(incident_id)
    assert now.postmortem is not None
    assert now.postmortem.approvals == (first,)
    assert now.postmortem.changes_requested == (second,)

    # The author pushes a commit that changes the root cause; its webhook makes the flow read it.
    gh.push(branch, path, text.decode().replace("a pool of 1", "the checkout DB pool of 1"))
    s.webhook("pull_request", "pull_request_synchronize", incident_id, "alice-gh", 3)
    now = s.flow.get(incident_id)
    assert now.postmortem is not None
    assert now.postmortem.root_cause == "the checkout DB pool of 1"
    assert now.postmortem.learnings == ("canary the pool size",)

    # The second approval's webhook is lost: the worker's poll finds it and the merge follows.
    gh.review(318, f"{second}-gh", "APPROVED")
    assert gh.merge_calls == []
    (polled,) = s.flow.poll_reviews()
    assert polled.state == "runbook_update"
    assert gh.merge_calls == [318]
    assert path in gh.files["main"]  # on the base branch, in the folder
    assert "the checkout DB pool of 1" in gh.files["main"][path][1].decode()
    pm = polled.postmortem
    assert pm is not None and pm.published and set(pm.approvals) == {first, second}
    assert pm.location == f"https://github.com/acme/runbooks/blob/main/{path}"
    (item,) = [i for i in polled.open_action_items if i.kind == "update_runbook"]
    assert "canary the pool size" in item.description
    assert s.flow.poll_reviews() == []  # nothing left to read
    said = s.said()
    assert f"Post-mortem up for review: {pull['html_url']}" in said
    assert f"{second} requested changes on the post-mortem: " in "\n".join(said)
    assert "The post-mortem was revised on its branch" in said
    assert said[-1] == f"Post-mortem published: {pm.location}"
    for open_item in polled.open_action_items:
        s.flow.waive_action_item(incident_id, open_item.id, by="alice", reason="in JIRA-12")
    assert s.flow.close(incident_id, by="alice").state == "closed"


def test_a_pull_request_closed_unmerged_keeps_the_obligation(
    gh: FakeGitHub, client: HttpClient
) -> None:
    s = Setup(gh, client, review_policy())
    incident_id, _ = s.submitted()
    gh.close(318, "bob-gh")
    s.webhook("pull_request", "pull_request_closed_unmerged", incident_id, "bob-gh", 1)
    closed = s.flow.get(incident_id)
    assert closed.state == "postmortem" and closed.postmortem is not None
    assert closed.postmortem.stage == "closed"
    assert any("closed without merging by bob" in text for text in s.said())
    assert any(e.type == "PostMortemReviewClosed" for e in s.flow.history(incident_id))
    with pytest.raises(InvalidTransition):  # the obligation stays: still in its post-mortem
        s.flow.close(incident_id, by="alice")
    s.clock.advance(timedelta(days=8))
    (reminded,) = s.flow.remind_due()
    assert "pull request was closed unmerged; submit it again" in s.said()[-1]

    again = s.flow.submit_postmortem(incident_id, by="alice")  # a new pull request
    assert again.postmortem is not None and again.postmortem.stage == "review"
    assert [p["state"] for p in gh.pulls] == ["closed", "open"]
    assert again.postmortem.review_url == gh.pulls[1]["html_url"] != gh.pulls[0]["html_url"]
    assert reminded.id == incident_id


def test_a_closed_pull_request_found_by_polling(gh: FakeGitHub, client: HttpClient) -> None:
    s = Setup(gh, client, review_policy())
    s.submitted()
    gh.close(318, "carol-gh")
    (polled,) = s.flow.poll_reviews()
    assert polled.postmortem is not None and polled.postmortem.stage == "closed"
    assert any("closed without merging by carol" in text for text in s.said())


def test_manual_merge_waits_for_a_person(gh: FakeGitHub, client: HttpClient) -> None:
    s = Setup(gh, client, review_policy(postmortem_merge="manual"))
    incident_id, pm = s.submitted()
    for n, name in enumerate(pm.reviewers):
        s.webhook(
            "pull_request_review", "pull_request_review_approved", incident_id, f"{name}-gh", n
        )
    approved = s.flow.get(incident_id)
    assert approved.state == "postmortem" and gh.merge_calls == []
    assert s.said()[-1] == f"The post-mortem has its 2 approvals: ready to merge at {pm.review_url}"
    gh.merge_by_hand(318, "dave-gh")
    s.webhook("pull_request", "pull_request_closed_merged", incident_id, "dave-gh", 9)
    merged = s.flow.get(incident_id)
    assert merged.state == "runbook_update" and gh.merge_calls == []
    assert merged.postmortem is not None and merged.postmortem.location == pm.review_url


def test_a_merge_before_the_approvals_counts_once_they_come(
    gh: FakeGitHub, client: HttpClient
) -> None:
    s = Setup(gh, client, review_policy())
    incident_id, pm = s.submitted()
    gh.merge_by_hand(318, "dave-gh")  # an administrator merges without reviews
    (merged,) = s.flow.poll_reviews()
    assert merged.state == "postmortem" and merged.postmortem is not None
    assert merged.postmortem.stage == "merged"
    assert "with 0 of 2 approvals" in s.said()[-1]
    with pytest.raises(InvalidTransition):
        s.flow.close(incident_id, by="alice")  # invariant 1: merged is not enough
    for name in pm.reviewers:
        gh.review(318, f"{name}-gh", "APPROVED")  # reviews of a merged pull request
    (published,) = s.flow.poll_reviews()
    assert published.state == "runbook_update"


def test_a_refused_merge_is_retried_and_said(gh: FakeGitHub, client: HttpClient) -> None:
    s = Setup(gh, client, review_policy())
    incident_id, pm = s.submitted()
    gh.refuse_merge = True  # branch protection: GitHub answers 405
    for name in pm.reviewers:
        gh.review(318, f"{name}-gh", "APPROVED")
    (still,) = s.flow.poll_reviews()
    assert still.state == "postmortem"
    assert "Could not merge the post-mortem" in s.said()[-1]
    assert "Pull Request is not mergeable" in s.said()[-1]
    gh.refuse_merge = False
    s.clock.advance(timedelta(minutes=5))
    s.flow.deliver_pending()
    assert s.flow.get(incident_id).state == "runbook_update"
    assert gh.merge_calls == [318, 318]


def test_a_dismissed_review_withdraws_the_approval(gh: FakeGitHub, client: HttpClient) -> None:
    s = Setup(gh, client, review_policy(postmortem_reviewers=3))
    s.submitted()
    first = gh.review(318, "bob-gh", "APPROVED")
    (polled,) = s.flow.poll_reviews()
    assert polled.postmortem is not None and polled.postmortem.approvals == ("bob",)
    gh.dismiss(318, first["id"])
    (polled,) = s.flow.poll_reviews()
    assert polled.postmortem is not None and polled.postmortem.approvals == ()
    gh.review(318, "bob-gh", "COMMENTED", "looks fine")  # a comment decides nothing
    assert s.flow.poll_reviews() == []


def test_the_author_approving_on_github_is_recorded_not_counted(
    gh: FakeGitHub, client: HttpClient
) -> None:
    s = Setup(gh, client, review_policy())
    incident_id, _ = s.submitted()
    gh.review(318, "alice-gh", "APPROVED")
    (polled,) = s.flow.poll_reviews()
    assert polled.postmortem is not None and polled.postmortem.approvals == ()
    (ignored,) = [e for e in s.flow.history(incident_id) if e.type == "ActionIgnored"]
    assert "wrote the post-mortem" in ignored.reason  # type: ignore[attr-defined]
    assert s.flow.poll_reviews() == []  # recorded once, not on every poll


def test_a_late_redelivery_never_overrides_a_newer_review(
    gh: FakeGitHub, client: HttpClient
) -> None:
    s = Setup(gh, client, review_policy())
    incident_id, _ = s.submitted()
    raw, headers = github(
        "pull_request_review",
        "pull_request_review_changes_requested",
        incident_id,
        login="bob-gh",
        delivery="late",
    )
    (changes,) = ingest.actions("github", raw, headers)
    (approval,) = ingest.actions(
        "github",
        *github(
            "pull_request_review",
            "pull_request_review_approved",
            incident_id,
            login="bob-gh",
            delivery="new",
        ),
    )
    assert changes.at is not None and approval.at is not None
    if approval.at < changes.at:  # the samples' own times: make the approval the newer one
        changes, approval = (
            type(changes)(**{**changes.__dict__, "at": approval.at}),  # type: ignore[arg-type]
            type(approval)(**{**approval.__dict__, "at": changes.at}),  # type: ignore[arg-type]
        )
    s.flow.apply(approval)
    s.flow.apply(changes)  # older than the approval: arrives late, changes nothing
    now = s.flow.get(incident_id)
    assert now.postmortem is not None and now.postmortem.approvals == ("bob",)


# ----------------------------------------------------------------- without a pull request


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args],  # noqa: S607 - git from PATH
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def make_repo(path: Path) -> Path:
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)  # noqa: S607
    git(
        path,
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@x",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "init",
    )
    return path


@pytest.mark.parametrize("checked_out", [True, False], ids=["main-checked-out", "other-branch"])
def test_the_same_lifecycle_on_a_local_git_branch(tmp_path: Path, checked_out: bool) -> None:
    repo = make_repo(tmp_path / "repo")
    if not checked_out:
        git(repo, "checkout", "-q", "-b", "elsewhere")
    chat = RecordingNotifier()
    flow = IncidentFlow(
        review_policy(),
        notifier=chat,
        pager=RecordingNotifier(),
        publisher=GitPublisher(repo),
        clock=ManualClock(T0),
    )
    incident = flow.trigger(P1)
    flow.resolve(incident.id, by="alice")
    flow.start_postmortem(
        incident.id,
        author="alice",
        impact="checkouts failed",
        root_cause="a bad deploy",
        learnings=["pool size"],
    )
    submitted = flow.submit_postmortem(incident.id, by="alice")
    pm = submitted.postmortem
    assert pm is not None and pm.review == "branch"
    branch = f"postmortem/{incident.id}"
    assert pm.review_url is not None and pm.review_url.startswith(f"{branch}:postmortems/")
    path = pm.review_url.split(":", 1)[1]

    # A reviewer's fix committed on the branch by hand is read back by the poll.
    text = git(repo, "show", f"{branch}:{path}")
    worktree = tmp_path / "edit"
    git(repo, "worktree", "add", "-q", str(worktree), branch)
    (worktree / path).write_text(text.replace("checkouts failed", "checkout failed", 1) + "\n")
    git(worktree, "-c", "user.name=bob", "-c", "user.email=b@x", "commit", "-qam", "impact")
    (revised,) = flow.poll_reviews()
    assert revised.postmortem is not None and revised.postmortem.impact == "checkout failed"

    first, second = pm.reviewers
    flow.approve_postmortem(incident.id, reviewer=first)
    flow.request_postmortem_changes(incident.id, reviewer=first, text="name the pool")
    flow.amend_postmortem(incident.id, by="alice", root_cause="the checkout DB pool of 1")
    flow.approve_postmortem(incident.id, reviewer=first)
    done = flow.approve_postmortem(incident.id, reviewer=second)  # auto: merged at once

    assert done.state == "runbook_update"
    assert done.postmortem is not None and done.postmortem.location == f"main:{path}"
    merged = git(repo, "show", f"main:{path}")
    assert "the checkout DB pool of 1" in merged and "checkout failed" in merged
    assert git(repo, "rev-list", "--count", "main") == "5"  # init, 3 on the branch, the merge
    if checked_out:
        assert (repo / path).is_file()  # the work tree came along
        assert git(repo, "status", "--porcelain") == ""
    assert flow.poll_reviews() == []


def test_the_same_lifecycle_with_a_folder(tmp_path: Path) -> None:
    chat = RecordingNotifier()
    flow = IncidentFlow(
        review_policy(postmortem_review_pool=["bob", "carol"]),
        notifier=chat,
        pager=RecordingNotifier(),
        publisher=FolderPublisher(tmp_path / "pm"),
        clock=ManualClock(T0),
    )
    incident = flow.trigger(P1)
    flow.resolve(incident.id, by="alice")
    flow.start_postmortem(
        incident.id, author="alice", impact="checkout failed", root_cause="a bad deploy"
    )
    with pytest.raises(PolicyViolation, match="still a draft"):
        flow.approve_postmortem(incident.id, reviewer="bob")
    submitted = flow.submit_postmortem(incident.id, by="alice")
    assert submitted.postmortem is not None
    assert submitted.postmortem.reviewers == ("bob", "carol")
    assert submitted.postmortem.review == "command"
    assert list((tmp_path / "pm").glob("*.md")) == []  # nothing saved before it is approved
    with pytest.raises(PolicyViolation, match="wrote the post-mortem"):
        flow.approve_postmortem(incident.id, reviewer="alice")
    flow.approve_postmortem(incident.id, reviewer="bob")
    done = flow.approve_postmortem(incident.id, reviewer="carol")
    assert done.state == "runbook_update"
    (saved,) = (tmp_path / "pm").glob("*.md")
    assert done.postmortem is not None and done.postmortem.location == str(saved)
    assert "- bob (approved)" in saved.read_text()
    assert chat.messages[-1].text == f"Post-mortem published: {saved}"


def test_reviewers_taken_in_turn_from_the_pool() -> None:
    policy = review_policy(postmortem_review_order="rotation")
    picks = [policy.postmortem_reviewers_for(f"inc-{n}", "alice") for n in range(200)]
    assert all(len(set(p)) == 2 and "alice" not in p for p in picks)
    firsts = [p[0] for p in picks]
    assert {name: firsts.count(name) for name in ("bob", "carol", "dave")} == pytest.approx(
        {"bob": 67, "carol": 67, "dave": 67}, abs=25
    )
    listed = review_policy()
    assert listed.postmortem_reviewers_for("inc-1", "bob") == ("alice", "carol")
    assert listed.postmortem_reviewers_for("inc-2", "bob") == ("alice", "carol")
    assert Policy().postmortem_reviewers_for("inc-1", "bob") == ()


def test_async_flow_reviews_on_the_pull_request(gh: FakeGitHub, client: HttpClient) -> None:
    """AsyncIncidentFlow runs the same review: GitHubPublisher's merge and poll on threads."""

    async def run() -> Incident:
        flow = AsyncIncidentFlow(
            review_policy(),
            notifier=RecordingNotifier(),
            pager=RecordingNotifier(),
            publisher=GitHubPublisher(
                "acme/runbooks", GITHUB_TOKEN, api_url=gh.api_url, client=client
            ),
            clock=ManualClock(T0),
        )
        incident = await flow.trigger(P1)
        await flow.resolve(incident.id, by="alice")
        await flow.start_postmortem(
            incident.id, author="alice", impact="checkout failed", root_cause="a bad deploy"
        )
        await flow.amend_postmortem(incident.id, by="alice", impact="checkout down")
        submitted = await flow.submit_postmortem(incident.id, by="alice")
        assert submitted.postmortem is not None
        for name in submitted.postmortem.reviewers:
            gh.review(318, f"{name}-gh", "APPROVED")
        (published,) = await flow.poll_reviews()
        return published

    published = asyncio.run(run())
    assert published.state == "runbook_update" and gh.merge_calls == [318]


def test_manual_publish_saves_into_the_folder(tmp_path: Path) -> None:
    flow, incident_id = drafted(
        FolderPublisher(tmp_path),
        review_policy(postmortem_merge="manual", postmortem_review_pool=["bob", "carol"]),
    )
    with pytest.raises(PolicyViolation, match="still a draft"):
        flow.publish_postmortem(incident_id, by="alice")
    flow.submit_postmortem(incident_id, by="alice")
    flow.approve_postmortem(incident_id, reviewer="bob")
    approved = flow.approve_postmortem(incident_id, reviewer="carol")
    assert approved.state == "postmortem" and list(tmp_path.glob("*.md")) == []
    published = flow.publish_postmortem(incident_id, by="alice")
    assert published.state == "runbook_update"
    assert published.postmortem is not None and published.postmortem.published
    (saved,) = tmp_path.glob("*.md")
    assert published.postmortem.location == str(saved)


def test_reminders_say_what_the_review_waits_for(tmp_path: Path) -> None:
    chat = RecordingNotifier()
    clock = ManualClock(T0)
    flow = IncidentFlow(
        review_policy(postmortem_review_pool=["bob", "carol"]),
        notifier=chat,
        pager=RecordingNotifier(),
        publisher=FolderPublisher(tmp_path),
        clock=clock,
    )
    incident = flow.trigger(P1)
    flow.resolve(incident.id, by="alice")
    flow.start_postmortem(
        incident.id, author="alice", impact="checkout failed", root_cause="a bad deploy"
    )
    clock.advance(timedelta(days=8))
    flow.remind_due()
    assert chat.messages[-1].text.endswith(
        "overdue (5 business days after resolution): submit it for review"
    )
    flow.submit_postmortem(incident.id, by="alice")
    flow.request_postmortem_changes(incident.id, reviewer="bob", text="more detail")
    clock.advance(timedelta(days=2))
    flow.remind_due()
    assert chat.messages[-1].text.endswith(
        "0 of 2 approvals; changes requested by bob; waiting for reviews from carol"
    )


def test_amending_a_post_mortem_under_review_on_github_is_refused(
    gh: FakeGitHub, client: HttpClient
) -> None:
    s = Setup(gh, client, review_policy())
    incident_id = s.resolved_p1()
    s.flow.start_postmortem(
        incident_id, author="alice", impact="checkout failed", root_cause="a bad deploy"
    )
    assert (
        s.flow.amend_postmortem(incident_id, by="alice").version == s.flow.get(incident_id).version
    )
    s.flow.submit_postmortem(incident_id, by="alice")
    assert (
        s.flow.submit_postmortem(incident_id, by="alice").postmortem is not None
    )  # again: nothing
    with pytest.raises(PolicyViolation, match="push the change there"):
        s.flow.amend_postmortem(incident_id, by="alice", impact="more")
    assert len(gh.pulls) == 1


def test_a_git_branch_deleted_unmerged_is_a_closed_review(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    flow, incident_id = drafted(GitPublisher(repo))
    flow.submit_postmortem(incident_id, by="alice")
    git(repo, "branch", "-D", f"postmortem/{incident_id}")
    (closed,) = flow.poll_reviews()
    assert closed.postmortem is not None and closed.postmortem.stage == "closed"
    again = flow.submit_postmortem(incident_id, by="alice")  # the branch comes back
    assert again.postmortem is not None and again.postmortem.stage == "review"
    assert git(repo, "branch", "--list", f"postmortem/{incident_id}")


def test_streams_stored_by_0_1_fold_as_before(tmp_path: Path) -> None:
    """0.1 approved drafts and published before saving; those streams still read and close."""
    store = MemoryStore()
    old = IncidentFlow(
        review_policy(),
        store=store,
        notifier=RecordingNotifier(),
        pager=RecordingNotifier(),
        publisher=FolderPublisher(tmp_path),
        clock=ManualClock(T0),
    )
    incident = old.trigger(P1)
    old.resolve(incident.id, by="alice")
    old.start_postmortem(
        incident.id, author="alice", impact="checkout failed", root_cause="a bad deploy"
    )
    stream = store.load(incident.id)
    at = stream[-1].at
    n = stream[-1].version
    # What 0.1 appended: approvals on the draft, then PostMortemPublished (no submission).
    legacy = [
        event_from_dict(
            {
                "type": "PostMortemApproved",
                "version": n + 1,
                "at": at.isoformat(),
                "by": "bob",
                "reviewer": "bob",
            }
        ),
        event_from_dict(
            {
                "type": "PostMortemApproved",
                "version": n + 2,
                "at": at.isoformat(),
                "by": "carol",
                "reviewer": "carol",
            }
        ),
    ]
    store.append(incident.id, n, legacy, snapshot=fold(fold(None, stream), legacy))
    drafted = IncidentFlow(
        review_policy(),
        store=store,
        notifier=RecordingNotifier(),
        pager=RecordingNotifier(),
        publisher=FolderPublisher(tmp_path),
        clock=ManualClock(T0),
    )
    # Its approvals count once it is submitted: submitting it publishes it at once.
    published = drafted.submit_postmortem(incident.id, by="alice")
    assert published.state == "runbook_update"
    assert published.postmortem is not None and published.postmortem.approvals == ("bob", "carol")
    # A 0.1 stream that published first, saved after: closing waits for the save.
    other = old.trigger(attrs.evolve(P1, dedup_key="other"))
    old.resolve(other.id, by="alice")
    old.start_postmortem(other.id, author="alice")
    stream = store.load(other.id)
    n = stream[-1].version

    def legacy_event(version: int, type_: str, **fields: object) -> Event:
        data = {"type": type_, "version": version, "at": at.isoformat(), "by": "alice", **fields}
        return event_from_dict(data)

    published_01 = [
        legacy_event(n + 1, "PostMortemApproved", reviewer="bob"),
        legacy_event(n + 2, "PostMortemApproved", reviewer="carol"),
        legacy_event(n + 3, "PostMortemPublished", approvals=["bob", "carol"]),
    ]
    store.append(other.id, n, published_01, snapshot=fold(fold(None, stream), published_01))
    with pytest.raises(PolicyViolation, match="not saved yet"):
        drafted.close(other.id, by="alice")
    save = legacy_event(
        n + 4,
        "MessageDelivered",
        message_id=f"{other.id}/{n + 3}/publisher/postmortem",
        channel="publisher",
        kind="postmortem",
        attempts=1,
        receipt="postmortems/old.md",
    )
    before = fold(None, store.load(other.id))
    store.append(other.id, n + 3, [save], snapshot=fold(before, [save]))
    for item in drafted.get(other.id).open_action_items:
        drafted.waive_action_item(other.id, item.id, by="alice", reason="0.1 item")
    closed = drafted.close(other.id, by="alice")
    assert closed.state == "closed" and closed.postmortem is not None
    assert closed.postmortem.location == "postmortems/old.md" and closed.postmortem.published


def test_a_merge_by_hand_before_ours_is_said_once(gh: FakeGitHub, client: HttpClient) -> None:
    s = Setup(gh, client, review_policy())
    incident_id, pm = s.submitted()
    gh.refuse_merge = True  # our merge fails first...
    for name in pm.reviewers:
        gh.review(318, f"{name}-gh", "APPROVED")
    s.flow.poll_reviews()
    gh.merge_by_hand(318, "dave-gh")  # ...a person merges, and its webhook comes first
    s.webhook("pull_request", "pull_request_closed_merged", incident_id, "dave-gh", 5)
    s.clock.advance(timedelta(minutes=5))
    s.flow.deliver_pending()  # our retry finds it merged already
    published = [text for text in s.said() if text.startswith("Post-mortem published")]
    assert len(published) == 1
    assert s.flow.get(incident_id).state == "runbook_update"


# --------------------------------------------------------------- who may approve (issue 26)


def _fork(incident_id: str, login: str, n: int) -> tuple[bytes, dict[str, str]]:
    """A GitHub-signed approval of a stranger's pull request #999 in another repository,
    whose head branch a fork named ``postmortem/<our incident>``."""
    raw, headers = github(
        "pull_request_review",
        "pull_request_review_approved",
        incident_id,
        login=login,
        delivery=f"fork-{n}",
        pull=999,
    )
    body = json.loads(raw)
    body["pull_request"]["html_url"] = "https://github.com/mallory/runbooks/pull/999"
    body["repository"]["full_name"] = "mallory/runbooks"
    raw = json.dumps(body).encode()
    mac = hmac.new(GITHUB_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return raw, {**headers, "X-Hub-Signature-256": f"sha256={mac}"}


class TestOnlyOurPullRequestAndItsReviewers:
    """Reviews count on the pull request the review recorded, from its approvers only."""

    def test_a_forks_pull_request_approved_by_strangers_changes_nothing(
        self, gh: FakeGitHub, client: HttpClient
    ) -> None:
        s = Setup(gh, client, review_policy())
        incident_id, _ = s.submitted()
        before = s.flow.get(incident_id).version
        for n, login in enumerate(("mallory", "trudy")):
            raw, headers = _fork(incident_id, login, n)
            ingest.verify_signature("github", raw, headers, GITHUB_SECRET)  # GitHub signed it
            (action,) = ingest.actions("github", raw, headers)
            assert action.review_url == "https://github.com/mallory/runbooks/pull/999"
            s.flow.apply(action)
        merged, _ = _fork(incident_id, "mallory", 9)
        closed = json_with(merged, action="closed", review=None, merged=True)
        s.flow.apply(ingest.actions("github", closed, {"X-GitHub-Event": "pull_request"})[0])
        after = s.flow.get(incident_id)
        assert after.version == before and after.postmortem is not None
        assert after.postmortem.approvals == () and gh.merge_calls == []

    def test_strangers_on_our_pull_request_do_not_count(
        self, gh: FakeGitHub, client: HttpClient
    ) -> None:
        s = Setup(gh, client, review_policy())
        incident_id, _ = s.submitted()
        for n, login in enumerate(("mallory", "trudy")):
            s.webhook("pull_request_review", "pull_request_review_approved", incident_id, login, n)
        done = s.flow.get(incident_id)
        assert done.postmortem is not None and done.postmortem.approvals == ()
        assert gh.merge_calls == []
        ignored = [e for e in s.flow.history(incident_id) if e.type == "ActionIgnored"]
        assert len(ignored) == 2 and all("postmortem_approvers" in e.reason for e in ignored)  # type: ignore[attr-defined]

    def test_the_two_requested_reviewers_still_publish(
        self, gh: FakeGitHub, client: HttpClient
    ) -> None:
        s = Setup(gh, client, review_policy())
        incident_id, pm = s.submitted()
        for n, name in enumerate(pm.reviewers):
            s.webhook(
                "pull_request_review", "pull_request_review_approved", incident_id, f"{name}-gh", n
            )
        published = s.flow.get(incident_id)
        assert published.state == "runbook_update" and len(gh.merge_calls) == 1

    def test_a_pool_member_not_asked_counts_only_under_pool(
        self, gh: FakeGitHub, client: HttpClient
    ) -> None:
        for rule, counts in (("requested", False), ("pool", True), ("anyone", True)):
            s = Setup(gh, client, review_policy(postmortem_approvers=rule))
            incident_id, pm = s.submitted()
            (outsider,) = {"bob", "carol", "dave"} - set(pm.reviewers)
            raw, headers = github(
                "pull_request_review",
                "pull_request_review_approved",
                incident_id,
                login=f"{outsider}-gh",
                delivery=rule,
                pull=gh.pull_for(incident_id)["number"],
            )
            s.flow.apply(ingest.actions("github", raw, headers)[0])
            approvals = s.flow.get(incident_id).postmortem.approvals  # type: ignore[union-attr]
            assert (approvals == (outsider,)) is counts, rule

    def test_a_stranger_whose_login_spells_a_persons_name_does_not_count(
        self, gh: FakeGitHub, client: HttpClient
    ) -> None:
        s = Setup(gh, client, review_policy(postmortem_approvers="pool"))
        incident_id, _ = s.submitted()
        s.webhook("pull_request_review", "pull_request_review_approved", incident_id, "bob", 1)
        assert s.flow.get(incident_id).postmortem.approvals == ()  # type: ignore[union-attr]

    def test_the_poll_does_not_record_again_what_the_webhook_brought(
        self, gh: FakeGitHub, client: HttpClient
    ) -> None:
        s = Setup(gh, client, review_policy())
        incident_id, _ = s.submitted()
        number = gh.pull_for(incident_id)["number"]
        review = gh.review(number, "alice-gh", "APPROVED")  # the author approves her own
        raw, headers = github(
            "pull_request_review",
            "pull_request_review_approved",
            incident_id,
            login="alice-gh",
            delivery="a-1",
        )
        body = json_with(raw, review={**json.loads(raw)["review"], "id": review["id"]})
        s.flow.apply(ingest.actions("github", body, headers)[0])
        s.flow.poll_reviews()
        s.flow.poll_reviews()
        kinds = [e.type for e in s.flow.history(incident_id)]
        assert kinds.count("ActionIgnored") == 1


def json_with(raw: bytes, **changes: object) -> bytes:
    """A GitHub body with top-level (or pull request) fields changed."""
    body = json.loads(raw)
    for key, value in changes.items():
        if key == "merged":
            body["pull_request"]["merged"] = value
        elif value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return json.dumps(body).encode()


class TestApproversByCommand:
    """Without a pull request, the same rule with the pool: strangers do not count."""

    def test_someone_outside_the_pool_is_refused(self) -> None:
        flow, incident_id = drafted(RecordingPublisher(), review_policy())
        flow.amend_postmortem(incident_id, by="alice", impact="x", root_cause="y")
        flow.submit_postmortem(incident_id, by="alice")
        with pytest.raises(PolicyViolation, match="random is not one of the reviewers asked"):
            flow.approve_postmortem(incident_id, reviewer="random")
        pm = flow.get(incident_id).postmortem
        assert pm is not None and pm.approvals == ()

    def test_without_a_pool_the_policys_people_count_and_without_people_anyone(self) -> None:
        flow, incident_id = drafted(RecordingPublisher(), review_policy(postmortem_review_pool=[]))
        flow.submit_postmortem(incident_id, by="alice")
        with pytest.raises(PolicyViolation, match="the policy's people"):
            flow.approve_postmortem(incident_id, reviewer="random")
        flow.approve_postmortem(incident_id, reviewer="bob")
        open_flow, other = drafted(RecordingPublisher(), Policy())
        open_flow.submit_postmortem(other, by="alice")
        assert open_flow.approve_postmortem(other, reviewer="random").postmortem.approvals == (  # type: ignore[union-attr]
            "random",
        )


def test_a_draft_with_unwritten_sections_is_not_submitted(tmp_path: Path) -> None:
    """Issue 28: "Impact: _To be written._" was published; the sections must be written first."""
    flow = IncidentFlow(
        review_policy(postmortem_review_pool=["bob", "carol"]),
        notifier=RecordingNotifier(),
        pager=RecordingNotifier(),
        publisher=FolderPublisher(tmp_path),
        clock=ManualClock(T0),
    )
    incident = flow.trigger(P1)
    flow.resolve(incident.id, by="alice")
    flow.start_postmortem(incident.id, author="alice", learnings=["canary the pool size"])
    before = flow.history(incident.id)
    with pytest.raises(PolicyViolation) as refused:
        flow.submit_postmortem(incident.id, by="alice")
    assert refused.value.standard == "postmortem_sections"
    assert "its impact and root cause are not written yet" in refused.value.detail
    assert "amend_postmortem" in refused.value.detail
    assert flow.history(incident.id) == before  # nothing asked, nothing sent
    flow.amend_postmortem(incident.id, by="alice", impact="5% of checkouts failed")
    flow.amend_postmortem(incident.id, by="alice", root_cause="  \n ")  # spaces are not text
    with pytest.raises(PolicyViolation, match="its root cause is not written yet: write it"):
        flow.submit_postmortem(incident.id, by="alice")
    flow.amend_postmortem(incident.id, by="alice", root_cause="a pool of 1")
    submitted = flow.submit_postmortem(incident.id, by="alice")
    assert submitted.postmortem is not None and submitted.postmortem.stage == "review"
    flow.approve_postmortem(incident.id, reviewer="bob")
    flow.approve_postmortem(incident.id, reviewer="carol")
    (saved,) = tmp_path.glob("*.md")
    assert "_To be written._" not in saved.read_text()


@pytest.mark.parametrize(
    ("required", "refused"),
    [
        ([], None),  # the team's choice: a draft goes to review as it is
        (["impact"], None),
        (["learnings"], "its learnings are not written yet"),
        (["root_cause", "learnings"], "its root cause and learnings are not written yet"),
    ],
)
def test_the_policy_says_which_sections_a_submission_needs(
    tmp_path: Path, required: list[str], refused: str | None
) -> None:
    flow = IncidentFlow(
        review_policy(postmortem_required_sections=required),
        notifier=RecordingNotifier(),
        pager=RecordingNotifier(),
        publisher=FolderPublisher(tmp_path),
        clock=ManualClock(T0),
    )
    incident = flow.trigger(P1)
    flow.resolve(incident.id, by="alice")
    flow.start_postmortem(incident.id, author="alice", impact="5% of checkouts failed")
    if refused is None:
        submitted = flow.submit_postmortem(incident.id, by="alice")
        assert submitted.postmortem is not None and submitted.postmortem.stage == "review"
    else:
        with pytest.raises(PolicyViolation, match=refused):
            flow.submit_postmortem(incident.id, by="alice")


def test_a_closed_pull_request_is_checked_again_when_submitted_again(tmp_path: Path) -> None:
    """Sections emptied on the branch (read back by the poll) are not submitted again."""
    repo = make_repo(tmp_path / "repo")
    flow, incident_id = drafted(GitPublisher(repo))
    submitted = flow.submit_postmortem(incident_id, by="alice")
    assert submitted.postmortem is not None and submitted.postmortem.review_url is not None
    branch, path = submitted.postmortem.review_url.split(":", 1)
    text = git(repo, "show", f"{branch}:{path}")
    worktree = tmp_path / "edit"
    git(repo, "worktree", "add", "-q", str(worktree), branch)
    (worktree / path).write_text(text.replace("a bad deploy", "_To be written._", 1))
    git(worktree, "-c", "user.name=bob", "-c", "user.email=b@x", "commit", "-qam", "unsure")
    (revised,) = flow.poll_reviews()
    assert revised.postmortem is not None and revised.postmortem.root_cause == ""
    git(repo, "worktree", "remove", "--force", str(worktree))
    git(repo, "branch", "-D", branch)
    (closed,) = flow.poll_reviews()
    assert closed.postmortem is not None and closed.postmortem.stage == "closed"
    with pytest.raises(PolicyViolation, match="its root cause is not written yet"):
        flow.submit_postmortem(incident_id, by="alice")
