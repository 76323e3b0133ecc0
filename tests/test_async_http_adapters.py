"""The async HTTP adapters against the same local vendor servers as the sync ones.

The vendor logic is written once, as steps; these tests pin that the async classes behave as
the sync ones do, and that both send the very same requests for the same scenario.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from incident_flow import DeliveryError, InvalidSignature, Notification, ingest
from incident_flow.adapters._http import AsyncHttpClient, HttpClient
from incident_flow.adapters.channels.opsgenie import AsyncOpsgeniePager, OpsgeniePager
from incident_flow.adapters.channels.pagerduty import AsyncPagerDutyPager, PagerDutyPager
from incident_flow.adapters.channels.slack import AsyncSlackNotifier, SlackNotifier
from incident_flow.adapters.channels.webhook import AsyncWebhookNotifier, WebhookNotifier
from incident_flow.testing._async import Blocking, LoopThread
from incident_flow.testing.contracts import NotifierContract

from . import test_http_adapters as sync
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
    AsyncSleeps,
    FakeOpsgenie,
    FakePagerDuty,
    FakeSlack,
    FakeWebhookReceiver,
    Sleeps,
)

message = NotifierContract.message
CHANNEL_NOT_FOUND = Response(
    '{"ok": false, "error": "channel_not_found"}', status=200, content_type="application/json"
)


@pytest.fixture
def loop() -> Iterator[LoopThread]:
    with LoopThread() as loop:
        yield loop


@pytest.fixture
def sleeps() -> AsyncSleeps:
    return AsyncSleeps()


@pytest.fixture
def make_client(
    loop: LoopThread, sleeps: AsyncSleeps
) -> Iterator[Callable[..., Blocking[AsyncHttpClient]]]:
    """AsyncHttpClients behind a blocking face, so the sync client's tests run on them."""
    made: list[AsyncHttpClient] = []

    def make(**settings: Any) -> Blocking[AsyncHttpClient]:
        made.append(AsyncHttpClient(sleep=sleeps, timeout=5, **settings))
        return Blocking(made[-1], loop)

    yield make
    for http in made:
        loop.run(http.aclose())


@pytest.fixture
def client(make_client: Callable[..., Blocking[AsyncHttpClient]]) -> Blocking[AsyncHttpClient]:
    return make_client()


@pytest.fixture
def aclient(client: Blocking[AsyncHttpClient]) -> AsyncHttpClient:
    return client.target


@pytest.fixture
def slack(httpserver: HTTPServer) -> FakeSlack:
    return FakeSlack(httpserver)


@pytest.fixture
def pagerduty(httpserver: HTTPServer) -> FakePagerDuty:
    return FakePagerDuty(httpserver)


@pytest.fixture
def opsgenie(httpserver: HTTPServer) -> FakeOpsgenie:
    return FakeOpsgenie(httpserver)


@pytest.fixture
def hooks(httpserver: HTTPServer) -> FakeWebhookReceiver:
    return FakeWebhookReceiver(httpserver)


