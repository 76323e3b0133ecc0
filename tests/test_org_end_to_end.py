"""Issue 34, done when: an organisation imported from each vendor routes through ``serve``.

For PagerDuty, Opsgenie and Grafana OnCall, the three-team sample export (origins in
samples/README.md) is imported with the policy's people (matched by email), the policy file
the importer writes is served by ``incident-flow serve``'s app (``create_app`` on a real
uvicorn, as ``tests/test_server.py`` serves it) with a Slack bot token and Twilio as the
pager, both local fakes (``tests/vendors.py``); then an Alertmanager webhook of each service
pages that team's on-call person (the text reaches their phone, nobody else's) and its chat
message lands in that team's Slack channel (no other). A Slack incoming webhook cannot reach
a team's channel: such a configuration is refused at start-up, naming the teams.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from pytest_httpserver import HTTPServer

from incident_flow import Policy
from incident_flow.importers import import_vendor
from incident_flow.server import ConfigError, async_flow, create_app, load_config
from incident_flow.testing import ManualClock

from .test_server import Served, post, wait_for
from .vendors import CHANNEL, TOKEN, FakeSlack, FakeTwilio

SAMPLES = Path(__file__).parent / "samples" / "imports"
AM_TOKEN = "am-org-token"  # noqa: S105 - a test token
ENV = {
    "SLACK_BOT_TOKEN": TOKEN,
    "TWILIO_AUTH_TOKEN": FakeTwilio.AUTH_TOKEN,
    "ALERTMANAGER_TOKEN": AM_TOKEN,
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T1/B2/secret",
}
#: The first week of the samples' rotations: alice, carol and erin are on call.
MONDAY = datetime(2026, 1, 5, 10, tzinfo=UTC)

#: The organisation's people as the policy already has them: email, Slack id, phone.
PEOPLE = {
    "alice": ("alice@example.com", "U0ALICE01", "+4915110000001"),
    "bob": ("bob@example.com", "U0BOB0001", "+4915110000002"),
    "carol": ("carol@example.com", "U0CAROL01", "+4915110000003"),
    "dan": ("dan@example.com", "U0DAN0001", "+4915110000004"),
    "erin": ("erin@example.com", "U0ERIN001", "+4915110000005"),
    "frank": ("frank@example.com", "U0FRANK01", "+4915110000006"),
    "ic": ("ic@example.com", "U0IC00001", "+4915110000007"),
}
PEOPLE_TOML = "\n".join(
    f'[[people]]\nname = "{name}"\nemail = "{email}"\nslack = "{slack}"\nphone = "{phone}"\n'
    for name, (email, slack, phone) in PEOPLE.items()
)
#: Each team's Slack channel (Grafana OnCall's routes name them; the others are given).
CHANNELS = {
    "checkout": "C0CHECKOUT",
    "search-discovery": "C0SEARCH",
    "platform-infra": "C0PLATFORM",
}

#: Per vendor: its export, and per service the labels of its alert, the team, the person.
ORGANISATIONS: dict[str, tuple[str, list[tuple[dict[str, str], str, str]]]] = {
    "pagerduty": (
        "pagerduty_org_three_services.json",
        [
            ({"service": "checkout-api"}, "checkout", "alice"),
            ({"service": "search-api"}, "search-discovery", "carol"),
            ({"service": "platform-db"}, "platform-infra", "erin"),
        ],
    ),
    "opsgenie": (
        "opsgenie_org_three_teams.json",
        [
            ({"team": "Checkout", "service": "checkout-api"}, "checkout", "alice"),
            ({"team": "Search & Discovery", "service": "search-api"}, "search-discovery", "carol"),
            ({"team": "Platform (Infra)", "service": "platform-db"}, "platform-infra", "erin"),
        ],
    ),
    "grafana-oncall": (
        "grafana_oncall_org_three_teams.json",
        [
            ({"service": "checkout-api"}, "checkout", "alice"),
            ({"service": "search-api"}, "search-discovery", "carol"),
            ({"service": "platform-db"}, "platform-infra", "erin"),
        ],
    ),
}


def imported_policy(vendor: str) -> str:
    """The policy file: what ``import VENDOR`` wrote, each team's channel, the people."""
    export, _ = ORGANISATIONS[vendor]
    known = Policy.from_text(PEOPLE_TOML).people
    documents = json.loads((SAMPLES / export).read_text())
    imported = import_vendor(vendor, documents, people=known)
    assert imported.people == ()  # everyone matched by email: no new names
    text = imported.policy_toml()
    if vendor == "grafana-oncall":  # OnCall's routes say each team's channel
        assert [t.chat_channel for t in imported.teams] == list(CHANNELS.values())
    else:  # give each team its channel, as the import report asks
        for team, channel in CHANNELS.items():
            text = text.replace(
                f'[[teams]]\nname = "{team}"\n',
                f'[[teams]]\nname = "{team}"\nchat_channel = "{channel}"\n',
            )
    return f"{text}\n{PEOPLE_TOML}"


