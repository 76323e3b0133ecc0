"""Issue 32, roles: who leads, hand-overs, and the commander nobody took.

The policy's ``[roles]`` (and a team's), the pure decisions (assign, the commander timer), the
flows on memory, SQLite and PostgreSQL under both drivers, and what the post-mortem and the
report say of them.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import attrs
import pytest

from incident_flow import (
    Alert,
    IncidentFlow,
    InvalidCommand,
    InvalidPolicy,
    InvalidTransition,
    MemoryStore,
    Person,
    Policy,
    PolicyViolation,
    PostMortemDocument,
    RecordingNotifier,
    RoleChange,
    Roles,
    Severity,
    Team,
)
from incident_flow._core import commands as cmd
from incident_flow._core import events as ev
from incident_flow._core.decision import Decision
from incident_flow._core.incident import fold
from incident_flow._core.roles import commander_watch, role_slug
from incident_flow._response.decide import decide, decide_reminder
from incident_flow._response.roles import decide_commander
from incident_flow.adapters.stores.postgres import PostgresStore
from incident_flow.adapters.stores.sqlite import SQLiteStore
from incident_flow.events import event_from_dict, event_to_dict
from incident_flow.testing import ManualClock

from .conftest import T0, MakeFlow, pg_schema

PEOPLE = [
    Person(name="alice", slack="U0ALICE"),
    Person(name="Bob", slack="U0BOB"),
    Person(name="carol"),
]
SCHEDULE = """
[[schedules]]
name = "commanders"
[[schedules.layers]]
name = "weeks"
members = ["dave", "erin"]
period = "1 week"
start = 2025-03-03
"""


def leading(**changes: object) -> Policy:
    """P1 needs a commander: reminded after 10 min, the rotation ``ic`` paged 10 min later."""
    roles = Roles(commander_required=["P1"], page=["ic"])
    fields: dict[str, object] = {"roles": roles, "people": PEOPLE}
    fields.update(changes)
    return Policy(**fields)  # type: ignore[arg-type]


def p1(key: str = "k1", severity: str = "P1") -> Alert:
    return Alert(
        source="s", name="CheckoutDown", title="Checkout down", severity=severity, dedup_key=key
    )


class Flow:
    """A flow with recording channels and a manual clock."""

    def __init__(self, policy: Policy, make: MakeFlow = IncidentFlow, store: object = None) -> None:
        self.clock = ManualClock(T0)
        self.chat, self.pager = RecordingNotifier(), RecordingNotifier()
        kwargs = {} if store is None else {"store": store}
        self.flow = make(policy, notifier=self.chat, pager=self.pager, clock=self.clock, **kwargs)

    def after(self, minutes: int) -> list[str]:
        """The worker's reminder turn ``minutes`` later: the commander steps it took."""
        self.clock.advance(timedelta(minutes=minutes))
        return [str(i.commander_step) for i in self.flow.remind_due()]


# ------------------------------------------------------------------------------ values


