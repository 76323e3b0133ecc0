"""Pages never wait (issue 27): the pager first; a failing chat is paused, not retried per message.

Invariant 12: a page is never delivered later than, or blocked by, a delivery to another
channel. A chat that keeps failing (Slack hanging: every call a timeout) costs one attempt per
cool-down, not one per message; its messages stay pending, say so, and go out once it answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from incident_flow import (
    Alert,
    DeliveryError,
    IncidentFlow,
    MemoryStore,
    Notification,
    Policy,
    RecordingNotifier,
)
from incident_flow.testing import ManualClock, RecordingPublisher

from .conftest import T0, MakeFlow, pg_schema


class Journal:
    """What every channel was asked to send, in order, across channels."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []


class Channel(RecordingNotifier):
    """A recording channel that writes each attempt to the shared journal; may be down."""

    def __init__(self, name: str, journal: Journal) -> None:
        super().__init__()
        self.name = name
        self.journal = journal
        self.error: Exception | None = None

    def send(self, message: Notification) -> str | None:
        self.journal.calls.append((self.name, message.incident_id, message.kind))
        if self.error is not None:
            raise self.error
        return super().send(message)


def alerts(n: int) -> list[Alert]:
    return [
        Alert(source="alertmanager", name=f"Down{i}", title=f"service {i} down", severity="P1")
        for i in range(n)
    ]


@pytest.fixture
def world(make_flow: MakeFlow) -> tuple[IncidentFlow, ManualClock, Channel, Channel, Journal]:
    journal = Journal()
    chat, pager = Channel("chat", journal), Channel("pager", journal)
    clock = ManualClock(T0)
    flow = make_flow(
        Policy(),
        store=MemoryStore(),
        notifier=chat,
        pager=pager,
        publisher=RecordingPublisher(),
        clock=clock,
    )
    return flow, clock, chat, pager, journal


class TestPagesFirst:
    """In every batch the pages go out before any chat message."""

    def test_twenty_p1s_in_one_body_are_paged_before_any_chat_message(
        self, world: tuple[IncidentFlow, ManualClock, Channel, Channel, Journal]
    ) -> None:
        flow, _, chat, pager, journal = world
        opened = flow.trigger_all(alerts(20))
        channels = [name for name, _, _ in journal.calls]
        assert channels == ["pager"] * 20 + ["chat"] * 20
        assert {m.incident_id for m in pager.messages} == {i.id for i in opened if i}
        assert len(chat.messages) == 20


