"""A channel per incident, end to end: flows (both drivers) on FakeSlack, and two replicas.

A P1 opens ``#inc-...``, invites the paged person, posts its message and buttons there and a
pointer in the alerts thread; later messages go to the channel; it is archived on close. A
taken name or a refused creation keeps the incident in its thread, which says so. Two replicas
sharing one PostgreSQL store open one channel, even when Slack's answer was lost.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import attrs
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from incident_flow import (
    Alert,
    AsyncIncidentFlow,
    AsyncSlackNotifier,
    DeliveryError,
    EscalationLevel,
    IncidentChannels,
    IncidentFlow,
    Person,
    Policy,
    PostgresStore,
    RecordingNotifier,
    Severity,
    SlackNotifier,
    StorageError,
    Team,
)
from incident_flow._core import events as ev
from incident_flow._core.decision import Draft
from incident_flow._core.incident import fold
from incident_flow._core.rooms_decide import invite
from incident_flow._delivery.decide import Outcome, decide_outcomes
from incident_flow.adapters._http import AsyncHttpClient, HttpClient
from incident_flow.testing import ManualClock
from incident_flow.testing._async import Blocking, LoopThread
from incident_flow.testing._contract_data import sample_history

from .conftest import T0, MakeFlow, pg_schema
from .vendors import CHANNEL, SERVER_ERROR, TOKEN, FakeSlack

NAME = "inc-2025-03-04-checkout-errors"
ALERT = Alert(
    source="datadog", name="CheckoutErrors", title="Checkout errors", severity=Severity.P1
)
POLICY = Policy(
    incident_channels=IncidentChannels(archive_on_close=True),
    people=[
        Person(name="alice", slack=["U0ALICE01"]),
        Person(name="carol", slack=["U0CAROL03"]),
    ],
    escalation=[EscalationLevel(("alice",)), EscalationLevel(("carol",))],
    postmortem_required=[],
)


@pytest.fixture
def slack(httpserver: HTTPServer) -> FakeSlack:
    return FakeSlack(httpserver)


class Rig:
    """A flow on FakeSlack with a recording pager and a manual clock."""

    def __init__(self, make_flow: MakeFlow, slack: FakeSlack, policy: Policy = POLICY) -> None:
        self.slack = slack
        self.clock = ManualClock(T0)
        self.pager = RecordingNotifier()
        notifier = SlackNotifier(
            token=TOKEN,
            channel=CHANNEL,
            api_url=slack.api_url,
            client=HttpClient(sleep=lambda _: None, timeout=5),
        )
        self.flow = make_flow(policy, notifier=notifier, pager=self.pager, clock=self.clock)

    def alerts_thread(self) -> list[str]:
        """The replies in the alerts channel's thread of the (one) incident."""
        (parent,) = [m for m in self.slack.top_level() if m["channel"] == CHANNEL]
        return [m["text"] for m in self.slack.thread(parent["ts"])]


@pytest.fixture
def rig(make_flow: MakeFlow, slack: FakeSlack) -> Rig:
    return Rig(make_flow, slack)


