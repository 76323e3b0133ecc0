"""Issue 34, third part: teams at the operator's surfaces.

The command line (``oncall --team``, ``list --team``, ``report --team`` and the report per
team, ``reassign``), Slack's ``/incident team ID TEAM`` through the served app, and
``/metrics`` labelled by team. A policy without teams keeps every surface as it was.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from attrs import evolve as attrs_evolve
from click.testing import CliRunner
from pytest_httpserver import HTTPServer

from incident_flow import Alert, IncidentFlow, Policy, RecordingNotifier
from incident_flow.adapters.stores.sqlite import SQLiteStore
from incident_flow.cli import main
from incident_flow.server import async_flow, create_app, load_config
from incident_flow.server._metrics import ServiceMetrics
from incident_flow.testing import ManualClock

from .conftest import T0
from .inbound import ACTIONS, SLACK_TEAM, slack_signed
from .test_server import ENV, EXAMPLE, Served, post
from .vendors import CHANNEL, FakePagerDuty, FakeSlack

POLICY = """
default_team = "payments"

[[schedules]]
name = "shop-primary"
[[schedules.layers]]
name = "weeks"
members = ["alice", "dave"]
period = "1 week"
start = 2026-01-05

[[teams]]
name = "checkout"
escalation = [{ targets = ["schedule:shop-primary"] }, { targets = ["carol"], wait = "10m" }]
chat_channel = "#shop"

[[teams]]
name = "payments"
escalation = [{ targets = ["bob"] }]

[[routes]]
match = { service = "checkout" }
team = "checkout"
"""


def alert(service: str, key: str, severity: str = "P1") -> Alert:
    return Alert(
        source="s", name=f"{service}-down", title=f"{service} down", severity=severity,
        labels={"service": service}, dedup_key=key,
    )  # fmt: skip


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The command line configures the library's logging as a host does; put it back."""
    library = logging.getLogger("incident_flow")
    handlers, level = list(library.handlers), library.level
    yield
    library.handlers[:] = handlers
    library.setLevel(level)


