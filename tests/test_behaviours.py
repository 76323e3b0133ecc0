"""Behaviours no test pinned before issue 33 (an outside mutation run changed them unseen).

Each test states a behaviour an on-call engineer relies on, written against the behaviour: a
plausible slip in the pure core (an off-by-one, a dropped condition) makes one of them fail.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from incident_flow import (
    Alert,
    IncidentFlow,
    MemoryStore,
    Person,
    Policy,
    RecordingNotifier,
    Severity,
    ingest,
)
from incident_flow._core.people import People
from incident_flow._responders.actions import status_changes
from incident_flow._review.document import Review
from incident_flow.ports import ReviewStatus
from incident_flow.testing import ManualClock, RecordingPublisher

from .conftest import T0, MakeFlow

P2 = Alert(source="datadog", name="CheckoutSlow", title="Checkout slow", severity="P2")


Made = tuple[IncidentFlow, ManualClock, RecordingNotifier, RecordingNotifier]


def make(make_flow: MakeFlow, policy: Policy | None = None) -> Made:
    clock = ManualClock(T0)
    chat, pager = RecordingNotifier(), RecordingNotifier()
    flow = make_flow(
        policy or Policy(),
        store=MemoryStore(),
        notifier=chat,
        pager=pager,
        publisher=RecordingPublisher(),
        clock=clock,
    )
    return flow, clock, chat, pager


class TestEscalation:
    """An acknowledged incident that becomes more severe is not escalated again."""

    def test_an_acknowledged_p2_upgraded_to_p1_does_not_restart_escalation(
        self, make_flow: MakeFlow
    ) -> None:
        flow, clock, _, pager = make(make_flow)
        incident = flow.trigger(P2)
        flow.acknowledge(incident.id, by="alice")
        pages = len(pager.of(incident.id, "page"))
        upgraded = flow.reclassify(incident.id, Severity.P1, by="alice")
        assert upgraded.escalation_due_at is None  # somebody is on it: no timer restarts
        clock.advance(timedelta(hours=1))
        flow.escalate_due()
        assert len(pager.of(incident.id, "page")) == pages  # nobody paged again


class TestRepeats:
    """A storm's repeats are summed up in the thread at most once per interval, on time."""

    def test_the_summary_is_due_exactly_at_the_interval(self, make_flow: MakeFlow) -> None:
        every = timedelta(minutes=5)
        flow, clock, chat, _ = make(make_flow, Policy(repeat_summary_every=every))
        incident = flow.trigger(P2)
        flow.trigger(P2)  # the first repeat is said
        said = len(chat.of(incident.id, "update"))
        clock.advance(every - timedelta(seconds=1))
        flow.trigger(P2)
        assert len(chat.of(incident.id, "update")) == said  # a second early: not yet
        clock.advance(timedelta(seconds=1))
        flow.trigger(P2)
        assert len(chat.of(incident.id, "update")) == said + 1  # exactly at the interval
        assert chat.of(incident.id, "update")[-1].text.startswith("Alert fired again (4 times")


class TestSilences:
    """Of two silences that match, the one that lasts longer decides."""

    def test_overlapping_silences_keep_the_later_end(self, make_flow: MakeFlow) -> None:
        flow, _, _, _ = make(make_flow)
        short = flow.silence(
            {"alertname": "*"}, by="alice", why="deploy", duration=timedelta(hours=1)
        )
        long = flow.silence(
            {"service": "*"}, by="bob", why="maintenance", duration=timedelta(hours=3)
        )
        alert = Alert(
            source="alertmanager", name="x", title="x", severity="P1",
            labels={"alertname": "x", "service": "checkout"},
        )  # fmt: skip
        incident = flow.trigger(alert)
        assert incident.silence_id == long.id != short.id
        assert incident.silenced_until == long.until


