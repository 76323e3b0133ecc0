"""Teams and routing in the policy: values, the file's keys and problems, team_for, for_team."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from incident_flow import (
    Alert,
    EscalationLevel,
    InvalidPolicy,
    LabelMatcher,
    Policy,
    Route,
    Team,
)
from incident_flow.testing.strategies import policies

ROOT = Path(__file__).parents[1]
MONDAY = datetime(2026, 12, 7, 10, tzinfo=UTC)
NAME_RULE = "must be a team's name (letters, digits, _ . -; like 'payments')"

SCHEDULE = """
[[schedules]]
name = "payments-primary"
[[schedules.layers]]
name = "weeks"
members = ["alice", "dave"]
period = "1 week"
start = 2026-01-05

[[schedules]]
name = "search-primary"
[[schedules.layers]]
name = "weeks"
members = ["erin"]
period = "1 week"
start = 2026-01-05
"""

ORGANISATION = (
    """
default_team = "platform"
postmortem_reviewers = 1
postmortem_review_pool = ["zoe"]
"""
    + SCHEDULE
    + """
[[teams]]
name = "payments"
escalation = [{ targets = ["schedule:payments-primary"] }, { targets = ["bob"], wait = "10m" }]
escalation_repeats = 2
schedules = ["payments-primary"]
chat_channel = "#payments-incidents"
postmortem_reviewers = 2
postmortem_review_pool = ["bob", "carol", "dave"]
postmortem_folder = "postmortems/payments"

[[teams]]
name = "search"
escalation = [{ targets = ["search-primary"] }]

[[teams]]
name = "platform"

[[routes]]
match = { service = ["checkout", "payments"] }
team = "payments"

[[routes]]
match = { source = "datadog", team = "search" }
team = "search"

[[routes]]
match = { team = "payments", env = "!dev" }
team = "payments"
"""
)


def alert(source: str = "datadog", name: str = "HighLatency", **labels: str) -> Alert:
    """A firing alert with these labels."""
    return Alert(source=source, name=name, title=name, labels=labels)


def problems(text: str) -> list[str]:
    """What the policy file's reader says is wrong with ``text``."""
    with pytest.raises(InvalidPolicy) as caught:
        Policy.from_text(text)
    return list(caught.value.problems)


class TestTeamAndRouteValues:
    """Team and Route are frozen values that check themselves."""

    def test_a_team_leaves_out_what_the_policy_says(self) -> None:
        team = Team(name="payments")
        assert (team.escalation, team.schedules, team.chat_channel) == (None, None, None)
        assert (team.postmortem_reviewers, team.postmortem_review_pool) == (None, None)
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            team.name = "x"  # type: ignore[misc]

    @pytest.mark.parametrize(
        "fields",
        [
            {"name": ""},
            {"name": " payments"},
            {"name": "pay ments"},
            {"name": "payments\n"},
            {"name": "x" * 64},
            {"name": "p", "escalation": []},
            {"name": "p", "postmortem_reviewers": -1},
            {"name": "p", "escalation_repeats": True},
            {"name": "p", "chat_channel": " "},
            {"name": "p", "postmortem_folder": ""},
            {"name": "p", "schedules": "primary"},
            {"name": "p", "postmortem_review_pool": [""]},
        ],
    )
    def test_a_wrong_team_is_refused(self, fields: dict[str, object]) -> None:
        with pytest.raises(ValueError, match=r"Team|escalation|name"):
            Team(**fields)  # type: ignore[arg-type]

    def test_a_route_matches_every_matcher(self) -> None:
        route = Route(team="payments", match={"service": "checkout", "env": "!dev"})
        assert route.match == (
            LabelMatcher("service", ("checkout",)),
            LabelMatcher("env", ("dev",), negate=True),
        )
        assert route.matches(alert(service="checkout"))
        assert route.matches(alert(service="checkout", env="prod"))
        assert not route.matches(alert(service="checkout", env="dev"))
        assert not route.matches(alert(service="search"))
        assert route.describe() == "service=checkout env!=dev -> payments"

    def test_a_route_needs_a_matcher_and_a_team(self) -> None:
        with pytest.raises(ValueError, match="at least one matcher"):
            Route(team="payments", match={})
        with pytest.raises(ValueError, match=r"Route\.team"):
            Route(team="", match={"service": "x"})
        with pytest.raises(TypeError, match="LabelMatcher"):
            Route(team="p", match=["service=x"])  # type: ignore[list-item]

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"teams": [Team(name="a"), Team(name="a")]}, "teams\\[1\\].name: 'a' is already"),
            ({"routes": [Route(team="a", match={"x": "1"})]}, "no \\[\\[teams\\]\\] to route"),
            (
                {"teams": [Team(name="a")], "routes": [Route(team="b", match={"x": "1"})]},
                "routes\\[0\\].team: unknown team",
            ),
            ({"teams": [Team(name="a"), Team(name="b")]}, "default_team: missing"),
            ({"teams": [Team(name="a")], "default_team": "b"}, "default_team: unknown team"),
            ({"default_team": "a"}, "default_team: there are no"),
            ({"teams": [Team(name="a", schedules=["x"])]}, "no schedule 'x'"),
            ({"teams": ["a"]}, "Team values"),
            ({"routes": ["a"]}, "Route values"),
        ],
    )
    def test_the_constructor_checks_teams_and_routes(
        self, fields: dict[str, object], message: str
    ) -> None:
        with pytest.raises((ValueError, TypeError), match=message):
            Policy(**fields)  # type: ignore[arg-type]


