"""Issue 32's "Done when", as one story on the fakes (both flow drivers).

A P1 opens ``#inc-...`` on FakeSlack and invites the paged person; a signed ``/incident lead``
slash command names the commander, who is invited too; the post-mortem's learnings open one
GitHub issue each; closing them on the fake (one by GitHub's signed webhook, one found by the
poll) settles the items, the incident closes and its channel is archived. The same on Jira for
one item. The parts are tested on their own in test_incident_channels.py,
test_roles_surfaces.py and test_follow_ups.py; the bodies (Slack's slash command, GitHub's
``issues`` and Jira's ``jira:issue_updated`` webhooks) are the samples those tests use.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from pytest_httpserver import HTTPServer

from incident_flow import (
    AsyncSQLiteStore,
    EscalationLevel,
    IncidentChannels,
    IncidentFlow,
    LogNotifier,
    Notification,
    Person,
    Policy,
    PolicyViolation,
    RecordingNotifier,
    Roles,
    SlackNotifier,
    SQLiteStore,
    ingest,
)
from incident_flow.adapters import HttpClient
from incident_flow.adapters.trackers import GitHubTracker, JiraTracker
from incident_flow.server import async_flow, create_app
from incident_flow.server._config import config_from_mapping
from incident_flow.server._counted import counted
from incident_flow.server._metrics import ServiceMetrics
from incident_flow.testing import ManualClock, RecordingPublisher
from incident_flow.testing._async import LoopThread

from .conftest import MakeFlow
from .inbound import SLACK_SECRET, SLACK_TEAM, slack_signed
from .test_follow_ups import ALERT, T0
from .test_server import ENV, Served, post, wait_for
from .test_team_surfaces import slash
from .trackers import (
    HOOK_SECRET,
    JIRA_EMAIL,
    JIRA_TOKEN,
    FakeGitHubIssues,
    FakeJira,
    github_headers,
    jira_headers,
)
from .vendors import CHANNEL, GITHUB_TOKEN, TOKEN, FakeSlack, Sleeps

#: ``inc-{date}-{slug}`` for ALERT ("Checkout 5xx above 5%") opened on T0 (2026-03-02).
NAME = "inc-2026-03-02-checkout-5xx-above-5"
ALICE, BOB = "U0ALICE01", "U0BOB0002"  # users FakeSlack knows


def policy(tracker: dict[str, Any]) -> Policy:
    """Channels for P1 (archived on close), a commander for P1, the tracker, Slack people."""
    return Policy(
        incident_channels=IncidentChannels(archive_on_close=True),
        roles=Roles(commander_required=["P1"]),
        tracker={**tracker, "items": ["update_runbook"]},
        people=[
            Person(name="alice", slack=ALICE),
            Person(name="bob", slack=BOB),
            Person(name="carol", slack="U0CAROL03"),
        ],
        escalation=[EscalationLevel(("alice",))],
    )


class Story:
    """One flow: SlackNotifier on FakeSlack, a recording pager, a tracker, SQLite, a clock."""

    def __init__(
        self, make_flow: MakeFlow, store: Any, slack: FakeSlack, tracker: Any, pol: Policy
    ) -> None:
        self.slack = slack
        self.pager = RecordingNotifier()
        self.publisher = RecordingPublisher()
        self.clients = [HttpClient(sleep=Sleeps(), timeout=5), HttpClient(sleep=Sleeps())]
        notifier = SlackNotifier(
            token=TOKEN, channel=CHANNEL, api_url=slack.api_url, client=self.clients[0]
        )
        self.flow = make_flow(
            pol,
            store=store,
            notifier=notifier,
            pager=self.pager,
            publisher=self.publisher,
            clock=ManualClock(T0),
            tracker=tracker(self.clients[1]),
        )

    def close(self) -> None:
        for client in self.clients:
            client.close()

    def opened(self) -> tuple[str, dict[str, Any]]:
        """Trigger the P1: its one channel, the paged person in it, the pointer left behind."""
        incident = self.flow.trigger(ALERT)
        rooms = [c for c in self.slack.conversations.values() if c["name"].startswith("inc-")]
        assert [c["name"] for c in rooms] == [NAME]
        (room,) = rooms
        assert self.slack.calls.count("conversations.create") == 1
        assert self.flow.get(incident.id).incident_channel == room["id"]
        assert [n.kind for n in self.pager.of(incident.id)] == ["page"]
        assert self.slack.members[room["id"]] == [self.slack.bot_user, ALICE]  # the paged one
        (posted,) = self.slack.room_messages(room["id"])
        assert incident.id in str(posted["blocks"])
        (parent,) = [m for m in self.slack.top_level() if m["channel"] == CHANNEL]
        pointer = [m["text"] for m in self.slack.thread(parent["ts"])]
        assert pointer == [f"Incident channel: <#{room['id']}>"]
        return incident.id, room

    def lead_by_slash_command(self, incident_id: str, room: dict[str, Any]) -> None:
        """Alice types ``/incident lead ID <@bob>``: signed, read, applied, bob invited."""
        form = slash(f"lead {incident_id} <@{BOB}|bob>")
        form = form.replace(b"user_id=U2147483697", f"user_id={ALICE}".encode())
        ingest.verify_signature("slack", form, slack_signed(form), SLACK_SECRET)
        (action,) = ingest.actions("slack", form)
        assert (action.kind, action.role, action.assignee) == ("assign_role", "commander", BOB)
        led = self.flow.apply(action)
        assert dict(led.roles) == {"commander": "bob"}
        assert led.role_changes[-1].by == "alice"
        assert self.flow.apply(action).version == led.version  # Slack's retry: once
        assert self.slack.members[room["id"]] == [self.slack.bot_user, ALICE, BOB]

    def to_learnings(self, incident_id: str, *learnings: str) -> Any:
        """Acknowledge, resolve, write, submit and approve the post-mortem."""
        self.flow.acknowledge(incident_id, by="alice")
        self.flow.resolve(incident_id, by="bob")
        self.flow.start_postmortem(
            incident_id, author="bob", impact="checkouts failed", root_cause="a bad deploy",
            learnings=learnings,
        )  # fmt: skip
        self.flow.submit_postmortem(incident_id, by="bob")
        self.flow.approve_postmortem(incident_id, reviewer="alice")
        incident = self.flow.approve_postmortem(incident_id, reviewer="carol")
        assert incident.state == "runbook_update"
        (document,) = self.publisher.documents.values()
        assert "- **Commander:** bob" in document  # the role reached the post-mortem
        assert "| alice | bob is commander |" in document  # as the slash command's sender
        return incident

    def closed(self, incident_id: str, room: dict[str, Any]) -> None:
        """Every item settled: the incident closes, its channel is archived, once each."""
        incident = self.flow.get(incident_id)
        assert incident.open_action_items == ()
        assert self.flow.close(incident_id, by="bob").state == "closed"
        assert room["is_archived"]
        assert self.slack.calls.count("conversations.archive") == 1
        assert self.slack.calls.count("conversations.create") == 1
        # Paged alice, then the commander bob, then alice again as the one who acknowledged:
        # the core does not track who is in, Slack answers ``already_in_channel`` (done).
        assert self.slack.calls.count("conversations.invite") == 3
        assert self.slack.members[room["id"]] == [self.slack.bot_user, ALICE, BOB]
        history = self.flow.history(incident_id)
        assert [e.type for e in history].count("ChannelOpened") == 1
        assert not [e for e in history if e.type == "DeliveryFailed"]


@pytest.fixture
def store(driver: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A real SQLite file, as each driver takes it."""
    path = tmp_path / "incident-flow.db"
    if driver == "sync":
        sync = SQLiteStore(path)
        yield sync
        sync.close()
        return
    loop: LoopThread = request.getfixturevalue("loop")
    opened = loop.run(AsyncSQLiteStore.open(path))
    yield opened
    loop.run(opened.close())