class TestRolesValue:
    """Roles are slugs; the commander rule is checked when built."""

    @pytest.mark.parametrize(
        ("given", "slug"),
        [("Commander", "commander"), (" Comms Lead ", "comms-lead"), ("scribe_2", "scribe-2")],
    )
    def test_names_are_slugged(self, given: str, slug: str) -> None:
        assert role_slug(given) == slug
        assert Roles(names=[given, given.upper()]).names == (slug,)

    @pytest.mark.parametrize("bad", ["", "  ", "***", "x" * 41, 3, None])
    def test_a_name_without_letters_is_refused(self, bad: object) -> None:
        with pytest.raises(ValueError, match="role"):
            role_slug(bad)

    def test_defaults_need_no_commander(self) -> None:
        roles = Roles()
        assert roles.names == ("commander", "communications", "scribe")
        assert not roles.needs_commander(Severity.P1)
        assert roles.describe() == (
            "roles: commander, communications, scribe; no severity needs a commander"
        )

    def test_a_required_commander_must_be_a_role(self) -> None:
        with pytest.raises(ValueError, match="'commander' is not among the roles"):
            Roles(names=["scribe"], commander_required=["P1"])

    @pytest.mark.parametrize(
        "fields",
        [
            {"names": "commander"},
            {"names": []},
            {"remind_after": 0},
            {"page_after": timedelta(0)},
            {"page": [""]},
            {"page": 3},
        ],
    )
    def test_wrong_values_are_refused(self, fields: dict[str, object]) -> None:
        with pytest.raises(ValueError):  # noqa: PT011 - each says its own field
            Roles(**fields)  # type: ignore[arg-type]

    def test_describe_says_the_rule(self) -> None:
        roles = Roles(
            commander_required=["P2", "P1"], remind_after=90, page_after=timedelta(hours=1),
            page="schedule:ic",
        )  # fmt: skip
        assert roles.page == ("schedule:ic",)
        assert roles.describe() == (
            "roles: commander, communications, scribe; P1, P2 need a commander: reminded "
            "after 90s, then schedule:ic paged 1h later"
        )
        assert (
            Roles(commander_required=["P1"], remind_after=120)
            .describe()
            .endswith("P1 need a commander: reminded after 2m")
        )
        assert roles.role("Scribe") == "scribe" and roles.role("nope") is None
        assert roles.role(3) is None


class TestPolicyFile:
    """``[roles]`` and ``[teams.roles]``: read, inherited, every problem with its path."""

    def test_a_policy_without_roles_is_as_before(self) -> None:
        assert Policy.from_text("") == Policy()
        assert Policy().roles == Roles()

    def test_roles_and_a_team_that_overrides_them(self) -> None:
        policy = Policy.from_text(
            'default_team = "web"\n'
            + SCHEDULE
            + """
[roles]
names = ["Commander", "Comms Lead", "scribe"]
commander_required = ["P1"]
remind_after = "5m"
page_after = "15m"
page = "schedule:commanders"

[[teams]]
name = "pay"
schedules = ["commanders"]
[teams.roles]
commander_required = ["P1", "P2"]

[[teams]]
name = "web"
"""
        )
        assert policy.roles == Roles(
            names=["commander", "comms-lead", "scribe"], commander_required=["P1"],
            remind_after=300, page_after=900, page=["schedule:commanders"],
        )  # fmt: skip
        pay = policy.for_team("pay").roles
        assert pay.commander_required == {Severity.P1, Severity.P2}
        assert pay.names == policy.roles.names and pay.page == policy.roles.page
        assert policy.for_team("web").roles == policy.roles

    @pytest.mark.parametrize(
        ("text", "problem"),
        [
            ("[roles]\nbogus = 1", "roles.bogus: unknown key"),
            ("roles = 3", "roles: must be a table"),
            ('[roles]\nnames = ["a", "A"]', "roles.names[1]: 'a' is declared twice"),
            ('[roles]\nnames = ["", "b"]', "roles.names[0]: a role's name needs letters"),
            ("[roles]\nnames = []", "roles.names: must be a non-empty list"),
            ('[roles]\ncommander_required = ["P9"]', "roles.commander_required[0]: must be one"),
            ('[roles]\nremind_after = "0"', "roles.remind_after: must be a positive duration"),
            ("[roles]\npage = [3]", "roles.page: must be a list of non-empty names"),
            (
                '[roles]\nnames = ["scribe"]\ncommander_required = ["P1"]',
                "roles: commander_required names severities, but 'commander' is not among",
            ),
            (
                '[roles]\npage = ["schedule:nope"]',
                "roles.page: 'schedule:nope': no schedule 'nope' (known: none)",
            ),
            (
                SCHEDULE + '[roles]\npage = ["schedule:commanders"]\n[[teams]]\nname = "pay"\n'
                "schedules = []",
                "teams.pay.roles.page: 'schedule:commanders': the team is not on call through",
            ),
            (
                '[[teams]]\nname = "pay"\n[teams.roles]\npage_after = "never"',
                "teams[0].roles.page_after: must be a positive duration",
            ),
        ],
    )
    def test_problems_are_said_with_their_path(self, text: str, problem: str) -> None:
        with pytest.raises(InvalidPolicy) as caught:
            Policy.from_text(text)
        assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems

    def test_a_broken_policy_table_is_said_once(self) -> None:
        text = '[roles]\nnames = [""]\n[[teams]]\nname = "pay"\n[teams.roles]\nremind_after = "5m"'
        with pytest.raises(InvalidPolicy) as caught:
            Policy.from_text(text)
        assert [p.split(":")[0] for p in caught.value.problems] == ["roles.names[0]"]

    def test_the_class_checks_the_rotation_too(self) -> None:
        with pytest.raises(ValueError, match="no schedule 'x'"):
            Policy(roles=Roles(page=["schedule:x"]))
        with pytest.raises(TypeError, match="Roles value"):
            Policy(roles="commander")  # type: ignore[arg-type]
        assert Policy(roles=None).roles == Roles()  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            Team(name="pay", roles="commander")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ decisions


