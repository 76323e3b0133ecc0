"""Vendor shapes as layers: periods from lengths, windows from weekly spans, recurrences.

Three vendors describe rotations three ways: PagerDuty by a turn length in seconds and
restriction spans, Opsgenie by a type and a length with time restrictions, Grafana OnCall and
PagerDuty's newer schedules by iCalendar-style recurrences (``FREQ``, ``INTERVAL``, ``BYDAY``).
Each helper here turns one of those into the layer model, or says why it cannot (the importer
reports it; nothing is guessed).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta

import attrs

from ..schedules import Layer, Period, Window
from ._common import MOST, InvalidExport

__all__ = [
    "ICAL_DAYS",
    "Recurrence",
    "clock_of",
    "merged",
    "parse_rule",
    "period_of",
    "recurrence_layer",
    "span_windows",
    "span_windows_daily",
    "unique",
]

_DAY = 86400
_WEEK = 7 * _DAY
ICAL_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def period_of(seconds: int) -> Period | None:
    """The period of a turn ``seconds`` long: weeks, days or hours (None: not whole hours)."""
    for unit, size in (("week", _WEEK), ("day", _DAY), ("hour", 3600)):
        if seconds > 0 and seconds % size == 0:
            return Period(unit, seconds // size)
    return None


def clock_of(seconds: int) -> time:
    """The time of day ``seconds`` after midnight (a whole day or more wraps)."""
    seconds %= _DAY
    return time(seconds // 3600, seconds // 60 % 60, seconds % 60)


def span_windows(day: int, start: time, seconds: int) -> list[Window]:
    """A weekly span's windows: from weekday ``day`` (0 = Monday) at ``start``, ``seconds`` long.

    A span of a week or more is always; one crossing midnight is cut at each midnight (the
    model's windows repeat on weekdays), so Monday 08:00 for four and a half days is Monday
    08:00-24:00, Tuesday to Thursday, and Friday 00:00-20:00.
    """
    if seconds >= _WEEK:
        return [Window(days=range(7))]
    begin = start.hour * 3600 + start.minute * 60 + start.second
    if begin + seconds <= _DAY:
        return [Window(days=[day], start=start, end=clock_of(begin + seconds))]
    windows, rest = [], begin + seconds
    if begin:  # the first day's part, to midnight
        windows.append(Window(days=[day], start=start, end=time(0)))
        day, rest = day + 1, rest - _DAY
    whole = rest // _DAY
    if whole:
        windows.append(Window(days=[(day + i) % 7 for i in range(whole)]))
    if rest % _DAY:
        windows.append(Window(days=[(day + whole) % 7], end=clock_of(rest)))
    return windows


def unique(layers: Sequence[Layer]) -> list[Layer]:
    """The layers, a name used twice made unique (``weekly``, ``weekly (2)``).

    Overrides and reports name layers, so a schedule's layers need distinct names.
    """
    seen: dict[str, int] = {}
    out = []
    for layer in layers:
        seen[layer.name] = seen.get(layer.name, 0) + 1
        count = seen[layer.name]
        out.append(layer if count == 1 else attrs.evolve(layer, name=f"{layer.name} ({count})"))
    return out


def merged(windows: Sequence[Window]) -> list[Window]:
    """The same windows, those with the same hours joined into one (Mon, Tue 09-17)."""
    days: dict[tuple[time, time], set[int]] = {}
    for window in windows:
        days.setdefault((window.start, window.end), set()).update(window.days)
    return [Window(days=d, start=start, end=end) for (start, end), d in days.items()]


@attrs.frozen(kw_only=True)
class Recurrence:
    """An iCalendar-style recurring shift: the first one's local start, its length, the rule.

    Attributes:
        start: the first occurrence's local (naive) start, in the layer's time zone.
        length: how long each occurrence lasts.
        freq: ``hourly``, ``daily``, ``weekly`` or ``monthly``.
        interval: every how many ``freq``.
        by_day: the weekdays (0 = Monday) occurrences fall on; empty: the start's rhythm.
    """

    start: datetime
    length: timedelta
    freq: str
    interval: int = 1
    by_day: frozenset[int] = frozenset()


def parse_rule(rule: str, where: str = "RRULE") -> tuple[str, int, frozenset[int], dict[str, str]]:
    """``FREQ``, ``INTERVAL``, ``BYDAY`` and the other parts of an ``RRULE``.

    Raises:
        InvalidExport: an INTERVAL or a BYDAY that is not one (``where`` names the rule).
    """
    parts = {
        key.upper(): value
        for key, _, value in (p.partition("=") for p in rule.removeprefix("RRULE:").split(";"))
        if value
    }
    freq = parts.pop("FREQ", "").lower()
    interval_text = parts.pop("INTERVAL", "1")
    days_text = parts.pop("BYDAY", "")
    if not interval_text.isdigit() or not 1 <= int(interval_text) <= MOST:
        msg = f"{where}: {rule!r}: INTERVAL must be a whole number from 1 to {MOST}"
        raise InvalidExport(msg)
    if any(d.strip().upper() not in ICAL_DAYS for d in days_text.split(",") if d):
        msg = f"{where}: {rule!r}: BYDAY takes MO, TU, WE, TH, FR, SA, SU"
        raise InvalidExport(msg)
    interval = int(interval_text)
    days = frozenset(ICAL_DAYS.index(d.strip().upper()) for d in days_text.split(",") if d)
    return freq, interval, days, parts


def _spaced(slots: Sequence[Sequence[str]], interval: int) -> list[list[str]]:
    """Each slot followed by ``interval - 1`` empty ones (a turn every ``interval`` units)."""
    return [list(slot) if i == 0 else [] for slot in slots for i in range(interval)]


def recurrence_layer(
    name: str,
    recurrence: Recurrence,
    slots: Sequence[Sequence[str]],
    *,
    weeks: int | None = None,
) -> Layer | str:
    """The layer of a recurring shift whose occurrences go to ``slots`` in turn, or why none.

    The next slot takes the next occurrence; with ``weeks`` (Grafana OnCall's weekly rolling
    users), the next week instead: one slot has every ``by_day`` day of its week, weeks starting
    on weekday ``weeks`` (0 = Monday) at the shifts' time. The caller sets the layer's time
    zone, priority and ``active_from``/``active_until``.
    """
    shape = _shape(recurrence, slots, weeks)
    if shape is None:
        r = recurrence
        unit = {"hourly": "hour", "daily": "day", "weekly": "week", "monthly": "month"}
        every = f"every {r.interval} {unit.get(r.freq, r.freq or '(no FREQ)')}(s)"
        on = f" on {', '.join(ICAL_DAYS[d] for d in sorted(r.by_day))}" if r.by_day else ""
        return f"a shift of {r.length} {every}{on} has no layer form"
    members, period, windows, skip, first = shape
    return Layer(
        name=name,
        members=members,
        period=period,
        handoff=first.time(),
        start=first.date(),
        windows=windows,
        skip_outside_windows=skip,
    )


_Shape = tuple[Sequence[Sequence[str]], Period, list[Window], bool, datetime]


def _shape(  # noqa: PLR0911 - one return per form a recurrence can take
    r: Recurrence, slots: Sequence[Sequence[str]], weeks: int | None
) -> _Shape | None:
    """Members, period, windows, skipping and the first turn's start of a recurrence, if any."""
    start, clock, length = r.start, r.start.time(), int(r.length.total_seconds())
    spaced = _spaced(slots, r.interval)
    one_day = r.by_day in (frozenset(), frozenset({start.weekday()}))
    if r.freq == "hourly" and not r.by_day and length == r.interval * 3600:
        return slots, Period("hour", r.interval), [], False, start
    if r.freq == "daily" and not r.by_day and length == r.interval * _DAY:
        return slots, Period("day", r.interval), [], False, start
    if r.freq == "daily" and not r.by_day and length <= _DAY:
        return spaced, Period("day"), span_windows_daily(clock, length), False, start
    if r.freq == "weekly" and one_day and length == r.interval * _WEEK:
        return slots, Period("week", r.interval), [], False, start
    if r.freq == "weekly" and one_day and length <= _WEEK:
        windows = [] if length == _WEEK else span_windows(start.weekday(), clock, length)
        return spaced, Period("week"), windows, False, start
    if r.freq not in ("daily", "weekly") or not r.by_day or length > _DAY:
        return None
    windows = merged([w for d in sorted(r.by_day) for w in span_windows(d, clock, length)])
    if weeks is not None and r.freq == "weekly":
        # A group's week runs from the week's first day at the shifts' time, so a shift that
        # runs past midnight into the next week stays with the group whose week it began in.
        first = datetime.combine(
            start.date() - timedelta(days=(start.weekday() - weeks) % 7), clock
        )
        return spaced, Period("week"), windows, False, first
    if r.interval == 1:
        return slots, Period("day"), windows, True, start
    return None


def span_windows_daily(start: time, seconds: int) -> list[Window]:
    """The window of a span every day from ``start``, ``seconds`` long (a day or more: always)."""
    if seconds >= _DAY:
        return []
    begin = start.hour * 3600 + start.minute * 60 + start.second
    return [Window(days=range(7), start=start, end=clock_of(begin + seconds))]