class TestAsyncHttpClient(sync.TestHttpClient):
    """The sync client's tests pass on AsyncHttpClient; and what only an async client has."""

    def test_accepted_status_is_returned(
        self, httpserver: HTTPServer, aclient: AsyncHttpClient, loop: LoopThread
    ) -> None:
        httpserver.expect_request("/x").respond_with_data("not yet", status=404)
        url = httpserver.url_for("/x")
        response = loop.run(aclient.request("GET", url, what="test", accept={404}))
        assert response.status_code == 404

    def test_a_timeout_of_a_post_that_may_have_arrived_is_not_retried(
        self, make_client: Callable[..., Blocking[AsyncHttpClient]], sleeps: AsyncSleeps
    ) -> None:
        def time_out(request: httpx.Request) -> httpx.Response:
            raise httpx.ReadTimeout("read timed out", request=request)

        client = make_client(transport=httpx.MockTransport(time_out))
        with pytest.raises(DeliveryError, match="test: ReadTimeout: read timed out"):
            client.post("http://vendor.test/x", {}, what="test", idempotent=False)
        assert sleeps.waits == []

    @pytest.mark.parametrize(
        ("retry_after", "waits", "outbox_delay"),
        [
            ("Tue, 04 Mar 2025 10:00:00 GMT", [0.0], None),  # a date gone by: at once
            ("Tue, 04 Mar 2025 10:00:00", [0.0], None),  # a date without a zone: at once
            ("soon", [], 30.0),  # unreadable: the outbox's default wait
            ("nan", [], 30.0),
            (None, [], 30.0),  # none given: the outbox's default wait
        ],
    )
    def test_retry_after_as_a_date_or_unreadable(
        self,
        httpserver: HTTPServer,
        client: Blocking[AsyncHttpClient],
        sleeps: AsyncSleeps,
        retry_after: str | None,
        waits: list[float],
        outbox_delay: float | None,
    ) -> None:
        headers = {} if retry_after is None else {"Retry-After": retry_after}
        limited = Response("slow down", status=429, headers=headers)
        httpserver.expect_ordered_request("/x").respond_with_response(limited)
        httpserver.expect_ordered_request("/x").respond_with_json({"ok": True})
        if outbox_delay is None:
            client.post(httpserver.url_for("/x"), {}, what="test")
        else:
            with pytest.raises(DeliveryError) as info:
                client.post(httpserver.url_for("/x"), {}, what="test")
            assert info.value.retry_after == outbox_delay
        assert sleeps.waits == waits

    def test_the_context_manager_closes_the_pool(self, loop: LoopThread) -> None:
        async def use() -> AsyncHttpClient:
            async with AsyncHttpClient() as client:
                return client

        assert loop.run(use())._client.is_closed


class TestAsyncSlack:
    """Threads, edits, lookups before a re-send and ok:false, awaited."""

    @pytest.fixture
    def notifier(self, slack: FakeSlack, aclient: AsyncHttpClient) -> AsyncSlackNotifier:
        return AsyncSlackNotifier(
            token=TOKEN, channel=CHANNEL, api_url=slack.api_url, client=aclient
        )

    def test_ok_false_is_a_failed_delivery(
        self, slack: FakeSlack, notifier: AsyncSlackNotifier, loop: LoopThread
    ) -> None:
        slack.fail_next(CHANNEL_NOT_FOUND)
        with pytest.raises(
            DeliveryError, match=r"Slack chat\.postMessage: channel_not_found"
        ) as info:
            loop.run(notifier.send(message("notify")))
        assert info.value.permanent and slack.messages == []

    def test_replies_go_into_the_thread_and_edit_the_first_message(
        self, slack: FakeSlack, notifier: AsyncSlackNotifier, loop: LoopThread
    ) -> None:
        receipt = loop.run(notifier.send(message("notify")))
        (parent,) = slack.top_level()
        assert receipt == f"{CHANNEL}:{parent['ts']}"
        reply = attrs.evolve(message("ack", 2), thread=receipt)
        loop.run(notifier.send(reply))
        assert [m["text"] for m in slack.thread(parent["ts"])] == ["ack #2: checkout errors"]
        (edit,) = slack.edits
        assert edit["ts"] == parent["ts"] and "(notified)" in edit["text"]

    def test_a_failed_edit_does_not_fail_the_reply(
        self, slack: FakeSlack, notifier: AsyncSlackNotifier, loop: LoopThread
    ) -> None:
        reply = attrs.evolve(message("ack", 2), thread=f"{CHANNEL}:1.0")  # no such parent
        assert loop.run(notifier.send(reply))
        assert len(slack.messages) == 1 and slack.edits == []

    def test_a_resent_message_is_looked_up_before_it_is_posted_again(
        self, slack: FakeSlack, notifier: AsyncSlackNotifier, loop: LoopThread
    ) -> None:
        first = loop.run(notifier.send(message("notify")))
        again = loop.run(notifier.send(attrs.evolve(message("notify"), resent=True)))
        reply = attrs.evolve(message("ack", 2), thread=first)
        loop.run(notifier.send(reply))
        loop.run(notifier.send(attrs.evolve(reply, resent=True)))
        assert again == first
        assert slack.reads == 2 and len(slack.messages) == 2
        other = loop.run(notifier.send(attrs.evolve(message("notify", 3), resent=True)))
        assert other != first and slack.reads == 3 and len(slack.messages) == 3

    def test_a_failed_lookup_posts_anyway(
        self, slack: FakeSlack, aclient: AsyncHttpClient, loop: LoopThread
    ) -> None:
        notifier = AsyncSlackNotifier(
            token="xoxb-not-the-token",  # noqa: S106 - reads are refused, and so is the post
            channel=CHANNEL,
            api_url=slack.api_url,
            client=aclient,
        )
        with pytest.raises(DeliveryError, match=r"chat\.postMessage: invalid_auth"):
            loop.run(notifier.send(attrs.evolve(message("notify"), resent=True)))
        assert slack.reads == 1

    def test_incoming_webhook(
        self, slack: FakeSlack, aclient: AsyncHttpClient, loop: LoopThread
    ) -> None:
        hook = AsyncSlackNotifier(webhook_url=slack.webhook_url, client=aclient)
        assert loop.run(hook.send(message("notify"))) is None
        assert len(slack.hook) == 1
        assert slack.webhook_url not in repr(hook) and repr(hook).startswith("AsyncSlackNotifier(")


