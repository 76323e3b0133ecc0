"""Storm rules end to end: grouping, paging thresholds and silences, on every store and driver."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from incident_flow import (
    Alert,
    ConcurrencyError,
    EscalationLevel,
    Incident,
    IncidentFlow,
    IncidentNotFound,
    InvalidCommand,
    InvalidPolicy,
    MemoryStore,
    Policy,
    PostgresStore,
    RecordingNotifier,
    Roles,
    Severity,
    SQLiteStore,
    StorageError,
    Team,
)
from incident_flow._alerting.decide import decide_new, decide_release
from incident_flow._core.decision import Decision
from incident_flow._core.storms import (
    GroupingRule,
    LabelMatcher,
    PageAfter,
    Silence,
    group_key,
    matching_silence,
    parse_matchers,
)
from incident_flow.simulation import simulate
from incident_flow.testing import ManualClock

from .conftest import T0, MakeFlow, pg_schema

OUTAGE = GroupingRule(
    name="outage", by=["service"], match={"env": "prod"}, window=timedelta(minutes=10)
)


def alert(n: int, service: str = "checkout", status: str = "firing", **labels: str) -> Alert:
    return Alert(
        source="alertmanager",
        name=f"Alert{n}",
        title=f"alert {n} on {service}",
        severity=Severity.P1,
        status=status,  # type: ignore[arg-type]
        labels={"service": service, "env": "prod", **labels},
    )


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    if request.param == "memory":
        yield MemoryStore()
    elif request.param == "sqlite":
        sqlite = SQLiteStore(tmp_path / "storm.db")
        yield sqlite
        sqlite.close()
    else:
        dsn = request.getfixturevalue("postgres_dsn")
        with pg_schema(dsn) as schema:
            pg = PostgresStore(dsn, schema=schema)
            yield pg
            pg.close()


class World:
    def __init__(self, make_flow: MakeFlow, store: object, policy: Policy) -> None:
        self.clock = ManualClock(T0)
        self.chat, self.pager = RecordingNotifier(), RecordingNotifier()
        self.flow: IncidentFlow = make_flow(
            policy, store=store, notifier=self.chat, pager=self.pager, clock=self.clock
        )


@pytest.fixture
def world(make_flow: MakeFlow, store: object) -> Callable[[Policy], World]:
    return lambda policy: World(make_flow, store, policy)


def test_an_outage_of_fifty_alerts_is_one_incident_one_page_few_messages(
    world: Callable[[Policy], World],
) -> None:
    """Done when: 50 alerts + a grouping rule: 1 incident, 1 page, <= duration/interval + 2."""
    w = world(Policy(grouping=[OUTAGE], repeat_summary_every=timedelta(minutes=5)))
    every = timedelta(seconds=12)
    for n in range(50):
        w.flow.trigger(alert(n))
        w.clock.advance(every)
    (incident,) = w.flow.incidents()
    duration = every * 50
    assert len(w.pager.messages) == 1
    assert len(w.chat.messages) <= duration / timedelta(minutes=5) + 2
    assert incident.alert_count == 50 and len(incident.members) == 49
    grouped = [e for e in w.flow.history(incident.id) if e.type == "AlertGrouped"]
    assert len(grouped) == 49  # each one recorded, with its rule and window
    assert {(e.rule, e.window) for e in grouped} == {("outage", "10m")}
    assert [e.alert.dedup_key for e in grouped] == [f"alertmanager:Alert{n}" for n in range(1, 50)]
    # A grouped alert keeps its own key: its repeat and its recovery come to the group.
    assert w.flow.trigger(alert(7)).id == incident.id
    assert w.flow.trigger(alert(7, status="resolved")).id == incident.id
    assert w.flow.get(incident.id).alert_count == 51


def test_other_groups_and_unmatched_alerts_open_their_own(
    world: Callable[[Policy], World],
) -> None:
    w = world(Policy(grouping=[OUTAGE]))
    first = w.flow.trigger(alert(1))
    assert w.flow.trigger(alert(2, service="search")).id != first.id  # another service
    other = Alert(source="x", name="Disk", title="disk", labels={"service": "checkout"})
    assert w.flow.trigger(other).id != first.id  # env=prod not matched
    assert w.flow.trigger(alert(3)).id == first.id
    assert len(w.flow.incidents()) == 3


def test_the_window_and_the_resolution_end_a_group(world: Callable[[Policy], World]) -> None:
    w = world(Policy(grouping=[OUTAGE]))
    first = w.flow.trigger(alert(1))
    w.clock.advance(timedelta(minutes=9))
    assert w.flow.trigger(alert(2)).id == first.id  # within 10 minutes of the last new alert
    w.clock.advance(timedelta(minutes=9))
    assert w.flow.trigger(alert(3)).id == first.id  # the window slides with each new alert
    w.clock.advance(timedelta(minutes=11))
    second = w.flow.trigger(alert(4))  # too late: a new incident takes the group over
    assert second.id != first.id and second.group == first.group
    assert w.flow.trigger(alert(5)).id == second.id
    w.flow.resolve(second.id, by="alice")
    third = w.flow.trigger(alert(6))  # a resolved group takes no new alerts
    assert third.id not in (first.id, second.id)
    assert w.flow.trigger(alert(2)).id == first.id  # old members still route to their incident


def test_a_rule_without_a_name_is_said_as_grouping(world: Callable[[Policy], World]) -> None:
    """The thread never says "grouped by ," for a rule whose name is empty."""
    nameless = GroupingRule(name="", by=["service"])
    w = world(Policy(grouping=[nameless], repeat_summary_every=timedelta(0)))
    first = w.flow.trigger(alert(1))
    w.flow.trigger(alert(2))
    w.flow.trigger(alert(2))  # a member's repeat: the same summary
    assert [m.text for m in w.chat.of(first.id, "update")] == [
        "2 alerts grouped by grouping, 2 firings; latest: alert 2 on checkout",
        "2 alerts grouped by grouping, 3 firings; latest: alert 2 on checkout",
    ]


def test_a_held_page_goes_out_after_n_firings_within_m(world: Callable[[Policy], World]) -> None:
    rule = GroupingRule(
        name="outage", by=["service"], page_after=PageAfter(3, timedelta(minutes=5))
    )
    w = world(Policy(grouping=[rule], repeat_summary_every=timedelta(0)))
    incident = w.flow.trigger(alert(1))
    assert not incident.paged and incident.page_hold == PageAfter(3, timedelta(minutes=5))
    assert "page held until 3 firings within 5m" in w.chat.messages[0].text
    w.clock.advance(timedelta(minutes=4))
    w.flow.trigger(alert(1))  # 2 firings within 5 minutes
    w.clock.advance(timedelta(minutes=4))
    w.flow.trigger(alert(2))  # 2 within the last 5 minutes (the first is too old)
    assert w.pager.messages == []
    w.clock.advance(timedelta(minutes=1))
    paged = w.flow.trigger(alert(1))  # the third within 5 minutes: page now, once
    assert paged.paged and paged.page_hold is None and paged.escalation_due_at is not None
    assert [m.kind for m in w.pager.messages] == ["page"]
    w.flow.trigger(alert(3))
    assert len(w.pager.messages) == 1
    assert any(e.type == "PageReleased" for e in w.flow.history(incident.id))


def test_a_severity_threshold_holds_pages_without_a_rule(
    world: Callable[[Policy], World],
) -> None:
    w = world(Policy(page_after={"P1": PageAfter(2, timedelta(minutes=10))}))
    incident = w.flow.trigger(alert(1))
    assert not incident.paged and w.pager.messages == []
    w.flow.resolve(incident.id, by="alice")  # a one-off that resolved: nobody woken up
    assert w.pager.messages == []
    low = Alert(source="x", name="y", title="low", severity=Severity.P4)
    assert w.flow.trigger(low).page_hold is None  # not critical: nothing to hold


def test_a_silence_pages_nobody_and_records_every_alert(
    world: Callable[[Policy], World],
) -> None:
    """Done when: a silence pages nobody and keeps a record of every alert it suppressed."""
    w = world(Policy(grouping=[OUTAGE]))
    silence = w.flow.silence(
        {"service": "checkout"}, by="alice", why="database upgrade", duration=timedelta(hours=1)
    )
    assert [s.id for s in w.flow.silences()] == [silence.id]
    opened = [w.flow.trigger(alert(n)) for n in range(5)]
    assert {i.id for i in opened} == {opened[0].id}  # grouped while silenced, too
    assert opened[0].silenced and opened[0].silence_id == silence.id
    w.flow.trigger(alert(0))  # a repeat: recorded too
    lone = w.flow.trigger(alert(5, env="staging"))  # not grouped, silenced alone
    w.flow.trigger(alert(5, status="resolved", env="staging"))  # recovered: dismissed
    assert w.pager.messages == [] and w.chat.messages == []
    history = w.flow.history(opened[0].id)
    (silenced,) = [e for e in history if e.type == "AlertSilenced"]
    assert silenced.why == "database upgrade" and silenced.silenced_by == "alice"
    assert [e.alert.name for e in history if e.type == "AlertGrouped"] == [
        f"Alert{n}" for n in (1, 2, 3, 4)
    ]
    assert w.flow.get(opened[0].id).alert_count == 6
    assert w.flow.get(lone.id).state == "closed"
    assert [e.type for e in w.flow.history(lone.id)][-1] == "IncidentDismissed"
    # Another service is not silenced.
    search = w.flow.trigger(alert(9, service="search"))
    assert search.paged
    # The silence ends: the alerts still firing open and page as usual, grouped as usual.
    w.clock.advance(timedelta(hours=1))
    released = [i for i in w.flow.escalate_due() if i.id != search.id]
    assert [i.id for i in released] == [opened[0].id]
    assert w.flow.get(opened[0].id).state == "notified"
    assert [m.incident_id for m in w.pager.messages if m.incident_id != search.id] == [opened[0].id]
    assert w.flow.get(opened[0].id).members == tuple(f"alertmanager:Alert{n}" for n in (1, 2, 3, 4))
    assert w.flow.silences() == []
    assert [s.id for s in w.flow.silences(active=False)] == [silence.id]


def test_ending_a_silence_early_opens_what_still_fires(world: Callable[[Policy], World]) -> None:
    w = world(Policy())
    silence = w.flow.silence(
        {"service": "checkout"}, by="alice", why="deploy", duration=timedelta(hours=2)
    )
    # Another service's silence, still running, holds nothing of checkout's.
    w.flow.silence({"service": "search"}, by="carol", why="other", duration=timedelta(hours=3))
    held = w.flow.trigger(alert(1))
    assert held.silenced
    ended = w.flow.end_silence(silence.id, by="bob")
    assert ended.ended_by == "bob" and ended.until == T0
    now = w.flow.get(held.id)
    assert now.state == "notified" and now.paged
    assert [m.kind for m in w.pager.messages] == ["page"]
    assert w.flow.trigger(alert(2)).paged  # no longer silenced


def test_an_extended_silence_keeps_waiting(world: Callable[[Policy], World]) -> None:
    w = world(Policy())
    w.flow.silence({"service": "checkout"}, by="alice", why="a", duration=timedelta(minutes=30))
    held = w.flow.trigger(alert(1))
    w.flow.silence({"name": "Alert1"}, by="bob", why="longer", duration=timedelta(hours=2))
    w.clock.advance(timedelta(minutes=31))
    w.flow.escalate_due()
    again = w.flow.get(held.id)
    assert again.silenced and again.silenced_until == T0 + timedelta(hours=2)
    assert w.pager.messages == []


def test_ending_a_silence_early_hands_it_to_another_ending_with_it(
    world: Callable[[Policy], World],
) -> None:
    """Another silence still holding the alert (ending when the first would have) takes it."""
    w = world(Policy())
    end = T0 + timedelta(hours=2)
    first = w.flow.silence({"service": "checkout"}, by="alice", why="deploy", ends_at=end)
    held = w.flow.trigger(alert(1))
    second = w.flow.silence({"name": "Alert1"}, by="bob", why="flaky", ends_at=end)
    w.flow.end_silence(first.id, by="alice")
    waiting = w.flow.get(held.id)
    assert waiting.silenced and (waiting.silence_id, waiting.silenced_until) == (second.id, end)
    assert [e.why for e in w.flow.history(held.id) if e.type == "AlertSilenced"] == [
        "deploy",
        "flaky",
    ]
    assert w.pager.messages == [] and w.chat.messages == []
    w.clock.advance(timedelta(hours=2))
    w.flow.escalate_due()
    (lifted,) = [e for e in w.flow.history(held.id) if e.type == "SilenceLifted"]
    assert lifted.silence_id == second.id
    assert [m.incident_id for m in w.pager.messages] == [held.id]


def test_a_released_incident_starts_the_commander_watch(world: Callable[[Policy], World]) -> None:
    """A P1 that needs a commander, opened at its silence's end, is watched like any other."""
    w = world(Policy(roles=Roles(commander_required=["P1"])))
    w.flow.silence({"service": "checkout"}, by="alice", why="deploy", duration=timedelta(hours=1))
    held = w.flow.trigger(alert(1))
    assert held.commander_step is None
    w.clock.advance(timedelta(hours=1))
    w.flow.escalate_due()
    released = w.flow.get(held.id)
    assert released.state == "notified" and released.commander_required
    assert released.commander_step == "remind" and released.commander_due_at is not None
    assert released.commander_due_at > T0 + timedelta(hours=1)
    assert "CommanderScheduled" in [e.type for e in w.flow.history(held.id)]