def opened(policy: Policy, severity: str = "P1") -> tuple[Flow, str]:
    flow = Flow(policy)
    return flow, flow.flow.trigger(p1(severity=severity)).id


class TestAssign:
    """A person of the policy takes a declared role; hand-overs are recorded; mistakes refused."""

    def test_assign_then_hand_over(self) -> None:
        flow, incident_id = opened(leading())
        first = flow.flow.assign(incident_id, "Commander", "ALICE", by="Bob")
        assert dict(first.roles) == {"commander": "alice"}
        handed = flow.flow.assign(incident_id, "commander", "bob", by="alice")
        assert dict(handed.roles) == {"commander": "Bob"}
        assert handed.role_changes == (
            RoleChange(role="commander", person="alice", previous=None, by="Bob", at=T0),
            RoleChange(role="commander", person="Bob", previous="alice", by="alice", at=T0),
        )
        scribe = flow.flow.assign(incident_id, "scribe", "carol", by="carol")
        assert dict(scribe.roles) == {"commander": "Bob", "scribe": "carol"}
        said = [m.text for m in flow.chat.of(incident_id, "update")]
        assert said == [
            "alice is commander now (assigned by Bob)",
            "commander: alice handed over to Bob (by alice)",
            "carol is scribe now",
        ]

    def test_the_same_holder_again_changes_nothing(self) -> None:
        flow, incident_id = opened(leading())
        once = flow.flow.assign(incident_id, "commander", "alice", by="alice")
        again = flow.flow.assign(incident_id, "commander", "Alice", by="bob")
        assert again.version == once.version

    @pytest.mark.parametrize(
        ("role", "person", "standard", "detail"),
        [
            ("pilot", "alice", "unknown_role", "no role 'pilot' (the roles: commander, "),
            ("commander", "mallory", "unknown_person", "'mallory' is not a person of the policy"),
            ("commander", "<!channel>", "unknown_person", "'<!channel>' is not a person"),
        ],
    )
    def test_refusals_change_nothing(
        self, role: str, person: str, standard: str, detail: str
    ) -> None:
        flow, incident_id = opened(leading())
        before = flow.flow.history(incident_id)
        with pytest.raises(PolicyViolation) as caught:
            flow.flow.assign(incident_id, role, person, by="alice")
        assert (caught.value.standard, caught.value.trigger) == (standard, "assign_role")
        assert detail in str(caught.value)
        assert flow.flow.history(incident_id) == before

    @pytest.mark.parametrize(
        ("count", "listed"),
        [
            (3, "p00, p01, p02)"),
            (10, ", ".join(f"p{i:02d}" for i in range(10)) + ")"),
            (11, ", ".join(f"p{i:02d}" for i in range(10)) + " and 1 more)"),
            (12, ", ".join(f"p{i:02d}" for i in range(10)) + " and 2 more)"),
        ],
    )
    def test_an_unknown_person_is_told_the_first_ten_people(self, count: int, listed: str) -> None:
        people = [Person(name=f"p{i:02d}") for i in range(count)]
        flow, incident_id = opened(leading(people=people))
        with pytest.raises(PolicyViolation) as caught:
            flow.flow.assign(incident_id, "commander", "mallory", by="p00")
        assert caught.value.detail == (f"'mallory' is not a person of the policy (people: {listed}")

    @pytest.mark.parametrize(
        ("role", "person"),
        [
            ("", "alice"),
            ("commander", " "),
            ("x", 3),
            ("commander", "al\x1b[2Jice"),
            ("commander", "a\nb"),
            ("commander", "nul\x00"),
            ("commander", "\ud800"),
            ("commander", "x" * 201),
        ],
    )
    def test_blank_arguments_are_invalid_commands(self, role: str, person: object) -> None:
        with pytest.raises(InvalidCommand):
            cmd.AssignRole(by="alice", role=role, person=person)  # type: ignore[arg-type]

    def test_a_closed_incident_refuses(self) -> None:
        flow, incident_id = opened(Policy(), severity="P4")
        flow.flow.resolve(incident_id, by="alice")
        flow.flow.waive_action_item(incident_id, "AI-1", by="alice", reason="known")
        flow.flow.close(incident_id, by="alice")
        with pytest.raises(InvalidTransition, match="assign_role"):
            flow.flow.assign(incident_id, "scribe", "alice", by="alice")

    def test_a_policy_without_people_takes_any_name(self) -> None:
        flow, incident_id = opened(Policy(), severity="P3")
        done = flow.flow.assign(incident_id, "scribe", "Zoë", by="zoë")
        assert dict(done.roles) == {"scribe": "Zoë"}
        assert flow.chat.of(incident_id, "update")[-1].text == "Zoë is scribe now"

    def test_from_a_vendor_only_the_policys_people_assign(self) -> None:
        flow, incident_id = opened(leading())
        incident = flow.flow.get(incident_id)
        stranger = cmd.AssignRole(
            by="slack:U0EVIL", role="commander", person="alice", origin="slack"
        )
        with pytest.raises(
            PolicyViolation, match="slack:U0EVIL is not a person of the policy"
        ) as caught:
            decide(incident, stranger, leading(), T0)
        assert (caught.value.standard, caught.value.trigger) == ("unknown_person", "assign_role")
        known = attrs.evolve(stranger, by="carol")
        assert [e.type for e in decide(incident, known, leading(), T0).events] == ["RoleAssigned"]


