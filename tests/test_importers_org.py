"""Issue 34: Opsgenie's teams and routing rules, Grafana OnCall's integrations and routes.

Each vendor's three-team sample (origins in samples/README.md) imports as teams and routes
that ``Policy.from_text`` reads back to the same values; what a label matcher cannot say is
reported and left out, never guessed; hostile names are slugged and escaped.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incident_flow import Alert, Policy
from incident_flow.importers import (
    InvalidExport,
    import_grafana_oncall,
    import_opsgenie,
    import_vendor,
)

from .test_importers import _json, _objects_in

SAMPLES = Path(__file__).parent / "samples" / "imports"
OPSGENIE = "opsgenie_org_three_teams.json"
ONCALL = "grafana_oncall_org_three_teams.json"
MONDAY = datetime(2026, 1, 5, 10, tzinfo=UTC)  # the first week: alice, carol, erin on call


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def alert(source: str = "alertmanager", **labels: str) -> Alert:
    return Alert(source=source, name="HighLatency", title="HighLatency", labels=labels)


def found(imported: Any, outcome: str | None = None) -> dict[str, str]:
    """The findings by place: what happened (first words)."""
    return {f.where: f.why for f in imported.findings if outcome is None or f.outcome == outcome}


def rule_sets(documents: list[Any]) -> list[dict[str, Any]]:
    return [d for d in documents if "team" in d]


def read_back(imported: Any) -> Policy:
    policy = Policy.from_text(imported.policy_toml())
    assert (policy.teams, policy.routes, policy.default_team) == (
        imported.teams,
        imported.routes,
        imported.default_team,
    )
    return policy


# ------------------------------------------------------------------------------ Opsgenie


class TestOpsgenieOrganisation:
    def test_three_teams_route_by_their_rules(self) -> None:
        """Each team pages its default rule's escalation; each rule is a route on ``team``."""
        imported = import_opsgenie(sample(OPSGENIE))
        assert [t.name for t in imported.teams] == [
            "checkout",
            "search-discovery",
            "platform-infra",
        ]
        assert [r.describe() for r in imported.routes] == [
            "team=Checkout service=payments-gateway -> checkout",
            "team=Checkout service=card-vault -> checkout",
            "team=Checkout -> checkout",
            "team=Search & Discovery service=search-api severity=P1 -> search-discovery",
            "team=Search & Discovery -> search-discovery",
            "team=Platform (Infra) service=platform-db source=alertmanager -> platform-infra",
            "team=Platform (Infra) -> platform-infra",
        ]
        assert imported.default_team == "checkout"
        policy = read_back(imported)
        for team, (label, person) in {
            "checkout": ("Checkout", "alice"),
            "search-discovery": ("Search & Discovery", "carol"),
            "platform-infra": ("Platform (Infra)", "erin"),
        }.items():
            assert policy.team_for(alert(team=label)).name == team
            assert policy.for_team(team).page_targets(0, MONDAY) == ((person,), ())
        assert policy.for_team("checkout").escalation_targets(1) == ("ic",)
        assert policy.team_for(alert(service="payments-gateway")).name == "checkout"  # default
        assert imported.escalation == imported.teams[0].escalation
        assert "3 teams, 7 routes" in imported.report()
        assert "9 routing rules" in imported.read

    def test_what_a_matcher_cannot_say_is_reported(self) -> None:
        imported = import_opsgenie(sample(OPSGENIE))
        dropped, approximated = found(imported, "dropped"), found(imported, "approximated")
        checkout, search, platform = (
            'teams "Checkout".routing_rules',
            'teams "Search & Discovery".routing_rules',
            'teams "Platform (Infra)".routing_rules',
        )
        assert dropped == {
            f'{checkout}[1] "Business hours".timeRestriction': dropped[
                f'{checkout}[1] "Business hours".timeRestriction'
            ],
            f'{search}[0] "Crawler noise".notify': dropped[f'{search}[0] "Crawler noise".notify'],
            f'{platform}[1] "Disk regex".criteria': dropped[f'{platform}[1] "Disk regex".criteria'],
        }
        assert "a route has no hours" in dropped[f'{checkout}[1] "Business hours".timeRestriction']
        assert "notifies nobody" in dropped[f'{search}[0] "Crawler noise".notify']
        tag = f'{checkout}[0] "Card payments".criteria.conditions[1]'
        assert approximated[tag] == "the tag is read as the label service=card-vault"
        assert "source here" in approximated[f'{platform}[0] "Databases".criteria.conditions[1]']
        assert "title" in approximated[f'{platform}[1] "Disk regex".criteria.conditions[0]']
        # Owner teams are the teams now: not reported as lost.
        assert not any("ownerTeam" in f.where for f in imported.findings)

    def test_escalation_names_the_default_team(self) -> None:
        imported = import_opsgenie(sample(OPSGENIE), escalation="Platform_escalation")
        assert imported.default_team == "platform-infra"
        assert imported.escalation == imported.teams[2].escalation
        assert read_back(imported).team_for(alert()).name == "platform-infra"
        with pytest.raises(InvalidExport, match="named or with the id 'Nope'"):
            import_opsgenie(sample(OPSGENIE), escalation="Nope")

    def test_an_escalation_no_rule_notifies_is_reported(self) -> None:
        documents = sample(OPSGENIE)
        spare = copy.deepcopy(documents[3])
        spare["data"].update(id="e-spare", name="Spare")
        documents.append(spare)
        imported = import_opsgenie(documents)
        assert "no routing rule notifies it" in found(imported)['escalations[3] "Spare"']
        chosen = import_opsgenie(documents, escalation="e-spare")
        assert chosen.default_team == "checkout"  # no team pages it: the first team
        assert 'escalations[3] "Spare"' not in found(chosen)

    def test_a_rule_notifying_another_escalation_is_a_team_of_its_own(self) -> None:
        documents = sample(OPSGENIE)
        checkout = rule_sets(documents)[0]["data"]
        checkout[0]["notify"] = {"type": "escalation", "name": "Platform_escalation"}
        checkout[2]["notify"] = {"type": "schedule", "id": "d875alp4-0000-checkout"}
        imported = import_opsgenie(documents)
        names = [t.name for t in imported.teams]
        assert names[:2] == ["checkout", "checkout-platform_escalation"]
        assert imported.teams[0].escalation[0].targets == ("schedule:Checkout Primary",)  # type: ignore[index]
        assert imported.routes[0].team == "checkout-platform_escalation"
        assert (
            found(imported)['teams "Checkout"'] == "the team is named checkout-platform_escalation"
        )
        read_back(imported)

    def test_whose_rules_are_found_from_their_escalation_or_the_only_team(self) -> None:
        documents = sample(OPSGENIE)
        for rules in rule_sets(documents):
            del rules["team"]
        imported = import_opsgenie(documents)
        assert [t.name for t in imported.teams] == [
            "checkout",
            "search-discovery",
            "platform-infra",
        ]
        # No owner anywhere, several teams: not imported, and said.
        for document in documents[3:6]:
            del document["data"]["ownerTeam"]
        lost = import_opsgenie(documents)
        assert lost.teams == () and "of no known team" in found(lost)["routing_rules[0]"]
        assert lost.escalation == imported.teams[0].escalation  # the first, as without teams
        # One team only: its rules.
        alone = [*documents[:7], documents[9]]  # Checkout is the only team
        assert [t.name for t in import_opsgenie(alone).teams] == ["checkout"]
        # Named by id, by name, or by an id no team has.
        by = rule_sets(sample(OPSGENIE))
        by[0]["team"] = "8418d193-2dab-4490-b331-8c02cdd196b7"
        by[1]["team"] = "Search & Discovery"
        by[2]["team"] = {"id": "nobody"}
        named = import_opsgenie([*sample(OPSGENIE)[:9], *by])
        assert [t.name for t in named.teams] == ["checkout", "search-discovery"]
        assert "of no known team" in found(named)["routing_rules[2]"]

    def test_conditions_each_as_a_matcher_or_a_reason(self) -> None:
        """Every field and operation: a matcher, or the rule (or condition) reported."""
        cases: list[tuple[dict[str, Any], str]] = [
            ({"field": "priority", "operation": "equals", "expectedValue": "P2"}, "severity=P2"),
            (
                {"field": "priority", "operation": "equals", "expectedValue": "P2", "not": True},
                "severity!=P2",
            ),
            ({"field": "entity", "operation": "equals", "expectedValue": "db-1"}, "entity=db-1"),
            ({"field": "teams", "operation": "contains", "expectedValue": "Checkout"}, ""),
            (
                {"field": "extra-properties", "key": "env", "operation": "contains-key"},
                "env=*",
            ),
            (
                {"field": "details", "key": "env", "operation": "equals", "expectedValue": "!x"},
                "env=!x",
            ),
            (
                {"field": "priority", "operation": "greater-than", "expectedValue": "P3"},
                "!compares",
            ),
            ({"field": "priority", "operation": "equals", "expectedValue": "P9"}, "!equals P1..P5"),
            ({"field": "tags", "operation": "contains", "expectedValue": "critical"}, "!KEY:VALUE"),
            ({"field": "extra-properties", "operation": "equals", "expectedValue": "x"}, "!key"),
            (
                {
                    "field": "extra-properties",
                    "key": "bad key!",
                    "operation": "equals",
                    "expectedValue": "x",
                },
                "!not a label",
            ),
            (
                {
                    "field": "extra-properties",
                    "key": "k",
                    "operation": "contains",
                    "expectedValue": "x",
                },
                "!extra property contains",
            ),
            (
                {"field": "entity", "operation": "equals", "expectedValue": "*", "not": True},
                "!not *",
            ),
            ({"field": "alias", "operation": "equals", "expectedValue": "x"}, "!dedup key"),
            (
                {"field": "entity", "operation": "contains", "expectedValue": "x"},
                "!has no label form",
            ),
        ]
        for condition, expected in cases:
            documents = sample(OPSGENIE)
            rule = rule_sets(documents)[0]["data"][0]
            rule["criteria"] = {"type": "match-all-conditions", "conditions": [condition]}
            imported = import_opsgenie(documents)
            where = 'teams "Checkout".routing_rules[0] "Card payments".criteria.conditions[0]'
            if expected.startswith("!"):
                assert expected[1:] in found(imported, "dropped")[where], condition
                assert imported.routes[0].describe() == "team=Checkout -> checkout", condition
            else:
                shown = f"team=Checkout {expected}".strip()
                assert imported.routes[0].describe() == f"{shown} -> checkout", condition
                read_back(imported)

    def test_criteria_kinds(self) -> None:
        documents = sample(OPSGENIE)
        rule = rule_sets(documents)[0]["data"][0]
        two = [
            {
                "field": "extra-properties",
                "key": "service",
                "operation": "equals",
                "expectedValue": "a",
            },
            {"field": "tags", "operation": "contains", "expectedValue": "service:b"},
        ]
        rule["criteria"] = {"type": "match-all-conditions", "conditions": two}
        imported = import_opsgenie(documents)
        assert (
            "ask one label for different values"
            in found(imported)['teams "Checkout".routing_rules[0] "Card payments".criteria']
        )
        same = [two[0], {**two[1], "expectedValue": "service:a"}]
        rule["criteria"] = {"type": "match-all-conditions", "conditions": same}
        assert import_opsgenie(documents).routes[0].describe() == (
            "team=Checkout service=a -> checkout"
        )
        for criteria, why in (
            ({"type": "match-sometimes"}, "not a kind of criteria"),
            ({"type": "match-any-condition", "conditions": []}, "no conditions"),
        ):
            rule["criteria"] = criteria
            where = 'teams "Checkout".routing_rules[0] "Card payments".criteria'
            assert (
                why
                in found(import_opsgenie(documents))[
                    f"{where}.type" if "sometimes" in str(criteria) else where
                ]
            )
        # Another team asked for: never matches here. The rule's own team: no more than it.
        rule["criteria"] = {
            "type": "match-any-condition",
            "conditions": [
                {"field": "teams", "operation": "contains", "expectedValue": "Search & Discovery"},
                {"field": "teams", "operation": "contains", "expectedValue": "Checkout"},
            ],
        }
        imported = import_opsgenie(documents)
        assert (
            "never matches"
            in found(imported)['teams "Checkout".routing_rules[0] "Card payments".criteria']
        )
        assert imported.routes[0].describe() == "team=Checkout -> checkout"

    def test_what_a_rule_notifies(self) -> None:
        for notify, why in (
            ({"type": "escalation", "name": "Gone"}, "escalation is not in the import"),
            ({"type": "schedule", "name": "Gone"}, "schedule is not in the import"),
            ({"type": "user", "name": "alice"}, "not something incident_flow can page"),
        ):
            documents = sample(OPSGENIE)
            rule_sets(documents)[0]["data"][0]["notify"] = notify
            imported = import_opsgenie(documents)
            where = 'teams "Checkout".routing_rules[0] "Card payments".notify'
            assert why in found(imported, "dropped")[where]
            assert imported.routes[0].describe() == "team=Checkout -> checkout"

    def test_hostile_names_are_slugged_escaped_and_read_back(self) -> None:
        documents = sample(OPSGENIE)
        sets = rule_sets(documents)
        sets[0]["team"] = {"name": 'Ops "core"\n[[routes]]\nteam = "evil" <script>'}
        sets[1]["team"] = {"name": "*"}
        sets[2]["team"] = {"name": "ops-core-routes-team-evil-script"}  # the first's slug
        imported = import_opsgenie(documents)
        assert [t.name for t in imported.teams] == [
            "ops-core-routes-team-evil-script",
            "team",
            "ops-core-routes-team-evil-script-2",
        ]
        policy = read_back(imported)
        assert policy.team_for(alert(team="*")).name == "team"
        assert policy.team_for(alert(team="anything")).name == imported.default_team
        assert policy.team_for(alert(team=sets[0]["team"]["name"])).name == imported.teams[0].name
        assert 'team = "evil"' not in imported.policy_toml().splitlines()
        report = imported.report()
        assert "\\<script\\>" in report and not re.search(r"(?<!\\)<", report)

    def test_two_teams_of_one_name(self) -> None:
        """The second team's rules would never be reached by its team label: reported."""
        documents = sample(OPSGENIE)
        sets = rule_sets(documents)
        sets[1]["team"] = {"name": "Checkout"}
        imported = import_opsgenie(documents)
        assert [t.name for t in imported.teams] == ["checkout", "platform-infra"]
        assert "a team named as one before" in found(imported)['routing_rules[1] "Checkout"']
        spare = found(imported)['escalations[1] "Search_escalation"']
        assert "no routing rule notifies it" in spare
        read_back(imported)

    def test_rules_found_in_nested_lists_and_odd_notifies(self) -> None:
        documents = sample(OPSGENIE)
        sets = rule_sets(documents)
        del sets[0]["team"]
        sets[0]["data"][0]["notify"] = "escalation"  # not an object: skipped when finding whose
        nested = [*documents[:9], [sets[0], [sets[1]]], sets[2]]
        with pytest.raises(InvalidExport, match=r"notify: must be a JSON object"):
            import_opsgenie(nested)
        sets[0]["data"][0]["notify"] = {"type": "escalation", "name": "Checkout_escalation"}
        imported = import_opsgenie(nested)
        assert len(imported.teams) == 3 and imported.routes[0].team == "checkout"

    def test_a_user_named_by_id_here_and_by_username_there_is_one_person(self) -> None:
        """Found by the fuzz test: ``ic`` and ``ic-2`` with one email was an invalid policy."""
        documents = sample(OPSGENIE)
        del documents[3]["data"]["rules"][1]["recipient"]["id"]  # username only
        imported = import_opsgenie(documents)
        assert [p.name for p in imported.people].count("ic") == 1
        assert "ic-2" not in imported.policy_toml()
        assert imported.teams[0].escalation[1].targets == ("ic",)  # type: ignore[index]
        read_back(imported)

    def test_malformed_rules_are_clear_errors(self) -> None:
        for change, message in (
            (lambda r: r.update(criteria="all"), r"criteria: must be a JSON object"),
            (
                lambda r: r.update(criteria={"type": "match-any-condition", "conditions": "x"}),
                "conditions: must be a JSON array",
            ),
            (lambda r: r.update(notify=["escalation"]), r"notify: must be a JSON object"),
            (
                lambda r: r["criteria"]["conditions"][0].update(field=["tags"]),
                r"conditions\[0\]\.field: must be a non-empty string",
            ),
        ):
            documents = sample(OPSGENIE)
            change(rule_sets(documents)[0]["data"][0])
            with pytest.raises(InvalidExport, match=message):
                import_opsgenie(documents)
        documents = sample(OPSGENIE)
        rule_sets(documents)[0]["data"].append("not a rule")
        with pytest.raises(InvalidExport, match="must be a JSON object"):
            import_opsgenie(documents)
        documents = sample(OPSGENIE)
        rule_sets(documents)[0]["data"].append({"name": "half a rule"})
        with pytest.raises(InvalidExport, match=r'"half a rule"\.notify: must be a JSON object'):
            import_opsgenie(documents)

    def test_one_rule_answer_and_an_unknown_key(self) -> None:
        documents = sample(OPSGENIE)[:9]
        rule = {**rule_sets(sample(OPSGENIE))[0]["data"][2], "colour": "red"}
        imported = import_opsgenie([*documents, {"team": "Checkout", "data": rule}])
        assert [r.describe() for r in imported.routes] == ["team=Checkout -> checkout"]
        assert 'teams "Checkout".routing_rules[0] "Default Rule".colour' in found(imported)

    def test_fetched_routing_rules_keep_their_team(self, httpserver: Any) -> None:
        from incident_flow.importers import fetch

        documents = sample(OPSGENIE)
        auth = {"Authorization": "GenieKey og-key-0123"}
        schedules = [d["data"] for d in documents if "rotations" in d["data"]]
        escalations = [d["data"] for d in documents if "rules" in d.get("data", {})]
        teams = [d["data"] for d in documents if "members" in d.get("data", {})]
        httpserver.expect_request("/v2/schedules", headers=auth).respond_with_json(
            {"data": schedules, "took": 0.1, "requestId": "r"}
        )
        for schedule in schedules:
            httpserver.expect_request(
                f"/v2/schedules/{schedule['id']}/overrides"
            ).respond_with_json({"data": [], "took": 0.1, "requestId": "r"})
        httpserver.expect_request("/v2/escalations", headers=auth).respond_with_json(
            {"data": escalations, "took": 0.1, "requestId": "r"}
        )
        httpserver.expect_request("/v2/teams", headers=auth).respond_with_json(
            {"data": [{"id": t["id"], "name": t["name"]} for t in teams], "took": 0.1}
        )
        for team, rules in zip(teams, rule_sets(documents), strict=True):
            httpserver.expect_request(f"/v2/teams/{team['id']}").respond_with_json({"data": team})
            answer = {k: v for k, v in rules.items() if k != "team"}
            if team["name"] == "Platform (Infra)":  # an account where the key may not read them
                httpserver.expect_request(
                    f"/v2/teams/{team['id']}/routing-rules"
                ).respond_with_json({"message": "Forbidden"}, status=404)
            else:
                httpserver.expect_request(
                    f"/v2/teams/{team['id']}/routing-rules"
                ).respond_with_json(answer)
        fetched = fetch("opsgenie", "og-key-0123", url=httpserver.url_for("/"))
        imported = import_opsgenie(fetched)
        assert [t.name for t in imported.teams] == ["checkout", "search-discovery"]
        assert "Platform_escalation" in str(found(imported))


