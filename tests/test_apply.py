"""flow.apply: a responder's action in a vendor's tool, applied once, never echoed, never lost."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import attrs
import pytest

from incident_flow import (
    Action,
    Alert,
    IncidentNotFound,
    InvalidCommand,
    InvalidPolicy,
    Person,
    Policy,
    Severity,
)
from incident_flow._core.people import People

from .conftest import CHECKOUT_RUNBOOK, PULL_REQUEST, T0, Harness, MakeFlow, PullRequestPublisher

P1 = Alert(source="datadog", name="CheckoutHighErrorRate", title="Checkout errors", severity="P1")
P4 = Alert(source="checkly", name="DocsSlow", title="Docs are slow", severity="P4")
ALICE = Person(name="alice", email="alice@example.com", slack="U024BE7LH", pagerduty="PXPGF42")
BOB = Person(name="bob", slack="U0BOB", github="bob-gh", opsgenie="bob@example.com")


@pytest.fixture
def policy() -> Policy:
    return Policy(runbooks=[CHECKOUT_RUNBOOK], people=[ALICE, BOB])


@pytest.fixture
def on_github(policy: Policy, tmp_path: object, make_flow: MakeFlow) -> Harness:
    """The harness with the post-mortem reviewed on a pull request (``PULL_REQUEST``)."""
    return Harness(policy, str(tmp_path), make_flow, publisher=PullRequestPublisher())


def act(incident_id: str, kind: str, **fields: Any) -> Action:
    fields.setdefault("source", "pagerduty")
    fields.setdefault("by", "PXPGF42")
    return Action(kind=kind, incident=incident_id, **fields)


def types(harness: Harness, incident_id: str) -> list[str]:
    return [e.type for e in harness.flow.history(incident_id)]


class TestApplied:
    """An action runs as the command it names, by the person the vendor's identity is."""

    def test_an_acknowledgement_in_pagerduty(self, harness: Harness) -> None:
        incident = harness.flow.trigger(P1)
        harness.clock.advance(90)
        done = harness.flow.apply(act(incident.id, "acknowledge", at=T0 + timedelta(seconds=80)))
        assert done.acknowledged_by == "alice"
        assert done.acknowledged_at == T0 + timedelta(seconds=80)  # PagerDuty's time: MTTA
        assert done.escalation_due_at is None  # escalation stops
        applied, acked = harness.flow.history(incident.id)[-4:-2]
        assert (applied.type, applied.by) == ("ActionApplied", "alice")
        assert (applied.source, applied.identity) == ("pagerduty", "PXPGF42")  # type: ignore[attr-defined]
        assert (acked.type, acked.by) == ("IncidentAcknowledged", "alice")
        ack = harness.pager.of(incident.id, "ack")[0]
        assert ack.origin == "pagerduty"  # the pager adapter does not send it back there
        assert harness.chat.of(incident.id, "update")[-1].text == "Acknowledged by alice"

    def test_the_vendors_time_is_kept_within_the_incident(self, harness: Harness) -> None:
        incident = harness.flow.trigger(P1)
        harness.clock.advance(60)
        early = harness.flow.apply(act(incident.id, "acknowledge", at=T0 - timedelta(days=1)))
        assert early.acknowledged_at == T0
        other = harness.flow.trigger(attrs.evolve(P1, dedup_key="other"))
        late = harness.flow.apply(act(other.id, "resolve", at=T0 + timedelta(days=1)))
        assert late.resolved_at == harness.clock.now()

    def test_an_unknown_identity_is_kept_as_the_vendors(self, harness: Harness) -> None:
        incident = harness.flow.trigger(P4)
        done = harness.flow.apply(act(incident.id, "note", source="slack", by="U9", text="hi"))
        assert harness.flow.history(incident.id)[-3].by == "slack:U9"
        assert done.version == incident.version + 3  # applied, the note, its Slack delivery

    def test_an_email_alias_finds_the_person(self, harness: Harness) -> None:
        incident = harness.flow.trigger(P1)
        action = act(
            incident.id,
            "acknowledge",
            source="opsgenie",
            by="u-77",
            by_aliases=["ALICE@example.com"],
        )
        assert harness.flow.apply(action).acknowledged_by == "alice"

    @pytest.mark.parametrize(
        ("kind", "fields", "expect"),
        [
            ("note", {"text": "db failover"}, "NoteAdded"),
            ("reclassify", {"severity": "P2"}, "SeverityChanged"),
            ("start_runbook", {}, "RunbookStarted"),
            ("escalate", {}, "Escalated"),
            ("resolve", {"text": "rolled back"}, "IncidentResolved"),
        ],
    )
    def test_each_kind(
        self, harness: Harness, kind: str, fields: dict[str, Any], expect: str
    ) -> None:
        incident = harness.flow.trigger(P1)
        harness.flow.apply(act(incident.id, kind, **fields))
        assert expect in types(harness, incident.id)[incident.version :]

    def test_a_manual_escalation_pages_the_next_level_and_names_who_asked(
        self, harness: Harness
    ) -> None:
        incident = harness.flow.trigger(P1)
        harness.flow.acknowledge(incident.id, by="alice")
        done = harness.flow.escalate(incident.id, by="alice")
        assert done.escalation_level == 1
        assert done.escalation_due_at is None  # acknowledged: the timer stays stopped
        assert harness.chat.of(incident.id, "update")[-1].text == (
            "Escalated to secondary on-call (level 1) by alice"
        )
        assert [m.kind for m in harness.pager.of(incident.id)] == ["page", "ack", "page"]

    def test_an_unacknowledged_manual_escalation_keeps_the_timer(self, harness: Harness) -> None:
        incident = harness.flow.trigger(P1)
        done = harness.flow.escalate(incident.id, by="alice")
        assert done.escalation_due_at == T0 + timedelta(minutes=5)

    def test_a_review_approval_and_the_review_notes(self, on_github: Harness) -> None:
        harness = on_github
        incident = harness.flow.trigger(P1)
        harness.flow.resolve(incident.id, by="alice")
        harness.flow.start_postmortem(
            incident.id, author="alice", impact="checkout failed", root_cause="a bad deploy"
        )
        harness.flow.submit_postmortem(incident.id, by="alice")
        review = {"source": "github", "by": "bob-gh", "review_url": PULL_REQUEST}
        done = harness.flow.apply(act(incident.id, "approve_postmortem", **review))
        assert done.postmortem is not None and done.postmortem.approvals == ("bob",)
        changed = harness.flow.apply(act(incident.id, "request_changes", text="say more", **review))
        assert changed.postmortem is not None and changed.postmortem.approvals == ()
        merged = harness.flow.apply(act(incident.id, "postmortem_merged", **review))
        assert merged.postmortem is not None and merged.postmortem.stage == "merged"
        notes = [m.text for m in harness.chat.of(incident.id, "update")][-2:]
        assert notes == [
            "bob requested changes on the post-mortem: say more",
            (
                f"Post-mortem merged at {PULL_REQUEST} with 0 of 2 approvals: "
                "it counts once the rest approve"
            ),
        ]


