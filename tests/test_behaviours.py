"""Behaviours no test pinned before issue 33 (an outside mutation run changed them unseen).

Each test states a behaviour an on-call engineer relies on, written against the behaviour: a
plausible slip in the pure core (an off-by-one, a dropped condition) makes one of them fail.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import attrs
import pytest

from incident_flow import (
    Alert,
    EscalationLevel,
    IncidentFlow,
    InvalidTransition,
    MemoryStore,
    Person,
    Policy,
    PolicyViolation,
    RecordingNotifier,
    Route,
    Runbook,
    Severity,
    Team,
    ingest,
)
from incident_flow._alerting.decide import decide_new
from incident_flow._core import commands as cmd
from incident_flow._core.decision import Decision
from incident_flow._core.incident import fold
from incident_flow._core.messages import OutboxMessage
from incident_flow._core.people import People
from incident_flow._core.storms import GroupingRule, PageAfter
from incident_flow._oncall.decide import decide_escalation
from incident_flow._responders.actions import Action, decide_action, record_action, status_changes
from incident_flow._response.decide import Outcome, decide, decide_join, decide_outcomes
from incident_flow._review.decide import review_reminder
from incident_flow._review.document import Review
from incident_flow.events import event_from_dict
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

    def test_the_timer_escalation_is_said_in_the_teams_channel(self, make_flow: MakeFlow) -> None:
        ops = Team(
            name="ops",
            escalation=[EscalationLevel(("alice",)), EscalationLevel(("bob",))],
            chat_channel="C0OPS",
        )
        flow, clock, chat, pager = make(make_flow, Policy(teams=[ops]))
        incident = flow.trigger(attrs.evolve(P2, severity=Severity.P1))
        clock.advance(timedelta(hours=1))
        flow.escalate_due()
        said = chat.of(incident.id, "update")[-1]
        assert said.channel == "C0OPS" and said.text.startswith("Not acknowledged in time")
        assert [p.to for p in pager.of(incident.id, "page")][-1] == ("bob",)

    def test_a_persons_escalation_is_said_in_the_teams_channel(self, make_flow: MakeFlow) -> None:
        ops = Team(
            name="ops",
            escalation=[EscalationLevel(("alice",)), EscalationLevel(("bob",))],
            chat_channel="C0OPS",
        )
        flow, _, chat, pager = make(make_flow, Policy(teams=[ops]))
        incident = flow.trigger(attrs.evolve(P2, severity=Severity.P1))
        flow.escalate(incident.id, by="alice")
        said = chat.of(incident.id, "update")[-1]
        assert (said.channel, said.text) == ("C0OPS", "Escalated to bob (level 1) by alice")
        assert [p.to for p in pager.of(incident.id, "page")][-1] == ("bob",)

    def test_each_escalated_page_waits_as_long_as_its_severity_says(
        self, make_flow: MakeFlow
    ) -> None:
        """A level without a wait of its own waits the severity's ack timeout, at every level."""
        policy = Policy(ack_timeout={"P1": timedelta(minutes=5), "P2": timedelta(minutes=20)})
        flow, clock, _, pager = make(make_flow, policy)
        incident = flow.trigger(P2)
        assert incident.escalation_due_at == T0 + timedelta(minutes=20)
        clock.advance(timedelta(minutes=20))
        flow.escalate_due()
        escalated = flow.get(incident.id)
        assert escalated.escalation_level == 1
        assert escalated.escalation_due_at == T0 + timedelta(minutes=40)
        clock.advance(timedelta(minutes=19))
        flow.escalate_due()
        assert len(pager.of(incident.id, "page")) == 2  # the P2's 20 minutes, not a default

    def test_nothing_before_the_timer_and_nothing_without_one(self) -> None:
        """The pure decision: before its timer, or with none (acknowledged), nothing at all."""
        policy = Policy()
        opened = decide_new("i1", Alert(source="s", name="n", title="t", severity="P1"), policy, T0)
        due = opened.incident.escalation_due_at
        assert due is not None
        early = due - timedelta(seconds=1)
        assert decide_escalation(opened.incident, policy, early) == Decision(opened.incident)
        acked = decide(opened.incident, cmd.Acknowledge(by="alice"), policy, T0).incident
        assert acked.escalation_due_at is None
        assert decide_escalation(acked, policy, due) == Decision(acked)


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


PR = "https://github.com/acme/runbooks/pull/7"


class PullRequest(RecordingPublisher):
    """A pull request reviewed on its host: ``status`` is what a poll of it reads now."""

    review = "pull_request"

    def __init__(self) -> None:
        super().__init__()
        self.status = ReviewStatus(source="github", url=PR)
        self.merges = 0

    def publish(self, document: object) -> str:
        super().publish(document)  # type: ignore[arg-type]
        return PR

    def merge(self, document: object) -> str:
        self.merges += 1
        return PR

    def review_status(self, document: object) -> ReviewStatus:
        return self.status


class TestPolledReview:
    """A poll of the post-mortem's pull request applies each change once, as webhooks would."""

    def _submitted(self) -> tuple[IncidentFlow, PullRequest, RecordingNotifier, str]:
        chat, publisher = RecordingNotifier(), PullRequest()
        people = [Person(name=n, github=n) for n in ("bob", "carol", "dave")]
        flow = IncidentFlow(
            Policy(postmortem_approvers="anyone", people=people),
            notifier=chat,
            pager=RecordingNotifier(),
            publisher=publisher,
            clock=ManualClock(T0),
        )
        incident = flow.trigger(Alert(source="s", name="n", title="t", severity="P1"))
        flow.resolve(incident.id, by="alice")
        flow.start_postmortem(incident.id, author="alice", impact="i", root_cause="r")
        flow.submit_postmortem(incident.id, by="alice")
        assert flow.get(incident.id).postmortem.review_url == PR  # type: ignore[union-attr]
        return flow, publisher, chat, incident.id

    def test_approvals_read_by_a_poll_count_once_each(self) -> None:
        flow, publisher, _, incident_id = self._submitted()
        bob = Review(id="1", reviewer="bob", state="approved", at=T0 + timedelta(minutes=1))
        publisher.status = ReviewStatus(source="github", url=None, reviews=(bob,))
        assert [i.id for i in flow.poll_reviews()] == [incident_id]  # url: the recorded one
        pm = flow.get(incident_id).postmortem
        assert pm is not None and pm.approvals == ("bob",)
        assert pm.last_verdict("bob") == bob.at  # when it happened on GitHub, not when read
        assert "github:review:1:approved" in flow.get(incident_id).deliveries
        assert flow.poll_reviews() == []  # read again: nothing new
        carol = Review(id="2", reviewer="carol", state="approved", at=T0 + timedelta(minutes=2))
        publisher.status = ReviewStatus(source="github", url=PR, reviews=(bob, carol))
        flow.poll_reviews()  # bob's is counted already; carol's still counts
        pm = flow.get(incident_id).postmortem
        assert pm is not None and pm.approvals == ("bob", "carol")

    def test_changes_read_by_a_poll_withdraw_the_approval_with_their_text(self) -> None:
        flow, publisher, chat, incident_id = self._submitted()
        bob = Review(id="1", reviewer="bob", state="approved", at=T0)
        publisher.status = ReviewStatus(source="github", url=PR, reviews=(bob,))
        flow.poll_reviews()
        again = Review(id="2", reviewer="bob", state="changes_requested", at=T0, text="why?")
        publisher.status = ReviewStatus(source="github", url=PR, reviews=(bob, again))
        flow.poll_reviews()
        pm = flow.get(incident_id).postmortem
        assert pm is not None and pm.approvals == () and pm.changes_requested == ("bob",)
        assert chat.of(incident_id, "update")[-1].text == (
            "bob requested changes on the post-mortem: why?"
        )

    def test_an_approval_has_no_text_even_with_a_comment(self) -> None:
        incident = TestReviewPoll()._incident(IncidentFlow)
        review = Review(id="9", reviewer="bob", state="approved", at=T0, text="lgtm")
        _, found = status_changes(
            incident,  # type: ignore[arg-type]
            ReviewStatus(source="github", url=PR, reviews=(review,)),
            People(),
        )
        assert [(a.kind, a.text, a.at, a.delivery_id, a.review_url) for a in found] == [
            ("approve_postmortem", "", T0, "github:review:9:approved", PR)
        ]

    def test_a_merge_read_by_a_poll_is_recorded_once_where_it_is(self) -> None:
        flow, publisher, chat, incident_id = self._submitted()
        location = "https://github.com/acme/runbooks/blob/main/pm.md"
        publisher.status = ReviewStatus(
            source="github", url=PR, merged=True, merged_by="carol", location=location
        )
        flow.poll_reviews()
        pm = flow.get(incident_id).postmortem
        assert pm is not None and pm.stage == "merged" and pm.location == location
        assert chat.of(incident_id, "update")[-1].text.startswith(
            f"Post-mortem merged at {location} with 0 of 2 approvals"
        )
        assert f"github:merged:{PR}" in flow.get(incident_id).deliveries
        applied = [e for e in flow.history(incident_id) if e.type == "ActionApplied"]
        assert [(e.kind, e.identity) for e in applied] == [("postmortem_merged", "carol")]  # type: ignore[attr-defined]
        assert flow.poll_reviews() == []

    def test_a_merge_without_a_location_is_at_the_pull_request_by_someone_unknown(self) -> None:
        flow, publisher, _, incident_id = self._submitted()
        publisher.status = ReviewStatus(source="github", url=None, merged=True)
        flow.poll_reviews()
        pm = flow.get(incident_id).postmortem
        assert pm is not None and pm.location == PR
        applied = [e for e in flow.history(incident_id) if e.type == "ActionApplied"]
        assert [e.identity for e in applied] == ["unknown"]  # type: ignore[attr-defined]
        assert f"github:merged:{incident_id}" in flow.get(incident_id).deliveries

    def test_a_close_read_by_a_poll_is_said_once(self) -> None:
        flow, publisher, chat, incident_id = self._submitted()
        publisher.status = ReviewStatus(source="github", url=PR, closed=True, closed_by="dave")
        flow.poll_reviews()
        pm = flow.get(incident_id).postmortem
        assert pm is not None and pm.stage == "closed"
        said = [m.text for m in chat.of(incident_id, "update") if "closed without" in m.text]
        assert said == [
            (
                "The post-mortem's pull request was closed without merging by dave: the "
                "post-mortem is still owed; submit it again (submit_postmortem)"
            )
        ]
        applied = [e for e in flow.history(incident_id) if e.type == "ActionApplied"]
        assert [(e.kind, e.identity) for e in applied] == [("postmortem_closed", "dave")]  # type: ignore[attr-defined]
        assert flow.poll_reviews() == []

    def test_a_close_by_someone_unknown(self) -> None:
        flow, publisher, _, incident_id = self._submitted()
        publisher.status = ReviewStatus(source="github", url=PR, closed=True)
        flow.poll_reviews()
        applied = [e for e in flow.history(incident_id) if e.type == "ActionApplied"]
        assert [e.identity for e in applied] == ["unknown"]  # type: ignore[attr-defined]

    def test_commits_pushed_revise_the_sections_and_our_own_text_does_not(self) -> None:
        flow, publisher, chat, incident_id = self._submitted()
        ours = publisher.documents.popitem()[1]
        publisher.status = ReviewStatus(source="github", url=PR, text=ours)
        assert flow.poll_reviews() == []  # the text we wrote: no revision
        publisher.status = ReviewStatus(
            source="github", url=PR, text=ours.replace("\ni\n", "\nthe checkout was down\n")
        )
        flow.poll_reviews()
        pm = flow.get(incident_id).postmortem
        assert pm is not None and pm.impact == "the checkout was down" and pm.root_cause == "r"
        assert (
            chat.of(incident_id, "update")[-1].text == "The post-mortem was revised on its branch"
        )

    def test_a_push_webhook_is_recorded_once_then_the_branch_is_read(self) -> None:
        flow, _, _, incident_id = self._submitted()
        pushed = Action(
            source="github", kind="postmortem_revised", incident=incident_id, by="bob-gh",
            delivery_id="push-1", review_url=PR,
        )  # fmt: skip
        flow.apply(pushed)
        applied = [e for e in flow.history(incident_id) if e.type == "ActionApplied"]
        assert [(e.kind, e.identity, e.delivery_id) for e in applied] == [  # type: ignore[attr-defined]
            ("postmortem_revised", "bob-gh", "push-1")
        ]
        version = flow.get(incident_id).version
        assert flow.apply(pushed).version == version  # redelivered
        another = attrs.evolve(pushed, delivery_id="push-2", review_url=PR + "0")  # another PR
        assert flow.apply(another).version == version
        assert [e.by for e in applied] == ["github:bob-gh"]  # type: ignore[attr-defined]


