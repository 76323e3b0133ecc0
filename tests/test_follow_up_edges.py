"""Follow-ups in the tracker (issue 32): the corners of the steps, parsers, teams and config."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import attrs
import pytest

from incident_flow import IncidentFlow, Policy, Severity
from incident_flow.adapters import HttpClient
from incident_flow.adapters.trackers import JiraTracker, MemoryTracker
from incident_flow.ingest import actions
from incident_flow.server._config import config_from_mapping
from incident_flow.testing import ManualClock, RecordingPublisher
from tests.test_follow_ups import ALERT, GITHUB_POLICY, T0, github, github_flow, jira
from tests.trackers import JIRA_EMAIL, JIRA_TOKEN, FakeGitHubIssues, FakeJira, github_headers
from tests.vendors import Sleeps

__all__ = ["github", "github_flow", "jira"]  # the fixtures, shared


class TestDriverEdges:
    """The tracker steps' corners: a lost answer, a second open, a failing poll, no tracker."""

    def flow(self, tracker: Any) -> IncidentFlow:
        return IncidentFlow(
            Policy(tracker=GITHUB_POLICY),
            publisher=RecordingPublisher(),
            clock=ManualClock(T0),
            tracker=tracker,
        )

    def test_a_lost_answer_and_a_second_open(self) -> None:
        from incident_flow._core.messages import OutboxMessage

        tracker = MemoryTracker()
        tracker.lose_answers = 1
        flow = self.flow(tracker)
        incident = flow.trigger(ALERT)
        incident = flow.add_follow_up(incident.id, "x", by="alice")
        assert incident.action_items[-1].tracker_key is None
        flow.clock.advance(timedelta(minutes=5))  # type: ignore[attr-defined]
        flow.deliver_pending()
        incident = flow.get(incident.id)
        assert incident.action_items[-1].tracker_key == "acme/ops#1"
        assert len(tracker.opened_for(incident.id)) == 1
        # An open delivered again after its outcome was recorded answers with the issue.
        again = OutboxMessage(
            id="x", incident_id=incident.id, channel="tracker", kind="open:AI-1",
            created_at=T0, next_attempt_at=T0,
        )  # fmt: skip
        assert flow._drive(flow._send_follow_up(again)) == "acme/ops#1 memory://acme/ops#1"
        gone = attrs_evolve(again, kind="open:AI-9")
        assert flow._drive(flow._send_follow_up(gone)) is None
        assert len(tracker.issues) == 1

    def test_polling(self) -> None:
        assert IncidentFlow(publisher=RecordingPublisher()).poll_follow_ups() == []
        tracker = MemoryTracker()
        flow = self.flow(tracker)
        for key in ("k1", "k2"):
            incident = flow.trigger(attrs_evolve(ALERT, dedup_key=key))
            flow.add_follow_up(incident.id, "x", by="alice")
        tracker.close_there("acme/ops#1")
        tracker.close_there("acme/ops#2")
        assert len(flow.poll_follow_ups(limit=1)) == 1
        tracker.issues.pop("acme/ops#2")  # the tracker lost it: a KeyError, logged, skipped
        assert flow.poll_follow_ups() == []

    def test_the_async_flow(self) -> None:
        import asyncio

        from incident_flow import AsyncIncidentFlow

        async def go() -> Any:
            flow = AsyncIncidentFlow(
                Policy(tracker=GITHUB_POLICY),
                publisher=RecordingPublisher(),
                clock=ManualClock(T0),
                tracker=MemoryTracker(),
            )
            incident = await flow.trigger(ALERT)
            incident = await flow.add_follow_up(incident.id, "x", by="alice", owner="bob")
            flow.tracker.close_there("acme/ops#1")  # type: ignore[union-attr]
            assert await flow.poll_follow_ups() != []
            incident = await flow.add_follow_up(incident.id, "y", by="alice")
            return await flow.complete_action_item(incident.id, "AI-2", by="bob")

        incident = asyncio.run(go())
        assert incident.open_action_items == ()


def attrs_evolve(value: Any, **changes: Any) -> Any:
    import attrs

    return attrs.evolve(value, **changes)


