"""The service: its configuration file, and the app served by a real uvicorn on 127.0.0.1.

The vendors are the local fake servers of ``vendors.py``; the webhooks are real bodies.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, Self

import httpx
import pytest
import uvicorn
from pytest_httpserver import HTTPServer

from incident_flow import Policy
from incident_flow.server import (
    ConfigError,
    Secret,
    ServiceConfig,
    async_flow,
    create_app,
    load_config,
    sync_flow,
)

from .inbound import PD_SECRET, SLACK_SECRET, slack_press
from .vendors import CHANNEL, ROUTING_KEY, TOKEN, FakePagerDuty, FakeSlack

SAMPLES = Path(__file__).with_name("samples")
EXAMPLE = Path(__file__).parents[1] / "examples" / "incident-flow.toml"
AM_TOKEN = "am-shared-token"  # noqa: S105 - a test token
ENV = {
    "SLACK_BOT_TOKEN": TOKEN,
    "SLACK_SIGNING_SECRET": SLACK_SECRET,
    "PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
    "ALERTMANAGER_TOKEN": AM_TOKEN,
    "GRAFANA_WEBHOOK_SECRET": "grafana-secret",
    "PAGERDUTY_WEBHOOK_SECRET": PD_SECRET,
    "INCIDENT_FLOW_API_TOKEN": "api-token-1",
}


class TestConfig:
    """One file, secrets from the environment, every problem at once."""

    def test_the_sample_file_reads(self) -> None:
        config = load_config(EXAMPLE, environ=ENV)
        assert config.slack is not None and config.slack["channel"] == "C08K3M5N7PQ"
        assert isinstance(config.slack["token"], Secret) and config.slack["token"] == TOKEN
        assert config.policy.postmortem_review_pool == ("alice", "bob", "carol")
        assert config.sources["alertmanager"].secret == AM_TOKEN
        assert config.store == str(EXAMPLE.parent / "incident-flow.db")

    def test_secrets_never_show(self) -> None:
        config = load_config(EXAMPLE, environ=ENV)
        shown = "\n".join(config.describe()) + repr(config) + f"{config.slack}"
        for secret in ENV.values():
            assert secret not in shown
        assert "token='***'" in shown

    def test_every_problem_at_once(self, tmp_path: Path) -> None:
        path = tmp_path / "bad.toml"
        path.write_text(
            "surprise = 1\n"
            "[store]\npostgres = 'mysql://x'\n"
            "[slack]\ntoken = 'xoxb-literal'\ncolour = 'red'\n"
            "[publisher]\nkind = 'github'\n"
            "[sources.nagios]\n[sources.checkly]\n"
            "[policy]\ncritical = ['P9']\n"
            "[server]\nport = 70000\n"
            "[worker]\ninterval = 'soon'\npace = 1\n"
        )
        with pytest.raises(ConfigError) as info:
            load_config(path, environ={})
        text = str(info.value)
        for expected in (
            "store.postgres: must be a postgresql:// DSN",
            "slack.token: a secret must come from the environment",
            "slack.colour: unknown key",
            "slack.channel: a bot token needs the channel",
            "publisher.repository: a github publisher needs it",
            "publisher.token: a github publisher needs it",
            "sources.nagios: unknown source",
            "sources.checkly.secret: missing: give the signing secret",
            "policy: critical[0]: must be one of P1..P5",
            "server.port: must be a whole number from 1 to 65535",
            "worker.interval: must be a duration",
            "worker.pace: unknown key",
            "surprise: unknown key",
        ):
            assert expected in text, expected
        assert "xoxb-literal" not in text

    def test_a_dsn_password_never_shows(self, tmp_path: Path) -> None:
        path = tmp_path / "c.toml"
        path.write_text('[store]\npostgres = "${DATABASE_URL}"\nschema = "svc"\n')
        dsn = "postgresql://svc:hunter2@db.internal:5432/incidents"
        config = load_config(path, environ={"DATABASE_URL": dsn})
        assert config.store == dsn and config.schema == "svc"
        assert "hunter2" not in repr(config) and "hunter2" not in "\n".join(config.describe())

    def test_a_missing_variable_is_named(self, tmp_path: Path) -> None:
        path = tmp_path / "c.toml"
        path.write_text("[pagerduty]\nrouting_key = '${NOPE}'\n")
        with pytest.raises(ConfigError, match="environment variable NOPE is not set"):
            load_config(path, environ={})

    def test_the_cli_flow_uses_the_configured_channels(self, tmp_path: Path) -> None:
        config = load_config(EXAMPLE, environ=ENV)
        flow = sync_flow(attrs_evolve(config, store=str(tmp_path / "x.db")))
        assert "SlackNotifier" in repr(flow.notifier) and "PagerDutyPager" in repr(flow.pager)
        assert TOKEN not in repr(flow)


def attrs_evolve(config: ServiceConfig, **changes: Any) -> ServiceConfig:
    import attrs

    return attrs.evolve(config, **changes)


# ----------------------------------------------------------------- the app over real HTTP


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """A uvicorn server in a thread, serving ``create_app`` on a free loopback port."""

    #: Seconds it may take to start.
    start_within = 10.0

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=self.port, log_level="error", proxy_headers=False
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        deadline = time.monotonic() + self.start_within
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def vendors(httpserver: HTTPServer) -> tuple[FakeSlack, FakePagerDuty]:
    return FakeSlack(httpserver), FakePagerDuty(httpserver)


@pytest.fixture
def served(tmp_path: Path, vendors: tuple[FakeSlack, FakePagerDuty]) -> Iterator[Served]:
    slack, pagerduty = vendors
    path = tmp_path / "incident-flow.toml"
    text = EXAMPLE.read_text()
    text = text.replace(
        'channel = "C08K3M5N7PQ"', f'channel = "{CHANNEL}"\napi_url = "{slack.api_url}"'
    )
    text = text.replace(
        'routing_key = "${PAGERDUTY_ROUTING_KEY}"',
        f'routing_key = "${{PAGERDUTY_ROUTING_KEY}}"\nurl = "{pagerduty.url}"',
    )
    text = text.replace('interval = "5s"', 'interval = "0.2s"')
    text = text.replace(
        "max_body = 1048576",
        'max_body = 1048576\nbody_timeout = "0.5s"\napi_token = "${INCIDENT_FLOW_API_TOKEN}"',
    )
    path.write_text(text)
    config = load_config(path, environ=ENV)
    with Served(create_app(async_flow(config), config)) as server:
        yield server


def alertmanager_body() -> bytes:
    return (SAMPLES / "alertmanager_firing.json").read_bytes()


def post(served: Served, path: str, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(f"{served.url}{path}", content=body, headers=headers, timeout=10)


def fire(
    served: Served, token: str = AM_TOKEN, path: str = "/webhooks/alertmanager"
) -> httpx.Response:
    """The real Alertmanager sample, sent with the shared token."""
    headers = {"Content-Type": "application/json", "X-Incident-Flow-Token": token}
    return post(served, path, alertmanager_body(), **headers)


def wait_for(check: Any, what: str) -> None:
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_an_alert_to_a_slack_button_to_the_pager_and_the_metrics(
    served: Served, vendors: tuple[FakeSlack, FakePagerDuty]
) -> None:
    slack, pagerduty = vendors
    answer = fire(served)
    assert answer.status_code == 202, answer.text
    incident_ids = answer.json()["incidents"]
    assert incident_ids
    first = incident_ids[0]
    # The answer waits for the commit only: the chat message follows in the background.
    wait_for(slack.top_level, "the first chat message")
    (parent, *_) = slack.top_level()
    assert any(block.get("type") == "actions" for block in parent.get("blocks", []))
    body, headers = slack_press("acknowledge", first, user="U024BE7LH", trigger="t-1")
    pressed = post(served, "/slack/interactivity", body, **headers)
    assert pressed.status_code == 200
    wait_for(lambda: "acknowledge" in pagerduty.actions(first), "the ack reaches PagerDuty")
    metrics = httpx.get(f"{served.url}/metrics", timeout=10).text
    assert 'incident_flow_deliveries_total{channel="pager",kind="ack"} 1.0' in metrics
    assert "incident_flow_pages_total" in metrics
    assert 'incident_flow_alerts_total{source="alertmanager"}' in metrics
    assert "incident_flow_time_to_acknowledge_seconds_count 1.0" in metrics
    assert httpx.get(f"{served.url}/healthz", timeout=10).json() == {"ok": True}
    wait_for(
        lambda: httpx.get(f"{served.url}/readyz", timeout=10).status_code == 200,
        "ready once the worker turned",
    )


def test_a_bad_token_or_signature_is_401_and_stores_nothing(
    served: Served, vendors: tuple[FakeSlack, FakePagerDuty]
) -> None:
    slack, _ = vendors
    wrong = fire(served, token="guess")  # noqa: S106 - a wrong token on purpose
    assert wrong.status_code == 401
    body, headers = slack_press("acknowledge", "inc-000000000000", user="U1", trigger="t")
    headers["X-Slack-Signature"] = "v0=" + "0" * 64
    assert post(served, "/slack/interactivity", body, **headers).status_code == 401
    assert slack.top_level() == []
    metrics = httpx.get(f"{served.url}/metrics", timeout=10).text
    assert 'incident_flow_requests_total{route="webhooks",status="401"} 1.0' in metrics
    assert "incident_flow_incidents{" not in metrics


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Content-Length": "99999999999"}, 413),
        ({"Content-Length": "-5"}, 400),
        ({"Content-Length": "ten"}, 400),
        ({"Content-Type": "text/html"}, 415),
    ],
)
def test_bad_requests_are_4xx(served: Served, headers: dict[str, str], status: int) -> None:
    sent = {"X-Incident-Flow-Token": AM_TOKEN, "Content-Type": "application/json", **headers}
    raw = raw_post(served, "/webhooks/alertmanager", b"{}", sent)
    assert raw.startswith(f"HTTP/1.1 {status}".encode()), raw[:80]


def test_invalid_utf8_unknown_sources_and_no_length(served: Served) -> None:
    token = {"X-Incident-Flow-Token": AM_TOKEN, "Content-Type": "application/json"}
    assert post(served, "/webhooks/alertmanager", b"\xff\xfe{", **token).status_code == 400
    assert post(served, "/webhooks/nagios", b"{}", **token).status_code == 404
    raw = raw_post(served, "/webhooks/alertmanager", b"", token, length=False)
    assert raw.startswith(b"HTTP/1.1 411"), raw[:80]


def test_webhook_paths_past_the_router_answer_as_routed(served: Served) -> None:
    """POST /webhooks/{source} skips the router; every other method and path still routes."""
    token = {"X-Incident-Flow-Token": AM_TOKEN, "Content-Type": "application/json"}
    assert httpx.get(f"{served.url}/webhooks/alertmanager", timeout=10).status_code == 405
    assert post(served, "/webhooks/alertmanager/more", b"{}", **token).status_code == 404
    assert post(served, "/webhooks/", b"{}", **token).status_code == 404
    assert post(served, "/webhooks/alertmanager", b"{}", **token).status_code == 400


def raw_post(
    served: Served, path: str, body: bytes, headers: dict[str, str], *, length: bool = True
) -> bytes:
    """A request written by hand: headers httpx would not send (a lying Content-Length)."""
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    if length and "Content-Length" not in headers:
        headers = {**headers, "Content-Length": str(len(body))}
    lines += [f"{k}: {v}" for k, v in headers.items()]
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as conn:
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        conn.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_two_replicas_on_one_postgres_give_one_incident_and_one_page(
    tmp_path: Path, vendors: tuple[FakeSlack, FakePagerDuty], postgres_dsn: str
) -> None:
    """The same alert at both replicas at once, many times: one incident, one page."""
    from concurrent.futures import ThreadPoolExecutor

    from incident_flow import AsyncPostgresStore

    from .conftest import pg_schema

    slack, pagerduty = vendors
    config = attrs_evolve(
        load_config(EXAMPLE, environ=ENV),
        slack={"token": TOKEN, "channel": CHANNEL, "api_url": slack.api_url,
               "signing_secret": SLACK_SECRET},
        pagerduty={"routing_key": ROUTING_KEY, "url": pagerduty.url},
    )  # fmt: skip
    with pg_schema(postgres_dsn) as schema:
        apps = [
            create_app(
                async_flow(config, store=AsyncPostgresStore(postgres_dsn, schema=schema)), config
            )
            for _ in range(2)
        ]
        with Served(apps[0]) as one, Served(apps[1]) as two:
            headers = {"Content-Type": "application/json", "X-Incident-Flow-Token": AM_TOKEN}

            def send(n: int) -> httpx.Response:
                return post((one, two)[n % 2], "/webhooks/alertmanager", alertmanager_body(),
                            **headers)  # fmt: skip

            with ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(send, range(16)))
            assert {a.status_code for a in answers} == {202}
            opened = {tuple(a.json()["incidents"]) for a in answers}
            assert len(opened) == 1  # every request names the same incidents
            ids = next(iter(opened))
            wait_for(lambda: all(pagerduty.triggers.get(i) for i in ids), "the pages go out")
            wait_for(lambda: len(slack.top_level()) >= len(ids), "the chat messages go out")
        # Both replicas stopped, their background deliveries drained: one of each, no more.
        assert all(pagerduty.triggers[i] == 1 for i in ids)
        assert len(slack.top_level()) == len(ids)


class TestCommandLine:
    """`config check`, `serve` and `--config` for every command."""

    def test_config_check_reports_and_hides(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from click.testing import CliRunner

        from incident_flow.cli import main

        for name, value in ENV.items():
            monkeypatch.setenv(name, value)
        result = CliRunner().invoke(main, ["config", "check", str(EXAMPLE)])
        assert result.exit_code == 0, result.output
        assert "slack: token='***'" in result.output and TOKEN not in result.output
        monkeypatch.delenv("SLACK_BOT_TOKEN")
        result = CliRunner().invoke(main, ["config", "check", str(EXAMPLE)])
        # A configuration problem is bad input: exit 5, as documented (issue 28), and the
        # unset token adds no false "token or webhook_url" problem on top.
        assert result.exit_code == 5 and "SLACK_BOT_TOKEN is not set" in result.output
        assert "not both" not in result.output and "1 problem(s)" in result.output

    def test_init_creates_the_store_the_configuration_names(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_dsn: str
    ) -> None:
        """``--config FILE init`` makes the configured store, not ./incident_flow.db (issue 28)."""
        import psycopg
        from click.testing import CliRunner

        from incident_flow.cli import main

        from .conftest import pg_schema

        work = tmp_path / "elsewhere"
        work.mkdir()
        monkeypatch.chdir(work)
        path = tmp_path / "c.toml"
        path.write_text('[store]\nsqlite = "data/incidents.db"\n')
        result = CliRunner().invoke(main, ["--config", str(path), "init"])
        assert result.exit_code == 0, result.output
        assert (tmp_path / "data" / "incidents.db").exists()
        assert not (work / "incident_flow.db").exists() and "created" in result.output
        again = CliRunner().invoke(main, ["--config", str(path), "init"])
        assert "ready (it was there already)" in again.output
        with pg_schema(postgres_dsn) as schema:
            path.write_text(f'[store]\npostgres = "${{DSN}}"\nschema = "{schema}"\n')
            monkeypatch.setenv("DSN", postgres_dsn)
            result = CliRunner().invoke(main, ["--config", str(path), "init"])
            assert result.exit_code == 0, result.output
            with psycopg.connect(postgres_dsn) as conn:
                tables = conn.execute(
                    "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s",
                    (schema,),
                ).fetchone()
            assert tables is not None and tables[0] > 0
        assert not (work / "incident_flow.db").exists()

    def test_serve_needs_a_configuration(self) -> None:
        from click.testing import CliRunner

        from incident_flow.cli import main

        result = CliRunner().invoke(main, ["serve"])
        assert result.exit_code == 2 and "serve needs a configuration" in result.output

    def test_an_ack_typed_in_the_cli_reaches_slack_and_the_pager(
        self,
        tmp_path: Path,
        vendors: tuple[FakeSlack, FakePagerDuty],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        from click.testing import CliRunner

        from incident_flow.cli import main

        slack, pagerduty = vendors
        config = tmp_path / "c.toml"
        config.write_text(
            '[store]\nsqlite = "cli.db"\n'
            f'[slack]\ntoken = "${{SLACK_BOT_TOKEN}}"\nchannel = "{CHANNEL}"\n'
            f'api_url = "{slack.api_url}"\n'
            f'[pagerduty]\nrouting_key = "${{PAGERDUTY_ROUTING_KEY}}"\nurl = "{pagerduty.url}"\n'
        )
        for name, value in ENV.items():
            monkeypatch.setenv(name, value)
        runner = CliRunner()
        sample = str(SAMPLES / "alertmanager_firing.json")
        opened = runner.invoke(main, ["--config", str(config), "ingest", "alertmanager", sample])
        assert opened.exit_code == 0, opened.output
        incident_id = opened.output.split(":")[0]
        acked = runner.invoke(main, ["--config", str(config), "ack", incident_id, "--by", "alice"])
        assert acked.exit_code == 0, acked.output
        assert pagerduty.actions(incident_id)[-1] == "acknowledge"
        assert any("Acknowledged by alice" in m["text"] for m in slack.messages)


def test_actions_from_pagerduty_and_slacks_url_check(
    served: Served, vendors: tuple[FakeSlack, FakePagerDuty]
) -> None:
    """A PagerDuty acknowledgement by webhook lands on the incident; Slack's URL check."""
    from .inbound import pagerduty

    opened = fire(served).json()["incidents"][0]
    raw, headers = pagerduty("acknowledged", f"[P1] checkout [{opened}]")
    answer = post(served, "/actions/pagerduty", raw, **headers)
    assert answer.status_code == 200 and answer.json()["applied"] == [opened]
    bad = post(served, "/actions/pagerduty", raw, **{**headers, "X-PagerDuty-Signature": "v1=0"})
    assert bad.status_code == 401
    assert (
        post(served, "/actions/github", b"{}", **{"Content-Type": "application/json"}).status_code
        == 404
    )
    ts = str(int(time.time()))
    challenge = b'{"type": "url_verification", "challenge": "abc123"}'
    import hashlib
    import hmac

    signature = (
        "v0="
        + hmac.new(
            SLACK_SECRET.encode(), b"v0:" + ts.encode() + b":" + challenge, hashlib.sha256
        ).hexdigest()
    )
    events = post(
        served,
        "/slack/events",
        challenge,
        **{
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature,
        },
    )
    assert events.json() == {"challenge": "abc123"}


