"""Slack and PagerDuty adapters against local servers that answer like the vendors."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import attrs
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from incident_flow import (
    Alert,
    DeliveryError,
    IncidentFlow,
    InvalidSignature,
    MemoryStore,
    OpsgeniePager,
    PagerDutyPager,
    SlackNotifier,
    WebhookNotifier,
    ingest,
)
from incident_flow.adapters._http import HttpClient
from incident_flow.events import event_to_dict
from incident_flow.testing import ManualClock, RecordingPublisher
from incident_flow.testing.contracts import NotifierContract

from .conftest import T0
from .vendors import (
    CHANNEL,
    GENIE_KEY,
    HOOK_SECRET,
    ROUTING_KEY,
    SERVER_ERROR,
    TOKEN,
    TOO_MANY,
    TOO_MANY_LONG,
    FakeOpsgenie,
    FakePagerDuty,
    FakeSlack,
    FakeWebhookReceiver,
    Sleeps,
)

P1 = Alert(
    source="datadog",
    name="CheckoutHighErrorRate",
    title="Checkout 5xx above 5%",
    severity="P1",
    url="https://app.datadoghq.com/monitors/1",
)
_ACTION_KINDS = {"trigger": "page", "acknowledge": "ack", "resolve": "resolve"}


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_client(sleeps: Sleeps) -> Iterator[Callable[..., HttpClient]]:
    made: list[HttpClient] = []

    def make(**settings: Any) -> HttpClient:
        made.append(HttpClient(sleep=sleeps, timeout=5, **settings))
        return made[-1]

    yield make
    for http in made:
        http.close()


@pytest.fixture
def client(make_client: Callable[..., HttpClient]) -> HttpClient:
    return make_client()


@pytest.fixture
def slack(httpserver: HTTPServer) -> FakeSlack:
    return FakeSlack(httpserver)


@pytest.fixture
def pagerduty(httpserver: HTTPServer) -> FakePagerDuty:
    return FakePagerDuty(httpserver)


class TestHttpClient:
    """Retries for 5xx and network errors, Retry-After on 429, no retry on 4xx."""

    def test_5xx_then_success(
        self, httpserver: HTTPServer, client: HttpClient, sleeps: Sleeps
    ) -> None:
        httpserver.expect_ordered_request("/x").respond_with_response(SERVER_ERROR)
        httpserver.expect_ordered_request("/x").respond_with_json({"ok": True})
        assert client.post(httpserver.url_for("/x"), {"a": 1}, what="test").json() == {"ok": True}
        assert len(sleeps.waits) == 1 and 0.5 <= sleeps.waits[0] <= 0.75

    def test_5xx_until_out_of_retries(self, httpserver: HTTPServer, client: HttpClient) -> None:
        httpserver.expect_request("/x").respond_with_response(SERVER_ERROR)
        with pytest.raises(DeliveryError, match="test: HTTP 500: internal error") as info:
            client.post(httpserver.url_for("/x"), {}, what="test")
        assert not info.value.permanent
        assert len(httpserver.log) == 3

    def test_short_retry_after_is_waited_out(
        self, httpserver: HTTPServer, client: HttpClient, sleeps: Sleeps
    ) -> None:
        httpserver.expect_ordered_request("/x").respond_with_response(TOO_MANY)
        httpserver.expect_ordered_request("/x").respond_with_json({"ok": True})
        client.post(httpserver.url_for("/x"), {}, what="test")
        assert sleeps.waits == [1.0]

    def test_long_retry_after_goes_back_to_the_outbox(
        self, httpserver: HTTPServer, client: HttpClient
    ) -> None:
        httpserver.expect_request("/x").respond_with_response(TOO_MANY_LONG)
        with pytest.raises(DeliveryError, match="rate limited") as info:
            client.post(httpserver.url_for("/x"), {}, what="test")
        assert info.value.retry_after == 120.0
        assert len(httpserver.log) == 1

    def test_4xx_is_not_retried_and_says_why(
        self, httpserver: HTTPServer, client: HttpClient
    ) -> None:
        httpserver.expect_request("/x").respond_with_data("invalid_payload", status=400)
        with pytest.raises(DeliveryError, match="HTTP 400: invalid_payload") as info:
            client.post(httpserver.url_for("/x"), {}, what="test")
        assert info.value.permanent
        assert len(httpserver.log) == 1

    def test_network_errors_are_retried_then_reported(
        self, client: HttpClient, sleeps: Sleeps
    ) -> None:
        with pytest.raises(DeliveryError, match="ConnectError"):
            client.post("http://127.0.0.1:1/x", {}, what="test")
        assert len(sleeps.waits) == 2

    def test_secrets_never_reach_an_error(
        self, httpserver: HTTPServer, make_client: Callable[..., HttpClient]
    ) -> None:
        secret_url = httpserver.url_for("/services/T1/B2/very-secret-part")
        client = make_client(secrets=[secret_url, "very-secret-part"])
        httpserver.expect_request("/services/T1/B2/very-secret-part").respond_with_data(
            "bad very-secret-part", status=404
        )
        with pytest.raises(DeliveryError) as info:
            client.post(secret_url, {}, what=f"posting to {secret_url}")
        assert "very-secret-part" not in str(info.value)


class TestPagerDutyContract(NotifierContract):
    """PagerDutyPager takes pages, acknowledgements and resolutions."""

    kinds = ("page", "ack", "resolve")

    @pytest.fixture
    def notifier(self, pagerduty: FakePagerDuty, client: HttpClient) -> PagerDutyPager:
        return PagerDutyPager(ROUTING_KEY, url=pagerduty.url, client=client)

    @pytest.fixture
    def received(self, pagerduty: FakePagerDuty) -> Callable[[], list[tuple[str, str]]]:
        return lambda: [
            (e["dedup_key"], _ACTION_KINDS[e["event_action"]]) for e in pagerduty.events
        ]


class TestSlackTokenContract(NotifierContract):
    """SlackNotifier with a bot token posts every kind it is given."""

    @pytest.fixture
    def notifier(self, slack: FakeSlack, client: HttpClient) -> SlackNotifier:
        return SlackNotifier(token=TOKEN, channel=CHANNEL, api_url=slack.api_url, client=client)

    @pytest.fixture
    def received(self, slack: FakeSlack) -> Callable[[], list[tuple[str, str]]]:
        def seen() -> list[tuple[str, str]]:
            payloads = [m["metadata"]["event_payload"] for m in slack.messages]
            return [(p["incident_id"], p["kind"]) for p in payloads]

        return seen


class TestLookBeforePostingAgain:
    """A message sent again is looked for among everything posted since it was decided."""

    def _busy(self, slack: FakeSlack, client: HttpClient, newer: int) -> tuple[Any, Any]:
        notifier = SlackNotifier(token=TOKEN, channel=CHANNEL, api_url=slack.api_url, client=client)
        first = attrs.evolve(NotifierContract.message("notify"), since=T0)
        notifier.send(first)
        for n in range(newer):  # a busy channel: other incidents' messages after ours
            notifier.send(NotifierContract.message("notify", n, incident_id=f"inc-{n}"))
        return notifier, first

    def test_found_behind_more_than_a_page_of_newer_messages(
        self, slack: FakeSlack, client: HttpClient
    ) -> None:
        notifier, first = self._busy(slack, client, 250)
        reads = slack.reads
        receipt = notifier.send(attrs.evolve(first, resent=True))
        assert len(slack.top_level()) == 251  # not posted a second time
        assert receipt == f"{CHANNEL}:{slack.top_level()[0]['ts']}"
        assert slack.reads - reads == 2  # 200 newest, then the rest: ours among them

    def test_the_look_starts_where_the_message_was_decided(
        self, slack: FakeSlack, client: HttpClient, httpserver: HTTPServer
    ) -> None:
        notifier, first = self._busy(slack, client, 0)
        notifier.send(attrs.evolve(first, resent=True))
        (read,) = [r for r, _ in httpserver.log if "conversations.history" in r.path]
        assert float(read.args["oldest"]) == T0.timestamp() - 300  # a margin for clocks
        assert read.args["limit"] == "200"

    def test_not_found_is_posted(self, slack: FakeSlack, client: HttpClient) -> None:
        notifier, _ = self._busy(slack, client, 3)
        other = attrs.evolve(NotifierContract.message("notify", 9), resent=True, since=T0)
        notifier.send(other)
        assert len(slack.top_level()) == 5


class TestSlackWebhookContract(NotifierContract):
    """SlackNotifier with an incoming webhook posts every kind it is given."""

    @pytest.fixture
    def notifier(self, slack: FakeSlack, client: HttpClient) -> SlackNotifier:
        return SlackNotifier(webhook_url=slack.webhook_url, client=client)

    @pytest.fixture
    def received(self, slack: FakeSlack) -> Callable[[], list[tuple[str, str]]]:
        def seen() -> list[tuple[str, str]]:
            ids = [body["blocks"][0]["block_id"].split(":") for body in slack.hook]
            return [(incident, kind) for _, incident, kind in ids]

        return seen


def make_flow(
    slack: FakeSlack, pagerduty: FakePagerDuty, client: HttpClient, store: MemoryStore | None = None
) -> tuple[IncidentFlow, ManualClock]:
    clock = ManualClock(T0)
    flow = IncidentFlow(
        store=store or MemoryStore(),
        notifier=SlackNotifier(token=TOKEN, channel=CHANNEL, api_url=slack.api_url, client=client),
        pager=PagerDutyPager(ROUTING_KEY, url=pagerduty.url, client=client),
        publisher=RecordingPublisher(),
        clock=clock,
    )
    return flow, clock


class TestThroughTheFlow:
    """The adapters under IncidentFlow: threads, mirrors, failures kept and retried."""

    def test_p1_end_to_end(
        self, slack: FakeSlack, pagerduty: FakePagerDuty, client: HttpClient
    ) -> None:
        flow, _ = make_flow(slack, pagerduty, client)
        incident = flow.trigger(P1)
        flow.acknowledge(incident.id, by="alice")
        flow.start_runbook(incident.id, by="alice")
        flow.note(incident.id, "rolling back", by="alice")
        flow.resolve(incident.id, by="alice", summary="rolled back")
        flow.start_postmortem(
            incident.id, author="alice", impact="checkout failed", root_cause="a bad deploy"
        )
        flow.submit_postmortem(incident.id, by="alice")
        flow.approve_postmortem(incident.id, reviewer="bob")
        flow.approve_postmortem(incident.id, reviewer="carol")
        flow.waive_action_item(incident.id, "AI-1", by="alice", reason="runbook exists elsewhere")
        flow.close(incident.id, by="alice")
        (parent,) = slack.top_level()
        replies = [m["text"] for m in slack.thread(parent["ts"])]
        assert replies[:5] == [
            "Acknowledged by alice",
            "No runbook for 'CheckoutHighErrorRate': action item raised to add one",
            "alice: rolling back",
            "Resolved by alice: rolled back",
            "Post-mortem started by alice",
        ]
        assert replies[5:8] == [
            "Post-mortem submitted for review by alice",
            "Post-mortem approved by bob (1 of 2)",
            "Post-mortem approved by carol (2 of 2)",
        ]
        assert replies[8].startswith("Post-mortem published: memory://postmortems/")
        assert replies[9:] == ["Closed by alice"]
        assert slack.edits[-1]["ts"] == parent["ts"]
        assert "closed" in slack.edits[-1]["text"]
        assert pagerduty.actions(incident.id) == ["trigger", "acknowledge", "resolve"]
        assert pagerduty.triggers == {incident.id: 1}
        assert flow.get(incident.id).chat_thread == f"{CHANNEL}:{parent['ts']}"

    def test_slack_ok_false_is_a_failed_delivery(
        self, slack: FakeSlack, pagerduty: FakePagerDuty, client: HttpClient
    ) -> None:
        flow, clock = make_flow(slack, pagerduty, client)
        slack.fail_next(
            Response(
                '{"ok": false, "error": "channel_not_found"}',
                status=200,
                content_type="application/json",
            )
        )
        incident = flow.trigger(P1)
        (failed,) = [e for e in flow.history(incident.id) if e.type == "DeliveryFailed"]
        assert failed.error == "DeliveryError: Slack chat.postMessage: channel_not_found"  # type: ignore[attr-defined]
        assert pagerduty.triggers == {incident.id: 1}
        clock.advance(10)
        assert flow.deliver_pending() == 1
        assert len(slack.top_level()) == 1

    def test_rate_limit_is_honoured_through_the_outbox(
        self, slack: FakeSlack, pagerduty: FakePagerDuty, client: HttpClient
    ) -> None:
        flow, clock = make_flow(slack, pagerduty, client)
        pagerduty.fail_next(TOO_MANY_LONG)
        incident = flow.trigger(P1)
        (failed,) = [e for e in flow.history(incident.id) if e.type == "DeliveryFailed"]
        assert failed.next_attempt_at == T0 + timedelta(seconds=120)  # type: ignore[attr-defined]
        clock.advance(119)
        assert flow.deliver_pending() == 0
        clock.advance(1)
        assert flow.deliver_pending() == 1
        assert pagerduty.triggers == {incident.id: 1}

    def test_a_500_once_duplicates_nothing(
        self, slack: FakeSlack, pagerduty: FakePagerDuty, client: HttpClient
    ) -> None:
        flow, clock = make_flow(slack, pagerduty, client)
        slack.fail_next(SERVER_ERROR)
        pagerduty.fail_next(SERVER_ERROR)
        incident = flow.trigger(P1)
        # PagerDuty dedups, so its 500 was retried at once; Slack does not, so its post goes
        # back to the outbox and is looked up before it is sent again.
        assert pagerduty.actions(incident.id) == ["trigger"]
        failed = [e for e in flow.history(incident.id) if e.type == "DeliveryFailed"]
        assert [e.kind for e in failed] == ["notify"]  # type: ignore[attr-defined]
        assert slack.top_level() == []
        clock.advance(5)
        assert flow.deliver_pending() == 1
        assert slack.reads == 1
        assert len(slack.top_level()) == 1

    def test_a_timeout_after_slack_took_the_post_is_not_posted_twice(
        self, slack: FakeSlack, pagerduty: FakePagerDuty, sleeps: Sleeps
    ) -> None:
        import httpx

        class SlowSlack(httpx.HTTPTransport):
            """Slack takes the post, then the answer never comes back (a read timeout)."""

            calls = 0

            def handle_request(self, request: httpx.Request) -> httpx.Response:
                response = super().handle_request(request)
                if request.url.path.endswith("chat.postMessage") and SlowSlack.calls == 0:
                    SlowSlack.calls += 1
                    response.close()
                    raise httpx.ReadTimeout("read timed out", request=request)
                return response

        client = HttpClient(sleep=sleeps, transport=SlowSlack())
        try:
            flow, clock = make_flow(slack, pagerduty, client)
            incident = flow.trigger(P1)
            assert len(slack.top_level()) == 1  # posted once, the answer lost
            clock.advance(5)
            flow.deliver_pending()
            assert len(slack.top_level()) == 1  # found by its metadata, not posted again
            thread = f"{CHANNEL}:{slack.top_level()[0]['ts']}"
            assert flow.get(incident.id).chat_thread == thread
        finally:
            client.close()

    def test_invalid_event_reports_pagerdutys_errors(
        self, slack: FakeSlack, pagerduty: FakePagerDuty, client: HttpClient
    ) -> None:
        clock = ManualClock(T0)
        flow = IncidentFlow(
            pager=PagerDutyPager("wrong-key-0000", url=pagerduty.url, client=client),
            notifier=SlackNotifier(
                token=TOKEN, channel=CHANNEL, api_url=slack.api_url, client=client
            ),
            publisher=RecordingPublisher(),
            clock=clock,
        )
        incident = flow.trigger(P1)
        (failed,) = [e for e in flow.history(incident.id) if e.type == "DeliveryFailed"]
        assert "HTTP 400" in failed.error and "'routing_key' is invalid" in failed.error  # type: ignore[attr-defined]

    def test_secrets_stay_out_of_reprs_events_and_errors(
        self, slack: FakeSlack, pagerduty: FakePagerDuty, client: HttpClient
    ) -> None:
        flow, _ = make_flow(slack, pagerduty, client)
        slack.fail_next(Response(f"token {TOKEN} rejected", status=403))
        pagerduty.fail_next(Response(f"key {ROUTING_KEY} rejected", status=403))
        incident = flow.trigger(P1)
        text = repr(flow) + repr(flow.notifier) + repr(flow.pager)
        text += repr([event_to_dict(e) for e in flow.history(incident.id)])
        assert TOKEN not in text and ROUTING_KEY not in text
        assert "***" in repr(flow.notifier)
        hook = SlackNotifier(webhook_url=slack.webhook_url, client=client)
        assert slack.webhook_url not in repr(hook)


class TestConstruction:
    """Clear errors for a wrong configuration."""

    def test_slack_needs_one_mode(self) -> None:
        with pytest.raises(ValueError, match="either webhook_url or token"):
            SlackNotifier()
        with pytest.raises(ValueError, match="either webhook_url or token"):
            SlackNotifier(webhook_url="https://hooks.slack.com/x", token="xoxb-1")  # noqa: S106
        with pytest.raises(ValueError, match="needs the channel"):
            SlackNotifier(token="xoxb-1")  # noqa: S106

    def test_pagerduty_needs_a_key(self) -> None:
        with pytest.raises(ValueError, match="routing key"):
            PagerDutyPager(" ")


@pytest.fixture
def opsgenie(httpserver: HTTPServer) -> FakeOpsgenie:
    return FakeOpsgenie(httpserver)


@pytest.fixture
def hooks(httpserver: HTTPServer) -> FakeWebhookReceiver:
    return FakeWebhookReceiver(httpserver)


class TestOpsgenieContract(NotifierContract):
    """OpsgeniePager takes pages, acknowledgements and resolutions."""

    kinds = ("page", "ack", "resolve")

    @pytest.fixture
    def notifier(self, opsgenie: FakeOpsgenie, client: HttpClient) -> OpsgeniePager:
        return OpsgeniePager(GENIE_KEY, url=opsgenie.url, client=client)

    @pytest.fixture
    def received(self, opsgenie: FakeOpsgenie) -> Callable[[], list[tuple[str, str]]]:
        kinds = {"create": "page", "acknowledge": "ack", "close": "resolve"}
        return lambda: [(alias, kinds[action]) for action, alias, _ in opsgenie.calls]


class TestWebhookContract(NotifierContract):
    """WebhookNotifier posts every kind as a signed event."""

    @pytest.fixture
    def notifier(self, hooks: FakeWebhookReceiver, client: HttpClient) -> WebhookNotifier:
        return WebhookNotifier(hooks.url, secret=HOOK_SECRET, client=client)

    @pytest.fixture
    def received(self, hooks: FakeWebhookReceiver) -> Callable[[], list[tuple[str, str]]]:
        def seen() -> list[tuple[str, str]]:
            events = [json.loads(body) for _, body in hooks.received]
            return [(e["incident_id"], e["kind"]) for e in events]

        return seen


class TestOpsgenieAndWebhook:
    """Native priorities, alias dedup, signed and verifiable events."""

    def test_opsgenie_lifecycle(self, opsgenie: FakeOpsgenie, client: HttpClient) -> None:
        flow = IncidentFlow(
            pager=OpsgeniePager(GENIE_KEY, url=opsgenie.url, client=client),
            publisher=RecordingPublisher(),
            clock=ManualClock(T0),
        )
        incident = flow.trigger(attrs.evolve(P1, severity="P2"))
        flow.trigger(attrs.evolve(P1, severity="P2"))  # a repeat: no second page
        flow.acknowledge(incident.id, by="alice")
        flow.resolve(incident.id, by="alice")
        assert [(a, alias) for a, alias, _ in opsgenie.calls] == [
            ("create", incident.id),
            ("acknowledge", incident.id),
            ("close", incident.id),
        ]
        created = opsgenie.calls[0][2]
        assert created["priority"] == "P2" and created["alias"] == incident.id
        assert opsgenie.calls[1][2]["user"] == "alice"
        assert opsgenie.alerts[incident.id]["status"] == "closed"
        assert GENIE_KEY not in repr(flow.pager)

    def test_opsgenie_wrong_key(self, opsgenie: FakeOpsgenie, client: HttpClient) -> None:
        pager = OpsgeniePager("not-the-key", url=opsgenie.url, client=client)
        with pytest.raises(DeliveryError, match=r"HTTP 401: .*Could not authenticate"):
            pager.send(NotifierContract.message("page"))

    def test_webhook_event_is_signed_and_verifiable(
        self, hooks: FakeWebhookReceiver, client: HttpClient
    ) -> None:
        notifier = WebhookNotifier(hooks.url, secret=HOOK_SECRET, client=client, clock=T0.timestamp)
        notifier.send(NotifierContract.message("page"))
        ((headers, body),) = hooks.received
        event = json.loads(body)
        assert event["version"] == "1" and event["type"] == "incident_flow.page"
        assert headers["X-Incident-Flow-Id"] == event["id"] == "inc-contract/1/page"
        ingest.verify_signature("incident_flow", body, headers, HOOK_SECRET, now=T0)
        with pytest.raises(InvalidSignature):
            ingest.verify_signature("incident_flow", body + b" ", headers, HOOK_SECRET, now=T0)
        assert HOOK_SECRET not in repr(notifier) and hooks.url not in repr(notifier)

    def test_unsigned_webhook(self, hooks: FakeWebhookReceiver, client: HttpClient) -> None:
        WebhookNotifier(hooks.url, client=client).send(NotifierContract.message("notify"))
        ((headers, _),) = hooks.received
        assert "X-Incident-Flow-Signature" not in headers

    def test_bad_configuration(self) -> None:
        with pytest.raises(ValueError, match="API key"):
            OpsgeniePager("")
        with pytest.raises(ValueError, match="http"):
            WebhookNotifier("ftp://example.com/x")


class TestRedactSecrets:
    """The processor a host adds so that no log line carries a secret."""

    def test_redacts_nested_values_and_exceptions(self) -> None:
        import structlog

        from incident_flow import RedactSecrets

        redact = RedactSecrets([TOKEN, ROUTING_KEY, None, "ab"])
        with structlog.testing.capture_logs(processors=[redact]) as logs:
            structlog.get_logger().warning(
                "x",
                url=f"https://h/{TOKEN}",
                nested={"k": [ROUTING_KEY, 1]},
                error=RuntimeError(f"bad {TOKEN}"),
                short="ab stays",
            )
        (entry,) = logs
        assert entry["url"] == "https://h/***"
        assert entry["nested"] == {"k": ["***", 1]}
        assert entry["error"] == "RuntimeError: bad ***"
        assert entry["short"] == "ab stays"
        assert repr(redact) == "RedactSecrets(2 secrets)"


class TestSecretHygiene:
    """Secrets with a stray newline are refused at once, without showing them."""

    @pytest.mark.parametrize(
        "make",
        [
            lambda: SlackNotifier(token="xoxb-secret\n", channel="C1"),  # noqa: S106
            lambda: SlackNotifier(webhook_url="https://hooks.slack.com/x\r\n"),
            lambda: PagerDutyPager(" key-with-space"),
            lambda: OpsgeniePager("key\tkey"),
            lambda: WebhookNotifier("https://example.com/hook", secret="s3cret\n"),  # noqa: S106
        ],
    )
    def test_refused(self, make: Callable[[], object]) -> None:
        with pytest.raises(ValueError, match="whitespace or control characters") as info:
            make()
        assert "xoxb" not in str(info.value) and "s3cret" not in str(info.value)

    def test_escaped_forms_are_redacted(self) -> None:
        from incident_flow.adapters._http import Redactor

        redact = Redactor(["to\\ken-1234"])
        assert redact("saw 'to\\\\ken-1234'") == "saw '***'"
