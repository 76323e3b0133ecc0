"""Two-way, end to end over real HTTP: what responders do in PagerDuty, Opsgenie, Slack and
GitHub comes back into the incident through the example receiver (``POST /actions/<source>``),
with our channels talking to the local vendor servers.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from pytest_httpserver import HTTPServer

from incident_flow import (
    Alert,
    IncidentFlow,
    OpsgeniePager,
    PagerDutyPager,
    Person,
    Policy,
    SlackNotifier,
    SQLiteStore,
)
from incident_flow.adapters._http import HttpClient
from incident_flow.adapters.channels.pagerduty import summary
from incident_flow.testing import ManualClock

from . import inbound
from .conftest import T0, PullRequestPublisher
from .vendors import (
    CHANNEL,
    GENIE_KEY,
    ROUTING_KEY,
    TOKEN,
    FakeOpsgenie,
    FakePagerDuty,
    FakeSlack,
    Sleeps,
)

P1 = Alert(source="datadog", name="CheckoutHighErrorRate", title="Checkout 5xx", severity="P1")
PEOPLE = [
    Person(name="alice", slack="U024BE7LH", pagerduty="PXPGF42", opsgenie="alice@example.com"),
    Person(name="bob", slack="U0BOB", github="bob-gh"),
]


def load_receiver() -> Any:
    path = Path(__file__).parents[1] / "examples" / "webhook_receiver.py"
    spec = importlib.util.spec_from_file_location("webhook_receiver_two_way", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Service:
    """Our side: a flow on SQLite with real channels, behind the receiver on 127.0.0.1."""

    def __init__(self, tmp_path: Path, pager: Any, slack: FakeSlack, client: HttpClient) -> None:
        self.clock = ManualClock(T0)
        self.slack = SlackNotifier(
            token=TOKEN, channel=CHANNEL, api_url=slack.api_url, client=client
        )
        self.flow = IncidentFlow(
            Policy(people=PEOPLE),
            store=SQLiteStore(tmp_path / "incidents.db"),
            notifier=self.slack,
            pager=pager,
            publisher=PullRequestPublisher(),
            clock=self.clock,
        )
        secrets = {
            "pagerduty": inbound.PD_SECRET,
            "slack": inbound.SLACK_SECRET,
            "github": inbound.GITHUB_SECRET,
            "opsgenie": inbound.OPSGENIE_TOKEN,
        }
        module = load_receiver()
        receiver = module.Receiver(
            self.flow, secrets, slack=self.slack, slack_team=inbound.SLACK_TEAM
        )
        self.http = module.make_server(receiver)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def post(self, source: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        request = urllib.request.Request(  # noqa: S310 - our own http://127.0.0.1 server
            f"{self.url}/actions/{source}", data=body, method="POST", headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.flow.store.close()  # type: ignore[attr-defined]


@pytest.fixture
def client() -> Iterator[HttpClient]:
    http = HttpClient(sleep=Sleeps(), timeout=5)
    yield http
    http.close()


@pytest.fixture
def fake_slack(httpserver: HTTPServer) -> FakeSlack:
    return FakeSlack(httpserver)


@pytest.fixture
def fake_pd(httpserver: HTTPServer) -> FakePagerDuty:
    return FakePagerDuty(httpserver)


@pytest.fixture
def with_pagerduty(
    tmp_path: Path, fake_pd: FakePagerDuty, fake_slack: FakeSlack, client: HttpClient
) -> Iterator[Service]:
    service = Service(
        tmp_path, PagerDutyPager(ROUTING_KEY, url=fake_pd.url, client=client), fake_slack, client
    )
    yield service
    service.close()


def buttons(message: dict[str, Any]) -> list[str]:
    return [
        element["action_id"]
        for block in message.get("blocks", [])
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def page_title(service: Service, incident_id: str, pd: FakePagerDuty) -> str:
    """The title PagerDuty gave its incident: the summary our page sent."""
    (trigger,) = [
        e for e in pd.events if e["event_action"] == "trigger" and e["dedup_key"] == incident_id
    ]
    return str(trigger["payload"]["summary"])


class TestPagerDuty:
    """A P1 acknowledged in the PagerDuty app: escalation stops, MTTA is PagerDuty's."""

    def test_an_ack_in_pagerduty_comes_back(
        self, with_pagerduty: Service, fake_pd: FakePagerDuty, fake_slack: FakeSlack
    ) -> None:
        service = with_pagerduty
        incident = service.flow.trigger(P1)
        title = page_title(service, incident.id, fake_pd)
        assert title == f"[P1] Checkout 5xx [{incident.id}]"
        (parent,) = fake_slack.top_level()
        assert buttons(parent) == [
            "incident_flow:acknowledge",
            "incident_flow:start_runbook",
            "incident_flow:resolve",
            "incident_flow:note",
        ]
        service.clock.advance(100)
        acked_at = T0 + timedelta(seconds=90)
        body, headers = inbound.pagerduty(
            "acknowledged",
            title,
            agent="PXPGF42",
            occurred_at=acked_at.isoformat(),
            webhook_id="w1",
        )
        status, answer = service.post("pagerduty", body, headers)
        assert (status, answer) == (
            202,
            {"incidents": [{"id": incident.id, "state": "notified"}], "unknown": []},
        )
        acked = service.flow.get(incident.id)
        assert acked.acknowledged_by == "alice"
        assert acked.acknowledged_at == acked_at  # MTTA counts to PagerDuty's ack
        # Its escalation stopped: the timeout passes and nobody is paged again.
        service.clock.advance(timedelta(minutes=30))
        assert service.flow.escalate_due() == []
        assert fake_pd.actions(incident.id) == ["trigger"]  # the ack is not sent back
        latest = fake_slack.latest(parent["ts"])
        assert "*Acknowledged by:*\nalice" in json.dumps(latest["blocks"]).replace("\\n", "\n")
        assert "incident_flow:acknowledge" not in buttons(latest)
        replies = [m["text"] for m in fake_slack.thread(parent["ts"])]
        assert replies == ["Acknowledged by alice"]
        # PagerDuty retries the same delivery: applied once.
        version = acked.version
        assert service.post("pagerduty", body, headers)[0] == 202
        assert service.flow.get(incident.id).version == version
        # A forged one is refused, and changes nothing.
        note, note_headers = inbound.pagerduty(
            "annotated", title, content="forged", webhook_id="w2"
        )
        forged = {**note_headers, "X-PagerDuty-Signature": "v1=" + "0" * 64}
        assert service.post("pagerduty", note, forged)[0] == 401
        assert service.flow.get(incident.id).version == version

    def test_the_echo_of_a_slack_ack_we_mirrored_does_nothing(
        self, with_pagerduty: Service, fake_pd: FakePagerDuty, fake_slack: FakeSlack
    ) -> None:
        service = with_pagerduty
        incident = service.flow.trigger(P1)
        form, headers = inbound.slack_press("acknowledge", incident.id, user="U0BOB", trigger="t1")
        assert service.post("slack", form, headers) == (
            200,
            {"response_type": "ephemeral", "text": f"{incident.id} is notified"},
        )
        assert service.flow.get(incident.id).acknowledged_by == "bob"
        assert fake_pd.actions(incident.id) == ["trigger", "acknowledge"]  # mirrored once
        posted = len(fake_slack.messages)
        version = service.flow.get(incident.id).version
        # PagerDuty tells us about the acknowledgement we just sent it.
        echo, echo_headers = inbound.pagerduty(
            "acknowledged",
            page_title(service, incident.id, fake_pd),
            agent="PSERVICE",
            webhook_id="w9",
        )
        assert service.post("pagerduty", echo, echo_headers)[0] == 202
        assert service.flow.get(incident.id).version == version  # no second ack
        assert len(fake_slack.messages) == posted  # no second Slack message
        assert fake_pd.actions(incident.id) == ["trigger", "acknowledge"]  # no loop

    def test_resolve_from_the_slack_form_is_mirrored_once(
        self, with_pagerduty: Service, fake_pd: FakePagerDuty, fake_slack: FakeSlack
    ) -> None:
        service = with_pagerduty
        incident = service.flow.trigger(P1)
        form, headers = inbound.slack_press("resolve", incident.id, user="U024BE7LH", trigger="t2")
        assert service.post("slack", form, headers) == (200, {})
        (opened,) = fake_slack.views
        assert opened["trigger_id"] == "t2"
        assert opened["view"]["private_metadata"] == incident.id
        assert service.flow.get(incident.id).state == "notified"  # nothing yet: the form is open
        submit, submit_headers = inbound.slack_submit(
            "resolve", incident.id, "rolled back the deploy", user="U024BE7LH", view="V1"
        )
        assert service.post("slack", submit, submit_headers)[0] == 200
        assert service.post("slack", submit, submit_headers)[0] == 200  # a double submit
        resolved = service.flow.get(incident.id)
        assert (resolved.state, resolved.resolved_at) == ("resolved", T0)
        assert fake_pd.actions(incident.id) == ["trigger", "resolve"]
        (parent,) = fake_slack.top_level()
        assert buttons(fake_slack.latest(parent["ts"])) == ["incident_flow:note"]
        replies = [m["text"] for m in fake_slack.thread(parent["ts"])]
        assert replies == ["Resolved by alice: rolled back the deploy"]
        # PagerDuty's webhook about the resolve we mirrored: nothing.
        echo, echo_headers = inbound.pagerduty(
            "resolved", page_title(service, incident.id, fake_pd)
        )
        version = resolved.version
        assert service.post("pagerduty", echo, echo_headers)[0] == 202
        assert service.flow.get(incident.id).version == version

    def test_a_mistyped_slash_command_gets_its_usage(self, with_pagerduty: Service) -> None:
        fields = {
            **inbound.sample("slack_slash_command_fields.json"),
            "team_id": inbound.SLACK_TEAM,
            "command": "/incident",
            "text": "dance",
        }
        form = urlencode(fields).encode()
        headers = inbound.slack_signed(form)
        status, answer = with_pagerduty.post("slack", form, headers)
        assert status == 200 and answer["text"].startswith("usage: /incident ack ID")
        assert (
            with_pagerduty.post("slack", form, {**headers, "X-Slack-Signature": "v0=00"})[0] == 401
        )


