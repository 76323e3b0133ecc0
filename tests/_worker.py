"""A writer process for the crash and multi-process tests (run as a script, not collected).

    python tests/_worker.py crash   STORE_SPEC SEED
    python tests/_worker.py writer  STORE_SPEC NAME INCIDENT_IDS COUNT

STORE_SPEC is ``sqlite:PATH`` or ``postgres:SCHEMA:DSN``. Every command that returned is
printed as ``OK <incident> <version> <what>`` (flushed) before the next one starts; every message
a channel accepted as ``SENT <idempotency key>``.
"""

from __future__ import annotations

import random
import sys
from typing import Any

import structlog

from incident_flow import (
    Alert,
    ConcurrencyError,
    Incident,
    IncidentFlow,
    Notification,
    Policy,
    PolicyViolation,
)
from incident_flow.testing import RecordingPublisher

structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))


def open_store(spec: str) -> Any:
    """A store from ``sqlite:PATH`` or ``postgres:SCHEMA:DSN``."""
    kind, _, rest = spec.partition(":")
    if kind == "sqlite":
        from incident_flow.adapters.stores.sqlite import SQLiteStore

        return SQLiteStore(rest)
    schema, _, dsn = rest.partition(":")
    from incident_flow.adapters.stores.postgres import PostgresStore

    return PostgresStore(dsn, schema=schema)


class Printing:
    """A channel that prints what it accepted."""

    def send(self, message: Notification) -> str | None:
        print(f"SENT {message.idempotency_key}", flush=True)
        return None


def ok(incident_id: str, version: int, what: str) -> None:
    print(f"OK {incident_id} {version} {what}", flush=True)


def decided(flow: IncidentFlow, incident: Incident) -> int:
    """The version the command's decision was stored at.

    The outcomes of its sends may still wait in the flow's memory for its next append (issue
    27): lost to a kill, their messages go again under the same keys; the decision is stored.
    """
    waiting = flow._unflushed.get(incident.id)
    return incident.version - len(waiting.append.events) if waiting else incident.version


def crash(spec: str, seed: int) -> None:
    """Run P1 lifecycles until killed."""
    rng = random.Random(seed)
    flow = IncidentFlow(
        Policy(postmortem_reviewers=1),
        store=open_store(spec),
        notifier=Printing(),
        pager=Printing(),
        publisher=RecordingPublisher(),
    )
    print("READY", flush=True)  # imports and the store are up: the kill timer starts now
    n = 0
    while True:
        n += 1
        alert = Alert(
            source="crash",
            name="n",
            title=f"t{n}",
            severity=rng.choice(["P1", "P3"]),
            dedup_key=f"{seed}-{n}",
        )
        incident = flow.trigger(alert)
        ok(incident.id, decided(flow, incident), "trigger")
        steps = [
            lambda i: flow.acknowledge(i, by="alice"),
            lambda i: flow.note(i, "working", by="alice"),
            lambda i: flow.resolve(i, by="alice"),
        ]
        for step in steps:
            done = step(incident.id)
            ok(done.id, decided(flow, done), "step")


def writer(spec: str, name: str, incident_ids: list[str], count: int) -> None:
    """Add ``count`` notes to random incidents, racing the other writers."""
    rng = random.Random(name)
    flow = IncidentFlow(
        store=open_store(spec),
        notifier=Printing(),
        pager=Printing(),
        publisher=RecordingPublisher(),
    )
    for n in range(count):
        incident_id = rng.choice(incident_ids)
        try:
            done = flow.note(incident_id, f"{name} #{n}", by=name)
        except (ConcurrencyError, PolicyViolation) as exc:
            print(f"CONFLICT {incident_id} {type(exc).__name__}", flush=True)
            continue
        ok(done.id, decided(flow, done), f"{name} #{n}")


def escalation_policy() -> Policy:
    """Three levels one second apart, so that workers race over real time."""
    from datetime import timedelta

    from incident_flow import EscalationLevel

    levels = [EscalationLevel((name,), wait=timedelta(seconds=1)) for name in ("a", "b", "c")]
    return Policy(escalation=levels)


class PrintingPages:
    """A pager that prints each page with the incident's escalation text."""

    def send(self, message: Notification) -> str | None:
        if message.kind == "page":
            print(f"PAGE {message.incident_id} {message.text}", flush=True)
        return None


def worker(spec: str, seconds: float) -> None:
    """Run the worker loop (SIGTERM stops it), then print its stats."""
    import threading
    from datetime import timedelta

    from incident_flow import run_worker

    flow = IncidentFlow(
        escalation_policy(),
        store=open_store(spec),
        notifier=Printing(),
        pager=PrintingPages(),
        publisher=RecordingPublisher(),
    )

    class Stop(threading.Event):
        """READY at the worker's first wait: its signal handlers are in, a turn is done."""

        ready = False

        def wait(self, timeout: float | None = None) -> bool:
            if not self.ready:
                self.ready = True
                print("READY", flush=True)
            return super().wait(timeout)

    stop = Stop()
    timer = threading.Timer(seconds, stop.set)
    timer.daemon = True
    timer.start()
    stats = run_worker(flow, interval=timedelta(milliseconds=50), stop=stop)
    print(
        f"STATS {stats.iterations} {stats.delivered} {stats.escalated} {stats.errors}", flush=True
    )


if __name__ == "__main__":
    command, spec = sys.argv[1], sys.argv[2]
    if command == "crash":
        crash(spec, int(sys.argv[3]))
    elif command == "worker":
        worker(spec, float(sys.argv[3]))
    else:
        writer(spec, sys.argv[3], sys.argv[4].split(","), int(sys.argv[5]))
