"""Follow-ups in the tracker (issue 32), end to end on the fakes: opened once, closed both ways."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
from pytest_httpserver import HTTPServer

from incident_flow import (
    Action,
    Alert,
    EscalationLevel,
    IncidentFlow,
    Policy,
    PolicyViolation,
    Severity,
    Team,
)
from incident_flow._delivery.decide import Outcome, decide_outcomes
from incident_flow.adapters import HttpClient, RecordingNotifier
from incident_flow.adapters.trackers import GitHubTracker, JiraTracker, MemoryTracker
from incident_flow.exceptions import InvalidCommand
from incident_flow.ingest import actions, verify_signature
from incident_flow.server import create_app
from incident_flow.server._config import config_from_mapping
from incident_flow.server._wiring import async_flow
from incident_flow.testing import ManualClock, RecordingPublisher
from tests.test_server import Served
from tests.trackers import (
    HOOK_SECRET,
    JIRA_EMAIL,
    JIRA_TOKEN,
    FakeGitHubIssues,
    FakeJira,
    github_headers,
    jira_headers,
)
from tests.vendors import GITHUB_TOKEN, Sleeps

T0 = __import__("datetime").datetime(2026, 3, 2, 9, 0, tzinfo=__import__("datetime").UTC)
ALERT = Alert(
    source="datadog",
    name="checkout-errors",
    title="Checkout 5xx above 5%",
    severity=Severity.P1,
    dedup_key="checkout-5xx",
    url="https://monitor.example/checkout",
    runbook_url="https://rb.example/checkout",
)
GITHUB_POLICY = {"kind": "github", "repo": "acme/ops"}


def published_with_learnings(flow: Any, *learnings: str) -> Any:
    """A P1 taken to the runbook updates: its post-mortem's learnings are the items."""
    incident = flow.trigger(ALERT)
    flow.acknowledge(incident.id, by="alice")
    flow.resolve(incident.id, by="alice")
    flow.start_postmortem(
        incident.id, author="alice", impact="checkouts failed", root_cause="a bad deploy",
        learnings=learnings,
    )  # fmt: skip
    flow.submit_postmortem(incident.id, by="alice")
    flow.approve_postmortem(incident.id, reviewer="bob")
    return flow.approve_postmortem(incident.id, reviewer="carol")


@pytest.fixture
def github(httpserver: HTTPServer) -> FakeGitHubIssues:
    return FakeGitHubIssues(httpserver)


@pytest.fixture
def jira(httpserver: HTTPServer) -> FakeJira:
    return FakeJira(httpserver)


@pytest.fixture
def github_flow(github: FakeGitHubIssues) -> Iterator[IncidentFlow]:
    client = HttpClient(sleep=Sleeps())
    tracker = GitHubTracker(GITHUB_TOKEN, api_url=github.api_url, client=client)
    yield IncidentFlow(
        Policy(tracker={**GITHUB_POLICY, "items": ["update_runbook", "follow_up"]}),
        notifier=RecordingNotifier(),
        pager=RecordingNotifier(),
        publisher=RecordingPublisher(),
        clock=ManualClock(T0),
        tracker=tracker,
    )
    client.close()