class TestReleaseDecisions:
    """The pure release decision: nothing before the end, the incident as it was."""

    SILENCE = Silence(
        id="sil-1",
        matchers={"service": "checkout"},
        by="alice",
        why="deploy",
        starts_at=T0,
        ends_at=T0 + timedelta(hours=1),
        created_at=T0,
        team="payments",
    )
    TEAMS = Policy(teams=[Team(name="payments", escalation=[EscalationLevel(("bob",))])])

    def held(self) -> Incident:
        return decide_new("i1", alert(1), self.TEAMS, T0, silence=self.SILENCE).incident

    def test_nothing_before_its_silence_ends(self) -> None:
        held = self.held()
        assert held.silenced and held.silence_id == self.SILENCE.id
        later = T0 + timedelta(minutes=30)
        assert decide_release(held, self.TEAMS, later, [self.SILENCE]) == Decision(held)

    def test_nothing_for_an_incident_that_is_not_silenced(self) -> None:
        opened = decide_new("i2", alert(2), self.TEAMS, T0).incident
        assert decide_release(opened, self.TEAMS, T0, [self.SILENCE]) == Decision(opened)

    def test_a_policy_without_its_team_still_waits_for_its_silence(self) -> None:
        """The team's silence no longer matches, but it is known and not over: it waits."""
        held = self.held()
        later = T0 + timedelta(minutes=30)
        assert decide_release(held, Policy(), later, [self.SILENCE]) == Decision(held)

    def test_it_opens_at_the_very_instant_its_silence_ends(self) -> None:
        """Even when the caller read the silence as active a moment before."""
        held = self.held()
        decision = decide_release(held, self.TEAMS, self.SILENCE.until, [self.SILENCE])
        assert [e.type for e in decision.events][:2] == ["SilenceLifted", "IncidentClassified"]
        assert decision.incident.state == "notified" and decision.incident.paged


