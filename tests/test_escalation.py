"""Escalation: durable timers, levels, exactly once per level, stopped by an acknowledgement."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incident_flow import (
    Alert,
    IncidentFlow,
    InvalidPolicy,
    InvalidTransition,
    MemoryStore,
    Policy,
    RecordingNotifier,
    SQLiteStore,
)
from incident_flow._core.decision import Decision
from incident_flow._core.policy import EscalationLevel
from incident_flow._response.decide import decide_reminder
from incident_flow.testing import ManualClock, RecordingPublisher

from .conftest import T0, MakeFlow

P1 = Alert(source="datadog", name="CheckoutDown", title="Checkout down", severity="P1")
P2 = attrs.evolve(P1, severity="P2", dedup_key="p2")
P4 = attrs.evolve(P1, severity="P4", dedup_key="p4")


@pytest.fixture(autouse=True)
def _both_drivers(make_flow: MakeFlow, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test here runs under the sync and the async driver (Setup builds the flow)."""
    monkeypatch.setattr(Setup, "make_flow", staticmethod(make_flow))


class Setup:
    make_flow: MakeFlow = IncidentFlow

    def __init__(self, policy: Policy | None = None, store: Any = None) -> None:
        self.clock = ManualClock(T0)
        self.pager = RecordingNotifier()
        self.chat = RecordingNotifier()
        self.flow = self.make_flow(
            policy or Policy(),
            store=store or MemoryStore(),
            notifier=self.chat,
            pager=self.pager,
            publisher=RecordingPublisher(),
            clock=self.clock,
        )

    def pages(self, incident_id: str) -> list[str]:
        return [m.text for m in self.pager.of(incident_id, "page")]


class TestTimers:
    """Each critical page starts a timer; acknowledging or resolving stops it."""

    def test_levels_in_turn(self) -> None:
        s = Setup()
        incident = s.flow.trigger(P1)
        assert incident.escalation_due_at == T0 + timedelta(minutes=5)
        s.clock.advance(timedelta(minutes=4, seconds=59))
        assert s.flow.escalate_due() == []
        s.clock.advance(1)
        (escalated,) = s.flow.escalate_due()
        assert escalated.escalation_level == 1
        assert escalated.escalation_due_at == s.clock.now() + timedelta(minutes=5)
        assert s.flow.escalate_due() == []  # once per level
        s.clock.advance(timedelta(minutes=5))
        (last,) = s.flow.escalate_due()
        assert last.escalation_level == 2 and last.escalation_due_at is None
        s.clock.advance(timedelta(hours=1))
        assert s.flow.escalate_due() == []
        pages = s.pages(incident.id)
        assert len(pages) == 3
        assert pages[1].endswith("(escalated to secondary on-call)")
        assert pages[2].endswith("(escalated to incident commander)")
        assert "escalated to secondary on-call (level 1)" in s.chat.messages[1].text
        levels = [e.level for e in s.flow.history(incident.id) if e.type == "Escalated"]  # type: ignore[attr-defined]
        assert levels == [1, 2]

    def test_acknowledgement_stops_escalation(self) -> None:
        s = Setup()
        incident = s.flow.trigger(P1)
        s.clock.advance(timedelta(minutes=6))
        s.flow.escalate_due()
        acked = s.flow.acknowledge(incident.id, by="alice")
        assert acked.escalation_due_at is None
        s.clock.advance(timedelta(hours=2))
        assert s.flow.escalate_due() == []
        assert len(s.pages(incident.id)) == 2

    def test_resolution_stops_escalation(self) -> None:
        s = Setup()
        incident = s.flow.trigger(P1)
        s.flow.resolve(incident.id, by="alice")
        s.clock.advance(timedelta(hours=1))
        assert s.flow.escalate_due() == []

    def test_severity_timeouts(self) -> None:
        s = Setup()
        incident = s.flow.trigger(P2)
        assert incident.escalation_due_at == T0 + timedelta(minutes=15)
        assert s.flow.trigger(P4).escalation_due_at is None

    def test_an_upgrade_starts_the_timer_at_once(self) -> None:
        s = Setup()
        incident = s.flow.trigger(P4)
        s.clock.advance(timedelta(minutes=30))
        upgraded = s.flow.reclassify(incident.id, "P1", by="alice")
        assert upgraded.escalation_due_at == s.clock.now() + timedelta(minutes=5)
        p2 = s.flow.trigger(P2)
        s.clock.advance(60)
        faster = s.flow.reclassify(p2.id, "P1", by="alice")
        assert faster.escalation_due_at == s.clock.now() + timedelta(minutes=5)
        down = s.flow.reclassify(p2.id, "P3", by="alice")
        assert down.escalation_due_at is None

    def test_reopen_pages_and_restarts(self) -> None:
        s = Setup()
        incident = s.flow.trigger(P1)
        s.flow.acknowledge(incident.id, by="alice")
        s.flow.resolve(incident.id, by="alice")
        s.clock.advance(timedelta(minutes=10))
        reopened = s.flow.trigger(P1)
        assert reopened.escalation_level == 0
        assert reopened.escalation_due_at == s.clock.now() + timedelta(minutes=5)

    def test_configured_levels_and_repeats(self) -> None:
        policy = Policy(
            escalation=[
                EscalationLevel(("alice",), wait=timedelta(minutes=1)),
                EscalationLevel(("team",)),
            ],
            escalation_repeats=2,
        )
        s = Setup(policy)
        incident = s.flow.trigger(P1)
        for _ in range(10):
            s.clock.advance(timedelta(minutes=5))
            s.flow.escalate_due()
        assert [p.rsplit("(", 1)[-1] for p in s.pages(incident.id)[1:]] == [
            "escalated to team)"
        ] * 3
        assert s.flow.get(incident.id).escalation_level == 3


