"""Crash takeover in seconds, and outcomes lost to a kill -9 (issue 27), with real processes.

A worker's claims are short and renewed while its process lives (``ClaimKeeper``): killed, its
messages are taken over a hold (3 s) later, not a lease (60 s) later. A process killed between
a send and the record of its outcome sends the message again under the same idempotency key,
and the receiver keeps one: PagerDuty by its dedup key, Slack by looking before it posts.
Times are the injected clock's; nothing here waits for a lease to run out.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from incident_flow import AsyncIncidentFlow, IncidentFlow, Policy
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
    driver: str, spec: str, slack: FakeSlack, pagerduty: FakePagerDuty
) -> tuple[list[str], datetime]:
    """Run the child until it has paged and posted, kill -9 it; what it said, and when."""
    with subprocess.Popen(
        [sys.executable, CHILD, driver, spec, slack.api_url, pagerduty.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as child:
        said: list[str] = []
        try:
            assert child.stdout is not None
            for line in child.stdout:  # blocks on the child's own output, not on a timer
                said.append(line.strip())
                if line.startswith("SENT chat"):
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