def populate(db: Path, policy: Policy) -> dict[str, str]:
    """Three incidents: checkout acked after 5 min and resolved after 20; payments; billing."""
    clock = ManualClock(T0)
    flow = IncidentFlow(
        policy, store=SQLiteStore(db), notifier=RecordingNotifier(), pager=RecordingNotifier(),
        clock=clock,
    )  # fmt: skip
    shop = flow.trigger(alert("checkout", "k1"))
    pay = flow.trigger(alert("payments", "k2"))
    clock.advance(timedelta(minutes=5))
    flow.acknowledge(shop.id, by="alice")
    clock.advance(timedelta(minutes=15))
    flow.resolve(shop.id, by="alice")
    low = flow.trigger(alert("billing", "k3", severity="P4"))
    return {"shop": shop.id, "pay": pay.id, "low": low.id}


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``incident-flow --db ... --policy teams.toml ARGS``: its exit code and output."""
    monkeypatch.chdir(tmp_path)
    policy_file = tmp_path / "teams.toml"
    policy_file.write_text(POLICY)
    runner = CliRunner()

    def invoke(*args: str, policy: bool = True) -> tuple[int, str]:
        chosen = ["--policy", str(policy_file)] if policy else []
        result = runner.invoke(
            main, ["--db", str(tmp_path / "cli.db"), *chosen, *args], catch_exceptions=False
        )
        return result.exit_code, result.output

    assert invoke("init")[0] == 0
    invoke.ids = populate(tmp_path / "cli.db", Policy.from_text(POLICY))  # type: ignore[attr-defined]
    return invoke


class TestCommandLine:
    def test_oncall_team_says_who_each_level_pages(self, cli: Any) -> None:
        code, out = cli("oncall", "--team", "checkout", "--at", "2026-12-14T10:00")
        assert code == 0
        assert out == (
            "checkout pages at 2026-12-14 10:00 UTC (its chat: #shop):\n"
            "  level 1: dave (schedule:shop-primary)\n"
            "  level 2: carol\n"
        )
        code, out = cli("oncall", "--team", "payments", "--at", "2026-12-14T10:00+00:00")
        assert out.splitlines()[1:] == ["  level 1: bob"]

    def test_an_unknown_team_is_a_clear_error_with_the_closest_name(self, cli: Any) -> None:
        for command in ("oncall", "list", "report"):
            code, out = cli(command, "--team", "chekout")
            assert code != 0, command
            assert out == (
                "error: --team 'chekout': unknown team, did you mean 'checkout'? "
                "(known: checkout, payments)\n"
            )
        code, out = cli("oncall", "shop-primary", "--team", "checkout")
        assert code != 0 and "without a schedule" in out

    def test_list_team_shows_only_that_teams_incidents(self, cli: Any) -> None:
        ids = cli.ids
        _, shop = cli("list", "--team", "checkout")
        assert ids["shop"] in shop and ids["pay"] not in shop and ids["low"] not in shop
        _, pay = cli("list", "--team", "payments")
        assert ids["pay"] in pay and ids["low"] in pay and ids["shop"] not in pay
        _, everything = cli("list")
        assert all(i in everything for i in ids.values())

    def test_report_per_team(self, cli: Any) -> None:
        code, out = cli("report", "--format", "json")
        assert code == 0
        data = json.loads(out)
        assert data["by_team"] == {
            "checkout": {"incidents": 1, "open": 1, "mtta_minutes": 5.0, "mttr_minutes": 20.0},
            "payments": {"incidents": 2, "open": 2, "mtta_minutes": None, "mttr_minutes": None},
        }
        mine = json.loads(cli("report", "--team", "payments", "--format", "json")[1])
        assert mine["incidents"] == 2 and list(mine["by_team"]) == ["payments"]
        _, text = cli("report", "--team", "checkout")
        row = next(line for line in text.splitlines() if "checkout" in line)
        assert [cell.strip() for cell in row.strip("│ ").split("│")] == [
            "checkout", "1", "1", "5.0", "20.0",
        ]  # fmt: skip
        assert "by team" in text

    def test_a_policy_without_teams_reports_as_before(self, cli: Any) -> None:
        data = json.loads(cli("report", "--format", "json", policy=False)[1])
        assert "by_team" not in data
        assert "by team" not in cli("report", policy=False)[1]
        code, out = cli("list", "--team", "default", policy=False)
        assert code == 0 and all(i in out for i in cli.ids.values())
        code, out = cli("list", "--team", "checkout", policy=False)
        assert code != 0 and "unknown team" in out and "(known: default)" in out

    def test_reassign_hands_the_incident_over_and_refuses_mistakes(self, cli: Any) -> None:
        ids = cli.ids
        code, out = cli("reassign", ids["pay"], "checkout", "--by", "alice")
        assert (code, out) == (0, f"{ids['pay']}: reassigned to team checkout (notified)\n")
        _, shown = cli("list", "--team", "checkout")
        assert ids["pay"] in shown
        _, before = cli("show", ids["pay"])
        code, out = cli("reassign", ids["pay"], "chekout", "--by", "alice")
        assert code != 0 and "did you mean 'checkout'?" in out
        code, out = cli("reassign", ids["pay"], "checkout", "--by", "alice")
        assert code != 0 and "error:" in out  # already its team
        code, out = cli("reassign", "inc-nope", "payments", "--by", "alice")
        assert code != 0 and "error:" in out
        assert cli("show", ids["pay"])[1] == before


# ------------------------------------------------------------------------------ Slack


@pytest.fixture
def served(tmp_path: Path, httpserver: HTTPServer) -> Iterator[tuple[Served, dict[str, str]]]:
    """The service on the teams policy, its store holding :func:`populate`'s incidents."""
    slack = FakeSlack(httpserver)
    pagerduty = FakePagerDuty(httpserver)
    path = tmp_path / "incident-flow.toml"
    text = EXAMPLE.read_text().replace(
        'channel = "C08K3M5N7PQ"', f'channel = "{CHANNEL}"\napi_url = "{slack.api_url}"'
    )
    text = text.replace(
        'routing_key = "${PAGERDUTY_ROUTING_KEY}"',
        f'routing_key = "${{PAGERDUTY_ROUTING_KEY}}"\nurl = "{pagerduty.url}"',
    )
    path.write_text(text)
    policy = Policy.from_text(POLICY)
    ids = populate(tmp_path / "x.db", policy)
    config = attrs_evolve(
        load_config(path, environ=ENV), store=str(tmp_path / "x.db"), policy=policy
    )
    with Served(create_app(async_flow(config), config, worker=False)) as server:
        yield server, ids