class TestRouting:
    """team_for: the first route the alert meets, else the default team, all values resolved."""

    policy = Policy.from_text(ORGANISATION)

    def test_the_file_is_read(self) -> None:
        assert self.policy.team_names == ("payments", "search", "platform")
        assert [r.team for r in self.policy.routes] == ["payments", "search", "payments"]
        assert self.policy.default_team == "platform"

    @pytest.mark.parametrize(
        ("labels", "source", "team"),
        [
            ({"service": "checkout"}, "datadog", "payments"),
            ({"service": "payments", "team": "search"}, "datadog", "payments"),  # first wins
            ({"team": "search"}, "datadog", "search"),
            ({"team": "search"}, "grafana", "platform"),  # the source does not match
            ({"team": "payments"}, "grafana", "payments"),
            ({"team": "payments", "env": "dev"}, "grafana", "platform"),
            ({}, "datadog", "platform"),
        ],
    )
    def test_first_match_wins_else_the_default(
        self, labels: dict[str, str], source: str, team: str
    ) -> None:
        assert self.policy.team_for(alert(source, **labels)).name == team

    def test_the_team_comes_with_its_values_and_the_policys(self) -> None:
        payments = self.policy.team_for(alert(service="checkout"))
        assert payments.escalation is not None
        assert [lv.targets for lv in payments.escalation] == [
            ("schedule:payments-primary",),
            ("bob",),
        ]
        assert payments.chat_channel == "#payments-incidents"
        assert payments.postmortem_review_pool == ("bob", "carol", "dave")
        platform = self.policy.team_for(alert())
        assert platform.escalation == self.policy.escalation  # the policy's levels
        assert platform.schedules == ("payments-primary", "search-primary")
        assert platform.postmortem_reviewers == 1
        assert platform.postmortem_review_pool == ("zoe",)
        assert platform.postmortem_folder == "postmortems"
        assert platform.chat_channel is None  # the service's configured channel

    def test_an_unknown_team_is_an_error(self) -> None:
        with pytest.raises(ValueError, match=r"no team 'ops' \(known: payments, search, platform"):
            self.policy.team("ops")
        with pytest.raises(ValueError, match="no team"):
            self.policy.for_team("default")