class TestGitHubEndToEnd:
    """The post-mortem's learnings open two GitHub issues; closing them there closes it all."""

    def test_closed_by_webhook(self, github_flow: IncidentFlow, github: FakeGitHubIssues) -> None:
        incident = published_with_learnings(github_flow, "alert on p95", "canary the deploy")
        assert incident.state == "runbook_update"
        assert github.created == 2
        items = [i for i in incident.action_items if i.kind == "update_runbook"]
        assert [i.tracker_key for i in items] == ["acme/ops#1", "acme/ops#2"]
        body = github.issues[0]["body"]
        assert incident.id in body and "cannot close while this issue is open" in body
        assert "https://monitor.example/checkout" in body
        with pytest.raises(PolicyViolation, match="open action items"):
            github_flow.close(incident.id, by="alice")
        for n, issue in enumerate(github.issues, start=1):
            github.close_there(issue["number"], "octocat")
            raw = github.webhook(issue["number"])
            headers = github_headers(raw, delivery=f"d-{n}")
            verify_signature("github", raw, headers, HOOK_SECRET)
            (action,) = actions("github", raw, headers)
            incident = github_flow.apply(action)
            incident = github_flow.apply(action)  # redelivered: applied once
        assert incident.open_action_items == ()
        assert all(i.done for i in incident.action_items)
        # Settled there: nothing is sent back (no comment, no second close).
        assert github.comments == {}
        assert github_flow.close(incident.id, by="alice").state == "closed"

    def test_closed_by_polling(self, github_flow: IncidentFlow, github: FakeGitHubIssues) -> None:
        incident = published_with_learnings(github_flow, "alert on p95", "canary the deploy")
        assert github_flow.poll_follow_ups() == []  # nothing closed yet
        github.close_there(1)
        github.close_there(2, "hubot")
        (changed,) = github_flow.poll_follow_ups()
        assert changed.open_action_items == ()
        assert github_flow.poll_follow_ups() == []  # once
        history = github_flow.history(incident.id)
        applied = [e for e in history if e.type == "ActionApplied"]
        assert [e.by for e in applied] == ["github:octocat", "github:hubot"]
        assert github_flow.close(incident.id, by="alice").state == "closed"

    def test_settled_here_closes_there(
        self, github_flow: IncidentFlow, github: FakeGitHubIssues
    ) -> None:
        incident = published_with_learnings(github_flow, "alert on p95", "canary the deploy")
        first, second = (i for i in incident.action_items if i.kind == "update_runbook")
        github_flow.complete_action_item(incident.id, first.id, by="bob", note="shipped")
        github_flow.waive_action_item(incident.id, second.id, by="bob", reason="@all #3 no")
        assert [i["state"] for i in github.issues] == ["closed", "closed"]
        assert github.comments[1] == [f"Done in incident {incident.id}."]
        (said,) = github.comments[2]
        assert "@\u200ball" in said and "#\u200b3" in said  # quiet: notifies nobody
        assert github_flow.close(incident.id, by="alice").state == "closed"

    def test_a_lost_answer_opens_nothing_twice(
        self, github_flow: IncidentFlow, github: FakeGitHubIssues
    ) -> None:
        github.lose_answers = 1  # created, then 502: the outbox retries it as resent
        incident = github_flow.trigger(ALERT)
        incident = github_flow.add_follow_up(incident.id, "fix the canary", by="alice")
        assert github.created == 1
        assert incident.action_items[-1].tracker_key is None
        github_flow.clock.advance(timedelta(minutes=1))  # type: ignore[attr-defined]
        github_flow.deliver_pending()
        assert github.created == 1
        assert github_flow.get(incident.id).action_items[-1].tracker_key == "acme/ops#1"


class TestJiraEndToEnd:
    """The same on Jira for one item: opened once, moved to Done there, the incident closes."""

    @pytest.fixture
    def flow(self, jira: FakeJira) -> Iterator[IncidentFlow]:
        client = HttpClient(sleep=Sleeps())
        yield IncidentFlow(
            Policy(tracker={"kind": "jira", "project": "OPS", "items": ["update_runbook"]}),
            notifier=RecordingNotifier(),
            pager=RecordingNotifier(),
            publisher=RecordingPublisher(),
            clock=ManualClock(T0),
            tracker=JiraTracker(jira.site, JIRA_EMAIL, JIRA_TOKEN, client=client),
        )
        client.close()

    def test_webhook_then_close(self, flow: IncidentFlow, jira: FakeJira) -> None:
        incident = published_with_learnings(flow, "alert on p95")
        (item,) = [i for i in incident.action_items if i.kind == "update_runbook"]
        assert item.tracker_key == "OPS-1"
        labels = jira.issues["OPS-1"]["fields"]["labels"]
        assert f"incident-flow-{incident.id}" in labels
        jira.close_there("OPS-1")
        raw = jira.webhook("OPS-1")
        headers = jira_headers(raw)
        verify_signature("jira", raw, headers, HOOK_SECRET)
        (action,) = actions("jira", raw, headers)
        assert action.issue == "OPS-1"
        incident = flow.apply(action)
        assert incident.open_action_items == ()
        assert flow.close(incident.id, by="alice").state == "closed"

    def test_polling_and_closing_here(self, flow: IncidentFlow, jira: FakeJira) -> None:
        incident = published_with_learnings(flow, "alert on p95", "canary")
        jira.close_there("OPS-1")
        (changed,) = flow.poll_follow_ups()
        assert changed.action_item("AI-1") is not None
        second = next(i for i in changed.action_items if i.tracker_key == "OPS-2")
        flow.complete_action_item(incident.id, second.id, by="bob")
        assert jira.issues["OPS-2"]["fields"]["status"]["statusCategory"]["key"] == "done"
        assert jira.comments["OPS-2"][0]["content"][0]["content"][0]["text"].startswith("Done")