class TestActionsFromVendors:
    """A vendor's action counts on our incident, once, and only where it belongs."""

    def _flow(self, publisher: object | None = None) -> tuple[IncidentFlow, str]:
        people = [Person(name=n, github=n) for n in ("alice", "bob", "carol", "dave")]
        flow = IncidentFlow(
            Policy(postmortem_approvers="anyone", people=people),
            notifier=RecordingNotifier(),
            pager=RecordingNotifier(),
            publisher=publisher or PullRequest(),
            clock=ManualClock(T0),
        )
        incident = flow.trigger(Alert(source="s", name="n", title="t", severity="P1"))
        return flow, incident.id

    def _submitted(self, publisher: object | None = None) -> tuple[IncidentFlow, str]:
        flow, incident_id = self._flow(publisher)
        flow.resolve(incident_id, by="alice")
        flow.start_postmortem(incident_id, author="alice", impact="i", root_cause="r")
        flow.submit_postmortem(incident_id, by="alice")
        return flow, incident_id

    def test_an_action_keeps_its_values_storable(self) -> None:
        action = Action(
            source="slack", kind="note", incident="inc", by="U1\x00", text="a\x00b\ud800",
            by_aliases="bob@example.com",
        )  # fmt: skip
        assert (action.by, action.text) == ("U1", "ab\ufffd")
        assert action.by_aliases == ("bob@example.com",)
        assert (
            Action(source="s", kind="note", incident="i", by="b", by_aliases=None).by_aliases == ()
        )  # type: ignore[arg-type]
        kinds = "acknowledge, resolve, note, reclassify, escalate, reopen, start_runbook, "
        with pytest.raises(
            ValueError, match=rf"^Action\.kind must be one of {kinds}.*, got 'ack'$"
        ):
            Action(source="slack", kind="ack", incident="inc", by="U1")
        with pytest.raises(ValueError, match=r"^a reclassify action needs its severity$"):
            Action(source="slack", kind="reclassify", incident="inc", by="U1")

    def test_what_changes_nothing_still_answers_the_incident(self) -> None:
        flow, incident_id = self._flow()
        ack = Action(
            source="pagerduty", kind="acknowledge", incident=incident_id, by="bob", delivery_id="d1"
        )
        assert flow.apply(ack).id == incident_id
        version = flow.get(incident_id).version
        assert flow.apply(ack).id == incident_id  # the same delivery again
        reopen = Action(source="slack", kind="reopen", incident=incident_id, by="bob")
        assert flow.apply(reopen).version == version  # it is open: an echo, not a refusal
        elsewhere = Action(
            source="slack", kind="approve_postmortem", incident=incident_id, by="bob"
        )
        assert flow.apply(elsewhere).version == version  # no pull request in Slack: nothing

    def test_an_action_that_makes_no_command_is_ignored_by_its_person(self) -> None:
        flow, incident_id = self._flow()
        blank = Action(source="slack", kind="note", incident=incident_id, by="bob", text=" ")
        flow.apply(blank)
        ignored = [e for e in flow.history(incident_id) if e.type == "ActionIgnored"]
        assert [e.by for e in ignored] == ["slack:bob"]  # type: ignore[attr-defined]

    def test_a_review_counts_on_our_pull_request_however_its_url_is_spelt(self) -> None:
        flow, incident_id = self._submitted()
        spelt = PR.replace("github.com", "GitHub.com") + "/"
        approve = Action(
            source="github", kind="approve_postmortem", incident=incident_id, by="bob",
            review_url=spelt,
        )  # fmt: skip
        assert flow.apply(approve).postmortem.approvals == ("bob",)  # type: ignore[union-attr]

    def test_a_review_without_its_pull_request_or_without_a_post_mortem_counts_nowhere(
        self,
    ) -> None:
        flow, incident_id = self._flow()
        approve = Action(
            source="github", kind="approve_postmortem", incident=incident_id, by="bob",
            review_url=PR,
        )  # fmt: skip
        version = flow.get(incident_id).version
        assert flow.apply(approve).version == version  # no post-mortem yet
        flow, incident_id = self._submitted()
        version = flow.get(incident_id).version
        assert (
            flow.apply(attrs.evolve(approve, incident=incident_id, review_url=None)).version
            == version
        )

    def test_a_branch_publishers_own_review_counts(self) -> None:
        class Branch(PullRequest):
            review = "branch"

        flow, incident_id = self._submitted(Branch())
        approve = Action(source="git", kind="approve_postmortem", incident=incident_id, by="bob")
        assert flow.apply(approve).postmortem.approvals == ("git:bob",)  # type: ignore[union-attr]

    def test_a_poll_reads_past_a_review_recorded_already(self) -> None:
        flow, incident_id = self._submitted()
        own = Action(
            source="github", kind="approve_postmortem", incident=incident_id, by="alice",
            delivery_id="github:review:1:approved", review_url=PR,
        )  # fmt: skip
        flow.apply(own)  # the author's own approval: ignored, and recorded as such
        reviews = (
            Review(id="1", reviewer="alice", state="approved", at=T0),
            Review(id="2", reviewer="carol", state="approved", at=T0),
        )
        incident = flow.get(incident_id)
        assert "github:review:1:approved" in incident.deliveries
        people = People(people=[Person(name="alice", github="alice")])
        status = ReviewStatus(source="github", url=PR, reviews=reviews)
        _, found = status_changes(incident, status, people)
        assert [(a.by, a.delivery_id) for a in found] == [("carol", "github:review:2:approved")]

    def test_a_decision_that_changes_nothing_is_of_the_incident_as_it_was(self) -> None:
        flow, incident_id = self._submitted()
        incident = flow.get(incident_id)
        policy, now = Policy(), T0 + timedelta(hours=1)
        again = Action(
            source="slack", kind="acknowledge", incident=incident_id, by="b", delivery_id="d"
        )
        seen = attrs.evolve(incident, deliveries=frozenset({"d"}))
        assert decide_action(seen, again, "bob", policy, now).incident is seen
        assert record_action(seen, again, "bob", now).incident is seen
        slack = attrs.evolve(again, kind="approve_postmortem", delivery_id=None)
        assert decide_action(incident, slack, "bob", policy, now).incident is incident
        assert record_action(incident, slack, "bob", now).incident is incident
        resolve = attrs.evolve(again, kind="resolve", delivery_id=None)
        assert decide_action(incident, resolve, "bob", policy, now).incident is incident
        # An issue closed that is not one of its items' (or an item's settled already: an echo).
        closed = attrs.evolve(again, kind="follow_up_closed", issue="acme/ops#9", delivery_id=None)
        unchanged = decide_action(incident, closed, "bob", policy, now)
        assert unchanged.incident is incident and unchanged.events == ()


def _resolved(
    policy: Policy | None = None, publisher: object | None = None
) -> tuple[IncidentFlow, RecordingNotifier, str]:
    chat = RecordingNotifier()
    flow = IncidentFlow(
        policy or Policy(),
        notifier=chat,
        pager=RecordingNotifier(),
        publisher=publisher or RecordingPublisher(),
        clock=ManualClock(T0),
    )
    incident = flow.trigger(Alert(source="s", name="n", title="t", severity="P1"))
    flow.resolve(incident.id, by="alice")
    return flow, chat, incident.id


def _refusal(call: Callable[[], object]) -> tuple[str, str, str, str]:
    with pytest.raises(PolicyViolation) as refused:
        call()
    e = refused.value
    assert (
        str(e)
        == f"incident {e.incident_id} ({e.state}): cannot {e.trigger}: {e.detail} [{e.standard}]"
    )
    return e.state, e.trigger, e.standard, e.detail


