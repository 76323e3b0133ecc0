"""The outbox: deliveries after commit, failures kept pending with backoff, leases, crashes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from incident_flow import (
    Alert,
    DeliveryError,
    IncidentFlow,
    InvalidTransition,
    LogNotifier,
    MemoryStore,
    Notification,
    Policy,
    RecordingNotifier,
    StorageError,
)
from incident_flow._core.messages import backoff
from incident_flow.testing import ManualClock, RecordingPublisher, capture_events

from .conftest import T0, MakeFlow

P1 = Alert(source="datadog", name="CheckoutHighErrorRate", title="Checkout errors", severity="P1")


class Flaky(RecordingNotifier):
    """Fails while ``down`` is set, with the given error."""

    def __init__(self, error: Exception | None = None) -> None:
        super().__init__()
        self.down = error is not None
        self.error = error or RuntimeError("down")

    def send(self, message: Notification) -> str | None:
        if self.down:
            raise self.error
        return super().send(message)


_MAKE_FLOW: dict[str, MakeFlow] = {"make": IncidentFlow}


@pytest.fixture(autouse=True)
def _both_drivers(make_flow: MakeFlow, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test here runs under the sync and the async driver (make() builds the flow)."""
    monkeypatch.setitem(_MAKE_FLOW, "make", make_flow)


def make(
    chat: RecordingNotifier | None = None,
    store: MemoryStore | None = None,
    publisher: object = None,
) -> tuple[IncidentFlow, ManualClock]:
    clock = ManualClock(T0)
    flow = _MAKE_FLOW["make"](
        Policy(),
        store=store or MemoryStore(),
        notifier=chat or RecordingNotifier(),
        pager=RecordingNotifier(),
        publisher=publisher or RecordingPublisher(),  # type: ignore[arg-type]
        clock=clock,
    )
    return flow, clock


class TestFailures:
    """A failed delivery never fails the command; it stays pending and is retried."""

    def test_failure_is_recorded_and_retried(self) -> None:
        chat = Flaky(RuntimeError("slack is down"))
        flow, clock = make(chat)
        incident = flow.trigger(P1)
        assert incident.state == "notified" and incident.paged_at == T0
        (failed,) = [e for e in flow.history(incident.id) if e.type == "DeliveryFailed"]
        assert failed.type == "DeliveryFailed"
        assert (failed.kind, failed.attempts) == ("notify", 1)  # type: ignore[attr-defined]
        assert failed.error == "RuntimeError: slack is down"  # type: ignore[attr-defined]
        assert failed.next_attempt_at == T0 + timedelta(seconds=5)  # type: ignore[attr-defined]
        assert flow.deliver_pending() == 0
        chat.down = False
        assert flow.deliver_pending() == 0  # not due yet
        clock.advance(5)
        assert flow.deliver_pending() == 1
        delivered = flow.history(incident.id)[-1]
        assert delivered.type == "MessageDelivered"
        assert delivered.attempts == 2  # type: ignore[attr-defined]
        assert [m.kind for m in chat.messages] == ["notify"]
        assert flow.deliver_pending() == 0

    def test_retry_after_is_honoured(self) -> None:
        chat = Flaky(DeliveryError("rate limited", retry_after=120))
        flow, clock = make(chat)
        incident = flow.trigger(P1)
        (failed,) = [e for e in flow.history(incident.id) if e.type == "DeliveryFailed"]
        assert failed.next_attempt_at == T0 + timedelta(seconds=120)  # type: ignore[attr-defined]
        chat.down = False
        clock.advance(119)
        assert flow.deliver_pending() == 0
        clock.advance(1)
        assert flow.deliver_pending() == 1

    def test_backoff_doubles_up_to_a_cap(self) -> None:
        assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
        assert backoff(30) == timedelta(minutes=15)
        assert backoff(1, retry_after=2) == timedelta(seconds=5)
        assert backoff(1, retry_after=60) == timedelta(seconds=60)

    def test_repeated_failures_back_off(self) -> None:
        chat = Flaky(RuntimeError("down"))
        flow, clock = make(chat)
        incident = flow.trigger(P1)
        for _ in range(3):
            clock.advance(timedelta(hours=1))
            assert flow.deliver_pending() == 0
        failures = [e for e in flow.history(incident.id) if e.type == "DeliveryFailed"]
        assert [f.attempts for f in failures] == [1, 2, 3, 4]  # type: ignore[attr-defined]
        gaps = [f.next_attempt_at - f.at for f in failures]  # type: ignore[attr-defined]
        assert [g.total_seconds() for g in gaps] == [5, 10, 20, 40]

    def test_failed_publish_blocks_close_until_saved(self, tmp_path: Path) -> None:
        publisher = RecordingPublisher()
        calls = {"n": 0}
        original = publisher.publish

        def flaky_publish(document: object) -> str:
            calls["n"] += 1
            if calls["n"] == 1:
                raise DeliveryError("git push rejected")
            return original(document)  # type: ignore[arg-type]

        publisher.publish = flaky_publish  # type: ignore[method-assign]
        flow, clock = make(publisher=publisher)
        incident = flow.trigger(P1)
        flow.resolve(incident.id, by="alice")
        flow.start_postmortem(
            incident.id, author="alice", impact="checkout failed", root_cause="a bad deploy"
        )
        flow.submit_postmortem(incident.id, by="alice")
        flow.approve_postmortem(incident.id, reviewer="bob")
        approved = flow.approve_postmortem(incident.id, reviewer="carol")
        # Published means saved: until the save goes through it stays in its post-mortem.
        assert approved.state == "postmortem"
        assert approved.postmortem is not None and approved.postmortem.location is None
        flow.waive_action_item(incident.id, "AI-1", by="alice", reason="runbook lives elsewhere")
        with pytest.raises(InvalidTransition):
            flow.close(incident.id, by="alice")
        clock.advance(5)
        assert flow.deliver_pending() == 2  # the post-mortem, then its link in the thread
        saved = flow.get(incident.id)
        assert saved.state == "runbook_update"
        assert saved.postmortem is not None and saved.postmortem.location is not None
        assert flow.close(incident.id, by="alice").state == "closed"