class TestAChannelPerIncident:
    """The P1's own channel carries the incident from its first message to its archive."""

    def test_a_p1_lives_in_its_channel(self, rig: Rig) -> None:
        slack, flow = rig.slack, rig.flow
        incident = flow.trigger(ALERT)
        room = slack.named(NAME)
        assert room is not None
        incident = flow.get(incident.id)
        assert incident.incident_channel == room["id"]
        assert incident.incident_channel_name == NAME
        assert slack.members[room["id"]] == [slack.bot_user, "U0ALICE01"]  # the paged person
        (posted,) = slack.room_messages(room["id"])
        assert incident.chat_thread == f"{room['id']}:{posted['ts']}"
        (actions,) = [b for b in posted["blocks"] if b["type"] == "actions"]
        kinds = [e["action_id"] for e in actions["elements"]]
        assert kinds == [
            "incident_flow:acknowledge",
            "incident_flow:start_runbook",
            "incident_flow:resolve",
            "incident_flow:note",
        ]
        assert rig.alerts_thread() == [f"Incident channel: <#{room['id']}>"]
        (first,) = [m for m in slack.top_level() if m["channel"] == CHANNEL]
        signpost = slack.latest(first["ts"])  # the alerts message now says where it went
        assert [b["type"] for b in signpost["blocks"]] == ["header", "context"]
        said = signpost["blocks"][1]["elements"][0]["text"]
        assert said == f"{incident.id} continues in <#{room['id']}>"
        assert signpost["text"] == f"[P1] Checkout errors (continues in #{NAME})"

        flow.acknowledge(incident.id, by="slack:U0BOB0002")  # pressed in Slack by bob
        flow.note(incident.id, "rolling back", by="alice")
        texts = [m["text"] for m in slack.room_messages(room["id"])]
        assert texts[1:] == ["Acknowledged by slack:U0BOB0002", "alice: rolling back"]
        assert all("thread_ts" not in m for m in slack.room_messages(room["id"]))
        assert "U0BOB0002" in slack.members[room["id"]]  # whoever acknowledges comes in
        assert slack.latest(posted["ts"])["blocks"][1]["fields"][3]["text"].endswith("U0BOB0002")
        assert len(rig.alerts_thread()) == 1  # the alerts channel heard no more

        flow.resolve(incident.id, by="alice")
        for item in flow.get(incident.id).open_action_items:
            flow.waive_action_item(incident.id, item.id, by="alice", reason="in the wiki")
        closed = flow.close(incident.id, by="alice")
        assert closed.state == "closed"
        assert slack.room_messages(room["id"])[-1]["text"] == "Closed by alice"
        assert room["is_archived"]
        kinds = [e.type for e in flow.history(incident.id)]
        assert kinds.count("ChannelRequested") == kinds.count("ChannelOpened") == 1

    def test_a_p3_has_none_until_it_is_upgraded(self, rig: Rig) -> None:
        slack, flow = rig.slack, rig.flow
        incident = flow.trigger(Alert(source="datadog", name="Slow", title="Checkout errors"))
        assert flow.get(incident.id).incident_channel_name is None
        assert slack.conversations == {}
        flow.note(incident.id, "looking", by="alice")
        flow.reclassify(incident.id, "P1", by="alice")  # pages alice, opens the channel
        room = slack.named(NAME)
        assert room is not None
        assert slack.members[room["id"]] == [slack.bot_user, "U0ALICE01"]
        assert rig.alerts_thread() == [
            "alice: looking",
            "Severity P3 -&gt; P1 by alice",
            f"Incident channel: <#{room['id']}>",
        ]
        flow.reclassify(incident.id, "P3", by="alice")
        flow.reclassify(incident.id, "P1", by="alice")  # never a second channel
        assert len(slack.conversations) == 1
        assert slack.room_messages(room["id"])[-1]["text"] == "Severity P3 -&gt; P1 by alice"

    def test_channels_turned_on_while_an_incident_is_open(self) -> None:
        """It is opened by the next decision that may concern it (here an acknowledgement).

        A note concerns no channel: the incident stays in its thread until then.
        """
        chat = RecordingNotifier()
        before = attrs.evolve(POLICY, incident_channels=None)
        flow = IncidentFlow(before, notifier=chat, pager=RecordingNotifier(), clock=ManualClock(T0))
        incident = flow.trigger(ALERT)
        flow = IncidentFlow(  # restarted on the same store with channels on
            POLICY, store=flow.store, notifier=chat, pager=RecordingNotifier(), clock=flow.clock
        )
        flow.note(incident.id, "looking", by="alice")
        assert flow.get(incident.id).incident_channel_name is None
        assert "ChannelRequested" not in [e.type for e in flow.history(incident.id)]
        flow.acknowledge(incident.id, by="alice")
        assert flow.get(incident.id).incident_channel == f"C-{incident.id}"
        assert [m.kind for m in chat.messages] == ["notify", "update", "update", "channel"]

    def test_escalation_invites_the_next_level(self, rig: Rig) -> None:
        incident = rig.flow.trigger(ALERT)
        rig.clock.advance(timedelta(minutes=6))
        rig.flow.escalate_due()
        room = rig.slack.named(NAME)
        assert room is not None
        assert rig.slack.members[room["id"]][-1] == "U0CAROL03"
        assert rig.flow.get(incident.id).escalation_level == 1

    def test_the_commander_is_invited(self, rig: Rig) -> None:
        """Whoever takes a role on the incident is brought into its channel (issue 32)."""
        incident = rig.flow.trigger(ALERT)
        room = rig.slack.named(NAME)
        assert room is not None
        assert "U0CAROL03" not in rig.slack.members[room["id"]]
        rig.flow.assign(incident.id, "commander", "carol", by="alice")
        assert rig.slack.members[room["id"]][-1] == "U0CAROL03"
        rig.flow.assign(incident.id, "commander", "alice", by="carol")  # already in: no invite
        assert rig.slack.members[room["id"]].count("U0ALICE01") == 1