class TestCommanderWatch:
    """The timer runs while a severity that needs a commander is unresolved and nobody leads."""

    def test_a_p1_starts_the_timer_and_a_p3_does_not(self) -> None:
        flow, incident_id = opened(leading())
        incident = flow.flow.get(incident_id)
        assert incident.commander_required and incident.commander_step == "remind"
        assert incident.commander_due_at == T0 + timedelta(minutes=10)
        assert incident.next_timer_at == T0 + timedelta(minutes=5)  # the escalation is first
        flow3, other = opened(leading(), severity="P3")
        low = flow3.flow.get(other)
        assert not low.commander_required and low.commander_step is None

    def test_a_default_policy_records_nothing_new(self) -> None:
        flow, incident_id = opened(Policy())
        types = {e.type for e in flow.flow.history(incident_id)}
        assert not types & {"CommanderScheduled", "CommanderReminded", "RoleAssigned"}
        assert flow.flow.get(incident_id).commander_step is None

    def test_remind_then_page_then_nothing(self) -> None:
        flow, incident_id = opened(leading())
        assert flow.after(9) == []
        assert flow.after(1) == ["page"]
        said = flow.chat.of(incident_id, "update")[-1].text
        assert said == (
            f"No incident commander yet for this P1 incident: take the lead (/incident lead "
            f"{incident_id}, or the I'll lead button) before the commander rotation is paged"
        )
        assert flow.after(10) == ["done"]
        pages = flow.pager.of(incident_id, "page")
        assert pages[-1].to == ("ic",)
        assert pages[-1].text == "[P1] Checkout down (no commander: paging ic)"
        assert (
            flow.chat.of(incident_id, "update")[-1].text == "Still no commander: paged ic to lead"
        )
        assert flow.after(60) == []
        assert flow.flow.get(incident_id).next_timer_at is not None  # the escalation still runs

    def test_a_commander_stops_it_and_a_handover_keeps_one(self) -> None:
        flow, incident_id = opened(leading())
        led = flow.flow.assign(incident_id, "commander", "carol", by="carol")
        assert led.commander_step is None and led.commander_due_at is None
        assert flow.after(30) == []
        handed = flow.flow.assign(incident_id, "commander", "alice", by="carol")
        assert handed.roles["commander"] == "alice" and handed.commander_required

    def test_the_schedule_says_who_is_paged_and_a_gap_is_said(self) -> None:
        text = SCHEDULE + '[roles]\ncommander_required = ["P1"]\npage = ["schedule:commanders"]'
        flow, incident_id = opened(Policy.from_text(text))
        flow.after(10)
        flow.after(10)
        assert flow.pager.of(incident_id, "page")[-1].to == ("dave",)
        gap = Policy.from_text(
            SCHEDULE.replace('["dave", "erin"]', '[""]')
            + '[roles]\ncommander_required = ["P1"]\npage = ["schedule:commanders"]'
        )
        flow, incident_id = opened(gap)
        flow.after(10)
        flow.after(10)
        assert flow.chat.of(incident_id, "update")[-1].text == (
            "Still no commander and NOBODY IS ON CALL in schedule:commanders"
        )
        history = flow.flow.history(incident_id)
        assert [e for e in history if isinstance(e, ev.CommanderReminded)][-1].paged is False

    def test_no_page_without_a_rotation_or_below_critical(self) -> None:
        flow, incident_id = opened(leading(roles=Roles(commander_required=["P1"])))
        assert flow.after(10) == ["done"]
        assert flow.pager.of(incident_id, "page") == flow.pager.of(incident_id, "page")[:1]
        roles = Roles(commander_required=["P3"], page=["ic"])
        flow, incident_id = opened(leading(roles=roles), severity="P3")
        assert flow.after(10) == ["done"]
        assert flow.pager.of(incident_id) == []  # a never-critical incident is never paged

    def test_a_downgrade_while_the_page_is_due_reminds_instead(self) -> None:
        roles = Roles(commander_required=["P1", "P3"], page=["ic"])
        flow, incident_id = opened(leading(roles=roles))
        flow.after(10)
        flow.flow.reclassify(incident_id, "P3", by="alice")
        assert flow.after(10) == ["done"]
        assert (
            flow.chat.of(incident_id, "update")[-1].text
            == "Still no commander for this P3 incident"
        )

    def test_resolve_stops_it_reopen_restarts_it_severity_moves_it(self) -> None:
        flow, incident_id = opened(leading(), severity="P2")
        assert flow.flow.get(incident_id).commander_step is None
        up = flow.flow.reclassify(incident_id, "P1", by="alice")
        assert up.commander_step == "remind" and up.commander_due_at == T0 + timedelta(minutes=10)
        down = flow.flow.reclassify(incident_id, "P2", by="alice")
        assert down.commander_step is None and down.commander_required  # required stays
        flow.flow.reclassify(incident_id, "P1", by="alice")
        resolved = flow.flow.resolve(incident_id, by="alice")
        assert resolved.commander_step is None
        flow.clock.advance(timedelta(minutes=3))
        again = flow.flow.reopen(incident_id, by="alice")
        assert again.commander_step == "remind"
        assert again.commander_due_at == T0 + timedelta(minutes=13)

    def test_a_team_of_its_own_decides(self) -> None:
        teams = (
            Team(name="pay", roles=Roles(commander_required=["P2"], page=["pay-ic"])),
            Team(name="web"),
        )
        policy = Policy(teams=teams, default_team="web", roles=Roles(commander_required=["P1"]))
        flow, incident_id = opened(policy, severity="P2")
        assert flow.flow.get(incident_id).commander_step is None
        moved = flow.flow.reassign(incident_id, "pay", by="alice")
        assert moved.commander_step == "remind"
        flow.after(10)
        flow.after(10)
        assert flow.pager.of(incident_id, "page")[-1].to == ("pay-ic",)

    def test_pure_pieces_do_nothing_out_of_turn(self) -> None:
        flow, incident_id = opened(leading())
        incident = flow.flow.get(incident_id)
        assert decide_commander(incident, leading(), T0).events == ()
        assert commander_watch(incident, leading().roles, T0) is None
        done = attrs.evolve(incident, commander_step="done", commander_due_at=T0)
        assert decide_commander(done, leading(), T0 + timedelta(hours=1)).events == ()
        due = decide_reminder(incident, leading(), T0 + timedelta(minutes=10))
        assert [e.type for e in due.events] == ["CommanderReminded"]


