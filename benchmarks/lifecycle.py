"""Benchmark: a full P1 lifecycle through IncidentFlow, against bare state machines.

Runs in one process, in the same run: (1) IncidentFlow + MemoryStore + RecordingNotifier
(chat and pager) + an in-memory publisher, the full P1 lifecycle (trigger, ack, runbook,
resolve, post-mortem started and submitted, two approvals (published), action items settled,
closed);
(2) the same triggers fired on ONE bare shared transitions Machine; (3) the same on
python-statemachine. Prints the median of several rounds in lifecycles/s, the ratios, and the
memory each stored closed incident keeps. Logging is silenced the way a host would: structlog
filtering at WARNING.

    python benchmarks/lifecycle.py [--rounds 7] [--n 2000]
"""

from __future__ import annotations

import argparse
import gc
import logging
import statistics
import time
import tracemalloc
from collections.abc import Callable

import structlog

from incident_flow import Alert, IncidentFlow, MemoryStore, Policy, RecordingNotifier, Runbook
from incident_flow.testing import RecordingPublisher

STEPS = [
    "classify",
    "notify",
    "acknowledge",
    "start_runbook",
    "resolve",
    "start_postmortem",
    "submit_postmortem",
    "approve_postmortem",
    "approve_postmortem",
    "publish_postmortem",
    "update_runbook",
    "close",
]
#: Commands a lifecycle gives the flow (flow_lifecycle below).
COMMANDS = 11
RUNBOOK = Runbook(
    name="checkout-errors", url="https://runbooks.example/checkout", alert="Checkout*"
)


def make_flow() -> IncidentFlow:
    policy = Policy(runbooks=[RUNBOOK])
    return IncidentFlow(
        policy,
        store=MemoryStore(),
        notifier=RecordingNotifier(),
        pager=RecordingNotifier(),
        publisher=RecordingPublisher(),
    )


def flow_lifecycle(flow: IncidentFlow, i: int) -> None:
    alert = Alert(
        source="datadog",
        name="CheckoutHighErrorRate",
        title="Checkout errors",
        severity="P1",
        dedup_key=f"k{i}",
    )
    inc = flow.trigger(alert)
    flow.acknowledge(inc.id, by="alice")
    flow.start_runbook(inc.id, by="alice")
    flow.resolve(inc.id, by="alice", summary="rolled back")
    flow.start_postmortem(
        inc.id,
        author="alice",
        impact="checkout failed",
        root_cause="a bad deploy",
        learnings=["page on p95 latency"],
    )
    flow.submit_postmortem(inc.id, by="alice")
    flow.approve_postmortem(inc.id, reviewer="bob")
    flow.approve_postmortem(inc.id, reviewer="carol")  # the last approval publishes it
    flow.update_runbook(inc.id, RUNBOOK.name, by="alice", note="added the latency check")
    closed = flow.close(inc.id, by="alice")
    assert closed.state == "closed"


def bench_flow(n: int) -> float:
    flow = make_flow()
    start = time.perf_counter()
    for i in range(n):
        flow_lifecycle(flow, i)
    return n / (time.perf_counter() - start)


def bench_transitions(n: int) -> float:
    from transitions import Machine

    from incident_flow._core.process import IN_PLACE, STATES, TRANSITIONS

    machine = Machine(
        model=None,
        states=list(STATES),
        initial="triggered",
        transitions=[
            {"trigger": s.trigger, "source": list(s.sources), "dest": s.dest}
            for s in TRANSITIONS + IN_PLACE
        ],
        auto_transitions=False,
    )
    events = machine.events

    class Model:
        __slots__ = ("state",)

        def __init__(self) -> None:
            self.state = "triggered"

    start = time.perf_counter()
    for _ in range(n):
        model = Model()
        for step in STEPS:
            events[step].trigger(model)
        assert model.state == "closed"
    return n / (time.perf_counter() - start)


def bench_python_statemachine(n: int) -> float:
    from statemachine import State, StateMachine

    class Process(StateMachine):  # type: ignore[misc]
        triggered = State(initial=True)
        classified = State()
        notified = State()
        runbook = State()
        resolved = State()
        postmortem = State()
        runbook_update = State()
        closed = State(final=True)

        classify = triggered.to(classified)
        notify = classified.to(notified)
        acknowledge = notified.to.itself(internal=True) | runbook.to.itself(internal=True)
        start_runbook = notified.to(runbook)
        resolve = notified.to(resolved) | runbook.to(resolved)
        start_postmortem = resolved.to(postmortem)
        submit_postmortem = postmortem.to.itself(internal=True)
        approve_postmortem = postmortem.to.itself(internal=True)
        publish_postmortem = postmortem.to(runbook_update)
        update_runbook = runbook_update.to.itself(internal=True)
        close = runbook_update.to(closed) | resolved.to(closed)

    start = time.perf_counter()
    for _ in range(n):
        machine = Process()
        for step in STEPS:
            machine.send(step)
        assert machine.current_state_value == "closed"
    return n / (time.perf_counter() - start)


def memory_per_incident(n: int) -> float:
    flow = make_flow()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(n):
        flow_lifecycle(flow, i)
    flow._cache.clear()  # the store's cost, not the reader's cache
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / n


def median_rate(fn: Callable[[int], float], n: int, rounds: int) -> float:
    fn(max(n // 10, 10))  # warm up
    return statistics.median(fn(n) for _ in range(rounds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        cache_logger_on_first_use=True,
    )
    ours = median_rate(bench_flow, args.n, args.rounds)
    bare = median_rate(bench_transitions, args.n, args.rounds)
    psm = median_rate(bench_python_statemachine, args.n, args.rounds)
    mem = memory_per_incident(min(args.n, 2000))
    print(
        f"median of {args.rounds} rounds, {args.n} P1 lifecycles each "
        f"({len(STEPS)} machine steps, {COMMANDS} commands per lifecycle)"
    )
    print(f"  IncidentFlow + MemoryStore     {ours:10.0f} lifecycles/s  {1e6 / ours:8.1f} us each")
    print(f"  bare shared transitions Machine {bare:9.0f} lifecycles/s  {1e6 / bare:8.1f} us each")
    print(f"  python-statemachine            {psm:10.0f} lifecycles/s  {1e6 / psm:8.1f} us each")
    print(f"  IncidentFlow slower than bare transitions by  {bare / ours:5.2f}x  (target <= 3x)")
    print(f"  IncidentFlow faster than python-statemachine by {ours / psm:5.2f}x  (target > 1x)")
    print(f"  memory per stored closed incident: {mem / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