class TestWarningsOncePerCause:
    """A failure is a warning once per incident, channel and cause, not once per retry."""

    def test_retries_for_the_same_cause_are_not_warned_again(self) -> None:
        refused = DeliveryError("Slack chat.postMessage: channel_not_found", permanent=True)
        chat = Flaky(refused)  # refused, not down: the channel is not paused, so all retry
        flow, clock = make(chat)
        with capture_events() as logs:
            incident = flow.trigger(P1)
            clock.advance(1)
            flow.acknowledge(incident.id, by="alice")  # its update waits for the first message
            for _ in range(6):
                clock.advance(timedelta(minutes=1))
                flow.deliver_pending()
        failed = [e for e in logs if e["event"] == "incident_flow.delivery_failed"]
        warned = [(e["kind"], e["error"]) for e in failed if e["log_level"] == "warning"]
        first_not_out = "DeliveryError: the incident's first chat message is not out yet"
        assert [kind for kind, _ in warned] == ["notify", "update"]
        assert warned[1][1].startswith(first_not_out)
        # Tried again and again, said again only at DEBUG.
        assert sum(e["kind"] == "update" for e in failed) > 2
        assert sum(e["kind"] == "notify" for e in failed) > 2
        assert {e["log_level"] for e in failed[2:]} == {"debug"}
        assert all(e["retry_at"] for e in failed)  # every one says when it is tried next

    def test_a_recovery_is_said_and_a_new_failure_is_news_again(self) -> None:
        chat = Flaky(RuntimeError("slack is down"))
        flow, clock = make(chat)
        with capture_events() as logs:
            incident = flow.trigger(P1)
            clock.advance(timedelta(minutes=1))
            flow.deliver_pending()  # the same cause: not warned again
            chat.down = False
            clock.advance(timedelta(minutes=1))
            flow.deliver_pending()
            chat.down = True
            flow.acknowledge(incident.id, by="alice")  # down again: news
        said = [
            (e["event"], e["log_level"], e["kind"], e.get("recovered"))
            for e in logs
            if "deliver" in e["event"] and e["channel"] == "chat"
        ]
        assert said == [
            ("incident_flow.delivery_failed", "warning", "notify", None),
            ("incident_flow.delivery_failed", "debug", "notify", None),
            ("incident_flow.delivered", "info", "notify", True),
            ("incident_flow.delivery_failed", "warning", "update", None),
        ]

    def test_the_http_status_and_the_next_attempt_are_said(self) -> None:
        chat = Flaky(DeliveryError("Slack chat.postMessage: HTTP 500: oops", status=500))
        flow, _ = make(chat)
        with capture_events() as logs:
            flow.trigger(P1)
        (failed,) = [e for e in logs if e["event"] == "incident_flow.delivery_failed"]
        assert failed["status"] == 500 and failed["channel"] == "chat"
        assert failed["retry_at"] == (T0 + timedelta(seconds=5)).isoformat(timespec="seconds")