class TestDurability:
    """Timers are data: a restarted process, or another replica, escalates the same."""

    def test_restart_on_sqlite(self, tmp_path: Path) -> None:
        path = tmp_path / "incidents.db"
        first = Setup(store=SQLiteStore(path))
        incident = first.flow.trigger(P1)
        first.flow.store.close()
        second = Setup(store=SQLiteStore(path))
        second.clock.advance(timedelta(minutes=5))
        (escalated,) = second.flow.escalate_due()
        assert escalated.id == incident.id

    def test_replicas_escalate_once(self) -> None:
        store = MemoryStore()
        a, b = Setup(store=store), Setup(store=store)
        b.clock = a.clock
        b.flow.clock = a.clock
        incident = a.flow.trigger(P1)
        b.flow.get(incident.id)  # both have it cached
        a.clock.advance(timedelta(minutes=5))
        assert len(a.flow.escalate_due()) == 1
        assert b.flow.escalate_due() == []  # b decided on a stale cache: conflict, reload, no-op
        levels = [e for e in a.flow.history(incident.id) if e.type == "Escalated"]
        assert len(levels) == 1


class TestPolicyFile:
    """Escalation in TOML, with every problem reported."""

    def test_reads_levels(self) -> None:
        policy = Policy.from_mapping(
            {
                "escalation": [{"targets": ["primary"]}, {"targets": "lead", "wait": "10m"}],
                "escalation_repeats": 1,
            }
        )
        assert policy.escalation == (
            EscalationLevel(("primary",)),
            EscalationLevel(("lead",), timedelta(minutes=10)),
        )
        assert policy.escalation_steps == 3

    def test_problems(self) -> None:
        with pytest.raises(InvalidPolicy) as info:
            Policy.from_mapping(
                {
                    "escalation": [{"targets": []}, {"targets": ["x"], "wait": "soon", "who": 1}],
                    "escalation_repeats": -1,
                }
            )
        problems = info.value.problems
        assert any(p.startswith("escalation[0].targets: must name who is paged") for p in problems)
        assert any(p.startswith("escalation[1].who: unknown key") for p in problems)
        assert any(
            p.startswith("escalation[1].wait: must be a positive duration") for p in problems
        )
        assert any(p.startswith("escalation_repeats: must be a whole number") for p in problems)
        with pytest.raises(InvalidPolicy, match="non-empty array"):
            Policy.from_mapping({"escalation": []})

    def test_constructor_checks(self) -> None:
        with pytest.raises(ValueError, match="at least one level"):
            Policy(escalation=[])
        with pytest.raises(ValueError, match="target name"):
            EscalationLevel(())