class TestNoReminderBeforeTheResolve:
    """A follow-up raised while the incident is worked is owed only once it is resolved."""

    def test_items_raised_during_the_incident_wait_for_the_resolve(self) -> None:
        flow = IncidentFlow(Policy(), publisher=RecordingPublisher(), clock=ManualClock(T0))
        incident = flow.add_follow_up(flow.trigger(ALERT).id, "fix the canary", by="alice")
        assert (incident.state, incident.open_action_items[0].id) == ("notified", "AI-1")
        assert (incident.reminder_about, incident.reminder_due_at) == (None, None)
        incident = flow.start_runbook(incident.id, by="alice")  # the alert's own runbook
        assert incident.state == "runbook"
        incident = flow.add_follow_up(incident.id, "rotate the keys", by="alice")
        assert (incident.reminder_about, incident.reminder_due_at) == (None, None)
        assert flow.get(incident.id).next_timer_at == incident.escalation_due_at
        assert flow.resolve(incident.id, by="alice").reminder_about == "postmortem"

    def test_what_is_owed_later_is_due_from_the_resolve(self) -> None:
        flow = IncidentFlow(Policy(), publisher=RecordingPublisher(), clock=ManualClock(T0))
        incident = flow.trigger(attrs.evolve(ALERT, severity=Severity.P4))
        resolved = flow.resolve(incident.id, by="alice")  # Monday 2026-03-02 09:00
        assert (resolved.reminder_about, resolved.resolved_at) == (None, T0)
        flow.clock.advance(timedelta(days=3))  # type: ignore[attr-defined]
        later = flow.add_follow_up(incident.id, "fix the canary", by="bob")
        assert later.reminder_about == "action_items"
        assert later.reminder_due_at == T0.replace(day=16)  # ten business days from the resolve
        later = flow.reclassify(incident.id, severity=Severity.P1, by="bob")
        assert later.reminder_about == "postmortem"
        assert later.reminder_due_at == T0.replace(day=9)  # five business days from the resolve


class TestParsers:
    """Webhook bodies that are not an item's issue closed give no action."""

    def test_github(self, github_flow: IncidentFlow, github: FakeGitHubIssues) -> None:
        import json

        incident = github_flow.trigger(ALERT)
        github_flow.add_follow_up(incident.id, "x", by="alice")
        github.close_there(1)
        raw = json.loads(github.webhook(1))
        for change in (
            {"action": "reopened"},
            {"issue": {**raw["issue"], "state_reason": "not_planned"}},
            {"issue": {**raw["issue"], "state_reason": "duplicate"}},
            {"issue": {**raw["issue"], "pull_request": {"url": "u"}}},
            {"issue": {**raw["issue"], "body": "no marker"}},
        ):
            body = json.dumps({**raw, **change}).encode()
            assert actions("github", body, github_headers(body)) == []

    def test_jira(self, jira: FakeJira) -> None:
        import json

        from incident_flow.testing.trackers import TrackerContract as C

        client = HttpClient(sleep=Sleeps())
        JiraTracker(jira.site, JIRA_EMAIL, JIRA_TOKEN, client=client).open(C.follow_up("OPS"))
        raw = json.loads(jira.webhook("OPS-1"))
        assert actions("jira", json.dumps(raw).encode()) == []  # To Do: not done
        jira.close_there("OPS-1")
        raw = json.loads(jira.webhook("OPS-1"))
        (action,) = actions("jira", json.dumps(raw).encode())
        assert (action.incident, action.by_name) == ("inc-contract", "James Williams")
        issue = raw["issue"]
        for change in (
            {"webhookEvent": "jira:issue_created"},
            {"changelog": {"items": [{"field": "priority"}]}},
            {"issue": {**issue, "fields": {**issue["fields"], "labels": ["bug"]}}},
            {"timestamp": "soon"},
        ):
            found = actions("jira", json.dumps({**raw, **change}).encode())
            assert found == [] or found[0].at is None
        client.close()


