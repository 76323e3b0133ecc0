"""Datadog monitor webhooks: the recommended custom payload, and the 7-key default payload."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from .._core.alerts import Alert, AlertStatus
from .._core.severity import Severity
from ..exceptions import InvalidPayload
from ._common import DEDUP_FIX_LABEL, DEDUP_LABEL, Body, Fields, is_zero_level, level, load_json

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
    r"^\s{0,8}(?:\[(?P<priority>P[1-5])\]\s{0,8})?\[(?P<transition>[A-Za-z -]{1,20}?)"
    r"(?: on (?P<scope>[^\]]{0,400}))?\]\s*"
)
#: What to add to the webhook's payload when an alert had to be keyed by its title.
_FIX = (
    'add "alert_id": "$ALERT_ID", "alert_cycle_key": "$ALERT_CYCLE_KEY" and '
    '"alert_scope": "$ALERT_SCOPE" to the Datadog webhook\'s payload: until then its alerts '
    "are keyed by their title (see docs/ingestion.md)"
)
#: A monitor's page, as Datadog links it in the message: ``/monitors/123`` or ``monitors#123``.
_MONITOR_LINK = re.compile(r"/monitors?[/#](\d{1,20})\b")


class _Title(NamedTuple):
    transition: str | None
    name: str
    priority: str | None = None
    scope: str | None = None


def _split_title(title: str) -> _Title:
    match = _PREFIX.match(title[:600])  # bounded: a hostile title cannot make this slow
    if match and match.group("transition").lower() in TRANSITIONS:
        scope = (match.group("scope") or "").strip().strip("{}").strip() or None
        return _Title(
            match.group("transition").lower(),
            title[match.end() :].strip() or title,
            match.group("priority"),
            scope,
        )
    return _Title(None, title.strip())


def _scope(f: Fields, title: _Title) -> str | None:
    """The group the alert is about: ``alert_scope``, ``scopes``, else the title's ``on ...``.

    Normalised (tags sorted, spaces dropped), so a trigger and its recovery agree however the
    template rendered them.
    """
    raw: object = f.data.get("alert_scope") or f.data.get("scopes") or title.scope
    if isinstance(raw, list):
        raw = ",".join(str(s) for s in raw if isinstance(s, (str, int)))
    text = str(raw or "").strip("{} ")
    if "," not in text:
        return text or None  # one tag (or none): nothing to order
    tags = sorted({t.strip() for t in text.split(",") if t.strip()})
    return ",".join(tags) or None


def _monitor(f: Fields) -> str | None:
    """The monitor's id: ``alert_id`` / ``monitor_id``, else its link in the message."""
    for key in ("alert_id", "monitor_id"):
        value = f.data.get(key)  # a string or a number; the Alert makes it storable
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    for key in ("link", "body", "text_only_msg"):
        found = _MONITOR_LINK.search(f.text(key, "")[:20_000])
        if found:
            return found.group(1)
    return None


def _dedup_key(f: Fields, monitor: str | None, title: _Title) -> tuple[str, str | None, bool]:
    """A key that links a trigger to its recovery and never merges two alerts.

    The monitor and its alert cycle (or aggregation key), else the monitor and the group
    (scope), else the monitor alone when the alert names no group (a simple monitor). Without a
    monitor id: the cycle key, else the aggregation key and the group. With none of these a
    readable alert is still opened, never refused (a refusal drops the page): keyed by its
    title without the ``[P1] [Triggered on ...]`` prefix, its host and its group, and marked a
    fallback (a title cannot tell two monitors of the same name apart, nor survive a template
    variable rendered empty on recovery).

    Returns the key, the scope when it was needed, and whether the key is a fallback.
    """
    cycle = f.optional_text("alert_cycle_key") or f.optional_text("aggreg_key")
    if monitor and cycle:
        return f"{SOURCE}:{monitor}:{cycle}", None, False
    scope = _scope(f, title)
    group = f":scope:{scope}" if scope else ""
    if monitor:
        return f"{SOURCE}:{monitor}{group}", scope, False
    if f.optional_text("alert_cycle_key"):
        return f"{SOURCE}:{f.text('alert_cycle_key')}", None, False
    if f.optional_text("aggreg_key"):
        # One monitor's (since March 2025 one monitor group's): with the group, one alert.
        return f"{SOURCE}:aggreg:{f.text('aggreg_key')}{group}", scope, False
    host = " ".join(f.text("hostname", "").split())
    name = " ".join(title.name.split())
    return f"{SOURCE}:title:{name}" + (f":host:{host}" if host else "") + group, scope, True


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
    Triggered -> P2, Warn / No Data -> P3. Dedup key: see :func:`_dedup_key` (the monitor and
    its cycle or group; the title only as a fallback, said in the labels
    ``incident_flow.dedup`` and ``incident_flow.dedup_fix``).
    """
    data = load_json(SOURCE, body)
    f = Fields(SOURCE, data)
    split = _split_title(f.text("alert_title", "") or f.text("title"))
    title = split.name
    transition = f.text("alert_transition", "").strip().lower() or split.transition
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
    status, unprioritised = TRANSITIONS[transition]
    severity = level(f.text("alert_priority", "")) or level(split.priority) or unprioritised
    monitor = _monitor(f)
    dedup_key, scope, fallback = _dedup_key(f, monitor, split)
    labels = _tags(f.text("tags", ""))
    if monitor:
        labels["monitor_id"] = monitor
    if scope and "alert_scope" not in f.data:
        labels["scope"] = scope
    if is_zero_level(f.text("alert_priority", "")):
        labels["alert_priority"] = f.text("alert_priority").strip()  # read as P1: kept
    for key in ("hostname", "event_type", "alert_metric", "alert_scope"):
        if f.optional_text(key):
            labels[key] = f.text(key)
    labels["transition"] = transition
    for key in (DEDUP_LABEL, DEDUP_FIX_LABEL):
        labels.pop(key, None)  # said by us only, never by a tag
    if fallback:
        labels[DEDUP_LABEL] = "fallback"
        labels[DEDUP_FIX_LABEL] = _FIX
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