class TestAsyncPagers:
    """PagerDuty under one dedup key, Opsgenie under one alias, awaited."""

    def test_pagerduty_trigger_ack_resolve_under_one_key(
        self, pagerduty: FakePagerDuty, aclient: AsyncHttpClient, loop: LoopThread
    ) -> None:
        pager = AsyncPagerDutyPager(ROUTING_KEY, url=pagerduty.url, client=aclient)
        pagerduty.fail_next(SERVER_ERROR)  # PagerDuty dedups: retried at once
        receipts = [loop.run(pager.send(message(k))) for k in ("page", "notify", "ack", "resolve")]
        assert receipts == ["inc-contract", None, "inc-contract", "inc-contract"]
        assert pagerduty.actions("inc-contract") == ["trigger", "acknowledge", "resolve"]
        assert pagerduty.triggers == {"inc-contract": 1}
        assert pagerduty.alerts == {"inc-contract": "resolved"}

    def test_pagerduty_reports_its_errors(
        self, pagerduty: FakePagerDuty, aclient: AsyncHttpClient, loop: LoopThread
    ) -> None:
        pager = AsyncPagerDutyPager("wrong-key-0000", url=pagerduty.url, client=aclient)
        with pytest.raises(DeliveryError, match=r"HTTP 400.*'routing_key' is invalid"):
            loop.run(pager.send(message("page")))

    def test_opsgenie_alias(
        self, opsgenie: FakeOpsgenie, aclient: AsyncHttpClient, loop: LoopThread
    ) -> None:
        pager = AsyncOpsgeniePager(GENIE_KEY, url=opsgenie.url, client=aclient)
        for kind in ("page", "page", "update", "ack", "resolve"):
            loop.run(pager.send(message(kind)))
        assert [(a, alias) for a, alias, _ in opsgenie.calls] == [
            ("create", "inc-contract"),
            ("create", "inc-contract"),
            ("acknowledge", "inc-contract"),
            ("close", "inc-contract"),
        ]
        assert opsgenie.alerts["inc-contract"]["count"] == 2
        assert opsgenie.alerts["inc-contract"]["status"] == "closed"
        assert GENIE_KEY not in repr(pager)

    def test_opsgenie_wrong_key(
        self, opsgenie: FakeOpsgenie, aclient: AsyncHttpClient, loop: LoopThread
    ) -> None:
        pager = AsyncOpsgeniePager("not-the-key", url=opsgenie.url, client=aclient)
        with pytest.raises(DeliveryError, match=r"HTTP 401: .*Could not authenticate"):
            loop.run(pager.send(message("page")))


