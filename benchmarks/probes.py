"""Benchmark the service's probes: /readyz and /metrics with many incidents stored.

    python benchmarks/probes.py [--backend sqlite|postgres|both] [--open 10000] [--closed 10000]
                                [--rounds 5] [--per-round 10] [--scrapes 100]

For each backend, two stores: an empty one, and one holding --open open incidents (P1..P5,
notified, their first messages delivered) and --closed closed ones (acknowledged, resolved,
closed, four delivered messages each), seeded by ``append_all`` through the store API (the
events and outbox of one real lifecycle, renamed). Each store is served by ``create_app`` on
the store ``serve`` builds (SQLite behind its thread, AsyncPostgresStore), its lifespan run,
without the worker, and asked through httpx's ASGITransport: no sockets, so the figures are
the app's and the store's.

(a) /readyz and /metrics: interleaved rounds (empty, full, empty, full...), each the median of
    --per-round requests; prints the median over the rounds, and full / empty.
    Target: full / empty <= 2.
(b) The process's RSS over --scrapes scrapes of /metrics on the full store. Target: flat.

PostgreSQL: the full schema is VACUUM ANALYZEd after seeding, as autovacuum does to a table
that grew by inserts (the visibility map lets a count read the index alone).
Medians of several rounds; the machine is shared and noisy, so read the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import httpx
import structlog

from incident_flow import (
    Alert,
    IncidentFlow,
    MemoryStore,
    Policy,
    PostgresStore,
    RecordingNotifier,
    SQLiteStore,
)
from incident_flow._core import events as ev
from incident_flow._core.incident import Incident, fold
from incident_flow._core.messages import OutboxMessage
from incident_flow.ports import StreamAppend
from incident_flow.server import ServiceConfig, async_flow, create_app
from incident_flow.testing import RecordingPublisher

DSN = os.environ.get("INCIDENT_FLOW_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
BATCH = 500


# ----------------------------------------------------------------- seeding


@attrs.frozen
class Template:
    """One real incident's events, snapshot and outbox, to be copied under new ids."""

    events: list[ev.Event]
    snapshot: Incident
    outbox: list[OutboxMessage]

    def copy(self, incident_id: str) -> StreamAppend:
        first = self.events[0]
        assert isinstance(first, ev.IncidentTriggered)
        alert = attrs.evolve(first.alert, dedup_key=incident_id)
        events = [
            attrs.evolve(first, incident_id=incident_id, dedup_key=incident_id, alert=alert),
            *self.events[1:],
        ]
        snapshot = attrs.evolve(self.snapshot, id=incident_id, dedup_key=incident_id)
        return StreamAppend(
            incident_id=incident_id,
            expected_version=0,
            events=events,
            snapshot=snapshot,
            outbox=[_renamed(m, self.snapshot.id, incident_id) for m in self.outbox],
        )


def _renamed(message: OutboxMessage, old: str, new: str) -> OutboxMessage:
    notification = message.notification
    if notification is not None:
        notification = attrs.evolve(
            notification,
            incident_id=new,
            idempotency_key=notification.idempotency_key.replace(old, new),
        )
    return attrs.evolve(
        message, id=message.id.replace(old, new), incident_id=new, notification=notification
    )


def templates() -> tuple[list[Template], Template]:
    """Open incidents of each severity (notified, delivered) and a closed one, made by a flow."""
    store = MemoryStore()
    flow = IncidentFlow(
        Policy(),
        store=store,
        notifier=RecordingNotifier(),
        pager=RecordingNotifier(),
        publisher=RecordingPublisher(),
    )

    def kept(incident_id: str) -> Template:
        events = flow.history(incident_id)
        return Template(events, fold(None, events), store.outbox_messages(incident_id))

    opened = []
    for severity in ("P1", "P2", "P3", "P4", "P5"):
        alert = Alert(source="bench", name="n", title="t", severity=severity, dedup_key=severity)
        incident = flow.trigger(alert)
        flow.deliver_pending()
        opened.append(kept(incident.id))
    alert = Alert(source="bench", name="n", title="t", severity="P4", dedup_key="closed")
    incident = flow.trigger(alert)
    flow.acknowledge(incident.id, by="alice")
    incident = flow.resolve(incident.id, by="alice")
    for item in incident.action_items:
        flow.waive_action_item(incident.id, item.id, by="alice", reason="benchmark")
    flow.close(incident.id, by="alice")
    flow.deliver_pending()
    closed = kept(incident.id)
    assert closed.snapshot.state == "closed"
    return opened, closed


def seed(store: Any, opened: int, closed: int) -> None:
    """Append the incidents through the store API, BATCH incidents a transaction."""
    open_templates, closed_template = templates()
    appends = [open_templates[n % len(open_templates)].copy(f"open-{n:06d}") for n in range(opened)]
    appends += [closed_template.copy(f"closed-{n:06d}") for n in range(closed)]
    for start in range(0, len(appends), BATCH):
        store.append_all(appends[start : start + BATCH])


