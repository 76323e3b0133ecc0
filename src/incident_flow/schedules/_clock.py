"""Wall time to instants, with explicit DST rules (pure; zoneinfo only).

A schedule's handoffs are written in local wall time ("09:00 in Berlin"). Twice a year such a
time does not exist (spring forward) or exists twice (fall back):

- in a gap, the handoff moves to the first valid instant after it (02:30 on a Chicago spring
  day is 03:00 CDT, the instant the clocks jump);
- in a repeated hour, it takes the first occurrence (01:30 on a Chicago autumn day is 01:30
  CDT, before the clocks fall back).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["add_months", "instant", "local", "zone_named"]


def zone_named(name: object) -> ZoneInfo:
    """The IANA time zone ``name``.

    Raises:
        ValueError: not one (also for what zoneinfo refuses in other ways: a key too long for
            a file name, a path, not a string).
    """
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        text = str(name)
        shown = text if len(text) <= 60 else text[:59] + "…"
        msg = f"not an IANA time zone: {shown!r}"
        raise ValueError(msg) from exc


def instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of the naive local ``wall`` time in ``zone`` (see the module's rules)."""
    first = wall.replace(tzinfo=zone, fold=0)
    at = first.astimezone(UTC)
    if at.astimezone(zone).replace(tzinfo=None) == wall:
        return at  # it exists (in a repeated hour, fold=0 is its first occurrence)
    # A gap: fold=1 reads it with the offset after the jump, fold=0 with the one before; the
    # jump is between those two instants. Find it to the second (offsets are whole minutes).
    low = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high = at
    if low > high:
        low, high = high, low
    before = low.astimezone(zone).utcoffset()
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if middle.astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return high


def local(at: datetime, zone: ZoneInfo) -> datetime:
    """The naive local wall time of the instant ``at`` in ``zone``."""
    return at.astimezone(zone).replace(tzinfo=None)


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole months, the day of the month kept or clamped (Jan 31 -> Feb 28)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    following = date(year + (month == 12), month % 12 + 1, 1)
    last = (following - timedelta(days=1)).day
    return date(year, month, min(day.day, last))


def at_wall(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of ``clock`` on local ``day`` in ``zone``."""
    return instant(datetime.combine(day, clock), zone)
