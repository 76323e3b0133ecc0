"""Load: webhook requests against `incident-flow serve` processes for a bounded time, on loopback.

Starts N `serve` processes on one store (SQLite: one process; PostgreSQL: several, a fresh
schema), sends Alertmanager webhooks from an async client at a fixed concurrency, round robin
over the processes, for --seconds; each body carries one alert whose fingerprint is one of
--keys, so most requests repeat an open incident (dedup under load) and the rest open new
ones. Prints requests/s, p50/p99 latency, the servers' CPU seconds per second, and checks the
store afterwards: one incident per key, one page per incident, every accepted alert counted.

    python benchmarks/server_load.py [--backend sqlite|postgres] [--replicas 2] [--seconds 20]

Comparisons (issue 27), each against its baseline measured in the same run, median of
interleaved rounds, with the same load client:

    python benchmarks/server_load.py --vs-bare [--rounds 5] [--seconds 3]
        serve (SQLite) vs a bare Starlette app doing one durable SQLite insert per request
        (WAL, synchronous=FULL): repeats of one alert (target >= 0.8 of bare), new alerts
        (target >= 0.4), p99 of new alerts (target <= 3x bare's)
    python benchmarks/server_load.py --slack-hanging [--rounds 5]
        20 P1 alerts in one body while Slack never answers: time to the webhook's answer
        (target < 1 s) and until all 20 pages reached PagerDuty (target < 2 s)
    python benchmarks/server_load.py --vs-alertmanager [--rounds 5] [--cycles 200]
        Prometheus Alertmanager 0.25 (Debian's prometheus-alertmanager, installed with
        apt-get when missing; skipped with the reason when it cannot be) and serve on one
        stream, 50 alerts x 200 cycles grouped by service, at 1 and 50 alerts per request:
        CPU seconds per alert (target <= 2x Alertmanager's), and ERROR lines in serve's log
        (target 0)
    python benchmarks/server_load.py --compare     all three
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import http.server
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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


# ------------------------------------------------------------------ comparisons (issue 27)

BARE_APP = """
import json, sqlite3, sys
import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

db = sqlite3.connect(sys.argv[2], isolation_level=None, check_same_thread=False)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA synchronous=FULL")
db.execute("CREATE TABLE IF NOT EXISTS alerts (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")

async def hook(request):
    data = json.loads(await request.body())
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO alerts (body) VALUES (?)", (json.dumps(data["alerts"][0]),))
    db.execute("COMMIT")
    return JSONResponse({"incidents": []}, status_code=202)

async def healthz(request):
    return JSONResponse({"ok": True})

app = Starlette(routes=[
    Route("/webhooks/alertmanager", hook, methods=["POST"]),
    Route("/healthz", healthz, methods=["GET"]),
])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            timeout_keep_alive=5, limit_concurrency=1000)
"""


class Process:
    """A server process on a free loopback port: started, waited for, stopped; its stderr kept."""

    def __init__(self, command: list[str], folder: Path, port: int, env: dict[str, str]) -> None:
        self.port = port
        self.log = folder / f"stderr-{port}.log"
        self._log = self.log.open("wb")
        self.process = subprocess.Popen(  # noqa: S603 - our own commands
            command, env=env, stdout=subprocess.DEVNULL, stderr=self._log, cwd=folder
        )

    def wait_ready(self, path: str = "/healthz") -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=1)
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(self.log.read_text()[-2000:]) from None
                time.sleep(0.05)

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()

    def errors(self) -> list[str]:
        """The log's ERROR lines: text (``ERROR ...``) or JSON (``"level": "error"``)."""
        found = []
        for line in self.log.read_text().splitlines():
            if line.startswith(("ERROR", "CRITICAL")):
                found.append(line)
            elif line.startswith("{"):
                try:
                    level = str(json.loads(line).get("level", "")).lower()
                except ValueError:
                    continue
                if level in ("error", "critical"):
                    found.append(line)
        return found


def start_serve(folder: Path, extra: str = "", env: dict[str, str] | None = None) -> Process:
    """`incident-flow serve` on SQLite (a fresh file), with the worker, plus ``extra`` config."""
    port = free_port()
    config = folder / f"serve-{port}.toml"
    config.write_text(
        f'[store]\nsqlite = "incidents-{port}.db"\n[sources.alertmanager]\n'
        f'secret = "${{LOAD_TOKEN}}"\n[server]\nport = {port}\n[worker]\ninterval = "1s"\n' + extra
    )
    process = Process(
        [sys.executable, "-m", "incident_flow.cli", "--config", str(config), "serve"],
        folder,
        port,
        {**os.environ, "LOAD_TOKEN": TOKEN, **(env or {})},
    )
    process.wait_ready()
    return process