class TestRandomTimelines:
    """For any timeline of triggers, acks and clock moves: a critical incident escalates iff
    it was not acknowledged within its timeout, at most once per level."""

    @settings(max_examples=150, deadline=None)
    @given(
        steps=st.lists(
            st.one_of(
                st.tuples(
                    st.just("trigger"), st.sampled_from(["P1", "P2", "P3"]), st.integers(0, 2)
                ),
                st.tuples(st.just("ack"), st.integers(0, 2), st.just(0)),
                st.tuples(st.just("wait"), st.integers(0, 1200), st.just(0)),
                st.tuples(st.just("tick"), st.just(0), st.just(0)),
            ),
            max_size=30,
        )
    )
    def test_escalation_rule(self, steps: list[tuple[str, Any, int]]) -> None:
        s = Setup()
        opened: dict[int, str] = {}
        for action, value, key in steps:
            if action == "trigger" and key not in opened:
                alert = attrs.evolve(P1, severity=value, dedup_key=f"k{key}")
                opened[key] = s.flow.trigger(alert).id
            elif action == "ack" and value in opened:
                s.flow.acknowledge(opened[value], by="alice")
            elif action == "wait":
                s.clock.advance(value)
            elif action == "tick":
                s.flow.escalate_due()
        s.flow.escalate_due()
        now = s.clock.now()
        policy = s.flow.policy
        for incident_id in opened.values():
            incident = s.flow.get(incident_id)
            history = s.flow.history(incident_id)
            levels = [e.level for e in history if e.type == "Escalated"]  # type: ignore[attr-defined]
            assert levels == list(range(1, len(levels) + 1))  # once per level, in order
            if not incident.critical:
                assert levels == []
                continue
            acked = incident.acknowledged_at
            first_page = incident.created_at
            timeout = policy.escalation_wait(0, incident.severity)
            assert timeout is not None
            deadline = first_page + timeout
            if acked is None and now >= deadline:
                assert levels, "an unacknowledged critical page past its timeout must escalate"
            if acked is not None and acked < deadline:
                assert levels == [], "acknowledged in time: no escalation"
            for e in history:
                if e.type == "Escalated" and acked is not None:
                    assert e.at <= acked


class TestWorker:
    """run_worker keeps deliveries and escalations moving, and stops cleanly."""

    def test_turns(self) -> None:
        from incident_flow import DeliveryError, run_worker

        class Down(RecordingNotifier):
            down = True

            def send(self, message: Any) -> str | None:
                if self.down:
                    raise DeliveryError("down")
                return super().send(message)

        s = Setup()
        s.flow.notifier = chat = Down()
        incident = s.flow.trigger(P1)
        chat.down = False
        s.clock.advance(timedelta(minutes=6))
        stats = run_worker(s.flow, interval=timedelta(0), max_iterations=2)
        assert (stats.iterations, stats.escalated, stats.errors) == (2, 1, 0)
        assert stats.delivered >= 1
        assert [m.kind for m in chat.of(incident.id)][:2] == ["notify", "update"]

    def test_a_failing_turn_is_survived(self) -> None:
        from incident_flow import run_worker

        s = Setup()

        def broken(**kwargs: Any) -> list[Any]:
            raise RuntimeError("database away")

        s.flow.escalate_due = broken  # type: ignore[method-assign]
        stats = run_worker(s.flow, interval=timedelta(0), max_iterations=3)
        assert (stats.iterations, stats.errors) == (3, 3)

    def test_a_stop_event(self) -> None:
        import threading

        from incident_flow import run_worker

        stop = threading.Event()
        stop.set()
        assert run_worker(Setup().flow, stop=stop).iterations == 0

    def test_a_stop_during_a_step_skips_the_turns_other_steps(self) -> None:
        """Issue 29: a stop is not held by the rest of the turn (each step may wait on a store
        that is away): the step it came in finishes, the others are not started."""
        import threading

        from incident_flow import run_worker

        s = Setup()
        stop = threading.Event()
        asked: list[str] = []

        def deliver(**kwargs: Any) -> int:
            asked.append("deliver")
            stop.set()  # SIGTERM while the step runs
            return 0

        def escalate(**kwargs: Any) -> list[Any]:
            asked.append("escalate")
            return []

        s.flow.deliver_pending = deliver  # type: ignore[method-assign]
        s.flow.escalate_due = escalate  # type: ignore[method-assign]
        stats = run_worker(s.flow, stop=stop, handle_signals=False)
        assert asked == ["deliver"] and stats.iterations == 1


