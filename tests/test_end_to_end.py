"""A P1 from alert to closed post-mortem against local Slack, PagerDuty and GitHub servers.

Every server fails once along the way, and a crash strikes between sending and recording:
nothing is duplicated, nothing is lost.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from incident_flow import (
    GitHubPublisher,
    IncidentFlow,
    MemoryStore,
    PagerDutyPager,
    Person,
    Policy,
    SlackNotifier,
    StorageError,
    ingest,
)
from incident_flow.adapters._http import HttpClient
from incident_flow.testing import ManualClock

from .conftest import T0
from .test_ingest import body
from .vendors import (
    CHANNEL,
    GITHUB_TOKEN,
    ROUTING_KEY,
    SERVER_ERROR,
    TOKEN,
    TOO_MANY_LONG,
    FakeGitHub,
    FakePagerDuty,
    FakeSlack,
)


class CrashOnce(MemoryStore):
    """The first time a delivery is recorded, the process 'dies' before the write."""

    crashed = False

    def append(self, incident_id: str, expected_version: int, events: Any, **kw: Any) -> None:
        self._die_before(events)
        super().append(incident_id, expected_version, events, **kw)

    def append_all(self, appends: Any, **kw: Any) -> None:
        # Outcomes are recorded through append_all (without a disk flush of their own).
        self._die_before([e for one in appends for e in one.events])
        super().append_all(appends, **kw)

    def _die_before(self, events: Any) -> None:
        if not self.crashed and any(e.type == "MessageDelivered" for e in events):
            self.crashed = True
            raise StorageError("the process died here")


@pytest.fixture
def servers(httpserver: HTTPServer) -> tuple[FakeSlack, FakePagerDuty, FakeGitHub]:
    return FakeSlack(httpserver), FakePagerDuty(httpserver), FakeGitHub(httpserver)


def test_p1_end_to_end(servers: tuple[FakeSlack, FakePagerDuty, FakeGitHub]) -> None:
    slack, pagerduty, github = servers
    client = HttpClient(sleep=lambda _: None)
    clock = ManualClock(T0)
    store = CrashOnce()
    flow = IncidentFlow(
        Policy(
            postmortem_reviewers=2,
            postmortem_review_pool=["bob", "carol"],
            people=[Person(name="bob", github="bob-gh"), Person(name="carol", github="carol-gh")],
        ),
        store=store,
        notifier=SlackNotifier(token=TOKEN, channel=CHANNEL, api_url=slack.api_url, client=client),
        pager=PagerDutyPager(ROUTING_KEY, url=pagerduty.url, client=client),
        publisher=GitHubPublisher(
            "acme/runbooks",
            GITHUB_TOKEN,
            api_url=github.api_url,
            client=client,
            logins={"bob": "bob-gh", "carol": "carol-gh"},
        ),
        clock=clock,
    )
    pagerduty.fail_next(SERVER_ERROR)  # PagerDuty dedups: retried within the call
    (alert,) = ingest.parse("datadog", body("datadog_triggered.json"))
    incident = flow.trigger(alert)  # Slack and PagerDuty got it; recording "crashed"
    assert store.crashed
    clock.advance(timedelta(minutes=2))  # the dead sender's lease runs out
    assert flow.deliver_pending() == 2
    assert len(slack.top_level()) == 1  # found by its metadata, not posted again
    assert slack.reads == 1
    assert pagerduty.triggers == {incident.id: 1}  # the re-sent trigger deduplicated

    flow.trigger(alert)  # the monitor re-notifies: no new page
    pagerduty.fail_next(TOO_MANY_LONG)
    flow.acknowledge(incident.id, by="alice")  # the pager's ack waits for Retry-After
    flow.start_runbook(incident.id, by="alice")
    flow.note(incident.id, "rolling back 2025-06-03.2", by="alice")
    clock.advance(timedelta(minutes=3))
    flow.deliver_pending()
    flow.resolve(incident.id, by="alice", summary="rolled back")
    flow.start_postmortem(
        incident.id,
        author="alice",
        impact="5% of checkouts failed",
        root_cause="a connection pool of 1",
        learnings=["canary pool size"],
    )
    flow.submit_postmortem(incident.id, by="alice")  # the pull request, its reviewers asked
    github.review(318, "bob-gh", "APPROVED")
    github.review(318, "carol-gh", "APPROVED")
    github.fail_next(SERVER_ERROR)  # retried within the call
    (published,) = flow.poll_reviews()  # the approvals are read; the merge follows
    flow.waive_action_item(incident.id, "AI-1", by="alice", reason="runbook lives in the wiki")
    for item in flow.get(incident.id).open_action_items:
        flow.waive_action_item(incident.id, item.id, by="alice", reason="tracked in JIRA-12")
    closed = flow.close(incident.id, by="alice")

    assert closed.state == "closed"
    (parent,) = slack.top_level()
    replies = [m["text"] for m in slack.thread(parent["ts"])]
    assert len(replies) == len(set(replies))
    assert replies[0] == "Alert fired again (2 times)"
    assert "Acknowledged by alice" in replies and replies[-1] == "Closed by alice"
    assert any(
        r.startswith("Post-mortem published: https://github.com/acme/runbooks/blob/main/")
        for r in replies
    )
    assert slack.edits[-1]["ts"] == parent["ts"]
    assert pagerduty.actions(incident.id) == ["trigger", "trigger", "acknowledge", "resolve"]
    assert pagerduty.triggers == {incident.id: 1}
    assert pagerduty.alerts[incident.id] == "resolved"
    assert published.postmortem is not None
    assert published.postmortem.review_url == "https://github.com/acme/runbooks/pull/318"
    branch = f"postmortem/{incident.id}"
    (path,) = github.files[branch]
    assert published.postmortem.location == f"https://github.com/acme/runbooks/blob/main/{path}"
    assert [c[0] for c in github.commits] == [branch, "main"]  # the file, then the merge
    assert path in github.files["main"]
    assert github.review_requests == [(318, ["bob-gh", "carol-gh"])]
    pending = [m for m in store.outbox_messages() if m.pending]
    assert pending == []
    client.close()