class TestPostmortemRefusals:
    """A refused post-mortem step names the incident, the standard and what to do instead."""

    def test_unwritten_sections_are_named_as_people_name_them(self) -> None:
        sections = ("impact", "root_cause", "learnings")
        flow, _, i = _resolved(Policy(postmortem_required_sections=sections))
        flow.start_postmortem(i, author="alice", impact=" ", root_cause="")
        tail = (
            "with amend_postmortem first (policy.postmortem_required_sections lists the "
            "sections a post-mortem needs before review)"
        )
        submit = lambda: flow.submit_postmortem(i, by="alice")  # noqa: E731
        assert _refusal(submit) == (
            "postmortem", "submit_postmortem", "postmortem_sections",
            f"its impact, root cause and learnings are not written yet: write them {tail}",
        )  # fmt: skip
        flow.amend_postmortem(i, by="alice", impact="down")
        assert _refusal(submit)[3] == (
            f"its root cause and learnings are not written yet: write them {tail}"
        )
        flow.amend_postmortem(i, by="alice", root_cause="a bad deploy")
        assert _refusal(submit)[3] == f"its learnings are not written yet: write them {tail}"
        flow.amend_postmortem(i, by="alice", learnings=["roll back faster"])
        flow2, _, j = _resolved(Policy(postmortem_required_sections=("root_cause",)))
        flow2.start_postmortem(j, author="alice", impact="", root_cause=" ")
        assert _refusal(lambda: flow2.submit_postmortem(j, by="alice"))[3] == (
            f"its root cause is not written yet: write it {tail}"
        )

    def test_reviews_of_a_draft_by_the_author_or_too_early_are_refused(self) -> None:
        flow, _, i = _resolved()
        flow.start_postmortem(i, author="alice", impact="x", root_cause="y")
        draft = "the post-mortem is still a draft: submit it for review first (submit_postmortem)"
        assert _refusal(lambda: flow.approve_postmortem(i, reviewer="bob")) == (
            "postmortem", "approve_postmortem", "postmortem_submitted", draft,
        )  # fmt: skip
        assert _refusal(lambda: flow.publish_postmortem(i, by="bob"))[1:] == (
            "publish_postmortem", "postmortem_submitted", draft,
        )  # fmt: skip
        assert _refusal(lambda: flow.request_postmortem_changes(i, reviewer="bob"))[1:] == (
            "request_changes", "postmortem_submitted", draft,
        )  # fmt: skip
        flow.submit_postmortem(i, by="alice")
        assert _refusal(lambda: flow.approve_postmortem(i, reviewer="Alice"))[2:] == (
            "independent_review", "Alice wrote the post-mortem; reviewers must be other people",
        )  # fmt: skip
        assert _refusal(lambda: flow.publish_postmortem(i, by="bob"))[1:] == (
            "publish_postmortem", "postmortem_reviewers",
            "needs 2 distinct reviewer approval(s), has 0 (none)",
        )  # fmt: skip
        flow.approve_postmortem(i, reviewer="bob")
        assert _refusal(lambda: flow.publish_postmortem(i, by="bob"))[3] == (
            "needs 2 distinct reviewer approval(s), has 1 (bob)"
        )

    def test_on_a_pull_request_the_change_and_the_review_happen_there(self) -> None:
        flow, _, i = _resolved(publisher=PullRequest())
        flow.start_postmortem(i, author="alice", impact="x", root_cause="y")
        flow.submit_postmortem(i, by="alice")
        assert _refusal(lambda: flow.amend_postmortem(i, by="alice", impact="z"))[1:] == (
            "amend_postmortem", "review_on_pull_request",
            f"it is under review on {PR}: push the change there (pushed commits update it here)",
        )  # fmt: skip
        assert _refusal(lambda: flow.approve_postmortem(i, reviewer="bob"))[1:] == (
            "approve_postmortem", "review_on_pull_request",
            f"it is reviewed on {PR}: review it there (reviews there count here)",
        )  # fmt: skip
        closed = Action(
            source="github", kind="postmortem_closed", incident=i, by="dave", review_url=PR
        )
        flow.apply(closed)
        late = Action(
            source="github", kind="approve_postmortem", incident=i, by="bob", review_url=PR
        )
        flow.apply(late)
        ignored = [e for e in flow.history(i) if e.type == "ActionIgnored"]
        assert [e.reason for e in ignored] == [  # type: ignore[attr-defined]
            (
                f"incident {i} (postmortem): cannot approve_postmortem: its pull request was "
                "closed without merging: submit it again first [review_closed]"
            )
        ]

    def test_before_its_pull_request_is_opened_the_refusals_say_its_pull_request(self) -> None:
        """The host is down: no address to name yet, the refusal still says where to go."""

        class Down(PullRequest):
            def publish(self, document: object) -> str:
                raise RuntimeError("host down")

        flow, _, i = _resolved(publisher=Down())
        flow.start_postmortem(i, author="alice", impact="x", root_cause="y")
        flow.submit_postmortem(i, by="alice")
        assert _refusal(lambda: flow.amend_postmortem(i, by="alice", impact="z"))[3] == (
            "it is under review on its pull request: push the change there "
            "(pushed commits update it here)"
        )
        assert _refusal(lambda: flow.approve_postmortem(i, reviewer="bob"))[3] == (
            "it is reviewed on its pull request: review it there (reviews there count here)"
        )

    def test_a_merged_post_mortem_is_not_changed_or_submitted_again(self) -> None:
        flow, chat, i = _resolved(publisher=PullRequest())
        flow.start_postmortem(i, author="alice", impact="x", root_cause="y")
        flow.submit_postmortem(i, by="alice")
        merge = Action(
            source="github", kind="postmortem_merged", incident=i, by="bob", review_url=PR
        )
        flow.apply(merge)  # an administrator merged before the approvals
        assert chat.of(i, "update")[-1].text == (
            f"Post-mortem merged at {PR} with 0 of 2 approvals: it counts once the rest approve"
        )
        (said,) = [
            m
            for m in flow.store.outbox_messages(i)
            if m.notification is not None and m.notification.text.startswith("Post-mortem merged")
        ]
        assert (said.channel, said.kind) == ("chat", "update")  # the thread, not elsewhere
        merged = ("postmortem_merged", "it is merged already")
        amend = lambda: flow.amend_postmortem(i, by="alice", impact="z")  # noqa: E731
        assert _refusal(amend) == ("postmortem", "amend_postmortem", *merged)
        assert _refusal(lambda: flow.submit_postmortem(i, by="alice")) == (
            "postmortem", "submit_postmortem", *merged,
        )  # fmt: skip

    @pytest.mark.parametrize(
        ("policy", "who"),
        [
            (
                Policy(postmortem_review_pool=["bob", "carol"], postmortem_reviewers=1),
                "the reviewers asked (bob)",
            ),
            (
                Policy(postmortem_approvers="pool", postmortem_review_pool=["bob", "carol"]),
                "the review pool (bob, carol)",
            ),
            (Policy(postmortem_review_pool=["alice"]), "the review pool (alice)"),  # none asked
            (
                Policy(postmortem_approvers="pool", people=[Person(name="bob")]),
                "the policy's people (bob)",
            ),
            (Policy(people=[Person(name="bob")]), "the policy's people (bob)"),
        ],
    )  # fmt: skip
    def test_a_review_that_does_not_count_says_whose_would(self, policy: Policy, who: str) -> None:
        flow, _, i = _resolved(policy)
        flow.start_postmortem(i, author="alice", impact="x", root_cause="y")
        flow.submit_postmortem(i, by="alice")
        for trigger, step in (
            ("approve_postmortem", lambda: flow.approve_postmortem(i, reviewer="dave")),
            ("request_changes", lambda: flow.request_postmortem_changes(i, reviewer="dave")),
        ):
            assert _refusal(step)[1:] == (
                trigger,
                "postmortem_approvers",
                f"dave is not one of {who}: their review does not count",
            )
        if "bob" not in who:
            return
        flow.approve_postmortem(i, reviewer="BOB")  # a name matches whatever its case
        assert flow.get(i).postmortem.approvals == ("BOB",)  # type: ignore[union-attr]


