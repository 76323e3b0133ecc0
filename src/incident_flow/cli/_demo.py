"""The demo: a realistic day of alerts and responders, replayed through the whole process."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

from .. import ingest
from .._core.policy import Policy
from .._core.runbooks import Runbook
from .._drivers.flow import IncidentFlow
from .._review.decide import unwritten_sections, unwritten_text

__all__ = ["DEMO_POLICY", "DEMO_START", "demo_steps", "still_open"]

DEMO_START = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)  # a Monday
DEMO_POLICY = Policy(
    runbooks=[
        Runbook(
            name="checkout-api-errors",
            url="https://runbooks.example.com/checkout-api",
            alert="Checkout*",
            description="Checkout returns 5xx or fails its checks",
        ),
        Runbook(
            name="payments-gateway", url="https://runbooks.example.com/payments", alert="*Payment*"
        ),
    ]
)

Step = tuple[timedelta, str, Callable[[IncidentFlow, dict[str, str]], object]]


def _sample(name: str) -> dict[str, Any]:
    text = resources.files("incident_flow.cli.demo_data").joinpath(f"{name}.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def _fire(source: str, body: dict[str, Any], *names: str) -> Callable[..., object]:
    """Trigger every alert of the body; the first ones' incidents are remembered by ``names``."""

    def fire(flow: IncidentFlow, ids: dict[str, str]) -> object:
        for index, alert in enumerate(ingest.parse(source, body)):
            incident = flow.trigger(alert)
            if index < len(names):
                ids[names[index]] = incident.id
        return None

    return fire


def _recover(source: str, body: dict[str, Any]) -> Callable[..., object]:
    def recover(flow: IncidentFlow, ids: dict[str, str]) -> object:
        for alert in ingest.parse(source, body):
            flow.trigger(alert)
        return None

    return recover


def _postmortem(
    name: str, author: str, reviewers: tuple[str, str], learning: str, root_cause: str
) -> Callable[..., object]:
    def write(flow: IncidentFlow, ids: dict[str, str]) -> object:
        incident_id = ids[name]
        flow.start_postmortem(
            incident_id,
            author=author,
            root_cause=root_cause,
            impact="Customers saw errors at checkout",
            learnings=[learning],
        )
        done: object = flow.submit_postmortem(incident_id, by=author)
        for reviewer in reviewers:
            done = flow.approve_postmortem(incident_id, reviewer=reviewer)
        return done  # the last approval saved it

    return write


def _draft(name: str, author: str, impact: str) -> Callable[..., object]:
    """Start a post-mortem that knows its impact but not yet its root cause."""

    def write(flow: IncidentFlow, ids: dict[str, str]) -> object:
        return flow.start_postmortem(ids[name], author=author, impact=impact)

    return write


def still_open(flow: IncidentFlow) -> list[str]:
    """One line per incident the day leaves open, saying what it still waits for."""
    lines = []
    for incident in flow.incidents():
        if incident.closed:
            continue
        pm = incident.postmortem
        if pm is not None and pm.stage in ("draft", "closed"):
            missing = unwritten_sections(pm, flow.policy.postmortem_required_sections)
            why = (
                f"its post-mortem is a draft and {unwritten_text(missing)}, so it cannot go to "
                "review"
                if missing
                else "its post-mortem is a draft, not submitted for review yet"
            )
        elif pm is not None and not pm.published:
            why = "its post-mortem is under review"
        elif incident.postmortem_required and pm is None:
            why = "it owes a post-mortem, not started yet"
        elif incident.open_action_items:
            why = f"{len(incident.open_action_items)} action item(s) are open"
        else:
            why = f"it is {incident.state}"
        lines.append(f"{incident.id} ({incident.severity}) is still open: {why}")
    return lines


def _settle_and_close(name: str, who: str) -> Callable[..., object]:
    def settle(flow: IncidentFlow, ids: dict[str, str]) -> object:
        incident = flow.get(ids[name])
        while incident.open_action_items:
            item = incident.open_action_items[0]
            if item.kind == "update_runbook" and item.runbook:
                flow.update_runbook(incident.id, item.runbook, by=who, note=item.description)
            elif item.kind == "add_runbook":
                slug = incident.alert.name.lower()
                runbook = Runbook(
                    name=f"{slug}-runbook",
                    url=f"https://runbooks.example.com/{slug}",
                    alert=incident.alert.name,
                )
                flow.add_runbook(incident.id, runbook, by=who)
            else:
                flow.waive_action_item(incident.id, item.id, by=who, reason="done elsewhere")
            incident = flow.get(incident.id)
        return flow.close(incident.id, by=who)

    return settle