def test_a_silence_is_checked(world: Callable[[Policy], World]) -> None:
    w = world(Policy())
    with pytest.raises(InvalidCommand, match="at least one matcher"):
        w.flow.silence({}, by="a", why="b", duration=timedelta(hours=1))
    with pytest.raises(InvalidCommand, match="duration or its end"):
        w.flow.silence({"service": "x"}, by="a", why="b")
    with pytest.raises(InvalidCommand, match="over already"):
        w.flow.silence({"service": "x"}, by="a", why="b", ends_at=T0 - timedelta(minutes=1))
    with pytest.raises(InvalidCommand, match="who made it and why"):
        w.flow.silence({"service": "x"}, by="a", why=" ", duration=timedelta(hours=1))
    with pytest.raises(InvalidCommand, match="no silence"):
        w.flow.end_silence("sil-nope", by="a")
    assert w.flow.silences(active=False) == []
    with pytest.raises(IncidentNotFound):
        w.flow.trigger(alert(1, status="resolved"))


class TestRulesAsData:
    """Matchers, rules, thresholds and silences as values, and from the policy's TOML."""

    def test_matchers(self) -> None:
        matchers = parse_matchers({"service": "checkout", "env": ["prod", "eu"], "team": "*"})
        a = alert(1, team="payments")
        assert all(m.matches(a) for m in matchers)
        assert not parse_matchers({"team": "*"})[0].matches(alert(1))
        assert parse_matchers({"team": "!db"})[0].matches(alert(1))  # absent: not db
        assert not parse_matchers({"service": "!checkout"})[0].matches(a)
        assert parse_matchers({"severity": "P1", "source": "alertmanager", "name": "Alert1"})
        assert all(m.matches(a) for m in parse_matchers({"severity": "P1", "name": "Alert1"}))
        assert [str(m) for m in matchers] == ["service=checkout", "env=prod|eu", "team=*"]
        assert str(parse_matchers({"x": "!y"})[0]) == "x!=y"
        with pytest.raises(ValueError, match="must be a value"):
            parse_matchers({"service": 3})
        with pytest.raises(ValueError, match="names a label"):
            LabelMatcher("bad name")
        unclassified = Alert(source="x", name="y", title="t")
        assert not parse_matchers({"severity": "*"})[0].matches(unclassified)

    def test_rules_and_thresholds(self) -> None:
        rule = GroupingRule(
            name="db",
            match={"team": "db"},
            by=["cluster"],
            page_after=PageAfter(3, timedelta(minutes=2)),
        )
        assert rule.key(alert(1, team="db", cluster="eu-1")) == "group:db:cluster=eu-1"
        assert rule.key(alert(1, team="db")) is None  # no cluster label: not grouped
        assert rule.key(alert(1, cluster="eu-1")) is None  # not the db team
        assert (
            rule.describe() == "db: team=db by cluster within 10m, pages after 3 firings within 2m"
        )
        assert (
            GroupingRule(name="all", by=["service"]).describe()
            == "all: every alert by service within 10m"
        )
        assert group_key([rule, OUTAGE], alert(1)) == (OUTAGE, "group:outage:service=checkout")
        assert group_key([rule], alert(1)) is None
        assert str(PageAfter(2, timedelta(seconds=90))) == "2 firings within 90s"
        assert str(PageAfter(2, timedelta(days=1))) == "2 firings within 1d"
        with pytest.raises(ValueError, match="firings must be a whole number"):
            PageAfter(0, timedelta(minutes=1))
        with pytest.raises(ValueError, match="positive duration"):
            PageAfter(2, timedelta(0))
        policy = Policy(page_after={"P2": PageAfter(1, timedelta(minutes=1))}, grouping=[rule])
        assert policy.page_threshold(Severity.P2, None) is None  # one firing: page at once
        assert policy.page_threshold(Severity.P1, rule) == PageAfter(3, timedelta(minutes=2))
        with pytest.raises(TypeError, match="GroupingRule"):
            Policy(grouping=["db"])  # type: ignore[list-item]
        with pytest.raises(TypeError, match="PageAfter"):
            Policy(page_after={"P1": 3})  # type: ignore[dict-item]

    def test_a_silence_value(self) -> None:
        silence = Silence(
            id="sil-1",
            matchers={"service": "checkout"},
            starts_at=T0,
            ends_at=T0 + timedelta(hours=1),
            by="alice",
            why="upgrade",
            created_at=T0,
        )
        assert silence.active(T0) and not silence.active(T0 + timedelta(hours=1))
        assert (
            silence.describe()
            == "sil-1 service=checkout until 2025-03-04 11:00 UTC by alice: upgrade"
        )
        assert matching_silence([silence], alert(1), T0) == silence
        assert matching_silence([silence], alert(1, service="search"), T0) is None
        with pytest.raises(ValueError, match="end after it starts"):
            Silence(
                id="s",
                matchers={"a": "b"},
                starts_at=T0,
                ends_at=T0,
                by="a",
                why="b",
                created_at=T0,
            )

    def test_what_an_operator_reads_of_rules_and_silences(self) -> None:
        """The dry run and `silences` lines name every matcher and label, and units as written."""
        rule = GroupingRule(
            name="net",
            match={"team": "net", "env": "prod"},
            by=["service", "cluster"],
            window=timedelta(hours=2),
        )
        assert rule.describe() == "net: team=net env=prod by service, cluster within 2h"
        assert GroupingRule(name="any").describe() == "any: every alert within 10m"
        found = alert(1, team="net", cluster="eu-1")
        assert rule.key(found) == "group:net:service=checkout,cluster=eu-1"
        silence = Silence(
            id="sil-2",
            matchers={"service": "checkout", "env": "prod"},
            starts_at=T0,
            ends_at=T0 + timedelta(hours=1),
            by="alice",
            why="upgrade",
            created_at=T0,
        )
        assert silence.describe().startswith("sil-2 service=checkout env=prod until ")

    def test_a_matcher_on_source_reads_the_alerts_source(self) -> None:
        """``source`` names the alert's origin, not a label of that name."""
        matcher = LabelMatcher("source", ("alertmanager",))
        assert matcher.matches(alert(1))
        assert not matcher.matches(Alert(source="datadog", name="x", title="x"))

    def test_bad_thresholds_and_silences_are_refused_with_their_reason(self) -> None:
        """A threshold of ``True`` or ``"3"`` firings is refused, as is a silence saying nothing."""
        for firings in (True, "3", 1.5):
            with pytest.raises(ValueError, match="firings must be a whole number"):
                PageAfter(firings, timedelta(minutes=1))  # type: ignore[arg-type]
        base: dict[str, Any] = {
            "id": "s", "starts_at": T0, "ends_at": T0 + timedelta(hours=1), "created_at": T0,
        }  # fmt: skip
        with pytest.raises(ValueError, match=r"^a silence needs at least one matcher \(it"):
            Silence(matchers={}, by="a", why="b", **base)
        with pytest.raises(ValueError, match=r"^a silence says who made it and why \(by=, why=\)$"):
            Silence(matchers={"a": "b"}, by=" ", why="b", **base)

    def test_from_toml_with_every_problem_at_once(self) -> None:
        policy = Policy.from_text(
            """
            [[grouping]]
            name = "outage"
            match = { env = "prod", team = ["a", "b"] }
            by = "service"
            window = "15m"
            page_after = { firings = 3, within = "10m" }

            [page_after]
            P2 = { firings = 2, within = "5m" }
            """
        )
        (rule,) = policy.grouping
        assert rule.by == ("service",) and rule.window == timedelta(minutes=15)
        assert rule.page_after == PageAfter(3, timedelta(minutes=10))
        assert policy.page_after == {Severity.P2: PageAfter(2, timedelta(minutes=5))}
        with pytest.raises(InvalidPolicy) as caught:
            Policy.from_text(
                """
                grouping = 3
                page_after = { P9 = { firings = 0, within = "x", extra = 1 } }
                """
            )
        assert list(caught.value.problems) == [
            "grouping: must be an array of tables ([[grouping]])",
            "page_after.P9: must be one of P1..P5, got 'P9'",
            "page_after.P9.extra: unknown key (known: firings, within)",
            "page_after.P9.firings: must be a whole number >= 1, got 0",
            "page_after.P9.within: must be a positive duration like '5m', '90s' or 300, got 'x'",
        ]
        with pytest.raises(InvalidPolicy) as caught:
            Policy.from_text(
                """
                [[grouping]]
                name = "a"
                [[grouping]]
                name = "a"
                by = ["service"]
                [[grouping]]
                name = "a"
                by = ["service"]
                colour = "red"
                match = { x = 3 }
                window = "soon"
                page_after = { firings = 2 }
                [[grouping]]
                name = "b"
                by = [3]
                [[grouping]]
                name = "c"
                by = ["x"]
                [[grouping]]
                name = "c"
                by = ["x"]
                """
            )
        assert list(caught.value.problems) == [
            "grouping[0]: needs 'match' or 'by' (it would group every alert into one)",
            "grouping[2].colour: unknown key (known: name, match, by, window, page_after, team)",
            "grouping[2].match: x: must be a value, '*', '!value' or a list of values, got 3",
            "grouping[2].window: must be a positive duration like '5m', '90s' or 300, got 'soon'",
            "grouping[2].page_after.within: missing",
            "grouping[3].by: must be a list of label names, got [3]",
            "grouping[5].name: 'c' is already used by another rule",
        ]