class TestPostmortemThread:
    """Each post-mortem step says in the thread who did what, and what it waits for."""

    def test_from_draft_to_published_in_the_thread(self) -> None:
        policy = Policy(postmortem_review_pool=["bob", "carol", "dave"], postmortem_merge="manual")
        flow, chat, i = _resolved(policy, publisher=PullRequest())
        flow.start_postmortem(i, author="alice", impact="x", root_cause="y", learnings=["a", "b"])
        assert flow.amend_postmortem(i, by="alice", impact="x").version == flow.get(i).version
        flow.amend_postmortem(i, by="carol", learnings=["a", "b", "c"])
        flow.submit_postmortem(i, by="alice")
        for reviewer in ("bob", "carol"):
            flow.apply(
                Action(
                    source="github",
                    kind="approve_postmortem",
                    incident=i,
                    by=reviewer,
                    review_url=PR,
                )
            )
        said = [m.text for m in chat.of(i, "update") if m.text.startswith(("Post", "The post"))]
        assert said == [
            "Post-mortem started by alice",
            "Post-mortem amended by carol",
            "Post-mortem submitted for review by alice: reviews asked of bob, carol",
            f"Post-mortem up for review: {PR}",
            "Post-mortem approved by github:bob (1 of 2)",
            "Post-mortem approved by github:carol (2 of 2)",
            f"The post-mortem has its 2 approvals: ready to merge at {PR}",
        ]
        flow.apply(
            Action(
                source="github",
                kind="postmortem_merged",
                incident=i,
                by="bob",
                review_url=PR,
                text="https://x/pm.md",
            )
        )
        assert chat.of(i, "update")[-1].text == "Post-mortem published: https://x/pm.md"
        items = flow.get(i).action_items
        assert [(a.id, a.description) for a in items][-3:] == [
            ("AI-2", "Update the runbook: a"),  # AI-1: the runbook it lacked
            ("AI-3", "Update the runbook: b"),
            ("AI-4", "Update the runbook: c"),
        ]

    def test_a_pool_too_small_and_a_close_are_said(self) -> None:
        flow, chat, i = _resolved(Policy(postmortem_review_pool=["alice", "bob"]), PullRequest())
        flow.start_postmortem(i, author="alice", impact="x", root_cause="y")
        flow.submit_postmortem(i, by="alice")
        assert chat.of(i, "update")[-2].text == (
            "Post-mortem submitted for review by alice: reviews asked of bob (only 1 of the 2 "
            "required reviewers could be asked: see policy.postmortem_review_pool)"
        )
        flow.apply(
            Action(source="github", kind="postmortem_closed", incident=i, by="bob", review_url=PR)
        )
        assert chat.of(i, "update")[-1].text.startswith(
            "The post-mortem's pull request was closed without merging by github:bob: "
        )
        flow.submit_postmortem(i, by="alice")  # asked again
        assert flow.get(i).postmortem.stage == "review"  # type: ignore[union-attr]

    def test_a_review_by_command_asks_no_publisher_and_approvals_publish_it(self) -> None:
        publisher = RecordingPublisher()
        flow, chat, i = _resolved(Policy(postmortem_reviewers=1), publisher)
        flow.start_postmortem(i, author="alice", impact="x", root_cause="y", learnings=["z"])
        flow.submit_postmortem(i, by="alice")
        assert publisher.publishes == 0  # nothing to review elsewhere
        flow.request_postmortem_changes(i, reviewer="bob", text="  ")
        assert chat.of(i, "update")[-1].text == "bob requested changes on the post-mortem"
        flow.approve_postmortem(i, reviewer="bob")
        assert publisher.publishes == 1
        assert chat.of(i, "update")[-1].text.startswith("Post-mortem published: memory://")

    def test_a_review_by_command_under_manual_merge_points_at_the_command(self) -> None:
        """No pull request: the thread and the reminder name publish_postmortem instead."""
        policy = Policy(postmortem_reviewers=1, postmortem_merge="manual")
        publisher = RecordingPublisher()
        flow, chat, i = _resolved(policy, publisher)
        flow.start_postmortem(i, author="alice", impact="x", root_cause="y")
        flow.submit_postmortem(i, by="alice")
        flow.approve_postmortem(i, reviewer="bob")
        ready = "The post-mortem has its 1 approvals: ready to publish (publish_postmortem)"
        assert chat.of(i, "update")[-1].text == ready
        assert publisher.publishes == 0  # manual: nothing merged until asked
        assert review_reminder(flow.get(i), policy).endswith(
            ": 1 of 1 approvals; ready to publish (publish_postmortem)"
        )
        assert not any("pull request" in m.text for m in chat.of(i, "update"))

    def test_a_post_mortem_needing_no_reviewer_is_merged_at_its_submission(self) -> None:
        """Its pull request is opened, then merged (not saved a second time): published."""
        publisher = PullRequest()
        flow, chat, i = _resolved(Policy(postmortem_reviewers=0), publisher)
        flow.start_postmortem(i, author="alice", impact="x", root_cause="y")
        flow.submit_postmortem(i, by="alice")
        assert (publisher.publishes, publisher.merges) == (1, 1)
        assert flow.get(i).postmortem.stage == "published"  # type: ignore[union-attr]
        assert chat.of(i, "update")[-1].text == f"Post-mortem published: {PR}"

    def test_every_post_mortem_step_is_said_in_the_teams_channel(self) -> None:
        ops = Team(name="ops", escalation=[EscalationLevel(("alice",))], chat_channel="C0OPS")
        policy = Policy(teams=[ops], postmortem_reviewers=2, postmortem_merge="manual")
        flow, chat, i = _resolved(policy)
        resolved = [m.channel for m in chat.of(i) if m.text.startswith("Resolved by alice")]
        assert resolved == ["C0OPS"]  # the resolution too
        before = len(chat.of(i))
        flow.start_postmortem(i, author="alice", impact="x", root_cause="y")
        flow.amend_postmortem(i, by="carol", impact="more")
        flow.submit_postmortem(i, by="alice")
        flow.approve_postmortem(i, reviewer="bob")
        flow.request_postmortem_changes(i, reviewer="carol", text="why?")
        flow.approve_postmortem(i, reviewer="carol")
        flow.publish_postmortem(i, by="alice")
        said = chat.of(i)[before:]
        assert [m.text.split(" by ")[0].split(":")[0] for m in said] == [
            "Post-mortem started",
            "Post-mortem amended",
            "Post-mortem submitted for review",
            "Post-mortem approved",
            "carol requested changes on the post-mortem",
            "Post-mortem approved",
            "The post-mortem has its 2 approvals",
            "Post-mortem published",
        ]
        assert {m.channel for m in said} == {"C0OPS"}

    def test_the_reminder_says_what_the_post_mortem_waits_for(self) -> None:
        policy = Policy(postmortem_review_pool=["bob", "carol"], postmortem_merge="manual")
        flow, _, i = _resolved(policy, PullRequest())
        head = (
            "Reminder: the post-mortem of this P1 incident is overdue "
            "(5 business days after resolution)"
        )
        assert review_reminder(flow.get(i), policy) == f"{head}: submit it for review"
        flow.start_postmortem(i, author="alice", impact="x", root_cause="y")
        assert review_reminder(flow.get(i), policy) == f"{head}: submit it for review"
        flow.submit_postmortem(i, by="alice")
        assert review_reminder(flow.get(i), policy) == (
            f"{head}: 0 of 2 approvals; waiting for reviews from bob, carol"
        )
        ask = Action(
            source="github", kind="request_changes", incident=i, by="bob", review_url=PR, text="?"
        )
        flow.apply(ask)
        assert review_reminder(flow.get(i), policy) == (
            f"{head}: 0 of 2 approvals; changes requested by github:bob; "
            "waiting for reviews from bob, carol"
        )
        flow.apply(attrs.evolve(ask, by="carol"))
        assert review_reminder(flow.get(i), policy) == (
            f"{head}: 0 of 2 approvals; changes requested by github:bob, github:carol; "
            "waiting for reviews from bob, carol"
        )
        for who in ("carol", "bob"):
            flow.apply(
                Action(
                    source="github", kind="approve_postmortem", incident=i, by=who, review_url=PR
                )
            )
        assert review_reminder(flow.get(i), policy).endswith(f"; waiting for the merge at {PR}")
        flow.apply(
            Action(source="github", kind="postmortem_closed", incident=i, by="bob", review_url=PR)
        )
        assert review_reminder(flow.get(i), policy) == (
            f"{head}: its pull request was closed unmerged; submit it again"
        )
        flow2, _, j = _resolved(Policy(), PullRequest())
        flow2.start_postmortem(j, author="alice", impact="x", root_cause="y")
        flow2.submit_postmortem(j, by="alice")
        assert (
            review_reminder(flow2.get(j), Policy())
            == f"{head}: 0 of 2 approvals; no reviewer asked yet"
        )
        flow2.apply(
            Action(source="github", kind="postmortem_merged", incident=j, by="bob", review_url=PR)
        )
        assert review_reminder(flow2.get(j), Policy()) == (
            f"{head}: 0 of 2 approvals; merged, waiting for the approvals"
        )

    def test_a_merged_post_mortem_is_published_on_request_once_the_policy_asks_fewer(
        self,
    ) -> None:
        """Merged with 1 of 2 approvals; the team lowers the count to 1 and restarts."""
        store = MemoryStore()

        def flow_with(policy: Policy) -> tuple[IncidentFlow, RecordingNotifier, PullRequest]:
            chat, publisher = RecordingNotifier(), PullRequest()
            flow = IncidentFlow(
                policy, store=store, notifier=chat, pager=RecordingNotifier(),
                publisher=publisher, clock=ManualClock(T0),
            )  # fmt: skip
            return flow, chat, publisher

        before, _, _ = flow_with(Policy(postmortem_approvers="anyone"))
        i = before.trigger(Alert(source="s", name="n", title="t", severity="P1")).id
        before.resolve(i, by="alice")
        before.start_postmortem(i, author="alice", impact="x", root_cause="y", learnings=["z"])
        before.submit_postmortem(i, by="alice")
        for kind, text in (("approve_postmortem", ""), ("postmortem_merged", "https://x/pm.md")):
            before.apply(
                Action(
                    source="github", kind=kind, incident=i, by="bob", review_url=PR,
                    text=text or None,
                )
            )  # fmt: skip
        assert before.get(i).postmortem.stage == "merged"  # type: ignore[union-attr]
        after, chat, publisher = flow_with(
            Policy(postmortem_approvers="anyone", postmortem_reviewers=1)
        )
        published = after.publish_postmortem(i, by="carol")
        assert publisher.merges == 0  # merged already: nothing to merge again
        assert chat.of(i, "update")[-1].text == "Post-mortem published: https://x/pm.md"
        assert published.postmortem.stage == "published"  # type: ignore[union-attr]
        assert published.postmortem.approvals == ("github:bob",)  # type: ignore[union-attr]
        assert [a.description for a in published.action_items][-1] == "Update the runbook: z"
        notes = [e for e in after.history(i) if e.type == "NoteAdded"]
        assert not notes  # no "merge requested": it is merged

    def test_an_amendment_goes_to_the_branch_only_while_it_is_under_review(self) -> None:
        class Branch(PullRequest):
            review = "branch"

        publisher = Branch()
        flow, _, i = _resolved(Policy(postmortem_approvers="anyone"), publisher)
        flow.start_postmortem(i, author="alice", impact="x", root_cause="y")
        assert publisher.publishes == 0
        flow.submit_postmortem(i, by="alice")
        submitted = publisher.publishes
        flow.amend_postmortem(i, by="alice", impact="the checkout was down")
        assert publisher.publishes == submitted + 1
        assert "the checkout was down" in next(iter(publisher.documents.values()))
        # The timeline records it as an update of the review, not a new submission.
        sent = [(e.channel, e.kind) for e in flow.history(i) if e.type == "MessageDelivered"]
        assert sent[-1] == ("publisher", "update")  # type: ignore[attr-defined]
        flow.apply(
            Action(source="github", kind="postmortem_closed", incident=i, by="bob", review_url=PR)
        )
        flow.amend_postmortem(i, by="alice", impact="down for an hour")  # closed: allowed, kept
        assert publisher.publishes == submitted + 1
        assert flow.get(i).postmortem.impact == "down for an hour"  # type: ignore[union-attr]

    def test_submitting_again_under_review_asks_nobody_again(self) -> None:
        flow, chat, i = _resolved(Policy(postmortem_review_pool=["bob", "carol"]))
        flow.start_postmortem(i, author="alice", impact="x", root_cause="y")
        version = flow.submit_postmortem(i, by="alice").version
        said = len(chat.of(i, "update"))
        assert flow.submit_postmortem(i, by="alice").version == version
        assert len(chat.of(i, "update")) == said

    def test_who_is_asked_is_said_and_a_rotation_asks_by_the_incident(self) -> None:
        flow, chat, i = _resolved()
        flow.start_postmortem(i, author="alice", impact="x", root_cause="y")
        flow.submit_postmortem(i, by="alice")
        assert chat.of(i, "update")[-1].text == "Post-mortem submitted for review by alice"
        policy = Policy(
            postmortem_review_pool=["bob", "carol", "dave"],
            postmortem_review_order="rotation",
            postmortem_reviewers=1,
        )
        flow, _, i = _resolved(policy)
        flow.start_postmortem(i, author="alice", impact="x", root_cause="y")
        pm = flow.submit_postmortem(i, by="alice").postmortem
        assert pm is not None and pm.reviewers == policy.postmortem_reviewers_for(i, "alice")

    def test_approved_and_closed_then_submitted_again_merges_on_its_pull_request(self) -> None:
        store, publisher = MemoryStore(), PullRequest()
        manual = Policy(
            postmortem_reviewers=1, postmortem_approvers="anyone", postmortem_merge="manual"
        )

        def flow_with(policy: Policy) -> IncidentFlow:
            return IncidentFlow(
                policy, store=store, notifier=RecordingNotifier(), pager=RecordingNotifier(),
                publisher=publisher, clock=ManualClock(T0),
            )  # fmt: skip

        flow = flow_with(manual)
        i = flow.trigger(Alert(source="s", name="n", title="t", severity="P1")).id
        flow.resolve(i, by="alice")
        flow.start_postmortem(i, author="alice", impact="x", root_cause="y")
        flow.submit_postmortem(i, by="alice")
        for kind in ("approve_postmortem", "postmortem_closed"):
            flow.apply(Action(source="github", kind=kind, incident=i, by="bob", review_url=PR))
        auto = flow_with(attrs.evolve(manual, postmortem_merge="auto"))
        auto.submit_postmortem(i, by="alice")  # the approval stands: merged at once
        assert publisher.merges == 1

    def test_a_late_redelivery_of_an_older_verdict_changes_nothing(self) -> None:
        flow, _, i = _resolved(Policy(postmortem_approvers="anyone"), PullRequest())
        flow.start_postmortem(i, author="alice", impact="x", root_cause="y")
        flow.submit_postmortem(i, by="alice")
        at = T0 + timedelta(minutes=2)
        approve = Action(
            source="github", kind="approve_postmortem", incident=i, by="bob", review_url=PR, at=at
        )
        flow.apply(approve)
        older = attrs.evolve(approve, kind="request_changes", at=at - timedelta(minutes=1))
        assert flow.apply(older).postmortem.approvals == ("github:bob",)  # type: ignore[union-attr]
        newer = attrs.evolve(older, at=at + timedelta(minutes=1))
        assert flow.apply(newer).postmortem.approvals == ()  # type: ignore[union-attr]

    def test_a_pool_of_logins_counts_those_logins_and_a_persons_name_only_that_person(
        self,
    ) -> None:
        people = [Person(name="bob", github="bob-gh")]
        policy = Policy(
            postmortem_approvers="pool", postmortem_review_pool=["bob", "carol-gh"], people=people
        )
        flow, _, i = _resolved(policy, PullRequest())
        flow.start_postmortem(i, author="alice", impact="x", root_cause="y")
        flow.submit_postmortem(i, by="alice")

        def approve(login: str) -> tuple[str, ...]:
            action = Action(
                source="github", kind="approve_postmortem", incident=i, by=login, review_url=PR
            )
            return flow.apply(action).postmortem.approvals  # type: ignore[union-attr]

        assert approve("bob") == ()  # a stranger whose login spells a person's name
        assert approve("dave") == ()  # in neither form in the pool
        assert approve("carol-gh") == ("github:carol-gh",)  # a login of the pool
        assert approve("bob-gh") == ("github:carol-gh", "bob")  # the person, by their login

    def test_merges_and_closes_are_recorded_once_with_what_they_said(self) -> None:
        flow, chat, i = _resolved(Policy(postmortem_approvers="anyone"), PullRequest())
        flow.start_postmortem(i, author="alice", impact="x", root_cause="y", learnings=["z"])
        flow.submit_postmortem(i, by="alice")
        closed = Action(
            source="github", kind="postmortem_closed", incident=i, by="bob", review_url=PR,
            text="not now",
        )  # fmt: skip
        flow.apply(closed)
        reasons = [e.reason for e in flow.history(i) if e.type == "PostMortemReviewClosed"]  # type: ignore[attr-defined]
        assert reasons == ["not now"]
        flow.submit_postmortem(i, by="alice")
        merge = Action(
            source="github", kind="postmortem_merged", incident=i, by="bob", review_url=PR,
            delivery_id="m1",
        )  # fmt: skip
        flow.apply(merge)
        flow.apply(attrs.evolve(merge, delivery_id="m2"))  # another delivery of the same merge
        assert sum(1 for e in flow.history(i) if e.type == "PostMortemMerged") == 1
        at = T0 + timedelta(minutes=3)
        ask = Action(
            source="github", kind="request_changes", incident=i, by="carol", review_url=PR,
            text="why?", at=at,
        )  # fmt: skip
        flow.apply(ask)
        (asked,) = [e for e in flow.history(i) if e.type == "PostMortemChangesRequested"]
        assert (asked.text, asked.happened_at) == ("why?", at)  # type: ignore[attr-defined]
        for who in ("bob", "carol"):
            flow.apply(attrs.evolve(ask, kind="approve_postmortem", by=who, text=""))
        assert chat.of(i, "update")[-1].text == f"Post-mortem published: {PR}"
        assert flow.get(i).action_items[-1].description == "Update the runbook: z"
        flow.apply(attrs.evolve(merge, delivery_id="m3"))  # published: nothing more
        assert sum(1 for e in flow.history(i) if e.type == "PostMortemMerged") == 1

    def test_a_merge_said_nowhere_is_merged(self) -> None:
        flow, _, i = _resolved(Policy(postmortem_approvers="anyone"))
        flow.start_postmortem(i, author="alice", impact="x", root_cause="y")
        flow.submit_postmortem(i, by="alice")
        flow.apply(Action(source="git", kind="postmortem_merged", incident=i, by="bob"))
        assert flow.get(i).postmortem.location == "merged"  # type: ignore[union-attr]

    def test_a_person_publishes_an_approved_post_mortem_on_its_pull_request(self) -> None:
        policy = Policy(postmortem_approvers="anyone", postmortem_merge="manual")
        publisher = PullRequest()
        flow, chat, i = _resolved(policy, publisher)
        flow.start_postmortem(i, author="alice", impact="x", root_cause="y")
        flow.submit_postmortem(i, by="alice")
        strict = IncidentFlow(
            attrs.evolve(policy, postmortem_reviewers=3), store=flow.store,
            notifier=RecordingNotifier(), pager=RecordingNotifier(), publisher=publisher,
            clock=ManualClock(T0),
        )  # fmt: skip
        for who in ("bob", "carol"):
            flow.apply(
                Action(
                    source="github", kind="approve_postmortem", incident=i, by=who, review_url=PR
                )
            )
        assert _refusal(lambda: strict.publish_postmortem(i, by="dave"))[3] == (
            "needs 3 distinct reviewer approval(s), has 2 (github:bob, github:carol)"
        )
        flow.publish_postmortem(i, by="dave")
        notes = [e.text for e in flow.history(i) if e.type == "NoteAdded"]  # type: ignore[attr-defined]
        assert notes[-1] == "Merge of the post-mortem requested"
        assert publisher.merges == 1
        assert chat.of(i, "update")[-1].text == f"Post-mortem published: {PR}"