def start_bare(folder: Path) -> Process:
    script = folder / "bare.py"
    script.write_text(BARE_APP)
    port = free_port()
    process = Process(
        [sys.executable, str(script), str(port), str(folder / f"bare-{port}.db")],
        folder,
        port,
        dict(os.environ),
    )
    process.wait_ready()
    return process


class NewBodies:
    """Bodies of one alert each, every one new (a fingerprint never sent before)."""

    def __init__(self) -> None:
        self.template = (
            body(0).replace(b"load000000", b"NEWKEY____").replace(b"load-0", b"NEWKEY____")
        )
        self.n = 0

    def __call__(self, _: int) -> bytes:
        self.n += 1
        return self.template.replace(b"NEWKEY____", f"n{self.n:09d}".encode())


async def timed_load(
    url: str, make: Callable[[int], bytes], seconds: float, concurrency: int
) -> list[float]:
    """Keep ``concurrency`` keep-alive clients posting ``make(n)`` for ``seconds``: latencies."""
    latencies: list[float] = []
    headers = {"Content-Type": "application/json", "X-Incident-Flow-Token": TOKEN}
    deadline = time.monotonic() + seconds
    counter = 0

    async def one(client: httpx.AsyncClient) -> None:
        nonlocal counter
        while time.monotonic() < deadline:
            counter += 1
            payload = make(counter)
            start = time.perf_counter()
            answer = await client.post(url, content=payload, headers=headers)
            latencies.append(time.perf_counter() - start)
            if answer.status_code != 202:
                msg = f"{answer.status_code}: {answer.text[:200]}"
                raise RuntimeError(msg)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        await asyncio.gather(*(one(client) for _ in range(concurrency)))
    return latencies


def p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[max(int(len(ordered) * 0.99) - 1, 0)]


def vs_bare(args: argparse.Namespace, folder: Path) -> dict[str, float]:
    """serve vs the bare app: repeats and new alerts, interleaved rounds; the medians."""
    serve, bare = start_serve(folder), start_bare(folder)
    repeat = body(0)
    results: dict[tuple[str, str], list[tuple[float, float, float, float]]] = {}
    try:
        # Warm both up (imports, first incident, SQLite pages).
        for process in (serve, bare):
            url = f"http://127.0.0.1:{process.port}/webhooks/alertmanager"
            asyncio.run(timed_load(url, lambda _: repeat, 1.0, args.concurrency))
        for round_ in range(args.rounds):
            order = [("serve", serve), ("bare", bare)]
            if round_ % 2:
                order.reverse()
            for workload in ("repeats", "new"):
                for name, process in order:
                    url = f"http://127.0.0.1:{process.port}/webhooks/alertmanager"
                    make = (lambda _: repeat) if workload == "repeats" else NewBodies()
                    before = process.cpu()
                    lat = asyncio.run(timed_load(url, make, args.seconds, args.concurrency))
                    cpu = (process.cpu() - before) / len(lat)
                    results.setdefault((name, workload), []).append(
                        (len(lat) / args.seconds, statistics.median(lat), p99(lat), cpu)
                    )
        errors = serve.errors()
    finally:
        serve.stop()
        bare.stop()
    print(
        f"serve vs a bare Starlette app (one durable SQLite insert per request), "
        f"{args.concurrency} keep-alive clients, {args.rounds} interleaved rounds of "
        f"{args.seconds:.0f} s, medians"
    )
    figures: dict[str, float] = {}
    for workload in ("repeats", "new"):
        s, b = results["serve", workload], results["bare", workload]
        ratios = [x[0] / y[0] for x, y in zip(s, b, strict=True)]
        tails = [x[2] / y[2] for x, y in zip(s, b, strict=True)]
        figures[f"{workload}_ratio"] = statistics.median(ratios)
        figures[f"{workload}_p99_ratio"] = statistics.median(tails)
        print(
            f"  {workload:8} serve {statistics.median(x[0] for x in s):6.0f} req/s "
            f"(p50 {statistics.median(x[1] for x in s) * 1000:5.1f} ms, "
            f"p99 {statistics.median(x[2] for x in s) * 1000:5.1f} ms)  "
            f"bare {statistics.median(x[0] for x in b):6.0f} req/s "
            f"(p50 {statistics.median(x[1] for x in b) * 1000:5.1f} ms, "
            f"p99 {statistics.median(x[2] for x in b) * 1000:5.1f} ms)  "
            f"ratio {figures[f'{workload}_ratio']:.2f}, p99 x{figures[f'{workload}_p99_ratio']:.2f}"
        )
        print(
            f"  {'':8} CPU per request: serve {statistics.median(x[3] for x in s) * 1e6:5.0f} us, "
            f"bare {statistics.median(x[3] for x in b) * 1e6:5.0f} us"
        )
    print(
        f"  targets: repeats >= 0.8 ({figures['repeats_ratio']:.2f}), new >= 0.4 "
        f"({figures['new_ratio']:.2f}), p99 of new <= 3x ({figures['new_p99_ratio']:.2f}x); "
        f"ERROR lines in serve's log: {len(errors)}"
    )
    return figures