def test_silenced_and_unsilenced_alerts_of_a_group_stay_apart(
    world: Callable[[Policy], World],
) -> None:
    w = world(Policy(grouping=[OUTAGE]))
    w.flow.silence({"name": "Alert1"}, by="alice", why="known flaky", duration=timedelta(hours=1))
    quiet = w.flow.trigger(alert(1))
    loud = w.flow.trigger(alert(2))  # same group, not silenced: may not hide in the silence
    assert quiet.silenced and not loud.silenced and loud.id != quiet.id
    assert loud.paged and loud.group == "group:outage:service=checkout"
    assert quiet.group == f"group:outage:service=checkout|{quiet.silence_id}"
    assert w.flow.trigger(alert(3)).id == loud.id  # the live group goes on
    assert len(w.pager.messages) == 1


class _NoSilences:
    """A host's store without ports.SilenceLog: the flow keeps silences itself."""

    def __init__(self) -> None:
        self._store = MemoryStore()

    def __getattr__(self, name: str) -> object:
        if name in ("save_silence", "silences"):
            raise AttributeError(name)
        return getattr(self._store, name)


def test_a_store_without_silences_leaves_them_to_the_flow(make_flow: MakeFlow) -> None:
    w = World(make_flow, _NoSilences(), Policy())
    silence = w.flow.silence({"service": "checkout"}, by="a", why="b", duration=timedelta(hours=1))
    assert w.flow.trigger(alert(1)).silenced
    assert w.flow.silences() == [silence]
    w.clock.advance(timedelta(hours=2))
    assert w.flow.silences() == [] and w.flow.silences(active=False) == [silence]