class TestWiring:
    """The configured channels: a fan-out of two pagers, a webhook, the publishers."""

    def test_two_pagers_fan_out_and_one_failure_is_retried(self) -> None:
        from incident_flow import DeliveryError, Notification, RecordingNotifier
        from incident_flow.server import FanOutPager

        class Down(RecordingNotifier):
            def send(self, message: Notification) -> str | None:
                raise DeliveryError("down")

        up = RecordingNotifier()
        pager = FanOutPager(up, Down())
        message = Notification(
            incident_id="inc-1",
            kind="page",
            text="t",
            title="t",
            severity="P1",
            state="notified",
            idempotency_key="inc-1/1/pager/page",
        )
        with pytest.raises(DeliveryError):
            pager.send(message)
        assert len(up.messages) == 1
        assert "RecordingNotifier" in repr(pager)

    def test_each_channel_and_publisher_from_the_file(self, tmp_path: Path) -> None:
        env = {"K": "k-secret", "W": "w-secret", "G": "ghp_abc"}
        path = tmp_path / "c.toml"
        path.write_text(
            '[pagerduty]\nrouting_key = "${K}"\n[opsgenie]\napi_key = "${K}"\n'
            '[webhook]\nurl = "https://hooks.example/x"\nsecret = "${W}"\n'
            '[publisher]\nkind = "github"\nrepository = "acme/pm"\ntoken = "${G}"\n'
        )
        config = load_config(path, environ=env)
        flow = sync_flow(config)
        assert "FanOutPager" in repr(flow.pager) and "WebhookNotifier" in repr(flow.notifier)
        assert "GitHubPublisher('acme/pm'" in repr(flow.publisher)
        assert all(secret not in repr(flow) for secret in env.values())
        assert "AsyncFanOutPager" in repr(async_flow(config).pager)
        git = attrs_evolve(config, publisher={"kind": "git", "repository": str(tmp_path)})
        assert "GitPublisher" in repr(sync_flow(git, pager=None).publisher)

    def test_paging_people_without_a_vendor_from_the_file(self, tmp_path: Path) -> None:
        env = {"T": "xoxb-1-2-abc", "A": "twilio-secret"}
        path = tmp_path / "c.toml"
        path.write_text(
            '[slack]\ntoken = "${T}"\nchannel = "C1"\ndm_pager = true\n'
            '[twilio]\naccount_sid = "AC1"\nauth_token = "${A}"\nfrom_number = "+15017122661"\n'
        )
        config = load_config(path, environ=env)
        assert config.twilio is not None and "twilio: " in "\n".join(config.describe())
        pager = repr(sync_flow(config).pager)
        assert "SlackDMPager" in pager and "TwilioSmsPager" in pager
        assert all(secret not in pager for secret in env.values())
        assert "AsyncTwilioSmsPager" in repr(async_flow(config).pager)
        bad = tmp_path / "bad.toml"
        bad.write_text(
            '[slack]\nwebhook_url = "${T}"\ndm_pager = "yes"\n[twilio]\naccount_sid = "AC1"\n'
        )
        with pytest.raises(ConfigError) as caught:
            load_config(bad, environ=env)
        problems = "\n".join(caught.value.problems)
        assert "slack.dm_pager: must be true or false" in problems
        assert (
            "twilio.auth_token: missing" in problems and "twilio.from_number: missing" in problems
        )
        lone = tmp_path / "lone.toml"
        lone.write_text('[slack]\nwebhook_url = "${T}"\ndm_pager = true\n')
        with pytest.raises(ConfigError, match="needs the bot token"):
            load_config(lone, environ=env)


