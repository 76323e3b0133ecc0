"""Closed by default (issue 26): every route that changes state proves its caller.

The matrix: every state-changing route x {secret absent, variable empty, wrong, replayed (where
the vendor signs a timestamp), right}. A missing or empty secret stops the service before it
starts (``config check`` exits 5); a wrong or replayed request is a 401 that stores nothing; only
the right one changes anything. Then the fork's pull request, Slack's other workspaces and other
slash commands, and a source configured in code without a secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import attrs
import httpx
import pytest
from pytest_httpserver import HTTPServer

from incident_flow import Alert, IncidentFlow, Policy, SQLiteStore, ingest
from incident_flow.server import ConfigError, SourceConfig, async_flow, create_app
from incident_flow.server._config import config_from_mapping

from . import inbound
from .conftest import PullRequestPublisher
from .test_server import Served
from .vendors import CHANNEL, ROUTING_KEY, TOKEN, FakePagerDuty, FakeSlack

SAMPLES = Path(__file__).with_name("samples")
TEAM = inbound.SLACK_TEAM
WHSEC = "whsec_" + base64.b64encode(b"incident.io signing key").decode()
#: Each route's secret, as the environment holds it.
SECRETS = {
    "alertmanager": "am-token",
    "checkly": "checkly-secret",
    "datadog": "dd-token",
    "grafana": "grafana-secret",
    "incidentio": WHSEC,
    "pagerduty": "pd-alert-secret",
    "pd_actions": inbound.PD_SECRET,
    "opsgenie": inbound.OPSGENIE_TOKEN,
    "github": inbound.GITHUB_SECRET,
    "slack": inbound.SLACK_SECRET,
    "api": "api-token-1",
}
#: The real body each alert source sends (origins in samples/README.md).
BODIES = {
    "alertmanager": "alertmanager_firing.json",
    "checkly": "checkly_failure.json",
    "datadog": "datadog_triggered.json",
    "grafana": "grafana_firing.json",
    "incidentio": "incidentio_firing.json",
    "pagerduty": "pagerduty_event_trigger.json",
}
POLICY = {
    "postmortem_reviewers": 2,
    "postmortem_review_pool": ["bob", "carol"],
    "people": [
        {"name": "alice", "slack": "U024BE7LH", "github": "alice-gh", "pagerduty": "PJ0LVEB"},
        {"name": "bob", "github": "bob-gh"},
        {"name": "carol", "github": "carol-gh"},
    ],
}


def _env(name: str) -> str:
    return f"ENV_{name.upper()}"


def config_data(store: Path, slack: FakeSlack, pagerduty: FakePagerDuty) -> dict[str, Any]:
    """A service with every route on, each secret read from ``ENV_<ROUTE>``."""
    return {
        "store": {"sqlite": str(store)},
        "policy": POLICY,
        "slack": {
            "token": "${SLACK_BOT_TOKEN}",
            "channel": CHANNEL,
            "api_url": slack.api_url,
            "signing_secret": "${ENV_SLACK}",
            "team_id": TEAM,
        },
        "pagerduty": {"routing_key": "${PAGERDUTY_ROUTING_KEY}", "url": pagerduty.url},
        "sources": {name: {"secret": f"${{{_env(name)}}}"} for name in BODIES},
        "actions": {
            "pagerduty": {"secret": "${ENV_PD_ACTIONS}"},
            "opsgenie": {"secret": "${ENV_OPSGENIE}"},
            "github": {"secret": "${ENV_GITHUB}"},
        },
        "server": {"api_token": "${ENV_API}"},
    }


def environ(**changes: str | None) -> dict[str, str]:
    env = {_env(k): v for k, v in SECRETS.items()}
    env.update(SLACK_BOT_TOKEN=TOKEN, PAGERDUTY_ROUTING_KEY=ROUTING_KEY)
    for key, value in changes.items():
        if value is None:
            env.pop(_env(key), None)
        else:
            env[_env(key)] = value
    return env


def _hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(  # noqa: PLR0911 - one scheme each
    scheme: str, body: bytes, secret: str, *, at: float | None = None
) -> dict[str, str]:
    """The headers a genuine sender sends for ``body``, signed ``at`` (default now)."""
    ts = str(int(time.time() if at is None else at))
    if scheme in ("alertmanager", "datadog", "opsgenie"):
        return {"X-Incident-Flow-Token": secret}
    if scheme == "checkly":
        return {"x-checkly-signature": _hex(secret, body), "x-checkly-timestamp": ts}
    if scheme == "grafana":
        return {"X-Grafana-Alert-Signature": _hex(secret, body)}
    if scheme in ("pagerduty", "pd_actions"):
        return {"X-PagerDuty-Signature": "v1=" + _hex(secret, body)}
    if scheme == "github":
        return {"X-Hub-Signature-256": "sha256=" + _hex(secret, body)}
    if scheme == "slack":
        return {
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": "v0=" + _hex(secret, b"v0:" + ts.encode() + b":" + body),
        }
    if scheme == "api":
        return {"Authorization": f"Bearer {secret}"}
    assert scheme == "incidentio", scheme
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"msg_1.{ts}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": "msg_1",
        "webhook-timestamp": ts,
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }


#: Schemes that sign a timestamp: a genuine request six minutes old is a replay.
TIMESTAMPED = {"incidentio", "slack"}


@dataclass
class World:
    """A SQLite store with one incident of each kind the action routes act on."""

    store: Path
    p1: str  # a paged P1, notified
    review: str  # a P1 whose post-mortem is under review on PULL_REQUEST


def prepared(tmp_path: Path) -> World:
    store = tmp_path / "incidents.db"
    flow = IncidentFlow(
        Policy.from_mapping(POLICY),
        store=SQLiteStore(store),
        publisher=PullRequestPublisher(),
    )
    alert = Alert(source="datadog", name="Checkout", title="Checkout 5xx", severity="P1")
    p1 = flow.trigger(alert).id
    review = flow.trigger(attrs.evolve(alert, name="Other", dedup_key="other")).id
    flow.resolve(review, by="alice")
    flow.start_postmortem(review, author="alice", impact="x", root_cause="y", learnings=["z"])
    flow.submit_postmortem(review, by="alice")
    flow.store.close()  # type: ignore[attr-defined]
    return World(store, p1, review)


def state(world: World) -> tuple[int, tuple[int, ...], int]:
    """What could change: the number of incidents, each one's version, the silences."""
    flow = IncidentFlow(Policy.from_mapping(POLICY), store=SQLiteStore(world.store))
    try:
        ids = sorted(i.id for i in flow.incidents())
        return len(ids), tuple(flow.get(i).version for i in ids), len(flow.silences(active=False))
    finally:
        flow.store.close()  # type: ignore[attr-defined]