def test_the_dry_run_says_why_alerts_were_grouped_held_and_paged() -> None:
    rule = GroupingRule(
        name="outage", by=["service"], page_after=PageAfter(3, timedelta(minutes=5))
    )
    timeline = [(timedelta(minutes=n), alert(n)) for n in range(3)]
    report = simulate(Policy(grouping=[rule]), timeline, horizon=timedelta(minutes=1))
    lines = report.format().splitlines()
    assert lines[0].endswith("opened group group:outage:service=checkout (rule outage, window 10m)")
    assert lines[1].endswith("page held until 3 firings within 5m")
    assert lines[2].startswith("+00:01:00") and lines[2].endswith(
        "alertmanager:Alert1 grouped by rule outage (same service=checkout, within 10m)"
    )
    assert lines[4].endswith("page released: 3 firings reached")
    assert lines[5] == "+00:02:00 [P1] alert 0 on checkout"
    assert len(report.pages) == 1
    plain = simulate(Policy(), [(timedelta(0), alert(1))], horizon=timedelta(0))
    assert plain.notes == ()  # nothing grouped, held or silenced: nothing to explain


class _CountingStore(MemoryStore):
    """Counts the appends (the transactions a durable store would commit)."""

    appends = 0

    def append(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        self.appends += 1
        super().append(*args, **kwargs)  # type: ignore[arg-type]


def test_a_body_of_fifty_alerts_is_applied_in_few_appends(make_flow: MakeFlow) -> None:
    store = _CountingStore()
    w = World(make_flow, store, Policy(grouping=[OUTAGE], repeat_summary_every=timedelta(hours=1)))
    body = [alert(n) for n in range(50)]
    first = w.flow.trigger_all(body)
    (incident,) = w.flow.incidents()
    assert {i.id for i in first if i is not None} == {incident.id}
    opening = store.appends
    assert opening <= 5  # open + deliveries, then the 49 joins together (+ their delivery)
    store.appends = 0
    again = w.flow.trigger_all(body)  # the group repeats: one append for the 50 repeats
    assert {i.id for i in again if i is not None} == {incident.id}
    assert store.appends <= 2
    now = w.flow.get(incident.id)
    assert now.alert_count == 100 and len(now.members) == 49
    assert len(w.pager.messages) == 1
    # Recoveries: of the group's alerts, and of an alert nothing took.
    lost = Alert(source="x", name="gone", title="gone", status="resolved")
    done = w.flow.trigger_all([alert(3, status="resolved"), lost])
    assert done[0] is not None and done[0].id == incident.id and done[1] is None


def test_a_body_gives_what_one_by_one_gives(make_flow: MakeFlow) -> None:
    """Batched or one by one: the same incidents, counts, pages and messages."""
    policy = Policy(grouping=[OUTAGE], repeat_summary_every=timedelta(0))
    body = [
        alert(1),
        alert(2, service="search"),
        alert(1),
        Alert(source="x", name="disk", title="disk full", severity=Severity.P3),
        alert(3),
        alert(2, service="search", status="resolved"),
        alert(4, service="search"),
    ]
    one = World(make_flow, MemoryStore(), policy)
    for a in body:
        one.flow.trigger(a)
    batched = World(make_flow, MemoryStore(), policy)
    batched.flow.trigger_all(body)
    for w in (one, batched):
        w.clock.advance(timedelta(minutes=1))

    def summary(w: World) -> list[tuple[object, ...]]:
        return sorted(
            (i.title, i.alert_count, i.members, i.paged, i.state) for i in w.flow.incidents()
        )

    assert summary(one) == summary(batched)
    assert len(one.pager.messages) == len(batched.pager.messages)
    assert sorted(m.text for m in one.chat.messages) == sorted(
        m.text for m in batched.chat.messages
    )
    with pytest.raises(InvalidCommand, match="trigger_all takes Alerts"):
        batched.flow.trigger_all(["nope"])  # type: ignore[list-item]


def test_a_body_during_a_silence_is_checked_alert_by_alert(make_flow: MakeFlow) -> None:
    w = World(make_flow, MemoryStore(), Policy(grouping=[OUTAGE]))
    w.flow.silence({"name": "Alert1"}, by="a", why="known", duration=timedelta(hours=1))
    found = w.flow.trigger_all([alert(1), alert(2), alert(3)])
    assert found[0] is not None and found[0].silenced
    assert found[1] is not None and found[2] is not None and found[1].id == found[2].id
    assert not found[1].silenced and len(w.pager.messages) == 1


_RECORDS = ("IncidentTriggered", "AlertRepeated", "AlertGrouped", "AlertRecovered")

storm_steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("alert"),
            st.integers(0, 5),  # which alert
            st.sampled_from(["checkout", "search"]),
            st.booleans(),  # firing
        ),
        st.tuples(st.just("wait"), st.integers(1, 900)),  # seconds
        st.tuples(st.just("silence"), st.sampled_from(["checkout", "search"]), st.integers(1, 60)),
        st.tuples(st.just("resolve"), st.integers(0, 5)),
        st.just(("worker",)),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(steps=storm_steps, batched=st.booleans(), grouping=st.booleans())