class TestExactlyOnce:
    """Retries, echoes and repeats change nothing."""

    def test_a_retried_delivery_is_applied_once(self, harness: Harness) -> None:
        incident = harness.flow.trigger(P4)
        note = act(incident.id, "note", text="checking", delivery_id="pagerduty:wh-1")
        first = harness.flow.apply(note)
        again = harness.flow.apply(note)
        assert again.version == first.version
        assert types(harness, incident.id).count("NoteAdded") == 1
        assert first.deliveries == frozenset({"pagerduty:wh-1"})

    def test_the_echo_of_an_ack_we_mirrored_changes_nothing(self, harness: Harness) -> None:
        incident = harness.flow.trigger(P1)
        acked = harness.flow.acknowledge(incident.id, by="alice")  # pressed in Slack
        echo = act(incident.id, "acknowledge", by="PSERVICE", delivery_id="pagerduty:wh-2")
        after = harness.flow.apply(echo)
        assert after.version == acked.version
        assert [m.kind for m in harness.pager.of(incident.id)] == ["page", "ack"]
        assert len(harness.chat.of(incident.id, "update")) == 1

    def test_the_echo_of_a_resolve_changes_nothing_while_open(self, harness: Harness) -> None:
        incident = harness.flow.trigger(P1)
        resolved = harness.flow.resolve(incident.id, by="alice")
        for state_changer in (
            lambda: None,
            lambda: harness.flow.start_postmortem(incident.id, author="alice"),
        ):
            state_changer()
            before = harness.flow.get(incident.id)
            assert harness.flow.apply(act(incident.id, "resolve")).version == before.version
        assert resolved.state == "resolved"

    def test_a_second_persons_ack_or_the_same_severity_changes_nothing(
        self, harness: Harness
    ) -> None:
        incident = harness.flow.trigger(P1)
        acked = harness.flow.apply(act(incident.id, "acknowledge"))
        again = harness.flow.apply(act(incident.id, "acknowledge", source="slack", by="U0BOB"))
        same = harness.flow.apply(act(incident.id, "reclassify", severity="P1"))
        running = harness.flow.start_runbook(incident.id, by="alice")
        runbook_again = harness.flow.apply(act(incident.id, "start_runbook"))
        reopen_open = harness.flow.apply(act(incident.id, "reopen"))
        assert acked.version == again.version == same.version
        assert running.version == runbook_again.version == reopen_open.version


