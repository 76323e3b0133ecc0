"""The Slack message's buttons follow the incident, and our forms open where Slack expects."""

from __future__ import annotations

import asyncio
import json

import pytest
from pytest_httpserver import HTTPServer

from incident_flow import AsyncSlackNotifier, DeliveryError, Notification, Severity, SlackNotifier
from incident_flow._delivery.slack_ui import decode, form_view
from incident_flow.adapters._http import AsyncHttpClient, HttpClient
from incident_flow.adapters.channels.slack import blocks, buttons, escape

from . import inbound
from .vendors import CHANNEL, TOKEN, AsyncSleeps, FakeSlack, Sleeps


def note(
    state: str, *, acked: str | None = None, kind: str = "update", text: str = ""
) -> Notification:
    return Notification(
        incident_id="inc-1",
        kind=kind,
        text=text,
        title="Checkout 5xx",
        severity=Severity.P1,
        state=state,
        idempotency_key="k",
        acknowledged_by=acked,
    )


def ids(message: Notification) -> list[str]:
    return [b["action_id"].removeprefix("incident_flow:") for b in buttons(message)]


class TestButtons:
    """Only the buttons that still apply; none once closed."""

    @pytest.mark.parametrize(
        ("state", "acked", "expected"),
        [
            ("notified", None, ["acknowledge", "start_runbook", "resolve", "note"]),
            ("notified", "alice", ["start_runbook", "resolve", "note"]),
            ("runbook", None, ["acknowledge", "resolve", "note"]),
            ("runbook", "alice", ["resolve", "note"]),
            ("resolved", None, ["note"]),
            ("postmortem", "alice", ["note"]),
            ("runbook_update", "alice", ["note"]),
            ("closed", "alice", []),
        ],
    )
    def test_by_state(self, state: str, acked: str | None, expected: list[str]) -> None:
        assert ids(note(state, acked=acked)) == expected

    def test_each_button_carries_the_incident(self) -> None:
        assert {b["value"] for b in buttons(note("notified"))} == {"inc-1"}
        assert buttons(note("notified"))[0]["style"] == "primary"

    def test_the_message_says_the_latest_and_who(self) -> None:
        layout = blocks(note("runbook", acked="a<b>&c", text="Resolved by alice: <!channel>"))
        text = json.dumps(layout)
        assert "a&lt;b&gt;&amp;c" in text  # a name is text in mrkdwn
        (latest,) = [b for b in layout if b["type"] == "context" and "Latest" in json.dumps(b)]
        assert latest["elements"][0] == {
            "type": "plain_text",  # plain text: Slack shows <!channel> as it is, pings nobody
            "text": "Latest: Resolved by alice: <!channel>",
        }
        assert [b["type"] for b in blocks(note("closed", kind="notify"))] == ["header", "section"]

    def test_escape(self) -> None:
        assert escape("<@U1> & <!here>") == "&lt;@U1&gt; &amp; &lt;!here&gt;"


class TestForms:
    """Resolve and Add note open a form (views.open) that carries the incident."""

    def test_the_view(self) -> None:
        view = form_view("resolve", "inc-1", "Checkout 5xx")
        assert view["callback_id"] == "incident_flow:resolve"
        assert view["private_metadata"] == "inc-1"
        assert len(view["title"]["text"]) <= 24
        assert view["blocks"][1]["optional"] is True
        assert form_view("note", "inc-1", "t")["blocks"][1]["optional"] is False

    def test_opened_on_a_press(self, httpserver: HTTPServer) -> None:
        slack = FakeSlack(httpserver)
        http = HttpClient(sleep=Sleeps(), timeout=5)
        notifier = SlackNotifier(token=TOKEN, channel=CHANNEL, api_url=slack.api_url, client=http)
        form, _ = inbound.slack_press("note", "inc-9", user="U1", trigger="trig-1")
        assert notifier.open_form(form) is True
        (opened,) = slack.views
        assert opened["view"]["callback_id"] == "incident_flow:note"
        assert opened["view"]["blocks"][0]["elements"][0]["text"].startswith("inc-9: ")
        ack, _ = inbound.slack_press("acknowledge", "inc-9", user="U1", trigger="trig-2")
        for other in (
            ack,
            b"not a form",
            b"payload=%7B%7D",
            inbound.sample("slack_block_actions.json"),
        ):
            assert notifier.open_form(other) is False
        assert len(slack.views) == 1
        http.close()

    def test_slack_refusing_is_a_delivery_error(self, httpserver: HTTPServer) -> None:
        slack = FakeSlack(httpserver)
        http = HttpClient(sleep=Sleeps(), timeout=5)
        wrong = "xoxb-wrong-token-000"
        notifier = SlackNotifier(token=wrong, channel=CHANNEL, api_url=slack.api_url, client=http)
        form, _ = inbound.slack_press("resolve", "inc-9", user="U1", trigger="t")
        with pytest.raises(DeliveryError, match=r"Slack views\.open: invalid_auth"):
            notifier.open_form(form)
        http.close()

    def test_a_webhook_notifier_cannot_open_forms(self) -> None:
        notifier = SlackNotifier(webhook_url="https://hooks.slack.com/services/T1/B2/xyz")
        form, _ = inbound.slack_press("resolve", "inc-9", user="U1", trigger="t")
        with pytest.raises(DeliveryError, match="needs a bot token"):
            notifier.open_form(form)

    def test_async(self, httpserver: HTTPServer) -> None:
        slack = FakeSlack(httpserver)

        async def press() -> bool:
            http = AsyncHttpClient(sleep=AsyncSleeps(), timeout=5)
            notifier = AsyncSlackNotifier(
                token=TOKEN, channel=CHANNEL, api_url=slack.api_url, client=http
            )
            form, _ = inbound.slack_press("resolve", "inc-3", user="U1", trigger="t")
            try:
                return await notifier.open_form(form.decode())
            finally:
                await http.aclose()

        assert asyncio.run(press()) is True
        assert slack.views[0]["view"]["private_metadata"] == "inc-3"


class TestDecode:
    """Slack's bodies as data: payload forms, command forms, JSON or a framework's mapping."""

    def test_every_shape(self) -> None:
        assert decode({"payload": '{"type": "x"}'}) == {"type": "x"}
        assert decode({"command": "/incident"}) == {"command": "/incident"}
        assert decode(b' {"type": "y"}') == {"type": "y"}
        assert decode("command=%2Fincident&text=ack+inc-1") == {
            "command": "/incident",
            "text": "ack inc-1",
        }
        for bad in ("", "[1]", "payload=[1]"):
            with pytest.raises(ValueError, match="Slack"):
                decode(bad)