def reminders(flow: Flow, incident_id: str) -> list[ev.CommanderReminded]:
    return [e for e in flow.flow.history(incident_id) if isinstance(e, ev.CommanderReminded)]


class TestWhatTheCommanderTimerSays:
    """Each step of the timer: the event it records, when the next is due, the words said."""

    def test_the_page_comes_page_after_the_reminder_not_sooner(self) -> None:
        flow, incident_id = opened(leading())
        assert flow.after(10) == ["page"]
        assert flow.flow.get(incident_id).commander_due_at == T0 + timedelta(minutes=20)
        assert flow.after(9) == []
        assert not [p for p in flow.pager.of(incident_id, "page") if "no commander" in p.text]
        assert flow.after(1) == ["done"]

    def test_without_a_rotation_the_reminder_promises_no_page(self) -> None:
        flow, incident_id = opened(leading(roles=Roles(commander_required=["P1"])))
        assert flow.after(10) == ["done"]
        assert flow.chat.of(incident_id, "update")[-1].text == (
            f"No incident commander yet for this P1 incident: take the lead (/incident lead "
            f"{incident_id}, or the I'll lead button)"
        )
        (reminded,) = reminders(flow, incident_id)
        assert (reminded.step, reminded.next, reminded.due_at) == ("remind", "done", None)
        assert flow.flow.get(incident_id).commander_due_at is None

    def test_a_downgrade_records_a_last_reminder(self) -> None:
        roles = Roles(commander_required=["P1", "P3"], page=["ic"])
        flow, incident_id = opened(leading(roles=roles))
        flow.after(10)
        flow.flow.reclassify(incident_id, "P3", by="alice")
        flow.after(10)
        last = reminders(flow, incident_id)[-1]
        assert (last.step, last.next, last.paged, last.targets) == ("remind", "done", False, ())

    def test_every_person_of_the_rotation_is_named(self) -> None:
        flow, incident_id = opened(
            leading(roles=Roles(commander_required=["P1"], page=["ic", "backup"]))
        )
        flow.after(10)
        flow.after(10)
        page = flow.pager.of(incident_id, "page")[-1]
        assert page.to == ("ic", "backup")
        assert page.text == "[P1] Checkout down (no commander: paging ic, backup)"
        assert flow.chat.of(incident_id, "update")[-1].text == (
            "Still no commander: paged ic, backup to lead"
        )
        last = reminders(flow, incident_id)[-1]
        assert (last.step, last.targets, last.paged, last.next) == (
            "page", ("ic", "backup"), True, "done",
        )  # fmt: skip

    def test_every_empty_schedule_is_named(self) -> None:
        empty = SCHEDULE.replace('["dave", "erin"]', '[""]')
        text = (
            empty + empty.replace('"commanders"', '"backups"')
            + '[roles]\ncommander_required = ["P1"]\n'
            'page = ["schedule:commanders", "schedule:backups"]'
        )  # fmt: skip
        flow, incident_id = opened(Policy.from_text(text))
        flow.after(10)
        flow.after(10)
        assert flow.chat.of(incident_id, "update")[-1].text == (
            "Still no commander and NOBODY IS ON CALL in schedule:commanders, schedule:backups"
        )

    def test_not_due_decides_nothing_and_keeps_the_incident(self) -> None:
        flow, incident_id = opened(leading())
        incident = flow.flow.get(incident_id)
        assert decide_commander(incident, leading(), T0) == Decision(incident)

    def test_a_timer_left_on_a_resolved_incident_is_refused_by_its_id(self) -> None:
        flow, incident_id = opened(leading())
        flow.flow.resolve(incident_id, by="alice")
        left = attrs.evolve(
            flow.flow.get(incident_id), commander_step="remind", commander_due_at=T0
        )
        with pytest.raises(InvalidTransition) as caught:
            decide_commander(left, leading(), T0 + timedelta(minutes=10))
        assert (caught.value.incident_id, caught.value.trigger) == (incident_id, "remind_commander")


