"""Crash takeover in seconds, and outcomes lost to a kill -9 (issue 27), with real processes.

A worker's claims are short and renewed while its process lives (``ClaimKeeper``): killed, its
messages are taken over a hold (3 s) later, not a lease (60 s) later. A process killed between
a send and the record of its outcome sends the message again under the same idempotency key,
and the receiver keeps one: PagerDuty by its dedup key, Slack by looking before it posts.
Times are the injected clock's; nothing here waits for a lease to run out.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer

from incident_flow import (
    Alert,
    AsyncIncidentFlow,
    IncidentFlow,
    MemoryStore,
    Notification,
    Policy,
    RecordingNotifier,
    run_worker,
    run_worker_async,
)
from incident_flow._core.steps import run
from incident_flow._drivers.worker import ClaimKeeper, first_wait
from incident_flow.adapters import (
    AsyncPagerDutyPager,
    AsyncSlackNotifier,
    PagerDutyPager,
    SlackNotifier,
)
from incident_flow.adapters.stores.postgres import PostgresStore
from incident_flow.adapters.stores.sqlite import SQLiteStore
from incident_flow.testing import ManualClock, RecordingPublisher

from .conftest import pg_schema
from .test_server import free_port, wait_for
from .vendors import CHANNEL, ROUTING_KEY, TOKEN, FakePagerDuty, FakeSlack

CHILD = str(Path(__file__).with_name("_takeover_child.py"))


@pytest.fixture(params=["sqlite", "postgres"])
def store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Where the killed process and its successor keep their incidents."""
    if request.param == "sqlite":
        yield f"sqlite:{tmp_path / 'incidents.db'}"
        return
    dsn = request.getfixturevalue("postgres_dsn")
    with pg_schema(dsn) as schema:
        yield f"postgres:{schema}:{dsn}"


def _sync_store(spec: str) -> Any:
    kind, _, rest = spec.partition(":")
    if kind == "sqlite":
        return SQLiteStore(rest)
    schema, _, dsn = rest.partition(":")
    return PostgresStore(dsn, schema=schema)


