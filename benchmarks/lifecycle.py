"""Benchmark: a full P1 lifecycle through IncidentFlow, against bare state machines.

The same 12 machine steps in all three (``STEPS``: classify, notify, acknowledge,
start_runbook, resolve, start_postmortem, submit_postmortem, approve_postmortem twice,
publish_postmortem, update_runbook, close):

1. IncidentFlow + MemoryStore + RecordingNotifier (chat and pager) + an in-memory publisher,
   driven by its 11 commands (``trigger`` classifies and notifies; the second approval
   publishes), with every message sent and its receipt recorded;
2. the same triggers fired on ONE bare shared ``transitions`` Machine (no side effects);
3. the same on python-statemachine (a machine per lifecycle: that is how it is used); skipped,
   saying so, when python-statemachine is not installed (``pip install -e '.[test]'``).

Rounds are interleaved (each round runs all three, one after the other, so a noisy neighbour
slows them alike); each figure is the median of the rounds, each ratio the median of the
rounds' own ratios, printed with its target. Logging is silenced the way a host would:
structlog filtering at WARNING (the library's own logger is silent unless configured).

    python benchmarks/lifecycle.py [--rounds 7] [--n 1000]
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


#: Issue 27's targets: IncidentFlow at most this many times the bare Machine's time...
TARGET_VS_BARE = 6.0
#: ...and at least this many times faster than python-statemachine.
TARGET_VS_PSM = 2.0


def has_python_statemachine() -> bool:
    """Whether python-statemachine is installed (the ``test`` extra)."""
    try:
        import statemachine  # noqa: F401
    except ImportError:
        return False
    return True


def rounds_of(
    benches: dict[str, Callable[[int], float]], n: int, rounds: int
) -> dict[str, list[float]]:
    """Run every bench once per round, interleaved; each one's rate per round."""
    for bench in benches.values():
        bench(max(n // 10, 10))  # warm up
    rates: dict[str, list[float]] = {name: [] for name in benches}
    for _ in range(rounds):
        for name, bench in benches.items():
            gc.collect()
            rates[name].append(bench(n))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (>= 5 to judge)")
    parser.add_argument("--n", type=int, default=1000, help="lifecycles per round")
    args = parser.parse_args()
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        cache_logger_on_first_use=True,
    )
    benches: dict[str, Callable[[int], float]] = {
        "flow": bench_flow,
        "bare": bench_transitions,
    }
    psm = has_python_statemachine()
    if psm:
        benches["psm"] = bench_python_statemachine
    rates = rounds_of(benches, args.n, args.rounds)
    median = {name: statistics.median(r) for name, r in rates.items()}
    vs_bare = statistics.median(b / f for f, b in zip(rates["flow"], rates["bare"], strict=True))
    mem = memory_per_incident(min(args.n, 2000))
    print(
        f"median of {args.rounds} interleaved rounds, {args.n} P1 lifecycles each; the same "
        f"{len(STEPS)} machine steps in each ({COMMANDS} IncidentFlow commands):"
    )
    print(f"  steps: {', '.join(STEPS)}")
    if args.rounds < 5:
        print(f"  ({args.rounds} round(s): a smoke run, too few to judge the targets)")
    rows = [
        ("IncidentFlow + MemoryStore", "flow"),
        ("bare shared transitions Machine", "bare"),
        ("python-statemachine (a machine per lifecycle)", "psm"),
    ]
    for label, name in rows:
        if name in median:
            rate = median[name]
            print(f"  {label:46s} {rate:9.0f} lifecycles/s {1e6 / rate:9.1f} us each")
    met = "met" if vs_bare <= TARGET_VS_BARE else "NOT met"
    print(
        f"  IncidentFlow takes {vs_bare:5.2f}x the bare transitions Machine's time"
        f"   (target <= {TARGET_VS_BARE:g}x: {met})"
    )
    if psm:
        vs_psm = statistics.median(f / p for f, p in zip(rates["flow"], rates["psm"], strict=True))
        met = "met" if vs_psm >= TARGET_VS_PSM else "NOT met"
        print(
            f"  IncidentFlow is {vs_psm:5.2f}x as fast as python-statemachine"
            f"         (target >= {TARGET_VS_PSM:g}x: {met})"
        )
    else:
        print(
            "  python-statemachine is not installed: its baseline is skipped "
            "(pip install -e '.[test]' or pip install python-statemachine)"
        )
    print(f"  memory per stored closed incident: {mem / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