WAR_ROOM = "C0WARROOM1"


def in_war_room(**changes: object) -> Policy:
    """:func:`leading`, its one team discussing its incidents in ``WAR_ROOM``."""
    return leading(teams=(Team(name="ops", chat_channel=WAR_ROOM),), **changes)


class TestTheTeamsChannelHearsIt:
    """Every role and commander message goes to the team's chat channel."""

    def assert_all_in_war_room(self, flow: Flow, incident_id: str, count: int) -> None:
        said = flow.chat.of(incident_id, "update")
        assert len(said) == count
        assert {m.channel for m in said} == {WAR_ROOM}, [(m.channel, m.text) for m in said]

    def test_assignments_and_handovers(self) -> None:
        flow, incident_id = opened(in_war_room())
        flow.flow.assign(incident_id, "scribe", "carol", by="carol")
        flow.flow.assign(incident_id, "commander", "alice", by="carol")
        flow.flow.assign(incident_id, "commander", "bob", by="alice")
        self.assert_all_in_war_room(flow, incident_id, 3)

    def test_the_reminder_and_the_page(self) -> None:
        flow, incident_id = opened(in_war_room())
        flow.after(10)
        flow.after(10)
        self.assert_all_in_war_room(flow, incident_id, 2)

    def test_the_reminder_after_a_downgrade(self) -> None:
        flow, incident_id = opened(
            in_war_room(roles=Roles(commander_required=["P1", "P3"], page=["ic"]))
        )
        flow.after(10)
        flow.flow.reclassify(incident_id, "P3", by="alice")
        flow.after(10)
        said = flow.chat.of(incident_id, "update")
        assert said[-1].text == "Still no commander for this P3 incident"
        assert {m.channel for m in said} == {WAR_ROOM}

    def test_nobody_on_call(self) -> None:
        text = (
            SCHEDULE.replace('["dave", "erin"]', '[""]')
            + '[roles]\ncommander_required = ["P1"]\npage = ["schedule:commanders"]\n'
            f'[[teams]]\nname = "ops"\nchat_channel = "{WAR_ROOM}"\n'
        )
        flow, incident_id = opened(Policy.from_text(text))
        flow.after(10)
        flow.after(10)
        said = flow.chat.of(incident_id, "update")
        assert "NOBODY IS ON CALL" in said[-1].text
        assert {m.channel for m in said} == {WAR_ROOM}