class TestReviewPoll:
    """A poll turns what changed on the pull request into actions, and nothing else."""

    def _incident(self, make_flow: MakeFlow) -> object:
        flow, _, _, _ = make(make_flow, Policy(postmortem_approvers="anyone"))
        incident = flow.trigger(Alert(source="s", name="n", title="t", severity="P1"))
        flow.resolve(incident.id, by="alice")
        flow.start_postmortem(incident.id, author="alice", impact="i", root_cause="r")
        return flow.submit_postmortem(incident.id, by="alice")

    def test_changes_asked_by_someone_who_never_approved_withdraw_nothing(
        self, make_flow: MakeFlow
    ) -> None:
        """The poll compares verdicts with the approvals counted: nothing to withdraw here."""
        incident = self._incident(make_flow)
        review = Review(id="1", reviewer="bob", state="changes_requested", at=T0, text="why?")
        _, found = status_changes(
            incident,  # type: ignore[arg-type]
            ReviewStatus(source="github", reviews=(review,)),
            People(),
        )
        assert found == []

    def test_changes_asked_after_an_approval_withdraw_it(self, make_flow: MakeFlow) -> None:
        flow, _, _, _ = make(make_flow, Policy(postmortem_approvers="anyone"))
        incident = flow.trigger(Alert(source="s", name="n", title="t", severity="P1"))
        flow.resolve(incident.id, by="alice")
        flow.start_postmortem(incident.id, author="alice", impact="i", root_cause="r")
        flow.submit_postmortem(incident.id, by="alice")
        approved = flow.approve_postmortem(incident.id, reviewer="bob")
        reviews = (
            Review(id="1", reviewer="bob", state="approved", at=T0),
            Review(id="2", reviewer="bob", state="changes_requested", at=T0, text="why?"),
        )
        people = People(people=[Person(name="bob", github="bob")])
        _, found = status_changes(approved, ReviewStatus(source="github", reviews=reviews), people)
        assert [(a.kind, a.by, a.text) for a in found] == [("request_changes", "bob", "why?")]

    def test_a_reviewer_who_never_approved_and_only_commented_gives_nothing(
        self, make_flow: MakeFlow
    ) -> None:
        incident = self._incident(make_flow)
        reviews = (
            Review(id="1", reviewer="bob", state="commented", at=T0, text="hm"),
            Review(id="2", reviewer="carol", state="dismissed", at=T0, text=""),
        )
        _, found = status_changes(
            incident,  # type: ignore[arg-type]
            ReviewStatus(source="github", reviews=reviews),
            People(),
        )
        assert found == []


class TestMerges:
    """A merge that keeps failing is said in the thread once, not at every retry."""

    def test_two_failed_merges_say_could_not_merge_once(self, make_flow: MakeFlow) -> None:
        class Unmergeable(RecordingPublisher):
            review = "branch"

            def merge(self, document: object) -> str:
                raise RuntimeError("merge conflict")

            def review_status(self, document: object) -> ReviewStatus:
                return ReviewStatus(source="git")

        clock = ManualClock(T0)
        chat = RecordingNotifier()
        flow = make_flow(
            Policy(postmortem_approvers="anyone"),
            notifier=chat,
            pager=RecordingNotifier(),
            publisher=Unmergeable(),
            clock=clock,
        )
        incident = flow.trigger(Alert(source="s", name="n", title="t", severity="P1"))
        flow.resolve(incident.id, by="alice")
        flow.start_postmortem(incident.id, author="alice", impact="i", root_cause="r")
        flow.submit_postmortem(incident.id, by="alice")
        flow.approve_postmortem(incident.id, reviewer="bob")
        flow.approve_postmortem(incident.id, reviewer="carol")  # the merge fails
        clock.advance(timedelta(minutes=10))
        flow.deliver_pending()  # and fails again
        said = [m.text for m in chat.of(incident.id, "update") if "Could not merge" in m.text]
        assert len(said) == 1


class TestDatadogGroups:
    """A multi-alert monitor's groups are separate incidents, by their aggregation key."""

    @pytest.mark.parametrize("with_cycle", [False, True])
    def test_groups_of_one_monitor_do_not_merge(self, with_cycle: bool) -> None:
        def body(group: str) -> dict[str, str]:
            fields = {
                "alert_id": "12345",
                "title": f"[Triggered on {{host:{group}}}] CPU high",
                "alert_transition": "Triggered",
                "alert_priority": "P2",
                "aggreg_key": f"agg-{group}",
                "alert_scope": f"host:{group}",
                "date": "1700000000000",
                "link": "https://app.datadoghq.com/event/event?id=1",
            }
            if with_cycle:
                fields["alert_cycle_key"] = f"cycle-{group}"
            return fields

        (one,) = ingest.parse("datadog", body("web-1"))
        (two,) = ingest.parse("datadog", body("web-2"))
        assert one.dedup_key != two.dedup_key