class TestForTeam:
    """for_team: the policy as one team sees it, for decisions that read a policy."""

    policy = Policy.from_text(ORGANISATION)

    def test_a_teams_escalation_reviewers_and_folder(self) -> None:
        payments = self.policy.for_team("payments")
        assert payments.escalation_targets(0) == ("schedule:payments-primary",)
        assert payments.page_targets(0, MONDAY) == (("alice",), ())
        assert payments.escalation_steps == 4  # two levels, the last repeated twice
        assert payments.postmortem_reviewers_for("inc-1", author="bob") == ("carol", "dave")
        assert payments.postmortem_folder == "postmortems/payments"
        assert payments.schedules.names == ("payments-primary",)
        assert payments.critical == self.policy.critical  # the rest is the policy's
        assert payments.team_names == ("payments",) and payments.routes == ()
        assert payments.for_team("payments") == payments

    def test_a_bare_schedule_name_pages_its_on_call(self) -> None:
        search = self.policy.for_team("search")
        assert search.page_targets(0, MONDAY) == (("erin",), ())
        # No `schedules` of its own: all the policy's, as a team's other values.
        assert search.schedules.names == ("payments-primary", "search-primary")

    def test_a_team_without_overrides_is_the_policy(self) -> None:
        platform = self.policy.for_team("platform")
        assert platform.escalation == self.policy.escalation
        assert platform.postmortem_reviewers_for("inc-1", "x") == ("zoe",)
        assert platform.schedules == self.policy.schedules

    def test_a_policy_without_teams_is_its_own_one_team(self) -> None:
        policy = Policy.default()
        assert policy.team_names == ("default",)
        assert policy.team_for(alert()).name == "default"
        assert policy.for_team("default") is policy
        assert policy.team("default").escalation == policy.escalation
        assert policy.routing_lines() == [
            "teams: none declared (one team: every alert is handled as above)"
        ]

    def test_routing_lines(self) -> None:
        assert self.policy.routing_lines()[-5:] == [
            "routes (in order, the first match wins):",
            "  1. service=checkout|payments -> payments",
            "  2. source=datadog team=search -> search",
            "  3. team=payments env!=dev -> payments",
            "  else -> platform (the default team)",
        ]
        assert self.policy.routing_lines()[0] == (
            "team payments: escalation schedule:payments-primary -> bob (last repeated 2x); "
            "post-mortems reviewed by 2 from bob, carol, dave, saved under "
            "postmortems/payments/; chat #payments-incidents"
        )


