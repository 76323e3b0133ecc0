"""What ``incident-flow serve`` says on stderr, run as a real process against the fake vendors.

An alert goes in, PagerDuty answers 500 to the first attempt, the page goes out on the next;
then SIGTERM. The log says the start, each request with its incidents, the failure with its
status and next attempt, the delivered page and the stop, in text and in JSON lines, and
never a secret. The stop is bounded and exits 0 even when the database is unreachable.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from incident_flow.server import load_config
from incident_flow.server._config import _redact_dsn
from incident_flow.server._logging import configure_service_logging, secrets_of

from .test_server import ENV, EXAMPLE, _answers, alertmanager_body, free_port, wait_for
from .vendors import CHANNEL, FakePagerDuty, FakeSlack

#: The longest a stop may take before the test calls it hung (generous: no timing asserted).
STOP_LIMIT = 60


def write_config(tmp_path: Path, slack: FakeSlack, pagerduty: FakePagerDuty) -> Path:
    """The sample configuration, on the fake vendors, with a fast worker."""
    text = EXAMPLE.read_text()
    text = text.replace(
        'channel = "C08K3M5N7PQ"', f'channel = "{CHANNEL}"\napi_url = "{slack.api_url}"'
    )
    text = text.replace(
        'routing_key = "${PAGERDUTY_ROUTING_KEY}"',
        f'routing_key = "${{PAGERDUTY_ROUTING_KEY}}"\nurl = "{pagerduty.url}"',
    )
    text = text.replace('interval = "5s"', 'interval = "0.2s"')
    path = tmp_path / "incident-flow.toml"
    path.write_text(text)
    return path


class Serving:
    """``incident-flow serve`` as a child process, its stderr in a file."""

    def __init__(self, config: Path, log_format: str, env: dict[str, str]) -> None:
        self.port = free_port()
        self.log = config.with_name(f"serve-{log_format}.log")
        self.url = f"http://127.0.0.1:{self.port}"
        args = ["--config", str(config), "serve", "--port", str(self.port)]
        args += ["--log-format", log_format] if log_format != "auto" else []
        with self.log.open("wb") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "incident_flow.cli", *args],
                env={**os.environ, **env},
                stdout=subprocess.DEVNULL,
                stderr=sink,
            )

    def wait_until_up(self) -> None:
        wait_for(
            lambda: _answers(f"{self.url}/healthz") or self.process.poll() is not None,
            "serve answers",
        )
        assert self.process.poll() is None, self.text()

    def stop(self) -> int:
        """SIGTERM, then its exit code (killed and failed if it hangs)."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_LIMIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"serve did not stop after SIGTERM:\n{self.text()}")

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def vendors(httpserver: HTTPServer) -> tuple[FakeSlack, FakePagerDuty]:
    return FakeSlack(httpserver), FakePagerDuty(httpserver)


@pytest.fixture
def serving(
    request: pytest.FixtureRequest, tmp_path: Path, vendors: tuple[FakeSlack, FakePagerDuty]
) -> Iterator[Serving]:
    config = write_config(tmp_path, *vendors)
    served = Serving(config, request.param, ENV)
    try:
        yield served
    finally:
        served.close()


def fire(url: str) -> httpx.Response:
    headers = {
        "Content-Type": "application/json",
        "X-Incident-Flow-Token": ENV["ALERTMANAGER_TOKEN"],
    }
    return httpx.post(f"{url}/webhooks/alertmanager", content=alertmanager_body(), headers=headers)


_LINE = re.compile(r"^(\S+) (\S+) +(\S+)(?: (.*))?$")
_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


def events_of(text: str, log_format: str) -> list[dict[str, Any]]:
    """Each line as a dict: JSON parsed, or a text line's time, level, event and fields."""
    found: list[dict[str, Any]] = []
    for line in text.splitlines():
        if log_format == "json":
            found.append(json.loads(line))  # every line is one JSON object
            continue
        match = _LINE.match(line)
        assert match, f"not a log line: {line!r}"
        time, level, event, rest = match.groups()
        fields = {
            key: json.loads(value) if value.startswith('"') else value
            for key, value in _FIELD.findall(rest or "")
        }
        found.append({**fields, "time": time, "level": level.lower(), "event": event})
    return found