class TestOpsgenie:
    """An Opsgenie Close resolves; the close is not sent back to Opsgenie."""

    def test_close_in_opsgenie_resolves(
        self, tmp_path: Path, httpserver: HTTPServer, fake_slack: FakeSlack, client: HttpClient
    ) -> None:
        opsgenie = FakeOpsgenie(httpserver)
        service = Service(
            tmp_path, OpsgeniePager(GENIE_KEY, url=opsgenie.url, client=client), fake_slack, client
        )
        try:
            incident = service.flow.trigger(P1)
            assert [c[0] for c in opsgenie.calls] == ["create"]
            body = inbound.opsgenie(
                "Close", incident.id, user="alice@example.com", updated_ns=1_764_000_000_000_000_000
            )
            status, answer = service.post("opsgenie", body, inbound.opsgenie_headers())
            assert status == 202 and answer["incidents"] == [
                {"id": incident.id, "state": "resolved"}
            ]
            resolved = service.flow.get(incident.id)
            assert resolved.state == "resolved"
            assert [
                e.by for e in service.flow.history(incident.id) if e.type == "IncidentResolved"
            ] == ["alice"]
            assert [c[0] for c in opsgenie.calls] == ["create"]  # no close sent back
            assert service.post("opsgenie", body, inbound.opsgenie_headers())[0] == 202  # a retry
            assert service.flow.get(incident.id).version == resolved.version
            assert service.post("opsgenie", body, {"X-Incident-Flow-Token": "wrong"})[0] == 401
        finally:
            service.close()