class TestClose:
    """A close is refused while something is owed, says why exactly, and is said when done."""

    def test_a_close_is_said_in_the_thread_by_whom(self) -> None:
        flow, chat, i = _resolved(Policy(postmortem_required=()))
        flow.waive_action_item(i, "AI-1", by="alice", reason="noise")
        assert flow.close(i, by="bob").state == "closed"
        last = chat.of(i)[-1]
        assert (last.kind, last.text) == ("update", "Closed by bob")

    def test_an_owed_post_mortem_refuses_the_close_and_says_how_to_start_one(self) -> None:
        flow, _, i = _resolved()
        before = flow.history(i)
        assert _refusal(lambda: flow.close(i, by="bob")) == (
            "resolved", "close", "postmortem_required",
            ("a reviewed post-mortem is required: the incident reached a severity that needs one "
             "(the obligation stays after a downgrade); start one with start_postmortem"),
        )  # fmt: skip
        assert flow.history(i) == before

    def test_open_action_items_are_listed_by_id_and_description(self) -> None:
        flow, _, i = _resolved(Policy(postmortem_required=(), postmortem_reviewers=0))
        flow.start_postmortem(i, author="alice", impact="x", root_cause="y", learnings=["z"])
        flow.submit_postmortem(i, by="alice")
        assert _refusal(lambda: flow.close(i, by="bob")) == (
            "runbook_update", "close", "open_action_items",
            ("open action items must be done or waived first: "
             "AI-1 Add a runbook for alert 'n' (s); AI-2 Update the runbook: z"),
        )  # fmt: skip
        waive = lambda: flow.waive_action_item(i, "AI-3", by="bob", reason="r")  # noqa: E731
        assert _refusal(waive)[3] == "no action item 'AI-3' (has: AI-1, AI-2)"

    def test_a_post_mortem_published_by_0_1_before_it_was_saved_holds_the_close(self) -> None:
        store = MemoryStore()
        flow = IncidentFlow(
            Policy(postmortem_required=()), store=store, notifier=RecordingNotifier(),
            pager=RecordingNotifier(), publisher=RecordingPublisher(), clock=ManualClock(T0),
        )  # fmt: skip
        i = flow.trigger(Alert(source="s", name="n", title="t", severity="P1")).id
        flow.resolve(i, by="alice")
        flow.waive_action_item(i, "AI-1", by="alice", reason="noise")
        flow.start_postmortem(i, author="alice")
        stream = store.load(i)
        n, at = stream[-1].version, stream[-1].at.isoformat()
        # What 0.1 stored: published on acceptance, its location came with the delivery.
        published = [event_from_dict({"type": "PostMortemPublished", "version": n + 1, "at": at})]
        store.append(i, n, published, snapshot=fold(fold(None, stream), published))
        assert flow.get(i).state == "runbook_update"
        assert _refusal(lambda: flow.close(i, by="bob")) == (
            "runbook_update", "close", "postmortem_saved",
            "the post-mortem is not saved yet (its delivery is pending; run deliver_pending())",
        )  # fmt: skip
        # Its save then arrives with the publisher's delivery: only the location follows.
        sent = OutboxMessage(
            id=f"{i}/{n + 1}/publisher/postmortem", incident_id=i, channel="publisher",
            kind="postmortem", created_at=T0, next_attempt_at=T0,
        )  # fmt: skip
        saved = decide_outcomes(flow.get(i), [Outcome(sent, receipt="pm/old.md")], T0)
        assert saved.incident.postmortem is not None
        assert saved.incident.postmortem.location == "pm/old.md"
        said = [(m.channel, m.notification) for m in saved.outbox if m.delivered_at is None]
        assert [(c, n.kind, n.text) for c, n in said if n is not None] == [
            ("chat", "update", "Post-mortem published: pm/old.md")
        ]