# ------------------------------------------------------------------------ Grafana OnCall


def oncall_routes(documents: list[Any]) -> list[dict[str, Any]]:
    return list(documents[6]["results"])


class TestGrafanaOnCallOrganisation:
    def test_every_chain_a_team_every_route_a_route(self) -> None:
        imported = import_grafana_oncall(sample(ONCALL))
        assert [(t.name, t.chat_channel) for t in imported.teams] == [
            ("checkout", "C0CHECKOUT"),
            ("search-discovery", "C0SEARCH"),
            ("platform-infra", "C0PLATFORM"),
        ]
        assert [r.describe() for r in imported.routes] == [
            "source=alertmanager service=checkout-api -> checkout",
            "source=alertmanager service=search-api -> search-discovery",
            "source=alertmanager -> platform-infra",
            "source=grafana team=search env!=staging -> search-discovery",
            "source=grafana -> platform-infra",
            "integration=Legacy checks -> checkout",
        ]
        assert imported.default_team == "checkout"
        policy = read_back(imported)
        for labels, (team, person) in (
            ({"service": "checkout-api"}, ("checkout", "alice")),
            ({"service": "search-api"}, ("search-discovery", "carol")),
            ({"service": "platform-db"}, ("platform-infra", "erin")),
        ):
            assert policy.team_for(alert(**labels)).name == team
            assert policy.for_team(team).page_targets(0, MONDAY) == ((person,), ())
        assert policy.team_for(alert("grafana", team="search")).name == "search-discovery"
        assert policy.team_for(alert("grafana", team="search", env="staging")).name == (
            "platform-infra"
        )
        assert policy.team_for(alert("datadog", integration="Legacy checks")).name == "checkout"
        assert "3 integrations, 8 routes" in imported.read

    def test_what_a_matcher_cannot_say_is_reported(self) -> None:
        imported = import_grafana_oncall(sample(ONCALL))
        shop = 'integrations[0] "Shop Alertmanager".routes'
        assert (
            "Jinja2 test other than label comparisons"
            in found(imported)[f"{shop}[2].routing_regex"]
        )
        assert "regular expression" in found(imported)[f"{shop}[3].routing_regex"]
        assert found(imported)[f"{shop}[1].routing_regex"] == (
            "the expression is read as the label service=search-api"
        )
        assert (
            "first alert's labels"
            in found(imported)['integrations[1] "Grafana Alerting".routes[5].routing_regex']
        )
        assert "integration=Legacy checks" in found(imported)['integrations[2] "Legacy checks"']
        assert not any("a policy has one escalation" in f.why for f in imported.findings)

    def test_escalation_names_the_default_team(self) -> None:
        imported = import_grafana_oncall(sample(ONCALL), escalation="FSEARCH")
        assert imported.default_team == "search-discovery"
        assert imported.escalation == imported.teams[1].escalation
        with pytest.raises(InvalidExport, match="named or with the id 'Nope'"):
            import_grafana_oncall(sample(ONCALL), escalation="Nope")

    def test_two_integrations_of_one_source_are_told_apart_by_a_label(self) -> None:
        documents = sample(ONCALL)
        documents[5]["results"][2]["type"] = "alertmanager"
        imported = import_grafana_oncall(documents)
        assert imported.routes[0].describe() == (
            "integration=Shop Alertmanager service=checkout-api -> checkout"
        )
        assert (
            "another integration of the import arrives as alertmanager"
            in found(imported)['integrations[0] "Shop Alertmanager"']
        )
        read_back(imported)

    def test_routes_that_cannot_be_taken(self) -> None:
        documents = sample(ONCALL)
        routes = oncall_routes(documents)
        routes[0]["escalation_chain_id"] = None
        routes[1]["escalation_chain_id"] = "FGONE"
        routes[2].update(routing_type="jinja2", routing_regex="{{ payload.labels.source == 'x' }}")
        routes[3].update(routing_type="terraform")
        routes[5].update(routing_regex="  ")
        routes.append({**routes[0], "id": "RORPHAN", "integration_id": "CGONE"})
        routes.append(
            {
                **routes[4],
                "id": "RX",
                "is_the_last_route": False,
                "position": 0,
                "escalation_chain_id": "FSEARCH",
                "routing_type": "jinja2",
                "routing_regex": '{{ payload.labels.a == "1" and payload.labels.a == "2" }}',
            }
        )
        routes.append(
            {**routes[-1], "id": "RY", "routing_regex": "{{ payload.labels['bad key'] == \"1\" }}"}
        )
        routes.append({**routes[-1], "id": "RZ", "routing_regex": "payload.labels.a"})
        documents[6]["results"] = routes
        imported = import_grafana_oncall(documents)
        why = found(imported, "dropped")
        shop = 'integrations[0] "Shop Alertmanager".routes'
        assert "no escalation chain" in why[f"{shop}[0].escalation_chain_id"]
        assert "not in the import" in why[f"{shop}[1].escalation_chain_id"]
        assert "says the integration here" in why[f"{shop}[2].routing_regex"]
        assert "routing_type 'terraform'" in why[f"{shop}[3].routing_regex"]
        assert (
            "a route without a test"
            in why['integrations[1] "Grafana Alerting".routes[5].routing_regex']
        )
        assert "no integration in the import" in why["routes[8]"]
        assert "different values" in why[f"{shop}[9].routing_regex"]
        assert "not a label's name" in why[f"{shop}[10].routing_regex"]
        assert "one {{ ... }} test" in why[f"{shop}[11].routing_regex"]
        assert [r.describe() for r in imported.routes][:1] == [
            "source=alertmanager -> platform-infra"
        ]
        read_back(imported)

    def test_channels_and_other_chats(self) -> None:
        documents = sample(ONCALL)
        routes = oncall_routes(documents)
        routes[1]["slack"] = {"channel_id": "C0OTHER", "enabled": True}
        routes[0]["telegram"] = {"id": "TGRQ5N5Q4T2TW", "enabled": True}
        documents[6]["results"] = routes
        imported = import_grafana_oncall(documents)
        assert imported.teams[1].chat_channel == "C0OTHER"  # the first met
        assert (
            "2 Slack channels"
            in found(imported)['escalation_chains[1] "Search & Discovery" (Slack channels)']
        )
        assert (
            "only Slack"
            in found(imported)['integrations[0] "Shop Alertmanager".routes[0].telegram']
        )

    def test_a_default_route_only_in_the_integration_and_a_chain_with_nothing(self) -> None:
        documents = sample(ONCALL)
        documents[6]["results"] = [
            r for r in oncall_routes(documents) if not r["is_the_last_route"]
        ]
        documents[4]["results"] = [
            s for s in documents[4]["results"] if s["escalation_chain_id"] != "FSEARCH"
        ]
        imported = import_grafana_oncall(documents)
        assert [r.describe() for r in imported.routes][
            -1
        ] == "integration=Legacy checks -> checkout"
        assert "source=alertmanager -> platform-infra" in [r.describe() for r in imported.routes]
        assert imported.teams[1].escalation is None
        assert (
            "no level could be imported"
            in found(imported)['escalation_chains[1] "Search & Discovery"']
        )
        read_back(imported)

    def test_hostile_names_are_slugged_escaped_and_read_back(self) -> None:
        documents = sample(ONCALL)
        chains = documents[3]["results"]
        chains[0]["name"] = 'Ops "core"\n[[routes]]\nteam = "evil" <script>'
        chains[1]["name"] = "<!-- -->"
        chains[2]["name"] = "ops-core-routes-team-evil-script"
        documents[5]["results"][2]["name"] = '!legacy "x"\n[[teams]]'
        routes = oncall_routes(documents)
        routes[0]["routing_regex"] = '{{ payload.commonLabels.service == "*" }}'
        documents[6]["results"] = routes
        imported = import_grafana_oncall(documents)
        assert [t.name for t in imported.teams] == [
            "ops-core-routes-team-evil-script",
            "team",
            "ops-core-routes-team-evil-script-2",
        ]
        policy = read_back(imported)
        assert policy.team_for(alert(service="*")).name == imported.teams[0].name
        assert policy.team_for(alert(service="checkout-api")).name == imported.teams[2].name
        odd = documents[5]["results"][2]["name"]
        assert policy.team_for(alert("webhook", integration=odd)).name == imported.teams[0].name
        assert policy.team_for(alert("webhook", integration="legacy")).name == imported.default_team
        report = imported.report()
        assert "\\<script\\>" in report and not re.search(r"(?<!\\)<", report)

    def test_two_integrations_of_one_name_by_label(self) -> None:
        documents = sample(ONCALL)
        documents[5]["results"][1].update(type="webhook", name="Legacy checks")
        imported = import_grafana_oncall(documents)
        assert (
            "another integration has this name"
            in found(imported)['integrations[2] "Legacy checks"']
        )
        assert [r.describe() for r in imported.routes][-1] == (
            "integration=Legacy checks -> platform-infra"
        )
        read_back(imported)

    def test_without_integrations_the_import_is_as_before(self) -> None:
        documents = sample(ONCALL)[:5]
        imported = import_grafana_oncall(documents)
        assert (imported.teams, imported.routes, imported.default_team) == ((), (), None)
        assert "a policy has one escalation" in str(found(imported))

    def test_fetched_integrations_and_routes(self, httpserver: Any) -> None:
        from incident_flow.importers import fetch

        documents = sample(ONCALL)
        auth = {"Authorization": "oncall-token-0123"}
        paths = [
            "users",
            "schedules",
            "on_call_shifts",
            "escalation_chains",
            "escalation_policies",
            "integrations",
            "routes",
        ]
        for path, page in zip(paths, documents, strict=True):
            httpserver.expect_request(f"/api/v1/{path}/", headers=auth).respond_with_json(page)
        fetched = fetch("grafana-oncall", "oncall-token-0123", url=httpserver.url_for("/"))
        assert import_grafana_oncall(fetched).routes == import_grafana_oncall(documents).routes