class TestReminders:
    """An overdue post-mortem and open action items are reminded in the thread."""

    def test_business_days(self) -> None:
        from datetime import datetime

        from incident_flow._core.policy import add_business_days

        friday = datetime(2025, 3, 7, 16, 0, tzinfo=T0.tzinfo)
        assert add_business_days(friday, 1).weekday() == 0  # Monday
        assert add_business_days(friday, 5) == datetime(2025, 3, 14, 16, 0, tzinfo=T0.tzinfo)
        saturday = datetime(2025, 3, 8, 9, 0, tzinfo=T0.tzinfo)
        assert add_business_days(saturday, 0).weekday() == 0

    def test_postmortem_then_action_items(self) -> None:
        s = Setup()
        incident = s.flow.trigger(P1)
        s.flow.acknowledge(incident.id, by="alice")
        resolved = s.flow.resolve(incident.id, by="alice")  # Tuesday 2025-03-04 10:00
        assert resolved.reminder_about == "postmortem"
        assert resolved.reminder_due_at == T0.replace(day=11)  # five business days
        s.clock.set(T0.replace(day=11) - timedelta(seconds=1))
        assert s.flow.remind_due() == []
        s.clock.advance(1)
        (reminded,) = s.flow.remind_due()
        assert reminded.reminder_due_at == T0.replace(day=12)
        assert "post-mortem of this P1 incident is overdue" in s.chat.messages[-1].text
        assert s.flow.remind_due() == []  # once per due time
        s.flow.start_postmortem(
            incident.id,
            author="alice",
            impact="checkout failed",
            root_cause="a bad deploy",
            learnings=["alert sooner"],
        )
        s.flow.submit_postmortem(incident.id, by="alice")
        s.flow.approve_postmortem(incident.id, reviewer="bob")
        published = s.flow.approve_postmortem(incident.id, reviewer="carol")
        assert published.reminder_about == "action_items"
        assert published.reminder_due_at == s.clock.now().replace(day=25)  # ten business days
        s.clock.set(s.clock.now().replace(day=25))
        s.flow.remind_due()
        items = s.flow.get(incident.id).open_action_items
        assert len(items) >= 2
        listed = "; ".join(f"{i.id} {i.description}" for i in items)
        assert s.chat.of(incident.id, "update")[-1].text == f"Reminder: open action items: {listed}"
        assert s.chat.messages[-1].text.startswith("Reminder: open action items: AI-1 ")
        for item in s.flow.get(incident.id).open_action_items:
            s.flow.waive_action_item(incident.id, item.id, by="alice", reason="done in wiki")
        settled = s.flow.get(incident.id)
        assert (settled.reminder_about, settled.reminder_due_at) == (None, None)
        assert settled.next_timer_at is None

    def test_the_reminder_decision_waits_for_its_time_and_a_state_that_owes_it(self) -> None:
        s = Setup()
        incident = s.flow.trigger(P1)
        resolved = s.flow.resolve(incident.id, by="alice")
        due = resolved.reminder_due_at
        assert due is not None
        early = decide_reminder(resolved, Policy(), due - timedelta(seconds=1))
        assert early == Decision(resolved)
        assert [e.type for e in decide_reminder(resolved, Policy(), due).events] == ["Reminded"]
        unresolved = attrs.evolve(resolved, state="notified")  # nothing is owed before resolve
        with pytest.raises(InvalidTransition) as caught:
            decide_reminder(unresolved, Policy(), due)
        assert (caught.value.incident_id, caught.value.trigger) == (incident.id, "remind")

    def test_normal_incidents_owe_only_their_items(self) -> None:
        s = Setup()
        incident = s.flow.trigger(attrs.evolve(P4, name="NoRunbookHere"))
        resolved = s.flow.resolve(incident.id, by="alice")
        assert resolved.reminder_about == "action_items"  # the missing runbook
        closed = s.flow.waive_action_item(incident.id, "AI-1", by="alice", reason="noise")
        assert closed.reminder_due_at is None

    def test_policy_keys(self) -> None:
        policy = Policy.from_mapping(
            {"postmortem_due": 3, "action_items_due": 7, "remind_every": 2}
        )
        assert (policy.postmortem_due, policy.action_items_due, policy.remind_every) == (3, 7, 2)
        with pytest.raises(InvalidPolicy, match="remind_every: must be a whole number >= 1"):
            Policy.from_mapping({"remind_every": 0})
        with pytest.raises(ValueError, match="remind_every"):
            Policy(remind_every=0)