@dataclass
class Route:
    """One state-changing route: how its request is made and which secret proves it."""

    name: str
    scheme: str
    method: str
    path: str
    body: Callable[[World], bytes]
    content_type: str = "application/json"


def _alert_body(source: str) -> Callable[[World], bytes]:
    return lambda world: (SAMPLES / BODIES[source]).read_bytes()


def _pd_action(world: World) -> bytes:
    raw, _ = inbound.pagerduty("acknowledged", f"[P1] Checkout 5xx [{world.p1}]")
    return raw


def _opsgenie_action(world: World) -> bytes:
    return inbound.opsgenie("AddNote", world.p1, user="bob@example.com", updated_ns=1, note="hi")


def _github_action(world: World) -> bytes:
    raw, _ = inbound.github(
        "pull_request", "pull_request_closed_unmerged", world.review, login="bob-gh", delivery="1"
    )
    return raw


def _slack_press(world: World) -> bytes:
    form, _ = inbound.slack_press("acknowledge", world.p1, user="U024BE7LH", trigger="t-1")
    return form


def _slack_command(world: World) -> bytes:
    fields = {
        **inbound.sample("slack_slash_command_fields.json"),
        "team_id": TEAM,
        "user_id": "U024BE7LH",
        "command": "/incident",
        "text": f"note {world.p1} looking",
    }
    return urlencode(fields).encode()


def _silence(world: World) -> bytes:
    silence = {"matchers": {"service": "x"}, "by": "alice", "why": "maint", "duration": "1h"}
    return json.dumps(silence).encode()