class TestReopen:
    """A reopen says who (or which alert) reopened it; a flap within the window is not paged."""

    def test_a_flap_at_the_window_is_said_and_later_reopens_are_paged_with_their_timer(
        self, make_flow: MakeFlow
    ) -> None:
        levels = [
            EscalationLevel(["alice"]),
            EscalationLevel(["bob"], wait=timedelta(hours=1)),
            EscalationLevel(["carol"]),
        ]
        policy = Policy(
            flap_window=timedelta(minutes=5),
            ack_timeout={"P1": timedelta(minutes=7)},
            escalation=levels,
        )
        flow, clock, chat, pager = make(make_flow, policy)
        alert = Alert(source="s", name="n", title="t", severity="P1")
        i = flow.trigger(alert).id
        flow.resolve(i, by="alice")
        clock.advance(timedelta(minutes=5))  # exactly the flap window
        assert flow.trigger(alert).escalation_due_at is None
        assert (chat.of(i)[-2].kind, chat.of(i)[-2].text) == (
            "update",
            "Reopened: the alert is flapping (fired again soon after it resolved; not paged again)",
        )
        assert [m.text for m in pager.of(i, "page")] == ["[P1] t"]
        flow.resolve(i, by="alice")
        clock.advance(timedelta(minutes=6))
        again = flow.trigger(alert)
        assert again.escalation_due_at == clock.now() + timedelta(minutes=7)  # level 0's wait
        assert (chat.of(i)[-2].kind, chat.of(i)[-2].text) == (
            "update",
            "Reopened (the alert fired again)",
        )
        flow.resolve(i, by="alice")
        assert flow.reopen(i, by="bob").escalation_due_at == clock.now() + timedelta(minutes=7)
        assert (chat.of(i)[-1].kind, chat.of(i)[-1].text) == ("update", "Reopened by bob")
        pages = pager.of(i, "page")
        assert [(m.text, m.to) for m in pages] == [("[P1] t", ("alice",))] + [
            ("[P1] t (reopened)", ("alice",))
        ] * 2


class TestJoin:
    """An alert joining its group is recorded; the thread hears of the group once per interval."""

    RULE = GroupingRule(
        name="outage", by=["service"], match={"env": "prod"}, window=timedelta(minutes=10)
    )

    @staticmethod
    def alert(n: int) -> Alert:
        labels = {"service": "c", "env": "prod"}
        return Alert(source="am", name=f"A{n}", title=f"alert {n}", severity="P2", labels=labels)

    def test_joins_are_summed_up_in_the_thread_once_per_interval(self) -> None:
        policy = Policy(grouping=[self.RULE], repeat_summary_every=timedelta(minutes=5))
        clock, chat = ManualClock(T0), RecordingNotifier()
        flow = IncidentFlow(policy, notifier=chat, pager=RecordingNotifier(), clock=clock)
        i = flow.trigger(self.alert(0)).id
        for n, minutes in ((1, 2), (2, 2), (3, 4)):
            clock.advance(timedelta(minutes=minutes))
            assert flow.trigger(self.alert(n)).id == i
        grouped = [e for e in flow.history(i) if e.type == "AlertGrouped"]
        assert [e.said for e in grouped] == [True, False, True]  # type: ignore[attr-defined]
        assert [(m.kind, m.text) for m in chat.of(i)][1:] == [
            ("update", "2 alerts grouped by outage, 2 firings; latest: alert 1"),
            ("update", ("4 alerts grouped by outage, 4 firings; 2 since the last update; "
                        "latest: alert 3")),
        ]  # fmt: skip

    def test_a_resolved_incident_takes_no_more_alerts_of_its_group(self) -> None:
        policy = Policy(grouping=[self.RULE])
        flow = IncidentFlow(policy, notifier=RecordingNotifier(), pager=RecordingNotifier())
        incident = flow.trigger(self.alert(0))
        resolved = flow.resolve(incident.id, by="alice")
        with pytest.raises(InvalidTransition) as refused:
            decide_join(resolved, self.alert(1), (self.RULE, "c"), policy, T0)
        e = refused.value
        assert (e.incident_id, e.state, e.trigger, e.allowed) == (
            incident.id,
            "resolved",
            "group",
            (),
        )


class TestAlertRecords:
    """A repeat or a recovery of the incident's alert is recorded, and said in thread order."""

    @staticmethod
    def alert(n: int, status: str = "firing") -> Alert:
        labels = {"service": "c", "env": "prod"}
        return Alert(
            source="am", name=f"A{n}", title=f"alert {n}", severity="P2", labels=labels,
            status=status,  # type: ignore[arg-type]
        )  # fmt: skip

    def flow(self, policy: Policy) -> tuple[IncidentFlow, ManualClock, RecordingNotifier]:
        clock, chat = ManualClock(T0), RecordingNotifier()
        flow = IncidentFlow(policy, notifier=chat, pager=RecordingNotifier(), clock=clock)
        return flow, clock, chat

    def said(self, chat: RecordingNotifier, i: str, n: int) -> list[tuple[str, str]]:
        return [(m.kind, m.text) for m in chat.of(i)][-n:]

    def test_repeats_say_how_many_fired_since_the_last_update_and_a_recovery_is_said(
        self,
    ) -> None:
        flow, clock, chat = self.flow(Policy(repeat_summary_every=timedelta(minutes=5)))
        i = flow.trigger(self.alert(0)).id
        for minutes in (1, 1, 4):
            clock.advance(timedelta(minutes=minutes))
            flow.trigger(self.alert(0))
        repeats = [e.said for e in flow.history(i) if e.type == "AlertRepeated"]  # type: ignore[attr-defined]
        assert repeats == [True, False, True]
        assert self.said(chat, i, 2) == [
            ("update", "Alert fired again (2 times)"),
            ("update", "Alert fired again (4 times; 2 since the last update)"),
        ]
        flow.trigger(self.alert(0, status="resolved"))
        assert self.said(chat, i, 1) == [("update", "am reports the alert recovered")]

    def test_a_recovery_is_said_in_the_teams_channel(self) -> None:
        ops = Team(name="ops", escalation=[EscalationLevel(("alice",))], chat_channel="C0OPS")
        flow, _, chat = self.flow(Policy(teams=[ops]))
        i = flow.trigger(self.alert(0)).id
        flow.trigger(self.alert(0, status="resolved"))
        said = chat.of(i)[-1]
        assert (said.channel, said.kind, said.text) == (
            "C0OPS",
            "update",
            "am reports the alert recovered",
        )

    def test_a_held_page_released_while_the_runbook_is_worked_waits_its_severitys_timeout(
        self,
    ) -> None:
        """Working the runbook does not keep the page held; its timer is level 0's, for a P2."""
        hold = PageAfter(2, timedelta(minutes=10))
        levels = [EscalationLevel(("alice",)), EscalationLevel(("bob",))]
        policy = Policy(
            page_after={"P2": hold}, ack_timeout={"P2": timedelta(minutes=20)}, escalation=levels
        )
        clock, pager = ManualClock(T0), RecordingNotifier()
        flow = IncidentFlow(policy, notifier=RecordingNotifier(), pager=pager, clock=clock)
        i = flow.trigger(self.alert(0)).id
        assert flow.start_runbook(i, by="carol").state == "runbook"
        clock.advance(timedelta(minutes=1))
        released = flow.trigger(self.alert(0))
        assert [p.to for p in pager.of(i, "page")] == [("alice",)]
        assert released.escalation_due_at == clock.now() + timedelta(minutes=20)

    def test_a_released_page_is_said_in_the_teams_channel(self) -> None:
        ops = Team(name="ops", escalation=[EscalationLevel(("alice",))], chat_channel="C0OPS")
        hold = PageAfter(2, timedelta(minutes=10))
        flow, clock, chat = self.flow(Policy(teams=[ops], page_after={"P2": hold}))
        i = flow.trigger(self.alert(0)).id
        clock.advance(timedelta(minutes=1))
        flow.trigger(self.alert(0))
        said = [(m.channel, m.text) for m in chat.of(i) if m.text.startswith("Paging on-call")]
        assert said == [("C0OPS", "Paging on-call: the alerts fired 2 times within 10m")]

    def test_a_repeat_that_releases_a_held_page_is_said_before_the_page(self) -> None:
        hold = PageAfter(2, timedelta(minutes=10))
        flow, clock, chat = self.flow(Policy(page_after={"P2": hold}))
        i = flow.trigger(self.alert(0)).id
        clock.advance(timedelta(minutes=1))
        flow.trigger(self.alert(0))
        assert self.said(chat, i, 2) == [
            ("update", "Alert fired again (2 times)"),
            ("update", "Paging on-call: the alerts fired 2 times within 10m"),
        ]

    def test_a_group_summary_that_releases_a_held_page_is_said_before_the_page(self) -> None:
        rule = GroupingRule(
            name="outage", by=["service"], window=timedelta(minutes=10),
            page_after=PageAfter(3, timedelta(minutes=10)),
        )  # fmt: skip
        flow, clock, chat = self.flow(
            Policy(grouping=[rule], repeat_summary_every=timedelta(minutes=1))
        )
        i = flow.trigger(self.alert(0)).id
        clock.advance(timedelta(minutes=1))
        flow.trigger(self.alert(1))  # joins
        clock.advance(timedelta(minutes=1))
        flow.trigger(self.alert(0))  # its own alert again: the third firing
        assert self.said(chat, i, 3) == [
            ("update", "2 alerts grouped by outage, 2 firings; latest: alert 1"),
            ("update", "2 alerts grouped by outage, 3 firings; latest: alert 0"),
            ("update", "Paging on-call: the alerts fired 3 times within 10m"),
        ]

    def test_a_join_that_releases_a_held_page_is_said_before_the_page(self) -> None:
        rule = GroupingRule(
            name="outage", by=["service"], window=timedelta(minutes=10),
            page_after=PageAfter(2, timedelta(minutes=10)),
        )  # fmt: skip
        flow, clock, chat = self.flow(Policy(grouping=[rule]))
        i = flow.trigger(self.alert(0)).id
        clock.advance(timedelta(minutes=1))
        flow.trigger(self.alert(1))
        assert self.said(chat, i, 2) == [
            ("update", "2 alerts grouped by outage, 2 firings; latest: alert 1"),
            ("update", "Paging on-call: the alerts fired 2 times within 10m"),
        ]

    def test_repeats_in_a_silence_are_recorded_unsaid(self, make_flow: MakeFlow) -> None:
        flow, clock, chat, _ = make(make_flow)
        flow.silence({"service": "c"}, by="alice", why="deploy", duration=timedelta(hours=1))
        i = flow.trigger(self.alert(0)).id
        clock.advance(timedelta(minutes=1))
        flow.trigger(self.alert(0))
        repeats = [e.said for e in flow.history(i) if e.type == "AlertRepeated"]  # type: ignore[attr-defined]
        assert repeats == [False]
        assert chat.of(i) == []


