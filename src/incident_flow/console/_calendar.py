"""A schedule's week or month as the console draws it, in the viewer's time zone (pure).

The calendar is a value: days (each its real length: 23 or 25 hours on the DST days), lanes
(who is on call, each layer, the overrides), the segments of each lane cut at the days' edges
and placed as fractions of their day, and the handoffs with what moved them. The templates
only position what is here; nothing in this module does I/O or reads a clock.

Rules it draws by:

- a day is from the instant of local midnight to the next one (``instant``'s DST rules when
  midnight itself is skipped), so a spring-forward day is 23 hours long and an autumn one 25;
- each hour mark is an elapsed hour from the day's start, labelled by its local wall time: the
  skipped hour has no mark, the repeated one two (the second marked as repeated);
- a handoff a layer writes at a wall time the day does not have (02:30 on a spring-forward
  day) happens when the clocks jump, and the calendar says so; one in the repeated hour takes
  its first occurrence (as :mod:`incident_flow.schedules` decides, never recomputed here).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import attrs

from ..schedules import Override, Schedule, Schedules, Shift
from ..schedules._clock import at_wall, local

__all__ = [
    "VIEWS",
    "Calendar",
    "Day",
    "Handoff",
    "HourMark",
    "Segment",
    "bounds",
    "build_calendar",
    "period_of",
]

#: The periods a calendar shows.
VIEWS = ("week", "month")
#: The lane of who is on call (the final answer, overrides applied, the past as recorded).
ON_CALL = "on call"
#: The lane of the overrides (policy and run-time ones).
OVERRIDES = "overrides"
_HOUR = timedelta(hours=1)
_BEGINNING = datetime.min.replace(tzinfo=UTC)


@attrs.frozen
class HourMark:
    """An elapsed hour of a day, labelled by the local wall time it shows."""

    offset: float  # fraction of the day, 0 <= offset < 1
    label: str  # "01:00"
    repeated: bool  # the second pass of an hour the clocks went back through


@attrs.frozen
class Segment:
    """A stretch of one lane within one day (a shift, a layer's turn, an override)."""

    lane: str
    start: datetime  # UTC, within the day
    end: datetime
    people: tuple[str, ...]
    top: float  # where it starts, as a fraction of the day
    height: float  # how much of the day it covers
    starts_before: bool  # it began on an earlier day
    ends_after: bool  # it goes on into the next day
    from_text: str  # local wall time, "09:00"
    to_text: str  # "24:00" at the day's end
    note: str = ""  # an override's reason and author

    @property
    def gap(self) -> bool:
        """True when nobody is on call in it."""
        return not self.people


@attrs.frozen
class Handoff:
    """Where who is on call changes, in a lane, with what the clocks did to it (if anything)."""

    lane: str
    at: datetime  # UTC
    local_text: str  # "2027-03-14 03:00 CDT"
    before: tuple[str, ...]
    after: tuple[str, ...]
    note: str = ""  # "02:30 does not exist on 2027-03-14: at 03:00, when the clocks jump"


@attrs.frozen
class Day:
    """One local day of the viewer's time zone and what each lane has in it."""

    day: date
    start: datetime  # UTC instant of local midnight
    end: datetime  # UTC instant of the next local midnight
    in_period: bool  # False for the days a month view shows around its month
    hours: tuple[HourMark, ...]
    segments: tuple[Segment, ...]
    handoffs: tuple[Handoff, ...]
    note: str  # "23-hour day: the clocks go forward (UTC-06:00 -> UTC-05:00)"; "" otherwise

    @property
    def length(self) -> timedelta:
        """How long the day really is."""
        return self.end - self.start

    def lane(self, name: str) -> tuple[Segment, ...]:
        """The day's segments of one lane, in order."""
        return tuple(s for s in self.segments if s.lane == name)


@attrs.frozen
class Calendar:
    """A schedule's week or month: its lanes, its days, the handoffs and the shift record."""

    schedule: str
    zone: str  # the viewer's time zone the days are cut in
    view: str
    first: date
    last: date
    lanes: tuple[str, ...]
    days: tuple[Day, ...]
    handoffs: tuple[Handoff, ...]
    shifts: tuple[Shift, ...]  # the on-call lane's shifts of the period, uncut

    @property
    def start(self) -> datetime:
        """The UTC instant the calendar starts."""
        return self.days[0].start

    @property
    def end(self) -> datetime:
        """The UTC instant the calendar ends."""
        return self.days[-1].end

    @property
    def weeks(self) -> tuple[tuple[Day, ...], ...]:
        """The days seven by seven (a month view's rows)."""
        return tuple(tuple(self.days[i : i + 7]) for i in range(0, len(self.days), 7))

    def previous(self) -> date:
        """A day of the period before this one (for the page's link)."""
        return self.first - timedelta(days=1)

    def following(self) -> date:
        """A day of the period after this one."""
        return self.last + timedelta(days=1)


def _month_start(day: date) -> date:
    return day.replace(day=1)


def period_of(anchor: date, view: str) -> tuple[date, date, date, date]:
    """The days a ``view`` of ``anchor`` shows: (first, last, period first, period last).

    A week is Monday to Sunday; a month view is the whole weeks around the month (Monday
    first), the month itself being the period.

    Raises:
        ValueError: ``view`` is neither ``week`` nor ``month``.
    """
    if view == "week":
        first = anchor - timedelta(days=anchor.weekday())
        return first, first + timedelta(days=6), first, first + timedelta(days=6)
    if view == "month":
        month = _month_start(anchor)
        after = _month_start(month + timedelta(days=32))
        month_last = after - timedelta(days=1)
        first = month - timedelta(days=month.weekday())
        last = month_last + timedelta(days=6 - month_last.weekday())
        return first, last, month, month_last
    msg = f"a calendar shows a week or a month, not {view!r}"
    raise ValueError(msg)


def bounds(anchor: date, view: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants a ``view`` of ``anchor`` starts and ends at (local midnights in ``zone``).

    Raises:
        ValueError: an unknown view.
    """
    first, last, _, _ = period_of(anchor, view)
    return at_wall(first, time(0), zone), at_wall(last + timedelta(days=1), time(0), zone)


def _clock_text(at: datetime, zone: ZoneInfo) -> str:
    return f"{local(at, zone):%H:%M}"


def _offset_text(at: datetime, zone: ZoneInfo) -> str:
    offset = at.astimezone(zone).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _hours(start: datetime, end: datetime, zone: ZoneInfo) -> tuple[HourMark, ...]:
    length = (end - start).total_seconds()
    marks: list[HourMark] = []
    seen: set[str] = set()
    at = start
    while at < end:
        label = _clock_text(at, zone)
        marks.append(HourMark((at - start).total_seconds() / length, label, label in seen))
        seen.add(label)
        at += _HOUR
    return tuple(marks)


def _day_note(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    length = end - start
    if length == timedelta(days=1):
        return ""
    hours = length.total_seconds() / 3600
    shown = f"{hours:g}"
    way = "forward" if length < timedelta(days=1) else "back"
    before, after = _offset_text(start, zone), _offset_text(end, zone)
    return f"{shown}-hour day: the clocks go {way} ({before} -> {after})"


def _cut(
    lane: str,
    spans: Sequence[tuple[datetime, datetime, tuple[str, ...], str]],
    day_start: datetime,
    day_end: datetime,
    zone: ZoneInfo,
) -> list[Segment]:
    length = (day_end - day_start).total_seconds()
    out: list[Segment] = []
    for start, end, people, note in spans:
        lower, upper = max(start, day_start), min(end, day_end)
        if lower >= upper:
            continue
        out.append(
            Segment(
                lane=lane,
                start=lower,
                end=upper,
                people=people,
                top=(lower - day_start).total_seconds() / length,
                height=(upper - lower).total_seconds() / length,
                starts_before=start < day_start,
                ends_after=end > day_end,
                from_text=_clock_text(lower, zone),
                to_text="24:00" if upper == day_end else _clock_text(upper, zone),
                note=note,
            )
        )
    return out


def _spans(book: Schedules, name: str) -> list[tuple[datetime, datetime | None, Schedule]]:
    """The versions of ``name``, each with when it applies from and until."""
    mine = [s for s in book.versions if s.name == name]
    return [
        (
            version.effective_from or _BEGINNING,
            mine[index + 1].effective_from if index + 1 < len(mine) else None,
            version,
        )
        for index, version in enumerate(mine)
    ]


def _layer_spans(
    book: Schedules, name: str, start: datetime, end: datetime
) -> dict[str, list[tuple[datetime, datetime, tuple[str, ...], str]]]:
    """Each layer's turns (with its overrides) over the period, as the schedule answers them."""
    lanes: dict[str, list[tuple[datetime, datetime, tuple[str, ...], str]]] = {}
    for span_start, span_end, version in _spans(book, name):
        lower = max(start, span_start)
        upper = end if span_end is None else min(end, span_end)
        if lower >= upper:
            continue
        edges = [lower, *version.changes(lower, upper), upper]
        for layer in version.layers:
            spans = lanes.setdefault(layer.name, [])
            for begin, finish in pairwise(edges):
                people = version.layer_on_call(layer, begin)
                if spans and spans[-1][1] == begin and spans[-1][2] == people:
                    spans[-1] = (spans[-1][0], finish, people, "")
                else:
                    spans.append((begin, finish, people, ""))
    return {lane: [s for s in spans if s[2]] for lane, spans in lanes.items()}


def _override_spans(
    book: Schedules, name: str, start: datetime, end: datetime
) -> list[tuple[datetime, datetime, tuple[str, ...], str]]:
    seen: dict[Override, None] = {}
    for _, _, version in _spans(book, name):
        for override in version.overrides:
            if override.start < end and override.end > start:
                seen.setdefault(override)
    out = []
    for override in sorted(seen, key=lambda o: (o.start, o.end, o.id or "")):
        what = _override_text(override)
        who = f" by {override.by}" if override.by else ""
        why = f": {override.why}" if override.why else ""
        out.append(
            (override.start, override.end, override.replace or override.add, f"{what}{who}{why}")
        )
    return out


def _override_text(override: Override) -> str:
    parts = []
    if override.replace is not None:
        parts.append(f"instead: {', '.join(override.replace) or 'nobody'}")
    if override.add:
        parts.append(f"adds {', '.join(override.add)}")
    if override.remove:
        parts.append(f"removes {', '.join(override.remove)}")
    where = f"layer {override.layer}: " if override.layer else ""
    return where + "; ".join(parts)


def _moved(book: Schedules, name: str, at: datetime) -> str:
    """Why a handoff at ``at`` is not at its layer's written time (a DST day), or ""."""
    version = book.version_at(name, at)
    if version is None:
        return ""
    for layer in version.layers:
        zone = version.zone_of(layer)
        if layer.period.unit == "hour":
            continue
        turn = layer.turn_at(at, zone)
        if turn is None or layer.handoff_at(turn, zone) != at:
            continue
        written = layer.handoff
        wall = at.astimezone(zone)
        day = wall.date()
        if wall.time().replace(tzinfo=None) != written:
            return (
                f"{written:%H:%M} does not exist on {day} in {zone.key}: the handoff is at "
                f"{wall:%H:%M}, when the clocks jump"
            )
        if _repeated(day, written, zone):
            return f"{written:%H:%M} happens twice on {day} in {zone.key}: the first one"
    return ""


def _repeated(day: date, clock: time, zone: ZoneInfo) -> bool:
    wall = datetime.combine(day, clock)
    first = wall.replace(tzinfo=zone, fold=0).utcoffset()
    second = wall.replace(tzinfo=zone, fold=1).utcoffset()
    return (
        first != second and at_wall(day, clock, zone).astimezone(zone).replace(tzinfo=None) == wall
    )


def build_calendar(
    book: Schedules,
    name: str,
    *,
    zone: ZoneInfo,
    anchor: date,
    view: str = "week",
    shifts: Sequence[Shift] | None = None,
) -> Calendar:
    """The ``view`` (week or month) around local ``anchor`` of schedule ``name``, in ``zone``.

    Args:
        book: the schedules, run-time overrides included (``Schedules.with_overrides``).
        name: the schedule.
        zone: the viewer's time zone: days are cut, and times written, in it.
        anchor: a local day of the week or month to show.
        view: ``week`` or ``month``.
        shifts: who was on call, as the flow answers (its record of the past); None: as
            ``book`` answers.

    Raises:
        KeyError: no such schedule.
        ValueError: an unknown view.
    """
    first, last, period_first, period_last = period_of(anchor, view)
    if name not in book:
        msg = f"no schedule {name!r} (known: {', '.join(book.names) or 'none'})"
        raise KeyError(msg)
    start, end = bounds(anchor, view, zone)
    final = list(book.shifts(name, start, end) if shifts is None else shifts)
    final_spans = [(s.start, s.end, s.people, "") for s in final]
    layers = _layer_spans(book, name, start, end)
    overrides = _override_spans(book, name, start, end)
    lanes = (ON_CALL, *layers, *((OVERRIDES,) if overrides else ()))
    handoffs = tuple(
        Handoff(
            lane=ON_CALL,
            at=after.start,
            local_text=f"{after.start.astimezone(zone):%Y-%m-%d %H:%M %Z}",
            before=before.people,
            after=after.people,
            note=_moved(book, name, after.start),
        )
        for before, after in pairwise(final)
        if start < after.start < end
    )
    days = []
    day = first
    while day <= last:
        day_start = at_wall(day, time(0), zone)
        day_end = at_wall(day + timedelta(days=1), time(0), zone)
        segments = _cut(ON_CALL, final_spans, day_start, day_end, zone)
        for lane, spans in layers.items():
            segments += _cut(lane, spans, day_start, day_end, zone)
        segments += _cut(OVERRIDES, overrides, day_start, day_end, zone)
        days.append(
            Day(
                day=day,
                start=day_start,
                end=day_end,
                in_period=period_first <= day <= period_last,
                hours=_hours(day_start, day_end, zone),
                segments=tuple(segments),
                handoffs=tuple(h for h in handoffs if day_start <= h.at < day_end),
                note=_day_note(day_start, day_end, zone),
            )
        )
        day += timedelta(days=1)
    return Calendar(
        schedule=name,
        zone=zone.key,
        view=view,
        first=period_first,
        last=period_last,
        lanes=lanes,
        days=tuple(days),
        handoffs=handoffs,
        shifts=tuple(final),
    )
