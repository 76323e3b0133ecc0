"""Just enough iCalendar (RFC 5545) to read on-call calendars: their events, as they are written."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import attrs

from ..schedules import instant
from ._common import InvalidExport, Reader

__all__ = ["Event", "read_events", "rule_until"]


@attrs.frozen
class Event:
    """One VEVENT: its local start (in ``zone``), length, rule and summary."""

    summary: str
    start: datetime
    #: Wall-clock length (DTEND - DTSTART read on the wall: a day is a day across DST), as
    #: recurring shifts keep it; ``elapsed`` is the time that passes, for a one-off.
    length: timedelta
    zone: str
    rule: str | None
    extra: dict[str, str]
    elapsed: timedelta = timedelta(0)


def _lines(text: str) -> list[tuple[str, dict[str, str], str]]:
    """Unfolded content lines as (name, parameters, value)."""
    unfolded: list[str] = []
    for raw in text.replace("\r\n", "\n").split("\n"):
        if raw[:1] in (" ", "\t") and unfolded:
            unfolded[-1] += raw[1:]
        elif raw.strip():
            unfolded.append(raw)
    out = []
    for line in unfolded:
        head, _, value = line.partition(":")
        name, *params = head.split(";")
        parameters = dict(p.partition("=")[::2] for p in params)
        out.append((name.upper(), {k.upper(): v.strip('"') for k, v in parameters.items()}, value))
    return out


def _when(name: str, params: dict[str, str], value: str, zone: str) -> tuple[datetime, str]:
    try:
        if params.get("VALUE") == "DATE" or len(value) == 8:
            return datetime.combine(
                date(int(value[:4]), int(value[4:6]), int(value[6:8])), datetime.min.time()
            ), zone
        at = datetime.strptime(value.rstrip("Z"), "%Y%m%dT%H%M%S")  # noqa: DTZ007 - wall time
    except ValueError as exc:
        msg = f"{name}: not an iCalendar date or time: {value!r}"
        raise InvalidExport(msg) from exc
    if value.endswith("Z"):
        return at, "UTC"
    return at, params.get("TZID", zone)


_DURATION_UNITS = {"W": 604800, "D": 86400, "H": 3600, "M": 60, "S": 1}


def _duration(value: str) -> timedelta:
    seconds, number = 0, ""
    for char in value.lstrip("+P").replace("T", ""):
        if char.isdigit():
            number += char
        elif char in _DURATION_UNITS and number:
            seconds += int(number) * _DURATION_UNITS[char]
            number = ""
    return timedelta(seconds=seconds)


def _checked(name: str) -> ZoneInfo:
    """The zone ``name`` (a TZID, X-WR-TIMEZONE), or a clear error."""
    return Reader.zone_of("TZID", name)


def _local(at: datetime, source: str, target: str) -> datetime:
    """A naive wall time read in zone ``source``, as wall time in zone ``target``."""
    if source == target:
        return at
    return at.replace(tzinfo=_checked(source)).astimezone(_checked(target)).replace(tzinfo=None)


def rule_until(value: str, zone: ZoneInfo) -> datetime:
    """An RRULE's ``UNTIL`` (a UTC time, a local time in ``zone``, or a date: its end), in UTC.

    Raises:
        InvalidExport: not an iCalendar date or time.
    """
    text = value if "T" in value else value[:8] + "T235959"
    at, source = _when("UNTIL", {}, text, zone.key)
    return instant(at, ZoneInfo(source))


def read_events(text: str, zone: str = "UTC") -> list[Event]:
    """The VEVENTs of a calendar, cancelled ones left out; times in their own zone.

    ``zone`` is the calendar's (``X-WR-TIMEZONE``, else this) for floating times and dates.

    Raises:
        InvalidExport: not a calendar, or an event without a start.
    """
    lines = _lines(text)
    if not lines or lines[0][0] != "BEGIN" or lines[0][2].upper() != "VCALENDAR":
        msg = "not an iCalendar file (it must begin with BEGIN:VCALENDAR)"
        raise InvalidExport(msg)
    zone = next((v for n, _, v in lines if n == "X-WR-TIMEZONE"), zone)
    _checked(zone)
    events: list[Event] = []
    current: dict[str, tuple[dict[str, str], str]] | None = None
    for name, params, value in lines:
        if name == "BEGIN" and value.upper() == "VEVENT":
            current = {}
        elif name == "END" and value.upper() == "VEVENT" and current is not None:
            event = _event(current, zone)
            if event is not None:
                events.append(event)
            current = None
        elif current is not None and name not in current:
            current[name] = (params, value)
    return events


def _event(props: dict[str, tuple[dict[str, str], str]], zone: str) -> Event | None:
    if props.get("STATUS", ({}, ""))[1].upper() == "CANCELLED":
        return None
    if "DTSTART" not in props:
        msg = "a VEVENT without DTSTART"
        raise InvalidExport(msg)
    start, start_zone = _when("DTSTART", *props["DTSTART"], zone)
    _checked(start_zone)
    begin = instant(start, _checked(start_zone))
    if "DTEND" in props:
        end, end_zone = _when("DTEND", *props["DTEND"], zone)
        elapsed = instant(end, _checked(end_zone)) - begin
        end = _local(end, end_zone, start_zone)
        length = end - start  # naive: wall-clock
    else:
        length = _duration(props["DURATION"][1]) if "DURATION" in props else timedelta(days=1)
        elapsed = length
    length = timedelta(seconds=round(length.total_seconds()))
    if start_zone == "UTC":
        start = start.replace(tzinfo=UTC).replace(tzinfo=None)
    extra = {
        k: v
        for k, (_, v) in props.items()
        if k in ("EXDATE", "RDATE", "RECURRENCE-ID", "ATTENDEE", "DESCRIPTION")
    }
    return Event(
        summary=props.get("SUMMARY", ({}, ""))[1].replace("\\,", ",").replace("\\;", ";").strip(),
        start=start,
        length=length,
        zone=start_zone,
        rule=props["RRULE"][1] if "RRULE" in props else None,
        extra=extra,
        elapsed=timedelta(seconds=round(elapsed.total_seconds())),
    )