class TestOddAnswers:
    """A 2xx that is not what the vendor documents is handled the same way by the async classes."""

    def test_slack_answer_that_is_not_json(
        self, slack: FakeSlack, aclient: AsyncHttpClient, loop: LoopThread
    ) -> None:
        notifier = AsyncSlackNotifier(
            token=TOKEN, channel=CHANNEL, api_url=slack.api_url, client=aclient
        )
        slack.fail_next(Response("<html>maintenance</html>", status=200))
        with pytest.raises(DeliveryError, match="the answer is not a JSON object"):
            loop.run(notifier.send(message("notify")))

    def test_pagerduty_status_that_is_not_success(
        self, pagerduty: FakePagerDuty, aclient: AsyncHttpClient, loop: LoopThread
    ) -> None:
        pager = AsyncPagerDutyPager(ROUTING_KEY, url=pagerduty.url, client=aclient)
        odd = {"status": "throttled", "message": "too many events"}
        pagerduty.fail_next(Response(json.dumps(odd), status=202, content_type="application/json"))
        with pytest.raises(DeliveryError, match="PagerDuty trigger: throttled: too many") as info:
            loop.run(pager.send(message("page")))
        assert info.value.permanent
        pagerduty.fail_next(Response("accepted", status=202))
        assert loop.run(pager.send(message("page"))) == "inc-contract"

    def test_opsgenie_answer_that_is_not_json(
        self, opsgenie: FakeOpsgenie, aclient: AsyncHttpClient, loop: LoopThread
    ) -> None:
        pager = AsyncOpsgeniePager(GENIE_KEY, url=opsgenie.url, client=aclient)
        opsgenie.fail_next(Response("accepted", status=202))
        assert loop.run(pager.send(message("page"))) is None
        assert loop.run(pager.send(attrs.evolve(message("ack"), by=None)))
        assert "user" not in opsgenie.calls[-1][2]


class TestAsyncWebhook:
    """Signed, verifiable events, awaited."""

    def test_event_is_signed_and_verifiable(
        self, hooks: FakeWebhookReceiver, aclient: AsyncHttpClient, loop: LoopThread
    ) -> None:
        notifier = AsyncWebhookNotifier(
            hooks.url, secret=HOOK_SECRET, client=aclient, clock=T0.timestamp
        )
        assert loop.run(notifier.send(message("page"))) is None
        ((headers, body),) = hooks.received
        assert json.loads(body)["id"] == headers["X-Incident-Flow-Id"] == "inc-contract/1/page"
        ingest.verify_signature("incident_flow", body, headers, HOOK_SECRET, now=T0)
        with pytest.raises(InvalidSignature):
            ingest.verify_signature("incident_flow", body + b" ", headers, HOOK_SECRET, now=T0)
        assert HOOK_SECRET not in repr(notifier) and hooks.url not in repr(notifier)


class TestAsyncConstruction:
    """The same checks as the sync classes, naming the async class; aclose closes what it made."""

    def test_bad_configuration_names_the_class(self) -> None:
        with pytest.raises(ValueError, match="AsyncSlackNotifier needs either webhook_url"):
            AsyncSlackNotifier()
        with pytest.raises(ValueError, match="AsyncPagerDutyPager needs a routing key"):
            AsyncPagerDutyPager(" ")
        with pytest.raises(ValueError, match="AsyncOpsgeniePager needs an API key"):
            AsyncOpsgeniePager("")
        with pytest.raises(ValueError, match="AsyncWebhookNotifier needs an http"):
            AsyncWebhookNotifier("ftp://example.com/x")
        with pytest.raises(ValueError, match="whitespace or control characters"):
            AsyncSlackNotifier(token="xoxb-secret\n", channel="C1")  # noqa: S106

    def test_aclose_closes_only_a_client_it_made(
        self, aclient: AsyncHttpClient, loop: LoopThread
    ) -> None:
        own = AsyncWebhookNotifier("https://example.com/hook")
        shared = AsyncWebhookNotifier("https://example.com/hook", client=aclient)
        loop.run(own.aclose())
        loop.run(shared.aclose())
        assert own._http._client.is_closed
        assert not aclient._client.is_closed