def demo_steps() -> Iterator[Step]:
    """The day, as (offset from 09:00 Monday, what happens, the action)."""
    m = timedelta(minutes=1)
    renotify = dict(_sample("datadog_triggered"), alert_transition="Renotify")
    disk = _sample("grafana_firing")
    disk["alerts"][0]["labels"].update(alertname="LedgerDiskFull", severity="warning")
    disk["alerts"][0]["annotations"]["summary"] = "ledger-db disk 91% full"
    del disk["alerts"][0]["annotations"]["runbook_url"]  # nobody wrote that one yet
    disk["alerts"][0]["fingerprint"] = "d15cf011d15cf011"
    yield (
        0 * m,
        "Datadog: checkout-api 5xx above 5% (P1)",
        _fire("datadog", _sample("datadog_triggered"), "checkout"),
    )
    yield (
        2 * m,
        "alice acknowledges and opens the runbook",
        lambda f, i: (
            f.acknowledge(i["checkout"], by="alice"),
            f.start_runbook(i["checkout"], by="alice"),
        ),
    )
    yield 6 * m, "Datadog re-notifies: attached, nobody paged again", _fire("datadog", renotify)
    yield (
        12 * m,
        "alice: rolled back deploy 2025-06-02.3",
        lambda f, i: f.note(i["checkout"], "rolled back deploy 2025-06-02.3", by="alice"),
    )
    yield (
        15 * m,
        "Datadog recovers; alice resolves",
        lambda f, i: (
            _recover("datadog", _sample("datadog_recovered"))(f, i),
            f.resolve(i["checkout"], by="alice", summary="rolled back the bad deploy"),
        ),
    )
    yield (
        60 * m,
        "Checkly: checkout API degraded (P3)",
        _fire("checkly", _sample("checkly_degraded"), "degraded"),
    )
    yield (
        70 * m,
        "bob resolves the degradation and closes it",
        lambda f, i: (
            f.acknowledge(i["degraded"], by="bob"),
            f.resolve(i["degraded"], by="bob"),
            f.close(i["degraded"], by="bob"),
        ),
    )
    yield (
        120 * m,
        "Alertmanager: two pods over 5% errors (P1 x2)",
        _fire("alertmanager", _sample("alertmanager_firing"), "pod-a", "pod-b"),
    )
    yield 126 * m, "nobody acknowledged within 5 minutes: escalated", lambda f, i: f.escalate_due()
    yield (
        128 * m,
        "carol acknowledges both",
        lambda f, i: (f.acknowledge(i["pod-a"], by="carol"), f.acknowledge(i["pod-b"], by="carol")),
    )
    yield (
        140 * m,
        "Alertmanager resolves; carol resolves both",
        lambda f, i: (
            _recover("alertmanager", _sample("alertmanager_resolved"))(f, i),
            f.resolve(i["pod-a"], by="carol"),
            f.resolve(i["pod-b"], by="carol"),
        ),
    )
    yield 240 * m, "Grafana: ledger disk 91% (P3)", _fire("grafana", disk, "disk")
    yield (
        250 * m,
        "dave upgrades it to P2 (paged at once) and fixes it",
        lambda f, i: (
            f.reclassify(i["disk"], "P2", by="dave"),
            f.acknowledge(i["disk"], by="dave"),
            f.resolve(i["disk"], by="dave", summary="rotated ledger logs"),
        ),
    )
    yield (
        300 * m,
        "PagerDuty: a P1 from another team's integration",
        _fire("pagerduty", _sample("pagerduty_event_trigger"), "payments"),
    )
    yield (
        304 * m,
        "erin acknowledges and resolves",
        lambda f, i: (f.acknowledge(i["payments"], by="erin"), f.resolve(i["payments"], by="erin")),
    )
    day2 = timedelta(days=1, hours=1)
    yield (
        day2,
        "post-mortems written and reviewed",
        lambda f, i: (
            _postmortem(
                "checkout",
                "alice",
                ("bob", "carol"),
                "canary the pool size",
                "a deploy set the connection pool to 1",
            )(f, i),
            _postmortem(
                "pod-a",
                "carol",
                ("alice", "dave"),
                "alert on pod restarts",
                "a node drain restarted half the pods",
            )(f, i),
            _postmortem(
                "pod-b",
                "carol",
                ("alice", "dave"),
                "alert on pod restarts",
                "a node drain restarted half the pods",
            )(f, i),
            _postmortem(
                "disk",
                "dave",
                ("alice", "erin"),
                "rotate ledger logs daily",
                "log rotation was disabled in May",
            )(f, i),
        ),
    )
    yield (
        day2 + 15 * m,
        (
            "erin drafts the PagerDuty P1's post-mortem: its root cause is the payments "
            "team's to find (their integration paged us), so it stays open until they write it"
        ),
        _draft("payments", "erin", "card payments failed at checkout for 4 minutes"),
    )
    yield (
        day2 + 30 * m,
        "runbooks updated from the learnings; incidents closed",
        lambda f, i: (
            _settle_and_close("checkout", "alice")(f, i),
            _settle_and_close("pod-a", "carol")(f, i),
            _settle_and_close("pod-b", "carol")(f, i),
            _settle_and_close("disk", "dave")(f, i),
        ),
    )