class FailingRecordStore(MemoryStore):
    """Fails the append that records a delivery, once: a crash between send and record."""

    fail_next_delivery_record = True

    def append(self, incident_id, expected_version, events, **kwargs):  # type: ignore[no-untyped-def]
        self._maybe_fail(events)
        super().append(incident_id, expected_version, events, **kwargs)

    def append_all(self, appends, **kwargs):  # type: ignore[no-untyped-def]
        # Outcomes are recorded through append_all (without a disk flush of their own).
        self._maybe_fail([e for one in appends for e in one.events])
        super().append_all(appends, **kwargs)

    def _maybe_fail(self, events):  # type: ignore[no-untyped-def]
        if self.fail_next_delivery_record and any(e.type == "MessageDelivered" for e in events):
            self.fail_next_delivery_record = False
            raise StorageError("disk full")


class TestLeasesAndCrashes:
    """Several senders never deliver one message twice; a crashed sender's claim expires."""

    def test_a_claimed_message_waits_for_its_lease(self) -> None:
        chat = Flaky(RuntimeError("down"))
        flow, clock = make(chat)
        flow.trigger(P1)
        chat.down = False
        clock.advance(5)
        crashed = flow.store.claim_due(clock.now(), lease=timedelta(seconds=60))
        assert len(crashed) == 1
        assert flow.deliver_pending() == 0
        clock.advance(61)
        assert flow.deliver_pending() == 1
        assert [m.kind for m in chat.messages] == ["notify"]

    def test_crash_between_send_and_record_resends_with_the_same_key(self) -> None:
        chat = RecordingNotifier()
        store = FailingRecordStore()
        flow, clock = make(chat, store)
        with capture_events() as logs:
            incident = flow.trigger(P1)  # the command itself was committed: no error
        assert incident.state == "notified"
        assert [e["event"] for e in logs if e["log_level"] == "error"] == [
            "incident_flow.delivery_not_recorded"
        ]
        assert chat.sends == 1
        assert flow.deliver_pending() == 0  # still leased to the "crashed" sender
        clock.advance(timedelta(minutes=2))
        assert flow.deliver_pending() == 2  # the page and the Slack message
        assert chat.sends == 2
        assert [m.kind for m in chat.messages] == ["notify"]  # the receiver saw it once
        keys = {m.idempotency_key for m in chat.messages}
        assert keys == {f"{incident.id}/1/chat/notify"}


class TestLogNotifier:
    """The default channel writes log events and never fails."""

    def test_logs_each_message(self) -> None:
        flow = IncidentFlow(publisher=RecordingPublisher(), clock=ManualClock(T0))
        with capture_events() as logs:
            incident = flow.trigger(P1)
        sent = [e for e in logs if e["event"] == "incident_flow.notify"]
        # Pages first (invariant 12): the page never waits behind the chat message.
        assert [(e["channel"], e["kind"]) for e in sent] == [("pager", "page"), ("chat", "notify")]
        assert all(e["incident_id"] == incident.id for e in sent)
        assert repr(LogNotifier()) == "LogNotifier(channel='chat')"


class TestBatches:
    """deliver_pending can stop after a number of claims (a worker's turn)."""

    def test_one_batch(self) -> None:
        chat = Flaky(RuntimeError("down"))
        flow, clock = make(chat)
        for n in range(5):
            flow.trigger(Alert(source="s", name=f"n{n}", title="t", severity="P4"))
        chat.down = False
        clock.advance(5)
        assert flow.deliver_pending(limit=2, batches=1) == 2
        assert flow.deliver_pending(limit=2) == 3
