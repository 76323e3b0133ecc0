"""Grafana OnCall's schedules, shifts and escalation chains (public API v1 JSON) as incident_flow's.

One module on purpose (about 650 lines): one vendor's export, one reader sharing its findings
and references across shifts, calendars and chains (see importers/pagerduty.py).

Reads ``GET /api/v1/schedules/``, ``/on_call_shifts/``, ``/users/``, ``/escalation_chains/`` and
``/escalation_policies/`` (their ``results``), and the iCalendar text of ``ical`` schedules. How
OnCall computes shifts is in its ``custom_on_call_shift.py`` (archived March 2026); the mapping
follows it. See docs/importing.md.

- A shift is a layer at its ``level`` (higher hides lower; overrides beat every level).
- ``rolling_users`` groups take occurrences in turn from ``start_rotation_from_user_index``;
  a weekly shift's group has every ``by_day`` day of its week (weeks begin on ``week_start``);
  a daily shift with ``by_day`` gives each group ``interval`` chosen days in a row.
- ``start`` is wall time in the shift's ``time_zone`` (else the calendar schedule's, else UTC).
- An escalation chain is split into levels at each ``wait`` step.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import attrs

from .._core.people import People
from .._core.text import storable
from ..schedules import Layer, Override, Period, Schedule, instant
from ._common import (
    MOST,
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
from ._grafana_org import is_integration, is_route, organisation
from ._ical import Event, read_events, rule_until
from ._links import shown
from ._shapes import ICAL_DAYS, Recurrence, parse_rule, recurrence_layer, unique

__all__ = ["import_grafana_oncall"]

VENDOR = "Grafana OnCall"
_REPEATS = 5  # OnCall repeats a chain at most five times (MAX_TIMES_REPEAT)
_LEVEL = re.compile(r"^\s*\[L(\d+)\]\s*")
_SHIFT_KEYS = (
    "name",
    "type",
    "time_zone",
    "level",
    "start",
    "duration",
    "rotation_start",
    "frequency",
    "interval",
    "until",
    "week_start",
    "by_day",
    "users",
    "rolling_users",
    "start_rotation_from_user_index",
    "by_month",
    "by_monthday",
)
_STEP_KEYS = (
    "id",
    "escalation_chain_id",
    "position",
    "type",
    "duration",
    "important",
    "persons_to_notify",
    "persons_to_notify_next_each_time",
    "notify_on_call_from_schedule",
    "group_to_notify",
    "team_to_notify",
    "action_to_trigger",
    "notify_if_time_from",
    "notify_if_time_to",
    "num_alerts_in_window",
    "num_minutes_in_window",
    "severity",
)
_DROPPED_STEPS = {
    "notify_person_next_each_time": "a round-robin step (one person in turn) is not imported",
    "notify_if_num_alerts_in_window": "an alert-count window is not imported: escalation goes on",
    "notify_if_time_from_to": "a time-of-day condition is not imported: escalation goes on",
    "trigger_webhook": "a webhook step is not imported (use an outbound webhook or an action)",
    "declare_incident": "a declare-incident step is not imported: every page is an incident",
    "notify_user_group": "a Slack user group is not paged (list its people in a level)",
    "notify_team_members": "a Grafana team is not paged (list its people in a level)",
    "notify_whole_channel": "the incident's channel is always told; no step needed",
    "resolve": "a resolve step is not imported: incidents resolve with their alerts or people",
}


def _kind(item: Mapping[str, Any]) -> str:  # noqa: PLR0911 - one answer per kind
    if is_route(item):
        return "route"
    if is_integration(item):
        return "integration"
    if "escalation_chain_id" in item:
        return "policy"
    if "duration" in item and ("rolling_users" in item or "users" in item or "frequency" in item):
        return "shift"
    if item.get("type") in ("web", "ical", "calendar"):
        return "schedule"
    if "username" in item or "email" in item:
        return "user"
    if "name" in item and "type" not in item:
        return "chain"
    return "other"


def _objects(documents: Iterable[object]) -> dict[str, list[Mapping[str, Any]]]:
    found: dict[str, list[Mapping[str, Any]]] = {
        k: []
        for k in (
            "policy",
            "shift",
            "schedule",
            "user",
            "chain",
            "calendar",
            "route",
            "integration",
            "other",
        )
    }
    for index, document in enumerate(documents):
        if isinstance(document, list):
            for kind, items in _objects(document).items():
                found[kind] += items
            continue
        table = Reader.table(f"document {index}", document)
        if isinstance(table.get("calendar"), str) and isinstance(
            table.get("text", table.get("refused")), str
        ):
            found["calendar"].append(table)  # a calendar fetched (or refused) for a schedule
            continue
        for raw in Reader.array(f"document {index}.results", table.get("results", [table])):
            item = Reader.table(f"document {index}.results", raw)
            found[_kind(item)].append(item)
    return found


class _OnCall(Reader):
    def __init__(self, people: People | None, users: Iterable[Mapping[str, Any]]) -> None:
        super().__init__()
        self.names = Names("grafana", people)
        self.users = {str(u.get("id")): u for u in users if isinstance(u, Mapping)}
        self.placed: set[int] = set()  # the shifts some schedule took
        self.refused: dict[str, str] = {}  # the calendars a fetch did not follow, and why

    def user(self, ident: object) -> str:
        key = str(ident)
        found = self.users.get(key, {})
        return self.names.name(key, email=found.get("email"), username=found.get("username"))

    def by_name(self, where: str, text: str) -> str:
        """The user an iCal event names (username, or email in any case), else the text itself."""
        for ident, user in self.users.items():
            if (
                text == user.get("username")
                or text.casefold() == str(user.get("email", "")).casefold()
            ):
                return self.user(ident)
        self.approximate(where, text, "no such OnCall user: kept as the name written")
        return text

    # -------------------------------------------------------------------------------- shifts

    def shift_zone(
        self, where: str, shift: Mapping[str, Any], schedule: Mapping[str, Any]
    ) -> ZoneInfo:
        name = (
            shift.get("time_zone")
            or (schedule.get("time_zone") if schedule.get("type") == "calendar" else None)
            or "UTC"
        )
        return self.zone_of(f"{where}.time_zone", name)

    def wall(self, where: str, shift: Mapping[str, Any], key: str) -> datetime:
        value = shift.get(key)
        try:
            return datetime.fromisoformat(str(value).replace("Z", "")).replace(tzinfo=None)
        except ValueError as exc:
            msg = f"{where}.{key}: must be a time like 2026-01-05T09:00:00, got {value!r}"
            raise InvalidExport(msg) from exc

    def shift(
        self, where: str, shift: Mapping[str, Any], schedule: Mapping[str, Any], home: ZoneInfo
    ) -> list[Layer | Override]:
        """A shift as layers (a rotation, a single event) or an override.

        Nothing (and a finding) when it has no form here.
        """
        name = self.text(where, shift, "name", str(shift.get("id")))
        where = f'{where} "{name}"'
        zone = self.shift_zone(where, shift, schedule)
        kind = shift.get("type")
        start = self.wall(where, shift, "start")
        length = timedelta(seconds=self.number(where, shift, "duration"))
        self.unknown(where, shift, _SHIFT_KEYS, ("id", "team_id", "schedule", "source"))
        if kind not in ("single_event", "recurrent_event", "rolling_users", "override"):
            kinds = "single_event, recurrent_event, rolling_users or override"
            msg = f"{where}.type: must be {kinds}, got {kind!r}"
            raise InvalidExport(msg)
        if not self.usable(where, shift, length):
            return []
        begin = instant(start, zone)
        people = [self.user(u) for u in self.array(f"{where}.users", shift.get("users"))]
        if kind == "override":
            why = "Grafana OnCall override"
            return [Override(start=begin, end=begin + length, replace=people, why=why)]
        level = self.number(where, shift, "level", 0) if shift.get("level") is not None else 0
        own_zone = zone.key if zone.key != home.key else None

        def once(label: str, who: list[str]) -> Layer:
            return _once(
                label, who, start=start, begin=begin, length=length, level=level, zone=own_zone
            )

        if kind == "single_event":
            return [once(name, people)]
        if kind == "rolling_users":
            groups = [
                [self.user(u) for u in self.array(f"{where}.rolling_users[{i}]", g)]
                for i, g in enumerate(
                    self.array(f"{where}.rolling_users", shift.get("rolling_users"))
                )
            ]
            first = self.number(where, shift, "start_rotation_from_user_index", 0)
        else:
            groups, first = [people], 0
        if not any(groups):
            self.drop(where, name, "a shift with nobody is not imported")
            return []
        layer = self.rotation(where, shift, name=name, groups=groups, first=first, zone=zone)
        made: list[Layer | Override] = (
            [attrs.evolve(layer, priority=level, timezone=own_zone)] if layer else []
        )
        days = shift.get("by_day") or ()
        since = self.wall(where, shift, "rotation_start") if shift.get("rotation_start") else start
        off_day = days and ICAL_DAYS[start.weekday()] not in days
        if layer and kind == "recurrent_event" and off_day and since <= start:
            made.append(once(f"{name} (first)", groups[0]))  # DTSTART counts even off BYDAY
        return made

    def usable(self, where: str, shift: Mapping[str, Any], length: timedelta) -> bool:
        """Whether a shift has a length and no months or days of the month (else a finding)."""
        if length <= timedelta(0):
            self.drop(where, shift.get("duration"), "a shift of no length is not imported")
            return False
        chosen = [key for key in ("by_month", "by_monthday") if shift.get(key)]
        if chosen and shift.get("type") != "override":
            why = "a shift on chosen months or days of the month has no layer form"
            self.drop(f"{where}.{chosen[0]}", shift[chosen[0]], why)
            return False
        return True

    def rotation(
        self,
        where: str,
        shift: Mapping[str, Any],
        *,
        name: str,
        groups: list[list[str]],
        first: int,
        zone: ZoneInfo,
    ) -> Layer | None:
        """The layer of a recurring shift whose occurrences go to ``groups`` in turn."""
        start = self.wall(where, shift, "start")
        freq = str(shift.get("frequency") or "")
        interval = self.number(where, shift, "interval", 1, most=MOST) or 1
        days = frozenset(
            ICAL_DAYS.index(d)
            for d in self.array(f"{where}.by_day", shift.get("by_day"))
            if d in ICAL_DAYS
        )
        # Daily on chosen days: each group takes `interval` chosen days in a row.
        repeat = interval if freq == "daily" and days else 1
        slots = [g for g in groups for _ in range(repeat)]
        recurrence = Recurrence(
            start=start,
            length=timedelta(seconds=self.number(where, shift, "duration")),
            freq=freq,
            interval=1 if repeat > 1 else interval,
            by_day=days,
        )
        week_start = (
            ICAL_DAYS.index(shift["week_start"]) if shift.get("week_start") in ICAL_DAYS else 0
        )
        layer = recurrence_layer(
            name, recurrence, slots, weeks=week_start if freq == "weekly" else None
        )
        if isinstance(layer, str):
            self.drop(where, f"{freq} every {interval}", layer)
            return None
        since = self.wall(where, shift, "rotation_start") if shift.get("rotation_start") else start
        active_from = instant(max(since, start), zone)
        first_turn = layer.handoff_at(0, zone)
        # OnCall puts `until` in the rule's UNTIL, which it reads as UTC.
        until = self.wall(where, shift, "until").replace(tzinfo=UTC) if shift.get("until") else None
        if not self.spans(where, name, max(active_from, first_turn), until):
            return None
        return attrs.evolve(
            layer,
            start_index=(first % len(groups)) * repeat * (len(layer.members) // len(slots)),
            active_from=active_from if active_from > first_turn else None,
            active_until=until,
        )

    def schedule(
        self,
        where: str,
        item: Mapping[str, Any],
        shifts: Sequence[Mapping[str, Any]],
        calendars: Mapping[str, str],
    ) -> Schedule | None:
        name = self.text(where, item, "name")
        where = f'{where} "{name}"'
        home = self.zone_of(f"{where}.time_zone", item.get("time_zone") or "UTC")
        ids = [str(s) for s in self.array(f"{where}.shifts", item.get("shifts"))]
        mine = [s for s in shifts if str(s.get("id")) in ids or s.get("schedule") == item.get("id")]
        self.placed.update(id(s) for s in mine)
        layers: list[Layer] = []
        overrides: list[Override] = []
        for index, shift in enumerate(mine):
            for made in self.shift(f"{where}.shifts[{index}]", shift, item, home):
                if isinstance(made, Layer):
                    layers.append(made)
                else:
                    overrides.append(made)
        for key in ("ical_url_primary", "ical_url_overrides"):
            url = item.get(key)
            if not url:
                continue
            text = (
                calendars.get(str(url))
                or calendars.get(f"{name}:{key}")
                or (calendars.get(name) if key == "ical_url_primary" else None)
            )
            if text is None:
                why = "give the calendar's text to import its events"
                if str(url) in self.refused:
                    why = f"{self.refused[str(url)]}; {why} (--calendar NAME=FILE.ics)"
                self.drop(f"{where}.{key}", _calendar_shown(url), why)
                continue
            made_layers, made_overrides = self.calendar(
                f"{where}.{key}", text, home, key == "ical_url_overrides"
            )
            layers += made_layers
            overrides += made_overrides
        slack = item.get("slack") or {}
        if isinstance(slack, Mapping):
            for key in ("channel_id", "user_group_id"):
                if slack.get(key):
                    why = "a schedule's Slack channel and user group are not imported"
                    self.drop(f"{where}.slack.{key}", slack[key], why)
            self.unknown(f"{where}.slack", slack, ("channel_id", "user_group_id"))
        self.unknown(
            where,
            item,
            (
                "name",
                "type",
                "time_zone",
                "shifts",
                "ical_url_primary",
                "ical_url_overrides",
                "slack",
            ),
            ("id", "team_id", "on_call_now", "enable_web_overrides"),
        )
        if not layers:
            self.drop(where, name, "no shift could be imported: the schedule is not imported")
            return None
        return Schedule(name=name, timezone=home.key, layers=unique(layers), overrides=overrides)

    def calendar(
        self, where: str, text: str, home: ZoneInfo, overrides: bool
    ) -> tuple[list[Layer], list[Override]]:
        layers: list[Layer] = []
        made: list[Override] = []
        try:
            events = read_events(text, home.key)
        except InvalidExport as exc:
            msg = f"{where}: {exc}"
            raise InvalidExport(msg) from exc
        for index, event in enumerate(events):
            at = f"{where}.events[{index}]"
            match = _LEVEL.match(event.summary)
            level = int(match.group(1)) if match else 0
            person = self.by_name(at, _who(event))
            for key, value in event.extra.items():
                if key not in ("DESCRIPTION", "ATTENDEE"):
                    self.drop(f"{at}.{key}", value, "edited and extra occurrences are not imported")
            zone = ZoneInfo(event.zone)
            begin = instant(event.start, zone)
            if event.elapsed <= timedelta(0):
                self.drop(at, event.summary, "an event of no length is not imported")
                continue
            if overrides and event.rule:
                why = "a repeating override: only its first occurrence is imported"
                self.approximate(f"{at}.RRULE", event.rule, why)
            if overrides or event.rule is None:
                if overrides:
                    made.append(
                        Override(
                            start=begin,
                            end=begin + event.elapsed,
                            replace=[person],
                            why="calendar override",
                        )
                    )
                    continue
                layers.append(
                    Layer(
                        name=f"{person} {event.start:%Y-%m-%d %H:%M}",
                        members=[person],
                        period=Period("week"),
                        handoff=event.start.time(),
                        start=event.start.date(),
                        priority=level,
                        active_from=begin,
                        active_until=begin + event.elapsed,
                        timezone=event.zone if event.zone != home.key else None,
                    )
                )
                continue
            freq, interval, days, rest = parse_rule(event.rule, f"{at}.RRULE")
            until = rest.pop("UNTIL", None)
            unknown = {k: v for k, v in rest.items() if k != "WKST"}
            if unknown:
                parts = ", ".join(f"{k}={v}" for k, v in unknown.items())
                self.drop(at, event.rule, f"{parts}: this rule has no layer form")
                continue
            recurrence = Recurrence(
                start=event.start, length=event.length, freq=freq, interval=interval, by_day=days
            )
            layer = recurrence_layer(
                f"{person} from {event.start:%Y-%m-%d}", recurrence, [[person]]
            )
            if isinstance(layer, str):
                self.drop(at, event.rule, layer)
                continue
            end = None
            if until:
                end = rule_until(until, zone) + event.length
            layers.append(
                attrs.evolve(
                    layer,
                    priority=level,
                    active_until=end,
                    timezone=event.zone if event.zone != home.key else None,
                )
            )
        return layers, made

    # ---------------------------------------------------------------------------- escalation

    def notified(self, at: str, step: Mapping[str, Any], schedules: Mapping[str, str]) -> list[str]:
        """Who a notify step pages: its people, or its schedule's on-call person."""
        if step.get("type") == "notify_persons":
            people = self.array(f"{at}.persons_to_notify", step.get("persons_to_notify"))
            return [self.user(u) for u in people]
        ident = str(step.get("notify_on_call_from_schedule"))
        if ident in schedules:
            return [f"schedule:{schedules[ident]}"]
        why = "the schedule is not in the import"
        self.drop(f"{at}.notify_on_call_from_schedule", ident, why)
        return []

    def chain(
        self,
        where: str,
        chain: Mapping[str, Any],
        policies: Sequence[Mapping[str, Any]],
        schedules: Mapping[str, str],
    ) -> tuple[list[Step], int]:
        name = self.text(where, chain, "name")
        where = f'{where} "{name}"'
        self.unknown(where, chain, ("name",), ("id",))
        if chain.get("team_id"):
            self.drop(f"{where}.team_id", chain["team_id"], "an escalation has no team")
        mine = sorted(
            (p for p in policies if p.get("escalation_chain_id") == chain.get("id")),
            key=lambda p: self.number(f"{where}.steps", p, "position", 0),
        )
        steps: list[Step] = []
        pending: list[str] = []
        repeats = 0
        for index, step in enumerate(mine):
            at = f"{where}.steps[{index}]"
            kind = step.get("type")
            self.unknown(at, step, _STEP_KEYS)
            if kind == "wait":
                if not pending and not any(targets for targets, _ in steps):
                    why = "the first level is paged when the incident opens, not after a wait"
                    self.approximate(at, step.get("duration"), why)
                steps.append(
                    (pending, timedelta(seconds=self.number(at, step, "duration", 300) or 300))
                )
                pending = []
            elif kind in ("notify_persons", "notify_on_call_from_schedule"):
                pending += self.notified(at, step, schedules)
            elif kind == "repeat_escalation":
                repeats = _REPEATS
                for later in range(index + 1, len(mine)):
                    why = "a step after a repeat is never reached"
                    self.drop(f"{where}.steps[{later}]", mine[later].get("type"), why)
                break
            else:
                why = _DROPPED_STEPS.get(str(kind), "not a step incident_flow knows")
                self.drop(f"{at}.type", kind, why)
            if step.get("important"):
                self.approximate(
                    f"{at}.important",
                    True,
                    "paged as any page (people's own notification rules apply)",
                )
        steps.append((pending, None))
        if repeats and steps[-1][0] and len(steps) > 1 and steps[-2][1]:
            self.approximate(
                f"{where}.repeat_escalation",
                repeats,
                "the repeat waits the severity's ack timeout after the last level",
            )
        return steps, repeats


