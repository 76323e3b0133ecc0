"""Benchmark the web console: the incident list and an incident page, 100 vs 10,000 incidents.

    python benchmarks/console.py [--small 100] [--big 10000] [--rounds 5] [--per-round 10]

Two SQLite stores, seeded through the store API like benchmarks/probes.py (a fifth of the
incidents open, at least 60: more than a page; P1..P5; the rest closed; the events and outbox
of real lifecycles, renamed): --small and --big incidents. Each is served by ``create_app``
with a ``[console]`` (the proxy header, from 127.0.0.1), on the store ``serve`` builds
(SQLite behind its thread), its lifespan run, no worker, and asked through httpx's
ASGITransport (no sockets: the app's and the store's time).

Pages: the list (open incidents, the default), the list of every incident (``state=all``:
those not closed first), its second page, and one closed incident's page (alert, timeline,
deliveries). Interleaved rounds (small, big, small, big...), each the median of --per-round
requests; prints the median over the rounds and big / small. Target: big / small <= 2 for
each page.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import structlog

sys.path.insert(0, str(Path(__file__).parent))
from probes import seed

from incident_flow import SQLiteStore
from incident_flow.console import ConsoleConfig
from incident_flow.server import ServiceConfig, async_flow, create_app

HEADERS = {"X-Forwarded-User": "alice"}


@contextlib.contextmanager
def stored(total: int, folder: Path) -> Iterator[ServiceConfig]:
    path = folder / f"{uuid.uuid4().hex}.db"
    opened = min(total, max(total // 5, 60))  # at least a full page of open ones
    with SQLiteStore(path, synchronous="NORMAL") as store:
        seed(store, opened, total - opened)
    console = ConsoleConfig(
        proxy_header="X-Forwarded-User", proxies=(ipaddress.ip_network("127.0.0.1/32"),)
    )
    try:
        yield ServiceConfig(store=str(path), console=console)
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


@contextlib.asynccontextmanager
async def serving(config: ServiceConfig) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(async_flow(config), config, worker=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(
            transport=transport, base_url="https://console", headers=HEADERS
        ) as client:
            yield client


async def paths(client: httpx.AsyncClient) -> dict[str, str]:
    """The pages measured: found once, from the list itself."""
    everything = (await client.get("/ui/incidents?state=all")).text
    more = re.search(r'href="(/ui/incidents\?[^"]*after=[^"]*)"', everything)
    closed_ones = (await client.get("/ui/incidents?state=closed")).text
    closed = re.findall(r'href="/ui/incidents/(closed-\d+)"', closed_ones)
    assert more, "the list shows no second page"
    assert closed, "the list shows no closed incident"
    return {
        "list (open)": "/ui/incidents",
        "list (all)": "/ui/incidents?state=all",
        "list (page 2)": more.group(1).replace("&amp;", "&"),
        "incident page": f"/ui/incidents/{closed[len(closed) // 2]}",
    }


async def timed(client: httpx.AsyncClient, path: str, n: int) -> float:
    """The median of ``n`` GETs of ``path``, in milliseconds."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        answer = await client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert answer.status_code == 200, (path, answer.status_code)
    return statistics.median(times)


async def measure(args: argparse.Namespace) -> dict[str, dict[int, float]]:
    folder = Path(tempfile.mkdtemp(prefix="console-"))
    figures: dict[str, dict[int, list[float]]] = {}
    with stored(args.small, folder) as small, stored(args.big, folder) as big:
        async with serving(small) as small_client, serving(big) as big_client:
            clients = {args.small: small_client, args.big: big_client}
            pages = {size: await paths(client) for size, client in clients.items()}
            for client in clients.values():  # warm: templates compiled, caches filled
                await timed(client, "/ui/incidents", 3)
            for _ in range(args.rounds):
                for size, client in clients.items():
                    for name, path in pages[size].items():
                        took = await timed(client, path, args.per_round)
                        figures.setdefault(name, {}).setdefault(size, []).append(took)
    return {
        name: {size: statistics.median(times) for size, times in by_size.items()}
        for name, by_size in figures.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--big", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=10)
    args = parser.parse_args()
    logging.disable(logging.INFO)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    figures = asyncio.run(measure(args))
    print(f"console pages, SQLite, {args.small} vs {args.big} incidents (median ms)")
    worst = 0.0
    for name, by_size in figures.items():
        ratio = by_size[args.big] / by_size[args.small]
        worst = max(worst, ratio)
        print(
            f"  {name:14} {by_size[args.small]:8.2f} ms  {by_size[args.big]:8.2f} ms  "
            f"ratio {ratio:4.2f}"
        )
    print(f"worst ratio {worst:.2f} (target <= 2)")


if __name__ == "__main__":
    main()