class TestTheFilesProblems:
    """Every problem of [[teams]], [[routes]] and default_team is reported with its path."""

    def test_keys_names_and_duplicates(self) -> None:
        found = problems(
            """
default_team = "payments"
[[teams]]
name = "payments"
escalaton = []
[[teams]]
name = "payments"
[[teams]]
escalation = [{ targets = [] }]
chat_channel = ""
postmortem_reviewers = "two"
"""
        )
        assert found[0].startswith(
            "teams[0].escalaton: unknown key, did you mean 'escalation'? (known: name, "
        )
        assert found[1:] == [
            "teams[1].name: 'payments' is already used by another team",
            "teams[2].name: must be a non-empty string, got None",
            "teams[2].escalation[0].targets: must name who is paged, got []",
            "teams[2].chat_channel: must be a non-empty string, got ''",
            "teams[2].postmortem_reviewers: must be a whole number >= 0, got 'two'",
        ]

    def test_routes(self) -> None:
        found = problems(
            """
default_team = "payments"
[[teams]]
name = "payments"
[[teams]]
name = "search"
[[routes]]
team = "paymnts"
match = { service = "checkout" }
[[routes]]
team = "search"
[[routes]]
team = "search"
match = {}
[[routes]]
match = { service = 3 }
[[routes]]
team = "search"
matches = { service = "x" }
[[routes]]
team = "search"
match = { "bad label" = "x" }
"""
        )
        assert found == [
            'routes[1].match: missing: a route needs matchers, like { service = "checkout" }',
            'routes[2].match: needs at least one matcher, like { service = "checkout" }',
            "routes[3].team: missing: the team that owns what the route matches",
            "routes[3].match: service: must be a value, '*', '!value' or a list of values, got 3",
            "routes[4].matches: unknown key, did you mean 'match'? (known: match, team)",
            'routes[4].match: missing: a route needs matchers, like { service = "checkout" }',
            "routes[5].match: a matcher names a label like 'service', got 'bad label'",
            "routes[0].team: unknown team, did you mean 'payments'? (known: payments, search)",
        ]

    def test_a_route_to_a_team_whose_table_is_wrong_is_not_reported_twice(self) -> None:
        found = problems(
            """
[[teams]]
name = "payments"
postmortem_folder = ""
[[routes]]
team = "payments"
match = { service = "checkout" }
"""
        )
        assert found == ["teams[0].postmortem_folder: must be a non-empty string, got ''"]

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("teams = 1", ["teams: must be an array of tables ([[teams]])"]),
            ('routes = "x"', ["routes: must be an array of tables ([[routes]])"]),
            (
                '[[routes]]\nteam = "a"\nmatch = { service = "x" }',
                ["routes: there are no [[teams]] to route to"],
            ),
            ('default_team = "a"', ["default_team: there are no [[teams]] to name"]),
            ("default_team = 3", [f"default_team: {NAME_RULE}, got 3"]),
            (
                '[[teams]]\nname = "pay ments"\n[[routes]]\nteam = "[bold]"\nmatch = { a = "1" }',
                [
                    f"teams[0].name: {NAME_RULE}, got 'pay ments'",
                    f"routes[0].team: {NAME_RULE}, got '[bold]'",
                ],
            ),
            (
                '[[teams]]\nname = "a"\n[[teams]]\nname = "b"',
                ["default_team: missing: which team (a, b) owns what no route takes"],
            ),
            (
                'default_team = "c"\n[[teams]]\nname = "a"\n[[teams]]\nname = "b"',
                ["default_team: unknown team (known: a, b)"],
            ),
            ('[[routes]]\nteam = "a"\nmatch = 3', ["routes[0].match: must be a table, got 3"]),
            ("routes = [3]", ["routes[0]: must be a table, got 3"]),
        ],
    )
    def test_top_level_keys(self, text: str, expected: list[str]) -> None:
        assert problems(text) == expected

    def test_schedules_of_a_team(self) -> None:
        found = problems(
            SCHEDULE
            + """
[[teams]]
name = "payments"
schedules = ["payments-primary", "nope"]
escalation = [{ targets = ["schedule:missing:next", "search-primary"] }]
"""
        )
        assert found == [
            "teams[0].schedules[1]: no schedule 'nope' (known: payments-primary, search-primary)",
            (
                "teams[0].escalation[0].targets: 'schedule:missing:next': no schedule 'missing' "
                "(known: payments-primary, search-primary)"
            ),
            "teams[0].schedules: its escalation pages search-primary: list them here too",
        ]

    def test_an_inherited_escalation_must_page_the_teams_schedules(self) -> None:
        found = problems(
            SCHEDULE
            + """
[[escalation]]
targets = ["schedule:payments-primary"]
[[teams]]
name = "search"
schedules = ["search-primary"]
"""
        )
        assert found == [
            "teams[0].schedules: its escalation pages payments-primary: list them here too"
        ]

    def test_broken_schedules_are_not_blamed_on_the_teams(self) -> None:
        found = problems(
            """
[[schedules]]
name = "primary"
[[schedules.layers]]
people = ["alice"]
[[teams]]
name = "payments"
schedules = ["primary"]
"""
        )
        assert found and all(p.startswith("schedules[0]") for p in found)


def _documented_policies() -> list[tuple[str, str]]:
    """Every TOML block of the docs that reads as a policy and declares no teams."""
    found = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        blocks = re.findall(r"^```toml[^\n]*\n(.*?)^```", page.read_text(), re.M | re.S)
        for index, block in enumerate(blocks):
            if "[[teams]]" in block:
                continue
            try:
                Policy.from_text(block)
            except InvalidPolicy:
                continue  # a service configuration, or a fragment
            found.append((f"{page.name}[{index}]", block))
    return found


DOCUMENTED = _documented_policies()