class TestFallingBack:
    """No channel of its own: the incident stays in its thread, which says why."""

    def test_a_name_taken_by_someone_else(self, rig: Rig) -> None:
        slack, flow = rig.slack, rig.flow
        theirs = slack.channel(NAME, creator="U0MALLORY")
        incident = flow.trigger(ALERT)
        incident = flow.get(incident.id)
        assert incident.incident_channel is None
        assert incident.incident_channel_error is not None
        assert "name_taken" in incident.incident_channel_error
        (said,) = rig.alerts_thread()
        assert said.startswith(f"Could not open the incident channel #{NAME} (")
        assert said.endswith("the incident stays in this thread")
        flow.note(incident.id, "still here", by="alice")
        flow.acknowledge(incident.id, by="alice")
        assert rig.alerts_thread()[1:] == ["alice: still here", "Acknowledged by alice"]
        assert slack.room_messages(theirs["id"]) == []
        assert slack.members[theirs["id"]] == ["U0MALLORY"]  # nobody invited there

    def test_a_refused_creation(self, rig: Rig) -> None:
        refused = Response('{"ok": false, "error": "restricted_action"}', status=200)
        incident = rig.flow.trigger(Alert(source="datadog", name="Slow", title="Checkout errors"))
        rig.slack.fail_method(
            "conversations.create", refused
        )  # a workspace that lets no app make channels
        rig.flow.reclassify(incident.id, "P1", by="alice")
        after = rig.flow.get(incident.id)
        assert after.incident_channel is None
        assert "restricted_action" in str(after.incident_channel_error)
        assert rig.alerts_thread()[-1].startswith(f"Could not open the incident channel #{NAME}")
        rig.flow.resolve(incident.id, by="alice")
        for item in rig.flow.get(incident.id).open_action_items:
            rig.flow.waive_action_item(incident.id, item.id, by="alice", reason="r")
        rig.flow.close(incident.id, by="alice")  # nothing to archive
        assert rig.slack.conversations == {}

    def test_a_slack_down_is_retried(self, rig: Rig) -> None:
        incident = rig.flow.trigger(Alert(source="datadog", name="Slow", title="Checkout errors"))
        rig.slack.fail_method(
            "conversations.create", SERVER_ERROR
        )  # conversations.create: not answered
        rig.flow.reclassify(incident.id, "P1", by="alice")
        assert rig.flow.get(incident.id).incident_channel is None
        # The chat is paused a few seconds after a failure: what it says waits until then.
        rig.clock.advance(timedelta(seconds=30))
        rig.flow.deliver_pending()
        room = rig.slack.named(NAME)
        assert room is not None
        assert rig.flow.get(incident.id).incident_channel == room["id"]
        assert rig.alerts_thread()[-1] == f"Incident channel: <#{room['id']}>"
        kinds = [(e.type, getattr(e, "kind", None)) for e in rig.flow.history(incident.id)]
        assert ("DeliveryFailed", "channel") in kinds  # the timeline shows the failed try
        assert len(rig.slack.conversations) == 1

    def test_a_chat_that_cannot_open_channels(self, make_flow: MakeFlow) -> None:
        chat = RecordingNotifier()
        del_rooms = _WithoutChannels()
        flow = make_flow(POLICY, notifier=del_rooms, pager=chat, clock=ManualClock(T0))
        incident = flow.get(flow.trigger(ALERT).id)
        assert incident.incident_channel_error == "the chat notifier cannot open channels"
        assert [m.kind for m in del_rooms.messages] == ["notify", "update"]

    def test_a_team_hears_it_in_its_own_channel(self, make_flow: MakeFlow) -> None:
        """The line saying the channel could not be opened goes where the team's incidents go."""
        policy = attrs.evolve(
            POLICY, teams=(Team(name="shop", chat_channel="C-SHOP"),), default_team="shop"
        )
        chat = _WithoutChannels()
        flow = make_flow(policy, notifier=chat, pager=RecordingNotifier(), clock=ManualClock(T0))
        incident = flow.trigger(ALERT)
        notify, said = chat.messages
        assert (notify.kind, notify.channel) == ("notify", "C-SHOP")
        assert (said.kind, said.channel) == ("update", "C-SHOP")
        assert said.thread == flow.get(incident.id).chat_thread  # the incident's thread there
        assert said.text.startswith("Could not open the incident channel #")
        assert said.text.endswith(
            "(the chat notifier cannot open channels): the incident stays in this thread"
        )
        assert flow.get(incident.id).incident_channel_error is not None

    @pytest.mark.parametrize("opened", [True, False])
    def test_a_channel_answered_twice_is_recorded_once(self, opened: bool) -> None:
        """The channel message delivered again (resent after its claim ran out) changes nothing."""
        chat = _WithoutChannels() if not opened else RecordingNotifier()
        flow = IncidentFlow(POLICY, notifier=chat, pager=RecordingNotifier(), clock=ManualClock(T0))
        incident = flow.get(flow.trigger(ALERT).id)
        assert (incident.incident_channel is not None) is opened
        (message,) = [m for m in flow.store.outbox_messages(incident.id) if m.kind == "channel"]
        for receipt in (f"C-OTHER:{message.id}", "not-opened:name_taken"):
            again = decide_outcomes(incident, [Outcome(message, receipt=receipt)], T0, POLICY)
            assert [e.type for e in again.events] == ["MessageDelivered"]
            assert [m.id for m in again.outbox] == [message.id]  # settled, nothing said
            assert again.incident.incident_channel == incident.incident_channel
            assert again.incident.incident_channel_error == incident.incident_channel_error

    def test_invites_wait_for_the_channel_and_end_with_it(self, make_flow: MakeFlow) -> None:
        """An acknowledgement before the channel is open is invited once it is."""
        chat = _SlowRooms()
        clock = ManualClock(T0)
        flow = make_flow(POLICY, notifier=chat, pager=RecordingNotifier(), clock=clock)
        incident = flow.trigger(ALERT)
        flow.acknowledge(incident.id, by="carol")  # the channel failed once: not open yet
        assert [m.kind for m in chat.messages if m.kind == "invite"] == []
        clock.advance(timedelta(seconds=30))
        flow.deliver_pending()
        (invite,) = [m for m in chat.messages if m.kind == "invite"]
        assert invite.to == ("U0CAROL03",)
        assert invite.room == f"C-{incident.id}"

    @pytest.mark.parametrize("refused", [False, True])
    def test_an_invitation_waiting_in_another_batch(
        self, make_flow: MakeFlow, refused: bool
    ) -> None:
        """Delivered one at a time: the invitation reads the channel (or its refusal) back."""
        chat = _SlowRooms()
        chat.refuse = refused
        clock = ManualClock(T0)
        flow = make_flow(POLICY, notifier=chat, pager=RecordingNotifier(), clock=clock)
        incident = flow.trigger(ALERT)
        clock.advance(timedelta(seconds=10))  # the chat's pause after the failure is over
        flow.acknowledge(incident.id, by="carol")  # its invitation waits for the channel
        waited = [e for e in flow.history(incident.id) if getattr(e, "kind", "") == "invite"]
        assert [e.type for e in waited] == ["DeliveryFailed"]
        assert "not open yet" in waited[0].error  # type: ignore[attr-defined]
        clock.advance(timedelta(seconds=30))
        while flow.deliver_pending(limit=1, batches=1):
            pass
        after = flow.get(incident.id)
        invites = [m for m in chat.messages if m.kind == "invite"]
        if refused:
            assert after.incident_channel_error is not None
            assert invites == []  # nothing to invite to: settled without a call
            pending = [m for m in flow.store.outbox_messages(incident.id) if m.pending]
            assert pending == []
        else:
            assert [(m.room, m.to) for m in invites] == [(f"C-{incident.id}", ("U0CAROL03",))]