class TestUpdateRunbook:
    """A runbook is updated by name: the catalog's, or the one written for this incident."""

    def test_a_catalog_runbook_other_than_the_incidents_is_updated(self) -> None:
        catalog = [
            Runbook(name="n-steps", url="https://rb/n", alert="n"),
            Runbook(name="db", url="https://rb/db"),
        ]
        flow, chat, i = _resolved(Policy(runbooks=catalog))
        assert flow.get(i).runbook == catalog[0]
        flow.update_runbook(i, "db", by="bob", note="added a step")
        assert [(m.kind, m.text) for m in chat.of(i)][-1] == (
            "update",
            "Runbook db updated by bob: added a step",
        )
        assert _refusal(lambda: flow.update_runbook(i, "dbb", by="bob", note="x")) == (
            "resolved", "update_runbook", "unknown_runbook",
            ("no runbook 'dbb' in the catalog (known: n-steps, db); add it with add_runbook, "
             "or give its url to add it now"),
        )  # fmt: skip

    def test_the_update_is_said_in_the_teams_channel(self) -> None:
        ops = Team(name="ops", escalation=[EscalationLevel(("alice",))], chat_channel="C0OPS")
        db = Runbook(name="db", url="https://rb/db")
        flow, chat, i = _resolved(Policy(teams=[ops], runbooks=[db]))
        flow.update_runbook(i, "db", by="bob", note="added a step")
        said = chat.of(i)[-1]
        assert (said.channel, said.text) == ("C0OPS", "Runbook db updated by bob: added a step")

    def test_the_runbook_written_for_the_incident_is_updated_and_no_other(self) -> None:
        flow, _, i = _resolved(Policy(postmortem_required=()))
        assert _refusal(lambda: flow.update_runbook(i, "docs", by="bob", note="x"))[3] == (
            "no runbook 'docs' in the catalog (known: none yet); add it with add_runbook, "
            "or give its url to add it now"
        )
        flow.add_runbook(i, Runbook(name="docs", url="https://rb/docs"), by="alice")
        # Decided under a catalog that never heard of it: the incident's own runbook counts.
        own = flow.get(i)
        update = cmd.UpdateRunbook(by="bob", name="docs", note="one more step")
        decision = decide(own, update, Policy(postmortem_required=()), T0)
        assert [e.type for e in decision.events] == ["RunbookUpdated"]
        assert decision.incident.runbook is not None and decision.incident.runbook.name == "docs"
        typo = attrs.evolve(update, name="dosc")
        refused = _refusal(lambda: decide(own, typo, Policy(postmortem_required=()), T0))
        assert refused[2] == "unknown_runbook"

    def test_an_unknown_runbook_with_its_url_is_added_then_updated(self) -> None:
        flow, chat, i = _resolved(Policy(postmortem_required=()))
        flow.update_runbook(i, "docs", by="bob", note="first steps", url="https://rb/docs")
        assert [(m.kind, m.text) for m in chat.of(i)][-2:] == [
            ("update", "Runbook docs added by bob: https://rb/docs"),
            ("update", "Runbook docs updated by bob: first steps"),
        ]


class TestStartRunbook:
    """Starting work names the runbook, from the catalog as it is now; none raises an item."""

    def test_without_a_runbook_an_item_is_raised_and_said(self, make_flow: MakeFlow) -> None:
        flow, _, chat, _ = make(make_flow)
        i = flow.trigger(P2).id
        started = flow.start_runbook(i, by="alice")
        assert [(a.id, a.kind) for a in started.action_items] == [("AI-1", "add_runbook")]
        assert [(m.kind, m.text) for m in chat.of(i)][-1] == (
            "update",
            "No runbook for 'CheckoutSlow': action item raised to add one",
        )

    def test_the_resolution_raises_no_second_runbook_item(self, make_flow: MakeFlow) -> None:
        """The item raised when work started is the one owed: resolving adds no other."""
        flow, _, _, _ = make(make_flow)
        i = flow.trigger(P2).id
        flow.start_runbook(i, by="alice")
        resolved = flow.resolve(i, by="alice")
        assert [(a.id, a.kind) for a in resolved.action_items] == [("AI-1", "add_runbook")]

    def test_a_runbook_chosen_by_hand_owes_no_runbook_item(self, make_flow: MakeFlow) -> None:
        flow, _, _, _ = make(make_flow, Policy(postmortem_required=()))
        i = flow.trigger(P2).id
        chosen = Runbook(name="checkout", url="https://rb/checkout")
        flow.start_runbook(i, by="alice", runbook=chosen)
        assert flow.resolve(i, by="alice").action_items == ()

    def test_the_catalogs_runbook_as_it_is_now_is_named(self, make_flow: MakeFlow) -> None:
        flow, _, chat, _ = make(make_flow)
        incident = flow.trigger(P2)
        assert incident.runbook is None  # the catalog had none when it fired
        added = Runbook(name="checkout", url="https://rb/checkout", alert="Checkout*")
        start = cmd.StartRunbook(by="alice")
        decision = decide(incident, start, Policy(runbooks=[added]), T0)
        assert decision.incident.runbook == added
        flow.start_runbook(incident.id, by="alice", runbook=added)
        assert [(m.kind, m.text) for m in chat.of(incident.id)][-1] == (
            "update",
            "Runbook checkout: https://rb/checkout",
        )


class TestTheAlertsOwnRunbookLink:
    """An alert carrying its runbook link: the catalog's runbook when it is that one."""

    def test_a_link_to_a_catalog_runbook_is_the_catalogs(self, make_flow: MakeFlow) -> None:
        """Its name and severity come from the catalog (the alert gave no severity)."""
        known = Runbook(name="checkout-5xx", url="https://rb/5xx", alert="Checkout*", severity="P1")
        flow, _, _, _ = make(make_flow, Policy(runbooks=[known]))
        alert = Alert(source="grafana", name="CheckoutErrors", title="t", runbook_url=known.url)
        incident = flow.trigger(alert)
        assert incident.runbook == known
        assert incident.severity == Severity.P1 and incident.paged
        (classified,) = [e for e in flow.history(incident.id) if e.type == "IncidentClassified"]
        assert classified.source == "catalog"  # type: ignore[attr-defined]

    def test_a_link_the_catalog_lacks_is_kept_as_the_sources(self, make_flow: MakeFlow) -> None:
        """Named after the alert, for that alert of that source only, saying where it came from."""
        flow, _, _, _ = make(make_flow)
        alert = Alert(
            source="grafana", name="CheckoutErrors", title="t", runbook_url="https://rb/x"
        )
        linked = flow.trigger(alert).runbook
        assert linked == Runbook(
            name="CheckoutErrors",
            url="https://rb/x",
            alert="CheckoutErrors",
            source="grafana",
            description="linked by the alert's source",
        )
        assert not linked.matches(attrs.evolve(alert, source="datadog"))


class _Conflicted(PullRequest):
    """A pull request whose first merge fails (a conflict); the next one merges."""

    def merge(self, document: object) -> str:
        if self.merges == 0:
            self.merges += 1
            raise RuntimeError("merge conflict")
        return super().merge(document)


def _approved_with_our_merge_failed() -> tuple[
    IncidentFlow, _Conflicted, ManualClock, RecordingNotifier, str
]:
    """A P1's post-mortem approved twice on its pull request, our merge failed (to retry)."""
    publisher = _Conflicted()
    clock, chat = ManualClock(T0), RecordingNotifier()
    flow = IncidentFlow(
        Policy(postmortem_approvers="anyone"), notifier=chat, pager=RecordingNotifier(),
        publisher=publisher, clock=clock,
    )  # fmt: skip
    i = flow.trigger(Alert(source="s", name="n", title="t", severity="P1")).id
    flow.resolve(i, by="alice")
    flow.start_postmortem(i, author="alice", impact="x", root_cause="y")
    flow.submit_postmortem(i, by="alice")
    for who in ("bob", "carol"):
        flow.apply(
            Action(source="github", kind="approve_postmortem", incident=i, by=who, review_url=PR)
        )  # our merge fails
    return flow, publisher, clock, chat, i