@pytest.fixture
def slack(httpserver: HTTPServer) -> FakeSlack:
    return FakeSlack(httpserver)


@pytest.fixture
def github(httpserver: HTTPServer) -> FakeGitHubIssues:
    return FakeGitHubIssues(httpserver)


@pytest.fixture
def jira(httpserver: HTTPServer) -> FakeJira:
    return FakeJira(httpserver)


def _github_tracker(github: FakeGitHubIssues) -> Any:
    return lambda client: GitHubTracker(GITHUB_TOKEN, api_url=github.api_url, client=client)


@pytest.fixture
def on_github(
    make_flow: MakeFlow, store: Any, slack: FakeSlack, github: FakeGitHubIssues
) -> Iterator[Story]:
    story = Story(
        make_flow,
        store,
        slack,
        _github_tracker(github),
        policy({"kind": "github", "repo": "acme/ops"}),
    )
    yield story
    story.close()


@pytest.fixture
def on_jira(make_flow: MakeFlow, store: Any, slack: FakeSlack, jira: FakeJira) -> Iterator[Story]:
    story = Story(
        make_flow,
        store,
        slack,
        lambda client: JiraTracker(jira.site, JIRA_EMAIL, JIRA_TOKEN, client=client),
        policy({"kind": "jira", "project": "OPS"}),
    )
    yield story
    story.close()


