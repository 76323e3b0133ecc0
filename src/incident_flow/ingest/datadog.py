"""Datadog monitor webhooks: the recommended custom payload, and the 7-key default payload."""

from __future__ import annotations

import re
from typing import Any

from .._alerts import Alert, AlertStatus
from .._severity import Severity
from ..exceptions import InvalidPayload
from ._common import Body, Fields, load_json, priority

__all__ = ["parse"]

SOURCE = "datadog"
#: Datadog's $ALERT_TRANSITION values -> (status, severity when the monitor has no priority).
TRANSITIONS: dict[str, tuple[AlertStatus, Severity | None]] = {
    "triggered": ("firing", Severity.P2),
    "re-triggered": ("firing", Severity.P2),
    "warn": ("firing", Severity.P3),
    "re-warn": ("firing", Severity.P3),
    "no data": ("firing", Severity.P3),
    "re-no data": ("firing", Severity.P3),
    "renotify": ("firing", Severity.P2),
    "recovered": ("resolved", None),
}
# "[Triggered on {env:prod}] Title", "[Recovered] Title", "[P1] [Warn] Title"...
_PREFIX = re.compile(
    r"^\s{0,8}(?:\[P[1-5]\]\s{0,8})?\[(?P<transition>[A-Za-z -]{1,20}?)(?: on [^\]]{0,400})?\]\s*"
)


def _split_title(title: str) -> tuple[str | None, str]:
    match = _PREFIX.match(title[:600])  # bounded: a hostile title cannot make this slow
    if match and match.group("transition").lower() in TRANSITIONS:
        return match.group("transition").lower(), title[match.end() :].strip() or title
    return None, title.strip()


def _tags(text: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    for tag in (t.strip() for t in text.split(",")):
        if tag:
            key, _, value = tag.partition(":")
            labels[key.strip()] = value.strip()
    return labels


def parse(body: Body, headers: Any = None) -> list[Alert]:
    """One Datadog webhook body -> one Alert.

    The status comes from ``alert_transition`` (custom payload) or the ``[Transition]`` title
    prefix (default payload). Severity: the monitor's ``alert_priority`` (P1..P5), else
    Triggered -> P2, Warn / No Data -> P3. Dedup key: the monitor id and ``alert_cycle_key``
    (which links a trigger to its recovery), else ``aggreg_key``, else the title.
    """
    data = load_json(SOURCE, body)
    f = Fields(SOURCE, data)
    title_prefix, title = _split_title(f.text("alert_title", "") or f.text("title"))
    transition = f.text("alert_transition", "").strip().lower() or title_prefix
    if transition is None:
        msg = (
            f"{SOURCE}: no alert_transition and no [Triggered]/[Recovered]-style title prefix; "
            f"known transitions: {', '.join(sorted(TRANSITIONS))}"
        )
        raise InvalidPayload(msg)
    if transition not in TRANSITIONS:
        msg = (
            f"{SOURCE}: alert_transition {transition!r} is not one of "
            f"{', '.join(sorted(TRANSITIONS))}"
        )
        raise InvalidPayload(msg)
    status, fallback = TRANSITIONS[transition]
    severity = priority(f.text("alert_priority", "")) or fallback
    monitor = f.optional_text("alert_id")
    cycle = f.optional_text("alert_cycle_key") or f.optional_text("aggreg_key")
    if monitor and cycle:
        dedup_key = f"{SOURCE}:{monitor}:{cycle}"
    elif cycle:
        dedup_key = f"{SOURCE}:{cycle}"
    else:
        dedup_key = f"{SOURCE}:title:{title}"
    labels = _tags(f.text("tags", ""))
    if monitor:
        labels["monitor_id"] = monitor
    for key in ("hostname", "event_type", "alert_metric", "alert_scope"):
        if f.optional_text(key):
            labels[key] = f.text(key)
    labels["transition"] = transition
    return [
        Alert(
            source=SOURCE,
            name=title,
            title=title,
            severity=severity,
            dedup_key=dedup_key,
            status=status,
            description=f.text("text_only_msg", "") or f.text("body", ""),
            labels=labels,
            url=f.optional_text("link"),
            started_at=f.time("date") or f.time("last_updated"),
            raw=data,
        )
    ]
