"""Schedules from the policy's TOML (``[[schedules]]``), every problem reported at once."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from contextlib import suppress
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from .._core.text import unknown_key
from ._clock import instant, zone_named
from ._model import DAY_NAMES, PERIOD_UNITS, Layer, Override, Period, Schedule, Window

__all__ = ["read_schedules"]

_PERIOD = re.compile(r"^\s*(\d+)\s*(h|hours?|d|days?|w|weeks?|mo|months?)\s*$")
_UNIT = {"h": "hour", "d": "day", "w": "week", "mo": "month"}
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_SCHEDULE_KEYS = ("name", "timezone", "effective_from", "layers", "overrides")
_LAYER_KEYS = (
    "name",
    "members",
    "period",
    "handoff",
    "start",
    "start_index",
    "priority",
    "windows",
    "outside_windows",
    "active_from",
    "active_until",
    "timezone",
)
_OVERRIDE_KEYS = ("from", "to", "layer", "add", "remove", "replace", "by", "why")

Problem = Callable[[str, str], None]


def read_schedules(path: str, value: object, problem: Problem) -> list[Schedule]:
    """The schedules of ``value`` (the ``schedules`` array); each problem goes to ``problem``."""
    if not isinstance(value, list):
        problem(path, "must be an array of tables ([[schedules]])")
        return []
    out: list[Schedule] = []
    seen: set[tuple[str, datetime | None]] = set()
    for index, entry in enumerate(value):
        where = f"{path}[{index}]"
        if not isinstance(entry, Mapping):
            problem(where, f"must be a table, got {entry!r}")
            continue
        schedule = _schedule(where, entry, problem)
        if schedule is None:
            continue
        key = (schedule.name, schedule.effective_from)
        if key in seen:
            problem(f"{where}.name", f"{schedule.name!r} has two versions from the same time")
            continue
        seen.add(key)
        out.append(schedule)
    return out


def _unknown(
    where: str, table: Mapping[str, Any], known: tuple[str, ...], problem: Problem
) -> bool:
    bad = [key for key in table if key not in known]
    for key in bad:
        problem(f"{where}.{key}", unknown_key(key, known))
    return not bad


def _schedule(where: str, table: Mapping[str, Any], problem: Problem) -> Schedule | None:
    ok = _unknown(where, table, _SCHEDULE_KEYS, problem)
    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        problem(f"{where}.name", f"must be a non-empty string, got {name!r}")
        ok = False
    zone_name = table.get("timezone", "UTC")
    try:
        zone = zone_named(zone_name)
    except ValueError:
        problem(
            f"{where}.timezone",
            f"must be an IANA time zone like 'Europe/Berlin', got {zone_name!r}",
        )
        zone, ok = ZoneInfo("UTC"), False
    effective = None
    if "effective_from" in table:
        effective = _instant(f"{where}.effective_from", table["effective_from"], zone, problem)
        ok = ok and effective is not None
    raw_layers = table.get("layers")
    if not isinstance(raw_layers, list) or not raw_layers:
        problem(f"{where}.layers", "needs at least one layer ([[schedules.layers]])")
        return None
    layers = [_layer(f"{where}.layers[{i}]", t, zone, problem) for i, t in enumerate(raw_layers)]
    names = [layer.name for layer in layers if layer is not None]
    for duplicate in {n for n in names if names.count(n) > 1}:
        problem(f"{where}.layers", f"two layers are named {duplicate!r}")
        ok = False
    overrides = [
        _override(f"{where}.overrides[{i}]", t, zone, set(names), problem)
        for i, t in enumerate(table.get("overrides", []) or [])
    ]
    if not ok or any(x is None for x in (*layers, *overrides)):
        return None
    return Schedule(
        name=str(name).strip(),
        timezone=zone.key,
        layers=[x for x in layers if x is not None],
        overrides=[x for x in overrides if x is not None],
        effective_from=effective,
    )


def _layer(where: str, table: object, zone: ZoneInfo, problem: Problem) -> Layer | None:
    if not isinstance(table, Mapping):
        problem(where, f"must be a table, got {table!r}")
        return None
    ok = _unknown(where, table, _LAYER_KEYS, problem)
    fields: dict[str, Any] = {}
    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        problem(f"{where}.name", f"must be a non-empty string, got {name!r}")
        ok = False
    members = table.get("members")
    if not isinstance(members, list) or not members or not all(_slot(m) for m in members):
        problem(
            f"{where}.members",
            'must list the slots in turn: names, lists of names on call together, or "" '
            f"(nobody), got {members!r}",
        )
        ok = False
    period = _period(f"{where}.period", table.get("period", "1 week"), problem)
    handoff = _clock(f"{where}.handoff", table.get("handoff", "09:00"), problem)
    start = table.get("start")
    if not isinstance(start, date) or isinstance(start, datetime):
        problem(f"{where}.start", f"must be a date like 2026-01-05 (the first turn), got {start!r}")
        ok = False
    for key in ("start_index", "priority"):
        raw = table.get(key, 0)
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
            problem(f"{where}.{key}", f"must be a whole number >= 0, got {raw!r}")
            ok = False
        fields[key] = raw
    windows = [
        _window(f"{where}.windows[{i}]", w, problem) for i, w in enumerate(table.get("windows", []))
    ]
    span = _span(where, table, zone, problem)
    ok = ok and span is not None
    fields.update(span or {})
    outside = table.get("outside_windows", "hide")
    if outside not in ("hide", "skip"):
        problem(f"{where}.outside_windows", f"must be hide or skip, got {outside!r}")
        ok = False
    if not ok or period is None or handoff is None or any(w is None for w in windows):
        return None
    return Layer(
        name=str(name).strip(),
        members=members,  # type: ignore[arg-type]  # checked above
        period=period,
        handoff=handoff,
        start=start,  # type: ignore[arg-type]  # checked above
        windows=[w for w in windows if w is not None],
        skip_outside_windows=outside == "skip",
        **fields,
    )


def _span(
    where: str, table: Mapping[str, Any], zone: ZoneInfo, problem: Problem
) -> dict[str, Any] | None:
    """A layer's own time zone and the instants it applies between (None: a problem)."""
    fields: dict[str, Any] = {}
    ok = True
    if "timezone" in table:
        try:
            zone = zone_named(table["timezone"])
            fields["timezone"] = zone.key
        except ValueError:
            problem(f"{where}.timezone", f"must be an IANA time zone, got {table['timezone']!r}")
            ok = False
    for key in ("active_from", "active_until"):
        if key in table:
            fields[key] = _instant(f"{where}.{key}", table[key], zone, problem)
            ok = ok and fields[key] is not None
    start, end = fields.get("active_from"), fields.get("active_until")
    if ok and start and end and end <= start:
        problem(f"{where}.active_until", "must come after active_from")
        ok = False
    return fields if ok else None