class _WithoutChannels(RecordingNotifier):
    """A chat that cannot open channels (it has no ``incident_channel``)."""

    incident_channel = None  # type: ignore[assignment]

    def __getattribute__(self, name: str) -> Any:
        if name == "incident_channel":
            raise AttributeError(name)
        return super().__getattribute__(name)


class _SlowRooms(RecordingNotifier):
    """Its first attempt at opening a channel fails (Slack did not answer)."""

    failed = False
    refuse = False  # after the first failure, refuse for good (a name taken)

    def incident_channel(self, message: Any) -> str | None:
        if message.kind == "channel" and not self.failed:
            self.failed = True
            raise ConnectionError("Slack did not answer")
        if message.kind == "channel" and self.refuse:
            raise DeliveryError("Slack conversations.create: name_taken", permanent=True)
        return super().incident_channel(message)


class _CrashAfterSending(PostgresStore):
    """Dies (once) when recording that a channel was opened: sent, never recorded."""

    crashed = False

    def append_all(self, appends: Any, **kw: Any) -> None:
        if not self.crashed and any(
            e.type == "MessageDelivered" and e.kind == "channel" for a in appends for e in a.events
        ):
            type(self).crashed = True
            raise StorageError("the process died here")
        super().append_all(appends, **kw)

    def append(self, incident_id: str, expected_version: int, events: Any, **kw: Any) -> None:
        if not self.crashed and any(
            e.type == "MessageDelivered" and e.kind == "channel" for e in events
        ):
            type(self).crashed = True
            raise StorageError("the process died here")
        super().append(incident_id, expected_version, events, **kw)