# ---------------------------------------------------------------- one copy: the same requests


class Side:
    """One way to drive an adapter: ``sync`` calls it, ``async`` awaits it on the loop."""

    def __init__(self, name: str, loop: LoopThread) -> None:
        self.name = name
        self.loop = loop
        self.sleeps = Sleeps() if name == "sync" else AsyncSleeps()
        self.client: HttpClient | AsyncHttpClient = (
            HttpClient(sleep=self.sleeps) if name == "sync" else AsyncHttpClient(sleep=self.sleeps)
        )

    def make(self, sync_type: type[Any], async_type: type[Any], *args: Any, **kwargs: Any) -> Any:
        """The sync or the async adapter on this side's client, behind a blocking face."""
        if self.name == "sync":
            return sync_type(*args, client=self.client, **kwargs)
        return Blocking(async_type(*args, client=self.client, **kwargs), self.loop)

    def close(self) -> None:
        if isinstance(self.client, HttpClient):
            self.client.close()
        else:
            self.loop.run(self.client.aclose())


def _sends(notifier: Any, messages: list[Notification]) -> list[str | None]:
    """Each receipt, or the error it raised, in order."""
    outcomes = []
    for each in messages:
        try:
            outcomes.append(notifier.send(each))
        except DeliveryError as exc:
            outcomes.append(f"{exc} (retry_after={exc.retry_after}, permanent={exc.permanent})")
    return outcomes


def _slack_thread(server: HTTPServer, side: Side) -> list[str | None]:
    slack = FakeSlack(server, clock=T0.timestamp)  # the same ts on both sides
    notifier = side.make(
        SlackNotifier, AsyncSlackNotifier, token=TOKEN, channel=CHANNEL, api_url=slack.api_url
    )
    slack.fail_next(SERVER_ERROR)  # the post may have arrived: back to the outbox
    outcomes = _sends(notifier, [message("notify")])
    slack.fail_next(CHANNEL_NOT_FOUND)
    outcomes += _sends(notifier, [attrs.evolve(message("notify"), resent=True)] * 2)
    reply = attrs.evolve(message("ack", 2), thread=outcomes[-1])
    slack.fail_next(TOO_MANY)  # waited out, then posted
    return outcomes + _sends(notifier, [reply, attrs.evolve(reply, resent=True)])


def _slack_webhook(server: HTTPServer, side: Side) -> list[str | None]:
    slack = FakeSlack(server)
    notifier = side.make(SlackNotifier, AsyncSlackNotifier, webhook_url=slack.webhook_url)
    slack.fail_next(Response("invalid_token", status=403))
    return _sends(notifier, [message("notify"), message("update", 2)])


def _pagerduty(server: HTTPServer, side: Side) -> list[str | None]:
    pagerduty = FakePagerDuty(server)
    pager = side.make(PagerDutyPager, AsyncPagerDutyPager, ROUTING_KEY, url=pagerduty.url)
    pagerduty.fail_next(SERVER_ERROR)  # retried at once (PagerDuty dedups)...
    pagerduty.fail_next(TOO_MANY_LONG)  # ...into a long rate limit: back to the outbox
    kinds = ("page", "page", "notify", "ack", "resolve")
    return _sends(pager, [message(kind, n) for n, kind in enumerate(kinds)])