def test_github_story(on_github: Story, github: FakeGitHubIssues) -> None:
    incident_id, room = on_github.opened()
    on_github.lead_by_slash_command(incident_id, room)
    learnings_to_github_and_back(on_github, github, incident_id, room)


def learnings_to_github_and_back(
    story: Story, github: FakeGitHubIssues, incident_id: str, room: dict[str, Any]
) -> None:
    """Two learnings, two GitHub issues; closed there (webhook, poll): the incident closes."""
    flow = story.flow
    incident = story.to_learnings(incident_id, "alert on p95", "canary the deploy")

    # Two learnings, two GitHub issues: one each, each linking back to its item.
    assert github.created == 2
    items = [i for i in incident.action_items if i.kind == "update_runbook"]
    assert [i.tracker_key for i in items] == ["acme/ops#1", "acme/ops#2"]
    for item, issue in zip(items, github.issues, strict=True):
        assert incident_id in issue["body"] and item.id in issue["body"]
        assert "cannot close while this issue is open" in issue["body"]
    with pytest.raises(PolicyViolation, match="open action items"):
        flow.close(incident_id, by="bob")

    # The first closed on GitHub, told by its signed webhook (redelivered: applied once).
    github.close_there(1, "octocat")
    raw = github.webhook(1)
    headers = github_headers(raw, delivery="d-1")
    ingest.verify_signature("github", raw, headers, HOOK_SECRET)
    (action,) = ingest.actions("github", raw, headers)
    settled = flow.apply(action)
    assert flow.apply(action).version == settled.version
    assert [i.id for i in settled.open_action_items] == [items[1].id]

    # The second closed on GitHub, found by the poll (once).
    github.close_there(2, "hubot")
    (polled,) = flow.poll_follow_ups()
    assert polled.open_action_items == ()
    assert flow.poll_follow_ups() == []
    applied = [e for e in flow.history(incident_id) if e.type == "ActionApplied"]
    assert [e.by for e in applied] == ["alice", "github:octocat", "github:hubot"]

    story.closed(incident_id, room)
    assert github.created == 2 and github.comments == {}  # settled there: nothing sent back
    assert [i["state"] for i in github.issues] == ["closed", "closed"]


