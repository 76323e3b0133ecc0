"""PagerDuty's schedules, overrides and escalation policies (REST API v2 JSON) as incident_flow's.

One module on purpose (about 740 lines): it is one vendor's export read by one reader, whose
methods share the findings it reports and the references it resolves; split by shape, each
part would need the others' state and the report would lose its single order. (The services
and teams of the organisation are apart, in :mod:`._pagerduty_org`.)

Reads ``GET /schedules/{id}`` (classic, layered: ``schedule_layers``), ``GET /v3/schedules/{id}``
(the newer rotations of recurring events), ``GET /schedules/{id}/overrides``, ``GET /users``
and ``GET /escalation_policies[/{id}]``. See docs/importing.md.

- Classic layers: the API returns them in reverse (``Layer 3, Layer 2, Layer 1``); a layer's
  priority is its number, so a later layer hides an earlier one where both have somebody.
- A turn ``rotation_turn_length_seconds`` long is a period of weeks, days or hours; turns of
  whole days hand off at the local time of ``rotation_virtual_start`` in the schedule's zone.
- Restrictions hide the rest of a turn (the rotation goes on behind them): windows.
- Overrides replace whoever is on call; escalation rules are levels, ``num_loops`` written out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from .._core.people import People
from ..schedules import Layer, Override, Schedule, Schedules, Window
from ._common import (
    MOST,
    Imported,
    InvalidExport,
    Names,
    Reader,
    imported,
    plural,
    readable,
)
from ._escalation import Step
from ._ical import rule_until
from ._pagerduty_org import _REFERENCE, ServiceReader, _chosen, _organisation
from ._shapes import (
    Recurrence,
    merged,
    parse_rule,
    period_of,
    recurrence_layer,
    span_windows,
    span_windows_daily,
    unique,
)

__all__ = ["import_pagerduty"]

VENDOR = "PagerDuty"
_LOOPS = 20  # more loops than Opsgenie's documented maximum repeats is a mistake


class _PagerDuty(ServiceReader):
    def __init__(
        self,
        people: People | None,
        users: Iterable[Mapping[str, Any]],
        time_zone: ZoneInfo | None = None,
    ) -> None:
        super().__init__()
        self.names = Names("pagerduty", people)
        self.users = {str(u.get("id")): u for u in users if isinstance(u, Mapping)}
        #: The account's zone, for a schedule without ``time_zone`` (given, never guessed).
        self.time_zone = time_zone
        #: Whether ``GET /services`` answers were given (then services are routes, not findings).
        self.services_given = False

    def zone(self, where: str, item: Mapping[str, Any]) -> ZoneInfo:
        """A schedule's ``time_zone``; missing, the zone given for it (reported), else an error.

        Read as UTC, a New York schedule's handoffs would move by an hour at each DST change.
        """
        if item.get("time_zone") not in (None, ""):
            return self.zone_of(f"{where}.time_zone", item.get("time_zone"))
        if self.time_zone is None:
            zones = sorted({str(u["time_zone"]) for u in self.users.values() if u.get("time_zone")})
            users = f" (the users' time zones: {', '.join(zones)})" if zones else ""
            msg = (
                f"{where}.time_zone: missing; PagerDuty gives every schedule one, and its "
                f"handoffs keep local time across DST: give the account's zone with "
                f"--time-zone ZONE (time_zone=){users}"
            )
            raise InvalidExport(msg)
        why = "no time_zone in the schedule: read in the time zone given (--time-zone)"
        self.approximate(f"{where}.time_zone", self.time_zone.key, why)
        return self.time_zone

    def user(self, where: str, ref: object) -> str:
        item = self.table(where, ref)
        ident = self.text(where, item, "id")
        self.unknown(where, item, (*_REFERENCE, "email", "deleted_at", "user_id"))
        full = self.users.get(ident, {})
        email = full.get("email") or item.get("email")
        name = full.get("name") or item.get("summary")
        if full.get("deleted_at") or (
            item.get("type") == "user_reference" and item.get("deleted_at")
        ):
            self.approximate(where, name, "the user is deactivated in PagerDuty")
        label = None if email else str(name or ident).replace(" ", ".")
        return self.names.name(ident, email=email, label=label)

    # ------------------------------------------------------------------------ classic layers

    def restriction(self, where: str, value: object) -> list[Window]:
        item = self.table(where, value)
        kind = item.get("type")
        clock = _clock(where, item.get("start_time_of_day"))
        seconds = self.number(where, item, "duration_seconds")
        if kind == "daily_restriction":
            return span_windows_daily(clock, seconds) or [Window(days=range(7))]
        if kind == "weekly_restriction":
            day = self.number(where, item, "start_day_of_week")
            if not 1 <= day <= 7:
                msg = f"{where}.start_day_of_week: must be 1 (Monday) to 7 (Sunday), got {day}"
                raise InvalidExport(msg)
            return span_windows(day - 1, clock, seconds)
        msg = f"{where}.type: must be daily_restriction or weekly_restriction, got {kind!r}"
        raise InvalidExport(msg)

    def layer(
        self, where: str, item: Mapping[str, Any], zone: ZoneInfo, priority: int
    ) -> Layer | None:
        name = self.text(where, item, "name", str(item.get("id", f"Layer {priority + 1}")))
        where = f'{where} "{name}"'
        seconds = self.number(where, item, "rotation_turn_length_seconds")
        period = period_of(seconds)
        if period is None:
            self.drop(
                where,
                f"{seconds} s turns",
                "turns are whole hours, days or weeks: the layer is not imported",
            )
            return None
        anchor = self.instant(where, item, "rotation_virtual_start").astimezone(zone)
        start = self.instant(where, item, "start")
        members = [
            [self.member_of(f"{where}.users[{i}]", u)]
            for i, u in enumerate(self.array(f"{where}.users", item.get("users")))
        ]
        if not members:
            self.drop(where, name, "a layer with no users is not imported")
            return None
        windows = [
            w
            for i, r in enumerate(self.array(f"{where}.restrictions", item.get("restrictions")))
            for w in self.restriction(f"{where}.restrictions[{i}]", r)
        ]
        self.unknown(
            where,
            item,
            (
                "name",
                "start",
                "end",
                "rotation_virtual_start",
                "rotation_turn_length_seconds",
                "users",
                "restrictions",
            ),
            ("id", "rendered_schedule_entries", "rendered_coverage_percentage"),
        )
        ended = self.instant(where, item, "end") if item.get("end") else None
        if not self.spans(where, name, max(start, anchor.astimezone(UTC)), ended):
            return None
        return Layer(
            name=name,
            members=members,
            period=period,
            handoff=anchor.time().replace(tzinfo=None),
            start=anchor.date(),
            priority=priority,
            windows=merged(windows),
            active_from=start if start > anchor else None,
            active_until=ended,
        )

    def member_of(self, where: str, value: object) -> str:
        """A layer's ``{"user": {...}}`` entry."""
        wrapper = self.table(where, value)
        self.unknown(where, wrapper, ("user",))
        return self.user(f"{where}.user", wrapper.get("user"))

    def overrides(self, where: str, entries: Iterable[object]) -> list[Override]:
        out = []
        for index, raw in enumerate(entries):
            item = self.table(f"{where}[{index}]", raw)
            person = self.user(f"{where}[{index}].user", item.get("user"))
            start, end = (
                self.instant(f"{where}[{index}]", item, "start"),
                self.instant(f"{where}[{index}]", item, "end"),
            )
            if self.spans(f"{where}[{index}]", item.get("id"), start, end):
                out.append(
                    Override(start=start, end=end, replace=[person], why="PagerDuty override")
                )
        return out

    def schedule(self, where: str, item: Mapping[str, Any], extra: list[object]) -> Schedule | None:
        name = self.text(where, item, "name", str(item.get("summary") or item.get("id")))
        where = f'{where} "{name}"'
        zone = self.zone(where, item)
        if item.get("type") == "schedule_v3" or "rotations" in item:
            return self.schedule_v3(where, name, item, zone, extra)
        raw_layers = self.array(f"{where}.schedule_layers", item.get("schedule_layers"))
        if not raw_layers:
            msg = f"{where}.schedule_layers: none (list schedules with include[]=schedule_layers)"
            raise InvalidExport(msg)
        # The API lists the layers last first: Layer 1 (the bottom, lowest priority) is last.
        layers = [
            self.layer(
                f"{where}.schedule_layers[{len(raw_layers) - 1 - p}]",
                self.table(where, raw),
                zone,
                p,
            )
            for p, raw in enumerate(reversed(raw_layers))
        ]
        entries = list(extra)
        if isinstance(item.get("overrides_subschedule"), Mapping):
            known = ("name", "rendered_schedule_entries", "rendered_coverage_percentage")
            self.unknown(f"{where}.overrides_subschedule", item["overrides_subschedule"], known)
        if not entries and isinstance(item.get("overrides_subschedule"), Mapping):
            entries = list(
                self.array(where, item["overrides_subschedule"].get("rendered_schedule_entries"))
            )
        self.common(where, item, ("schedule_layers", "overrides_subschedule", "overrides"))
        kept = [layer for layer in layers if layer is not None]
        if not kept:
            self.drop(where, name, "no layer could be imported: the schedule is not imported")
            return None
        return Schedule(
            name=name,
            timezone=zone.key,
            layers=kept,
            overrides=self.overrides(f"{where}.overrides", entries),
        )

    def common(self, where: str, item: Mapping[str, Any], known: tuple[str, ...]) -> None:
        for key in ("description",):
            if item.get(key):
                self.drop(
                    f"{where}.{key}", item[key], "a schedule has no description in incident_flow"
                )
        for team in self.array(f"{where}.teams", item.get("teams")):
            self.drop(
                f"{where}.teams",
                team.get("summary", team.get("id")) if isinstance(team, Mapping) else team,
                "a schedule has no team in incident_flow",
            )
        self.unknown(
            where,
            item,
            ("name", "time_zone", "description", "teams", *known),
            (
                *_REFERENCE,
                "name",
                "escalation_policies",
                "users",
                "final_schedule",
                "next_oncall_for_user",
                "http_cal_url",
                "web_cal_url",
                "oncall",
                "rendered_schedule_entries",
            ),
        )

    # ------------------------------------------------------------------------ v3 rotations

    def schedule_v3(
        self, where: str, name: str, item: Mapping[str, Any], zone: ZoneInfo, extra: list[object]
    ) -> Schedule | None:
        layers: list[Layer] = []
        rotation_of: list[str] = []
        for r_index, raw in enumerate(self.array(f"{where}.rotations", item.get("rotations"))):
            rotation = self.table(f"{where}.rotations[{r_index}]", raw)
            for e_index, event in enumerate(
                self.array(f"{where}.rotations[{r_index}].events", rotation.get("events"))
            ):
                layer = self.event(
                    f"{where}.rotations[{r_index}].events[{e_index}]",
                    self.table(where, event),
                    zone,
                )
                if layer is not None:
                    layers.append(layer)
                    rotation_of.append(str(rotation.get("id")))
        layers = unique(layers)
        self.common(where, item, ("rotations", "custom_shifts", "overrides", "type"))
        overrides = [
            override
            for i, shift in enumerate(
                self.array(f"{where}.custom_shifts", item.get("custom_shifts"))
            )
            for override in self.custom_shift(f"{where}.custom_shifts[{i}]", shift)
        ]
        if not layers:
            self.drop(where, name, "no rotation could be imported: the schedule is not imported")
            return None
        schedule = Schedule(name=name, timezone=zone.key, layers=layers, overrides=overrides)
        swaps = [
            swap
            for index, raw in enumerate(extra)
            for swap in self.swap(f"{where}.overrides[{index}]", raw, schedule, rotation_of)
        ]
        return attrs.evolve(schedule, overrides=[*overrides, *swaps])

    def swap(
        self, where: str, raw: object, schedule: Schedule, rotation_of: list[str]
    ) -> list[Override]:
        """A v3 override: one member for another in one rotation, where they were on call."""
        item = self.table(where, raw)
        start, end = self.instant(where, item, "start_time"), self.instant(where, item, "end_time")
        before = self.member(f"{where}.overridden_member", item.get("overridden_member"))
        after = self.member(f"{where}.overriding_member", item.get("overriding_member"))
        rotation = str(item.get("rotation_id"))
        if rotation not in rotation_of:
            self.drop(
                where,
                item.get("custom_shift_id") or rotation,
                "overrides a rotation or custom shift not in the import: not applied",
            )
            return []
        out = []
        for layer, owner in zip(schedule.layers, rotation_of, strict=True):
            alone = Schedules([Schedule(name="x", timezone=schedule.timezone, layers=[layer])])
            out += [
                Override(
                    start=shift.start,
                    end=shift.end,
                    layer=layer.name,
                    remove=[before],
                    add=[after] if after else [],
                    why="PagerDuty override",
                )
                for shift in alone.shifts("x", start, end)
                if owner == rotation and before in shift.people
            ]
        return out

    def custom_shift(self, where: str, value: object) -> list[Override]:
        """A v3 custom shift: its people added for its time."""
        shift = self.table(where, value)
        start, end = (
            self.instant(where, shift, "start_time"),
            self.instant(where, shift, "end_time"),
        )
        people = [
            self.member(f"{where}.assignments[{i}]", self.table(where, a).get("member"))
            for i, a in enumerate(self.array(f"{where}.assignments", shift.get("assignments")))
        ]
        self.unknown(where, shift, ("start_time", "end_time", "assignments"), ("id", "type"))
        if not self.spans(where, shift.get("id"), start, end):
            return []
        return [
            Override(
                start=start, end=end, add=[p for p in people if p], why="PagerDuty custom shift"
            )
        ]

    def member(self, where: str, value: object) -> str:
        item = self.table(where, value)
        if item.get("type") == "empty_member":
            return ""
        return self.user(where, {"id": item.get("user_id"), **item})

    def event(self, where: str, item: Mapping[str, Any], zone: ZoneInfo) -> Layer | None:
        name = self.text(where, item, "name", str(item.get("id")))
        where = f'{where} "{name}"'
        start_time = self.table(f"{where}.start_time", item.get("start_time"))
        end_time = self.table(f"{where}.end_time", item.get("end_time"))
        event_zone = self.zone_of(
            f"{where}.start_time.time_zone", start_time.get("time_zone") or zone.key
        )
        start = self.instant(f"{where}.start_time", start_time, "date_time")
        end = self.instant(f"{where}.end_time", end_time, "date_time")
        strategy = self.table(f"{where}.assignment_strategy", item.get("assignment_strategy"))
        members = [
            self.member(f"{where}.members[{i}]", m)
            for i, m in enumerate(self.array(where, strategy.get("members")))
        ]
        if strategy.get("type") == "every_member_assignment_strategy":
            slots = [[m for m in members if m]]
        else:
            each = self.number(where, strategy, "shifts_per_member", 1, most=MOST) or 1
            slots = [[m] if m else [] for m in members for _ in range(each)]
        rules = [
            r
            for r in self.array(f"{where}.recurrence", item.get("recurrence"))
            if isinstance(r, str)
        ]
        for other in rules[1:]:
            self.drop(
                f"{where}.recurrence",
                other,
                "only one RRULE is read: the exceptions are not imported",
            )
        if not rules or not slots:
            self.drop(where, name, "an event with no recurrence or no members is not imported")
            return None
        freq, interval, days, rest = parse_rule(rules[0], f"{where}.recurrence")
        until = rest.pop("UNTIL", None)
        unknown = {k: v for k, v in rest.items() if k != "WKST"}
        if unknown:
            parts = ", ".join(f"{k}={v}" for k, v in unknown.items())
            self.drop(f"{where}.recurrence", rules[0], f"{parts}: this rule has no layer form")
            return None
        local = start.astimezone(event_zone).replace(tzinfo=None)
        recurrence = Recurrence(
            start=local, length=end - start, freq=freq, interval=interval, by_day=days
        )
        layer = recurrence_layer(name, recurrence, slots)
        if isinstance(layer, str):
            self.drop(where, rules[0], layer)
            return None
        since = (
            self.instant(where, item, "effective_since") if item.get("effective_since") else None
        )
        self.unknown(
            where,
            item,
            (
                "name",
                "start_time",
                "end_time",
                "assignment_strategy",
                "recurrence",
                "effective_since",
                "effective_until",
            ),
            ("id", "type"),
        )
        ends = [self.instant(where, item, "effective_until")] if item.get("effective_until") else []
        if until:
            ends.append(rule_until(until, event_zone) + (end - start))
        if ends and not self.spans(where, name, max(since or start, start), min(ends)):
            return None
        return attrs.evolve(
            layer,
            timezone=event_zone.key if event_zone.key != zone.key else None,
            active_from=since if since and since > start else None,
            active_until=min(ends) if ends else None,
        )

    # ------------------------------------------------------------------------ escalation

    def escalation(
        self, where: str, item: Mapping[str, Any], schedules: Mapping[str, str]
    ) -> tuple[list[Step], int]:
        name = self.text(where, item, "name", str(item.get("summary") or item.get("id")))
        where = f'{where} "{name}"'
        steps: list[Step] = []
        for index, raw in enumerate(
            self.array(f"{where}.escalation_rules", item.get("escalation_rules"))
        ):
            rule = self.table(f"{where}.escalation_rules[{index}]", raw)
            at = f"{where}.escalation_rules[{index}]"
            targets = [
                self.target(f"{at}.targets[{i}]", t, schedules)
                for i, t in enumerate(self.array(at, rule.get("targets")))
            ]
            wait = timedelta(minutes=self.number(at, rule, "escalation_delay_in_minutes"))
            strategy = rule.get("escalation_rule_assignment_strategy")
            kind = strategy.get("type") if isinstance(strategy, Mapping) else strategy
            if kind not in (None, "assign_to_everyone"):
                self.approximate(
                    f"{at}.escalation_rule_assignment_strategy",
                    kind,
                    "everyone of the level is paged, not one in turn",
                )
            self.unknown(
                at,
                rule,
                ("targets", "escalation_delay_in_minutes", "escalation_rule_assignment_strategy"),
                ("id",),
            )
            steps.append(([t for t in targets if t], wait))
        if item.get("on_call_handoff_notifications") == "always":
            self.drop(
                f"{where}.on_call_handoff_notifications",
                "always",
                "handoff notices are the policy's oncall_notices",
            )
        for key in ("services", "teams"):
            if key == "services" and self.services_given:
                continue  # carried over as routes, from the services themselves
            why = (
                "routes come from GET /services: give its answer to route the service here"
                if key == "services"
                else "a PagerDuty team is not an incident_flow team (each escalation policy is)"
            )
            for ref in self.array(f"{where}.{key}", item.get(key)):
                label = ref.get("summary", ref.get("id")) if isinstance(ref, Mapping) else ref
                self.drop(f"{where}.{key}", label, why)
        if item.get("description"):
            self.drop(
                f"{where}.description",
                item["description"],
                "an escalation has no description in incident_flow",
            )
        self.unknown(
            where,
            item,
            (
                "name",
                "escalation_rules",
                "num_loops",
                "on_call_handoff_notifications",
                "services",
                "teams",
                "description",
            ),
            _REFERENCE,
        )
        return steps, self.number(where, item, "num_loops", 0, most=_LOOPS)

    # ------------------------------------------------------------------------ services

    def target(self, where: str, value: object, schedules: Mapping[str, str]) -> str:
        item = self.table(where, value)
        kind = str(item.get("type", "")).removesuffix("_reference")
        self.unknown(where, item, _REFERENCE)
        if kind == "user":
            return self.user(where, item)
        if kind in ("schedule", "schedule_v3"):
            found = schedules.get(str(item.get("id")))
            if found is None:
                label = str(item.get("summary") or item.get("id"))
                self.approximate(
                    where, label, "the schedule is not in the import: paged by that name"
                )
                return label
            return f"schedule:{found}"
        self.drop(where, item, "not a target incident_flow can page")
        return ""