@pytest.fixture
def schema(postgres_dsn: str) -> Iterator[str]:
    with pg_schema(postgres_dsn) as name:
        yield name


def _replica(store: PostgresStore, slack: FakeSlack, clock: ManualClock) -> IncidentFlow:
    notifier = SlackNotifier(
        token=TOKEN,
        channel=CHANNEL,
        api_url=slack.api_url,
        client=HttpClient(sleep=lambda _: None, timeout=5),
    )
    return IncidentFlow(
        POLICY, store=store, notifier=notifier, pager=RecordingNotifier(), clock=clock
    )


class TestTwoReplicas:
    """Two replicas on one PostgreSQL store open one channel, whatever was lost."""

    def test_an_answer_lost_on_its_way_back(
        self, slack: FakeSlack, postgres_dsn: str, schema: str
    ) -> None:
        clock = ManualClock(T0)
        with (
            PostgresStore(postgres_dsn, schema=schema) as one,
            PostgresStore(postgres_dsn, schema=schema) as two,
        ):
            first, second = _replica(one, slack, clock), _replica(two, slack, clock)
            slack.lose_create.append(SERVER_ERROR)  # Slack made it; the answer never came
            incident = first.trigger(ALERT)
            assert first.get(incident.id).incident_channel is None
            clock.advance(timedelta(seconds=30))
            assert second.deliver_pending() >= 1  # the other replica retries it
            room = slack.named(NAME)
            assert room is not None
            assert len(slack.conversations) == 1
            assert first.get(incident.id).incident_channel == room["id"]
            assert second.get(incident.id).incident_channel == room["id"]
            assert len(slack.room_messages(room["id"])) == 1
            assert first.deliver_pending() == 0

    def test_a_replica_dying_after_it_opened(
        self, slack: FakeSlack, postgres_dsn: str, schema: str
    ) -> None:
        """Opened, furnished and pointed to, then dead before recording: found, not redone."""
        clock = ManualClock(T0)
        _CrashAfterSending.crashed = False
        with (
            _CrashAfterSending(postgres_dsn, schema=schema) as dying,
            PostgresStore(postgres_dsn, schema=schema) as alive,
        ):
            first, second = _replica(dying, slack, clock), _replica(alive, slack, clock)
            incident = first.trigger(ALERT)
            assert _CrashAfterSending.crashed
            room = slack.named(NAME)
            assert room is not None
            clock.advance(timedelta(minutes=2))  # the dead sender's claim runs out
            second.deliver_pending()
            assert second.get(incident.id).incident_channel == room["id"]
            assert len(slack.conversations) == 1
            assert len(slack.room_messages(room["id"])) == 1  # found by its metadata
            (parent,) = [m for m in slack.top_level() if m["channel"] == CHANNEL]
            assert len(slack.thread(parent["ts"])) == 1  # one pointer
            assert slack.members[room["id"]].count("U0ALICE01") == 1


class TestTheInviteHook:
    """``rooms_decide.invite``: what a decision (a commander assigned) calls to bring people in."""

    def _draft(self, **fields: Any) -> Draft:
        incident = fold(None, sample_history()[:3])
        return Draft(attrs.evolve(incident, **fields), T0, "alice")

    def test_invites_known_people_to_an_asked_for_channel(self) -> None:
        draft = self._draft(incident_channel_name=NAME)
        invite(draft, POLICY, ["carol", "slack:U0DAVE004", "nobody", None, "slack:not-an-id"])
        ((channel, kind, text, to, *_),) = draft.messages
        assert (channel, kind, to) == ("chat", "invite", ("U0CAROL03", "U0DAVE004"))
        assert text == "Inviting U0CAROL03, U0DAVE004"

    def test_a_channel_asked_for_in_the_same_decision_is_invited_to(self) -> None:
        draft = self._draft()
        draft.add(ev.ChannelRequested, name=NAME)
        invite(draft, POLICY, ["carol"])
        assert [(m[1], m[3]) for m in draft.messages] == [("invite", ("U0CAROL03",))]

    @pytest.mark.parametrize(
        "fields",
        [{}, {"incident_channel_name": NAME, "incident_channel_error": "name_taken"}],
    )
    def test_nothing_without_a_channel(self, fields: dict[str, Any]) -> None:
        draft = self._draft(**fields)
        invite(draft, POLICY, ["carol"])
        assert draft.messages == []

    def test_nothing_for_people_without_slack(self) -> None:
        draft = self._draft(incident_channel_name=NAME)
        invite(draft, POLICY, ["bob"])
        assert draft.messages == []