class TestEveryPolicyKeepsWorking:
    """Policies written before teams read as one implicit team with their own values."""

    def test_the_docs_have_policies_to_try(self) -> None:
        assert len(DOCUMENTED) >= 6

    @pytest.mark.parametrize(("where", "text"), DOCUMENTED, ids=[w for w, _ in DOCUMENTED])
    def test_a_documented_policy(self, where: str, text: str) -> None:
        policy = Policy.from_text(text)
        assert policy.team_names == ("default",)
        assert policy.for_team("default") is policy
        assert policy.team_for(alert(service="checkout")).name == "default"
        team = policy.team("default")
        assert team.escalation == policy.escalation
        assert team.postmortem_review_pool == policy.postmortem_review_pool


# ------------------------------------------------------------------------------ properties

_LABELS = ("service", "team", "env")
_VALUES = ("checkout", "search", "db")


@st.composite
def matchers(draw: st.DrawFn) -> LabelMatcher:
    """One matcher over a small set of labels and values, so that routes overlap."""
    name = draw(st.sampled_from((*_LABELS, "source", "name")))
    values = tuple(draw(st.lists(st.sampled_from((*_VALUES, "datadog")), max_size=2, unique=True)))
    return LabelMatcher(name, values, draw(st.booleans()))


@st.composite
def organisations(draw: st.DrawFn) -> Policy:
    """Policies of one to four teams and up to six routes among them."""
    names = draw(st.lists(st.sampled_from("abcdef"), min_size=1, max_size=4, unique=True))
    routes = draw(
        st.lists(
            st.builds(
                Route,
                team=st.sampled_from(names),
                match=st.lists(matchers(), min_size=1, max_size=3),
            ),
            max_size=6,
        )
    )
    return Policy(
        teams=[Team(name=n) for n in names],
        routes=routes,
        default_team=draw(st.sampled_from(names)),
    )


@st.composite
def routed_alerts(draw: st.DrawFn) -> Alert:
    """Alerts whose labels, source and name the generated routes may or may not match."""
    return Alert(
        source=draw(st.sampled_from(("datadog", "grafana"))),
        name=draw(st.sampled_from(("checkout", "HighLatency"))),
        title="t",
        labels=draw(st.dictionaries(st.sampled_from(_LABELS), st.sampled_from(_VALUES))),
    )


def _reference_team(policy: Policy, alert: Alert) -> str:
    """The routing rule restated: the first route whose every condition holds, else default."""
    fields = {"source": alert.source, "name": alert.name}
    for route in policy.routes:
        holds = True
        for matcher in route.match:
            value = fields.get(matcher.name, alert.labels.get(matcher.name))
            present = value is not None and (not matcher.values or value in matcher.values)
            holds = holds and (not present if matcher.negate else present)
        if holds:
            return route.team
    assert policy.default_team is not None
    return policy.default_team


class TestProperties:
    """team_for is the first matching route; a single team's view is the policy's own."""

    @given(organisations(), st.lists(routed_alerts(), min_size=1, max_size=5))
    def test_team_for_is_the_first_matching_route(
        self, policy: Policy, alerts: list[Alert]
    ) -> None:
        for one in alerts:
            assert policy.team_for(one).name == _reference_team(policy, one)

    @given(policies(), st.sampled_from(["ops", "default"]), st.integers(0, 4), st.text())
    def test_a_single_teams_view_behaves_as_the_policy(
        self, policy: Policy, name: str, level: int, incident: str
    ) -> None:
        policy = attrs.evolve(
            policy,
            escalation=[EscalationLevel(("alice",)), EscalationLevel(("bob", "carol"))],
            postmortem_review_pool=["alice", "bob", "carol"],
        )
        for view, team in (
            (policy.for_team("default"), "default"),
            (attrs.evolve(policy, teams=[Team(name=name)]).for_team(name), name),
        ):
            assert view.team_for(alert()).name == team
            assert view.escalation_targets(level) == policy.escalation_targets(level)
            assert view.escalation_steps == policy.escalation_steps
            assert view.page_targets(level, MONDAY) == policy.page_targets(level, MONDAY)
            for author in ("alice", "zoe"):
                assert view.postmortem_reviewers_for(incident, author) == (
                    policy.postmortem_reviewers_for(incident, author)
                )
            assert view.postmortem_folder == policy.postmortem_folder
            assert view.critical == policy.critical