class TestPublisherAnswers:
    """What the publisher answers is said once: a review opened, a post-mortem published."""

    def test_a_review_opened_again_after_a_close_is_not_announced_again(self) -> None:
        flow, chat, i = _resolved(Policy(postmortem_approvers="anyone"), PullRequest())
        flow.start_postmortem(i, author="alice", impact="x", root_cause="y")
        flow.submit_postmortem(i, by="alice")
        closed = Action(
            source="github", kind="postmortem_closed", incident=i, by="bob", review_url=PR
        )
        flow.apply(closed)
        flow.submit_postmortem(i, by="alice")
        opened = [m.text for m in chat.of(i) if m.text.startswith("Post-mortem up for review")]
        assert opened == [f"Post-mortem up for review: {PR}"]

    def test_the_review_opened_is_said_in_the_teams_channel(self) -> None:
        ops = Team(name="ops", escalation=[EscalationLevel(("alice",))], chat_channel="C0OPS")
        policy = Policy(teams=[ops], postmortem_approvers="anyone")
        flow, chat, i = _resolved(policy, PullRequest())
        flow.start_postmortem(i, author="alice", impact="x", root_cause="y")
        flow.submit_postmortem(i, by="alice")
        opened = [m for m in chat.of(i) if m.text.startswith("Post-mortem up for review")]
        assert [(m.channel, m.text) for m in opened] == [
            ("C0OPS", f"Post-mortem up for review: {PR}")
        ]

    def test_the_review_opened_is_said_in_the_channel_of_the_incidents_own_team(self) -> None:
        ops = Team(name="ops", escalation=[EscalationLevel(("alice",))], chat_channel="C0OPS")
        web = Team(name="web", escalation=[EscalationLevel(("bob",))], chat_channel="C0WEB")
        policy = Policy(
            teams=[ops, web], routes=[Route(team="web", match={"service": "web"})],
            default_team="ops", postmortem_approvers="anyone",
        )  # fmt: skip
        chat = RecordingNotifier()
        flow = IncidentFlow(
            policy, notifier=chat, pager=RecordingNotifier(), publisher=PullRequest(),
            clock=ManualClock(T0),
        )  # fmt: skip
        alert = Alert(source="s", name="n", title="t", severity="P1", labels={"service": "web"})
        i = flow.trigger(alert).id
        assert flow.get(i).team == "web"
        flow.resolve(i, by="bob")
        flow.start_postmortem(i, author="bob", impact="x", root_cause="y")
        flow.submit_postmortem(i, by="bob")
        opened = [m for m in chat.of(i) if m.text.startswith("Post-mortem up for review")]
        assert [(m.channel, m.text) for m in opened] == [
            ("C0WEB", f"Post-mortem up for review: {PR}")
        ]

    def test_each_delivery_is_recorded_with_the_message_it_delivered(self) -> None:
        flow, _, i = _resolved()
        delivered = [e for e in flow.history(i) if e.type == "MessageDelivered"]
        assert delivered
        for e in delivered:
            assert e.message_id.startswith(f"{i}/")  # type: ignore[attr-defined]
            assert e.message_id.endswith(f"/{e.channel}/{e.kind}")  # type: ignore[attr-defined]

    def test_our_merge_after_a_persons_merge_is_not_announced_again(self) -> None:
        flow, publisher, clock, chat, i = _approved_with_our_merge_failed()
        flow.apply(
            Action(source="github", kind="postmortem_merged", incident=i, by="dave", review_url=PR)
        )
        clock.advance(timedelta(minutes=10))
        flow.deliver_pending()  # our retry merges what is merged already
        assert publisher.merges == 2
        published = [m.text for m in chat.of(i) if m.text.startswith("Post-mortem published")]
        assert published == [f"Post-mortem published: {PR}"]

    def test_our_merge_after_a_persons_early_merge_is_not_recorded_again(self) -> None:
        """Merged by a person with an approval withdrawn: our late merge records nothing more."""

        flow, publisher, clock, chat, i = _approved_with_our_merge_failed()
        flow.apply(
            Action(
                source="github", kind="request_changes", incident=i, by="bob", review_url=PR,
                text="one more thing",
            )
        )  # fmt: skip
        flow.apply(
            Action(source="github", kind="postmortem_merged", incident=i, by="dave", review_url=PR)
        )
        clock.advance(timedelta(minutes=10))
        flow.deliver_pending()  # our retry merges what is merged already
        assert publisher.merges == 2
        merged = [e for e in flow.history(i) if e.type == "PostMortemMerged"]
        assert len(merged) == 1
        said = [m.text for m in chat.of(i) if m.text.startswith("Post-mortem merged at")]
        assert said == [
            f"Post-mortem merged at {PR} with 1 of 2 approvals: it counts once the rest approve"
        ]
        pm = flow.get(i).postmortem
        assert pm is not None and pm.stage == "merged" and not pm.published

    def test_a_save_without_a_receipt_is_published_as_saved(self) -> None:
        class Silent(RecordingPublisher):
            def publish(self, document: object) -> str:
                super().publish(document)  # type: ignore[arg-type]
                return ""

        flow, chat, i = _resolved(Policy(postmortem_reviewers=0), Silent())
        flow.start_postmortem(i, author="alice", impact="x", root_cause="y")
        saved = flow.submit_postmortem(i, by="alice")
        assert saved.postmortem is not None and saved.postmortem.location == "saved"
        assert chat.of(i, "update")[-1].text == "Post-mortem published: saved"


class TestResolveWaiveNote:
    """A resolve says by whom, why and how often it fired unsaid; waives and notes are exact."""

    def test_a_resolve_with_its_summary_its_unsaid_firings_and_its_vendor_time(
        self, make_flow: MakeFlow
    ) -> None:
        policy = Policy(repeat_summary_every=timedelta(hours=1))
        flow, clock, chat, _ = make(make_flow, policy)
        i = flow.trigger(P2).id
        flow.trigger(P2)  # the first repeat is said
        flow.trigger(P2)  # this one is not
        clock.advance(timedelta(minutes=5))
        at = T0 + timedelta(minutes=2)
        flow.apply(
            Action(
                source="datadog", kind="resolve", incident=i, by="alice", text="rolled back", at=at
            )
        )
        (resolved,) = [e for e in flow.history(i) if e.type == "IncidentResolved"]
        assert (resolved.summary, resolved.happened_at) == ("rolled back", at)  # type: ignore[attr-defined]
        assert chat.of(i, "update")[-1].text == (
            "Resolved by datadog:alice: rolled back (the alert fired 3 times)"
        )

    def test_a_resolve_without_a_summary_or_unsaid_firings_says_only_who(
        self, make_flow: MakeFlow
    ) -> None:
        flow, _, chat, pager = make(make_flow)
        i = flow.trigger(Alert(source="s", name="n", title="t", severity="P1")).id
        flow.resolve(i, by="alice")
        assert chat.of(i, "update")[-1].text == "Resolved by alice"
        assert [m.text for m in pager.of(i, "resolve")] == ["Resolved by alice"]

    def test_waiving_names_the_items_there_are_and_refuses_a_settled_one(self) -> None:
        flow, _, i = _resolved(Policy(postmortem_required=()))
        assert _refusal(lambda: flow.waive_action_item(i, "AI-9", by="bob", reason="r")) == (
            "resolved", "waive_action_item", "unknown_action_item",
            "no action item 'AI-9' (has: AI-1)",
        )  # fmt: skip
        flow.waive_action_item(i, "AI-1", by="bob", reason="noise")
        assert _refusal(lambda: flow.waive_action_item(i, "AI-1", by="bob", reason="r")) == (
            "resolved", "waive_action_item", "action_item_settled", "AI-1 is already settled",
        )  # fmt: skip
        catalog = [Runbook(name="n-steps", url="https://rb/n", alert="n")]
        flow2, chat2, j = _resolved(Policy(postmortem_required=(), runbooks=catalog))
        assert _refusal(lambda: flow2.waive_action_item(j, "AI-1", by="bob", reason="r"))[3] == (
            "no action item 'AI-1' (has: none)"
        )
        flow2.note(j, "all good", by="bob")
        assert [(m.kind, m.text) for m in chat2.of(j)][-1] == ("update", "bob: all good")


class TestReclassifyAndAcknowledge:
    """A severity change is said and timed by the new severity; an ack reaches the pager."""

    POLICY = Policy(ack_timeout={"P1": timedelta(minutes=5), "P2": timedelta(minutes=7)})

    def test_an_upgrade_while_a_runbook_is_worked_pages_with_the_new_severity(
        self, make_flow: MakeFlow
    ) -> None:
        flow, clock, chat, pager = make(make_flow, self.POLICY)
        i = flow.trigger(attrs.evolve(P2, severity="P4")).id
        flow.start_runbook(i, by="alice")
        clock.advance(timedelta(minutes=1))
        upgraded = flow.reclassify(i, "P2", by="alice")
        assert upgraded.paged and upgraded.escalation_due_at == clock.now() + timedelta(minutes=7)
        assert [(m.kind, m.text) for m in chat.of(i)][-1] == (
            "update",
            "Severity P4 -> P2 by alice",
        )
        assert [m.text for m in pager.of(i, "page")] == ["[P2] Checkout slow"]
        flow.acknowledge(i, by="bob")
        assert [m.text for m in pager.of(i, "ack")] == ["Acknowledged by bob"]

    def test_a_downgrade_among_paged_severities_keeps_the_escalation_time(
        self, make_flow: MakeFlow
    ) -> None:
        flow, clock, _, _ = make(make_flow, self.POLICY)
        i = flow.trigger(attrs.evolve(P2, severity="P1")).id
        clock.advance(timedelta(minutes=1))
        assert flow.reclassify(i, "P2", by="alice").escalation_due_at == T0 + timedelta(minutes=5)

    def test_a_runbook_added_for_the_incident_answers_its_alert_and_is_said(self) -> None:
        flow, chat, i = _resolved(Policy(postmortem_required=()))
        added = flow.add_runbook(i, Runbook(name="docs", url="https://rb/docs"), by="alice")
        assert added.runbook is not None and added.runbook.alert == "n"
        assert [(m.kind, m.text) for m in chat.of(i)][-1] == (
            "update",
            "Runbook docs added by alice: https://rb/docs",
        )

    def test_a_second_resolve_is_refused_naming_the_incident(self) -> None:
        flow = IncidentFlow(Policy())
        i = flow.trigger(P2).id
        flow.resolve(i, by="alice")
        with pytest.raises(InvalidTransition) as refused:
            flow.resolve(i, by="bob")
        e = refused.value
        assert (e.incident_id, e.state, e.trigger) == (i, "resolved", "resolve")
        assert str(e).startswith(f"incident {i} is resolved: cannot resolve; allowed now: ")

    def test_an_ack_again_or_the_same_severity_changes_nothing(self) -> None:
        flow = IncidentFlow(Policy(), clock=ManualClock(T0))
        i = flow.trigger(P2).id
        acked = flow.acknowledge(i, by="bob")
        for kind, severity in (("acknowledge", None), ("reclassify", "P2")):
            again = Action(source="slack", kind=kind, incident=i, by="bob", severity=severity)
            unchanged = decide_action(acked, again, "bob", Policy(), T0 + timedelta(minutes=1))
            assert unchanged.incident is acked and unchanged.events == ()
            assert flow.apply(again) == acked