class TestRefusals:
    """Bad input: a clear error, nothing changed."""

    def test_commands(self) -> None:
        flow = IncidentFlow(publisher=RecordingPublisher(), clock=ManualClock(T0))
        incident = flow.trigger(ALERT)
        with pytest.raises(InvalidCommand):
            flow.add_follow_up(incident.id, "  ", by="alice")
        with pytest.raises(InvalidCommand):
            flow.add_follow_up(incident.id, "x", by="alice", owner=" ")
        with pytest.raises(PolicyViolation, match="no action item 'AI-9'"):
            flow.complete_action_item(incident.id, "AI-9", by="alice")
        incident = flow.add_follow_up(incident.id, "x", by="alice", owner=" bob ")
        assert incident.action_items[-1].owner == "bob"
        flow.complete_action_item(incident.id, "AI-1", by="alice")
        with pytest.raises(PolicyViolation, match="already settled"):
            flow.complete_action_item(incident.id, "AI-1", by="alice")
        before = flow.get(incident.id).version
        with pytest.raises(PolicyViolation):
            flow.waive_action_item(incident.id, "AI-1", by="alice", reason="x")
        assert flow.get(incident.id).version == before

    def test_a_tracker_of_another_kind_is_refused(self) -> None:
        with pytest.raises(ValueError, match="the policy's \\[tracker\\] says github"):
            IncidentFlow(Policy(tracker=GITHUB_POLICY), tracker=MemoryTracker("jira"))

    def test_no_tracker_leaves_the_issue_pending(self) -> None:
        flow = IncidentFlow(Policy(tracker=GITHUB_POLICY), publisher=RecordingPublisher())
        incident = flow.trigger(ALERT)
        incident = flow.add_follow_up(incident.id, "x", by="alice")
        assert incident.action_items[-1].tracker_key is None
        assert any(e.type == "DeliveryFailed" for e in flow.history(incident.id))

    def test_policy_file(self) -> None:
        with pytest.raises(Exception, match=r"tracker\.repo"):
            Policy.from_mapping({"tracker": {"kind": "jira", "repo": "a/b", "project": "OPS"}})
        with pytest.raises(Exception, match="tracker kind must be"):
            Policy.from_mapping({"tracker": {"kind": "linear"}})
        with pytest.raises(Exception, match="not an item kind"):
            Policy.from_mapping({"tracker": {"kind": "github", "repo": "a/b", "items": ["x"]}})