class TestADeadChatIsPaused:
    """A chat that fails is tried once per cool-down; the pages never wait for it."""

    def test_slack_hanging_costs_one_attempt_and_every_page_goes_out(
        self, world: tuple[IncidentFlow, ManualClock, Channel, Channel, Journal]
    ) -> None:
        flow, clock, chat, pager, journal = world
        chat.error = DeliveryError("Slack chat.postMessage: timed out after 10 s")
        opened = [i for i in flow.trigger_all(alerts(20)) if i is not None]
        assert len(pager.messages) == 20  # every page out
        assert [name for name, _, _ in journal.calls].count("chat") == 1  # one timeout, not 20
        for incident in opened:
            failed = [e for e in flow.history(incident.id) if e.type == "DeliveryFailed"]
            assert len(failed) == 1  # each says why it is still pending
        skipped = [
            e.error  # type: ignore[attr-defined]
            for i in opened
            for e in flow.history(i.id)
            if e.type == "DeliveryFailed" and "paused" in e.error  # type: ignore[attr-defined]
        ]
        assert len(skipped) == 19 and "timed out after 10 s" in skipped[0]
        # Slack answers again: after the cool-down every first message goes out, once each.
        chat.error = None
        clock.advance(timedelta(seconds=6))
        flow.deliver_pending()
        assert sorted(m.incident_id for m in chat.messages) == sorted(i.id for i in opened)
        assert len(pager.messages) == 20  # and nobody was paged twice

    def test_the_cool_down_doubles_while_it_keeps_failing(
        self, world: tuple[IncidentFlow, ManualClock, Channel, Channel, Journal]
    ) -> None:
        flow, clock, chat, _, journal = world
        chat.error = DeliveryError("Slack chat.postMessage: 503")
        flow.trigger_all(alerts(3))
        tries = [1]
        for _ in range(3):
            clock.advance(timedelta(seconds=5))
            flow.deliver_pending()
            tries.append([n for n, _, _ in journal.calls].count("chat"))
        # 5 s after the first failure: one try (fails, paused 10 s); 5 s later still paused;
        # 10 s after the second failure: one more try.
        assert tries == [1, 2, 2, 3]

    def test_a_refused_message_does_not_pause_the_channel(
        self, world: tuple[IncidentFlow, ManualClock, Channel, Channel, Journal]
    ) -> None:
        flow, _, chat, _, journal = world
        chat.error = DeliveryError("Slack: invalid_blocks", permanent=True)
        flow.trigger_all(alerts(3))
        assert [n for n, _, _ in journal.calls].count("chat") == 3  # each one tried

    def test_a_delivery_that_goes_through_ends_the_pause(
        self, world: tuple[IncidentFlow, ManualClock, Channel, Channel, Journal]
    ) -> None:
        flow, clock, chat, _, _ = world
        chat.error = DeliveryError("Slack: 500")
        first = flow.trigger(alerts(1)[0])
        chat.error = None
        clock.advance(timedelta(seconds=5))
        flow.deliver_pending()  # the pause is over: tried, delivered
        second = flow.trigger(alerts(2)[1])
        assert {m.incident_id for m in chat.messages} == {first.id, second.id}


# ------------------------------------------------------------------------ the service


def storm_body(n: int) -> bytes:
    """One Alertmanager body of ``n`` critical alerts (the real sample's first, n times over)."""
    import copy
    import json
    from pathlib import Path

    sample = json.loads(
        (Path(__file__).with_name("samples") / "alertmanager_firing.json").read_text()
    )
    first = sample["alerts"][0]
    alerts = []
    for i in range(n):
        alert = copy.deepcopy(first)
        alert["labels"]["alertname"] = f"ServiceDown{i}"
        alert["fingerprint"] = f"{i:016x}"
        alerts.append(alert)
    sample["alerts"] = alerts
    return json.dumps(sample).encode()


