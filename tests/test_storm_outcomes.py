"""Under an alert storm, recording how deliveries went never collides with the incident (issue 27).

The service answers first and delivers in the background; the outcomes of those sends are then
appended to incidents that the storm keeps appending to (every body repeats or joins them). They
queue behind the incident's own appends in the process (its lock) instead of racing them: no
append of the storm is refused, no ERROR is logged, and every message sent is recorded as
delivered once. On SQLite (its store on a thread) and PostgreSQL (a pool: appends really race).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from incident_flow import (
    Alert,
    AsyncIncidentFlow,
    ConcurrencyError,
    GroupingRule,
    IncidentFlow,
    MemoryStore,
    Policy,
    RecordingNotifier,
)
from incident_flow._core.messages import Notification
from incident_flow._drivers.loop import _OUTCOMES as OUTCOMES
from incident_flow.adapters.stores.postgres_async import AsyncPostgresStore
from incident_flow.adapters.stores.sqlite import SQLiteStore
from incident_flow.testing import ManualClock

from .conftest import T0, pg_schema

CLIENTS = 12
BODIES = 6


class Refusals:
    """How many appends the store refused (someone else appended to the incident first)."""

    def __init__(self) -> None:
        self.count = 0


class CountingSQLiteStore(SQLiteStore):
    """The real SQLite store, counting the appends it refuses."""

    refusals: Refusals

    def append(self, *args: Any, **kwargs: Any) -> None:
        try:
            super().append(*args, **kwargs)
        except ConcurrencyError:
            self.refusals.count += 1
            raise

    def append_all(self, *args: Any, **kwargs: Any) -> None:
        try:
            super().append_all(*args, **kwargs)
        except ConcurrencyError:
            self.refusals.count += 1
            raise


class CountingPostgresStore(AsyncPostgresStore):
    """The real PostgreSQL store, counting the appends it refuses."""

    refusals: Refusals

    async def append(self, *args: Any, **kwargs: Any) -> None:
        try:
            await super().append(*args, **kwargs)
        except ConcurrencyError:
            self.refusals.count += 1
            raise

    async def append_all(self, *args: Any, **kwargs: Any) -> None:
        try:
            await super().append_all(*args, **kwargs)
        except ConcurrencyError:
            self.refusals.count += 1
            raise


class Channel:
    """A channel whose send gives the loop away a few times, as an HTTP call does."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, message: Notification) -> str:
        for _ in range(5):
            await asyncio.sleep(0)  # a yield to the loop, not a wait for anything
        self.sent.append(message.idempotency_key)
        return f"receipt-{len(self.sent)}"


def body() -> list[Alert]:
    """Fifty P1 alerts of five services: five incidents, each joined by ten alerts."""
    return [
        Alert(
            source="alertmanager",
            name=f"Down{n:02d}",
            title=f"instance {n} down",
            severity="P1",
            labels={"service": f"svc{n % 5}"},
        )
        for n in range(50)
    ]


async def storm(store: Any) -> tuple[AsyncIncidentFlow, Channel, Channel]:
    """CLIENTS callers sending BODIES bodies each at once, delivered in the background."""
    rule = GroupingRule(name="outage", by=["service"], window=timedelta(minutes=10))
    chat, pager = Channel(), Channel()
    flow = AsyncIncidentFlow(Policy(grouping=[rule]), store=store, notifier=chat, pager=pager)
    flow.deliver_in_background()

    async def client() -> None:
        for _ in range(BODIES):
            await flow.trigger_all(body())

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    await flow.drain()
    return flow, chat, pager


async def check(flow: AsyncIncidentFlow, chat: Channel, pager: Channel) -> None:
    incidents = await flow.incidents()
    assert len(incidents) == 5
    assert sum(i.alert_count for i in incidents) == 50 * CLIENTS * BODIES
    delivered = []
    for incident in incidents:
        history = await flow.history(incident.id)
        delivered += [e.message_id for e in history if e.type == "MessageDelivered"]  # type: ignore[attr-defined]
    # Each message sent once and recorded once: five pages, five first messages (and the
    # groups' updates, one of which may wait for its first message: DeliveryFailed, pending).
    assert len(pager.sent) == len(set(pager.sent)) == 5
    assert len(chat.sent) == len(set(chat.sent)) >= 5
    assert len(delivered) == len(set(delivered)) == len(pager.sent) + len(chat.sent)


@pytest.fixture
def quiet(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG, logger="incident_flow")
    yield caplog
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    assert not [r for r in caplog.records if "delivery_not_recorded" in r.getMessage()]
    retried = [r for r in caplog.records if "delivery_record_retried" in r.getMessage()]
    assert retried == []


def test_on_sqlite_no_append_collides(tmp_path: Path, quiet: pytest.LogCaptureFixture) -> None:
    store = CountingSQLiteStore(tmp_path / "storm.db")
    store.refusals = Refusals()

    async def run() -> None:
        flow, chat, pager = await storm(store)
        await check(flow, chat, pager)

    asyncio.run(run())
    store.close()
    assert store.refusals.count == 0


def test_on_postgres_no_append_collides(postgres_dsn: str, quiet: pytest.LogCaptureFixture) -> None:
    with pg_schema(postgres_dsn) as schema:

        async def run() -> int:
            store = CountingPostgresStore(postgres_dsn, schema=schema, max_size=8)
            store.refusals = Refusals()
            async with store:
                flow, chat, pager = await storm(store)
                await check(flow, chat, pager)
            await store.close()
            return store.refusals.count

        assert asyncio.run(run()) == 0


class OutcomesAlwaysRaced(MemoryStore):
    """A store where another process always appends first when outcomes are recorded."""

    racing = True

    def _raced(self, events: Any) -> bool:
        return self.racing and all(type(e) in OUTCOMES for e in events)

    def append(self, incident_id: str, expected_version: int, events: Any, **kw: Any) -> None:
        if self._raced(events):
            raise ConcurrencyError(incident_id, expected_version, expected_version + 1)
        super().append(incident_id, expected_version, events, **kw)

    def append_all(self, appends: Any, **kw: Any) -> None:
        for one in appends:
            if self._raced(one.events):
                raise ConcurrencyError(one.incident_id, one.expected_version)
        super().append_all(appends, **kw)


def test_an_outcome_never_recorded_is_a_warning_and_the_message_goes_again_with_its_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Past every retry the outcome is dropped: a WARNING (nothing lost), never an ERROR."""
    caplog.set_level(logging.DEBUG, logger="incident_flow")
    clock = ManualClock(T0)
    store, chat, pager = OutcomesAlwaysRaced(), RecordingNotifier(), RecordingNotifier()
    flow = IncidentFlow(Policy(), store=store, notifier=chat, pager=pager, clock=clock)
    incident = flow.trigger(body()[0])
    assert len(pager.messages) == 1 and len(chat.messages) == 1
    assert [r.levelname for r in caplog.records if "delivery_not_recorded" in r.getMessage()] == [
        "WARNING"
    ]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [e for e in flow.history(incident.id) if e.type == "MessageDelivered"]
    # The other process stops; once the claim's lease is over the messages go again, with the
    # same idempotency keys (each receiver deduplicates on them), and are recorded this time.
    store.racing = False
    clock.advance(timedelta(minutes=2))
    flow.deliver_pending()
    assert pager.sends == chat.sends == 2  # each sent again...
    assert len(pager.messages) == len(chat.messages) == 1  # ...under its key: received once
    delivered = [e for e in flow.history(incident.id) if e.type == "MessageDelivered"]
    assert len(delivered) == 2