class TestClosedThere:
    """An item's issue closed in the tracker: the thread says where, nothing is sent back."""

    def flow(self) -> tuple[IncidentFlow, MemoryTracker, RecordingNotifier, str]:
        tracker, chat = MemoryTracker(), RecordingNotifier()
        flow = IncidentFlow(
            Policy(tracker=GITHUB_POLICY), notifier=chat, pager=RecordingNotifier(),
            publisher=RecordingPublisher(), clock=ManualClock(T0), tracker=tracker,
        )  # fmt: skip
        incident = flow.trigger(ALERT)
        flow.add_follow_up(incident.id, "fix the canary", by="alice")
        return flow, tracker, chat, incident.id

    def closed(self, incident: str, issue: str, text: str = "", n: int = 1) -> Action:
        return Action(
            source="github", kind="follow_up_closed", incident=incident, by="octocat",
            issue=issue, text=text, delivery_id=f"github:closed:{n}",
        )  # fmt: skip

    def test_the_thread_says_where_it_was_closed_and_the_closers_words(self) -> None:
        flow, tracker, chat, i = self.flow()
        tracker.close_there("acme/ops#1", by="octocat")
        done = flow.apply(self.closed(i, "ACME/ops#1", text="shipped in v2.3"))
        assert done.open_action_items == ()
        assert chat.of(i, "update")[-1].text == (
            "AI-1 done by github:octocat (closed in github): shipped in v2.3"
        )
        # Closed there: nothing to send back (no close, no comment).
        history = flow.history(i)
        since = [e.type for e in history].index("ActionApplied")
        told = [getattr(e, "channel", None) for e in history[since:]]
        assert "tracker" not in told and tracker.comments == {}

    def test_an_issue_not_ours_or_settled_already_changes_nothing(self) -> None:
        flow, _, _, i = self.flow()
        before = flow.get(i)
        for n, issue in enumerate(("acme/ops#9", "other/repo#1", "acme/ops#1"), start=1):
            if issue == "acme/ops#1":
                flow.complete_action_item(i, "AI-1", by="alice")  # done here first: an echo
                before = flow.get(i)
            after = flow.apply(self.closed(i, issue, n=n))
            assert after == before
            assert flow.get(i) == before
        assert [e.type for e in flow.history(i) if e.type.startswith("Action")] == [
            "ActionItemRaised",
            "ActionItemCompleted",
        ]


class TestWhichSettledItemsAreClosedThere:
    """Settled here, an item's issue is closed there if it has one or its kind is exported."""

    def flow(
        self, items: list[str], tracker: MemoryTracker | None, store: Any = None
    ) -> IncidentFlow:
        return IncidentFlow(
            Policy(tracker={**GITHUB_POLICY, "items": items}), notifier=RecordingNotifier(),
            pager=RecordingNotifier(), publisher=RecordingPublisher(), clock=ManualClock(T0),
            tracker=tracker, store=store,
        )  # fmt: skip

    def sent(self, flow: IncidentFlow, incident: str) -> list[str]:
        """What the tracker was asked to do for the incident, in order."""
        return [m.kind for m in flow.store.outbox_messages(incident) if m.channel == "tracker"]

    def test_an_item_of_a_kind_not_exported_is_not_closed_there(self) -> None:
        tracker = MemoryTracker()
        flow = self.flow(["follow_up"], tracker)
        incident = published_with_learnings(flow, "alert on p95")
        (learning,) = (i for i in incident.action_items if i.kind == "update_runbook")
        follow_up = flow.add_follow_up(incident.id, "fix the canary", by="alice").action_items[-1]
        assert (learning.tracker_key, follow_up.tracker_key) == (None, "acme/ops#1")
        flow.complete_action_item(incident.id, learning.id, by="bob")
        assert self.sent(flow, incident.id) == [f"open:{follow_up.id}"]
        flow.waive_action_item(incident.id, follow_up.id, by="bob", reason="not needed")
        assert self.sent(flow, incident.id)[1:] == [f"close:{follow_up.id}"]
        assert tracker.issues["acme/ops#1"].closed

    def test_an_item_whose_issue_is_not_open_yet_is_closed_there_too(self) -> None:
        flow = self.flow(["follow_up"], None)  # no tracker: the open stays pending
        incident = flow.add_follow_up(flow.trigger(ALERT).id, "fix the canary", by="alice")
        assert incident.action_items[-1].tracker_key is None
        flow.complete_action_item(incident.id, "AI-1", by="bob")
        assert self.sent(flow, incident.id) == ["open:AI-1", "close:AI-1"]

    def test_an_opened_issue_is_closed_after_the_policy_stops_exporting_its_kind(self) -> None:
        tracker = MemoryTracker()
        before = self.flow(["follow_up"], tracker)
        incident = before.add_follow_up(before.trigger(ALERT).id, "fix the canary", by="alice")
        assert incident.action_items[-1].tracker_key == "acme/ops#1"
        after = self.flow(["update_runbook"], tracker, store=before.store)
        after.complete_action_item(incident.id, "AI-1", by="bob")
        assert self.sent(after, incident.id) == ["open:AI-1", "close:AI-1"]
        assert tracker.issues["acme/ops#1"].closed