def _killed_after_its_sends(
    driver: str, spec: str, slack: FakeSlack, pagerduty: FakePagerDuty, *mode: str
) -> tuple[list[str], datetime]:
    """Run the child until it has paged and posted, kill -9 it; what it said, and when."""
    last = "DONE" if mode else "SENT chat"
    with subprocess.Popen(
        [sys.executable, CHILD, driver, spec, slack.api_url, pagerduty.url, *mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as child:
        said: list[str] = []
        try:
            assert child.stdout is not None
            for line in child.stdout:  # blocks on the child's own output, not on a timer
                said.append(line.strip())
                if line.startswith(last):
                    break
        finally:
            child.send_signal(signal.SIGKILL)
            _, errors = child.communicate(timeout=30)
        killed_at = datetime.now(UTC)
        assert child.returncode == -signal.SIGKILL, errors
    return said, killed_at


def _restart_and_deliver(
    driver: str, spec: str, slack: FakeSlack, pagerduty: FakePagerDuty, at: datetime
) -> tuple[int, int]:
    """A process started after the kill delivers what is due at ``at``: (sent, still pending)."""
    clock = ManualClock(at)
    if driver == "sync":
        flow = IncidentFlow(
            Policy(),
            store=_sync_store(spec),
            notifier=SlackNotifier(token=TOKEN, channel=CHANNEL, api_url=slack.api_url),
            pager=PagerDutyPager(ROUTING_KEY, url=pagerduty.url),
            publisher=RecordingPublisher(),
            clock=clock,
        )
        try:
            delivered = flow.deliver_pending()
            return delivered, sum(m.pending for m in flow.store.outbox_messages())  # type: ignore[attr-defined]
        finally:
            flow.store.close()  # type: ignore[attr-defined]

    async def deliver() -> tuple[int, int]:
        from incident_flow.adapters.stores.postgres_async import AsyncPostgresStore
        from incident_flow.adapters.stores.threaded import AsyncSQLiteStore

        kind, _, rest = spec.partition(":")
        if kind == "sqlite":
            store: Any = await AsyncSQLiteStore.open(rest)
        else:
            schema, _, dsn = rest.partition(":")
            store = await AsyncPostgresStore.open(dsn, schema=schema)
        try:
            flow = AsyncIncidentFlow(
                Policy(),
                store=store,
                notifier=AsyncSlackNotifier(token=TOKEN, channel=CHANNEL, api_url=slack.api_url),
                pager=AsyncPagerDutyPager(ROUTING_KEY, url=pagerduty.url),
                publisher=RecordingPublisher(),
                clock=clock,
            )
            delivered = await flow.deliver_pending()
            return delivered, sum(m.pending for m in await store.outbox_messages())
        finally:
            await store.close()

    return asyncio.run(deliver())


@pytest.mark.parametrize("driver", ["sync", "async"])
class TestKilledBetweenSendAndOutcome:
    """kill -9 after the page and the chat message went out, before their outcomes were kept."""

    def test_a_restart_takes_them_over_in_seconds_and_each_receiver_keeps_one(
        self, driver: str, store_spec: str, httpserver: HTTPServer
    ) -> None:
        """Taken over a hold after the kill (not a lease), sent again, seen once each."""
        slack, pagerduty = FakeSlack(httpserver), FakePagerDuty(httpserver)
        said, killed_at = _killed_after_its_sends(driver, store_spec, slack, pagerduty)
        pager_keys = [line.split()[2] for line in said if line.startswith("SENT pager")]
        assert len(pager_keys) == 1 and len(slack.top_level()) == 1  # both out, then killed
        # Just after the kill its claims are still held: the dead process may be sending.
        assert _restart_and_deliver(driver, store_spec, slack, pagerduty, killed_at) == (0, 2)
        # 4 s later (a hold is 3 s; the old lease was 60 s) the restarted process takes over.
        later = killed_at + timedelta(seconds=4)
        assert _restart_and_deliver(driver, store_spec, slack, pagerduty, later) == (2, 0)
        # Sent again under the same keys: PagerDuty got the trigger twice and keeps one alert;
        # Slack was asked (look before post) and has the first message once.
        (key,) = {event["dedup_key"] for event in pagerduty.events}
        assert pagerduty.actions(key) == ["trigger", "trigger"]
        assert pagerduty.triggers == {key: 1}
        posted = [m["metadata"]["event_payload"]["idempotency_key"] for m in slack.top_level()]
        assert len(posted) == 1 and slack.reads >= 1
        where = store_spec.split(":", maxsplit=1)[0]
        print(
            f"\n{driver}/{where}: pager triggers sent 2, alerts kept "
            f"{pagerduty.triggers[key]}; Slack first message posted {len(posted)}"
        )


@pytest.mark.parametrize("driver", ["sync", "async"])
class TestKilledBeforeItsOutcomesWereWritten:
    """kill -9 after a command returned, its outcomes kept in memory for the next append."""

    def test_the_messages_go_again_after_the_lease_and_each_receiver_keeps_one(
        self, driver: str, store_spec: str, httpserver: HTTPServer
    ) -> None:
        """No keeper: claimed for the lease (60 s), then sent again under the same keys."""
        slack, pagerduty = FakeSlack(httpserver), FakePagerDuty(httpserver)
        said, killed_at = _killed_after_its_sends(driver, store_spec, slack, pagerduty, "deferred")
        assert said[-1] == "DONE"  # the command returned: both sent, outcomes in memory
        assert len(pagerduty.events) == 1 and len(slack.top_level()) == 1
        assert _restart_and_deliver(driver, store_spec, slack, pagerduty, killed_at) == (0, 2)
        later = killed_at + timedelta(seconds=61)
        assert _restart_and_deliver(driver, store_spec, slack, pagerduty, later) == (2, 0)
        (key,) = {event["dedup_key"] for event in pagerduty.events}
        assert pagerduty.actions(key) == ["trigger", "trigger"]
        assert pagerduty.triggers == {key: 1}
        posted = [m["metadata"]["event_payload"]["idempotency_key"] for m in slack.top_level()]
        assert len(posted) == 1 and slack.reads >= 1


# ------------------------------------------------------------------ kill -9 of serve in a burst

BURST = 200
KILL_AFTER = 80  # answered alerts before the kill


class SlowSlack(FakeSlack):
    """Slack answering each post in 0.2 s (the fake's own pace; nothing waits on it)."""

    def _post(self, request: Any) -> Any:
        time.sleep(0.2)
        return super()._post(request)


def _alert_body(n: int) -> bytes:
    """An Alertmanager body of one critical alert of its own (``ServiceDown<n>``)."""
    sample = json.loads(
        (Path(__file__).with_name("samples") / "alertmanager_firing.json").read_text()
    )
    alert = copy.deepcopy(sample["alerts"][0])
    alert["labels"]["alertname"] = f"ServiceDown{n}"
    alert["fingerprint"] = f"{n:016x}"
    sample["alerts"] = [alert]
    return json.dumps(sample).encode()


class Serve:
    """``incident-flow serve`` as a real process (its log in a file, never a full pipe)."""

    def __init__(self, config: Path, log: Path) -> None:
        self.port = free_port()
        self.log = log.open("a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "incident_flow.cli", "--config", str(config), "serve",
             "--port", str(self.port)],
            env={**os.environ, "T": TOKEN, "K": ROUTING_KEY, "AM": "am-token"},
            stdout=self.log,
            stderr=self.log,
        )  # fmt: skip
        wait_for(lambda: self._up() or self.process.poll() is not None, "serve answers")
        assert self.process.poll() is None, log.read_text()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _up(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)
        self.log.close()

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(30)
            self.log.close()


def _burst(serve: Serve) -> dict[str, str]:
    """Fire BURST alerts from 8 keep-alive clients; kill -9 serve once KILL_AFTER are answered.

    Returns each answered alert's name and the incident the answer named.
    """
    answered: dict[str, str] = {}
    lock = threading.Lock()
    numbers = iter(range(BURST))

    def client() -> None:
        with httpx.Client(base_url=serve.url, timeout=10) as http:
            for n in numbers:  # a shared iterator: each alert is sent once
                try:
                    answer = http.post(
                        "/webhooks/alertmanager",
                        content=_alert_body(n),
                        headers={
                            "Content-Type": "application/json",
                            "X-Incident-Flow-Token": "am-token",
                        },
                    )
                except httpx.HTTPError:
                    continue  # the process is gone: not answered
                if answer.is_success:
                    with lock:
                        answered[f"ServiceDown{n}"] = answer.json()["incidents"][0]
                        if len(answered) == KILL_AFTER:
                            serve.kill()  # mid-burst: other requests and sends in flight

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answered


def test_kill_9_of_serve_in_a_burst_then_restarted_loses_and_doubles_nothing(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    """Issue 27's done-when: every answered alert is one incident, every first message once.

    kill -9 of ``serve`` after 80 of 200 alerts were answered, Slack answering in 0.2 s, then
    ``serve`` restarted on the same SQLite file: it takes over the dead process's claims and
    sends what was left; Slack keeps one first message per incident, PagerDuty one alert.
    """
    slack_server = HTTPServer(threaded=True)  # posts in parallel, as Slack takes them
    slack_server.start()
    try:
        slack = SlowSlack(slack_server)
        pagerduty = FakePagerDuty(httpserver)
        db = tmp_path / "incidents.db"
        config = tmp_path / "c.toml"
        config.write_text(
            f'[store]\nsqlite = "{db}"\n[sources.alertmanager]\nsecret = "${{AM}}"\n'
            f'[slack]\ntoken = "${{T}}"\nchannel = "{CHANNEL}"\napi_url = "{slack.api_url}"\n'
            f'[pagerduty]\nrouting_key = "${{K}}"\nurl = "{pagerduty.url}"\n'
        )
        first = Serve(config, tmp_path / "serve-1.log")
        answered = _burst(first)
        assert first.process.returncode == -signal.SIGKILL and len(answered) < BURST
        before = len(slack.top_level())
        restarted = Serve(config, tmp_path / "serve-2.log")
        up = time.monotonic()
        store = SQLiteStore(db)
        try:
            # The condition (nothing left to send), not a time: the test's own bound is 60 s.
            deadline = time.monotonic() + 60
            while store.counts().pending:
                assert time.monotonic() < deadline, "the restarted serve sends what was left"
                time.sleep(0.05)
            took = time.monotonic() - up
            restarted.stop()
            incidents = IncidentFlow(store=store).incidents()
        finally:
            store.close()
        names = Counter(incident.alert.name for incident in incidents)
        # Every answered alert is exactly one incident, the one its answer named.
        assert {name: names[name] for name in answered} == dict.fromkeys(answered, 1)
        by_name = {incident.alert.name: incident.id for incident in incidents}
        assert {name: by_name[name] for name in answered} == answered
        assert max(names.values()) == 1  # an alert cut off by the kill: one incident or none
        # Every incident's first Slack message was posted exactly once.
        firsts = Counter(
            m["metadata"]["event_payload"]["incident_id"]
            for m in slack.top_level()
            if m["metadata"]["event_payload"]["kind"] == "notify"
        )
        assert firsts == dict.fromkeys((incident.id for incident in incidents), 1)
        # And PagerDuty keeps one alert per incident, however often a page was resent.
        assert sorted(pagerduty.triggers.values()) == [1] * len(incidents)
        print(
            f"\nkill -9 after {len(answered)} answered; {len(incidents)} incidents; Slack first "
            f"messages {sum(firsts.values())} ({before} before the restart), max per incident "
            f"{max(firsts.values())}; PagerDuty trigger events {len(pagerduty.events)} for "
            f"{len(pagerduty.triggers)} alerts; everything sent {took:.1f} s after the restart"
        )
    finally:
        slack_server.clear()
        if slack_server.is_running():
            slack_server.stop()


# ------------------------------------------------------------------ the worker's claims

T0 = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)


class TestAWorkerHoldsItsClaimsForAHold:
    """run_worker claims for 3 s and renews while it runs; its first turns come 1 s apart."""

    def test_its_first_turns_come_a_third_of_a_hold_apart(self) -> None:
        """Three quick turns cover the hold after a start, then the interval is kept."""
        hold = timedelta(seconds=3)
        waits = [first_wait(timedelta(seconds=5), hold, turns) for turns in range(1, 6)]
        assert waits == [1.0, 1.0, 1.0, 5.0, 5.0]
        assert first_wait(timedelta(milliseconds=200), hold, 1) == 0.2

    @pytest.mark.parametrize("hold", [timedelta(0), timedelta(seconds=-1), 3])
    def test_a_hold_that_is_not_a_positive_duration_is_refused(self, hold: Any) -> None:
        """Zero would renew (and turn) in a busy loop: refused before the first turn."""
        flow = IncidentFlow(Policy(), store=MemoryStore())
        with pytest.raises(ValueError, match="hold must be a positive timedelta"):
            run_worker(flow, max_iterations=1, handle_signals=False, hold=hold)
        with pytest.raises(ValueError, match="hold must be a positive timedelta"):
            asyncio.run(run_worker_async(AsyncIncidentFlow(Policy()), hold=hold))
        assert flow._hold is None

    def test_while_it_sends_another_process_may_take_over_after_a_hold(
        self, tmp_path: Path
    ) -> None:
        """A message a worker is sending is free to others 4 s on (its hold), not 60 s on."""
        clock = ManualClock(T0)
        store = SQLiteStore(tmp_path / "x.db")
        taken: list[list[str]] = []

        class Peeking(RecordingNotifier):
            def send(self, message: Notification) -> str | None:
                # Another process, 4 s on, as if this one had died before its first renewal.
                later = clock.now() + timedelta(seconds=4)
                ids = [m.id for m in store.outbox_messages() if m.pending]
                found = store.claim_due(later, lease=timedelta(minutes=1), ids=ids)
                taken.append([m.id for m in found])
                return super().send(message)

        chat, pager = Peeking(), Peeking()
        flow = IncidentFlow(Policy(), store=store, notifier=chat, pager=pager, clock=clock)
        flow._later = lambda steps: None  # committed, never sent: a killed flow's messages
        flow.trigger(Alert(source="t", name="n", title="Down", severity="P1", dedup_key="k"))
        flow._later = None
        clock.advance(timedelta(seconds=61))  # its lease (no worker ran: 60 s) has ended
        stats = run_worker(flow, max_iterations=1, handle_signals=False)
        assert stats.delivered == 2 and flow._hold is None
        # The page went first; while it was sent, the chat message (claimed with it) was
        # already free to a process 4 s on; the page was taken with it, so the chat's turn
        # found none left.
        assert [len(ids) for ids in taken] == [2, 0]
        assert (len(pager.messages), len(chat.messages)) == (1, 1)
        store.close()

    def test_a_lapsed_claim_of_its_own_is_not_sent_twice_by_it(self) -> None:
        """Its own renewal late, a flow's next turn leaves a message it is still sending."""
        clock = ManualClock(T0)
        chat, pager = RecordingNotifier(), RecordingNotifier()
        flow = IncidentFlow(Policy(), store=MemoryStore(), notifier=chat, pager=pager, clock=clock)
        sends: list[Any] = []
        flow._later = sends.append  # the sends are under way (in the background)
        keeper = ClaimKeeper(flow)
        flow._hold = keeper.hold
        flow.trigger(Alert(source="t", name="n", title="Down", severity="P1", dedup_key="k"))
        clock.advance(timedelta(seconds=4))  # no renewal came: the claims lapsed
        assert flow.deliver_pending() == 0  # claimed again, and left to the sends under way
        assert (pager.messages, chat.messages) == ([], [])
        flow._later = None
        (steps,) = sends
        assert run(steps, flow._port) == 2  # the sends under way deliver them, once each
        assert (len(pager.messages), len(chat.messages)) == (1, 1)
        assert keeper.renew() == 0  # nothing held any more