class TestIgnored:
    """What the state no longer allows is recorded with the reason, and never raises."""

    def test_a_resolve_after_close_is_ignored_with_the_reason(self, harness: Harness) -> None:
        incident = harness.flow.trigger(P4)
        harness.flow.resolve(incident.id, by="alice")
        harness.flow.add_runbook(incident.id, CHECKOUT_RUNBOOK, by="alice")
        closed = harness.flow.close(incident.id, by="alice")
        chat_before = len(harness.chat.of(incident.id))
        late = act(incident.id, "resolve", delivery_id="pagerduty:late")
        after = harness.flow.apply(late)
        assert after.state == "closed" and after.version == closed.version + 1
        ignored = harness.flow.history(incident.id)[-1]
        assert (ignored.type, ignored.by) == ("ActionIgnored", "alice")
        assert "closed" in ignored.reason  # type: ignore[attr-defined]
        assert len(harness.chat.of(incident.id)) == chat_before  # said nowhere but the timeline
        assert harness.flow.apply(late).version == after.version  # its retry: once

    def test_refused_by_the_policy(self, harness: Harness) -> None:
        incident = harness.flow.trigger(P4)
        harness.flow.apply(act(incident.id, "escalate"))
        (ignored,) = [e for e in harness.flow.history(incident.id) if e.type == "ActionIgnored"]
        assert ignored.reason == (  # type: ignore[attr-defined]
            f"incident {incident.id} (notified): cannot escalate: P4 is not paged; reclassify "
            "it to a paging severity first [escalation_needs_page]"
        )
        critical = harness.flow.trigger(P1)
        for _ in range(3):
            harness.flow.apply(act(critical.id, "escalate"))
        reasons = [e.reason for e in harness.flow.history(critical.id) if e.type == "ActionIgnored"]  # type: ignore[attr-defined]
        assert reasons == [
            (
                f"incident {critical.id} (notified): cannot escalate: already at the last "
                "escalation level (2) [escalation_levels]"
            )
        ]

    def test_the_author_approving_on_github_is_ignored(self, on_github: Harness) -> None:
        harness = on_github
        incident = harness.flow.trigger(P1)
        harness.flow.resolve(incident.id, by="alice")
        harness.flow.start_postmortem(
            incident.id, author="bob", impact="checkout failed", root_cause="a bad deploy"
        )
        harness.flow.submit_postmortem(incident.id, by="bob")
        harness.flow.apply(
            act(
                incident.id,
                "approve_postmortem",
                source="github",
                by="bob-gh",
                review_url=PULL_REQUEST,
            )
        )
        last = harness.flow.history(incident.id)[-1]
        assert last.type == "ActionIgnored" and "independent_review" in last.reason  # type: ignore[attr-defined]

    def test_a_blank_note_is_ignored_not_raised(self, harness: Harness) -> None:
        incident = harness.flow.trigger(P4)
        harness.flow.apply(act(incident.id, "note", text="  "))
        assert "text must not be blank" in harness.flow.history(incident.id)[-1].reason  # type: ignore[attr-defined]