class TestWhatTheThreadSays:
    """Each follow-up step is said in the team's own channel, naming the item and its people."""

    def flow(self) -> tuple[IncidentFlow, RecordingNotifier, str]:
        ops = Team(name="ops", escalation=[EscalationLevel(("alice",))], chat_channel="C0OPS")
        policy = Policy(teams=[ops], tracker={**GITHUB_POLICY, "items": ["follow_up"]})
        chat = RecordingNotifier()
        flow = IncidentFlow(
            policy, notifier=chat, pager=RecordingNotifier(), publisher=RecordingPublisher(),
            clock=ManualClock(T0), tracker=MemoryTracker(),
        )  # fmt: skip
        return flow, chat, flow.trigger(ALERT).id

    def test_added_and_tracked(self) -> None:
        flow, chat, i = self.flow()
        flow.add_follow_up(i, "fix the canary", by="alice", owner="bob")
        flow.add_follow_up(i, "rotate the keys", by="carol")
        said = [(m.kind, m.channel, m.text) for m in chat.of(i)][1:]
        assert said == [
            ("update", "C0OPS", "Follow-up AI-1 added by alice: fix the canary (owner: bob)"),
            ("update", "C0OPS", "AI-1 is tracked at memory://acme/ops#1"),
            ("update", "C0OPS", "Follow-up AI-2 added by carol: rotate the keys"),
            ("update", "C0OPS", "AI-2 is tracked at memory://acme/ops#2"),
        ]
        flow.complete_action_item(i, "AI-1", by="bob")
        flow.complete_action_item(i, "AI-2", by="bob", note="rotated")
        said = [(m.kind, m.channel, m.text) for m in chat.of(i)][5:]
        assert said == [
            ("update", "C0OPS", "AI-1 done by bob"),
            ("update", "C0OPS", "AI-2 done by bob: rotated"),
        ]

    def test_an_unknown_or_settled_item_is_refused_naming_the_items_there_are(self) -> None:
        flow, _, i = self.flow()
        for items in ("none", "AI-1", "AI-1, AI-2"):
            with pytest.raises(PolicyViolation) as refused:
                flow.complete_action_item(i, "AI-9", by="alice")
            e = refused.value
            assert (e.trigger, e.standard, e.detail) == (
                "complete_action_item",
                "unknown_action_item",
                f"no action item 'AI-9' (has: {items})",
            )
            flow.add_follow_up(i, "x", by="alice")
        flow.complete_action_item(i, "AI-2", by="alice")
        with pytest.raises(PolicyViolation) as refused:
            flow.complete_action_item(i, "AI-2", by="bob")
        e = refused.value
        assert (e.trigger, e.standard, e.detail) == (
            "complete_action_item",
            "action_item_settled",
            "AI-2 is already settled",
        )

    @pytest.mark.parametrize("receipt", ["acme/ops#7 memory://acme/ops#7", None])
    def test_an_open_answered_again_or_answered_nothing_records_nothing(
        self, receipt: str | None
    ) -> None:
        """An open sent again (its claim ran out) keeps the first issue; None: nothing opened."""
        flow, _, i = self.flow()
        flow.add_follow_up(i, "fix the canary", by="alice")
        incident = flow.get(i)
        assert incident.action_items[0].tracker_key == "acme/ops#1"
        (opened,) = [m for m in flow.store.outbox_messages(i) if m.kind == "open:AI-1"]
        again = decide_outcomes(incident, [Outcome(opened, receipt=receipt)], T0, flow.policy)
        assert [e.type for e in again.events] == ["MessageDelivered"]
        assert [m.id for m in again.outbox] == [opened.id]  # settled, nothing said
        assert again.incident.action_items == incident.action_items

    def test_an_open_failed_keeps_its_error_and_one_answered_without_a_tracker_is_settled(
        self,
    ) -> None:
        """A failure is kept for the next attempt; a reclaimed send settles as this one's."""
        flow, _, i = self.flow()
        flow.add_follow_up(i, "fix the canary", by="alice")
        incident = flow.get(i)
        (opened,) = [m for m in flow.store.outbox_messages(i) if m.kind == "open:AI-1"]
        reclaimed = attrs.evolve(opened, reclaimed=True, delivered_at=None)
        failed = Outcome(reclaimed, error="502 bad gateway", delay=timedelta(minutes=1))
        (kept,) = decide_outcomes(incident, [failed], T0, flow.policy).outbox
        assert (kept.last_error, kept.attempts, kept.reclaimed) == ("502 bad gateway", 2, False)
        assert kept.next_attempt_at == T0 + timedelta(minutes=1)
        # The tracker left the policy since: the answer is recorded, nothing more is made of it.
        answered = Outcome(reclaimed, receipt="acme/ops#7 memory://acme/ops#7")
        settled = decide_outcomes(incident, [answered], T0, Policy())
        assert [e.type for e in settled.events] == ["MessageDelivered"]
        (done,) = settled.outbox
        assert (done.last_error, done.delivered_at, done.reclaimed) == (None, T0, False)


