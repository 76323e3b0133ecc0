"""Group commit: commands awaited together share transactions, each failing on its own.

On SQLite (the threaded store) and PostgreSQL (the threaded sync store and the async store):
commands awaited together all succeed; one refused by the process, one naming no incident and
one decided by a replica on a stale incident fail (or are retried) alone; and the commits are
fewer than the appends (the SQLite trace callback sees each COMMIT; the group committer counts
the transactions it ran).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from incident_flow import (
    Alert,
    AsyncIncidentFlow,
    IncidentNotFound,
    InvalidTransition,
    RecordingNotifier,
)
from incident_flow.adapters.stores.postgres import PostgresStore
from incident_flow.adapters.stores.postgres_async import AsyncPostgresStore
from incident_flow.adapters.stores.sqlite import SQLiteStore
from incident_flow.adapters.stores.threaded import AsyncSQLiteStore, ThreadedStore
from incident_flow.exceptions import PolicyViolation
from incident_flow.testing import ManualClock
from incident_flow.testing._async import LoopThread

from .conftest import T0, pg_schema

N = 8


@pytest.fixture
def loop() -> Iterator[LoopThread]:
    with LoopThread() as running:
        yield running


@pytest.fixture(params=["sqlite", "threaded-postgres", "async-postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path, loop: LoopThread) -> Iterator[Any]:
    if request.param == "sqlite":
        opened: Any = loop.run(AsyncSQLiteStore.open(tmp_path / "incidents.db"))
        yield opened
        loop.run(opened.close())
        return
    dsn = request.getfixturevalue("postgres_dsn")
    with pg_schema(dsn) as schema:
        if request.param == "threaded-postgres":
            opened = ThreadedStore(PostgresStore(dsn, schema=schema))
        else:
            opened = loop.run(AsyncPostgresStore.open(dsn, schema=schema))
        yield opened
        loop.run(opened.close())


def _flow(store: Any) -> AsyncIncidentFlow:
    return AsyncIncidentFlow(
        store=store, notifier=RecordingNotifier(), pager=RecordingNotifier(), clock=ManualClock(T0)
    )


def _alert(n: int) -> Alert:
    return Alert(source="s", name="n", title="t", severity="P1", dedup_key=f"k{n}")


def _commits(store: Any) -> list[int]:
    """COMMITs SQLite runs from now on (its trace callback), counted in a one-item list."""
    seen = [0]
    sqlite: SQLiteStore = store.store

    def traced(statement: str) -> None:
        seen[0] += statement == "COMMIT"

    sqlite._db.set_trace_callback(traced)
    return seen


def test_commands_awaited_together_share_commits_and_fail_alone(
    store: Any, loop: LoopThread
) -> None:
    flow, replica = _flow(store), _flow(store)

    async def trigger_all() -> list[Any]:
        return await asyncio.gather(*(flow.trigger(_alert(n)) for n in range(N)))

    opened = loop.run(trigger_all())
    stale = loop.run(replica.get(opened[0].id))  # the replica's cache, before flow's ack
    loop.run(flow.acknowledge(stale.id, by="alice"))
    groups, commits = store.group_commit.groups, store.group_commit.commits
    traced = _commits(store) if isinstance(store, AsyncSQLiteStore) else None

    async def together() -> list[object]:
        return await asyncio.gather(
            *(flow.acknowledge(inc.id, by="alice") for inc in opened[1:]),
            flow.close(opened[1].id, by="bob"),  # refused by the process: not resolved
            flow.acknowledge("inc-nobody", by="bob"),  # no such incident
            replica.note(stale.id, "on it", by="carol"),  # stale: retried on a fresh read
            return_exceptions=True,
        )

    answers = loop.run(together())
    acked, (refused, missing, noted) = answers[: N - 1], answers[N - 1 :]
    assert all(getattr(a, "acknowledged_by", None) == "alice" for a in acked), answers
    assert isinstance(refused, PolicyViolation | InvalidTransition)
    assert isinstance(missing, IncidentNotFound)
    assert getattr(noted, "id", None) == stale.id
    final = loop.run(flow.get(stale.id))
    assert final.acknowledged_by == "alice"
    assert [e.type for e in loop.run(flow.history(stale.id))].count("NoteAdded") == 1
    for inc in opened[1:]:
        assert loop.run(flow.get(inc.id)).acknowledged_by == "alice"
    appended = store.group_commit.groups - groups
    transactions = store.group_commit.commits - commits
    # Every acknowledgement and the note were appended (their outcomes too), in fewer
    # transactions than appends: they shared commits.
    assert appended >= N
    assert transactions < appended, (transactions, appended)
    if traced is not None:
        assert traced[0] == transactions  # one COMMIT per shared transaction, no other write