# --------------------------------------------------------- Slack hanging, PagerDuty answering


class _Fake(http.server.BaseHTTPRequestHandler):
    """Slack (postMessage hangs until released) and PagerDuty (answers, records) on one port."""

    pages: list[tuple[float, str]]
    release: threading.Event
    lock: threading.Lock

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path.startswith("/v2/enqueue"):
            key = json.loads(data).get("dedup_key", "")
            with self.lock:
                self.pages.append((time.perf_counter(), key))
            self._answer(202, {"status": "success", "message": "ok", "dedup_key": key})
        elif self.path.startswith("/api/chat.postMessage"):
            self.release.wait(60)  # Slack not answering
            self._answer(200, {"ok": True, "channel": "C1", "ts": f"{time.time():.6f}"})
        else:
            self._answer(200, {"ok": True, "messages": [], "has_more": False})

    def do_GET(self) -> None:
        self._answer(200, {"ok": True, "messages": [], "has_more": False})

    def _answer(self, status: int, payload: object) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def storm_of_p1s(n: int) -> bytes:
    data = json.loads(SAMPLE.read_text())
    first = data["alerts"][0]
    data["alerts"] = []
    for i in range(n):
        alert = copy.deepcopy(first)
        alert["labels"] = {
            **alert["labels"],
            "alertname": f"ServiceDown{i}",
            "severity": "critical",
        }
        alert["fingerprint"] = f"{uuid.uuid4().hex[:16]}"
        data["alerts"].append(alert)
    return json.dumps(data).encode()


def slack_hanging(args: argparse.Namespace, folder: Path) -> dict[str, float]:
    """20 P1s in one body, Slack hanging: the answer's time and the 20th page's, per round."""
    answers: list[float] = []
    paged: list[float] = []
    for _ in range(args.rounds):
        handler = type(
            "Fake",
            (_Fake,),
            {"pages": [], "release": threading.Event(), "lock": threading.Lock()},
        )
        fake = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        fake.daemon_threads = True
        threading.Thread(target=fake.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{fake.server_address[1]}"
        extra = (
            f'[slack]\ntoken = "${{SLACK_T}}"\nchannel = "C1"\napi_url = "{url}/api"\n'
            f'[pagerduty]\nrouting_key = "${{PD_K}}"\nurl = "{url}/v2/enqueue"\n'
        )
        serve = start_serve(folder, extra, {"SLACK_T": "xoxb-bench", "PD_K": "R" * 32})
        try:
            payload = storm_of_p1s(20)
            start = time.perf_counter()
            answer = httpx.post(
                f"http://127.0.0.1:{serve.port}/webhooks/alertmanager",
                content=payload,
                headers={"Content-Type": "application/json", "X-Incident-Flow-Token": TOKEN},
                timeout=60,
            )
            answered = time.perf_counter() - start
            assert answer.status_code == 202, answer.text
            deadline = time.monotonic() + 30
            while len({k for _, k in handler.pages}) < 20 and time.monotonic() < deadline:
                time.sleep(0.005)
            keys = {k for _, k in handler.pages}
            last = max(t for t, _ in handler.pages) - start if len(keys) >= 20 else float("inf")
            answers.append(answered)
            paged.append(last)
        finally:
            handler.release.set()
            serve.stop()
            fake.shutdown()
    figures = {"answer_s": statistics.median(answers), "pages_s": statistics.median(paged)}
    print(
        f"Slack hanging, 20 P1 alerts in one Alertmanager body, {args.rounds} rounds, medians: "
        f"webhook answered in {figures['answer_s'] * 1000:.0f} ms (target < 1000 ms), all 20 "
        f"pages at PagerDuty after {figures['pages_s'] * 1000:.0f} ms (target < 2000 ms)"
    )
    return figures


# ------------------------------------------------------------------ vs Prometheus Alertmanager

AM_CONFIG = """route:
  receiver: sink
  group_by: [service]
  group_wait: 1s
  group_interval: 5s
  repeat_interval: 4h
receivers:
  - name: sink
    webhook_configs:
      - url: http://127.0.0.1:{sink}/
        send_resolved: false
"""
GROUPING = '[[policy.grouping]]\nname = "outage"\nby = ["service"]\nwindow = "10m"\n'


def alertmanager_binary() -> str | None:
    """The Alertmanager binary, installed from Debian's package when missing; None: cannot."""
    for name in ("prometheus-alertmanager", "alertmanager"):
        found = shutil.which(name) or (
            f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None
        )
        if found:
            return found
    if shutil.which("apt-get") is None:
        return None
    print("installing prometheus-alertmanager with apt-get ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "install", "-y", "-q", "prometheus-alertmanager"],
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "prometheus-alertmanager"],
    ):
        done = subprocess.run(command, env=env, capture_output=True, check=False)  # noqa: S603
        if done.returncode == 0 and command[1] == "install":
            break
    return shutil.which("prometheus-alertmanager")


