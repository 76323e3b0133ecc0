"""A library is silent unless its host asks; no secret reaches a log line, ours or a library's."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
from pytest_httpserver import HTTPServer

from incident_flow import Alert, IncidentFlow, RecordingNotifier, SlackNotifier
from incident_flow._core.log import get_logger
from incident_flow.adapters._http import HttpClient
from incident_flow.testing import RecordingPublisher

from .conftest import pg_schema
from .vendors import FakeSlack, Sleeps

README = Path(__file__).parents[1] / "README.md"
P1 = Alert(source="datadog", name="CheckoutHighErrorRate", title="Checkout 5xx", severity="P1")


def readme_snippet() -> str:
    text = README.read_text(encoding="utf-8")
    return text.split("```python\n", 1)[1].split("```", 1)[0]


def run(prefix: str, tmp_path: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", prefix + readme_snippet()],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=True,
    )
    return done.stdout + done.stderr


class TestSilentByDefault:
    """The README's snippet: nothing unconfigured or at WARNING; the events at INFO."""

    def test_unconfigured_prints_nothing(self, tmp_path: Path) -> None:
        assert run("", tmp_path) == ""

    def test_the_hosts_warning_level_silences_the_routine(self, tmp_path: Path) -> None:
        prefix = "import logging\nlogging.basicConfig(level=logging.WARNING)\n"
        assert run(prefix, tmp_path) == ""

    def test_info_shows_the_events_through_the_standard_library(self, tmp_path: Path) -> None:
        prefix = "import logging\nlogging.basicConfig(level=logging.INFO)\n"
        lines = run(prefix, tmp_path).splitlines()
        assert lines[0].startswith("INFO:incident_flow:incident_flow.state_changed incident_id=")
        assert any(line.startswith("INFO:incident_flow.notify:") for line in lines)


class TestStructuredForHostsThatWantIt:
    """Every field is on the record (for structlog's ProcessorFormatter or any formatter)."""

    def test_fields_are_record_attributes(self, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.INFO, logger="incident_flow")
        flow = IncidentFlow(
            notifier=RecordingNotifier(), pager=RecordingNotifier(), publisher=RecordingPublisher()
        )
        incident = flow.trigger(P1)
        (record,) = [r for r in caplog.records if "state_changed" in r.getMessage()]
        assert record.name == "incident_flow"
        assert record.incident_id == incident.id  # type: ignore[attr-defined]
        assert record.incident_flow == {  # type: ignore[attr-defined]
            "event": "incident_flow.state_changed",
            "incident_id": incident.id,
            "state": "notified",
            "previous": None,
            "severity": "P1",
            "version": 3,
        }

    def test_a_field_named_like_a_record_attribute_is_kept_aside(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="incident_flow.test")
        get_logger("incident_flow.test").info("incident_flow.odd", name="x", msg="y", lineno=3)
        (record,) = caplog.records
        assert (record.if_name, record.if_msg, record.if_lineno) == ("x", "y", 3)  # type: ignore[attr-defined]
        assert record.getMessage() == "incident_flow.odd name='x' msg='y' lineno=3"
        get_logger("incident_flow.test").info("incident_flow.bare")
        assert caplog.records[-1].getMessage() == "incident_flow.bare"

    def test_a_disabled_level_is_dropped_early(self, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.WARNING, logger="incident_flow.test")
        get_logger("incident_flow.test").info("incident_flow.quiet", n=1)
        assert caplog.records == []


class TestNoSecretInAnyLogLine:
    """httpx logs request URLs at INFO: a Slack webhook URL is a secret and never shows."""

    def test_httpx_request_lines_are_redacted(
        self, httpserver: HTTPServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        slack = FakeSlack(httpserver)
        http = HttpClient(sleep=Sleeps(), timeout=5)
        secret_url = slack.webhook_url
        flow = IncidentFlow(
            notifier=SlackNotifier(webhook_url=secret_url, client=http),
            pager=RecordingNotifier(),
            publisher=RecordingPublisher(),
        )
        flow.trigger(P1)
        http.close()
        assert slack.hook, "the webhook was not called"
        # The fake Slack's own access log (werkzeug) is the vendor's side, not ours.
        lines = [r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug")]
        assert any(line.startswith("HTTP Request: POST") for line in lines)
        assert not [line for line in lines if "/services/T1/B2/secret" in line]
        assert all(secret_url not in line for line in lines)

    def test_psycopgs_lost_race_warning_is_not_noise(
        self, postgres_dsn: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        import asyncio

        from incident_flow import AsyncPostgresStore, ConcurrencyError
        from incident_flow._core.incident import fold
        from incident_flow.testing.contracts import sample_history

        caplog.set_level(logging.WARNING)
        history = sample_history()[:3]
        base = fold(None, history)
        other = [attrs.evolve(history[0], incident_id="inc-other"), *history[1:]]

        async def race(schema: str) -> None:
            one = await AsyncPostgresStore.open(postgres_dsn, schema=schema)
            two = await AsyncPostgresStore.open(postgres_dsn, schema=schema)
            try:
                await one.append(base.id, 0, history, snapshot=base)
                # Two lost races (another incident with the same open dedup key, then the same
                # incident): psycopg warned on one of them before the filter.
                for stream in (other, history):
                    with pytest.raises(ConcurrencyError):
                        await two.append(
                            stream[0].incident_id, 0, stream, snapshot=fold(None, stream)
                        )
            finally:
                await one.close()
                await two.close()

        with pg_schema(postgres_dsn) as schema:
            asyncio.run(race(schema))
        assert [r for r in caplog.records if r.name.startswith("psycopg")] == []
        logging.getLogger("psycopg").warning("error ignored terminating %r: %s", "other", "x")
        assert caplog.records[-1].name == "psycopg"  # other warnings still pass