# Found by this property: a resolved grouped incident reopened by its alert while a newer one
# held the group took the group back, and every append of it was refused (ConcurrencyError).
@example(
    steps=[
        ("alert", 1, "checkout", True),
        ("resolve", 0),
        ("alert", 0, "checkout", True),
        ("alert", 1, "checkout", True),
    ],
    batched=False,
    grouping=True,
)
def test_every_alert_is_recorded_once_and_silences_say_nothing(
    steps: list[tuple[object, ...]], batched: bool, grouping: bool
) -> None:
    """Invariant 11: a grouped or silenced alert is recorded, never dropped unseen."""
    w = World(IncidentFlow, MemoryStore(), Policy(grouping=[OUTAGE] if grouping else []))
    taken = 0
    body: list[Alert] = []

    def flush() -> None:
        nonlocal taken
        if batched and body:
            taken += sum(1 for found in w.flow.trigger_all(body) if found is not None)
        body.clear()

    for step in steps:
        if step[0] == "alert":
            _, n, service, firing = step
            a = alert(int(n), service=str(service), status="firing" if firing else "resolved")  # type: ignore[call-overload]
            if batched:
                body.append(a)
                continue
            try:
                w.flow.trigger(a)
                taken += 1
            except IncidentNotFound:
                pass
            continue
        flush()
        if step[0] == "wait":
            w.clock.advance(timedelta(seconds=int(step[1])))  # type: ignore[call-overload]
        elif step[0] == "silence":
            w.flow.silence(
                {"service": str(step[1])},
                by="a",
                why="b",
                duration=timedelta(minutes=int(step[2])),  # type: ignore[call-overload]
            )
        elif step[0] == "resolve":
            for incident in w.flow.incidents("notified"):
                w.flow.resolve(incident.id, by="alice")
                break
        else:
            w.flow.escalate_due()
    flush()
    recorded = 0
    for incident in w.flow.incidents():
        history = w.flow.history(incident.id)
        recorded += sum(1 for e in history if e.type in _RECORDS)
        lifted = next((e.at for e in history if e.type == "SilenceLifted"), None)
        if any(e.type == "AlertSilenced" for e in history):
            said = [m for m in w.chat.messages + w.pager.messages if m.incident_id == incident.id]
            assert not said or lifted is not None  # nothing said before the silence ended
        assert len(set(incident.members)) == len(incident.members)
    assert recorded == taken


