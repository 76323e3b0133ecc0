"""Load: webhook requests against `incident-flow serve` processes for a bounded time, on loopback.

Starts N `serve` processes on one store (SQLite: one process; PostgreSQL: several, a fresh
schema), sends Alertmanager webhooks from an async client at a fixed concurrency, round robin
over the processes, for --seconds; each body carries one alert whose fingerprint is one of
--keys, so most requests repeat an open incident (dedup under load) and the rest open new
ones. Prints requests/s, p50/p99 latency, the servers' CPU seconds per second, and checks the
store afterwards: one incident per key, one page per incident, every accepted alert counted.

    python benchmarks/server_load.py [--backend sqlite|postgres] [--replicas 2] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

SAMPLE = Path(__file__).parents[1] / "tests" / "samples" / "alertmanager_firing.json"
TOKEN = "load-test-token"  # noqa: S105 - loopback only


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def body(key: int) -> bytes:
    data = json.loads(SAMPLE.read_text())
    alert = copy.deepcopy(data["alerts"][0])
    alert["fingerprint"] = f"load{key:06d}"
    alert["labels"] = {**alert["labels"], "instance": f"load-{key}"}
    data["alerts"] = [alert]
    return json.dumps(data).encode()


async def hammer(urls: list[str], seconds: float, concurrency: int, keys: int) -> list[float]:
    latencies: list[float] = []
    bodies = [body(k) for k in range(keys)]
    headers = {"Content-Type": "application/json", "X-Incident-Flow-Token": TOKEN}
    deadline = time.monotonic() + seconds
    counter = 0

    async def one(client: httpx.AsyncClient) -> None:
        nonlocal counter
        while time.monotonic() < deadline:
            n = counter
            counter += 1
            start = time.perf_counter()
            answer = await client.post(
                urls[n % len(urls)], content=bodies[n % keys], headers=headers
            )
            latencies.append(time.perf_counter() - start)
            if answer.status_code != 202:
                msg = f"{answer.status_code}: {answer.text[:200]}"
                raise RuntimeError(msg)

    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(*(one(client) for _ in range(concurrency)))
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--keys", type=int, default=200)
    parser.add_argument(
        "--dsn", default=os.environ.get("INCIDENT_FLOW_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
    )  # fmt: skip
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="load-"))
    schema = f"load_{uuid.uuid4().hex[:10]}"
    if args.backend == "postgres":
        store = f'postgres = "{args.dsn}"\nschema = "{schema}"'

    else:
        store = 'sqlite = "incidents.db"'
    env = {**os.environ, "LOAD_TOKEN": TOKEN}
    processes: list[tuple[subprocess.Popen[bytes], int]] = []
    try:
        for _ in range(args.replicas):
            port = free_port()
            config = folder / f"serve-{port}.toml"
            config.write_text(
                f'[store]\n{store}\n[sources.alertmanager]\nsecret = "${{LOAD_TOKEN}}"\n'
                f'[server]\nport = {port}\n[worker]\ninterval = "1s"\n'
            )
            process = subprocess.Popen(  # noqa: S603 - our own command
                [sys.executable, "-m", "incident_flow.cli", "--config", str(config), "serve"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            processes.append((process, port))
        for process, port in processes:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise RuntimeError(process.stderr.read().decode() if process.stderr else "")  # noqa: B904
                    time.sleep(0.1)
        urls = [f"http://127.0.0.1:{port}/webhooks/alertmanager" for _, port in processes]
        cpu_before = sum(cpu_seconds(p.pid) for p, _ in processes)
        started = time.perf_counter()
        latencies = asyncio.run(hammer(urls, args.seconds, args.concurrency, args.keys))
        elapsed = time.perf_counter() - started
        cpu = sum(cpu_seconds(p.pid) for p, _ in processes) - cpu_before
    finally:
        for process, _ in processes:
            process.send_signal(signal.SIGTERM)
        for process, _ in processes:
            process.wait(30)
    latencies.sort()
    print(
        f"{args.backend}, {args.replicas} serve process(es), {args.concurrency} concurrent "
        f"clients, {elapsed:.1f} s on loopback"
    )
    print(f"  requests            {len(latencies)} ({len(latencies) / elapsed:.0f}/s)")
    print(
        f"  latency             p50 {statistics.median(latencies) * 1000:.1f} ms, "
        f"p99 {latencies[int(len(latencies) * 0.99) - 1] * 1000:.1f} ms"
    )
    print(f"  server CPU          {cpu / elapsed:.2f} CPU-seconds per second (2 cores here)")
    check(args, folder, schema, len(latencies))


def check(args: argparse.Namespace, folder: Path, schema: str, sent: int) -> None:
    """Nothing lost, nothing doubled: one incident per key, one page each, every alert counted."""
    from incident_flow import IncidentFlow, LogNotifier

    if args.backend == "postgres":
        from incident_flow import PostgresStore

        store = PostgresStore(args.dsn, schema=schema)
    else:
        from incident_flow import SQLiteStore

        store = SQLiteStore(folder / "incidents.db")
    flow = IncidentFlow(store=store, notifier=LogNotifier(), pager=LogNotifier("pager"))
    incidents = flow.incidents()
    keys = {i.dedup_key for i in incidents}
    counted = sum(i.alert_count for i in incidents)
    pages = [
        e
        for i in incidents
        for e in flow.history(i.id)
        if e.type == "MessageDelivered" and e.kind == "page"  # type: ignore[attr-defined]
    ]
    print(f"  incidents           {len(incidents)} for {len(keys)} keys")
    print(f"  alerts counted      {counted} of {sent} accepted")
    print(f"  pages delivered     {len(pages)} for {len(incidents)} paged incidents")
    assert len(incidents) == len(keys) == min(args.keys, sent), "an incident lost or doubled"
    assert counted == sent, "an accepted alert was not counted"
    assert len(pages) == len(incidents), "a page lost or doubled"
    store.close()
    if args.backend == "postgres":
        import psycopg

        with psycopg.connect(args.dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    print("  nothing lost, nothing doubled")


if __name__ == "__main__":
    main()