def stream(cycles: int) -> list[list[dict[str, Any]]]:
    """50 alerts of one service firing again every cycle (as storm.py): the alerts of each cycle."""
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    out = []
    for cycle in range(cycles):
        at = (start + timedelta(seconds=30 * cycle)).isoformat().replace("+00:00", "Z")
        out.append(
            [
                {
                    "labels": {
                        "alertname": f"Checkout{n:02d}",
                        "service": "checkout",
                        "instance": f"checkout-{n}",
                        "severity": "critical",
                    },
                    "annotations": {"summary": f"checkout instance {n} failing"},
                    "startsAt": at,
                    "generatorURL": "http://prometheus.example/graph",
                    "fingerprint": f"{n:016x}",
                    "status": "firing",
                    "endsAt": "0001-01-01T00:00:00Z",
                }
                for n in range(50)
            ]
        )
    return out


def as_webhook(alerts: list[dict[str, Any]]) -> bytes:
    """An Alertmanager webhook body (what Alertmanager sends its receivers) of ``alerts``."""
    return json.dumps(
        {
            "version": "4",
            "groupKey": '{}:{service="checkout"}',
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "incident-flow",
            "groupLabels": {"service": "checkout"},
            "commonLabels": {"service": "checkout"},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.example",
            "alerts": alerts,
        }
    ).encode()


def as_api(alerts: list[dict[str, Any]]) -> bytes:
    """Alertmanager's own API body (POST /api/v2/alerts) of ``alerts``."""
    keep = ("labels", "annotations", "startsAt", "generatorURL")
    return json.dumps([{k: a[k] for k in keep} for a in alerts]).encode()


async def send_all(url: str, bodies: list[bytes], concurrency: int) -> list[float]:
    """Post every body once, ``concurrency`` keep-alive clients at a time, in order."""
    headers = {"Content-Type": "application/json", "X-Incident-Flow-Token": TOKEN}
    latencies: list[float] = []
    queue = iter(bodies)

    async def one(client: httpx.AsyncClient) -> None:
        for payload in queue:
            start = time.perf_counter()
            answer = await client.post(url, content=payload, headers=headers)
            latencies.append(time.perf_counter() - start)
            if answer.status_code >= 300:
                msg = f"{url}: {answer.status_code}: {answer.text[:200]}"
                raise RuntimeError(msg)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await asyncio.gather(*(one(client) for _ in range(concurrency)))
    return latencies


