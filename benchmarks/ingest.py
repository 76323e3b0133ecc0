"""Benchmark: webhook bodies parsed per second, per source (raw bytes in, Alerts out).

    python benchmarks/ingest.py [--rounds 5] [--seconds 0.5]

A 50-alert Alertmanager group counts as one body. Signature checks are timed separately.
Medians of several rounds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from incident_flow import ingest

SAMPLES = Path(__file__).parents[1] / "tests" / "samples"
BODIES = {
    "datadog": "datadog_triggered.json",
    "checkly": "checkly_failure.json",
    "alertmanager": "alertmanager_firing.json",
    "alertmanager (50-alert group)": "alertmanager_group_50.json",
    "grafana": "grafana_firing.json",
    "incidentio": "incidentio_firing.json",
    "pagerduty": "pagerduty_event_trigger.json",
}


def rate(source: str, body: bytes, seconds: float) -> tuple[float, int]:
    """Bodies per second over about ``seconds``, and the alerts in one body."""
    alerts = len(ingest.parse(source, body))
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(50):
            ingest.parse(source, body)
        count += 50
    return count / (time.perf_counter() - start), alerts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.5)
    args = parser.parse_args()
    print(f"median of {args.rounds} rounds")
    for label, name in BODIES.items():
        source = label.split(" ")[0]
        body = (SAMPLES / name).read_bytes()
        results = [rate(source, body, args.seconds) for _ in range(args.rounds)]
        bodies = statistics.median(r[0] for r in results)
        alerts = results[0][1]
        print(
            f"  {label:32} {bodies:9.0f} bodies/s  {bodies * alerts:9.0f} alerts/s "
            f"({len(body):,} bytes, {alerts} alert{'s' if alerts > 1 else ''})"
        )


if __name__ == "__main__":
    main()