def _clock(where: str, value: object) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError as exc:
        msg = f"{where}.start_time_of_day: must be a time like 08:00:00, got {value!r}"
        raise InvalidExport(msg) from exc


def _belongs(override: object, schedule: Mapping[str, Any], only: bool) -> bool:
    """Whether a loose override is ``schedule``'s.

    By ``schedule_id``, or a v3 rotation's id; one of ``GET /schedules/{id}/overrides`` (which
    names no schedule) when ``schedule`` is the ``only`` classic schedule of the import.
    """
    if not isinstance(override, Mapping):
        return False
    if override.get("schedule_id") is not None:
        return bool(override.get("schedule_id") == schedule.get("id"))
    if _classic(override):
        return only and _classic(schedule)
    rotations = schedule.get("rotations") or []
    return any(
        isinstance(r, Mapping) and r.get("id") == override.get("rotation_id") for r in rotations
    )


def _classic(item: Mapping[str, Any]) -> bool:
    """Whether a schedule, or a loose override, is of the classic (layered) kind, not v3."""
    if "start_time" in item or "rotation_id" in item or "custom_shift_id" in item:
        return False  # a v3 override
    return item.get("type") != "schedule_v3" and "rotations" not in item


def _given(
    overrides: Mapping[str, Iterable[object]], schedules: list[Any]
) -> dict[int, list[object]]:
    """The overrides given for each schedule (by name or id), by the schedule's index.

    Raises:
        InvalidExport: a schedule named that is not in the import, or a document that is not
            a ``GET /schedules/{id}/overrides`` answer.
    """
    out: dict[int, list[object]] = {}
    for name, answers in overrides.items():
        index = next(
            (
                i
                for i, s in enumerate(schedules)
                if isinstance(s, Mapping) and name in (s.get("id"), s.get("name"))
            ),
            None,
        )
        if index is None:
            known = ", ".join(str(s.get("name")) for s in schedules if isinstance(s, Mapping))
            msg = f"overrides given for {name!r}: no such schedule in the import (found: {known})"
            raise InvalidExport(msg)
        documents = [answers] if isinstance(answers, Mapping) else list(answers)
        found = _objects(readable(documents))
        if any(found[kind] for kind in found if kind != "overrides"):
            msg = f"overrides given for {name!r}: must be GET /schedules/{{id}}/overrides answers"
            raise InvalidExport(msg)
        out.setdefault(index, []).extend(found["overrides"])
    return out