def _calendar_shown(url: object) -> str:
    """A calendar's URL for the report: its scheme and host (its path may hold a secret)."""
    parts = urlsplit(str(url))
    if not (parts.scheme and parts.hostname):
        return str(url)
    return shown(str(url)) + ("/…" if parts.path.strip("/") or parts.query else "")


def _who(event: Event) -> str:
    """Whom an OnCall calendar event names.

    Its summary (without ``[Ln]``), else its description, else its one attendee's address, as
    OnCall reads them.
    """
    summary = _LEVEL.sub("", event.summary).strip()
    if summary:
        return summary
    if event.extra.get("DESCRIPTION", "").strip():
        return str(event.extra["DESCRIPTION"]).strip()
    attendee = str(event.extra.get("ATTENDEE", ""))
    return attendee.removeprefix("mailto:").removeprefix("MAILTO:")


def _once(
    name: str,
    people: list[str],
    *,
    start: datetime,
    begin: datetime,
    length: timedelta,
    level: int,
    zone: str | None,
) -> Layer:
    """A layer of ``people`` applying once, from ``begin`` for ``length``."""
    return Layer(
        name=name,
        members=[people],
        period=Period("week"),
        handoff=start.time(),
        start=start.date(),
        priority=level,
        active_from=begin,
        active_until=begin + length,
        timezone=zone,
    )


