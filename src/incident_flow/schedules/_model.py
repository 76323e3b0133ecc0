"""Schedules, layers, windows and overrides, and who is on call at an instant (pure).

One rule combines layers, the one PagerDuty, Opsgenie, Grafana OnCall and GoAlert all reduce
to: at an instant, the layers with somebody on call are considered; those of the highest
priority among them are on call together, and hide the lower ones. A layer with nobody on call
(an empty slot, outside its windows, before its start) hides nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

import attrs

from ._clock import add_months, at_wall, local, zone_named

__all__ = ["DAY_NAMES", "PERIOD_UNITS", "Layer", "Override", "Period", "Schedule", "Window"]

PERIOD_UNITS = ("hour", "day", "week", "month")
#: Weekdays as the policy writes them in a window's ``days`` (0 = Monday).
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NOMINAL = {
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(weeks=1),
    "month": timedelta(days=30.436875),
}


def _days(value: Iterable[int]) -> frozenset[int]:
    days = frozenset(value)
    if not days or not days <= frozenset(range(7)):
        msg = f"a window's days are 0 (Monday) to 6 (Sunday), at least one, got {sorted(days)!r}"
        raise ValueError(msg)
    return days


@attrs.frozen
class Period:
    """A rotation's turn: ``count`` hours, days, weeks or months.

    Hours are elapsed time (a 2-hour turn is 2 hours, DST or not); days, weeks and months are
    wall time (a daily turn hands off at the same local time, so it lasts 23 or 25 hours on
    the DST days).
    """

    unit: str = attrs.field(validator=attrs.validators.in_(PERIOD_UNITS))
    count: int = 1

    def __attrs_post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
            msg = f"a period counts whole units >= 1, got {self.count!r}"
            raise ValueError(msg)

    @property
    def nominal(self) -> timedelta:
        """About how long a turn is (exact for hours)."""
        return _NOMINAL[self.unit] * self.count

    def __str__(self) -> str:
        return f"{self.count} {self.unit}{'s' if self.count > 1 else ''}"


@attrs.frozen
class Window:
    """Local weekdays (0 = Monday) and a time range when a layer is on call.

    ``end`` at or before ``start`` crosses midnight: 22:00-06:00 is the night starting on each
    of ``days``; 00:00-00:00 is the whole of each of ``days``.

    Each night or day it is one stretch of time, from the instant of ``start`` to the instant
    of ``end``, both found as handoffs are: a time in the repeated hour of autumn is its first
    occurrence, one in the skipped hour of spring the instant the clocks jump. So a window
    ending at 01:30 on the night the clocks go back ends at the first 01:30, and the second
    pass through 01:00-01:30 is outside it; one open at the end of the first pass (to 06:00,
    or from 01:30) covers the second pass too.
    """

    days: frozenset[int] = attrs.field(converter=_days)
    start: time = time(0)
    end: time = time(0)

    def covers(self, wall: datetime) -> bool:
        """Whether the local wall time falls in the window (not for a repeated hour's second pass).

        For any other instant, reading its wall time is the same as comparing it with the
        window's instants; for the second pass, see :meth:`covers_instant`.
        """
        clock = wall.time()
        if self.start < self.end:
            return wall.weekday() in self.days and self.start <= clock < self.end
        # Whole days (00:00-00:00) or across midnight: from start on a day to end the next.
        if wall.weekday() in self.days and clock >= self.start:
            return True
        return (wall.weekday() - 1) % 7 in self.days and clock < self.end

    def stretch(self, day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """The instants (UTC) the window opening on local ``day`` opens and closes at.

        Empty (both the same instant) when it lies wholly in a skipped hour.
        """
        closes = day + timedelta(days=1) if self.end <= self.start else day
        return at_wall(day, self.start, zone), at_wall(closes, self.end, zone)

    def covers_instant(self, at: datetime, zone: ZoneInfo) -> bool:
        """Whether the instant ``at`` is in one of the window's stretches (see the class)."""
        today = local(at, zone).date()
        for back in (2, 1, 0):  # a stretch opens on the local day of ``at`` or before
            day = today - timedelta(days=back)
            if day.weekday() in self.days:
                opens, closes = self.stretch(day, zone)
                if opens <= at < closes:
                    return True
        return False

    @property
    def edges(self) -> tuple[time, time]:
        """The local times of any day where the window may open or close."""
        return self.start, self.end


def _windows(value: Iterable[Window]) -> tuple[Window, ...]:
    return tuple(value)


def _slots(value: Iterable[Iterable[str] | str]) -> tuple[tuple[str, ...], ...]:
    out = []
    for slot in value:
        people = (slot,) if isinstance(slot, str) else tuple(slot)
        out.append(tuple(p for p in people if p))
    return tuple(out)


@attrs.frozen(kw_only=True)
class Layer:
    """One rotation: its slots in turn, one turn per ``period``, from ``start``.

    Attributes:
        name: the layer's name (overrides and reports use it).
        members: the slots, in turn; a slot is one person, several on call together (a
            group), or nobody (an empty slot: a gap).
        period: how long a turn is.
        handoff: the local wall time turns change at (hours: the first turn's start time).
        start: the local date of the first turn (nobody is on call before).
        start_index: the slot of the first turn.
        priority: higher hides lower; equal ones are on call together.
        windows: when the layer is on call (none: always).
        skip_outside_windows: a turn wholly outside the windows is skipped (the next slot takes
            the next turn that has some window time), instead of passing unseen.
        active_from: the instant (UTC) the layer starts to apply, when that is after its first
            turn (the turns still count from ``start``: a rotation imported mid-way); None:
            from its first turn.
        active_until: the instant (UTC) the layer stops applying (nobody on call after); None:
            it goes on.
        timezone: the layer's own time zone for its handoffs and windows (a follow-the-sun
            layer); None: the schedule's.
    """

    name: str
    members: tuple[tuple[str, ...], ...] = attrs.field(converter=_slots)
    period: Period = Period("week")
    handoff: time = time(9)
    start: date
    start_index: int = 0
    priority: int = 0
    windows: tuple[Window, ...] = attrs.field(default=(), converter=_windows)
    skip_outside_windows: bool = False
    active_from: datetime | None = None
    active_until: datetime | None = None
    timezone: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.timezone is not None:
            zone_named(self.timezone)  # refuses an unknown zone now, not at the first question
        if not self.members:
            msg = f"layer {self.name!r} needs at least one slot"
            raise ValueError(msg)
        if self.active_from and self.active_until and self.active_until <= self.active_from:
            msg = f"layer {self.name!r} must stop applying after it starts"
            raise ValueError(msg)

    def active(self, at: datetime) -> bool:
        """Whether ``at`` is within ``active_from`` .. ``active_until``."""
        if self.active_from is not None and at < self.active_from:
            return False
        return self.active_until is None or at < self.active_until

    def handoff_at(self, turn: int, zone: ZoneInfo) -> datetime:
        """When turn ``turn`` (0: the first) starts, in UTC."""
        period = self.period
        if period.unit == "hour":
            first = at_wall(self.start, self.handoff, zone)
            return first + timedelta(hours=period.count * turn)
        if period.unit == "month":
            day = add_months(self.start, period.count * turn)
        else:
            days = period.count * (7 if period.unit == "week" else 1)
            day = self.start + timedelta(days=days * turn)
        return at_wall(day, self.handoff, zone)

    def turn_at(self, at: datetime, zone: ZoneInfo) -> int | None:
        """The turn ``at`` falls in, or None before the first."""
        first = self.handoff_at(0, zone)
        if at < first:
            return None
        turn = int((at - first) / self.period.nominal)
        while turn > 0 and self.handoff_at(turn, zone) > at:
            turn -= 1
        while self.handoff_at(turn + 1, zone) <= at:
            turn += 1
        return turn

    def in_windows(self, at: datetime, zone: ZoneInfo) -> bool:
        """Whether the layer is on call at ``at`` as far as its windows go (see :class:`Window`)."""
        if not self.windows:
            return True
        seen = at.astimezone(zone)
        if seen.fold:
            # The second pass through a repeated hour: its wall time says nothing of where
            # the window's edges (at their first occurrence) fell; compare instants.
            return any(w.covers_instant(at, zone) for w in self.windows)
        wall = seen.replace(tzinfo=None)
        return any(w.covers(wall) for w in self.windows)

    def turn_has_window(self, turn: int, zone: ZoneInfo) -> bool:
        """Whether some instant of ``turn`` is inside the windows."""
        start, end = self.handoff_at(turn, zone), self.handoff_at(turn + 1, zone)
        if self.in_windows(start, zone):
            return True
        return any(
            start < edge < end and self.in_windows(edge, zone)
            for edge in self.window_edges(start, end, zone)
        )

    def window_edges(self, start: datetime, end: datetime, zone: ZoneInfo) -> list[datetime]:
        """The instants in [start, end) where a window opens or closes."""
        if not self.windows:
            return []
        found = []
        day = local(start, zone).date() - timedelta(days=1)
        last = local(end, zone).date()
        while day <= last:
            for window in self.windows:
                for clock in window.edges:
                    edge = at_wall(day, clock, zone)
                    if start <= edge < end:
                        found.append(edge)
            day += timedelta(days=1)
        return sorted(set(found))

    def slot_of(self, turn: int, zone: ZoneInfo) -> tuple[str, ...]:
        """Who a turn belongs to (its slot; with skipping, counted over the turns it keeps)."""
        index = turn
        if self.skip_outside_windows and self.windows:
            if not self.turn_has_window(turn, zone):
                return ()
            index = _kept_before(self, zone, turn)
        return self.members[(self.start_index + index) % len(self.members)]

    def on_call(self, at: datetime, zone: ZoneInfo) -> tuple[str, ...]:
        """Who this layer has on call at ``at`` (nobody: an empty tuple)."""
        turn = self.turn_at(at, zone)
        if turn is None or not self.active(at) or not self.in_windows(at, zone):
            return ()
        return self.slot_of(turn, zone)


def _people(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _maybe_people(value: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


@attrs.frozen(kw_only=True)
class Override:
    """A change of who is on call from ``start`` to ``end`` (UTC), for the schedule or a layer.

    ``replace`` (when given) is who is on call instead; then ``remove`` drops people and
    ``add`` adds people. For one layer, it changes that layer's slot (so its priority still
    applies); for the schedule, the final answer.
    """

    start: datetime
    end: datetime
    layer: str | None = None
    add: tuple[str, ...] = attrs.field(default=(), converter=_people)
    remove: tuple[str, ...] = attrs.field(default=(), converter=_people)
    replace: tuple[str, ...] | None = attrs.field(default=None, converter=_maybe_people)
    by: str | None = None
    why: str | None = None
    #: For one made at run time (kept by the store): its id and its schedule's name.
    id: str | None = None
    schedule: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.end <= self.start:
            msg = f"an override must end after it starts ({self.start} .. {self.end})"
            raise ValueError(msg)

    def covers(self, at: datetime) -> bool:
        """Whether it applies at ``at``."""
        return self.start <= at < self.end

    def apply(self, people: Sequence[str]) -> tuple[str, ...]:
        """``people`` as the override changes them."""
        out = list(self.replace) if self.replace is not None else list(people)
        out = [p for p in out if p not in self.remove]
        # Nobody twice: a name added twice (or already on call) is on call once.
        return tuple(dict.fromkeys([*out, *self.add]))


def _layers(value: Iterable[Layer]) -> tuple[Layer, ...]:
    layers = tuple(value)
    if not layers:
        msg = "a schedule needs at least one layer"
        raise ValueError(msg)
    return layers


def _overrides(value: Iterable[Override]) -> tuple[Override, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class Schedule:
    """Who is on call for one team: layers in a time zone, with overrides.

    ``effective_from`` is when this version of the schedule starts to apply (an edit is a new
    version; answers before it come from the previous version).
    """

    name: str
    timezone: str = "UTC"
    layers: tuple[Layer, ...] = attrs.field(converter=_layers)
    overrides: tuple[Override, ...] = attrs.field(default=(), converter=_overrides)
    effective_from: datetime | None = None

    @cached_property
    def zone(self) -> ZoneInfo:
        """The schedule's time zone."""
        return ZoneInfo(self.timezone)

    def zone_of(self, layer: Layer) -> ZoneInfo:
        """The time zone ``layer``'s handoffs and windows are in (its own, or the schedule's)."""
        return self.zone if layer.timezone is None else ZoneInfo(layer.timezone)

    def layer_on_call(self, layer: Layer, at: datetime) -> tuple[str, ...]:
        """Who ``layer`` has on call at ``at``, its overrides applied."""
        people = layer.on_call(at, self.zone_of(layer))
        for override in self.overrides:
            if override.layer == layer.name and override.covers(at):
                people = override.apply(people)
        return people

    def on_call(self, at: datetime) -> tuple[str, ...]:
        """Who is on call at ``at``: the highest-priority layers with somebody, then overrides."""
        at = at.astimezone(UTC)
        best: int | None = None
        people: list[str] = []
        for layer in self.layers:
            found = self.layer_on_call(layer, at)
            if not found:
                continue
            if best is None or layer.priority > best:
                best, people = layer.priority, list(found)
            elif layer.priority == best:
                people += [p for p in found if p not in people]
        answer = tuple(people)
        for override in self.overrides:
            if override.layer is None and override.covers(at):
                answer = override.apply(answer)
        return answer

    def changes(self, start: datetime, end: datetime) -> list[datetime]:
        """Every instant in (start, end) where the answer may change, in order."""
        points: set[datetime] = set()
        for layer in self.layers:
            zone = self.zone_of(layer)
            turn = layer.turn_at(start, zone)
            turn = -1 if turn is None else turn
            while True:
                edge = layer.handoff_at(turn + 1, zone)
                if edge >= end:
                    break
                points.add(edge)
                turn += 1
            points.update(layer.window_edges(start, end, zone))
            points.update(p for p in (layer.active_from, layer.active_until) if p is not None)
        for override in self.overrides:
            points.update((override.start, override.end))
        return sorted(p for p in points if start < p < end)


_KEPT: dict[tuple[Layer, str], list[int]] = {}


def _kept_before(layer: Layer, zone: ZoneInfo, turn: int) -> int:
    """How many turns before ``turn`` have window time (remembered: counted once per layer)."""
    counts = _KEPT.setdefault((layer, zone.key), [0])
    while len(counts) <= turn:
        counted = len(counts) - 1
        counts.append(counts[-1] + layer.turn_has_window(counted, zone))
    return counts[turn]