@pytest.mark.parametrize("serving", ["text", "auto"], indirect=True)
def test_a_session_from_start_to_a_delivered_page_to_the_stop(
    serving: Serving, vendors: tuple[FakeSlack, FakePagerDuty]
) -> None:
    """Start, the access line with the incident, the 500 and its retry, the page, the stop."""
    _, pagerduty = vendors
    pagerduty.fail_next(Response("down", status=500), times=3)  # one attempt, retried inline
    serving.wait_until_up()
    # Hostile paths: a forged line, a secret, a very long path (404s, each one line).
    for path in (
        "/x%0A2026-01-01T00:00:00Z INFO forged",
        f"/{ENV['SLACK_BOT_TOKEN']}",
        "/y" * 5000,
    ):
        assert httpx.get(serving.url + path).status_code == 404
    answer = fire(serving.url)
    assert answer.status_code == 202, answer.text
    incident_ids = answer.json()["incidents"]
    wait_for(lambda: len(pagerduty.events) == len(incident_ids), "each page, one on its retry")
    wait_for(lambda: "recovered" in serving.text(), "the page said delivered")
    assert serving.stop() == 0, serving.text()
    text = serving.text()
    log_format = "text" if serving.log.name.endswith("text.log") else "json"
    events = events_of(text, log_format)
    named = {e["event"]: e for e in events}
    # The start: where it listens, the store, each source and channel, the worker.
    assert named["incident_flow.listening"]["url"] == serving.url
    assert named["incident_flow.store"]["store"].endswith("incident-flow.db")
    routes = {e["route"] for e in events if e["event"] == "incident_flow.source"}
    assert "/webhooks/alertmanager" in routes
    channels = {e["name"] for e in events if e["event"] == "incident_flow.channel"}
    assert {"slack", "pagerduty"} <= channels
    assert "incident_flow.worker" in named
    # One access line per request: the webhook's with its incident.
    (webhook,) = [
        e
        for e in events
        if e["event"] == "incident_flow.request" and e["path"] == "/webhooks/alertmanager"
    ]
    assert (webhook["method"], str(webhook["status"])) == ("POST", "202")
    assert all(i in str(webhook["incidents"]) for i in incident_ids)
    assert float(webhook["ms"]) >= 0
    # The failed page: its channel, the status and when it is tried next; then delivered.
    failed = [e for e in events if e["event"] == "incident_flow.delivery_failed"]
    assert [(e["channel"], str(e["status"])) for e in failed] == [("pager", "500")]
    assert failed[0]["retry_at"].startswith("20") and failed[0]["level"] == "warning"
    pages = [
        e for e in events if e["event"] == "incident_flow.delivered" and e["channel"] == "pager"
    ]
    assert pages and str(pages[0]["recovered"]) in ("True", "true")
    # uvicorn's own lines go through the same setup; its access log is off.
    assert any(e.get("logger", "").startswith("uvicorn") or "uvicorn" in e["event"] for e in events)
    # The stop.
    order = [e["event"] for e in events]
    assert order.index("incident_flow.signal") < order.index("incident_flow.stopped")
    assert order[-1] == "incident_flow.exit" and str(named["incident_flow.exit"]["code"]) == "0"
    for secret in ENV.values():
        assert secret not in text
    assert max(len(e.get("path", "")) for e in events) <= 200
    assert not any(line.startswith("2026-01-01") for line in text.splitlines())
    if log_format == "text":
        assert text.startswith("20") and "{" not in text.splitlines()[0]


def test_unreachable_postgres_stops_on_sigterm_with_exit_0(
    tmp_path: Path, postgres_dsn: str, vendors: tuple[FakeSlack, FakePagerDuty]
) -> None:
    """Issue 29: SIGTERM ends serve (exit 0) even while its database refuses connections."""
    import psycopg

    name = f"stop_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = postgres_dsn.rsplit("/", 1)[0] + f"/{name}"
    config = write_config(tmp_path, *vendors)
    text = config.read_text()
    config.write_text(text.replace('sqlite = "incident-flow.db"', 'postgres = "${PG}"', 1))
    assert "${PG}" in config.read_text(), "the sample's store section changed"
    served = Serving(config, "json", {**ENV, "PG": dsn})
    try:
        served.wait_until_up()
        assert fire(served.url).status_code == 202
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
        assert fire(served.url).status_code == 503  # the store is away: said, not hung
        assert served.stop() == 0, served.text()
        events = events_of(served.text(), "json")
        assert [e["event"] for e in events][-1] == "incident_flow.exit"
        assert any(e["event"] == "incident_flow.store_unavailable" for e in events)
        # An outage is said once per step and cause, not once per turn.
        failures = [
            (e["step"], e["error"])
            for e in events
            if e["event"] == "incident_flow.worker_step_failed"
        ]
        assert len(failures) == len(set(failures))
    finally:
        served.close()
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


def undo_service_logging() -> None:
    """Put the test process's logging back as it was before configure_service_logging."""
    for name in ("incident_flow", "uvicorn", ""):
        logger = logging.getLogger(name or None)
        for handler in list(logger.handlers):
            if type(handler).__name__ == "_ServiceHandler":
                logger.removeHandler(handler)
        logger.propagate = True
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("incident_flow").setLevel(logging.NOTSET)
    logging.getLogger("psycopg.pool").setLevel(logging.NOTSET)
    logging.getLogger("uvicorn.access").disabled = False