def _opsgenie(server: HTTPServer, side: Side) -> list[str | None]:
    opsgenie = FakeOpsgenie(server)
    pager = side.make(OpsgeniePager, AsyncOpsgeniePager, GENIE_KEY, url=opsgenie.url)
    opsgenie.fail_next(Response("bad gateway", status=502))
    kinds = ("page", "update", "ack", "resolve")
    return _sends(pager, [message(kind, n) for n, kind in enumerate(kinds)])


def _webhook(server: HTTPServer, side: Side) -> list[str | None]:
    hooks = FakeWebhookReceiver(server)
    notifier = side.make(
        WebhookNotifier, AsyncWebhookNotifier, hooks.url, secret=HOOK_SECRET, clock=T0.timestamp
    )
    hooks.fail_next(SERVER_ERROR)
    return _sends(notifier, [message(kind, n) for n, kind in enumerate(("notify", "page"))])


Scenario = Callable[[HTTPServer, Side], list[str | None]]


class TestOneCopy:
    """The sync and the async class of each vendor send the same requests, with the same results."""

    @pytest.mark.parametrize(
        "scenario", [_slack_thread, _slack_webhook, _pagerduty, _opsgenie, _webhook]
    )
    def test_sync_and_async_send_the_same_requests(
        self, httpserver: HTTPServer, loop: LoopThread, scenario: Scenario
    ) -> None:
        seen = {}
        for name in ("sync", "async"):
            httpserver.clear()
            side = Side(name, loop)
            try:
                outcomes = scenario(httpserver, side)
            finally:
                side.close()
            requests = [
                (r.method, r.full_path, dict(r.headers.items()), r.get_data())
                for r, _ in httpserver.log
            ]
            seen[name] = (requests, outcomes, len(side.sleeps.waits))
        assert seen["sync"] == seen["async"]
        assert seen["sync"][0], "the scenario sent nothing"


# ---------------------------------------------------------------- the contract, async


class TestAsyncPagerDutyContract(sync.TestPagerDutyContract):
    """AsyncPagerDutyPager takes pages, acknowledgements and resolutions."""

    @pytest.fixture
    def notifier(self, pagerduty: FakePagerDuty, aclient: AsyncHttpClient) -> AsyncPagerDutyPager:
        return AsyncPagerDutyPager(ROUTING_KEY, url=pagerduty.url, client=aclient)


class TestAsyncSlackTokenContract(sync.TestSlackTokenContract):
    """AsyncSlackNotifier with a bot token posts every kind it is given."""

    @pytest.fixture
    def notifier(self, slack: FakeSlack, aclient: AsyncHttpClient) -> AsyncSlackNotifier:
        return AsyncSlackNotifier(
            token=TOKEN, channel=CHANNEL, api_url=slack.api_url, client=aclient
        )


class TestAsyncSlackWebhookContract(sync.TestSlackWebhookContract):
    """AsyncSlackNotifier with an incoming webhook posts every kind it is given."""

    @pytest.fixture
    def notifier(self, slack: FakeSlack, aclient: AsyncHttpClient) -> AsyncSlackNotifier:
        return AsyncSlackNotifier(webhook_url=slack.webhook_url, client=aclient)


class TestAsyncOpsgenieContract(sync.TestOpsgenieContract):
    """AsyncOpsgeniePager takes pages, acknowledgements and resolutions."""

    @pytest.fixture
    def notifier(self, opsgenie: FakeOpsgenie, aclient: AsyncHttpClient) -> AsyncOpsgeniePager:
        return AsyncOpsgeniePager(GENIE_KEY, url=opsgenie.url, client=aclient)


class TestAsyncWebhookContract(sync.TestWebhookContract):
    """AsyncWebhookNotifier posts every kind as a signed event."""

    @pytest.fixture
    def notifier(
        self, hooks: FakeWebhookReceiver, aclient: AsyncHttpClient
    ) -> AsyncWebhookNotifier:
        return AsyncWebhookNotifier(hooks.url, secret=HOOK_SECRET, client=aclient)