FORM = "application/x-www-form-urlencoded"
ROUTES = [
    *(Route(s, s, "POST", f"/webhooks/{s}", _alert_body(s)) for s in BODIES),
    Route("actions.pagerduty", "pd_actions", "POST", "/actions/pagerduty", _pd_action),
    Route("actions.opsgenie", "opsgenie", "POST", "/actions/opsgenie", _opsgenie_action),
    Route("actions.github", "github", "POST", "/actions/github", _github_action),
    Route("slack.interactivity", "slack", "POST", "/slack/interactivity", _slack_press, FORM),
    Route("slack.commands", "slack", "POST", "/slack/commands", _slack_command, FORM),
    Route("api.silences", "api", "POST", "/api/silences", _silence),
]


@pytest.fixture
def fakes(httpserver: HTTPServer) -> tuple[FakeSlack, FakePagerDuty]:
    return FakeSlack(httpserver), FakePagerDuty(httpserver)


def send(
    world: World,
    fakes: tuple[FakeSlack, FakePagerDuty],
    route: Route,
    headers: dict[str, str],
    *,
    env: dict[str, str] | None = None,
) -> httpx.Response:
    """One request to a freshly started service on ``world``'s store; the service stopped."""
    config = config_from_mapping(
        config_data(world.store, *fakes), environ=env or environ(), base=world.store.parent
    )
    extra = {"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": "d-1"}
    with Served(create_app(async_flow(config), config, worker=False)) as server:
        return httpx.request(
            route.method,
            f"{server.url}{route.path}",
            content=route.body(world),
            headers={"Content-Type": route.content_type, **extra, **headers},
            timeout=10,
        )
    # Leaving Served stops the app: the Slack actions applied after the answer are done.


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
class TestTheMatrix:
    """Absent and empty secrets stop the start; wrong and replayed are 401; right acts."""

    def test_an_absent_secret_stops_the_service_from_starting(
        self, route: Route, tmp_path: Path, fakes: tuple[FakeSlack, FakePagerDuty]
    ) -> None:
        data = config_data(tmp_path / "x.db", *fakes)
        if route.scheme == "slack":
            del data["slack"]["signing_secret"]  # then team_id alone is a problem too
            expected = "slack.team_id: only with signing_secret"
        elif route.scheme == "api":
            del data["server"]["api_token"]
            config = config_from_mapping(data, environ=environ(), base=tmp_path)
            assert config.api_token is None  # no token: the API is off (404), never open
            return
        else:
            table = "actions" if route.path.startswith("/actions") else "sources"
            source = route.path.rsplit("/", 1)[1]
            del data[table][source]["secret"]
            expected = f"{table}.{source}.secret: missing"
        with pytest.raises(ConfigError, match=expected):
            config_from_mapping(data, environ=environ(), base=tmp_path)

    @pytest.mark.parametrize("value", ["", "   ", None], ids=["empty", "blank", "unset"])
    def test_an_empty_or_unset_variable_stops_the_service_from_starting(
        self,
        route: Route,
        value: str | None,
        tmp_path: Path,
        fakes: tuple[FakeSlack, FakePagerDuty],
    ) -> None:
        data = config_data(tmp_path / "x.db", *fakes)
        said = "is not set" if value is None else "is empty: a secret is needed"
        with pytest.raises(ConfigError, match=f"{_env(route.scheme)} {said}"):
            config_from_mapping(data, environ=environ(**{route.scheme: value}), base=tmp_path)

    def test_a_wrong_secret_is_401_and_changes_nothing(
        self, route: Route, tmp_path: Path, fakes: tuple[FakeSlack, FakePagerDuty]
    ) -> None:
        world = prepared(tmp_path)
        before = state(world)
        wrong = "wrong"
        if route.scheme == "incidentio":
            wrong = "whsec_" + base64.b64encode(b"wrong").decode()
        answer = send(world, fakes, route, sign(route.scheme, route.body(world), wrong))
        assert answer.status_code == 401, answer.text
        assert state(world) == before

    def test_no_proof_at_all_is_401_and_changes_nothing(
        self, route: Route, tmp_path: Path, fakes: tuple[FakeSlack, FakePagerDuty]
    ) -> None:
        world = prepared(tmp_path)
        before = state(world)
        answer = send(world, fakes, route, {})
        assert answer.status_code == 401, answer.text
        assert "opsgenie" not in answer.text or route.scheme == "opsgenie"
        assert state(world) == before

    def test_the_right_proof_changes_the_store(
        self, route: Route, tmp_path: Path, fakes: tuple[FakeSlack, FakePagerDuty]
    ) -> None:
        world = prepared(tmp_path)
        before = state(world)
        body = route.body(world)
        answer = send(world, fakes, route, sign(route.scheme, body, SECRETS[route.scheme]))
        assert answer.status_code < 300, answer.text
        assert state(world) != before


