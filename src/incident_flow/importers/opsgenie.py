"""Opsgenie's schedules, overrides and escalations (REST API v2 JSON) as incident_flow's.

Reads the ``data`` of ``GET /v2/schedules/{id}`` (or the list with ``expand=rotation``),
``GET /v2/schedules/{id}/overrides``, ``GET /v2/escalations[/{id}]`` and, to expand team
participants, ``GET /v2/teams/{id}``. How each field maps, and what is reported instead, is in
docs/importing.md.

- Each rotation is a layer, all at one priority: Opsgenie's rotations are on call together.
- ``hourly`` turns are elapsed hours; ``daily``/``weekly`` turns hand off at the same local time
  in the schedule's time zone (as its time restrictions are read).
- Escalation delays count from the alert's creation in Opsgenie; each level's wait is the gap
  to the next rule's delay, rules with equal delays are one level.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from .._core.people import People
from ..schedules import Layer, Override, Period, Schedule, Window
from ._common import (
    Imported,
    InvalidExport,
    Names,
    Reader,
    choose,
    imported,
    plural,
    readable,
)
from ._escalation import Step
from ._opsgenie_org import Organisation, rule_sets
from ._shapes import clock_of, merged, span_windows, span_windows_daily, unique

__all__ = ["import_opsgenie"]

VENDOR = "Opsgenie"
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_UNITS = {"hourly": "hour", "daily": "day", "weekly": "week"}
_TIME_UNITS = {"days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}
_RECIPIENT = ("type", "id", "username", "name")


def _items(documents: Iterable[object]) -> list[Mapping[str, Any]]:
    """Every object of the documents: the ``data`` of API answers, lists flattened."""
    out: list[Mapping[str, Any]] = []
    for index, document in enumerate(documents):
        if isinstance(document, list):
            out += _items(document)
            continue
        table = Reader.table(f"document {index}", document)
        data = table.get("data", table)
        out += (
            [Reader.table(f"document {index}.data", d) for d in data]
            if isinstance(data, list)
            else [Reader.table(f"document {index}.data", data)]
        )
    return out


class _Opsgenie(Reader):
    def __init__(self, people: People | None) -> None:
        super().__init__()
        self.names = Names("opsgenie", people)
        self.teams: dict[str, Mapping[str, Any]] = {}
        self.applied: set[int] = set()  # the overrides some schedule took
        #: Whether routing rules were given: then owner teams are carried (as the teams).
        self.organisation = False

    # --------------------------------------------------------------------------- people

    def user(self, recipient: Mapping[str, Any]) -> str:
        username = recipient.get("username") or recipient.get("name")
        ident = str(recipient.get("id") or username or "")
        if not ident:
            msg = f"a user without an id or a username: {recipient!r}"
            raise InvalidExport(msg)
        email = username if isinstance(username, str) and "@" in username else None
        return self.names.name(ident, email=email, username=username)

    def team_members(
        self, team: Mapping[str, Any], roles: tuple[str, ...] = ()
    ) -> list[str] | None:
        found = self.teams.get(str(team.get("id"))) or self.teams.get(str(team.get("name")))
        if found is None:
            return None
        return [
            self.user(m["user"])
            for m in self.array("team.members", found.get("members"))
            if isinstance(m, Mapping)
            and isinstance(m.get("user"), Mapping)
            and (not roles or m.get("role") in roles)
        ]

    def participant(self, where: str, value: object) -> tuple[str, ...]:
        item = self.table(where, value)
        self.unknown(where, item, _RECIPIENT)
        kind = item.get("type")
        if kind == "user":
            return (self.user(item),)
        if kind == "none":
            return ()
        name = str(item.get("name") or item.get("id"))
        if kind == "team":
            members = self.team_members(item)
            if members is not None:
                self.approximate(where, name, "the team's members are on call together in its turn")
                return tuple(members)
        self.approximate(
            where,
            f"{kind} {name}",
            f"kept as the target name '{kind}:{name}' (give the team's JSON to expand a team)",
        )
        return (f"{kind}:{name}",)

    # --------------------------------------------------------------------------- schedules

    def restriction_windows(self, where: str, value: object) -> list[Window]:
        table = self.table(where, value)
        kind = table.get("type")
        if kind == "time-of-day":
            several = self.array(where, table.get("restrictions"))
            one = table.get("restriction") or (several or [None])[0]
            skip = 0 if table.get("restriction") else 1
            for index, extra in list(enumerate(several))[skip:]:
                why = "a time-of-day restriction has one window: only the first is imported"
                self.drop(f"{where}.restrictions[{index}]", extra, why)
            spec = self.table(f"{where}.restriction", one)
            start, end = self.clock(where, spec, "start"), self.clock(where, spec, "end")
            seconds = (end - start) % 86400 or 86400
            return span_windows_daily(clock_of(start), seconds) or [Window(days=range(7))]
        if kind == "weekday-and-time-of-day":
            windows: list[Window] = []
            for index, raw in enumerate(self.array(where, table.get("restrictions"))):
                spec = self.table(f"{where}.restrictions[{index}]", raw)
                first = self.weekday(where, spec, "startDay") * 86400 + self.clock(
                    where, spec, "start"
                )
                last = self.weekday(where, spec, "endDay") * 86400 + self.clock(where, spec, "end")
                seconds = (last - first) % (7 * 86400) or 7 * 86400
                windows += span_windows(first // 86400, clock_of(first % 86400), seconds)
            return windows
        msg = f"{where}.type: must be time-of-day or weekday-and-time-of-day, got {kind!r}"
        raise InvalidExport(msg)

    def clock(self, where: str, spec: Mapping[str, Any], prefix: str) -> int:
        hour = self.number(where, spec, f"{prefix}Hour")
        minute = self.number(where, spec, f"{prefix}Min", 0)
        if hour > 24 or minute > 59:
            msg = f"{where}.{prefix}Hour: not a time of day ({hour}:{minute:02})"
            raise InvalidExport(msg)
        return hour * 3600 + minute * 60

    def weekday(self, where: str, spec: Mapping[str, Any], key: str) -> int:
        day = str(spec.get(key, "")).lower()
        if day not in _WEEKDAYS:
            msg = f"{where}.{key}: must be a weekday like 'monday', got {spec.get(key)!r}"
            raise InvalidExport(msg)
        return _WEEKDAYS.index(day)

    def rotation(self, where: str, value: object, zone: ZoneInfo) -> Layer | None:
        item = self.table(where, value)
        name = self.text(where, item, "name", str(item.get("id", "")))
        where = f'{where} "{name}"'
        kind = item.get("type")
        if not isinstance(kind, str) or kind not in _UNITS:
            msg = f"{where}.type: must be hourly, daily or weekly, got {kind!r}"
            raise InvalidExport(msg)
        start = self.instant(where, item, "startDate").astimezone(zone)
        slots = [
            self.participant(f"{where}.participants[{i}]", p)
            for i, p in enumerate(self.array(f"{where}.participants", item.get("participants")))
        ]
        if not slots:
            msg = f"{where}.participants: a rotation needs at least one participant"
            raise InvalidExport(msg)
        windows = (
            self.restriction_windows(f"{where}.timeRestriction", item["timeRestriction"])
            if item.get("timeRestriction")
            else []
        )
        self.unknown(
            where,
            item,
            ("name", "type", "length", "startDate", "endDate", "participants", "timeRestriction"),
            ("id", "_parent", "enabled"),
        )
        ended = self.instant(where, item, "endDate") if item.get("endDate") else None
        if not self.spans(where, name, start.astimezone(UTC), ended):
            return None
        return Layer(
            name=name,
            members=slots,
            period=Period(_UNITS[kind], self.number(where, item, "length", 1) or 1),
            handoff=start.time().replace(tzinfo=None),
            start=start.date(),
            windows=merged(windows),
            active_until=ended,
        )

    def schedule(
        self, where: str, item: Mapping[str, Any], overrides: list[Mapping[str, Any]]
    ) -> Schedule | None:
        name = self.text(where, item, "name")
        where = f'{where} "{name}"'
        zone = self.zone_of(f"{where}.timezone", self.text(where, item, "timezone", "UTC"))
        rotations = self.array(f"{where}.rotations", item.get("rotations"))
        if not rotations:
            msg = f"{where}.rotations: none (list schedules with expand=rotation)"
            raise InvalidExport(msg)
        made = [self.rotation(f"{where}.rotations[{i}]", r, zone) for i, r in enumerate(rotations)]
        kept = [(r, layer) for r, layer in zip(rotations, made, strict=True) if layer is not None]
        layers = unique([layer for _, layer in kept])
        by_id = {str(r.get("id")): layer.name for (r, _), layer in zip(kept, layers, strict=True)}
        mine = [
            o
            for o in overrides
            if isinstance(o.get("_parent"), Mapping)
            and (o["_parent"].get("id") == item.get("id") or o["_parent"].get("name") == name)
        ]
        self.applied.update(id(o) for o in mine)
        if item.get("enabled") is False:
            self.approximate(f"{where}.enabled", False, "imported as a schedule like any other")
        if item.get("ownerTeam") and not self.organisation:
            self.drop(
                f"{where}.ownerTeam",
                self.label(item["ownerTeam"]),
                "a schedule has no owner team in incident_flow",
            )
        self.unknown(
            where,
            item,
            ("name", "timezone", "rotations", "enabled", "ownerTeam"),
            ("id", "_parent"),
        )
        if not layers:
            self.drop(where, name, "no rotation could be imported: the schedule is not imported")
            return None
        return Schedule(
            name=name,
            timezone=zone.key,
            layers=layers,
            overrides=[
                o
                for index, raw in enumerate(mine)
                for o in self.override(f"{where}.overrides[{index}]", raw, by_id)
            ],
        )

    def override(
        self, where: str, item: Mapping[str, Any], rotations: Mapping[str, str]
    ) -> list[Override]:
        alias = item.get("alias")
        where = f'{where} "{alias}"' if alias else where
        user = self.table(f"{where}.user", item.get("user"))
        people = self.participant(f"{where}.user", user)
        start, end = self.instant(where, item, "startDate"), self.instant(where, item, "endDate")
        why = f"Opsgenie override {alias}" if alias else "Opsgenie override"
        layers: list[str | None] = []
        for index, raw in enumerate(self.array(f"{where}.rotations", item.get("rotations"))):
            ref = self.table(f"{where}.rotations[{index}]", raw)
            layer = rotations.get(str(ref.get("id"))) or (
                ref.get("name") if ref.get("name") in rotations.values() else None
            )
            if layer is None:
                self.drop(
                    f"{where}.rotations[{index}]",
                    ref,
                    "no such rotation in the schedule: not applied there",
                )
                continue
            layers.append(layer)
        self.unknown(
            where, item, ("alias", "user", "startDate", "endDate", "rotations"), ("_parent",)
        )
        if (not layers and item.get("rotations")) or not self.spans(where, alias, start, end):
            return []
        return [
            Override(start=start, end=end, layer=layer, replace=people, why=why)
            for layer in (layers or [None])
        ]

    # --------------------------------------------------------------------------- escalations

    def escalation(
        self, where: str, item: Mapping[str, Any], schedules: Iterable[str]
    ) -> list[Step]:
        name = self.text(where, item, "name")
        where = f'{where} "{name}"'
        rules = []
        for index, raw in enumerate(self.array(f"{where}.rules", item.get("rules"))):
            rule = self.table(f"{where}.rules[{index}]", raw)
            delay = self.table(
                f"{where}.rules[{index}].delay", rule.get("delay") or {"timeAmount": 0}
            )
            unit = delay.get("timeUnit", "minutes")
            if not isinstance(unit, str) or unit not in _TIME_UNITS:
                msg = f"{where}.rules[{index}].delay.timeUnit: not a unit of time: {unit!r}"
                raise InvalidExport(msg)
            seconds = (
                self.number(f"{where}.rules[{index}].delay", delay, "timeAmount", 0)
                * _TIME_UNITS[unit]
            )
            rules.append((seconds, index, rule))
        rules.sort(key=lambda r: (r[0], r[1]))
        if rules and rules[0][0]:
            self.approximate(
                f"{where}.rules[{rules[0][1]}].delay",
                f"{rules[0][0] // 60} min",
                "the first level is paged when the incident opens, not after a delay",
            )
        steps: list[Step] = []
        for position, (seconds, index, rule) in enumerate(rules):
            following = rules[position + 1][0] if position + 1 < len(rules) else None
            wait = timedelta(seconds=following - seconds) if following is not None else None
            steps.append((self.targets(f"{where}.rules[{index}]", rule, set(schedules)), wait))
        repeat = self.table(f"{where}.repeat", item.get("repeat") or {})
        count = self.number(f"{where}.repeat", repeat, "count", 0, most=20) if repeat else 0
        between = (
            timedelta(minutes=self.number(f"{where}.repeat", repeat, "waitInterval", 0))
            if count
            else None
        )
        for key in ("resetRecipientStates", "closeAlertAfterAll"):
            if repeat.get(key):
                self.drop(
                    f"{where}.repeat.{key}",
                    True,
                    "incident_flow repeats pages only while nobody acknowledged",
                )
        if count and not between:
            why = "repeated a minute after the last level (a level needs a wait before the next)"
            self.approximate(f"{where}.repeat.waitInterval", 0, why)
        if count:
            steps = (
                [*steps[:-1], (steps[-1][0], between or timedelta(minutes=1))] * count + steps
                if steps
                else steps
            )
        if item.get("ownerTeam") and not self.organisation:
            self.drop(
                f"{where}.ownerTeam",
                self.label(item["ownerTeam"]),
                "an escalation has no owner team in incident_flow",
            )
        self.unknown(where, item, ("name", "rules", "repeat", "ownerTeam"), ("id", "_parent"))
        return steps

    def targets(self, where: str, rule: Mapping[str, Any], schedules: set[str]) -> list[str]:
        recipient = self.table(f"{where}.recipient", rule.get("recipient"))
        self.unknown(f"{where}.recipient", recipient, _RECIPIENT)
        if isinstance(rule.get("delay"), Mapping):
            self.unknown(f"{where}.delay", rule["delay"], ("timeAmount", "timeUnit"))
        notify = rule.get("notifyType", "default")
        condition = rule.get("condition", "if-not-acked")
        if condition != "if-not-acked":
            self.approximate(
                f"{where}.condition", condition, "escalation stops when someone acknowledges"
            )
        self.unknown(where, rule, ("recipient", "notifyType", "condition", "delay"))
        kind = recipient.get("type")
        name = str(
            recipient.get("name") or recipient.get("username") or recipient.get("id")
        ).strip()
        if not name:
            msg = f"{where}.recipient: names nobody (no name, username or id)"
            raise InvalidExport(msg)
        if kind == "user":
            return [self.user(recipient)]
        if kind == "schedule":
            if notify not in ("default", "next", "previous"):
                self.drop(
                    f"{where}.notifyType",
                    notify,
                    "not a way to page a schedule; its on-call person is paged",
                )
                notify = "default"
            suffix = "" if notify == "default" else f":{notify}"
            if name not in schedules:
                self.approximate(
                    f"{where}.recipient",
                    name,
                    "the schedule is not in the import: paged by that name",
                )
                return [name]
            return [f"schedule:{name}{suffix}"]
        if kind == "team":
            roles = {"users": (), "all": (), "admins": ("admin", "owner")}.get(str(notify))
            members = self.team_members(recipient, roles) if roles is not None else None
            if members:
                return members
            why = (
                "the team's routing is not imported: paged by the name 'team:NAME'"
                if roles is None
                else "give the team's JSON to expand its members: paged by the name 'team:NAME'"
            )
            self.approximate(f"{where}.notifyType", f"{notify} of team {name}", why)
            return [f"team:{name}"]
        self.drop(f"{where}.recipient", recipient, "not a recipient incident_flow can page")
        return []


def _organisation(
    reader: _Opsgenie,
    sets: list[tuple[object, list[Any]]],
    escalations: list[Mapping[str, Any]],
    schedules: list[Schedule],
    *,
    ids: Mapping[str, str],
    wanted: str | None,
    read: str,
) -> Imported:
    """Teams and routes from the routing rules; the top level is the default team's chain.

    The default team is the one paging ``wanted`` (an escalation's name or id), else the first
    team; the top-level escalation is ``wanted``, else the default team's, else the first. An
    escalation no rule notifies is reported (import again with ``--escalation`` to take it).
    """
    chosen = None
    if wanted is not None:
        chosen = next((e for e in escalations if wanted in (e.get("name"), e.get("id"))), None)
        if chosen is None:
            found = ", ".join(str(e.get("name")) for e in escalations)
            msg = f"none of the escalations is named or with the id {wanted!r} (found: {found})"
            raise InvalidExport(msg)
    names = [s.name for s in schedules]
    steps_of_escalation: dict[int, list[Step]] = {}

    def steps_of(item: Mapping[str, Any]) -> list[Step]:
        if id(item) not in steps_of_escalation:
            where = f"escalations[{escalations.index(item)}]"
            steps_of_escalation[id(item)] = reader.escalation(where, item, names)
        return steps_of_escalation[id(item)]

    org = Organisation(reader, escalations, ids, steps_of)
    for index, (whose, rules) in enumerate(sets):
        owner = org.owner(index, whose, rules, reader.teams)
        if owner is not None:
            org.rules(index, owner, rules)
    default_team = org.teams[0].name if org.teams else None
    by_escalation = {
        name: team for (_, kind, name), team in org.team_of.items() if kind == "escalation"
    }
    if chosen is not None:
        default_team = by_escalation.get(str(chosen.get("name")), default_team)
    elif default_team is not None:
        own = [name for name, team in by_escalation.items() if team == default_team]
        chosen = next((e for e in escalations if own and e.get("name") == own[0]), None)
    if chosen is None and escalations:
        chosen = escalations[0]  # no team pages an escalation: the first, as without teams
    steps = steps_of(chosen) if chosen is not None else []
    for index, item in enumerate(escalations):
        if id(item) not in org.used and item is not chosen:
            why = "no routing rule notifies it: not a team (--escalation takes it as the top level)"
            reader.drop(f'escalations[{index}] "{item.get("name")}"', item.get("name"), why)
    result = imported(VENDOR, reader.names, reader, schedules=schedules, steps=steps, read=read)
    return attrs.evolve(
        result,
        teams=tuple(org.teams),
        routes=tuple(org.routes),
        default_team=default_team if org.teams else None,
    )


def import_opsgenie(
    documents: Iterable[object],
    *,
    people: People | None = None,
    escalation: str | None = None,
) -> Imported:
    """Opsgenie's schedules, overrides and an escalation, from API v2 JSON documents.

    Args:
        documents: parsed JSON answers (``{"data": ...}``) or their ``data``, in any order:
            schedules (with rotations), overrides, escalations, teams.
        people: the policy's people (a user they name keeps that person's name).
        escalation: the escalation to import, by name or id (default: the only one, or the
            first; the others are reported).

    Raises:
        InvalidExport: the JSON is not what Opsgenie's API returns (the message names the field).
    """
    reader = _Opsgenie(people)
    rest, sets = rule_sets(readable(documents))
    reader.organisation = bool(sets)
    items = _items(rest)
    overrides = [i for i in items if "startDate" in i and "user" in i]
    schedules_raw = [i for i in items if "rotations" in i and i not in overrides]
    escalations = [i for i in items if "rules" in i]
    for team in (i for i in items if "members" in i):
        reader.teams[str(team.get("id"))] = team
        reader.teams[str(team.get("name"))] = team
    for index, item in enumerate(items):
        if not any(k in item for k in ("rotations", "rules", "members")) and item not in overrides:
            reader.drop(
                f"document item {index}",
                item.get("name", item),
                "not a schedule, override, escalation, team or routing rule",
            )
    reader.names.reserved = {str(s.get("name")) for s in schedules_raw}
    made = [reader.schedule(f"schedules[{i}]", s, overrides) for i, s in enumerate(schedules_raw)]
    schedules = [s for s in made if s is not None]
    for index, override in enumerate(overrides):
        if id(override) not in reader.applied:
            why = "an override of no schedule in the import (its _parent names none)"
            reader.drop(f"overrides[{index}]", override.get("alias") or override, why)
    names = [s.name for s in schedules]
    read = [
        plural(len(schedules_raw), "schedule"),
        plural(len(overrides), "override"),
        plural(len(escalations), "escalation"),
    ]
    if sets:
        read.append(plural(sum(len(rules) for _, rules in sets), "routing rule"))
        ids = {
            str(raw.get(key)): s.name
            for raw, s in zip(schedules_raw, made, strict=True)
            if s
            for key in ("id", "name")
        }
        return _organisation(
            reader, sets, escalations, schedules, ids=ids, wanted=escalation, read=", ".join(read)
        )
    chosen = choose(reader, escalations, escalation, "escalations")
    steps = (
        reader.escalation(f"escalations[{escalations.index(chosen)}]", chosen, names)
        if chosen
        else []
    )
    return imported(
        VENDOR, reader.names, reader, schedules=schedules, steps=steps, read=", ".join(read)
    )