def _service(github: FakeGitHubIssues, jira_secret: bool = True, folder: str = "db") -> Any:
    data: dict[str, Any] = {
        "policy": {"tracker": GITHUB_POLICY},
        "store": {"sqlite": f"{folder}/incident-flow.db"},
        "tracker": {"kind": "github", "token": "${GH_TOKEN}", "api_url": github.api_url},
        "actions": {"github": {"secret": "${HOOK}"}},
        "publisher": {"kind": "folder", "folder": f"{folder}/pm"},
    }
    if jira_secret:
        data["actions"]["jira"] = {"secret": "${HOOK}"}
    return config_from_mapping(data, environ={"GH_TOKEN": GITHUB_TOKEN, "HOOK": HOOK_SECRET})


class TestServedWebhooks:
    """The tracker webhooks are closed by default and bound to our issues."""

    def test_config_is_closed_by_default(self, github: FakeGitHubIssues, tmp_path: Any) -> None:
        with pytest.raises(Exception, match=r"actions.jira.secret: missing"):
            config_from_mapping({"actions": {"jira": {}}}, environ={})
        with pytest.raises(Exception, match="give its credentials"):
            config_from_mapping({"policy": {"tracker": GITHUB_POLICY}}, environ={})
        with pytest.raises(Exception, match=r"tracker\.kind"):
            config_from_mapping(
                {
                    "policy": {"tracker": GITHUB_POLICY},
                    "tracker": {
                        "kind": "jira",
                        "site": "https://x",
                        "email": "e",
                        "api_token": "${T}",
                    },
                },
                environ={"T": "t"},
            )
        config = _service(github, folder=str(tmp_path))
        assert "token='***'" not in repr(config.tracker) or GITHUB_TOKEN not in repr(config)
        assert GITHUB_TOKEN not in "\n".join(config.describe())

    def test_attacks(self, github: FakeGitHubIssues, tmp_path: Any) -> None:
        config = _service(github, folder=str(tmp_path))
        flow = async_flow(config)
        with Served(create_app(flow, config, worker=False)) as served:
            post = lambda path, body, headers: httpx.post(  # noqa: E731
                f"{served.url}{path}", content=body, headers=headers, timeout=10
            )
            fired = httpx.post(
                f"{served.url}/api/incidents", timeout=10
            )  # no API configured: no way in there
            assert fired.status_code in (401, 404, 405)
            # An incident with a follow-up exported (the library, on the service's store).
            incident = served_incident(flow, served)
            number = 1
            github.close_there(number)
            raw = github.webhook(number)
            # No signature, a wrong secret: 401, nothing applied.
            assert post("/actions/github", raw, {"X-GitHub-Event": "issues"}).status_code == 401
            bad = github_headers(raw, secret="guess")  # noqa: S106 - the attacker's guess
            assert post("/actions/github", raw, bad).status_code == 401
            # Another repository's issue carrying our marker: applied to nothing.
            other = github.webhook(number, repository="evil/fork")
            answer = post("/actions/github", other, github_headers(other, delivery="o-1"))
            assert answer.status_code == 200
            assert not served.flow_get(incident).action_items[-1].done
            # A forged issue that names our incident but is not the recorded one.
            forged = raw.replace(b'"number": 1', b'"number": 77')
            answer = post("/actions/github", forged, github_headers(forged, delivery="f-1"))
            assert answer.status_code == 200
            assert not served.flow_get(incident).action_items[-1].done
            # The real one, then its replay: applied once.
            for _ in range(2):
                answer = post("/actions/github", raw, github_headers(raw, delivery="r-1"))
                assert answer.status_code == 200
            after = served.flow_get(incident)
            assert after.action_items[-1].done
            applied = [e for e in served.history(incident) if e.type == "ActionApplied"]
            assert len(applied) == 1
            # Jira with a bad signature: 401.
            assert post("/actions/jira", b"{}", {"X-Hub-Signature": "sha256=00"}).status_code == 401