class TestServiceConfig:
    """The service's [tracker] credentials: checked, wired, never shown."""

    def test_problems_and_wiring(self, tmp_path: Any) -> None:
        from incident_flow.adapters.trackers import JiraTracker as Jira
        from incident_flow.server._config import ConfigError
        from incident_flow.server._wiring import sync_flow

        env = {"T": "secret-token-1234"}
        with pytest.raises(ConfigError) as caught:
            config_from_mapping({"tracker": {"kind": "linear"}}, environ=env)
        assert "tracker.kind: must be github or jira" in str(caught.value)
        with pytest.raises(ConfigError) as caught:
            config_from_mapping({"tracker": {"kind": "jira", "site": "https://x"}}, environ=env)
        assert "tracker.email: a jira tracker needs it" in str(caught.value)
        assert "tracker.api_token: a jira tracker needs it" in str(caught.value)
        config = config_from_mapping(
            {
                "policy": {"tracker": {"kind": "jira", "project": "OPS"}},
                "store": {"sqlite": str(tmp_path / "db.sqlite")},
                "tracker": {
                    "kind": "jira",
                    "site": "https://acme.atlassian.net",
                    "email": "bot@acme.example",
                    "api_token": "${T}",
                },
            },
            environ=env,
        )
        assert "secret-token-1234" not in "\n".join(config.describe())
        flow = sync_flow(config)
        assert isinstance(flow.tracker, Jira)
        assert "secret-token-1234" not in repr(flow.tracker)
        flow.store.close()  # type: ignore[attr-defined]


class TestThePostMortem:
    """The post-mortem's action items name their owner and link their issue, escaped."""

    def test_rendered(self) -> None:
        from incident_flow import PostMortemDocument

        flow = IncidentFlow(
            Policy(tracker=GITHUB_POLICY), tracker=MemoryTracker(), publisher=RecordingPublisher()
        )
        incident = flow.trigger(ALERT)
        incident = flow.add_follow_up(incident.id, "Fix *it*", by="alice", owner="bob_1")
        text = PostMortemDocument(incident, flow.history(incident.id), "pm").render_markdown()
        assert (
            "- [ ] AI-1: Fix \\*it\\* (owner: bob\\_1) ([acme/ops\\#1](<memory://acme/ops#1>))"
            in text
        )


class TestPerTeam:
    """A team's [tracker] sends its incidents' items to its own repository."""

    def test_team_repository(self) -> None:
        policy = Policy.from_mapping(
            {
                "tracker": {"kind": "github", "repo": "acme/ops"},
                "teams": [
                    {"name": "ops"},
                    {"name": "payments", "tracker": {"kind": "github", "repo": "acme/payments"}},
                ],
                "routes": [{"match": {"service": "checkout"}, "team": "payments"}],
                "default_team": "ops",
            }
        )
        tracker = MemoryTracker()
        flow = IncidentFlow(policy, tracker=tracker, publisher=RecordingPublisher())
        paid = flow.trigger(attrs_evolve(ALERT, labels={"service": "checkout"}))
        other = flow.trigger(attrs_evolve(ALERT, dedup_key="other"))
        assert flow.add_follow_up(paid.id, "x", by="a").action_items[-1].tracker_key == (
            "acme/payments#1"
        )
        assert flow.add_follow_up(other.id, "y", by="a").action_items[-1].tracker_key == (
            "acme/ops#2"
        )

    def test_one_kind_per_flow(self) -> None:
        from incident_flow import InvalidPolicy, Team

        policy = Policy(
            tracker=GITHUB_POLICY,
            teams=[Team(name="ops"), Team(name="pay", tracker={"kind": "jira", "project": "PAY"})],
            default_team="ops",
        )
        with pytest.raises(ValueError, match="the tracker is 'github'"):
            IncidentFlow(policy, tracker=MemoryTracker("github"))
        with pytest.raises(InvalidPolicy, match=r"teams\[0\]\.tracker"):
            Policy.from_mapping({"teams": [{"name": "ops", "tracker": {"kind": "x"}}]})


class TestNotPlanned:
    """An issue closed as not planned is not the work done: the poll leaves the item open."""

    def test_poll_and_waive(self, github_flow: IncidentFlow, github: FakeGitHubIssues) -> None:
        incident = github_flow.trigger(ALERT)
        incident = github_flow.add_follow_up(incident.id, "x", by="alice")
        github.close_there(1, reason="not_planned")
        assert github_flow.poll_follow_ups() == []
        github_flow.waive_action_item(incident.id, "AI-1", by="alice", reason="not planned")
        assert github.issues[0]["state_reason"] == "not_planned"  # left as it is
        assert github.comments == {}