class TestEvents:
    """The new events round-trip and replay to the live incident."""

    def test_replay_through_plain_data(self) -> None:
        flow, incident_id = opened(leading())
        flow.after(10)
        flow.after(10)
        flow.flow.assign(incident_id, "commander", "alice", by="alice")
        history = flow.flow.history(incident_id)
        back = [event_from_dict(event_to_dict(e)) for e in history]
        assert back == history
        assert fold(None, back) == flow.flow.get(incident_id)


# ------------------------------------------------------------------------------ flows


def stores(tmp_path: Path, dsn: str | None) -> object:
    if dsn is None:
        return SQLiteStore(tmp_path / "roles.db")
    return PostgresStore(dsn, schema=f"roles_{abs(hash(tmp_path)) % 10**9}")


@pytest.mark.parametrize("store", ["memory", "sqlite", "postgres"])
def test_a_p1_led_and_handed_over_on_every_store(
    store: str, make_flow: MakeFlow, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """On memory, SQLite and PostgreSQL, sync and async: reminded, paged, led, handed over;
    another replica reads the same roles."""
    if store == "postgres":
        dsn = request.getfixturevalue("postgres_dsn")
        with pg_schema(dsn) as schema:
            _lead_on(lambda: PostgresStore(dsn, schema=schema), make_flow)
        return
    factory = MemoryStore if store == "memory" else (lambda: SQLiteStore(tmp_path / "r.db"))
    _lead_on(factory, make_flow)


def _lead_on(factory: object, make_flow: MakeFlow) -> None:
    store = factory()  # type: ignore[operator]
    flow = Flow(leading(), make_flow, store=store)
    incident_id = flow.flow.trigger(p1()).id
    assert flow.after(10) == ["page"]
    assert flow.after(10) == ["done"]
    flow.flow.assign(incident_id, "commander", "alice", by="alice")
    led = flow.flow.assign(incident_id, "commander", "bob", by="alice")
    assert dict(led.roles) == {"commander": "Bob"}
    other = IncidentFlow(leading(), store=store, notifier=RecordingNotifier())
    assert flow.flow.get(incident_id) == led  # its read writes its delivery outcomes (issue 27)
    assert other.get(incident_id) == led
    assert [c.person for c in other.get(incident_id).role_changes] == ["alice", "Bob"]
    closer = getattr(store, "close", None)
    if closer is not None:
        closer()


# ------------------------------------------------------------------------------ documents


class TestPostMortemDocument:
    """The post-mortem names who held each role and the hand-overs, as text."""

    def test_roles_and_handovers_are_written_escaped(self) -> None:
        flow, incident_id = opened(Policy(), severity="P3")
        flow.flow.assign(incident_id, "commander", "alice", by="alice")
        flow.flow.assign(incident_id, "commander", "[x](http://evil) @team", by="alice")
        flow.flow.assign(incident_id, "communications", "bob", by="alice")
        incident = flow.flow.get(incident_id)
        text = PostMortemDocument(incident, flow.flow.history(incident_id), "pm").render_markdown()
        assert "- **Commander:** \\[x\\](http://evil) @team" in text
        assert "- **Communications:** bob" in text
        assert "| alice | alice is commander |" in text
        assert "is commander (handed over from alice) |" in text
        assert "[x](http" not in text

    def test_the_commander_timer_is_in_the_timeline(self) -> None:
        flow, incident_id = opened(leading())
        flow.after(10)
        flow.after(10)
        incident = flow.flow.get(incident_id)
        text = PostMortemDocument(incident, flow.flow.history(incident_id), "pm").render_markdown()
        assert "| system | Nobody led yet: the chat was reminded |" in text
        assert "| system | Nobody led: ic paged |" in text


class TestReport:
    """The report counts who led, and says who did not."""

    def test_leaderless_and_handed_over(self) -> None:
        from incident_flow.cli._report import build_report
        from incident_flow.cli._report_html import render_html

        flow, leaderless = opened(leading())
        led = flow.flow.trigger(p1("k2")).id
        flow.clock.advance(timedelta(minutes=6))
        flow.flow.assign(led, "commander", "alice", by="alice")
        flow.flow.assign(led, "commander", "bob", by="alice")
        pairs = [(i, flow.flow.history(i.id)) for i in flow.flow.incidents()]
        report = build_report(pairs)
        assert report.roles == {
            "commander_needed": 2,
            "without_commander": [leaderless],
            "time_to_commander_minutes": 6.0,
            "handovers": 1,
        }
        assert report.to_dict()["roles"] == report.roles
        page = render_html(report, pairs)
        assert f"without one: {leaderless}; time to commander: 6.0 min; 1 hand-overs" in page
        alone = build_report([(flow.flow.get(leaderless), flow.flow.history(leaderless))])
        assert alone.roles["time_to_commander_minutes"] is None
        assert "time to commander: - min" in render_html(alone, [])
        plain, _ = opened(Policy(), severity="P3")
        quiet = plain.flow.incidents()
        assert build_report([(i, plain.flow.history(i.id)) for i in quiet]).roles == {}