def served_incident(flow: Any, served: Any) -> str:
    """Open an incident with one follow-up on the served flow's loop (through the API-less way)."""
    import asyncio
    import threading

    result: dict[str, str] = {}

    def run() -> None:
        async def go() -> None:
            await flow.store.open() if hasattr(flow.store, "open") else None
            incident = await flow.trigger(ALERT)
            incident = await flow.add_follow_up(incident.id, "fix the canary", by="alice")
            result["id"] = incident.id
            await flow.drain()  # the service delivers in the background: the issue opens

        asyncio.run(go())

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(20)

    def get(incident_id: str) -> Any:
        out: dict[str, Any] = {}

        def read() -> None:
            out["v"] = asyncio.run(flow.get(incident_id))

        t = threading.Thread(target=read)
        t.start()
        t.join(10)
        return out["v"]

    def history(incident_id: str) -> Any:
        out: dict[str, Any] = {}

        def read() -> None:
            out["v"] = asyncio.run(flow.history(incident_id))

        t = threading.Thread(target=read)
        t.start()
        t.join(10)
        return out["v"]

    served.flow_get = get
    served.history = history
    return result["id"]


class TestCommandLine:
    """`follow-up` and `done` on the command line; refusals in its words."""

    def test_follow_up_and_done(self, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        from click.testing import CliRunner

        from incident_flow.cli import main

        monkeypatch.chdir(tmp_path)
        runner = CliRunner()

        def run(*args: str) -> tuple[int, str]:
            result = runner.invoke(main, ["--db", str(tmp_path / "cli.db"), *args])
            return result.exit_code, result.output

        assert run("init")[0] == 0
        code, out = run(
            "ingest", "datadog", str(Path(__file__).with_name("samples") / "datadog_triggered.json")
        )
        incident_id = out.split(":")[0]
        code, out = run(
            "follow-up", incident_id, "Canary the deploy", "--by", "alice", "--owner", "bob"
        )
        assert (code, out) == (0, f"{incident_id}: AI-1 added\n")
        code, out = run("done", incident_id, "AI-1", "--by", "bob", "--note", "shipped")
        assert (code, out) == (0, f"{incident_id}: AI-1 done\n")
        code, out = run("done", incident_id, "AI-1", "--by", "bob")
        assert code == 4  # a policy refusal, as for waive
        assert "already settled" in out