class TestStrangers:
    """Outside text and other people's channels cannot steer where the incident goes."""

    def test_a_title_naming_an_existing_channel(
        self, make_flow: MakeFlow, slack: FakeSlack
    ) -> None:
        """``{slug}`` alone and a title of ``General``: #general is not ours, never used."""
        general = slack.channel("general", creator="U0ADMIN01", is_general=True)
        policy = Policy(
            incident_channels=IncidentChannels(name="{slug}"),
            people=POLICY.people,
            escalation=POLICY.escalation,
        )
        rig = Rig(make_flow, slack, policy)
        title = "<!channel> General 🔥\u202e"
        incident = rig.flow.trigger(Alert(source="x", name="n", title=title, severity=Severity.P1))
        after = rig.flow.get(incident.id)
        assert after.incident_channel_name == "channel-general"
        room = slack.named("channel-general")
        assert room is not None  # its own, named from the slug
        assert slack.room_messages(general["id"]) == []
        first = next(m for m in slack.top_level() if m["channel"] == CHANNEL)
        signpost = slack.latest(first["ts"])
        assert "<!channel>" not in signpost["text"]  # outside text stays text, pings nobody
        assert "&lt;!channel&gt;" in signpost["text"]

        pressed = rig.flow.trigger(
            Alert(source="x", name="m", title="general", severity=Severity.P1, dedup_key="k2")
        )
        refused = rig.flow.get(pressed.id)
        assert refused.incident_channel is None
        assert "name_taken" in str(refused.incident_channel_error)
        assert slack.room_messages(general["id"]) == []
        assert slack.members[general["id"]] == ["U0ADMIN01"]


class TestReassigned:
    """A reassigned incident keeps talking in its own channel."""

    def test_the_channel_stays(self, make_flow: MakeFlow) -> None:
        policy = Policy(
            teams=(
                Team(name="shop", chat_channel="C-SHOP"),
                Team(name="pay", chat_channel="C-PAY"),
            ),
            default_team="shop",
            incident_channels=IncidentChannels(),
        )
        chat = RecordingNotifier()
        flow = make_flow(policy, notifier=chat, pager=RecordingNotifier(), clock=ManualClock(T0))
        incident = flow.trigger(ALERT)
        room = flow.get(incident.id).chat_thread
        assert room is not None and room.startswith(f"C-{incident.id}:")
        flow.reassign(incident.id, "pay", by="alice")
        flow.note(incident.id, "over to payments", by="alice")
        assert flow.get(incident.id).chat_thread == room
        note = chat.of(incident.id, "update")[-1]
        assert (note.thread, note.room) == (room, f"C-{incident.id}")
        notify = chat.of(incident.id, "notify")[-1]
        assert notify.channel == "C-PAY"  # the new team's channel hears of it


def test_the_async_flow_on_the_async_notifier(slack: FakeSlack) -> None:
    """AsyncIncidentFlow awaits AsyncSlackNotifier.incident_channel (no thread in between)."""
    with LoopThread() as loop:
        notifier = AsyncSlackNotifier(
            token=TOKEN,
            channel=CHANNEL,
            api_url=slack.api_url,
            client=AsyncHttpClient(sleep=_no_sleep, timeout=5),
        )
        flow = Blocking(
            AsyncIncidentFlow(
                POLICY, notifier=notifier, pager=RecordingNotifier(), clock=ManualClock(T0)
            ),
            loop,
        )
        incident = flow.trigger(ALERT)
        flow.note(incident.id, "on it", by="alice")
        room = slack.named(NAME)
        assert room is not None
        assert flow.get(incident.id).incident_channel == room["id"]
        assert [m["text"] for m in slack.room_messages(room["id"])][1:] == ["alice: on it"]
        loop.run(notifier.aclose())


async def _no_sleep(seconds: float) -> None:
    return None