def service_config(tmp_path: Path, slack: str, twilio: FakeTwilio) -> Path:
    path = tmp_path / "incident-flow.toml"
    path.write_text(
        f"""
policy_file = "policy.toml"

[store]
sqlite = "incidents.db"

[slack]
{slack}

[twilio]
account_sid = "{twilio.SID}"
auth_token = "${{TWILIO_AUTH_TOKEN}}"
from_number = "{twilio.FROM}"
api_url = "{twilio.api_url}"

[sources.alertmanager]
secret = "${{ALERTMANAGER_TOKEN}}"

[worker]
interval = "0.2s"
"""
    )
    return path


@pytest.fixture
def fakes(httpserver: HTTPServer) -> tuple[FakeSlack, FakeTwilio]:
    slack = FakeSlack(httpserver)
    slack.channels |= set(CHANNELS.values())
    return slack, FakeTwilio(httpserver)


@pytest.fixture(params=list(ORGANISATIONS))
def served(
    request: pytest.FixtureRequest, tmp_path: Path, fakes: tuple[FakeSlack, FakeTwilio]
) -> Iterator[tuple[str, Served]]:
    """``serve`` on the policy imported from one vendor, its clock on the samples' first week."""
    vendor = request.param
    slack, twilio = fakes
    (tmp_path / "policy.toml").write_text(imported_policy(vendor))
    bot = f'token = "${{SLACK_BOT_TOKEN}}"\nchannel = "{CHANNEL}"\napi_url = "{slack.api_url}"'
    config = load_config(service_config(tmp_path, bot, twilio), environ=ENV)
    flow = async_flow(config, clock=ManualClock(MONDAY))
    with Served(create_app(flow, config)) as server:
        yield vendor, server


def alertmanager(labels: dict[str, str], number: int) -> bytes:
    """Alertmanager's webhook body (the shape of samples/alertmanager_firing.json), one alert."""
    title = f"{labels['service']} 5xx ratio above 5%"
    alert = {
        "status": "firing",
        "labels": {"alertname": "HighErrorRate", "severity": "critical", **labels},
        "annotations": {"summary": title},
        "startsAt": "2026-01-05T09:58:00.000Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example.internal:9090/graph",
        "fingerprint": f"{number:016x}",
    }
    return json.dumps(
        {
            "receiver": "incident-flow",
            "status": "firing",
            "alerts": [alert],
            "groupLabels": {"alertname": "HighErrorRate"},
            "commonLabels": alert["labels"],
            "commonAnnotations": alert["annotations"],
            "externalURL": "http://alertmanager.example.internal:9093",
            "version": "4",
            "groupKey": f'{{}}:{{alertname="HighErrorRate", n="{number}"}}',
            "truncatedAlerts": 0,
        }
    ).encode()


