"""A process that is killed between its sends and their outcomes (run as a script, not collected).

    python tests/_takeover_child.py DRIVER STORE_SPEC SLACK_API PAGERDUTY_URL [deferred]

DRIVER is ``sync`` or ``async``; STORE_SPEC is ``sqlite:PATH`` or ``postgres:SCHEMA:DSN``. It
runs a flow as a worker does (its claims short and renewed: a ClaimKeeper), triggers one P1
alert, pages PagerDuty and posts to Slack for real (the test's fakes), prints ``SENT pager
KEY`` and ``SENT chat KEY`` as each was accepted, and then hangs before the outcomes are
recorded: the test kills it there with SIGKILL.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import structlog

from incident_flow import Alert, AsyncIncidentFlow, IncidentFlow, Notification, Policy
from incident_flow.adapters import (
    AsyncPagerDutyPager,
    AsyncSlackNotifier,
    PagerDutyPager,
    SlackNotifier,
)
from incident_flow.testing import RecordingPublisher

structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))

TOKEN = "xoxb-1234-5678-abcdefghijklmnop"  # noqa: S105 - the fake Slack's token
CHANNEL = "C08K3M5N7PQ"
ROUTING_KEY = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
ALERT = Alert(
    source="crash", name="CheckoutDown", title="Checkout down", severity="P1", dedup_key="lost-1"
)


#: ``deferred`` (a 5th argument): no keeper, no hang in a send; the command returns with its
#: outcomes kept in memory (written with the next append), says DONE, and is killed there.
DEFERRED = sys.argv[5:6] == ["deferred"]


class Said:
    """Sends through a real channel, says so, and hangs after the chat's send (the kill)."""

    def __init__(self, channel: Any, name: str) -> None:
        self.channel = channel
        self.name = name

    def send(self, message: Notification) -> str | None:
        receipt: str | None = self.channel.send(message)
        print(f"SENT {self.name} {message.idempotency_key}", flush=True)
        if self.name == "chat" and not DEFERRED:
            time.sleep(600)  # killed here: sent, the outcome not recorded
        return receipt


class AsyncSaid(Said):
    """:class:`Said` for the async flow."""

    async def send(self, message: Notification) -> str | None:  # type: ignore[override]
        receipt: str | None = await self.channel.send(message)
        print(f"SENT {self.name} {message.idempotency_key}", flush=True)
        if self.name == "chat" and not DEFERRED:
            await asyncio.sleep(600)
        return receipt


def sync_store(spec: str) -> Any:
    """The sync store ``spec`` names."""
    kind, _, rest = spec.partition(":")
    if kind == "sqlite":
        from incident_flow.adapters.stores.sqlite import SQLiteStore

        return SQLiteStore(rest)
    schema, _, dsn = rest.partition(":")
    from incident_flow.adapters.stores.postgres import PostgresStore

    return PostgresStore(dsn, schema=schema)


async def async_store(spec: str) -> Any:
    """The async store ``spec`` names, opened."""
    kind, _, rest = spec.partition(":")
    if kind == "sqlite":
        from incident_flow.adapters.stores.threaded import AsyncSQLiteStore

        return await AsyncSQLiteStore.open(rest)
    schema, _, dsn = rest.partition(":")
    from incident_flow.adapters.stores.postgres_async import AsyncPostgresStore

    return await AsyncPostgresStore.open(dsn, schema=schema)


def run_sync(spec: str, slack_api: str, pagerduty: str) -> None:
    from incident_flow._drivers.worker import ClaimKeeper

    flow = IncidentFlow(
        Policy(),
        store=sync_store(spec),
        notifier=Said(SlackNotifier(token=TOKEN, channel=CHANNEL, api_url=slack_api), "chat"),
        pager=Said(PagerDutyPager(ROUTING_KEY, url=pagerduty), "pager"),
        publisher=RecordingPublisher(),
    )
    if DEFERRED:
        flow.trigger(ALERT)
        print("DONE", flush=True)
        time.sleep(600)  # killed here: the outcomes wait in memory for the next append
    with ClaimKeeper(flow):
        print("READY", flush=True)
        flow.trigger(ALERT)


async def run_async(spec: str, slack_api: str, pagerduty: str) -> None:
    from incident_flow._drivers.worker import AsyncClaimKeeper

    flow = AsyncIncidentFlow(
        Policy(),
        store=await async_store(spec),
        notifier=AsyncSaid(
            AsyncSlackNotifier(token=TOKEN, channel=CHANNEL, api_url=slack_api), "chat"
        ),
        pager=AsyncSaid(AsyncPagerDutyPager(ROUTING_KEY, url=pagerduty), "pager"),
        publisher=RecordingPublisher(),
    )
    if DEFERRED:
        await flow.trigger(ALERT)
        print("DONE", flush=True)
        await asyncio.sleep(600)
    async with AsyncClaimKeeper(flow):
        print("READY", flush=True)
        await flow.trigger(ALERT)


if __name__ == "__main__":
    driver, spec, slack_api, pagerduty = sys.argv[1:5]
    if driver == "sync":
        run_sync(spec, slack_api, pagerduty)
    else:
        asyncio.run(run_async(spec, slack_api, pagerduty))