@pytest.mark.parametrize(
    "route", [r for r in ROUTES if r.scheme in TIMESTAMPED], ids=lambda r: r.name
)
def test_a_replay_is_401_and_changes_nothing(
    route: Route, tmp_path: Path, fakes: tuple[FakeSlack, FakePagerDuty]
) -> None:
    """A genuine request signed six minutes ago (replayed) is refused, for signed timestamps.

    The vendors that sign no timestamp (PagerDuty, GitHub, Checkly, Grafana by default, the
    shared tokens) cannot be told from a retry: their repeats are deduplicated instead.
    """
    world = prepared(tmp_path)
    before = state(world)
    old = time.time() - 6 * 60
    body = route.body(world)
    answer = send(world, fakes, route, sign(route.scheme, body, SECRETS[route.scheme], at=old))
    assert answer.status_code == 401, answer.text
    assert "s away" in answer.text or "timestamp" in answer.text
    assert state(world) == before


# ------------------------------------------------------------------------------- Slack


def _command(world: World, command: str, text: str, **fields: str) -> bytes:
    body = {
        **inbound.sample("slack_slash_command_fields.json"),
        "team_id": TEAM,
        "user_id": "U024BE7LH",
        "command": command,
        "text": text,
        **fields,
    }
    return urlencode(body).encode()


def _slack(
    world: World,
    fakes: tuple[FakeSlack, FakePagerDuty],
    path: str,
    form: bytes,
    *,
    app: str | None = None,
) -> httpx.Response:
    data = config_data(world.store, *fakes)
    if app is not None:
        data["slack"]["api_app_id"] = app
    config = config_from_mapping(data, environ=environ(), base=world.store.parent)
    with Served(create_app(async_flow(config), config, worker=False)) as server:
        return httpx.post(
            f"{server.url}{path}",
            content=form,
            headers={"Content-Type": FORM, **sign("slack", form, SECRETS["slack"])},
            timeout=10,
        )


class TestSlackBindsToItsWorkspace:
    """Slack signs every workspace's requests with one secret: the team id proves ours."""

    def test_another_workspace_is_401_and_changes_nothing(
        self, tmp_path: Path, fakes: tuple[FakeSlack, FakePagerDuty]
    ) -> None:
        world = prepared(tmp_path)
        before = state(world)
        command = _command(world, "/incident", f"resolve {world.p1} forged", team_id="T0EVIL")
        assert _slack(world, fakes, "/slack/commands", command).status_code == 401
        form, _ = inbound.slack_press("acknowledge", world.p1, user="U024BE7LH", trigger="t")
        payload = json.loads(urllib_unquote(form))
        payload["team"]["id"] = payload["user"]["team_id"] = "T0EVIL"
        evil = urlencode({"payload": json.dumps(payload)}).encode()
        assert _slack(world, fakes, "/slack/interactivity", evil).status_code == 401
        assert state(world) == before

    def test_another_app_is_401_when_the_app_is_configured(
        self, tmp_path: Path, fakes: tuple[FakeSlack, FakePagerDuty]
    ) -> None:
        world = prepared(tmp_path)
        before = state(world)
        form = _command(world, "/incident", f"note {world.p1} hi", api_app_id="A0OTHER")
        assert _slack(world, fakes, "/slack/commands", form, app="A0OURS").status_code == 401
        assert state(world) == before
        ours = _command(world, "/incident", f"note {world.p1} hi", api_app_id="A0OURS")
        assert _slack(world, fakes, "/slack/commands", ours, app="A0OURS").status_code == 200
        assert state(world) != before

    def test_another_slash_command_of_the_app_gives_no_action(
        self, tmp_path: Path, fakes: tuple[FakeSlack, FakePagerDuty]
    ) -> None:
        world = prepared(tmp_path)
        before = state(world)
        for text in ("Hi", f"ack {world.p1}"):
            answer = _slack(world, fakes, "/slack/commands", _command(world, "/hello-world", text))
            assert answer.status_code == 200 and not answer.content
        assert state(world) == before

    def test_a_mistyped_incident_command_gets_its_usage_privately(
        self, tmp_path: Path, fakes: tuple[FakeSlack, FakePagerDuty]
    ) -> None:
        world = prepared(tmp_path)
        before = state(world)
        answer = _slack(world, fakes, "/slack/commands", _command(world, "/incident", "dance"))
        assert answer.status_code == 200
        assert answer.json()["response_type"] == "ephemeral"
        assert answer.json()["text"].startswith("usage: /incident ack ID")
        assert state(world) == before

    def test_oncall_is_a_question_for_the_library_too(self) -> None:
        body = urlencode({"command": "/incident", "text": "oncall primary", "team_id": TEAM})
        assert ingest.actions("slack", body) == []
        assert ingest.slack_oncall_question(body) == "primary"
        assert ingest.slack_oncall_question(body, command="/pager") is None
        assert ingest.slack_workspace(body) == (TEAM, None)
        other = urlencode({"command": "/hello-world", "text": "ack inc-1", "user_id": "U1"})
        assert ingest.actions("slack", other) == []
        mine = ingest.actions("slack", other, command="/hello-world")
        assert [(a.kind, a.incident) for a in mine] == [("acknowledge", "inc-1")]