def _slot(value: object) -> bool:
    if isinstance(value, str):
        return True
    return isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)


def _period(where: str, value: object, problem: Problem) -> Period | None:
    match = _PERIOD.match(value) if isinstance(value, str) else None
    if match is None or int(match.group(1)) < 1:
        units = ", ".join(PERIOD_UNITS)
        problem(where, f"must be a count of {units} like '1 week' or '12h', got {value!r}")
        return None
    unit = match.group(2)
    unit = _UNIT.get(unit, unit.rstrip("s"))
    return Period(unit, int(match.group(1)))


def _clock(where: str, value: object, problem: Problem) -> time | None:
    if isinstance(value, time):
        return value
    match = _CLOCK.match(value) if isinstance(value, str) else None
    if match is None:
        problem(where, f"must be a local time like '09:00', got {value!r}")
        return None
    return time(int(match.group(1)), int(match.group(2)))


def _window(where: str, table: object, problem: Problem) -> Window | None:
    if not isinstance(table, Mapping):
        example = "{ days = ['mon'], from = '09:00', to = '17:00' }"
        problem(where, f"must be a table like {example}, got {table!r}")
        return None
    ok = _unknown(where, table, ("days", "from", "to"), problem)
    days = table.get("days", list(DAY_NAMES))
    if not isinstance(days, list) or not days or not all(d in DAY_NAMES for d in days):
        problem(f"{where}.days", f"must list days among {', '.join(DAY_NAMES)}, got {days!r}")
        ok = False
    start = _clock(f"{where}.from", table.get("from", "00:00"), problem)
    end = _clock(f"{where}.to", table.get("to", "00:00"), problem)
    if not ok or start is None or end is None:
        return None
    return Window(days=[DAY_NAMES.index(d) for d in days], start=start, end=end)


def _instant(where: str, value: object, zone: ZoneInfo, problem: Problem) -> datetime | None:
    """A TOML date-time: with an offset as given, without one in the schedule's zone."""
    if isinstance(value, str):
        with suppress(ValueError):
            value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        problem(where, f"must be a date-time like 2026-03-01T09:00:00+01:00, got {value!r}")
        return None
    if value.utcoffset() is None:
        return instant(value, zone)
    return value.astimezone(UTC)


def _override(
    where: str, table: object, zone: ZoneInfo, layers: set[str], problem: Problem
) -> Override | None:
    if not isinstance(table, Mapping):
        problem(where, f"must be a table, got {table!r}")
        return None
    ok = _unknown(where, table, _OVERRIDE_KEYS, problem)
    start = _instant(f"{where}.from", table.get("from"), zone, problem)
    end = _instant(f"{where}.to", table.get("to"), zone, problem)
    layer = table.get("layer")
    if layer is not None and layer not in layers:
        problem(
            f"{where}.layer",
            f"no layer {layer!r} in this schedule (has: {', '.join(sorted(layers)) or 'none'})",
        )
        ok = False
    fields: dict[str, Any] = {}
    for key in ("add", "remove", "replace"):
        if key not in table:
            continue
        raw = table[key]
        raw = [raw] if isinstance(raw, str) else raw
        if not isinstance(raw, list) or not all(isinstance(v, str) and v.strip() for v in raw):
            problem(f"{where}.{key}", f"must be a name or a list of names, got {table[key]!r}")
            ok = False
            continue
        fields[key] = raw
    if not fields and ok:
        problem(where, "says nothing to change: give replace, add or remove")
        ok = False
    for key in ("by", "why"):
        if key in table and not isinstance(table[key], str):
            problem(f"{where}.{key}", f"must be a string, got {table[key]!r}")
            ok = False
        elif key in table:
            fields[key] = table[key]
    if not ok or start is None or end is None:
        return None
    if end <= start:
        problem(f"{where}.to", "must come after from")
        return None
    return Override(start=start, end=end, layer=layer, **fields)