def _objects(documents: Iterable[object]) -> dict[str, list[Any]]:
    """The documents' objects by kind (schedules, overrides, users, escalation policies...)."""
    found: dict[str, list[Any]] = {
        "schedules": [],
        "overrides": [],
        "users": [],
        "escalation_policies": [],
        "services": [],
        "other": [],
    }
    for index, document in enumerate(documents):
        if isinstance(document, list):
            for kind, items in _objects(document).items():
                found[kind] += items
            continue
        table = Reader.table(f"document {index}", document)
        matched = False
        for kind, one in (
            ("schedules", "schedule"),
            ("overrides", "override"),
            ("users", "user"),
            ("escalation_policies", "escalation_policy"),
            ("services", "service"),
        ):
            if kind in table:
                found[kind] += list(Reader.array(f"document {index}.{kind}", table[kind]))
                matched = True
            if one in table:
                found[kind].append(table[one])
                matched = True
        if not matched:
            found["other"].append(table)
    return found


def import_pagerduty(
    documents: Iterable[object],
    *,
    people: People | None = None,
    escalation: str | None = None,
    overrides: Mapping[str, Iterable[object]] | None = None,
    time_zone: str | None = None,
) -> Imported:
    """PagerDuty's schedules, overrides and an escalation policy, from REST API JSON documents.

    Args:
        documents: parsed JSON answers, in any order: ``{"schedule": ...}`` or
            ``{"schedules": [...]}`` (v2 layers or v3 rotations), ``{"overrides": [...]}``
            (``GET /schedules/{id}/overrides``: the only classic schedule's, or each with
            ``schedule_id``, or in a schedule's ``overrides``), ``{"users": [...]}`` (for
            emails), ``{"escalation_policy": ...}`` or ``{"escalation_policies": [...]}``.
        people: the policy's people (a user they name keeps that person's name).
        escalation: the escalation policy to import, by name or id (default: the first; the
            others are reported).
        overrides: ``GET /schedules/{id}/overrides`` answers by the name or id of the schedule
            they were asked for (needed when the import has several schedules).
        time_zone: the account's IANA zone, for a schedule without ``time_zone`` (reported);
            without it, such a schedule is refused.

    Raises:
        InvalidExport: the JSON is not what PagerDuty's API returns (the message names the
            field), a schedule without ``time_zone`` and none given, or overrides given for no
            schedule of the import.
    """
    zone = Reader.zone_of("time_zone", time_zone) if time_zone is not None else None
    found = _objects(readable(documents))
    reader = _PagerDuty(people, found["users"], zone)
    reader.profiles("users", found["users"], (*_REFERENCE, "name", "email", "deleted_at"))
    for index, other in enumerate(found["other"]):
        reader.drop(
            f"document {index}", other, "not a schedule, override, user or escalation policy"
        )
    reader.names.reserved = {
        str(s.get("name") or s.get("summary")) for s in found["schedules"] if isinstance(s, Mapping)
    }
    schedules: list[Schedule] = []
    ids: dict[str, str] = {}
    used: set[int] = set()
    given = _given(overrides or {}, found["schedules"])
    classic = [s for s in found["schedules"] if isinstance(s, Mapping) and _classic(s)]
    read_overrides = len(found["overrides"]) + sum(len(v) for v in given.values())
    for index, raw in enumerate(found["schedules"]):
        item = reader.table(f"schedules[{index}]", raw)
        extra = [*reader.array(f"schedules[{index}].overrides", item.get("overrides"))]
        read_overrides += len(extra)
        extra += given.get(index, [])
        for number, override in enumerate(found["overrides"]):
            if _belongs(override, item, len(classic) == 1):
                extra.append(override)
                used.add(number)
        schedule = reader.schedule(f"schedules[{index}]", item, extra)
        if schedule is not None:
            schedules.append(schedule)
            ids[str(item.get("id"))] = schedule.name
    for number, other in enumerate(found["overrides"]):
        if number not in used:
            why = (
                "an override of no imported schedule (say whose: --overrides SCHEDULE=FILE.json, "
                "overrides=)"
            )
            reader.drop(f"overrides[{number}]", other, why)
    policies = found["escalation_policies"]
    reader.services_given = bool(found["services"])
    tables = [reader.table(f"escalation_policies[{i}]", p) for i, p in enumerate(policies)]
    steps, loops, teams, routes, default_team = _organisation(
        reader, tables, _chosen(tables, escalation), ids, found["services"]
    )
    read = [
        plural(len(found["schedules"]), "schedule"),
        plural(read_overrides, "override"),
        plural(len(policies), "escalation policy", "escalation policies"),
        plural(len(found["users"]), "user"),
    ]
    if found["services"]:
        read.append(plural(len(found["services"]), "service"))
    return attrs.evolve(
        imported(
            VENDOR,
            reader.names,
            reader,
            schedules=schedules,
            steps=steps,
            repeats=loops,
            read=", ".join(read),
        ),
        teams=tuple(teams),
        routes=tuple(routes),
        default_team=default_team,
    )
