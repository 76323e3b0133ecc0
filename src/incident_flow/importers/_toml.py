"""Imported values as policy TOML, which ``Policy.from_toml`` reads back to the same values."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING

from .._core.people import IDENTITY_SOURCES, Person
from .._core.policy import EscalationLevel
from .._core.storms import LabelMatcher, duration_text
from .._core.teams import Route, Team
from ..schedules import DAY_NAMES, Layer, Override, Schedule, Window

if TYPE_CHECKING:
    from ._common import Imported

__all__ = ["to_toml"]

Value = str | int | bool | date | time | datetime | list["Value"] | dict[str, "Value"]


def _string(text: str) -> str:
    # A JSON string is a TOML basic string, but for DEL, which TOML wants escaped.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(value: Value) -> str:  # noqa: PLR0911 - one return per TOML type
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"


def _key(name: str) -> str:
    bare = name.replace("_", "").replace("-", "").isalnum() and name.isascii()
    return name if bare else _string(name)


def _table(header: str, fields: Iterable[tuple[str, Value | None]]) -> list[str]:
    lines = [f"[[{header}]]"]
    lines += [f"{_key(k)} = {_value(v)}" for k, v in fields if v is not None]
    return [*lines, ""]


def _clock(value: time) -> Value:
    return value.strftime("%H:%M") if not value.second and not value.microsecond else value


def _window(window: Window) -> Value:
    return {
        "days": [DAY_NAMES[d] for d in sorted(window.days)],
        "from": _clock(window.start),
        "to": _clock(window.end),
    }


def _slot(slot: tuple[str, ...]) -> Value:
    if len(slot) == 1:
        return slot[0]
    return list(slot) if slot else ""


def _layer(layer: Layer) -> list[str]:
    return _table(
        "schedules.layers",
        [
            ("name", layer.name),
            ("members", [_slot(s) for s in layer.members]),
            ("period", str(layer.period)),
            ("handoff", _clock(layer.handoff)),
            ("start", layer.start),
            ("start_index", layer.start_index or None),
            ("priority", layer.priority or None),
            ("windows", [_window(w) for w in layer.windows] or None),
            ("outside_windows", "skip" if layer.skip_outside_windows else None),
            ("active_from", layer.active_from),
            ("active_until", layer.active_until),
            ("timezone", layer.timezone),
        ],
    )


def _override(override: Override) -> list[str]:
    return _table(
        "schedules.overrides",
        [
            ("from", override.start),
            ("to", override.end),
            ("layer", override.layer),
            ("replace", list(override.replace) if override.replace is not None else None),
            ("add", list(override.add) or None),
            ("remove", list(override.remove) or None),
            ("by", override.by),
            ("why", override.why),
        ],
    )


def _schedule(schedule: Schedule) -> list[str]:
    lines = _table(
        "schedules",
        [
            ("name", schedule.name),
            ("timezone", schedule.timezone),
            ("effective_from", schedule.effective_from),
        ],
    )
    for layer in schedule.layers:
        lines += _layer(layer)
    for override in schedule.overrides:
        lines += _override(override)
    return lines


def _person(person: Person) -> list[str]:
    fields: list[tuple[str, Value | None]] = [("name", person.name)]
    fields += [("email", list(person.email) or None)]
    fields += [(s, list(getattr(person, s)) or None) for s in IDENTITY_SOURCES]
    return _table("people", fields)


def _level(level: EscalationLevel, header: str = "escalation") -> list[str]:
    wait = duration_text(level.wait) if level.wait is not None else None
    return _table(header, [("targets", list(level.targets)), ("wait", wait)])


def _team(team: Team) -> list[str]:
    lines = _table(
        "teams",
        [
            ("name", team.name),
            ("schedules", list(team.schedules) if team.schedules is not None else None),
            ("escalation_repeats", team.escalation_repeats),
            ("chat_channel", team.chat_channel),
        ],
    )
    for level in team.escalation or ():
        lines += _level(level, "teams.escalation")
    return lines


def _matcher(matcher: LabelMatcher) -> Value:
    """A matcher as ``parse_matchers`` reads it: a value, ``"!value"``, ``"*"`` or a list."""
    values = matcher.values
    if not values:
        return "!*" if matcher.negate else "*"
    if matcher.negate:
        if len(values) > 1:
            msg = f"{matcher}: a policy file has no form for 'none of several values'"
            raise ValueError(msg)
        return "!" + values[0]
    # A value that reads as '*' or '!x' is written as a one-value list: the value itself.
    if len(values) == 1 and values[0] != "*" and not values[0].startswith("!"):
        return values[0]
    return list[Value](values)


def _route(route: Route) -> list[str]:
    match: dict[str, Value] = {m.name: _matcher(m) for m in route.match}
    return _table("routes", [("match", match), ("team", route.team)])


def to_toml(imported: Imported) -> str:
    """``imported`` as policy TOML: its people, schedules, escalation levels, teams and routes.

    The text reads back (``Policy.from_text``) to the same values; a policy's other settings
    are left to their defaults, for the team to merge into their own policy file.
    """
    lines = [
        f"# Imported from {imported.vendor} by `incident-flow import`.",
        "# What did not carry over exactly is listed in the import report.",
        "",
    ]
    if imported.default_team is not None:
        lines += [f"default_team = {_value(imported.default_team)}", ""]
    for person in imported.people:
        lines += _person(person)
    for schedule in imported.schedules:
        lines += _schedule(schedule)
    for level in imported.escalation:
        lines += _level(level)
    for team in imported.teams:
        lines += _team(team)
    for route in imported.routes:
        lines += _route(route)
    return "\n".join(lines).rstrip("\n") + "\n"