# ----------------------------------------------------------------- backends


class SQLite:
    name = "SQLite"

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="probes-"))

    @contextlib.contextmanager
    def config(self, opened: int, closed: int) -> Iterator[ServiceConfig]:
        path = self.folder / f"{uuid.uuid4().hex}.db"
        with SQLiteStore(path, synchronous="NORMAL") as store:
            seed(store, opened, closed)
        try:
            yield ServiceConfig(store=str(path))
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)


class Postgres:
    name = "PostgreSQL"

    @contextlib.contextmanager
    def config(self, opened: int, closed: int) -> Iterator[ServiceConfig]:
        import psycopg

        schema = f"probes_{uuid.uuid4().hex[:10]}"
        try:
            with PostgresStore(DSN, schema=schema) as store:
                seed(store, opened, closed)
            with psycopg.connect(DSN, autocommit=True) as conn:
                conn.execute(f'VACUUM ANALYZE "{schema}".incidents')
                conn.execute(f'VACUUM ANALYZE "{schema}".outbox')
            yield ServiceConfig(store=DSN, schema=schema)
        finally:
            with psycopg.connect(DSN, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# ----------------------------------------------------------------- measurements


@contextlib.asynccontextmanager
async def serving(config: ServiceConfig) -> AsyncIterator[httpx.AsyncClient]:
    """The app ``serve`` would run on this store (no worker), its lifespan entered."""
    app = create_app(async_flow(config), config, worker=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
            yield client


async def timed(client: httpx.AsyncClient, path: str, times: int) -> float:
    """The median seconds of ``times`` GETs of ``path`` (each must answer 200)."""
    spent = []
    for _ in range(times):
        start = time.perf_counter()
        answer = await client.get(path)
        spent.append(time.perf_counter() - start)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:200])
    return statistics.median(spent)


def rss_mb() -> float:
    """This process's resident set, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")  # pragma: no cover - not Linux


async def measure(backend: Any, args: argparse.Namespace) -> None:
    with backend.config(0, 0) as empty_config, backend.config(args.open, args.closed) as full:
        async with serving(empty_config) as empty, serving(full) as loaded:
            started = rss_mb()
            text = (await loaded.get("/metrics")).text
            shown = [line for line in text.splitlines() if line.startswith("incident_flow_")]
            counted = [line for line in shown if line.startswith(("incident_flow_incidents{",
                       "incident_flow_outbox"))]  # fmt: skip
            print("    " + "\n    ".join(counted))
            gauge = {
                line.split("{", 1)[1].split("}", 1)[0]: float(line.rsplit(" ", 1)[1])
                for line in counted
                if line.startswith("incident_flow_incidents{")
            }
            closed = gauge.pop('severity="any",state="closed"', 0.0)
            assert (sum(gauge.values()), closed) == (args.open, args.closed), gauge
            for path in ("/readyz", "/metrics"):
                rounds: list[tuple[float, float]] = []
                for _ in range(args.rounds):
                    small = await timed(empty, path, args.per_round)
                    big = await timed(loaded, path, args.per_round)
                    rounds.append((small, big))
                small = statistics.median(r[0] for r in rounds)
                big = statistics.median(r[1] for r in rounds)
                ratio = statistics.median(r[1] / r[0] for r in rounds)
                print(
                    f"(a) {path:9} empty {small * 1e3:8.2f} ms   "
                    f"{args.open:,} open + {args.closed:,} closed {big * 1e3:8.2f} ms   "
                    f"ratio {ratio:.2f} (target <= 2)"
                )
            marks = sorted({1, min(10, args.scrapes), args.scrapes // 2, args.scrapes} - {0})
            seen: dict[int, float] = {}
            for n in range(1, args.scrapes + 1):
                assert (await loaded.get("/metrics")).status_code == 200
                if n in marks:
                    seen[n] = rss_mb()
            shown_rss = ", ".join(f"{seen[n]:.1f} MB after {n}" for n in marks)
            growth = seen[marks[-1]] - seen[marks[0]]
            print(
                f"(b) RSS {started:.1f} MB before any request; over {args.scrapes} scrapes: "
                f"{shown_rss} ({growth:+.1f} MB; target flat)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--open", type=int, default=10_000)
    parser.add_argument("--closed", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=10, help="requests per round")
    parser.add_argument("--scrapes", type=int, default=100)
    args = parser.parse_args()
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        cache_logger_on_first_use=True,
    )
    backends: dict[str, Sequence[Any]] = {
        "sqlite": [SQLite()],
        "postgres": [Postgres()],
        "both": [SQLite(), Postgres()],
    }
    for backend in backends[args.backend]:
        print(f"\n== {backend.name}")
        start = time.perf_counter()
        asyncio.run(measure(backend, args))
        print(f"    ({time.perf_counter() - start:.0f} s, seeding included)")


if __name__ == "__main__":
    main()