class TestFormatter:
    """One event is one line; hostile values are escaped; secrets are replaced."""

    def lines(self, log_format: str, *, secrets: tuple[str, ...] = ()) -> Iterator[str]:
        stream = io.StringIO()
        configure_service_logging(log_format, stream=stream, secrets=secrets)
        try:
            from incident_flow._core.log import get_logger

            log = get_logger("incident_flow.test")
            log.warning("incident_flow.odd", path="/x\nINFO forged line", token="s3cret-value")  # noqa: S106
            logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)
            logging.getLogger("uvicorn.access").info("GET / 200")  # off: ours says more
        finally:
            undo_service_logging()
        yield from stream.getvalue().splitlines()

    def test_text_escapes_and_redacts(self) -> None:
        first, second = self.lines("text", secrets=("s3cret-value",))
        assert 'path="/x\\nINFO forged line"' in first and "token=***" in first
        assert "s3cret-value" not in first
        assert second.endswith("INFO    uvicorn.error: Started server process [42]")

    def test_json_is_one_object_per_line(self) -> None:
        first, second = (json.loads(line) for line in self.lines("json", secrets=("s3cret-value",)))
        assert first["path"] == "/x\nINFO forged line" and first["token"] == "***"  # noqa: S105
        assert (first["level"], first["event"]) == ("warning", "incident_flow.odd")
        assert second["logger"] == "uvicorn.error"

    def test_auto_is_json_off_a_terminal(self) -> None:
        class Terminal(io.StringIO):
            def isatty(self) -> bool:
                return True

        try:
            assert configure_service_logging("auto", stream=io.StringIO()) == "json"
            assert configure_service_logging("auto", stream=Terminal()) == "text"
        finally:
            undo_service_logging()
        with pytest.raises(ValueError, match="auto, text or json"):
            configure_service_logging("xml", stream=io.StringIO())

    def test_other_libraries_warnings_are_lines_too(self) -> None:
        stream = io.StringIO()
        configure_service_logging("json", stream=stream, secrets=["pa55word"])
        try:
            logging.getLogger("somelib").warning("could not reach x://u:pa55word@h")
            logging.getLogger("somelib").info("chatter")  # below WARNING: not said
        finally:
            undo_service_logging()
        (line,) = stream.getvalue().splitlines()
        assert json.loads(line)["event"] == "could not reach x://u:***@h"

    def test_the_library_alone_configures_nothing(self) -> None:
        """Importing the server does not touch logging: only serve sets it up."""
        code = (
            "import logging, incident_flow.server, incident_flow.server._logging;"
            "h=[type(x).__name__ for x in logging.getLogger('incident_flow').handlers];"
            "assert h == ['NullHandler'], h;"
            "assert not logging.getLogger('uvicorn').handlers"
        )
        subprocess.run([sys.executable, "-c", code], check=True)


class TestSecretsOfAConfiguration:
    """Every secret a configuration holds is known to the redactor, the DSN's password too."""

    def test_every_secret_and_the_dsn_password(self) -> None:
        config = load_config(EXAMPLE, environ=ENV)
        found = set(secrets_of(config))
        expected = {v for k, v in ENV.items() if k != "INCIDENT_FLOW_API_TOKEN"}
        assert expected <= found
        import attrs

        with_pw = attrs.evolve(config, store="postgresql://app:pa55word@db/x?password=other")
        assert {"pa55word", "other"} <= set(secrets_of(with_pw))

    @pytest.mark.parametrize(
        ("dsn", "shown"),
        [
            ("postgresql://app:pa55@db:5432/x", "postgresql://app:***@db:5432/x"),
            ("postgresql://db/x?user=app&password=pa55", "postgresql://db/x?user=app&password=***"),
            ("host=db user=app password=pa55 dbname=x", "host=db user=app password=*** dbname=x"),
        ],
    )
    def test_the_store_is_shown_without_its_password(self, dsn: str, shown: str) -> None:
        assert _redact_dsn(dsn) == shown


def test_a_forwarded_for_header_never_makes_a_caller_a_trusted_proxy(
    tmp_path: Path, vendors: tuple[FakeSlack, FakePagerDuty]
) -> None:
    """``serve`` believes the peer's own address: X-Forwarded-For cannot claim a proxy's.

    The console trusts its proxy header only from the listed proxies. Were uvicorn to read
    X-Forwarded-For (its default for connections from 127.0.0.1), a caller could name a
    listed proxy in it and sign in as anyone (found in review, issue 31).
    """
    config = write_config(tmp_path, *vendors)
    text = config.read_text() + (
        '\n[console]\nproxy_header = "X-Forwarded-User"\nproxies = ["10.0.0.0/24"]\n'
    )
    config.write_text(text)
    served = Serving(config, "text", ENV)
    try:
        served.wait_until_up()
        spoofed = {"X-Forwarded-For": "10.0.0.1", "X-Forwarded-User": "alice"}
        answer = httpx.get(f"{served.url}/ui/incidents", headers=spoofed)
        assert answer.status_code in (401, 303), answer.text
        assert "alice" not in answer.text
        assert served.stop() == 0, served.text()
    finally:
        served.close()
