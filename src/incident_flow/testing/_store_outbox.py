"""The outbox: claims, leases, renewals and takeover, racing claimers, a flow replayed.

Part of :class:`incident_flow.testing.contracts.StoreContract`; run through it.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import attrs
import pytest

from .._core import events as ev
from .._core.alerts import Alert
from .._core.incident import fold
from .._core.severity import Severity
from ..adapters.stores.threaded import as_async_store
from ..ports import (
    AsyncEventStore,
    EventStore,
)
from ._async import Blocking, _loop, as_driven, flow_for
from ._contract_data import _ALERT, T0, _Drivers, _message, _note, _opened, _recorders
from ._doubles import ManualClock, RecordingPublisher


class StoreOutboxContract(_Drivers):
    """The outbox: claims, leases, renewals and takeover, racing claimers, a flow replayed."""

    def test_outbox_messages_are_claimed_when_due(self, port: EventStore) -> None:
        """A message is claimable once next_attempt_at has come, and only then."""
        events, incident = _opened("i1")
        later = _message("i1", 2, next_attempt_at=T0 + timedelta(minutes=5))
        port.append("i1", 0, events, snapshot=incident, outbox=[_message("i1", 1), later])
        lease = timedelta(seconds=30)
        assert [m.id for m in port.claim_due(T0, lease=lease)] == ["i1/1/chat/update"]
        assert port.claim_due(T0 + timedelta(seconds=10), lease=lease) == []
        due = port.claim_due(T0 + timedelta(minutes=5), lease=lease)
        # The first one's lease ran out meanwhile: it is due again, oldest first.
        assert [m.id for m in due] == ["i1/1/chat/update", "i1/2/chat/update"]
        assert due[1] == later

    def test_a_claim_holds_until_its_lease_expires(self, port: EventStore) -> None:
        """A claimed message is not handed out again until the lease runs out."""
        events, incident = _opened("i1")
        port.append("i1", 0, events, snapshot=incident, outbox=[_message("i1", 1)])
        lease = timedelta(seconds=30)
        assert len(port.claim_due(T0, lease=lease)) == 1
        assert port.claim_due(T0 + timedelta(seconds=29), lease=lease) == []
        assert len(port.claim_due(T0 + timedelta(seconds=31), lease=lease)) == 1

    def test_a_lapsed_claim_is_handed_out_as_reclaimed(self, port: EventStore) -> None:
        """A message whose sender's lease ran out unrecorded comes back flagged reclaimed."""
        events, incident = _opened("i1")
        port.append(
            "i1",
            0,
            events,
            snapshot=incident,
            outbox=[_message("i1", 1), _message("i1", 2)],
            claimed_until=T0 + timedelta(seconds=30),
        )
        assert port.claim_due(T0, lease=timedelta(seconds=30)) == []
        later = port.claim_due(T0 + timedelta(minutes=1), lease=timedelta(seconds=30))
        assert [(m.id, m.reclaimed) for m in later] == [
            ("i1/1/chat/update", True),
            ("i1/2/chat/update", True),
        ]
        fresh, _ = _opened("i2", key="k2")
        port.append("i2", 0, fresh, snapshot=fold(None, fresh), outbox=[_message("i2", 1)])
        (new,) = port.claim_due(T0, lease=timedelta(seconds=30), ids=["i2/1/chat/update"])
        assert not new.reclaimed

    def _renewing(self, port: EventStore) -> Any:
        if not getattr(port, "renews_claims", hasattr(port, "renew_claims")):
            pytest.skip("this store renews no claims (ports.ClaimRenewal is optional)")
        return port

    def test_a_renewed_claim_holds_until_its_renewal_runs_out(self, port: EventStore) -> None:
        """renew_claims moves a live sender's claim on; unrenewed, it lapses a hold later."""
        renewing = self._renewing(port)
        events, incident = _opened("i1")
        hold = timedelta(seconds=3)
        port.append(
            "i1", 0, events, snapshot=incident, outbox=[_message("i1", 1)], claimed_until=T0 + hold
        )
        renewing.renew_claims(["i1/1/chat/update"], until=T0 + timedelta(seconds=5))
        assert port.claim_due(T0 + timedelta(seconds=4), lease=hold) == []
        # Its sender died: nobody renews it, and it is taken over, flagged as maybe sent.
        later = port.claim_due(T0 + timedelta(seconds=5), lease=hold)
        assert [(m.id, m.reclaimed) for m in later] == [("i1/1/chat/update", True)]

    def test_a_renewal_never_shortens_frees_nor_takes_a_message(self, port: EventStore) -> None:
        """Only claimed, pending messages are renewed, and never to an earlier time."""
        renewing = self._renewing(port)
        events, incident = _opened("i1")
        retry = _message("i1", 2, attempts=1)  # a failed attempt's retry: not claimed
        port.append(
            "i1",
            0,
            events,
            snapshot=incident,
            outbox=[_message("i1", 1), retry],
            claimed_until=T0 + timedelta(seconds=30),
        )
        renewing.renew_claims(
            ["i1/1/chat/update", retry.id, "nobody/1/chat/update"], until=T0 + timedelta(seconds=3)
        )
        renewing.renew_claims([], until=T0 + timedelta(hours=1))
        # The retry stays free; the claim keeps its 30 s (not cut to 3).
        assert [m.id for m in port.claim_due(T0, lease=timedelta(days=1))] == [retry.id]
        assert port.claim_due(T0 + timedelta(seconds=29), lease=timedelta(seconds=3)) == []
        (claimed,) = port.claim_due(T0 + timedelta(seconds=31), lease=timedelta(seconds=3))
        done = ev.MessageDelivered(
            version=4, at=T0, message_id=claimed.id, channel="chat", kind="update", attempts=1
        )
        settled = attrs.evolve(claimed, attempts=1, delivered_at=T0)
        port.append("i1", 3, [done], snapshot=fold(incident, [done]), outbox=[settled])
        renewing.renew_claims([claimed.id], until=T0 + timedelta(days=2))
        # Delivered, it is not brought back by a renewal.
        assert [m.id for m in port.claim_due(T0 + timedelta(days=3), lease=timedelta(1))] == [
            retry.id
        ]

    def _killed_after_commit(
        self, driver: str, request: pytest.FixtureRequest, store: Any, clock: ManualClock
    ) -> tuple[Any, Any, Any]:
        """A renewing flow (a worker's) that commits a P1 and dies before it sends anything.

        Returns the flow, its chat and its pager.
        """
        chat, pager = _recorders()
        flow = flow_for(driver, request, store=store, notifier=chat, pager=pager, clock=clock)
        flow._hold = timedelta(seconds=3)  # what a ClaimKeeper sets while it runs
        flow._later = lambda steps: None  # the sends were to follow: the process is killed
        flow.trigger(_ALERT)
        assert (chat.messages, pager.messages) == ([], [])
        return flow, chat, pager

    def test_a_dead_senders_page_is_taken_over_in_seconds(
        self, store: EventStore | AsyncEventStore, driver: str, request: pytest.FixtureRequest
    ) -> None:
        """A renewing sender killed before its sends: its page goes once its hold lapses.

        The next process's delivery turn takes it over seconds later, not a 60 s lease later.
        """
        clock = ManualClock(T0)
        self._renewing(as_driven(store, driver, as_async_store, request))
        self._killed_after_commit(driver, request, store, clock)
        chat, pager = _recorders()
        restarted = flow_for(driver, request, store=store, notifier=chat, pager=pager, clock=clock)
        clock.advance(timedelta(seconds=2))  # still held: its sender may be alive
        assert restarted.deliver_pending() == 0
        clock.advance(timedelta(seconds=2))  # 4 s after the kill: the hold lapsed
        assert restarted.deliver_pending() == 2
        assert [(m.kind, m.title) for m in pager.messages] == [("page", _ALERT.title)]
        assert [m.kind for m in chat.messages] == ["notify"]
        assert restarted.deliver_pending() == 0
        (inc,) = restarted.incidents()
        assert restarted.get(inc.id).paged

    def test_a_live_senders_renewed_claims_are_not_taken_over(
        self, store: EventStore | AsyncEventStore, driver: str, request: pytest.FixtureRequest
    ) -> None:
        """While the sender renews its claims, another process's turn leaves its messages."""
        from .._drivers.worker import AsyncClaimKeeper, ClaimKeeper  # noqa: PLC0415

        clock = ManualClock(T0)
        self._renewing(as_driven(store, driver, as_async_store, request))
        sender, _, _ = self._killed_after_commit(driver, request, store, clock)
        target = getattr(sender, "target", sender)
        keeper: Any = (
            ClaimKeeper(target)
            if driver == "sync"
            else Blocking(AsyncClaimKeeper(target), _loop(request))
        )
        chat, pager = _recorders()
        other = flow_for(driver, request, store=store, notifier=chat, pager=pager, clock=clock)
        for _ in range(5):  # 10 s of renewals, one every 2 s (each for 3 s)
            clock.advance(timedelta(seconds=2))
            assert keeper.renew() == 2
            assert other.deliver_pending() == 0
        # The sender dies: its last renewal runs out, and the other process sends them.
        clock.advance(timedelta(seconds=3))
        assert other.deliver_pending() == 2
        assert (len(pager.messages), len(chat.messages)) == (1, 1)

    def test_without_renewals_a_claim_keeps_its_whole_lease(
        self, store: EventStore | AsyncEventStore, driver: str, request: pytest.FixtureRequest
    ) -> None:
        """A flow that runs no keeper claims for its lease, as before: no early takeover."""
        clock = ManualClock(T0)
        chat, pager = _recorders()
        flow = flow_for(driver, request, store=store, notifier=chat, pager=pager, clock=clock)
        flow._later = lambda steps: None
        flow.trigger(_ALERT)
        clock.advance(timedelta(seconds=30))
        assert flow.deliver_pending() == 0
        clock.advance(timedelta(seconds=31))
        assert flow.deliver_pending() == 2
        assert (len(pager.messages), len(chat.messages)) == (1, 1)

    def test_delivered_messages_are_never_claimed_again(self, port: EventStore) -> None:
        """Upserting a message with delivered_at settles it."""
        events, incident = _opened("i1")
        message = _message("i1", 1)
        port.append("i1", 0, events, snapshot=incident, outbox=[message])
        (claimed,) = port.claim_due(T0, lease=timedelta(seconds=30))
        done = ev.MessageDelivered(
            version=4, at=T0, message_id=message.id, channel="chat", kind="update", attempts=1
        )
        settled = attrs.evolve(claimed, attempts=1, delivered_at=T0)
        port.append("i1", 3, [done], snapshot=fold(incident, [done]), outbox=[settled])
        assert port.claim_due(T0 + timedelta(days=1), lease=timedelta(seconds=30)) == []

    def test_messages_can_be_inserted_already_claimed(self, port: EventStore) -> None:
        """append(claimed_until=...) leases the new messages to the writer; retries stay free."""
        events, incident = _opened("i1")
        retry = _message("i1", 2, attempts=1)
        port.append(
            "i1",
            0,
            events,
            snapshot=incident,
            outbox=[_message("i1", 1), retry],
            claimed_until=T0 + timedelta(seconds=30),
        )
        lease = timedelta(seconds=30)
        assert [m.id for m in port.claim_due(T0, lease=lease)] == [retry.id]
        assert port.claim_due(T0 + timedelta(seconds=29), lease=lease) == []
        later = port.claim_due(T0 + timedelta(seconds=31), lease=lease)
        assert [m.id for m in later] == ["i1/1/chat/update", retry.id]

    def test_a_late_failure_never_undelivers(self, port: EventStore) -> None:
        """A slow sender's failure, recorded after another delivered it, changes nothing."""
        events, incident = _opened("i1")
        message = _message("i1", 1)
        port.append("i1", 0, events, snapshot=incident, outbox=[message])
        delivered = attrs.evolve(message, attempts=1, delivered_at=T0)
        failed = attrs.evolve(
            message, attempts=1, last_error="timeout", next_attempt_at=T0 + timedelta(seconds=5)
        )
        more, after = _note(incident)
        port.append("i1", 3, more, snapshot=after, outbox=[delivered])
        later, last = _note(after, "late")
        port.append("i1", 4, later, snapshot=last, outbox=[failed])
        assert port.claim_due(T0 + timedelta(days=1), lease=timedelta(seconds=30)) == []

    def test_a_message_named_twice_in_one_append_is_kept_as_two_upserts_would(
        self, port: EventStore
    ) -> None:
        """The later row of a message wins, unless the earlier one delivered it; first place."""
        events, incident = _opened("i1")
        first, second, third = (_message("i1", n) for n in (1, 2, 3))
        soon = T0 + timedelta(seconds=5)
        retry = attrs.evolve(first, attempts=1, last_error="timeout", next_attempt_at=soon)
        delivered = attrs.evolve(second, attempts=1, delivered_at=T0)
        late = attrs.evolve(second, attempts=1, last_error="timeout", next_attempt_at=soon)
        outbox = [first, second, retry, delivered, late, third]
        port.append("i1", 0, events, snapshot=incident, outbox=outbox)
        assert port.claim_due(T0 + timedelta(days=1), lease=timedelta(seconds=30)) == [
            retry,
            third,
        ]

    def test_claim_honours_ids_and_limit(self, port: EventStore) -> None:
        """claim_due(ids=...) claims only those; limit caps the batch, oldest first."""
        events, incident = _opened("i1")
        messages = [_message("i1", n) for n in range(5)]
        port.append("i1", 0, events, snapshot=incident, outbox=messages)
        lease = timedelta(seconds=30)
        picked = port.claim_due(T0, lease=lease, ids=[messages[3].id])
        assert [m.id for m in picked] == [messages[3].id]
        assert [m.id for m in port.claim_due(T0, lease=lease, limit=2)] == [
            messages[0].id,
            messages[1].id,
        ]

    def test_escalation_timers_are_indexed(self, port: EventStore) -> None:
        """due_incidents lists incidents whose timer ran out, most overdue first, until stopped."""
        for n, minutes in ((1, 10), (2, 5), (3, 60)):
            alert = Alert(source="test", name="n", title="t", dedup_key=f"k{n}")
            events: list[ev.Event] = [
                ev.IncidentTriggered(
                    version=1, at=T0, incident_id=f"i{n}", alert=alert, title="t", dedup_key=f"k{n}"
                ),
                ev.IncidentClassified(
                    version=2,
                    at=T0,
                    severity=Severity.P1,
                    source="alert",
                    critical=True,
                    postmortem_required=True,
                ),
                ev.IncidentNotified(
                    version=3, at=T0, paged=True, escalate_at=T0 + timedelta(minutes=minutes)
                ),
            ]
            port.append(f"i{n}", 0, events, snapshot=fold(None, events))
        assert port.due_incidents(T0) == []
        assert port.due_incidents(T0 + timedelta(minutes=10)) == ["i2", "i1"]
        assert port.due_incidents(T0 + timedelta(hours=2), limit=1) == ["i2"]
        incident = fold(None, port.load("i2"))
        ack = [ev.IncidentAcknowledged(version=4, at=T0, by="alice")]
        port.append("i2", 3, ack, snapshot=fold(incident, ack))
        assert port.due_incidents(T0 + timedelta(hours=2)) == ["i1", "i3"]

    def test_racing_claims_never_share_a_message(self, port: EventStore) -> None:
        """Senders claiming at once get disjoint messages that together cover all due ones."""
        events, incident = _opened("i1")
        messages = [_message("i1", n) for n in range(40)]
        port.append("i1", 0, events, snapshot=incident, outbox=messages)
        claimed: list[str] = []
        barrier = threading.Barrier(4)

        def claim() -> None:
            barrier.wait()
            for _ in range(20):
                batch = port.claim_due(T0, lease=timedelta(minutes=1), limit=3)
                claimed.extend(m.id for m in batch)

        threads = [threading.Thread(target=claim) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(claimed) == sorted(m.id for m in messages)

    def test_a_flow_over_this_store_replays_to_the_live_incident(
        self,
        store: EventStore | AsyncEventStore,
        port: EventStore,
        driver: str,
        request: pytest.FixtureRequest,
    ) -> None:
        """A whole P1 lifecycle through the flow: a fresh flow reads back the same Incident."""
        clock = ManualClock(T0)
        flow = flow_for(driver, request, store=store, publisher=RecordingPublisher(), clock=clock)
        inc = flow.trigger(_ALERT)
        flow.acknowledge(inc.id, by="alice")
        flow.resolve(inc.id, by="alice")
        live = flow.get(inc.id)
        reader = flow_for(driver, request, store=store, clock=clock)
        assert reader.get(inc.id) == live
        assert fold(None, port.load(inc.id)) == live