def urllib_unquote(form: bytes) -> str:
    from urllib.parse import parse_qs

    return parse_qs(form.decode())["payload"][0]


# ---------------------------------------------------------------------- insecure, on purpose


class TestInsecureOnPurpose:
    """Without proof only when the file says ``insecure = true``: said and reported."""

    def test_insecure_is_said_by_check_and_readyz(
        self, tmp_path: Path, fakes: tuple[FakeSlack, FakePagerDuty]
    ) -> None:
        world = prepared(tmp_path)
        data = config_data(world.store, *fakes)
        data["sources"]["alertmanager"] = {"insecure": True}
        config = config_from_mapping(data, environ=environ(), base=tmp_path)
        assert config.insecure == ("sources.alertmanager",)
        assert "WARNING: sources.alertmanager accepts requests without proof" in config.describe()
        with Served(create_app(async_flow(config), config, worker=False)) as server:
            answer = httpx.post(
                f"{server.url}/webhooks/alertmanager",
                content=(SAMPLES / BODIES["alertmanager"]).read_bytes(),
                headers={"Content-Type": "application/json"},
                timeout=10,
            )
            ready = httpx.get(f"{server.url}/readyz", timeout=10).json()
        assert answer.status_code == 202 and ready["insecure"] == ["sources.alertmanager"]

    def test_insecure_with_a_secret_or_not_a_flag_is_a_problem(
        self, tmp_path: Path, fakes: tuple[FakeSlack, FakePagerDuty]
    ) -> None:
        data = config_data(tmp_path / "x.db", *fakes)
        data["sources"]["grafana"]["insecure"] = True
        data["sources"]["alertmanager"] = {"insecure": "yes"}
        with pytest.raises(ConfigError) as info:
            config_from_mapping(data, environ=environ(), base=tmp_path)
        assert "sources.grafana.insecure: a source with a secret is not insecure" in str(info.value)
        assert "sources.alertmanager.insecure: must be true or false" in str(info.value)

    def test_a_source_configured_in_code_without_a_secret_refuses(
        self, tmp_path: Path, fakes: tuple[FakeSlack, FakePagerDuty]
    ) -> None:
        world = prepared(tmp_path)
        before = state(world)
        data = config_data(world.store, *fakes)
        config = config_from_mapping(data, environ=environ(), base=tmp_path)
        config = attrs.evolve(config, sources={"alertmanager": SourceConfig(name="alertmanager")})
        with Served(create_app(async_flow(config), config, worker=False)) as server:
            answer = httpx.post(
                f"{server.url}/webhooks/alertmanager",
                content=(SAMPLES / BODIES["alertmanager"]).read_bytes(),
                headers={"Content-Type": "application/json"},
                timeout=10,
            )
        assert answer.status_code == 401 and "no secret is configured" in answer.text
        assert state(world) == before

    def test_config_check_exits_5_and_names_the_route(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from click.testing import CliRunner

        from incident_flow.cli import main

        path = tmp_path / "c.toml"
        path.write_text(
            '[sources.alertmanager]\nsecret = "${AM}"\n'
            '[actions.pagerduty]\nsecret = "${PD}"\n[actions.github]\n'
        )
        monkeypatch.setenv("AM", "")
        monkeypatch.delenv("PD", raising=False)
        result = CliRunner().invoke(main, ["config", "check", str(path)])
        assert result.exit_code == 5, result.output
        for said in (
            "sources.alertmanager.secret: the environment variable AM is empty",
            "actions.pagerduty.secret: the environment variable PD is not set",
            "actions.github.secret: missing",
        ):
            assert said in result.output


@pytest.mark.parametrize(
    ("table", "key", "extra"),
    [
        ("slack", "token", {"channel": "C1"}),
        ("slack", "webhook_url", {}),
        ("pagerduty", "routing_key", {}),
        ("opsgenie", "api_key", {}),
        ("twilio", "auth_token", {"account_sid": "AC1", "from_number": "+15550100"}),
        ("publisher", "token", {"kind": "github", "repository": "acme/postmortems"}),
        ("tracker", "token", {"kind": "github"}),
        ("tracker", "api_token", {"kind": "jira", "site": "https://acme.example", "email": "e"}),
        ("console", "secret", {"proxy_header": "X-Forwarded-User", "proxies": ["127.0.0.1"]}),
    ],
)
@pytest.mark.parametrize("value", ["", "  ", None], ids=["empty", "blank", "unset"])
def test_a_channel_or_publisher_secret_that_is_empty_is_a_problem(
    table: str, key: str, extra: dict[str, Any], value: str | None, tmp_path: Path
) -> None:
    """A channel that cannot send is refused like a route without proof (the variable named).

    So are a tracker's credentials and the console's session key. Only what the file
    configures is read: the sample names ``GITHUB_TOKEN`` and ``CONSOLE_SECRET`` in comments
    only (its folder publisher and its commented-out console read neither).
    """
    data: dict[str, Any] = {"store": {"sqlite": str(tmp_path / "x.db")}}
    data[table] = {key: "${THE_SECRET}", **extra}
    env = {} if value is None else {"THE_SECRET": value}
    said = "is not set" if value is None else "is empty: a secret is needed"
    with pytest.raises(
        ConfigError, match=rf"{table}\.{key}: the environment variable THE_SECRET {said}"
    ):
        config_from_mapping(data, environ=env, base=tmp_path)


def test_slack_requests_need_the_workspace_named(tmp_path: Path) -> None:
    """A signing secret without ``team_id`` would take any workspace's requests: refused."""
    data = {"slack": {"webhook_url": "${HOOK}", "signing_secret": "${SIGN}"}}
    with pytest.raises(ConfigError, match=r"slack\.team_id: Slack's requests are accepted"):
        config_from_mapping(data, environ={"HOOK": "https://h", "SIGN": "s"}, base=tmp_path)
    data["slack"]["command"] = "incident"
    with pytest.raises(ConfigError, match=r"slack\.command: must be a slash command"):
        config_from_mapping(data, environ={"HOOK": "https://h", "SIGN": "s"}, base=tmp_path)


def test_a_datadog_alert_without_ids_is_opened_and_the_answer_says_how_to_fix_it(
    tmp_path: Path, fakes: tuple[FakeSlack, FakePagerDuty]
) -> None:
    """Issue 28: a readable P1 is never refused; the sender is told to add the ids."""
    world = prepared(tmp_path)
    body = json.dumps(
        {
            "id": "8306077573749414142",
            "title": "[P1] [Triggered] High tracking",
            "transition": "Triggered",
            "alert_priority": "P1",
        }
    ).encode()
    config = config_from_mapping(
        config_data(world.store, *fakes), environ=environ(), base=world.store.parent
    )
    with Served(create_app(async_flow(config), config, worker=False)) as server:
        answer = httpx.post(
            f"{server.url}/webhooks/datadog",
            content=body,
            headers={"Content-Type": "application/json", "X-Incident-Flow-Token": "dd-token"},
            timeout=10,
        )
    assert answer.status_code == 202, answer.text
    assert len(answer.json()["incidents"]) == 1
    (fallback,) = answer.json()["fallback_keys"]
    assert "alert_id" in fallback["fix"]