class TestSimulation:
    """A dry run of a policy over a recorded timeline."""

    def test_who_is_paged_when(self) -> None:
        from incident_flow.simulation import Act, simulate

        timeline = [
            (timedelta(0), P1),
            (timedelta(minutes=1), P2),
            (timedelta(minutes=12), Act("ack", P1.dedup_key, by="alice")),
            (timedelta(minutes=20), Act("resolve", "p2", by="bob")),
            (timedelta(minutes=21), Act("ack", "unknown-key")),
        ]
        report = simulate(Policy(), timeline)
        assert report.format().splitlines() == [
            "+00:00:00 [P1] Checkout down",
            "+00:01:00 [P2] Checkout down",
            "+00:05:00 [P1] Checkout down (escalated to secondary on-call)",
            "+00:10:00 [P1] Checkout down (escalated to incident commander)",
            "+00:16:00 [P2] Checkout down (escalated to secondary on-call)",
        ]
        slower = simulate(Policy(ack_timeout={"P1": timedelta(minutes=15)}), timeline)
        assert [p.after for p in slower.pages if p.severity == "P1"] == [timedelta(0)]

    def test_nothing_to_page(self) -> None:
        from incident_flow.simulation import simulate

        assert simulate(Policy(), []).format() == "no pages"
        assert simulate(Policy(), [(timedelta(0), P4)]).pages == ()


class TestTimeZones:
    """Business days are counted in the policy's time zone."""

    def test_friday_evening_in_los_angeles(self) -> None:
        from datetime import datetime

        policy = Policy(timezone="America/Los_Angeles")
        friday_evening = datetime(2025, 3, 8, 2, 0, tzinfo=T0.tzinfo)  # Fri 18:00 in LA
        due = policy.due_after(friday_evening, 1)
        assert due == datetime(2025, 3, 11, 1, 0, tzinfo=T0.tzinfo)  # Mon 18:00 PDT
        utc = Policy().due_after(friday_evening, 1)
        assert utc.weekday() == 1 and utc.hour == 2  # a Saturday in UTC: Monday, then one more

    def test_bad_zone(self) -> None:
        with pytest.raises(ValueError, match="IANA time zone"):
            Policy(timezone="Mars/Olympus")
        with pytest.raises(InvalidPolicy, match="timezone: must be an IANA time zone"):
            Policy.from_mapping({"timezone": "nowhere"})