def test_a_slack_form_opens_and_its_submission_resolves(
    served: Served, vendors: tuple[FakeSlack, FakePagerDuty]
) -> None:
    from .inbound import slack_submit

    slack, pagerduty = vendors
    incident_id = fire(served).json()["incidents"][0]
    body, headers = slack_press("resolve", incident_id, user="U024BE7LH", trigger="t-9")
    assert post(served, "/slack/interactivity", body, **headers).status_code == 200
    wait_for(lambda: slack.views, "the Resolve form opens")
    body, headers = slack_submit(
        "resolve", incident_id, "rolled back", user="U024BE7LH", view="V-1"
    )
    assert post(served, "/slack/interactivity", body, **headers).status_code == 200
    wait_for(lambda: "resolve" in pagerduty.actions(incident_id), "resolved, mirrored")


def test_a_slow_client_gets_408(served: Served) -> None:
    """Headers promise 100 bytes, 10 come, then nothing: refused once the body timeout ends."""
    head = (
        "POST /webhooks/alertmanager HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nX-Incident-Flow-Token: {AM_TOKEN}\r\n"
        "Content-Length: 100\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as conn:
        conn.sendall(head.encode() + b'{"alerts":')
        started = time.monotonic()
        answer = conn.recv(65536)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
    assert time.monotonic() - started < 5


def test_mounted_in_a_host_app(tmp_path: Path) -> None:
    """A host's Starlette app mounts the service and runs its lifespan."""
    import contextlib

    from starlette.applications import Starlette
    from starlette.routing import Mount

    config = attrs_evolve(
        load_config(EXAMPLE, environ=ENV),
        slack=None,
        pagerduty=None,
        store=str(tmp_path / "host.db"),
        worker_interval=timedelta(seconds=0.2),
    )
    service = create_app(async_flow(config), config)

    @contextlib.asynccontextmanager
    async def lifespan(app: object) -> Any:
        async with service.router.lifespan_context(service):
            yield

    host = Starlette(routes=[Mount("/incidents", app=service)], lifespan=lifespan)
    with Served(host) as server:
        answer = fire(server, path="/incidents/webhooks/alertmanager")
        assert answer.status_code == 202 and answer.json()["incidents"]
        wait_for(
            lambda: httpx.get(f"{server.url}/incidents/readyz", timeout=10).status_code == 200,
            "the mounted service's worker runs",
        )


def test_silences_through_the_api(served: Served, tmp_path: Path) -> None:
    """Created, listed and ended with who and why; the API needs its bearer token."""
    api = f"{served.url}/api/silences"
    auth = {"Authorization": "Bearer api-token-1"}
    body = {
        "matchers": {"alertname": "KubePodCrashLooping"},
        "duration": "2h",
        "by": "alice",
        "why": "node pool upgrade",
    }
    assert httpx.post(api, json=body, timeout=10).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert httpx.get(api, headers=wrong, timeout=10).status_code == 401
    created = httpx.post(api, json=body, headers=auth, timeout=10)
    assert created.status_code == 201, created.text
    silence = created.json()
    assert silence["matchers"] == ["alertname=KubePodCrashLooping"] and silence["by"] == "alice"
    listed = httpx.get(api, headers=auth, timeout=10).json()["silences"]
    assert [s["id"] for s in listed] == [silence["id"]]
    for bad, error in (
        ({**body, "duration": "soon"}, "duration: must be a positive duration"),
        ({**body, "matchers": "x"}, "matchers: required"),
        ({**body, "matchers": {}}, "at least one matcher"),
        ({**body, "duration": None, "ends_at": "yesterday"}, "ISO 8601"),
    ):
        refused = httpx.post(api, json=bad, headers=auth, timeout=10)
        assert refused.status_code == 400 and error in refused.json()["error"], refused.text
    assert httpx.post(api, content=b"[1]", headers=auth, timeout=10).status_code == 400
    ended = httpx.delete(f"{api}/{silence['id']}", params={"by": "bob"}, headers=auth, timeout=10)
    assert ended.status_code == 200 and ended.json()["ended_by"] == "bob"
    assert httpx.get(api, headers=auth, timeout=10).json()["silences"] == []
    everything = httpx.get(api, params={"all": "1"}, headers=auth, timeout=10).json()
    assert [s["id"] for s in everything["silences"]] == [silence["id"]]
    assert (
        httpx.delete(f"{api}/sil-nope", params={"by": "b"}, headers=auth, timeout=10).status_code
        == 404
    )
    assert httpx.delete(f"{api}/sil-nope", headers=auth, timeout=10).status_code == 400


def test_the_api_is_off_without_a_token(tmp_path: Path) -> None:
    config = load_config(EXAMPLE, environ=ENV)
    assert config.api_token is None and "api: off" in "\n".join(config.describe())
    store = tmp_path / "x.db"
    config = attrs_evolve(config, store=str(store))
    with Served(create_app(async_flow(config), config, worker=False)) as server:
        answer = httpx.get(f"{server.url}/api/silences", timeout=10)
    assert answer.status_code == 404 and "server.api_token" in answer.json()["error"]


def test_slack_oncall_answers_in_the_channel(tmp_path: Path) -> None:
    """``/incident oncall [SCHEDULE]`` (Slack's real slash-command body) answers at once."""
    from .inbound import ACTIONS, SLACK_TEAM, slack_signed
    from .test_oncall import POLICY

    config = load_config(EXAMPLE, environ=ENV)
    config = attrs_evolve(config, store=str(tmp_path / "x.db"), policy=Policy.from_text(POLICY))
    raw = (ACTIONS / "slack_slash_command.txt").read_text().strip()
    raw = raw.replace("team_id=T0001", f"team_id={SLACK_TEAM}")
    with Served(create_app(async_flow(config), config, worker=False)) as server:

        def ask(text: str) -> httpx.Response:
            form = (
                raw.replace("command=/weather", "command=/incident")
                .replace("text=94070", f"text={text}")
                .encode()
            )
            return post(server, "/slack/commands", form, **slack_signed(form))

        answer = ask("oncall")
        assert answer.status_code == 200 and answer.json()["response_type"] == "ephemeral"
        lines = answer.json()["text"].splitlines()
        assert [line.split(":")[0] for line in lines] == ["primary", "secondary", "thin"]
        assert "thin: NOBODY (a gap)" in answer.json()["text"]
        assert ask("oncall+secondary").json()["text"].startswith("secondary: ")
        assert "No schedule 'nope'" in ask("oncall+nope").json()["text"]
        hostile = ask("oncall+%3C%21channel%3E").json()["text"]  # "<!channel>" typed in Slack
        assert "&lt;!channel&gt;" in hostile and "<!channel>" not in hostile
    bare = attrs_evolve(config, policy=Policy())
    with Served(create_app(async_flow(bare), bare, worker=False)) as server:
        form = (
            raw.replace("command=/weather", "command=/incident")
            .replace("text=94070", "text=oncall")
            .encode()
        )
        answer = post(server, "/slack/commands", form, **slack_signed(form))
        assert answer.json()["text"] == "No schedules in the policy ([[schedules]])."


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGINT"])
def test_serve_stops_gracefully_and_exits_0(tmp_path: Path, stop: str) -> None:
    """Issue 29: a supervisor's SIGTERM (or a Ctrl-C) is a clean stop, exit 0, not 143."""
    import os
    import signal
    import subprocess
    import sys

    port = free_port()
    path = tmp_path / "c.toml"
    path.write_text(
        '[store]\nsqlite = "x.db"\n[sources.alertmanager]\nsecret = "${AM}"\n'
        '[worker]\ninterval = "0.2s"\n'
    )
    with subprocess.Popen(
        [sys.executable, "-m", "incident_flow.cli", "--config", str(path), "serve",
         "--port", str(port)],
        env={**os.environ, "AM": "token"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as process:  # fmt: skip
        try:
            wait_for(
                lambda: _answers(f"http://127.0.0.1:{port}/healthz") or process.poll() is not None,
                "serve answers",
            )
            assert process.poll() is None, process.communicate()
            process.send_signal(getattr(signal, stop))
            _, said = process.communicate(timeout=30)
            assert process.returncode == 0, said
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_an_unreachable_postgres_is_a_fast_503_and_readyz_comes_back(
    tmp_path: Path, postgres_dsn: str
) -> None:
    """Issue 29: with its database refusing connections, a webhook is answered 503 with
    Retry-After (senders retry) and /readyz says not ready within a bound; both recover."""
    import uuid

    import psycopg

    name = f"unreach_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = postgres_dsn.rsplit("/", 1)[0] + f"/{name}"
    config = attrs_evolve(load_config(EXAMPLE, environ=ENV), store=dsn, slack=None, pagerduty=None)
    try:
        with Served(create_app(async_flow(config), config, worker=False)) as server:
            assert fire(server).status_code == 202
            with psycopg.connect(postgres_dsn, autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (name,),
                )
            down = fire(server)
            assert down.status_code == 503 and down.headers["Retry-After"] == "5", down.text
            ready = httpx.get(f"{server.url}/readyz", timeout=10)
            assert ready.status_code == 503 and ready.json()["why"][0].startswith("store")
            with psycopg.connect(postgres_dsn, autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            wait_for(
                lambda: httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200,
                "ready again once the database answers",
            )
            assert fire(server).status_code == 202
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