class _Refusing(MemoryStore):
    """Refuses, once, a batch of several incidents holding an event of type ``refuse``."""

    refuse = ""
    error: type[Exception] = ConcurrencyError

    def append_all(self, appends: Any, **kwargs: Any) -> None:
        kinds = {e.type for one in appends for e in one.events}
        if len(appends) > 1 and self.refuse in kinds:
            self.refuse = ""
            if self.error is ConcurrencyError:
                raise ConcurrencyError(appends[0].incident_id, appends[0].expected_version)
            raise self.error("disk full")
        super().append_all(appends, **kwargs)


class _OneAtATime:
    """A host's store without ports.BatchAppend."""

    def __init__(self) -> None:
        self._store = MemoryStore()

    def __getattr__(self, name: str) -> object:
        if name == "append_all":
            raise AttributeError(name)
        return getattr(self._store, name)


def _bodies(w: World) -> list[tuple[object, ...]]:
    return sorted((i.title, i.alert_count, i.state, i.paged) for i in w.flow.incidents())


@pytest.mark.parametrize(
    ("refuse", "error"),
    [
        ("IncidentTriggered", ConcurrencyError),  # opening the body's new incidents
        ("MessageDelivered", ConcurrencyError),  # recording what was sent
        ("MessageDelivered", StorageError),
        ("AlertRepeated", ConcurrencyError),  # the repeats of open incidents
    ],
)
def test_a_refused_batch_falls_back_to_one_by_one(
    make_flow: MakeFlow, refuse: str, error: type[Exception]
) -> None:
    """Whatever batch is refused (opening, recording, repeating), the outcome is the same."""
    body = [alert(n, service=f"s{n}") for n in range(3)]
    expected = World(make_flow, _OneAtATime(), Policy(repeat_summary_every=timedelta(0)))
    store = _Refusing()
    store.refuse, store.error = refuse, error
    w = World(make_flow, store, Policy(repeat_summary_every=timedelta(0)))
    for world in (expected, w):
        world.flow.trigger_all(body)
        world.flow.trigger_all(body)
    assert store.refuse == ""  # it was refused
    assert _bodies(w) == _bodies(expected)
    assert len(w.pager.messages) == len(expected.pager.messages) == 3
    assert sorted(m.text for m in w.chat.messages) == sorted(m.text for m in expected.chat.messages)