def slash(text: str, team: str = SLACK_TEAM) -> bytes:
    """Slack's real slash-command body, as ``/incident TEXT`` typed in workspace ``team``."""
    raw = (ACTIONS / "slack_slash_command.txt").read_text().strip()
    raw = raw.replace("team_id=T0001", f"team_id={team}")
    return (
        raw.replace("command=/weather", "command=/incident")
        .replace("text=94070", f"text={quote(text)}")
        .encode()
    )


def teams_of(tmp_path: Path, ids: dict[str, str]) -> dict[str, str | None]:
    store = SQLiteStore(tmp_path / "x.db")
    flow = IncidentFlow(Policy.from_text(POLICY), store=store, notifier=RecordingNotifier())
    return {name: flow.get(i).team for name, i in ids.items()}


class TestSlackTeamCommand:
    def test_team_reassigns_and_answers_privately(
        self, served: tuple[Served, dict[str, str]], tmp_path: Path
    ) -> None:
        server, ids = served
        form = slash(f"team {ids['pay']} checkout")
        answer = post(server, "/slack/commands", form, **slack_signed(form))
        assert answer.status_code == 200
        assert answer.json() == {
            "response_type": "ephemeral",
            "text": f"{ids['pay']}: reassigned to team checkout by slack:U2147483697.",
        }
        assert teams_of(tmp_path, ids)["pay"] == "checkout"

    def test_mistakes_are_answered_and_change_nothing(
        self, served: tuple[Served, dict[str, str]], tmp_path: Path
    ) -> None:
        server, ids = served
        before = teams_of(tmp_path, ids)

        def ask(text: str) -> str:
            form = slash(text)
            answer = post(server, "/slack/commands", form, **slack_signed(form))
            assert answer.status_code == 200 and answer.json()["response_type"] == "ephemeral"
            return str(answer.json()["text"])

        unknown = ask(f"team {ids['pay']} chekout")
        assert unknown == (
            "'chekout': unknown team, did you mean 'checkout'? (known: checkout, payments). "
            "Nothing changed."
        )
        assert ask(f"team {ids['pay']} payments").endswith("Nothing changed.")  # already its
        assert ask("team inc-nope payments") == "No incident 'inc-nope'. Nothing changed."
        assert ask("team").startswith("/incident team needs an incident id and a team; usage:")
        assert ask(f"team {ids['pay']}").startswith("/incident team needs")
        assert ask(f"team {ids['pay']} checkout extra").startswith("/incident team needs")
        # Hostile words are shown escaped, never as a mention or a link.
        hostile = ask(f"team {ids['pay']} <!channel>")
        assert "&lt;!channel&gt;" in hostile and "<!channel>" not in hostile
        link = ask("team <https://evil.example|click> payments")
        assert "<https" not in link and "&lt;https://evil.example|click&gt;" in link
        assert ask(f"team {ids['pay']} ../../etc").endswith("Nothing changed.")
        assert ask(f"team {ids['pay']} {'x' * 5000}").endswith("Nothing changed.")
        assert teams_of(tmp_path, ids) == before

    def test_a_bad_signature_or_another_workspace_is_401(
        self, served: tuple[Served, dict[str, str]], tmp_path: Path
    ) -> None:
        server, ids = served
        before = teams_of(tmp_path, ids)
        form = slash(f"team {ids['pay']} checkout")
        headers = slack_signed(form)
        headers["X-Slack-Signature"] = "v0=" + "0" * 64
        assert post(server, "/slack/commands", form, **headers).status_code == 401
        evil = slash(f"team {ids['pay']} checkout", team="T0EVIL")
        assert post(server, "/slack/commands", evil, **slack_signed(evil)).status_code == 401
        unsigned = post(
            server, "/slack/commands", form, **{"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert unsigned.status_code == 401
        assert teams_of(tmp_path, ids) == before

    def test_the_library_reads_it_and_gives_no_action(self) -> None:
        from incident_flow import ingest
        from incident_flow.ingest._actions.slack import TeamRequest, team_request

        body = slash("team inc-1 payments")
        assert ingest.actions("slack", body) == []
        assert team_request(body) == TeamRequest("inc-1", "payments", "U2147483697")
        assert team_request(body, command="/pager") is None
        assert team_request(slash("ack inc-1")) is None


# ---------------------------------------------------------------------------- metrics


class TestMetricsByTeam:
    def test_histograms_and_gauges_carry_a_bounded_team_label(self) -> None:
        metrics = ServiceMetrics(("checkout", "payments"), "payments")
        assert [metrics.team_label(t) for t in ("checkout", None, "gone", 'x"}')] == [
            "checkout", "payments", "other", "other",
        ]  # fmt: skip
        clock = ManualClock(T0)
        flow = IncidentFlow(
            Policy.from_text(POLICY), store=SQLiteStore(":memory:"), notifier=RecordingNotifier(),
            pager=RecordingNotifier(), clock=clock,
        )  # fmt: skip
        opened = flow.trigger(alert("checkout", "k1"))
        clock.advance(timedelta(minutes=5))
        acked = flow.acknowledge(opened.id, by="alice")
        metrics.committed(opened, acked)
        text = metrics.text().decode()
        assert 'incident_flow_time_to_acknowledge_seconds_count{team="checkout"} 1.0' in text
        assert 'incident_flow_time_to_acknowledge_seconds_sum{team="checkout"} 300.0' in text
        from incident_flow.ports import StoreCounts

        metrics.observe(
            StoreCounts(incidents=[("notified", "P1", 2)], closed=3),
            {("notified", "P1", "checkout"): 1, ("notified", "P1", "gone"): 1},
        )
        text = metrics.text().decode()
        assert 'incident_flow_incidents{severity="P1",state="notified",team="checkout"} 1.0' in text
        assert 'incident_flow_incidents{severity="P1",state="notified",team="other"} 1.0' in text
        assert 'incident_flow_incidents{severity="any",state="closed",team="any"} 3.0' in text

    def test_without_teams_nothing_changes(self) -> None:
        metrics = ServiceMetrics()
        metrics.observe(StoreCountsOf(("notified", "P1", 2)))
        text = metrics.text().decode()
        assert 'incident_flow_incidents{severity="P1",state="notified"} 2.0' in text
        assert "team=" not in text

    def test_the_service_exposes_its_incidents_by_team(
        self, served: tuple[Served, dict[str, str]]
    ) -> None:
        server, _ = served
        text = httpx.get(f"{server.url}/metrics", timeout=10).text
        assert 'incident_flow_incidents{severity="P1",state="notified",team="payments"} 1.0' in text
        assert 'incident_flow_incidents{severity="P4",state="notified",team="payments"} 1.0' in text
        assert 'incident_flow_incidents{severity="P1",state="resolved",team="checkout"} 1.0' in text
        assert 'team="other"' not in text


def StoreCountsOf(*rows: tuple[str, str, int]) -> Any:  # noqa: N802 - reads as the value
    from incident_flow.ports import StoreCounts

    return StoreCounts(incidents=rows)