class TestGitHub:
    """A review on the post-mortem's pull request counts as the reviewer's approval."""

    def test_approval_by_review(self, with_pagerduty: Service) -> None:
        service = with_pagerduty
        incident = service.flow.trigger(P1)
        service.flow.resolve(incident.id, by="alice")
        service.flow.start_postmortem(
            incident.id, author="alice", impact="checkout failed", root_cause="a bad deploy"
        )
        service.flow.submit_postmortem(incident.id, by="alice")
        body, headers = inbound.github(
            "pull_request_review",
            "pull_request_review_approved",
            incident.id,
            login="bob-gh",
            delivery="g1",
        )
        assert service.post("github", body, headers)[0] == 202
        assert service.post("github", body, headers)[0] == 202  # redelivered from the settings page
        pm = service.flow.get(incident.id).postmortem
        assert pm is not None and pm.approvals == ("bob",)
        stranger, stranger_headers = inbound.github(
            "pull_request_review",
            "pull_request_review_approved",
            "inc-000000000000",
            login="x",
            delivery="g2",
        )
        assert service.post("github", stranger, stranger_headers) == (
            202,
            {"incidents": [], "unknown": ["inc-000000000000"]},
        )


def test_the_page_summary_keeps_the_reference_when_cut() -> None:
    """A long title is cut, never the incident's reference PagerDuty hands back."""
    from incident_flow import Notification, Severity

    message = Notification(
        incident_id="inc-3f2a9c1d0b7e",
        kind="page",
        text="",
        title="x" * 2000,
        severity=Severity.P1,
        state="notified",
        idempotency_key="k",
    )
    text = summary(message)
    assert len(text) == 1024 and text.endswith(" [inc-3f2a9c1d0b7e]")