def test_jira_story(on_jira: Story, jira: FakeJira) -> None:
    story, flow = on_jira, on_jira.flow
    incident_id, room = story.opened()
    story.lead_by_slash_command(incident_id, room)
    incident = story.to_learnings(incident_id, "alert on p95")

    (item,) = [i for i in incident.action_items if i.kind == "update_runbook"]
    assert item.tracker_key == "OPS-1"
    assert list(jira.issues) == ["OPS-1"]
    assert f"incident-flow-{incident_id}" in jira.issues["OPS-1"]["fields"]["labels"]
    with pytest.raises(PolicyViolation, match="open action items"):
        flow.close(incident_id, by="bob")

    jira.close_there("OPS-1")
    raw = jira.webhook("OPS-1")
    headers = jira_headers(raw)
    ingest.verify_signature("jira", raw, headers, HOOK_SECRET)
    (action,) = ingest.actions("jira", raw, headers)
    flow.apply(action)

    story.closed(incident_id, room)
    assert list(jira.issues) == ["OPS-1"] and jira.comments == {}


def test_the_commander_by_the_served_slash_command(
    tmp_path: Path, slack: FakeSlack, github: FakeGitHubIssues
) -> None:
    """The same story with ``/incident lead`` posted to the service (its own flow, same store)."""
    path = tmp_path / "incident-flow.db"
    pol = policy({"kind": "github", "repo": "acme/ops"})
    config = config_from_mapping(
        {
            "store": {"sqlite": str(path)},
            "slack": {
                "token": "${SLACK_BOT_TOKEN}",
                "channel": CHANNEL,
                "signing_secret": "${SLACK_SIGNING_SECRET}",
                "team_id": SLACK_TEAM,
                "api_url": slack.api_url,
            },
            "tracker": {"kind": "github", "token": "${GH}", "api_url": github.api_url},
            "publisher": {"kind": "folder", "folder": str(tmp_path / "pm")},
        },
        environ={**ENV, "GH": GITHUB_TOKEN},
    )
    config = attrs.evolve(config, policy=pol)
    store = SQLiteStore(path)
    story = Story(IncidentFlow, store, slack, _github_tracker(github), pol)
    try:
        incident_id, room = story.opened()
        form = slash(f"lead {incident_id} <@{BOB}|bob>")
        form = form.replace(b"user_id=U2147483697", f"user_id={ALICE}".encode())
        with Served(create_app(async_flow(config), config, worker=False)) as served:
            forged = dict(slack_signed(form), **{"X-Slack-Signature": "v0=" + "0" * 64})
            assert post(served, "/slack/commands", form, **forged).status_code == 401
            assert post(served, "/slack/commands", form, **slack_signed(form)).status_code == 200
            wait_for(lambda: BOB in slack.members[room["id"]], "bob invited by the service")
        led = story.flow.get(incident_id)
        assert dict(led.roles) == {"commander": "bob"}
        assert led.role_changes[-1].by == "alice"
        assert slack.members[room["id"]] == [slack.bot_user, ALICE, BOB]
        learnings_to_github_and_back(story, github, incident_id, room)
    finally:
        story.close()
        store.close()


class TestTheServiceKeepsTheChannelStep:
    """The service's metrics wrapper once hid ``incident_channel``: served flows opened none."""

    def test_a_counted_chat_notifier_still_opens_channels(self) -> None:
        metrics = ServiceMetrics()
        chat = counted(RecordingNotifier(), "chat", metrics)
        assert not hasattr(counted(LogNotifier("pager"), "pager", metrics), "incident_channel")
        message = Notification(
            incident_id="inc-1", kind="channel", text="", title="t", severity="P1",
            state="notified", idempotency_key="k", room=NAME,
        )  # fmt: skip
        assert asyncio.run(chat.incident_channel(message))  # type: ignore[attr-defined]
        assert chat.port.of("inc-1", "channel")
        scraped = metrics.deliveries.labels("chat", "channel")._value.get()
        assert scraped == 1
