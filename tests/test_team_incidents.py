"""Issue 34, second part: an incident belongs to a team, and its side effects follow that team."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import attrs
import pytest
from pytest_httpserver import HTTPServer

from incident_flow import (
    Alert,
    AsyncIncidentFlow,
    EscalationLevel,
    IncidentFlow,
    InvalidCommand,
    InvalidTransition,
    MemoryStore,
    Notification,
    Policy,
    PolicyViolation,
    RecordingNotifier,
    Route,
    Runbook,
    Team,
)
from incident_flow._alerting.decide import decide_join, decide_new
from incident_flow._core import commands as cmd
from incident_flow._core import events as ev
from incident_flow._core.decision import team_policy
from incident_flow._core.incident import fold
from incident_flow._core.storms import GroupingRule
from incident_flow._drivers.loop import _policy_with
from incident_flow._response.decide import decide
from incident_flow.adapters._http import AsyncHttpClient, HttpClient
from incident_flow.adapters.channels.slack import AsyncSlackNotifier, SlackNotifier
from incident_flow.adapters.stores.sqlite import SQLiteStore
from incident_flow.events import event_from_dict, event_to_dict
from incident_flow.testing import ManualClock
from incident_flow.testing._async import LoopThread

from .conftest import T0
from .vendors import CHANNEL, TOKEN, FakeSlack, Sleeps

SHOP, PAY = "C0SHOP0001", "C0PAY00001"


def two_teams(**changes: object) -> Policy:
    """Checkout (alice, then carol; #shop) owns service=checkout; payments (bob, then frank)
    owns the rest."""
    fields: dict[str, object] = {
        "teams": (
            Team(
                name="checkout",
                escalation=[EscalationLevel(("alice",)), EscalationLevel(("carol",))],
                chat_channel=SHOP,
                postmortem_reviewers=1,
                postmortem_review_pool=("dave",),
                postmortem_folder="shop/postmortems",
            ),
            Team(
                name="payments",
                escalation=[EscalationLevel(("bob",)), EscalationLevel(("frank",))],
                chat_channel=PAY,
                postmortem_reviewers=1,
                postmortem_review_pool=("zoe",),
            ),
        ),
        "routes": (Route(team="checkout", match={"service": "checkout"}),),
        "default_team": "payments",
    }
    fields.update(changes)
    return Policy(**fields)  # type: ignore[arg-type]


def alert(service: str | None = "checkout", severity: str = "P1", key: str = "k1") -> Alert:
    labels = {"service": service} if service else {}
    return Alert(
        source="s", name=f"{service}-down", title=f"{service} down", severity=severity,
        labels=labels, dedup_key=key,
    )  # fmt: skip


def make_flow(
    policy: Policy,
) -> tuple[IncidentFlow, RecordingNotifier, RecordingNotifier, ManualClock]:
    chat, pager, clock = RecordingNotifier(), RecordingNotifier(), ManualClock(T0)
    flow = IncidentFlow(policy, store=MemoryStore(), notifier=chat, pager=pager, clock=clock)
    return flow, chat, pager, clock


class TestTheIncidentRecordsItsTeam:
    """The first alert's route names the team; its service label is kept too."""

    def test_routed_alert_names_team_and_service(self) -> None:
        decision = decide_new("i1", alert("checkout"), two_teams(), T0)
        first = decision.events[0]
        assert isinstance(first, ev.IncidentTriggered)
        assert (first.team, first.service) == ("checkout", "checkout")
        assert (decision.incident.team, decision.incident.service) == ("checkout", "checkout")

    def test_unrouted_alert_goes_to_the_default_team(self) -> None:
        incident = decide_new("i1", alert(None), two_teams(), T0).incident
        assert (incident.team, incident.service) == ("payments", None)

    def test_a_policy_without_teams_records_none(self) -> None:
        decision = decide_new("i1", alert("checkout"), Policy(), T0)
        assert (decision.incident.team, decision.incident.service) == (None, "checkout")
        chats = [m.notification for m in decision.outbox if m.channel == "chat"]
        assert [n.channel for n in chats if n is not None] == [None]

    def test_a_grouped_alert_does_not_change_the_team(self) -> None:
        rule = GroupingRule(name="outage", by=["env"])
        policy = two_teams(grouping=(rule,))
        first = attrs.evolve(alert("checkout"), labels={"service": "checkout", "env": "prod"})
        opened = decide_new("i1", first, policy, T0, group=(rule, "prod")).incident
        other = attrs.evolve(alert(None, key="k2"), labels={"env": "prod"})
        joined = decide_join(opened, other, (rule, "prod"), policy, T0 + timedelta(seconds=5))
        assert joined.incident.team == "checkout"

    def test_an_old_event_without_team_still_loads(self) -> None:
        """An IncidentTriggered stored before teams (no team, no service keys) reads as None."""
        event = decide_new("i1", alert(), Policy(), T0).events[0]
        data = json.loads(json.dumps(event_to_dict(event)))
        del data["team"], data["service"]
        old = event_from_dict(data)
        assert isinstance(old, ev.IncidentTriggered)
        assert (old.team, old.service) == (None, None)
        assert fold(None, [old]).team is None

    def test_an_old_event_in_a_sqlite_file_still_loads(self, tmp_path: object) -> None:
        """The SQLite store reads a row written before the fields existed."""
        import sqlite3

        path = f"{tmp_path}/old.db"
        store = SQLiteStore(path)
        decision = decide_new("i1", alert(), two_teams(), T0)
        store.append("i1", 0, list(decision.events), snapshot=decision.incident)
        store.close()
        with sqlite3.connect(path) as db:
            rows = db.execute("SELECT version, data FROM events WHERE incident_id = 'i1'")
            for version, text in rows.fetchall():
                data = json.loads(text)
                data.pop("team", None)
                data.pop("service", None)
                db.execute(
                    "UPDATE events SET data = ? WHERE incident_id = 'i1' AND version = ?",
                    (json.dumps(data), version),
                )
        again = SQLiteStore(path)
        try:
            loaded = again.load("i1")
        finally:
            again.close()
        first = loaded[0]
        assert isinstance(first, ev.IncidentTriggered)
        assert first.team is None


class TestOneHelperForTheTeamsPolicy:
    """Every decision reads the policy through team_policy, made once per team and policy."""

    def test_for_team_is_memoised(self) -> None:
        policy = two_teams()
        assert policy.for_team("checkout") is policy.for_team("checkout")
        assert policy.for_team("checkout").chat_channel == SHOP
        assert policy == two_teams()  # the memo is not part of equality

    def test_unknown_or_missing_team_is_the_default_teams(self) -> None:
        policy = two_teams()
        incident = decide_new("i1", alert(), Policy(), T0).incident  # team None
        assert team_policy(policy, incident) is policy.for_team("payments")
        gone = attrs.evolve(incident, team="search")  # a team the policy no longer has
        assert team_policy(policy, gone) is policy.for_team("payments")
        assert team_policy(Policy(), incident).chat_channel is None

    def test_a_policy_copied_with_new_schedules_starts_its_own_memo(self) -> None:
        policy = two_teams()
        view = policy.for_team("checkout")
        copy = _policy_with(policy, policy.runbooks, policy.schedules)
        assert copy.for_team("checkout") is not view
        assert copy.for_team("checkout") == view


class TestSideEffectsFollowTheTeam:
    """Paging, escalation, the chat channel and reviewers are the incident's team's."""

    def test_pages_and_chat_go_to_each_team(self) -> None:
        flow, chat, pager, _ = make_flow(two_teams())
        shop = flow.trigger(alert("checkout"))
        pay = flow.trigger(alert("billing", key="k2"))
        flow.deliver_pending()
        assert [p.to for p in pager.of(shop.id, "page")] == [("alice",)]
        assert [p.to for p in pager.of(pay.id, "page")] == [("bob",)]
        assert {m.channel for m in chat.of(shop.id)} == {SHOP}
        assert {m.channel for m in chat.of(pay.id)} == {PAY}
        assert all(p.channel is None for p in pager.messages)

    def test_escalation_follows_the_team(self) -> None:
        flow, _, pager, clock = make_flow(two_teams())
        shop = flow.trigger(alert("checkout"))
        clock.advance(timedelta(hours=1))
        flow.escalate_due()
        assert [p.to for p in pager.of(shop.id, "page")] == [("alice",), ("carol",)]

    def test_reviewers_and_folder_follow_the_team(self) -> None:
        flow, _, _, _ = make_flow(two_teams())
        shop = flow.trigger(alert("checkout"))
        flow.resolve(shop.id, by="alice")
        flow.start_postmortem(shop.id, author="alice", impact="x", root_cause="y")
        submitted = flow.submit_postmortem(shop.id, by="alice")
        assert submitted.postmortem is not None
        assert submitted.postmortem.reviewers == ("dave",)
        document = flow._document(flow.history(shop.id))
        assert document.path.startswith("shop/postmortems/")

    def test_reminders_are_said_in_the_teams_channel(self) -> None:
        flow, chat, _, clock = make_flow(two_teams())
        shop = flow.trigger(alert("checkout"))
        flow.resolve(shop.id, by="alice")
        flow.deliver_pending()
        clock.advance(timedelta(days=30))
        flow.remind_due()
        flow.deliver_pending()
        reminders = [m for m in chat.of(shop.id) if m.text.startswith("Reminder")]
        assert reminders and {m.channel for m in reminders} == {SHOP}


class TestTheRunbookIsSaidInTheTeamsChannel:
    """Starting the runbook is said in the team's channel; a missing one is raised once."""

    def test_the_runbook_found_and_the_runbook_missing(self) -> None:
        flow, chat, _, _ = make_flow(two_teams())
        shop = flow.trigger(alert("checkout"))
        flow.start_runbook(shop.id, by="alice", runbook=Runbook(name="db", url="https://rb/db"))
        pay = flow.trigger(alert(None, key="k2"))
        flow.start_runbook(pay.id, by="bob")
        flow.deliver_pending()
        (found,) = [m for m in chat.of(shop.id, "update") if m.text.startswith("Runbook")]
        assert (found.text, found.channel) == ("Runbook db: https://rb/db", SHOP)
        (missing,) = [m for m in chat.of(pay.id, "update") if m.text.startswith("No runbook")]
        assert missing.text == "No runbook for 'None-down': action item raised to add one"
        assert missing.channel == PAY

    def test_an_add_runbook_item_already_raised_is_not_raised_again(self) -> None:
        flow, _, _, _ = make_flow(two_teams())
        done = flow.trigger(alert("checkout", severity="P3"))
        (raised,) = flow.resolve(done.id, by="alice").action_items
        assert raised.kind == "add_runbook"
        fresh = flow.trigger(alert("checkout", severity="P3", key="k2"))
        owing = attrs.evolve(fresh, action_items=(raised,))  # the same alert's item, still open
        decision = decide(owing, cmd.StartRunbook(by="alice"), two_teams(), T0)
        assert [e.type for e in decision.events] == ["RunbookStarted"]
        assert [i.kind for i in decision.incident.action_items] == ["add_runbook"]

    def test_another_open_item_does_not_stand_for_the_runbook(self) -> None:
        flow, _, _, _ = make_flow(two_teams())
        inc = flow.trigger(alert("checkout", severity="P3"))
        flow.add_follow_up(inc.id, "rotate the keys", by="alice")
        after = flow.start_runbook(inc.id, by="alice")
        assert sorted(i.kind for i in after.action_items)[0] == "add_runbook"


class TestReassign:
    """flow.reassign hands an incident to another team: recorded, said, and paged when due."""

    def test_a_critical_unresolved_incident_pages_the_new_team(self) -> None:
        flow, chat, pager, clock = make_flow(two_teams())
        shop = flow.trigger(alert("checkout"))
        flow.deliver_pending()
        after = flow.reassign(shop.id, "payments", by="alice")
        assert (after.team, after.escalation_level, after.acknowledged_at) == ("payments", 0, None)
        assert after.escalation_due_at is not None
        (moved,) = [e for e in flow.history(shop.id) if isinstance(e, ev.TeamReassigned)]
        assert (moved.team, moved.previous, moved.paged, moved.by) == (
            "payments", "checkout", True, "alice",
        )  # fmt: skip
        flow.deliver_pending()
        assert [p.to for p in pager.of(shop.id, "page")] == [("alice",), ("bob",)]
        said = chat.of(shop.id)
        first = said[0]
        goodbye = next(
            m
            for m in chat.of(shop.id, "update")
            if m.text == "Reassigned to team payments by alice"
        )
        # The old team hears it in the incident's thread there, not under the new first message.
        assert (goodbye.thread, goodbye.channel) == (first.idempotency_key, SHOP)
        (hello,) = [m for m in said if m.kind == "notify" and m.channel == PAY]
        assert pager.of(shop.id, "page")[-1].text == (
            "[P1] checkout down (reassigned to team payments)"
        )
        assert "reassigned from team checkout by alice" in hello.text
        # Its escalation starts over with the new team's levels.
        clock.advance(timedelta(hours=1))
        flow.escalate_due()
        assert pager.of(shop.id, "page")[-1].to == ("frank",)
        # Later messages thread under the new team's first message, in its channel.
        flow.note(shop.id, "looking", by="bob")
        flow.deliver_pending()
        note = chat.of(shop.id)[-1]
        assert (note.channel, note.thread) == (PAY, hello.idempotency_key)

    def test_the_post_mortem_timeline_says_it(self) -> None:
        flow, _, _, _ = make_flow(two_teams())
        shop = flow.trigger(alert("checkout"))
        flow.reassign(shop.id, "payments", by="alice")
        flow.resolve(shop.id, by="bob")
        flow.reassign(shop.id, "checkout", by="bob")
        text = flow._document(flow.history(shop.id)).render_markdown()
        assert "Handed to team payments, its on-call paged" in text
        assert "Handed to team checkout" in text

    def test_an_incident_in_its_runbook_pages_the_new_team_on_its_severitys_clock(self) -> None:
        flow, _, pager, _ = make_flow(two_teams())
        shop = flow.trigger(alert("checkout", severity="P2"))
        flow.start_runbook(shop.id, by="alice")
        after = flow.reassign(shop.id, "payments", by="alice")
        flow.deliver_pending()
        assert [p.to for p in pager.of(shop.id, "page")] == [("alice",), ("bob",)]
        assert pager.of(shop.id, "page")[-1].text == (
            "[P2] checkout down (reassigned to team payments)"
        )
        assert after.escalation_due_at == T0 + timedelta(minutes=15)  # P2's, not the default

    def test_a_resolved_incident_is_not_paged(self) -> None:
        flow, chat, pager, _ = make_flow(two_teams())
        shop = flow.trigger(alert("checkout"))
        flow.resolve(shop.id, by="alice")
        after = flow.reassign(shop.id, "payments", by="alice")
        flow.deliver_pending()
        assert after.team == "payments"
        assert [p.to for p in pager.of(shop.id, "page")] == [("alice",)]
        assert any(m.channel == PAY for m in chat.of(shop.id))

    def test_a_minor_incident_is_not_paged(self) -> None:
        flow, _, pager, _ = make_flow(two_teams())
        shop = flow.trigger(alert("checkout", severity="P4"))
        flow.reassign(shop.id, "payments", by="alice")
        flow.deliver_pending()
        assert pager.of(shop.id, "page") == []

    @pytest.mark.parametrize(
        ("team", "standard", "detail"),
        [
            ("search", "unknown_team", "no team 'search' (known: checkout, payments)"),
            ("checkout", "same_team", "the incident is already team checkout's"),
        ],
    )
    def test_unknown_or_same_team_is_refused(self, team: str, standard: str, detail: str) -> None:
        flow, _, _, _ = make_flow(two_teams())
        shop = flow.trigger(alert("checkout"))
        before = flow.history(shop.id)
        with pytest.raises(PolicyViolation) as info:
            flow.reassign(shop.id, team, by="alice")
        assert (info.value.standard, info.value.trigger) == (standard, "reassign")
        assert info.value.detail == detail
        assert flow.history(shop.id) == before

    def test_a_policy_without_teams_refuses_every_reassignment(self) -> None:
        flow, _, _, _ = make_flow(Policy())
        inc = flow.trigger(alert())
        for team in ("default", "payments"):
            with pytest.raises(PolicyViolation):
                flow.reassign(inc.id, team, by="alice")

    @pytest.mark.parametrize("team", ["", "no spaces", "<!channel>", "x" * 64, None, 3])
    def test_a_bad_name_is_an_invalid_command(self, team: object) -> None:
        with pytest.raises(InvalidCommand, match="team's name"):
            cmd.Reassign(by="alice", team=team)  # type: ignore[arg-type]

    def test_a_closed_incident_is_refused(self) -> None:
        flow, _, _, _ = make_flow(two_teams())
        inc = flow.trigger(alert("checkout", severity="P4"))
        flow.resolve(inc.id, by="alice")
        (item,) = flow.get(inc.id).open_action_items
        flow.waive_action_item(inc.id, item.id, by="alice", reason="none needed")
        flow.close(inc.id, by="alice")
        with pytest.raises(InvalidTransition):
            flow.reassign(inc.id, "payments", by="alice")

    def test_the_decision_is_pure_and_checked(self) -> None:
        opened = decide_new("i1", alert("checkout"), two_teams(), T0).incident
        decision = decide(opened, cmd.Reassign(by="alice", team="payments"), two_teams(), T0)
        kinds = [(m.channel, m.kind) for m in decision.outbox]
        assert kinds == [("chat", "notify"), ("pager", "page")]  # no thread yet: no goodbye

    def test_the_async_flow_reassigns(self) -> None:
        chat, pager = RecordingNotifier(), RecordingNotifier()
        loop = LoopThread()
        try:
            flow = AsyncIncidentFlow(
                two_teams(), store=MemoryStore(), notifier=chat, pager=pager,
                clock=ManualClock(T0),
            )  # fmt: skip
            inc = loop.run(flow.trigger(alert("checkout")))
            after = loop.run(flow.reassign(inc.id, "payments", by="alice"))
            loop.run(flow.deliver_pending())
        finally:
            loop.close()
        assert after.team == "payments"
        assert [p.to for p in pager.of(inc.id, "page")] == [("alice",), ("bob",)]


@pytest.fixture
def slack(httpserver: HTTPServer) -> FakeSlack:
    fake = FakeSlack(httpserver)
    fake.channels |= {SHOP, PAY}
    return fake


@pytest.fixture
def client() -> Iterator[HttpClient]:
    http = HttpClient(sleep=Sleeps(), timeout=5)
    yield http
    http.close()


class TestSlackPostsToTheTeamsChannel:
    """The Slack adapters post a message to its channel, and look there before a re-send."""

    def test_two_teams_incidents_land_in_their_two_channels(
        self, slack: FakeSlack, client: HttpClient
    ) -> None:
        notifier = SlackNotifier(token=TOKEN, channel=CHANNEL, api_url=slack.api_url, client=client)
        pager, clock = RecordingNotifier(), ManualClock(T0)
        flow = IncidentFlow(
            two_teams(), store=MemoryStore(), notifier=notifier, pager=pager, clock=clock
        )
        shop = flow.trigger(alert("checkout"))
        pay = flow.trigger(alert("billing", key="k2"))
        flow.deliver_pending()
        flow.note(shop.id, "rolling back", by="alice")
        flow.deliver_pending()
        where = {
            (m["metadata"]["event_payload"]["incident_id"], m["channel"]) for m in slack.messages
        }
        assert where == {(shop.id, SHOP), (pay.id, PAY)}
        assert not any(m["channel"] == CHANNEL for m in slack.messages)

    def test_a_message_without_channel_goes_to_the_configured_one(
        self, slack: FakeSlack, client: HttpClient
    ) -> None:
        notifier = SlackNotifier(token=TOKEN, channel=CHANNEL, api_url=slack.api_url, client=client)
        flow = IncidentFlow(
            Policy(), store=MemoryStore(), notifier=notifier, pager=RecordingNotifier(),
            clock=ManualClock(T0),
        )  # fmt: skip
        flow.trigger(alert("checkout"))
        flow.deliver_pending()
        assert [m["channel"] for m in slack.messages] == [CHANNEL]

    def test_the_look_before_a_resend_is_in_the_teams_channel(
        self, slack: FakeSlack, client: HttpClient, httpserver: HTTPServer
    ) -> None:
        notifier = SlackNotifier(token=TOKEN, channel=CHANNEL, api_url=slack.api_url, client=client)
        first = Notification(
            incident_id="i1", kind="notify", text="[P1] down", title="down", severity="P1",  # type: ignore[arg-type]
            state="notified", idempotency_key="i1/1/chat/notify", since=T0, channel=PAY,
        )  # fmt: skip
        receipt = notifier.send(first)
        again = notifier.send(attrs.evolve(first, resent=True))
        assert again == receipt and receipt is not None and receipt.startswith(f"{PAY}:")
        assert len(slack.messages) == 1
        (read,) = [r for r, _ in httpserver.log if "conversations.history" in r.path]
        assert read.args["channel"] == PAY

    def test_the_async_adapter_posts_to_the_teams_channel(self, slack: FakeSlack) -> None:
        loop = LoopThread()
        try:
            http = AsyncHttpClient(timeout=5)
            notifier = AsyncSlackNotifier(
                token=TOKEN, channel=CHANNEL, api_url=slack.api_url, client=http
            )
            message = Notification(
                incident_id="i1", kind="notify", text="[P1] down", title="down",
                severity="P1", state="notified", idempotency_key="k", channel=SHOP,  # type: ignore[arg-type]
            )  # fmt: skip
            receipt = loop.run(notifier.send(message))
            loop.run(http.aclose())
        finally:
            loop.close()
        assert receipt is not None and receipt.startswith(f"{SHOP}:")
        assert [m["channel"] for m in slack.messages] == [SHOP]