@pytest.fixture(params=["sqlite", "postgres"])
def store_config(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[dict[str, str]]:
    """The service's ``[store]``: a SQLite file, or a fresh PostgreSQL schema."""
    from pathlib import Path

    if request.param == "sqlite":
        yield {"sqlite": str(Path(str(tmp_path)) / "x.db")}
        return
    dsn = request.getfixturevalue("postgres_dsn")
    with pg_schema(dsn) as schema:
        yield {"postgres": dsn, "schema": schema}


def test_with_slack_hanging_the_webhook_answers_and_every_page_goes_out(
    tmp_path: object, httpserver: object, store_config: dict[str, str]
) -> None:
    """20 P1s in one body while Slack does not answer: 202, then all 20 pages; Slack later."""
    import threading
    import time
    from pathlib import Path

    import httpx
    from pytest_httpserver import HTTPServer

    from incident_flow.server import async_flow, create_app
    from incident_flow.server._config import config_from_mapping

    from .test_server import Served
    from .vendors import CHANNEL, ROUTING_KEY, TOKEN, FakePagerDuty, FakeSlack

    slack_server = HTTPServer(threaded=True)  # a hanging post must not hold PagerDuty's
    slack_server.start()
    try:
        slack = FakeSlack(slack_server)
        slack.hold = threading.Event()
        pagerduty = FakePagerDuty(httpserver)  # type: ignore[arg-type]
        data = {
            "store": store_config,
            "slack": {"token": "${T}", "channel": CHANNEL, "api_url": slack.api_url},
            "pagerduty": {"routing_key": "${K}", "url": pagerduty.url},
            "sources": {"alertmanager": {"secret": "${AM}"}},
        }
        env = {"T": TOKEN, "K": ROUTING_KEY, "AM": "am-token"}
        config = config_from_mapping(data, environ=env, base=Path(str(tmp_path)))
        with Served(create_app(async_flow(config), config, worker=False)) as server:
            answer = httpx.post(
                f"{server.url}/webhooks/alertmanager",
                content=storm_body(20),
                headers={"Content-Type": "application/json", "X-Incident-Flow-Token": "am-token"},
                timeout=10,
            )
            assert answer.status_code == 202 and len(answer.json()["incidents"]) == 20
            assert slack.messages == []  # Slack has answered nothing yet...
            deadline = time.monotonic() + 10
            while len({e["dedup_key"] for e in pagerduty.events}) < 20:
                assert time.monotonic() < deadline, "all 20 pages"  # the condition, not a time
                time.sleep(0.02)
            assert slack.messages == []  # ...and every page is out all the same
            slack.hold.set()
        # Stopped (its deliveries drained): each first message posted once.
        keys = [m["metadata"]["event_payload"]["idempotency_key"] for m in slack.messages]
        assert len(keys) == len(set(keys)) and len(pagerduty.events) == 20
    finally:
        if slack.hold is not None:
            slack.hold.set()
        slack_server.clear()
        if slack_server.is_running():
            slack_server.stop()


# ------------------------------------------------------------- a pause is visible


class TestAPauseIsVisible:
    """/metrics and the timeline say which channel is paused, until when, and what it held."""

    def test_the_metrics_say_which_channel_is_paused_and_for_how_long(self) -> None:
        from incident_flow._delivery.pauses import Pauses
        from incident_flow.server._metrics import ServiceMetrics

        pauses, metrics = Pauses(), ServiceMetrics()
        metrics.observe_pauses(pauses, T0)
        text = metrics.text().decode()
        assert 'incident_flow_channel_paused{channel="chat"} 0.0' in text
        assert 'incident_flow_channel_pauses_total{channel="pager"} 0.0' in text
        pauses.failed("chat", T0, "Slack: 503")
        pauses.failed("chat", T0, "Slack: 503")  # a second failure in a row: 10 s
        pauses.failed("chat", T0, "Slack: invalid_blocks", permanent=True)  # not a pause
        metrics.observe_pauses(pauses, T0 + timedelta(seconds=4))
        text = metrics.text().decode()
        assert 'incident_flow_channel_paused{channel="chat"} 1.0' in text
        assert 'incident_flow_channel_paused_seconds{channel="chat"} 6.0' in text
        assert 'incident_flow_channel_paused{channel="pager"} 0.0' in text
        assert 'incident_flow_channel_pauses_total{channel="chat"} 2.0' in text
        # Scraped again: counted once; and once the pause is over the gauges fall back to 0.
        metrics.observe_pauses(pauses, T0 + timedelta(seconds=11))
        text = metrics.text().decode()
        assert 'incident_flow_channel_pauses_total{channel="chat"} 2.0' in text
        assert 'incident_flow_channel_paused{channel="chat"} 0.0' in text
        assert 'incident_flow_channel_paused_seconds{channel="chat"} 0.0' in text

    def test_a_channel_of_another_name_is_exported_too(self) -> None:
        from incident_flow._delivery.pauses import Pauses
        from incident_flow.server._metrics import ServiceMetrics

        pauses, metrics = Pauses(), ServiceMetrics()
        pauses.failed('sms"}\n', T0, "down", retry_after=30)  # label values are escaped
        metrics.observe_pauses(pauses, T0)
        text = metrics.text().decode()
        assert 'incident_flow_channel_paused{channel="sms\\"}\\n"} 1.0' in text
        assert 'incident_flow_channel_paused_seconds{channel="sms\\"}\\n"} 30.0' in text

    def test_show_says_a_message_was_held_by_a_pause(
        self, world: tuple[IncidentFlow, ManualClock, Channel, Channel, Journal]
    ) -> None:
        from zoneinfo import ZoneInfo

        from incident_flow.cli._main import _delivery_failed

        flow, _, chat, _, _ = world
        chat.error = DeliveryError("Slack: \x1b[2Jrate_limited", retry_after=120)
        first, second = [i for i in flow.trigger_all(alerts(2)) if i is not None]
        failed = [e for e in flow.history(first.id) if e.type == "DeliveryFailed"]
        held = [e for e in flow.history(second.id) if e.type == "DeliveryFailed"]
        utc = ZoneInfo("UTC")
        line = _delivery_failed(failed[0], utc)
        assert line.startswith("DeliveryFailed channel=chat, kind=notify, attempt=1, error=")
        assert "\x1b" not in line and "next attempt 10:02:00 UTC" in line
        line = _delivery_failed(held[0], utc)
        assert line.startswith("DeliveryHeld channel=chat, kind=notify, not tried: chat is paused")
        assert "until 10:02:00 UTC after: DeliveryError: Slack: \ufffd[2Jrate_limited" in line


def test_with_slack_limiting_the_service_shows_the_pause_in_metrics_and_show(
    tmp_path: object, httpserver: object
) -> None:
    """Slack answers 429 Retry-After 120: one try, the chat paused in /metrics, held in show."""
    import time
    from pathlib import Path

    import httpx
    from click.testing import CliRunner
    from werkzeug import Response

    from incident_flow.cli import main
    from incident_flow.server import async_flow, create_app
    from incident_flow.server._config import config_from_mapping

    from .test_server import Served
    from .vendors import CHANNEL, ROUTING_KEY, TOKEN, FakePagerDuty, FakeSlack

    slack = FakeSlack(httpserver)  # type: ignore[arg-type]
    slack.fail_next(
        Response(
            '{"ok": false, "error": "ratelimited"}', status=429, headers={"Retry-After": "120"}
        ),
        times=10,
    )
    pagerduty = FakePagerDuty(httpserver)  # type: ignore[arg-type]
    db = Path(str(tmp_path)) / "x.db"
    data = {
        "store": {"sqlite": str(db)},
        "slack": {"token": "${T}", "channel": CHANNEL, "api_url": slack.api_url},
        "pagerduty": {"routing_key": "${K}", "url": pagerduty.url},
        "sources": {"alertmanager": {"secret": "${AM}"}},
    }
    env = {"T": TOKEN, "K": ROUTING_KEY, "AM": "am-token"}
    config = config_from_mapping(data, environ=env, base=Path(str(tmp_path)))
    with Served(create_app(async_flow(config), config, worker=False)) as server:
        answer = httpx.post(
            f"{server.url}/webhooks/alertmanager",
            content=storm_body(3),
            headers={"Content-Type": "application/json", "X-Incident-Flow-Token": "am-token"},
            timeout=10,
        )
        assert answer.status_code == 202
        ids = answer.json()["incidents"]
        deadline = time.monotonic() + 10
        while True:  # until the outcomes are recorded (the condition, not a time)
            text = httpx.get(f"{server.url}/metrics", timeout=5).text
            if 'incident_flow_channel_paused{channel="chat"} 1.0' in text:
                break
            assert time.monotonic() < deadline, "the chat paused"
            time.sleep(0.02)
    assert 'incident_flow_channel_pauses_total{channel="chat"} 1.0' in text
    assert 'incident_flow_channel_paused{channel="pager"} 0.0' in text
    left = next(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith('incident_flow_channel_paused_seconds{channel="chat"}')
    )
    assert 0 < left <= 120
    assert slack.requests == 1 and slack.messages == []  # one try: the others were held
    assert len({e["dedup_key"] for e in pagerduty.events}) == 3  # every page out
    shown = [CliRunner().invoke(main, ["--db", str(db), "show", i, "--utc"]).output for i in ids]
    assert sum("DeliveryFailed channel=chat, kind=notify, attempt=1" in s for s in shown) == 1
    assert (
        sum("DeliveryHeld channel=chat, kind=notify, not tried: chat is paused" in s for s in shown)
        == 2
    )
