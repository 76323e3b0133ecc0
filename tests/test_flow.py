"""IncidentFlow commands: what each does, what it refuses, and what it tells Slack and the pager."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from incident_flow import (
    Alert,
    ConcurrencyError,
    IncidentFlow,
    IncidentNotFound,
    InvalidCommand,
    InvalidTransition,
    MemoryStore,
    Policy,
    PolicyViolation,
    RecordingNotifier,
    Runbook,
    Severity,
)
from incident_flow.testing import ManualClock, RecordingPublisher

from .conftest import CHECKOUT_RUNBOOK, T0, Harness, MakeFlow

P1 = Alert(source="datadog", name="CheckoutHighErrorRate", title="Checkout errors", severity="P1")
P4 = Alert(source="checkly", name="DocsSlow", title="Docs are slow", severity="P4")


def kinds(notifier: RecordingNotifier, incident_id: str) -> list[str]:
    return [m.kind for m in notifier.of(incident_id)]


class TestTrigger:
    """trigger() opens, classifies and notifies in one command."""

    def test_critical_alert_is_notified_and_paged(self, harness: Harness) -> None:
        incident = harness.flow.trigger(P1)
        assert incident.state == "notified"
        assert incident.severity is Severity.P1
        assert incident.critical and incident.paged and incident.postmortem_required
        assert incident.paged_at == T0
        assert incident.runbook == CHECKOUT_RUNBOOK
        assert kinds(harness.chat, incident.id) == ["notify"]
        assert kinds(harness.pager, incident.id) == ["page"]
        types = [e.type for e in harness.flow.history(incident.id)]
        assert types[:3] == ["IncidentTriggered", "IncidentClassified", "IncidentNotified"]
        assert types[3:] == ["MessageDelivered", "MessageDelivered"]

    def test_normal_alert_gets_slack_only(self, harness: Harness) -> None:
        incident = harness.flow.trigger(P4)
        assert not incident.paged and not incident.postmortem_required
        assert kinds(harness.chat, incident.id) == ["notify"]
        assert harness.pager.messages == []

    def test_severity_from_catalog_then_default(self, make_flow: MakeFlow) -> None:
        runbook = Runbook(name="disk", url="u", alert="Disk*", severity="P2")
        flow = make_flow(
            Policy(runbooks=[runbook], default_severity="P5"),
            notifier=RecordingNotifier(),
            pager=RecordingNotifier(),
        )
        from_catalog = flow.trigger(Alert(source="s", name="DiskFull", title="t"))
        by_default = flow.trigger(Alert(source="s", name="Other", title="t"))
        assert from_catalog.severity is Severity.P2
        assert by_default.severity is Severity.P5
        sources = [flow.history(i.id)[1].source for i in (from_catalog, by_default)]  # type: ignore[attr-defined]
        assert sources == ["catalog", "default"]

    def test_repeat_attaches_without_a_new_page(self, harness: Harness) -> None:
        first = harness.flow.trigger(P1)
        again = harness.flow.trigger(P1)
        assert again.id == first.id
        assert again.alert_count == 2
        assert kinds(harness.pager, first.id) == ["page"]
        assert kinds(harness.chat, first.id) == ["notify", "update"]
        assert "fired again" in harness.chat.messages[-1].text
        assert len(harness.flow.incidents()) == 1

    def test_repeat_reopens_a_resolved_incident_and_pages_again(self, harness: Harness) -> None:
        incident = harness.flow.trigger(P1)
        harness.flow.acknowledge(incident.id, by="alice")
        harness.flow.resolve(incident.id, by="alice")
        again = harness.flow.trigger(P1)
        assert again.id == incident.id
        assert again.state == "runbook"
        assert again.acknowledged_at is None
        assert kinds(harness.pager, incident.id) == ["page", "ack", "resolve", "page"]

    def test_repeat_during_postmortem_opens_a_new_incident(self, harness: Harness) -> None:
        incident = harness.flow.trigger(P1)
        harness.flow.resolve(incident.id, by="alice")
        harness.flow.start_postmortem(
            incident.id, author="alice", impact="checkout failed", root_cause="a bad deploy"
        )
        harness.flow.submit_postmortem(incident.id, by="alice")
        fresh = harness.flow.trigger(P1)
        assert fresh.id != incident.id
        assert fresh.paged

    def test_resolved_alert_is_recorded_on_its_incident(self, harness: Harness) -> None:
        incident = harness.flow.trigger(P1)
        recovered = harness.flow.trigger(attrs.evolve(P1, status="resolved"))
        assert recovered.id == incident.id
        assert recovered.state == "notified"
        assert harness.flow.history(incident.id)[-2].type == "AlertRecovered"

    def test_resolved_alert_without_incident_changes_nothing(self, harness: Harness) -> None:
        with pytest.raises(IncidentNotFound, match="no open incident"):
            harness.flow.trigger(attrs.evolve(P1, status="resolved"))
        assert harness.flow.incidents() == []


class TestResolutionPhase:
    """Acknowledge, runbook, resolve, reopen, reclassify, note."""

    def test_acknowledge_once_mirrors_to_pager(self, harness: Harness) -> None:
        incident = harness.flow.trigger(P1)
        harness.clock.advance(90)
        acked = harness.flow.acknowledge(incident.id, by="alice")
        assert acked.acknowledged_by == "alice"
        assert acked.acknowledged_at == incident.created_at.replace(minute=1, second=30)
        again = harness.flow.acknowledge(incident.id, by="bob")
        assert again == acked
        assert kinds(harness.pager, incident.id) == ["page", "ack"]

    def test_acknowledging_an_unpaged_incident_does_not_touch_the_pager(
        self, harness: Harness
    ) -> None:
        incident = harness.flow.trigger(P4)
        harness.flow.acknowledge(incident.id, by="alice")
        assert harness.pager.messages == []

    def test_runbook_from_catalog_or_explicit(self, harness: Harness) -> None:
        incident = harness.flow.trigger(P1)
        started = harness.flow.start_runbook(incident.id, by="alice")
        assert started.state == "runbook"
        assert started.runbook == CHECKOUT_RUNBOOK
        assert started.action_items == ()
        assert CHECKOUT_RUNBOOK.url in harness.chat.messages[-1].text
        other = harness.flow.trigger(P4)
        chosen = Runbook(name="docs", url="https://rb/docs")
        assert harness.flow.start_runbook(other.id, by="bob", runbook=chosen).runbook == chosen

    def test_missing_runbook_records_an_action_item(self, harness: Harness) -> None:
        incident = harness.flow.trigger(P4)
        started = harness.flow.start_runbook(incident.id, by="alice")
        (item,) = started.action_items
        assert (item.id, item.kind, item.open) == ("AI-1", "add_runbook", True)
        assert "DocsSlow" in item.description
        resolved = harness.flow.resolve(started.id, by="alice")
        assert len(resolved.action_items) == 1

    def test_resolve_straight_from_notified(self, harness: Harness) -> None:
        incident = harness.flow.trigger(P1)
        resolved = harness.flow.resolve(incident.id, by="alice", summary="restarted")
        assert resolved.state == "resolved"
        assert resolved.resolved_at == T0
        assert resolved.action_items == ()  # the catalog has a runbook for it
        assert kinds(harness.pager, incident.id) == ["page", "resolve"]
        assert "restarted" in harness.chat.messages[-1].text

    def test_resolve_without_any_runbook_records_an_item(self, harness: Harness) -> None:
        incident = harness.flow.trigger(P4)
        resolved = harness.flow.resolve(incident.id, by="alice")
        assert [i.kind for i in resolved.action_items] == ["add_runbook"]

    def test_reopen_by_hand(self, harness: Harness) -> None:
        incident = harness.flow.trigger(P4)
        harness.flow.resolve(incident.id, by="alice")
        reopened = harness.flow.reopen(incident.id, by="bob")
        assert reopened.state == "runbook"
        assert reopened.resolved_at is None
        assert harness.pager.messages == []

    def test_upgrade_to_critical_pages_at_once(self, harness: Harness) -> None:
        incident = harness.flow.trigger(P4)
        upgraded = harness.flow.reclassify(incident.id, "P2", by="alice")
        assert upgraded.severity is Severity.P2
        assert upgraded.paged and upgraded.postmortem_required and upgraded.critical
        assert kinds(harness.pager, incident.id) == ["page"]
        again = harness.flow.reclassify(incident.id, "P1", by="alice")
        assert kinds(harness.pager, incident.id) == ["page"]
        assert again.severity is Severity.P1

    def test_downgrade_keeps_the_obligation(self, harness: Harness) -> None:
        incident = harness.flow.trigger(P1)
        down = harness.flow.reclassify(incident.id, Severity.P4, by="alice")
        assert down.severity is Severity.P4 and not down.critical
        assert down.postmortem_required and down.paged
        harness.flow.resolve(incident.id, by="alice")
        with pytest.raises(PolicyViolation) as info:
            harness.flow.close(incident.id, by="alice")
        assert info.value.standard == "postmortem_required"

    def test_upgrade_after_resolution_requires_a_postmortem_without_paging(
        self, harness: Harness
    ) -> None:
        incident = harness.flow.trigger(P4)
        harness.flow.resolve(incident.id, by="alice")
        upgraded = harness.flow.reclassify(incident.id, "P1", by="alice")
        assert upgraded.postmortem_required and not upgraded.paged
        assert harness.pager.messages == []

    def test_reclassify_to_same_severity_records_nothing(self, harness: Harness) -> None:
        incident = harness.flow.trigger(P1)
        assert harness.flow.reclassify(incident.id, "P1", by="alice") == incident

    def test_note_goes_to_the_thread(self, harness: Harness) -> None:
        incident = harness.flow.trigger(P1)
        noted = harness.flow.note(incident.id, "rolling back v42", by="alice")
        assert noted.version > incident.version
        assert harness.chat.messages[-1].text == "alice: rolling back v42"
        with pytest.raises(InvalidCommand, match="text must not be blank"):
            harness.flow.note(incident.id, "  ", by="alice")


class TestPostmortemPhase:
    """Post-mortems: required for critical incidents, reviewed by N distinct people, saved."""

    def resolved(self, harness: Harness, alert: Alert = P1) -> str:
        incident = harness.flow.trigger(alert)
        harness.flow.acknowledge(incident.id, by="alice")
        harness.flow.start_runbook(incident.id, by="alice")
        harness.flow.resolve(incident.id, by="alice", summary="rolled back")
        return incident.id

    def test_full_p1_lifecycle(self, harness: Harness, tmp_path: Path) -> None:
        incident_id = self.resolved(harness)
        with pytest.raises(PolicyViolation, match="post-mortem is required"):
            harness.flow.close(incident_id, by="alice")
        started = harness.flow.start_postmortem(
            incident_id,
            author="alice",
            impact="5% of checkouts failed",
            root_cause="bad deploy",
            learnings=["check error budget before deploy"],
        )
        harness.flow.submit_postmortem(incident_id, by="alice")
        assert started.state == "postmortem"
        assert started.postmortem is not None and started.postmortem.author == "alice"
        harness.flow.approve_postmortem(incident_id, reviewer="bob")
        with pytest.raises(PolicyViolation) as info:
            harness.flow.publish_postmortem(incident_id, by="alice")
        assert info.value.standard == "postmortem_reviewers"
        assert "has 1 (bob)" in str(info.value)
        published = harness.flow.approve_postmortem(incident_id, reviewer="carol")
        assert published.state == "runbook_update"
        assert published.postmortem is not None
        location = published.postmortem.location
        assert location is not None and Path(location).parent == tmp_path / "postmortems"
        text = Path(location).read_text()
        assert "## Root cause\n\nbad deploy" in text
        (item,) = published.open_action_items
        assert item.kind == "update_runbook" and item.runbook == CHECKOUT_RUNBOOK.name
        with pytest.raises(PolicyViolation, match="AI-1"):
            harness.flow.close(incident_id, by="alice")
        updated = harness.flow.update_runbook(
            incident_id, CHECKOUT_RUNBOOK.name, by="alice", note="added an error-budget check"
        )
        assert updated.open_action_items == ()
        closed = harness.flow.close(incident_id, by="alice")
        assert closed.state == "closed" and closed.closed_at is not None
        assert "Post-mortem published" in " ".join(m.text for m in harness.chat.messages)

    def test_author_cannot_approve_and_repeat_counts_once(self, harness: Harness) -> None:
        incident_id = self.resolved(harness)
        harness.flow.start_postmortem(
            incident_id, author="alice", impact="checkout failed", root_cause="a bad deploy"
        )
        harness.flow.submit_postmortem(incident_id, by="alice")
        for alias in ("alice", "Alice", " ALICE "):
            with pytest.raises(PolicyViolation) as info:
                harness.flow.approve_postmortem(incident_id, reviewer=alias)
            assert info.value.standard == "independent_review"
        harness.flow.approve_postmortem(incident_id, reviewer="bob")
        assert harness.flow.approve_postmortem(
            incident_id, reviewer="BOB "
        ).postmortem.approvals == (  # type: ignore[union-attr]
            "bob",
        )
        first = harness.flow.approve_postmortem(incident_id, reviewer="bob")
        second = harness.flow.approve_postmortem(incident_id, reviewer="bob")
        assert second == first
        assert first.postmortem is not None and first.postmortem.approvals == ("bob",)

    def test_optional_postmortem_for_normal_incidents(self, harness: Harness) -> None:
        incident_id = self.resolved(harness, P4)
        harness.flow.add_runbook(
            incident_id, Runbook(name="docs", url="https://rb/docs"), by="alice"
        )
        assert harness.flow.close(incident_id, by="alice").state == "closed"
        other = self.resolved(harness, attrs.evolve(P4, dedup_key="other"))
        assert harness.flow.start_postmortem(other, author="bob").state == "postmortem"

    def test_zero_reviewers_policy(self, tmp_path: Path) -> None:
        harness = Harness(Policy(postmortem_reviewers=0), str(tmp_path))
        incident_id = self.resolved(harness)
        harness.flow.start_postmortem(
            incident_id, author="alice", impact="checkout failed", root_cause="a bad deploy"
        )
        # Nobody needs to approve: submitting it saves it at once.
        assert harness.flow.submit_postmortem(incident_id, by="alice").state == "runbook_update"

    def test_add_runbook_settles_the_add_item(self, harness: Harness) -> None:
        incident_id = self.resolved(harness, P4)
        runbook = Runbook(name="docs", url="https://rb/docs", alert="Docs*")
        done = harness.flow.add_runbook(incident_id, runbook, by="alice")
        assert done.runbook == runbook
        assert [(i.kind, i.done) for i in done.action_items] == [("add_runbook", True)]

    def test_waive_needs_a_reason_and_a_known_open_item(self, harness: Harness) -> None:
        incident_id = self.resolved(harness, P4)
        with pytest.raises(InvalidCommand, match="reason must not be blank"):
            harness.flow.waive_action_item(incident_id, "AI-1", by="alice", reason=" ")
        with pytest.raises(PolicyViolation, match=r"no action item 'AI-9' \(has: AI-1\)"):
            harness.flow.waive_action_item(incident_id, "AI-9", by="alice", reason="r")
        waived = harness.flow.waive_action_item(
            incident_id, "AI-1", by="alice", reason="the alert is being deleted"
        )
        item = waived.action_items[0]
        assert item.waived and not item.open and item.reason == "the alert is being deleted"
        with pytest.raises(PolicyViolation, match="already settled"):
            harness.flow.waive_action_item(incident_id, "AI-1", by="alice", reason="again")
        assert harness.flow.close(incident_id, by="alice").state == "closed"

    def test_learnings_without_a_runbook_go_into_the_added_one(self, harness: Harness) -> None:
        incident = harness.flow.trigger(attrs.evolve(P4, severity="P2"))
        harness.flow.resolve(incident.id, by="alice")
        harness.flow.start_postmortem(
            incident.id,
            author="alice",
            impact="checkout failed",
            root_cause="a bad deploy",
            learnings=["alert earlier"],
        )
        harness.flow.submit_postmortem(incident.id, by="alice")
        harness.flow.approve_postmortem(incident.id, reviewer="bob")
        published = harness.flow.approve_postmortem(incident.id, reviewer="carol")
        assert [(i.kind, i.runbook) for i in published.open_action_items] == [
            ("add_runbook", None),
            ("update_runbook", None),
        ]
        with pytest.raises(PolicyViolation, match="no runbook 'dosc' in the catalog") as typo:
            harness.flow.update_runbook(incident.id, "dosc", by="alice", note="n")
        assert typo.value.standard == "unknown_runbook"
        assert len(harness.flow.get(incident.id).open_action_items) == 2
        runbook = Runbook(name="docs", url="https://rb/docs", alert="Docs*")
        added = harness.flow.add_runbook(incident.id, runbook, by="alice")
        assert added.open_action_items == ()

    def test_update_runbook_settles_only_that_runbook(self, harness: Harness) -> None:
        incident_id = self.resolved(harness)
        harness.flow.start_postmortem(
            incident_id,
            author="alice",
            impact="checkout failed",
            root_cause="a bad deploy",
            learnings=["tune it"],
        )
        harness.flow.submit_postmortem(incident_id, by="alice")
        harness.flow.approve_postmortem(incident_id, reviewer="bob")
        harness.flow.approve_postmortem(incident_id, reviewer="carol")
        other = harness.flow.update_runbook(
            incident_id, "other", by="alice", note="n", url="https://rb/other"
        )
        assert len(other.open_action_items) == 1  # "other" is added and updated; not settled
        right = harness.flow.update_runbook(incident_id, CHECKOUT_RUNBOOK.name, by="a", note="n")
        assert right.open_action_items == ()

    def test_update_runbook_needs_a_note(self, harness: Harness) -> None:
        incident_id = self.resolved(harness)
        with pytest.raises(InvalidCommand, match="note must not be blank"):
            harness.flow.update_runbook(incident_id, "x", by="alice", note="")


class TestRefusals:
    """Refused commands raise with an explanation and change nothing."""

    def test_invalid_transition_changes_nothing(self, harness: Harness) -> None:
        incident = harness.flow.trigger(P1)
        before = harness.flow.history(incident.id)
        with pytest.raises(InvalidTransition) as info:
            harness.flow.close(incident.id, by="alice")
        assert info.value.state == "notified"
        assert "resolve" in info.value.allowed
        assert harness.flow.history(incident.id) == before

    def test_closed_is_final(self, harness: Harness) -> None:
        incident = harness.flow.trigger(P4)
        harness.flow.resolve(incident.id, by="alice")
        harness.flow.waive_action_item(incident.id, "AI-1", by="alice", reason="noise")
        harness.flow.close(incident.id, by="alice")
        for call in (
            lambda: harness.flow.note(incident.id, "x", by="a"),
            lambda: harness.flow.acknowledge(incident.id, by="a"),
            lambda: harness.flow.reopen(incident.id, by="a"),
            lambda: harness.flow.reclassify(incident.id, "P1", by="a"),
        ):
            with pytest.raises(InvalidTransition, match="nothing \\(it is final\\)"):
                call()
        again = harness.flow.trigger(P4)
        assert again.id != incident.id

    def test_unknown_incident(self, harness: Harness) -> None:
        with pytest.raises(IncidentNotFound, match="nope"):
            harness.flow.acknowledge("nope", by="alice")
        with pytest.raises(IncidentNotFound):
            harness.flow.get("nope")
        with pytest.raises(IncidentNotFound):
            harness.flow.history("nope")

    @pytest.mark.parametrize(
        ("call", "message"),
        [
            (lambda f, i: f.acknowledge(i, by=" "), "say who acts"),
            (lambda f, i: f.acknowledge(i, by=None), "say who acts"),
            (lambda f, i: f.acknowledge(i, by=5), "say who acts"),
            (lambda f, i: f.reopen(i, by=None), "say who acts"),
            (lambda f, i: f.reclassify(i, "P9", by="a"), "severity must be one of P1..P5"),
            (lambda f, i: f.reclassify(i, None, by="a"), "severity must be one of P1..P5"),
            (lambda f, i: f.note(i, 42, by="a"), "text must be a string"),
            (lambda f, i: f.resolve(i, by="a", summary=None), "summary must be a string"),
            (lambda f, i: f.start_postmortem(i, author="a", learnings="x"), "list of strings"),
            (lambda f, i: f.start_postmortem(i, author="a", learnings=[""]), "non-blank"),
            (lambda f, i: f.add_runbook(i, "rb", by="a"), "runbook must be a Runbook"),
            (lambda f, i: f.start_runbook(i, by="a", runbook="rb"), "runbook must be a Runbook"),
            (lambda f, i: f.waive_action_item(i, None, by="a", reason="r"), "item_id"),
            (lambda f, i: f.update_runbook(i, " ", by="a", note="n"), "name must not be blank"),
        ],
    )
    def test_bad_arguments_are_refused_before_anything_happens(
        self, harness: Harness, call: Callable[[IncidentFlow, str], object], message: str
    ) -> None:
        incident = harness.flow.trigger(P1)
        before = harness.flow.history(incident.id)
        with pytest.raises(InvalidCommand, match=message):
            call(harness.flow, incident.id)
        assert harness.flow.history(incident.id) == before

    def test_trigger_needs_an_alert(self, harness: Harness) -> None:
        with pytest.raises(InvalidCommand, match="trigger takes an Alert, got dict"):
            harness.flow.trigger({"title": "x"})  # type: ignore[arg-type]

    def test_actor_names_are_trimmed(self, harness: Harness) -> None:
        incident = harness.flow.trigger(P1)
        assert harness.flow.acknowledge(incident.id, by="  alice ").acknowledged_by == "alice"


class TestReads:
    """get, history and incidents read what the events say."""

    def test_incidents_by_state(self, harness: Harness) -> None:
        a = harness.flow.trigger(P1)
        b = harness.flow.trigger(P4)
        harness.flow.resolve(b.id, by="alice")
        assert [i.id for i in harness.flow.incidents()] == [a.id, b.id]
        assert [i.id for i in harness.flow.incidents("resolved")] == [b.id]
        assert harness.flow.incidents("closed") == []

    def test_history_is_versioned_and_attributed(self, harness: Harness) -> None:
        incident = harness.flow.trigger(P1)
        harness.flow.acknowledge(incident.id, by="alice")
        history = harness.flow.history(incident.id)
        assert [e.version for e in history] == list(range(1, len(history) + 1))
        ack = next(e for e in history if e.type == "IncidentAcknowledged")
        assert ack.by == "alice"
        assert history[0].by is None

    def test_a_second_flow_sees_the_first_ones_writes(
        self, harness: Harness, make_flow: MakeFlow
    ) -> None:
        incident = harness.flow.trigger(P1)
        other = make_flow(
            store=harness.flow.store,
            notifier=RecordingNotifier(),
            pager=RecordingNotifier(),
            clock=harness.clock,
        )
        other.acknowledge(incident.id, by="bob")
        assert harness.flow.get(incident.id).acknowledged_by == "bob"
        harness.flow.note(incident.id, "on it", by="alice")
        assert other.get(incident.id) == harness.flow.get(incident.id)

    def test_clock_going_backwards_never_reorders_the_timeline(self, harness: Harness) -> None:
        incident = harness.flow.trigger(P1)
        harness.clock.set(T0.replace(year=2024))
        harness.flow.acknowledge(incident.id, by="alice")
        stamps = [e.at for e in harness.flow.history(incident.id)]
        assert stamps == sorted(stamps)

    def test_repr_names_the_parts(self) -> None:
        flow = IncidentFlow(publisher=RecordingPublisher(), clock=ManualClock(T0))
        assert "MemoryStore" in repr(flow) and "LogNotifier" in repr(flow)

    def test_defaults(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_flow: MakeFlow
    ) -> None:
        monkeypatch.chdir(tmp_path)
        flow = make_flow()
        assert flow.policy == Policy.default()
        incident = flow.trigger(P1)
        flow.resolve(incident.id, by="a")
        flow.start_postmortem(
            incident.id, author="a", impact="checkout failed", root_cause="a bad deploy"
        )
        flow.submit_postmortem(incident.id, by="a")
        flow.approve_postmortem(incident.id, reviewer="b")
        published = flow.approve_postmortem(incident.id, reviewer="c")
        assert published.postmortem is not None
        assert published.postmortem.location is not None
        assert published.postmortem.location.startswith("postmortems/")
        assert (tmp_path / published.postmortem.location).exists()


class RacingStore(MemoryStore):
    """Runs ``before_append`` once, just before the next append: another replica was faster."""

    def __init__(self) -> None:
        super().__init__()
        self.before_append: list[Callable[[], object]] = []
        self._racing = False

    def append(self, *args: Any, **kwargs: Any) -> None:
        if self.before_append and not self._racing:
            self._racing = True  # the other replica's own appends go straight through
            try:
                self.before_append.pop(0)()
            finally:
                self._racing = False
        super().append(*args, **kwargs)


class TestConcurrentReplicas:
    """Two flows on one store: the loser of a race reloads and retries, nothing is lost."""

    def make(self) -> tuple[RacingStore, IncidentFlow, IncidentFlow, RecordingNotifier]:
        store = RacingStore()
        pager = RecordingNotifier()
        clock = ManualClock(T0)
        ours = IncidentFlow(
            store=store,
            notifier=RecordingNotifier(),
            pager=pager,
            clock=clock,
            publisher=RecordingPublisher(),
        )
        theirs = IncidentFlow(
            store=store,
            notifier=RecordingNotifier(),
            pager=pager,
            clock=clock,
            publisher=RecordingPublisher(),
        )
        return store, ours, theirs, pager

    def test_dedup_race_attaches_to_the_winner(self) -> None:
        store, ours, theirs, pager = self.make()
        winner: list[str] = []
        store.before_append.append(lambda: winner.append(theirs.trigger(P1).id))
        incident = ours.trigger(P1)
        assert incident.id == winner[0]
        assert incident.alert_count == 2
        assert len(ours.incidents()) == 1
        assert [m.kind for m in pager.messages] == ["page"]

    def test_stale_command_is_retried_on_the_fresh_incident(self) -> None:
        store, ours, theirs, _ = self.make()
        incident = ours.trigger(P1)
        store.before_append.append(lambda: theirs.note(incident.id, "racing", by="zoe"))
        acked = ours.acknowledge(incident.id, by="alice")
        types = [e.type for e in ours.history(incident.id)]
        assert types.index("NoteAdded") < types.index("IncidentAcknowledged")
        assert acked.acknowledged_by == "alice"

    def test_a_retry_that_loses_again_surfaces_the_conflict(self) -> None:
        store, ours, theirs, _ = self.make()
        incident = ours.trigger(P1)
        store.before_append.extend(
            [
                lambda: theirs.note(incident.id, "one", by="zoe"),
                lambda: theirs.note(incident.id, "two", by="zoe"),
            ]
        )
        with pytest.raises(ConcurrencyError):
            ours.acknowledge(incident.id, by="alice")
        assert all(e.type != "IncidentAcknowledged" for e in ours.history(incident.id))

    def test_a_repeat_racing_the_postmortem_opens_a_new_incident(self) -> None:
        store, ours, theirs, _ = self.make()
        first = ours.trigger(P4)
        ours.resolve(first.id, by="alice")
        # Between our dedup lookup and our append, another replica starts the post-mortem.
        store.before_append.append(lambda: theirs.start_postmortem(first.id, author="bob"))
        second = ours.trigger(P4)
        assert second.id != first.id
        assert ours.get(first.id).state == "postmortem"
        assert ours.get(first.id).alert_count == 1

    def test_a_stale_cache_never_refuses_wrongly(self) -> None:
        _, ours, theirs, _ = self.make()
        incident = ours.trigger(P4)
        theirs.resolve(incident.id, by="bob")  # our cache still says notified
        closed = ours.waive_action_item(incident.id, "AI-1", by="alice", reason="noise")
        assert closed.state == "resolved"
        assert ours.close(incident.id, by="alice").state == "closed"

    def test_a_stale_cache_never_skips_an_acknowledgement(self) -> None:
        _, ours, theirs, _ = self.make()
        incident = ours.trigger(P1)
        ours.acknowledge(incident.id, by="alice")
        theirs.resolve(incident.id, by="bob")
        theirs.reopen(incident.id, by="bob")  # a critical reopen pages again: ack cleared
        acked = ours.acknowledge(incident.id, by="alice")
        assert acked.acknowledged_by == "alice"
        assert acked.acknowledged_at is not None

    def test_cache_eviction_keeps_reads_correct(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import incident_flow._drivers.loop as flow_module

        monkeypatch.setattr(flow_module, "_CACHE_SIZE", 2)
        _, ours, _, _ = self.make()
        ids = [ours.trigger(attrs.evolve(P4, dedup_key=f"k{n}")).id for n in range(5)]
        assert len(ours._cache) == 2
        assert [i.id for i in ours.incidents()] == ids
        assert ours.note(ids[0], "still here", by="a").version > 3
