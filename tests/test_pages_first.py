"""Pages never wait (issue 27): the pager first; a failing chat is paused, not retried per message.

Invariant 12: a page is never delivered later than, or blocked by, a delivery to another
channel. A chat that keeps failing (Slack hanging: every call a timeout) costs one attempt per
cool-down, not one per message; its messages stay pending, say so, and go out once it answers.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from incident_flow import (
    Alert,
    DeliveryError,
    IncidentFlow,
    MemoryStore,
    Notification,
    Policy,
    RecordingNotifier,
)
from incident_flow.testing import ManualClock, RecordingPublisher

from .conftest import T0, MakeFlow


class Journal:
    """What every channel was asked to send, in order, across channels."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []


class Channel(RecordingNotifier):
    """A recording channel that writes each attempt to the shared journal; may be down."""

    def __init__(self, name: str, journal: Journal) -> None:
        super().__init__()
        self.name = name
        self.journal = journal
        self.error: Exception | None = None

    def send(self, message: Notification) -> str | None:
        self.journal.calls.append((self.name, message.incident_id, message.kind))
        if self.error is not None:
            raise self.error
        return super().send(message)


def alerts(n: int) -> list[Alert]:
    return [
        Alert(source="alertmanager", name=f"Down{i}", title=f"service {i} down", severity="P1")
        for i in range(n)
    ]


@pytest.fixture
def world(make_flow: MakeFlow) -> tuple[IncidentFlow, ManualClock, Channel, Channel, Journal]:
    journal = Journal()
    chat, pager = Channel("chat", journal), Channel("pager", journal)
    clock = ManualClock(T0)
    flow = make_flow(
        Policy(),
        store=MemoryStore(),
        notifier=chat,
        pager=pager,
        publisher=RecordingPublisher(),
        clock=clock,
    )
    return flow, clock, chat, pager, journal


class TestPagesFirst:
    """In every batch the pages go out before any chat message."""

    def test_twenty_p1s_in_one_body_are_paged_before_any_chat_message(
        self, world: tuple[IncidentFlow, ManualClock, Channel, Channel, Journal]
    ) -> None:
        flow, _, chat, pager, journal = world
        opened = flow.trigger_all(alerts(20))
        channels = [name for name, _, _ in journal.calls]
        assert channels == ["pager"] * 20 + ["chat"] * 20
        assert {m.incident_id for m in pager.messages} == {i.id for i in opened if i}
        assert len(chat.messages) == 20


class TestADeadChatIsPaused:
    """A chat that fails is tried once per cool-down; the pages never wait for it."""

    def test_slack_hanging_costs_one_attempt_and_every_page_goes_out(
        self, world: tuple[IncidentFlow, ManualClock, Channel, Channel, Journal]
    ) -> None:
        flow, clock, chat, pager, journal = world
        chat.error = DeliveryError("Slack chat.postMessage: timed out after 10 s")
        opened = [i for i in flow.trigger_all(alerts(20)) if i is not None]
        assert len(pager.messages) == 20  # every page out
        assert [name for name, _, _ in journal.calls].count("chat") == 1  # one timeout, not 20
        for incident in opened:
            failed = [e for e in flow.history(incident.id) if e.type == "DeliveryFailed"]
            assert len(failed) == 1  # each says why it is still pending
        skipped = [
            e.error  # type: ignore[attr-defined]
            for i in opened
            for e in flow.history(i.id)
            if e.type == "DeliveryFailed" and "paused" in e.error  # type: ignore[attr-defined]
        ]
        assert len(skipped) == 19 and "timed out after 10 s" in skipped[0]
        # Slack answers again: after the cool-down every first message goes out, once each.
        chat.error = None
        clock.advance(timedelta(seconds=6))
        flow.deliver_pending()
        assert sorted(m.incident_id for m in chat.messages) == sorted(i.id for i in opened)
        assert len(pager.messages) == 20  # and nobody was paged twice

    def test_the_cool_down_doubles_while_it_keeps_failing(
        self, world: tuple[IncidentFlow, ManualClock, Channel, Channel, Journal]
    ) -> None:
        flow, clock, chat, _, journal = world
        chat.error = DeliveryError("Slack chat.postMessage: 503")
        flow.trigger_all(alerts(3))
        tries = [1]
        for _ in range(3):
            clock.advance(timedelta(seconds=5))
            flow.deliver_pending()
            tries.append([n for n, _, _ in journal.calls].count("chat"))
        # 5 s after the first failure: one try (fails, paused 10 s); 5 s later still paused;
        # 10 s after the second failure: one more try.
        assert tries == [1, 2, 2, 3]

    def test_a_refused_message_does_not_pause_the_channel(
        self, world: tuple[IncidentFlow, ManualClock, Channel, Channel, Journal]
    ) -> None:
        flow, _, chat, _, journal = world
        chat.error = DeliveryError("Slack: invalid_blocks", permanent=True)
        flow.trigger_all(alerts(3))
        assert [n for n, _, _ in journal.calls].count("chat") == 3  # each one tried

    def test_a_delivery_that_goes_through_ends_the_pause(
        self, world: tuple[IncidentFlow, ManualClock, Channel, Channel, Journal]
    ) -> None:
        flow, clock, chat, _, _ = world
        chat.error = DeliveryError("Slack: 500")
        first = flow.trigger(alerts(1)[0])
        chat.error = None
        clock.advance(timedelta(seconds=5))
        flow.deliver_pending()  # the pause is over: tried, delivered
        second = flow.trigger(alerts(2)[1])
        assert {m.incident_id for m in chat.messages} == {first.id, second.id}