def test_a_late_week_pages_the_second_person() -> None:
    """The imported rotations go on: a week later each team pages its second person."""
    for imported in (import_opsgenie(sample(OPSGENIE)), import_grafana_oncall(sample(ONCALL))):
        policy = read_back(imported)
        week = MONDAY + timedelta(weeks=1)
        seconds = [policy.for_team(t.name).page_targets(0, week)[0] for t in policy.teams]
        assert seconds == [("bob",), ("dan",), ("frank",)]


@settings(max_examples=300, deadline=None)
@given(
    vendor=st.sampled_from(["pagerduty", "opsgenie", "grafana-oncall"]),
    data=st.data(),
)
def test_any_damaged_organisation_is_imported_or_refused_clearly(vendor: str, data: Any) -> None:
    """A value anywhere in an organisation's export replaced by any JSON: imported (its
    teams and routes read back, its report escaped), or InvalidExport naming the field."""
    export = {
        "pagerduty": "pagerduty_org_three_services.json",
        "opsgenie": OPSGENIE,
        "grafana-oncall": ONCALL,
    }[vendor]
    documents = sample(export)
    places = [p for p in _objects_in(documents) if p]
    path = data.draw(st.sampled_from(places))
    node = documents
    for key in path[:-1]:
        node = node[key]
    parent = node[path[-1]]
    key = data.draw(st.sampled_from(sorted(parent))) if parent else None
    if key is not None:
        parent[key] = data.draw(_json)
    try:
        imported = import_vendor(vendor, documents)
    except InvalidExport as refused:
        problem: str | None = str(refused)
    else:
        problem = None
        read_back(imported)
        assert not re.search(r"(?<![\\`])<", imported.report())
    assert problem is None or ": " in problem  # a refusal names the field


@pytest.mark.parametrize(
    ("vendor", "export", "routes"),
    [
        ("opsgenie", OPSGENIE, 7),
        ("grafana-oncall", ONCALL, 6),
    ],
)
def test_the_import_command_writes_the_organisation(
    tmp_path: Path, vendor: str, export: str, routes: int
) -> None:
    """``import VENDOR FILE``: the teams and routes, which ``policy check`` reads back."""
    from click.testing import CliRunner

    from incident_flow.cli import main

    path = tmp_path / "export.json"
    path.write_text(json.dumps(sample(export)))
    out, report = tmp_path / "org.toml", tmp_path / "org.md"
    args = ["import", vendor, str(path), "-o", str(out), "--report", str(report)]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"3 teams, {routes} routes;" in result.output
    assert "## Teams and routes" in report.read_text()
    checked = CliRunner().invoke(main, ["policy", "check", str(out)], catch_exceptions=False)
    assert checked.exit_code == 0 and "else -> checkout (the default team)" in checked.output