def test_a_store_failing_a_body_fails_the_call(make_flow: MakeFlow) -> None:
    store = _Refusing()
    store.refuse, store.error = "IncidentTriggered", StorageError
    w = World(make_flow, store, Policy())
    with pytest.raises(StorageError, match="disk full"):
        w.flow.trigger_all([alert(1), alert(2, service="search")])
    assert w.flow.incidents() == [] and w.pager.messages == []


def test_a_batch_skips_an_incident_that_stopped_taking_alerts(make_flow: MakeFlow) -> None:
    w = World(make_flow, MemoryStore(), Policy())
    a, b = w.flow.trigger(alert(1)), w.flow.trigger(alert(2, service="search"))
    w.flow.resolve(a.id, by="alice")
    w.flow.start_postmortem(a.id, author="alice")  # its alert now opens a new incident
    found = w.flow.trigger_all([alert(1), alert(2, service="search")])
    assert found[0] is not None and found[0].id != a.id
    assert found[1] is not None and found[1].id == b.id and found[1].alert_count == 2


def test_a_replica_with_a_stale_cache_routes_by_what_is_stored(make_flow: MakeFlow) -> None:
    """Replica A still caches an open incident that replica B moved on: A's alert opens anew."""
    store = MemoryStore()
    a = World(make_flow, store, Policy(grouping=[OUTAGE]))
    b = World(make_flow, store, Policy(grouping=[OUTAGE]))
    first = a.flow.trigger(alert(1))
    b.flow.trigger(alert(2))  # B joins it; A's cache is now one version behind
    assert a.flow.trigger(alert(3)).id == first.id  # stale cache: refused append, retried
    b.flow.resolve(first.id, by="bob")
    b.flow.start_postmortem(first.id, author="bob")
    again = a.flow.trigger(alert(1))  # A's cache says "open"; the store says postmortem
    assert again.id != first.id and again.state == "notified"
    assert a.flow.get(first.id).alert_count == 3


def test_silenced_alerts_that_never_opened_are_not_counted_as_incidents() -> None:
    from incident_flow.cli._report import build_report

    w = World(IncidentFlow, MemoryStore(), Policy())
    w.flow.silence({"service": "checkout"}, by="a", why="b", duration=timedelta(hours=1))
    w.flow.trigger(alert(1))  # waiting
    w.flow.trigger(alert(2))
    w.flow.trigger(alert(2, status="resolved"))  # dismissed
    opened = w.flow.trigger(alert(3, service="search"))
    pairs = [(i, w.flow.history(i.id)) for i in w.flow.incidents()]
    report = build_report(pairs)
    assert sum(row["incidents"] for row in report.by_severity.values()) == 1
    assert opened.id in {i.id for i, _ in pairs}