def import_grafana_oncall(
    documents: Iterable[object],
    *,
    people: People | None = None,
    escalation: str | None = None,
    calendars: Mapping[str, str] | None = None,
) -> Imported:
    """Grafana OnCall's schedules, shifts and an escalation chain, from public API JSON documents.

    Args:
        documents: parsed JSON answers (``{"results": [...]}`` pages or single objects), in any
            order: schedules, on-call shifts, users, escalation chains, escalation policies.
        people: the policy's people (a user they name keeps that person's name).
        escalation: the escalation chain to import, by name or id (default: the first; the
            others are reported).
        calendars: the iCalendar text of ``ical`` schedules, by URL or schedule name
            (``NAME`` for its primary calendar, ``NAME:ical_url_overrides`` for its overrides).

    Raises:
        InvalidExport: the JSON is not what OnCall's API returns (the message names the field).
    """
    found = _objects(readable(documents))
    reader = _OnCall(people, found["user"])
    reader.profiles("users", found["user"], ("id", "email", "username"))
    for index, other in enumerate(found["other"]):
        reader.drop(
            f"results[{index}]", other, "not a schedule, shift, user, chain or escalation step"
        )
    given = {key: storable(text) for key, text in (calendars or {}).items()}
    texts = {str(c["calendar"]): str(c["text"]) for c in found["calendar"] if "text" in c} | given
    reader.refused = {
        str(c["calendar"]): str(c["refused"]) for c in found["calendar"] if "text" not in c
    }
    reader.names.reserved = {str(s.get("name")) for s in found["schedule"]}
    schedules: list[Schedule] = []
    ids: dict[str, str] = {}
    for index, item in enumerate(found["schedule"]):
        schedule = reader.schedule(f"schedules[{index}]", item, found["shift"], texts)
        if schedule is not None:
            schedules.append(schedule)
            ids[str(item.get("id"))] = schedule.name
    for index, shift in enumerate(found["shift"]):
        if id(shift) not in reader.placed:
            why = "a shift of no schedule in the import: not imported"
            reader.drop(f"shifts[{index}]", shift.get("name") or shift.get("id"), why)
    read = [
        plural(len(found["schedule"]), "schedule"),
        plural(len(found["shift"]), "shift"),
        plural(len(found["chain"]), "escalation chain"),
        plural(len(found["policy"]), "escalation step"),
        plural(len(found["user"]), "user"),
    ]
    if found["integration"] or found["route"]:
        read += [
            plural(len(found["integration"]), "integration"),
            plural(len(found["route"]), "route"),
        ]
        return organisation(reader, found, ids, schedules, wanted=escalation, read=", ".join(read))
    chain = choose(reader, found["chain"], escalation, "escalation_chains")
    steps: list[Step] = []
    repeats = 0
    if chain is not None:
        steps, repeats = reader.chain(
            f"escalation_chains[{found['chain'].index(chain)}]", chain, found["policy"], ids
        )
    return imported(
        VENDOR,
        reader.names,
        reader,
        schedules=schedules,
        steps=steps,
        repeats=repeats,
        read=", ".join(read),
    )