def test_each_service_pages_its_teams_person_in_its_teams_channel(
    served: tuple[str, Served], fakes: tuple[FakeSlack, FakeTwilio]
) -> None:
    vendor, server = served
    slack, twilio = fakes
    _, cases = ORGANISATIONS[vendor]
    phones = {phone: name for name, (_, _, phone) in PEOPLE.items()}
    for number, (labels, team, person) in enumerate(cases):
        headers = {"Content-Type": "application/json", "X-Incident-Flow-Token": AM_TOKEN}
        answer = post(server, "/webhooks/alertmanager", alertmanager(labels, number), **headers)
        assert answer.status_code == 202, answer.text
        (incident,) = answer.json()["incidents"]
        wait_for(lambda n=number: len(twilio.sent) > n, f"{vendor}: the page of {team}")
        wait_for(lambda n=number: len(slack.top_level()) > n, f"{vendor}: the message of {team}")
        page, message = twilio.sent[number], slack.top_level()[number]
        assert phones[page["to"]] == person, (vendor, team)
        assert incident in page["body"]
        assert message["channel"] == CHANNELS[team], (vendor, team)
        assert labels["service"] in json.dumps(message)
    # Nobody was paged twice, nothing was said anywhere else.
    assert sorted(phones[m["to"]] for m in twilio.sent) == sorted(p for _, _, p in cases)
    assert {m["channel"] for m in slack.messages} <= set(CHANNELS.values())


def test_the_policy_check_shows_each_services_team(tmp_path: Path) -> None:
    """``policy check --alert`` on the imported file says the team and who it pages."""
    from incident_flow.cli import main

    for vendor, (_, cases) in ORGANISATIONS.items():
        path = tmp_path / f"{vendor}.toml"
        path.write_text(imported_policy(vendor))
        for labels, team, person in cases:
            args = ["policy", "check", str(path), "--at", "2026-01-05T10:00"]
            args += [arg for k, v in labels.items() for arg in ("--alert", f"{k}={v}")]
            args += ["--alert", "source=alertmanager"]
            result = CliRunner().invoke(main, args, catch_exceptions=False)
            assert result.exit_code == 0, result.output
            assert f"reaches team {team} by route" in result.output, (vendor, result.output)
            assert CHANNELS[team] in result.output
            assert re.search(rf"level 1: {person}\b", result.output), result.output


class TestSlackWebhookMode:
    """An incoming webhook posts to its own channel: team channels are refused at start-up."""

    def test_team_channels_with_a_webhook_are_refused_naming_the_teams(
        self, tmp_path: Path, fakes: tuple[FakeSlack, FakeTwilio]
    ) -> None:
        _, twilio = fakes
        (tmp_path / "policy.toml").write_text(imported_policy("grafana-oncall"))
        path = service_config(tmp_path, 'webhook_url = "${SLACK_WEBHOOK_URL}"', twilio)
        with pytest.raises(ConfigError) as refused:
            load_config(path, environ=ENV)
        (problem,) = [p for p in refused.value.problems if p.startswith("slack.webhook_url")]
        assert "posts to its own channel only" in problem
        for team, channel in CHANNELS.items():
            assert f"{team} ('{channel}')" in problem
        assert "give a bot token" in problem
        assert ENV["SLACK_WEBHOOK_URL"] not in str(refused.value)  # the secret never shows
        from incident_flow.cli import main

        shown = CliRunner().invoke(main, ["config", "check", str(path)], env=ENV)
        assert shown.exit_code != 0 and "posts to its own channel only" in shown.output
        assert "secret" not in re.sub(r"signing_secret|secret =", "", shown.output)

    def test_a_webhook_without_team_channels_still_starts(
        self, tmp_path: Path, fakes: tuple[FakeSlack, FakeTwilio]
    ) -> None:
        _, twilio = fakes
        text = imported_policy("pagerduty")
        text = re.sub(r'chat_channel = "C0[A-Z]+"\n', "", text)
        (tmp_path / "policy.toml").write_text(text)
        path = service_config(tmp_path, 'webhook_url = "${SLACK_WEBHOOK_URL}"', twilio)
        config = load_config(path, environ=ENV)
        assert [t.chat_channel for t in config.policy.teams] == [None, None, None]


def test_the_imported_files_keep_their_shape() -> None:
    """Every vendor's file names the three teams, routes to each, and a default team."""
    for vendor in ORGANISATIONS:
        policy = Policy.from_text(imported_policy(vendor))
        assert set(policy.team_names) == set(CHANNELS)
        assert {r.team for r in policy.routes} == set(CHANNELS)
        assert policy.default_team == "checkout"
        assert {p.name for p in policy.people} == set(PEOPLE)