class _Sink(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


def vs_alertmanager(args: argparse.Namespace, folder: Path) -> dict[str, float] | None:  # noqa: PLR0915
    """CPU seconds per alert, serve vs Alertmanager, on the same stream; ERROR lines in serve's."""
    binary = alertmanager_binary()
    if binary is None:
        print(
            "Alertmanager: SKIPPED (prometheus-alertmanager is not installed and apt-get could "
            "not install it); install it with `apt-get install prometheus-alertmanager`"
        )
        return None
    version = subprocess.run(  # noqa: S603
        [binary, "--version"], capture_output=True, text=True, check=False
    )
    cycles = stream(args.cycles)
    alerts = 50 * args.cycles
    sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    sink.daemon_threads = True
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    cpu: dict[tuple[str, int], list[float]] = {}
    rate: dict[tuple[str, int], list[float]] = {}
    p50: dict[tuple[str, int], list[float]] = {}
    errors = 0
    try:
        for round_ in range(args.rounds):
            order = ["serve", "alertmanager"] if round_ % 2 == 0 else ["alertmanager", "serve"]
            for per in (1, 50):
                for name in order:
                    if name == "serve":
                        process = start_serve(folder, GROUPING)
                        url = f"http://127.0.0.1:{process.port}/webhooks/alertmanager"
                        bodies = [
                            as_webhook(c[i : i + per]) for c in cycles for i in range(0, 50, per)
                        ]
                    else:
                        port = free_port()
                        config = folder / f"am-{port}.yml"
                        config.write_text(AM_CONFIG.format(sink=sink.server_address[1]))
                        process = Process(
                            [
                                binary,
                                f"--config.file={config}",
                                f"--storage.path={folder / f'am-{port}'}",
                                f"--web.listen-address=127.0.0.1:{port}",
                                "--cluster.listen-address=",
                                "--log.level=warn",
                            ],
                            folder,
                            port,
                            dict(os.environ),
                        )
                        process.wait_ready("/-/ready")
                        url = f"http://127.0.0.1:{port}/api/v2/alerts"
                        bodies = [as_api(c[i : i + per]) for c in cycles for i in range(0, 50, per)]
                    try:
                        before = process.cpu()
                        started = time.perf_counter()
                        lat = asyncio.run(send_all(url, bodies, args.concurrency))
                        elapsed = time.perf_counter() - started
                        cpu.setdefault((name, per), []).append((process.cpu() - before) / alerts)
                        rate.setdefault((name, per), []).append(alerts / elapsed)
                        p50.setdefault((name, per), []).append(statistics.median(lat))
                    finally:
                        process.stop()
                    if name == "serve":
                        errors += len(process.errors())
    finally:
        sink.shutdown()
    print(
        f"vs {version.stdout.splitlines()[0] if version.stdout else binary} "
        f"(its API; serve: its Alertmanager webhook), 50 alerts x {args.cycles} cycles grouped "
        f"by service, {args.concurrency} keep-alive clients, {args.rounds} interleaved rounds, "
        "medians"
    )
    figures: dict[str, float] = {"errors": float(errors)}
    for per in (1, 50):
        ours, theirs = cpu["serve", per], cpu["alertmanager", per]
        ratio = statistics.median(a / b for a, b in zip(ours, theirs, strict=True))
        figures[f"cpu_ratio_{per}"] = ratio
        print(
            f"  {per:2} per request: serve {statistics.median(ours) * 1e6:6.0f} us CPU/alert "
            f"({statistics.median(rate['serve', per]):6.0f} alerts/s, p50 "
            f"{statistics.median(p50['serve', per]) * 1000:5.1f} ms)  alertmanager "
            f"{statistics.median(theirs) * 1e6:6.0f} us CPU/alert "
            f"({statistics.median(rate['alertmanager', per]):6.0f} alerts/s, p50 "
            f"{statistics.median(p50['alertmanager', per]) * 1000:5.1f} ms)  "
            f"ratio {ratio:.2f} (target <= 2)"
        )
    print(f"  ERROR lines in serve's log during the stream: {errors} (target 0)")
    return figures


def compare(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="compare-"))
    try:
        if args.vs_bare or args.compare:
            vs_bare(args, folder)
        if args.slack_hanging or args.compare:
            slack_hanging(args, folder)
        if args.vs_alertmanager or args.compare:
            vs_alertmanager(args, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:  # noqa: PLR0915 - the options, then the load run
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--keys", type=int, default=200)
    parser.add_argument(
        "--dsn", default=os.environ.get("INCIDENT_FLOW_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
    )  # fmt: skip
    parser.add_argument("--vs-bare", action="store_true", help="serve vs a bare Starlette app")
    parser.add_argument("--slack-hanging", action="store_true", help="pages while Slack hangs")
    parser.add_argument("--vs-alertmanager", action="store_true", help="CPU vs Alertmanager")
    parser.add_argument("--compare", action="store_true", help="all three comparisons")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (medians)")
    parser.add_argument("--cycles", type=int, default=200, help="cycles of the 50-alert stream")
    args = parser.parse_args()
    if args.vs_bare or args.slack_hanging or args.vs_alertmanager or args.compare:
        if args.seconds == 20.0:
            args.seconds = 3.0
        compare(args)
        return
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
            # serve logs an access line per request: to a file, not a pipe nobody reads
            # (a full pipe would stop the server on its next log line).
            log = (folder / f"serve-{port}.log").open("wb")
            process = subprocess.Popen(  # noqa: S603 - our own command
                [sys.executable, "-m", "incident_flow.cli", "--config", str(config), "serve"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
            log.close()
            processes.append((process, port))
        for process, port in processes:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        said = (folder / f"serve-{port}.log").read_text(errors="replace")
                        raise RuntimeError(said)  # noqa: B904
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