class TestWhichIncident:
    """Our id, else the dedup key of an incident a vendor's alert opened; else not found."""

    def test_by_dedup_key(self, harness: Harness) -> None:
        alert = Alert(source="pagerduty", name="pig208", title="t", dedup_key="pagerduty:PQ1K5C8")
        incident = harness.flow.trigger(attrs.evolve(alert, severity="P2"))
        done = harness.flow.apply(act("pagerduty:PQ1K5C8", "acknowledge"))
        assert done.id == incident.id and done.acknowledged_by == "alice"

    def test_unknown(self, harness: Harness) -> None:
        with pytest.raises(IncidentNotFound, match="no incident here is named 'inc-nope'"):
            harness.flow.apply(act("inc-nope", "acknowledge"))

    def test_not_an_action(self, harness: Harness) -> None:
        with pytest.raises(InvalidCommand, match="apply takes an Action, got dict"):
            harness.flow.apply({"kind": "acknowledge"})  # type: ignore[arg-type]


class TestPeople:
    """Policy.people: one person behind every vendor identity, from Python or TOML."""

    def test_lookups(self) -> None:
        people = People([ALICE, BOB])
        assert people.name("slack", "u024be7lh") == "alice"
        assert people.name("pagerduty", "nobody", "alice@example.com") == "alice"
        assert people.name("github", "bob-gh") == "bob"
        assert people.name("github", "alice") == "github:alice"  # a name is not an identity
        assert people.find("opsgenie", "BOB@example.com") == "bob"
        assert len(people) == 2 and list(people) == [ALICE, BOB]
        assert ALICE.identities("jira") == ("alice@example.com",)

    def test_from_toml(self, tmp_path: Any) -> None:
        path = tmp_path / "policy.toml"
        path.write_text(
            '[[people]]\nname = "alice"\nslack = "U1"\npagerduty = ["PX1", "alice@x.io"]\n'
            '[[people]]\nname = "bob"\ngithub = "bob-gh"\n',
            encoding="utf-8",
        )
        policy = Policy.from_toml(path)
        assert policy.people.name("pagerduty", "alice@x.io") == "alice"
        assert policy.people.name("github", "bob-gh") == "bob"

    def test_every_problem_at_once(self) -> None:
        with pytest.raises(InvalidPolicy) as caught:
            Policy.from_mapping(
                {
                    "people": [
                        {"name": "alice", "slack": "U1"},
                        {"name": "bob", "slack": "u1", "pager": "x"},
                        {"name": "carol", "slack": "U1", "github": [3]},
                        {"slack": "U7"},
                        "dave",
                    ]
                }
            )
        assert list(caught.value.problems) == [
            (
                "people[1].pager: unknown key, did you mean 'pagerduty'? "
                "(known: name, email, slack, pagerduty, opsgenie, github, phone)"
            ),
            "people[2].github: must be a string or a list of strings, got [3]",
            "people[3].name: must be a non-empty string, got None",
            "people[4]: must be a table, got 'dave'",
        ]
        with pytest.raises(InvalidPolicy, match=r"people\[1\]: slack identity 'u1' is alice's"):
            Policy.from_mapping(
                {"people": [{"name": "alice", "slack": "U1"}, {"name": "b", "slack": "u1"}]}
            )
        with pytest.raises(InvalidPolicy, match="must be an array of tables"):
            Policy.from_mapping({"people": {"name": "alice"}})

    def test_bad_values_in_python(self) -> None:
        with pytest.raises(ValueError, match=r"Person\.name must be a non-empty string"):
            Person(name=" ")
        with pytest.raises(ValueError, match="an identity must be a non-empty string"):
            Person(name="a", slack=[""])
        with pytest.raises(TypeError, match="People takes Person values"):
            People(["alice"])  # type: ignore[list-item]
        assert Policy(people=People([ALICE])).people.find("slack", "U024BE7LH") == "alice"
        assert Severity.P1 in Policy().critical
