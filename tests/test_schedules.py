"""Schedules: who is on call at an instant, and the shifts of a period, DST included."""

from __future__ import annotations

import functools
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from incident_flow.schedules import (
    Layer,
    Override,
    Period,
    Schedule,
    Schedules,
    Window,
    instant,
)

H = timedelta(hours=1)


def book(*layers: Layer, zone: str = "UTC", overrides: tuple[Override, ...] = ()) -> Schedules:
    return Schedules([Schedule(name="s", timezone=zone, layers=layers, overrides=overrides)])


def wall(*args: int) -> datetime:
    """A naive local wall time (what a schedule's handoffs are written in)."""
    return datetime(*args)  # type: ignore[misc]  # noqa: DTZ001


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# ----------------------------------------------------------------------------- fixed DST cases

# (zone, the spring-forward local date, the fall-back local date) in 2026.
DST_2026 = [
    ("America/Chicago", date(2026, 3, 8), date(2026, 11, 1)),
    ("Europe/London", date(2026, 3, 29), date(2026, 10, 25)),
    ("Europe/Berlin", date(2026, 3, 29), date(2026, 10, 25)),
]


@pytest.mark.parametrize(("zone", "spring", "autumn"), DST_2026)
def test_daily_shifts_of_23_and_25_hours(zone: str, spring: date, autumn: date) -> None:
    layer = Layer(
        name="daily",
        members=["a", "b", "c"],
        period=Period("day"),
        handoff=time(9),
        start=date(2026, 1, 1),
    )
    schedules = book(layer, zone=zone)
    tz = ZoneInfo(zone)
    for day, hours in ((spring, 23), (autumn, 25)):
        before = instant(datetime.combine(day - timedelta(days=1), time(9)), tz)
        (shift,) = [s for s in schedules.shifts("s", before, before + 26 * H) if s.start == before]
        assert shift.length == hours * H, (zone, day)
        assert shift.end.astimezone(tz).time() == time(9)  # the handoff stays at 09:00 local


@pytest.mark.parametrize(("zone", "spring", "autumn"), DST_2026)
def test_weekly_shifts_of_167_and_169_hours(zone: str, spring: date, autumn: date) -> None:
    layer = Layer(
        name="weekly",
        members=["a", "b"],
        period=Period("week"),
        handoff=time(9),
        start=date(2026, 1, 5),
    )
    schedules = book(layer, zone=zone)
    tz = ZoneInfo(zone)
    first, last = instant(wall(2026, 1, 5, 9), tz), instant(wall(2027, 1, 4, 9), tz)
    lengths = Counter(s.length for s in schedules.shifts("s", first, last))
    assert lengths == {168 * H: 50, 167 * H: 1, 169 * H: 1}


def test_lord_howe_changes_by_half_an_hour() -> None:
    layer = Layer(
        name="daily",
        members=["a", "b"],
        period=Period("day"),
        handoff=time(9),
        start=date(2026, 1, 1),
    )
    schedules = book(layer, zone="Australia/Lord_Howe")
    lengths = Counter(s.length for s in schedules.shifts("s", utc(2026, 1, 2), utc(2026, 12, 30)))
    assert lengths[timedelta(hours=24, minutes=30)] == 1  # April: the clocks go back 30 minutes
    assert lengths[timedelta(hours=23, minutes=30)] == 1  # October: forward 30 minutes
    # A handoff in the half-hour gap (02:15 on 2026-10-04) moves to 02:30, the first valid instant.
    gap = instant(wall(2026, 10, 4, 2, 15), ZoneInfo("Australia/Lord_Howe"))
    assert gap.astimezone(ZoneInfo("Australia/Lord_Howe")).time() == time(2, 30)


def test_a_two_hour_rotation_on_a_dst_day_keeps_two_hour_turns() -> None:
    layer = Layer(
        name="hourly",
        members=["a", "b", "c"],
        period=Period("hour", 2),
        handoff=time(0),
        start=date(2026, 3, 8),
    )
    schedules = book(layer, zone="America/Chicago")
    start = instant(wall(2026, 3, 8, 0, 0), ZoneInfo("America/Chicago"))
    shifts = schedules.shifts("s", start, start + 24 * H)
    assert [s.length for s in shifts] == [2 * H] * 12
    assert [s.people for s in shifts[:4]] == [("a",), ("b",), ("c",), ("a",)]
    # Local start times jump by an hour after 02:00 (which does not exist that day).
    chicago = ZoneInfo("America/Chicago")
    assert [s.start.astimezone(chicago).hour for s in shifts[:3]] == [0, 3, 5]


def test_a_handoff_in_the_repeated_hour_takes_its_first_occurrence() -> None:
    chicago = ZoneInfo("America/Chicago")
    first = instant(wall(2026, 11, 1, 1, 30), chicago)
    assert first == utc(2026, 11, 1, 6, 30)  # 01:30 CDT, not 01:30 CST an hour later
    assert instant(wall(2026, 3, 8, 2, 30), chicago) == utc(2026, 3, 8, 8)  # 03:00 CDT


# ----------------------------------------------------------------------------- the model


def test_layers_windows_overrides_and_versions() -> None:
    weekdays = Window(days=range(5), start=time(9), end=time(17))
    day = Layer(
        name="day", members=["alice", "bob"], period=Period("week"), start=date(2026, 1, 5),
        priority=1, windows=[weekdays],
    )  # fmt: skip
    night = Layer(name="night", members=["nora", ""], period=Period("week"), start=date(2026, 1, 5))
    schedules = book(day, night, zone="Europe/Berlin")
    assert schedules.on_call("s", utc(2026, 1, 5, 10)) == ("alice",)  # Monday 11:00 Berlin
    assert schedules.on_call("s", utc(2026, 1, 5, 20)) == ("nora",)  # the evening: night layer
    assert schedules.on_call("s", utc(2026, 1, 12, 20)) == ()  # nora's empty slot: a gap
    assert schedules.on_call("s", utc(2026, 1, 4)) == ()  # before the start
    cover = Override(start=utc(2026, 1, 5, 12), end=utc(2026, 1, 5, 14), replace=["carol"])
    extra = Override(start=utc(2026, 1, 5, 12), end=utc(2026, 1, 5, 13), layer="night", add=["ian"])
    covered = book(day, night, zone="Europe/Berlin", overrides=(cover, extra))
    assert covered.on_call("s", utc(2026, 1, 5, 12, 30)) == ("carol",)
    assert covered.on_call("s", utc(2026, 1, 5, 14)) == ("alice",)
    drop = Override(
        start=utc(2026, 1, 5, 12), end=utc(2026, 1, 5, 13), layer="day", remove=["alice"]
    )
    # alice removed from the day layer: it has nobody, so the night layer shows through.
    assert book(day, night, zone="Europe/Berlin", overrides=(drop,)).on_call(
        "s", utc(2026, 1, 5, 12, 30)
    ) == ("nora",)
    edited = Schedules(
        [
            Schedule(name="s", timezone="Europe/Berlin", layers=[day, night]),
            Schedule(
                name="s", timezone="Europe/Berlin", layers=[night], effective_from=utc(2026, 2, 1)
            ),
        ]
    )
    assert edited.on_call("s", utc(2026, 1, 5, 10)) == ("alice",)  # before the edit: as it was
    assert edited.on_call("s", utc(2026, 2, 2, 10)) == ("nora",)
    with pytest.raises(KeyError, match="no schedule 'x'"):
        edited.on_call("x", utc(2026, 1, 1))
    hours = schedules.hours("s", utc(2026, 1, 5), utc(2026, 1, 12))
    assert hours["alice"] == 40 * H and hours["nora"] + hours["alice"] < 7 * 24 * H


def test_skipping_turns_outside_windows_keeps_the_rotation_fair() -> None:
    weekdays = Window(days=range(5), start=time(0), end=time(0))
    hide = Layer(
        name="d",
        members=["a", "b", "c"],
        period=Period("day"),
        handoff=time(0),
        start=date(2026, 1, 5),
        windows=[weekdays],
    )
    skip = attrs_evolve(hide, skip_outside_windows=True)
    period = (utc(2026, 1, 5, 9), utc(2026, 3, 2, 9))  # 8 weeks
    for layer, spread in ((hide, None), (skip, 1)):
        turns = Counter(s.people for s in book(layer).shifts("s", *period) if s.people)
        if spread is not None:
            assert max(turns.values()) - min(turns.values()) <= spread
    # Hiding: Saturday's and Sunday's turns pass unseen; skipping: Monday follows Friday.
    friday, monday = utc(2026, 1, 9, 12), utc(2026, 1, 12, 12)
    assert book(hide).on_call("s", friday) == ("b",) and book(hide).on_call("s", monday) == ("b",)
    assert book(skip).on_call("s", friday) == ("b",) and book(skip).on_call("s", monday) == ("c",)
    assert book(hide).on_call("s", utc(2026, 1, 10, 12)) == ()  # Saturday: hidden


def attrs_evolve(layer: Layer, **changes: object) -> Layer:
    import attrs

    return attrs.evolve(layer, **changes)  # type: ignore[arg-type]


def test_a_layer_applies_between_active_from_and_active_until() -> None:
    """An imported rotation keeps counting turns from its anchor but applies only in its span."""
    layer = Layer(
        name="imported",
        members=["a", "b"],
        period=Period("day"),
        start=date(2026, 1, 1),
        active_from=utc(2026, 1, 3, 12),
        active_until=utc(2026, 1, 5, 9),
    )
    shifts = book(layer).shifts("s", utc(2026, 1, 1), utc(2026, 1, 6))
    assert [(s.start, s.end, s.people) for s in shifts] == [
        (utc(2026, 1, 1), utc(2026, 1, 3, 12), ()),
        (utc(2026, 1, 3, 12), utc(2026, 1, 4, 9), ("a",)),  # turn 2 (from Jan 3rd 09:00) is a's
        (utc(2026, 1, 4, 9), utc(2026, 1, 5, 9), ("b",)),
        (utc(2026, 1, 5, 9), utc(2026, 1, 6), ()),
    ]
    with pytest.raises(ValueError, match="stop applying after it starts"):
        attrs.evolve(layer, active_until=utc(2026, 1, 3))


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValueError, match="whole units"):
        Period("day", 0)
    with pytest.raises(ValueError, match="must be in"):
        Period("fortnight")
    with pytest.raises(ValueError, match="at least one slot"):
        Layer(name="x", members=[], start=date(2026, 1, 1))
    with pytest.raises(ValueError, match="end after it starts"):
        Override(start=utc(2026, 1, 2), end=utc(2026, 1, 1))
    assert (
        book(Layer(name="x", members=["a"], start=date(2026, 1, 1))).shifts(
            "s", utc(2026, 1, 2), utc(2026, 1, 1)
        )
        == []
    )


# ----------------------------------------------------------------------------- properties

ZONES = [
    "UTC",
    "America/Chicago",
    "Europe/London",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "America/Sao_Paulo",
]
# Handoffs in and around the usual gaps and folds (01:00-03:00), and ordinary ones.
CLOCKS = st.sampled_from(
    [time(0), time(1, 30), time(2), time(2, 15), time(2, 30), time(9), time(23)]
)
DST_DAYS = st.sampled_from(
    [date(2026, 3, 6), date(2026, 3, 27), date(2026, 10, 2), date(2026, 10, 23), date(2026, 10, 30)]
)


@st.composite
def layers(draw: st.DrawFn, name: str = "l", windows: bool = True) -> Layer:
    unit = draw(st.sampled_from(["hour", "day", "week", "month"]))
    count = draw(st.integers(1, 3))
    members = draw(
        st.lists(st.sampled_from(["a", "b", "c", "d", "", "e f"]), min_size=1, max_size=4)
    )
    chosen = []
    if windows and draw(st.booleans()):
        chosen = [
            Window(
                days=draw(st.frozensets(st.integers(0, 6), min_size=1)),
                start=draw(CLOCKS),
                end=draw(CLOCKS),
            )
        ]
    return Layer(
        name=name,
        members=[m.split() if " " in m else m for m in members],
        period=Period(unit, count),
        handoff=draw(CLOCKS),
        start=draw(DST_DAYS),
        start_index=draw(st.integers(0, 5)),
        priority=draw(st.integers(0, 2)),
        windows=chosen,
        skip_outside_windows=draw(st.booleans()),
    )


def _span(layer: Layer) -> tuple[datetime, datetime]:
    start = datetime.combine(layer.start, time(0), UTC) - timedelta(days=1)
    return start, start + layer.period.nominal * 6 + timedelta(days=3)


@settings(max_examples=200, deadline=None)
@given(layer=layers(), zone=st.sampled_from(ZONES), data=st.data())
def test_each_layer_has_one_slot_at_every_instant_and_handoffs_increase(
    layer: Layer, zone: str, data: st.DataObject
) -> None:
    tz = ZoneInfo(zone)
    handoffs = [layer.handoff_at(k, tz) for k in range(8)]
    assert handoffs == sorted(set(handoffs))  # strictly increasing
    start, end = _span(layer)
    at = data.draw(
        st.datetimes(min_value=start.replace(tzinfo=None), max_value=end.replace(tzinfo=None))
    )
    at = at.replace(tzinfo=UTC)
    turn = layer.turn_at(at, tz)
    if turn is None:
        assert at < handoffs[0]
    else:
        assert layer.handoff_at(turn, tz) <= at < layer.handoff_at(turn + 1, tz)


@settings(max_examples=150, deadline=None)
@given(
    first=layers("one"),
    second=layers("two"),
    zone=st.sampled_from(ZONES),
    data=st.data(),
)
def test_shifts_are_contiguous_and_agree_with_who_is_on_call(
    first: Layer, second: Layer, zone: str, data: st.DataObject
) -> None:
    schedules = book(first, second, zone=zone)
    start, end = _span(first)
    shifts = schedules.shifts("s", start, end)
    assert shifts[0].start == start and shifts[-1].end == end
    for before, after in pairwise(shifts):
        assert before.end == after.start and before.people != after.people
    shift = data.draw(st.sampled_from(shifts))
    offset = data.draw(st.floats(0, 0.999))
    at = shift.start + (shift.end - shift.start) * offset
    assert schedules.on_call("s", at) == shift.people


@settings(max_examples=150, deadline=None)
@given(high=layers("high"), low=layers("low"), zone=st.sampled_from(ZONES), data=st.data())
def test_priority_hides_and_equal_priorities_share(
    high: Layer, low: Layer, zone: str, data: st.DataObject
) -> None:
    start, end = _span(high)
    at = data.draw(
        st.datetimes(min_value=start.replace(tzinfo=None), max_value=end.replace(tzinfo=None))
    )
    at = at.replace(tzinfo=UTC)
    tz = ZoneInfo(zone)
    top, bottom = high.on_call(at, tz), low.on_call(at, tz)
    answer = book(high, low, zone=zone).on_call("s", at)
    if high.priority > low.priority:
        assert answer == (top or bottom)
    elif high.priority < low.priority:
        assert answer == (bottom or top)
    else:
        assert set(answer) == set(top) | set(bottom)


@settings(max_examples=150, deadline=None)
@given(
    layer=layers(),
    zone=st.sampled_from(ZONES),
    hours=st.integers(1, 72),
    after=st.integers(0, 200),
    who=st.lists(st.sampled_from(["x", "y", "a"]), max_size=2),
    kind=st.sampled_from(["replace", "add", "remove"]),
    on_layer=st.booleans(),
    data=st.data(),
)
def test_an_override_wins_inside_its_window_and_changes_nothing_outside(
    layer: Layer,
    zone: str,
    hours: int,
    after: int,
    who: list[str],
    kind: str,
    on_layer: bool,
    data: st.DataObject,
) -> None:
    start, end = _span(layer)
    override = Override(
        start=start + after * H,
        end=start + (after + hours) * H,
        layer=layer.name if on_layer else None,
        **{kind: who},  # type: ignore[arg-type]
    )
    plain, changed = book(layer, zone=zone), book(layer, zone=zone, overrides=(override,))
    at = data.draw(
        st.datetimes(min_value=start.replace(tzinfo=None), max_value=end.replace(tzinfo=None))
    )
    at = at.replace(tzinfo=UTC)
    if override.covers(at):
        assert changed.on_call("s", at) == override.apply(plain.on_call("s", at))
    else:
        assert changed.on_call("s", at) == plain.on_call("s", at)


@settings(max_examples=100, deadline=None)
@given(
    members=st.lists(
        st.sampled_from(["a", "b", "c", "d", "e"]), min_size=1, max_size=5, unique=True
    ),
    unit=st.sampled_from(["hour", "day", "week", "month"]),
    count=st.integers(1, 3),
    zone=st.sampled_from(ZONES),
    turns=st.integers(1, 40),
)
def test_every_member_gets_the_same_number_of_shifts_within_one(
    members: list[str], unit: str, count: int, zone: str, turns: int
) -> None:
    layer = Layer(
        name="l",
        members=members,
        period=Period(unit, count),
        handoff=time(2, 30),
        start=date(2026, 3, 1),
    )
    tz = ZoneInfo(zone)
    counted = Counter(layer.slot_of(k, tz) for k in range(turns))
    got = [counted.get((m,), 0) for m in members]
    assert max(got) - min(got) <= 1


@settings(max_examples=100, deadline=None)
@given(
    old=layers("l"),
    new=layers("l"),
    zone=st.sampled_from(ZONES),
    edit_after=st.integers(0, 400),
    data=st.data(),
)
def test_an_edit_never_changes_an_answer_before_it_starts(
    old: Layer, new: Layer, zone: str, edit_after: int, data: st.DataObject
) -> None:
    start, end = _span(old)
    edit = start + edit_after * H
    before = Schedules([Schedule(name="s", timezone=zone, layers=[old])])
    edited = Schedules(
        [
            Schedule(name="s", timezone=zone, layers=[old]),
            Schedule(name="s", timezone=zone, layers=[new], effective_from=edit),
        ]
    )
    at = data.draw(
        st.datetimes(min_value=start.replace(tzinfo=None), max_value=end.replace(tzinfo=None))
    )
    at = at.replace(tzinfo=UTC)
    if at < edit:
        assert edited.on_call("s", at) == before.on_call("s", at)
    assume(True)


# ----------------------------------------------------------------------------- windows and DST
#
# A window is one stretch of time per day: from the instant of its start to the instant of its
# end, each found as a handoff is (the first occurrence in a repeated hour, the instant the
# clocks jump in a skipped one). Issue 28 (2): on_call() read the wall clock in the repeated
# hour's second pass while shifts() only looked for edges at the first, so they disagreed.


def test_a_window_ending_in_the_repeated_hour_ends_at_its_first_occurrence() -> None:
    """fay's Saturday window to 01:30 ends at 01:30 BST; at 01:15 GMT, the second pass, no one."""
    nights = Layer(
        name="nights",
        members=["fay"],
        start=date(2027, 1, 4),
        windows=[Window(days={5}, start=time(8), end=time(1, 30))],
    )
    schedules = book(nights, zone="Europe/London")
    assert schedules.on_call("s", utc(2027, 10, 31, 0, 15)) == ("fay",)  # 01:15 BST
    assert schedules.on_call("s", utc(2027, 10, 31, 1, 15)) == ()  # 01:15 GMT, an hour later
    shifts = schedules.shifts("s", utc(2027, 10, 30), utc(2027, 10, 31, 4))
    assert [(s.start, s.end, s.people) for s in shifts] == [
        (utc(2027, 10, 30), utc(2027, 10, 30, 7), ()),
        (utc(2027, 10, 30, 7), utc(2027, 10, 31, 0, 30), ("fay",)),  # 08:00 to 01:30 BST
        (utc(2027, 10, 31, 0, 30), utc(2027, 10, 31, 4), ()),
    ]


def test_three_layers_through_the_repeated_hour_agree_minute_by_minute() -> None:
    """A window opening in the repeated hour covers its second pass: one stretch, no flicker."""
    nights = Layer(
        name="nights",
        members=["fay"],
        start=date(2027, 1, 4),
        priority=2,
        windows=[Window(days={5}, start=time(8), end=time(1, 30))],
    )
    early = Layer(
        name="early",
        members=["gus"],
        start=date(2027, 1, 4),
        priority=1,
        windows=[Window(days={6}, start=time(1, 30), end=time(6))],
    )
    base = Layer(name="base", members=["hal"], start=date(2027, 1, 4))
    schedules = book(nights, early, base, zone="Europe/London")
    start, end = utc(2027, 10, 30, 23), utc(2027, 10, 31, 7)
    shifts = schedules.shifts("s", start, end)
    assert [(s.start, s.end, s.people) for s in shifts] == [
        (start, utc(2027, 10, 31, 0, 30), ("fay",)),
        (utc(2027, 10, 31, 0, 30), utc(2027, 10, 31, 6), ("gus",)),  # 01:30 BST to 06:00 GMT
        (utc(2027, 10, 31, 6), end, ("hal",)),
    ]
    at = start
    while at < end:
        (shift,) = [s for s in shifts if s.start <= at < s.end]
        assert schedules.on_call("s", at) == shift.people, at
        at += timedelta(minutes=1)


def test_a_window_in_the_skipped_hour_has_only_the_time_that_exists() -> None:
    """London skips 01:00-02:00 on 2027-03-28: 00:30-01:30 lasts 30 minutes, 01:10-01:50 none."""
    half = Layer(
        name="half", members=["fay"], start=date(2027, 1, 4),
        windows=[Window(days={6}, start=time(0, 30), end=time(1, 30))],
    )  # fmt: skip
    none = attrs_evolve(half, windows=[Window(days={6}, start=time(1, 10), end=time(1, 50))])
    day = (utc(2027, 3, 27, 12), utc(2027, 3, 28, 12))
    (gap, shift, after) = book(half, zone="Europe/London").shifts("s", *day)
    assert (shift.start, shift.end, shift.people) == (
        utc(2027, 3, 28, 0, 30),
        utc(2027, 3, 28, 1),  # the clocks jump: 02:00 BST
        ("fay",),
    )
    assert gap.gap and after.gap
    assert [s.people for s in book(none, zone="Europe/London").shifts("s", *day)] == [()]


#: Zones with DST: a 30-minute change (Lord Howe), changes at midnight (Santiago, Havana),
#: at 02:45 (Chatham), and one that goes back in spring (Casablanca, for Ramadan).
DST_ZONES = [
    "Europe/London",
    "America/New_York",
    "Australia/Lord_Howe",
    "America/Santiago",
    "America/Havana",
    "Pacific/Chatham",
    "Africa/Casablanca",
]
MINUTE = timedelta(minutes=1)


@functools.cache
def offset_changes(zone: str) -> tuple[tuple[datetime, timedelta, timedelta], ...]:
    """Where ``zone``'s offset changes in 2026-2027: (the instant, to the minute; before; after)."""
    tz = ZoneInfo(zone)
    found = []
    day = utc(2026, 1, 1)
    while day.year < 2028:
        low, high = day, day + timedelta(days=1)
        before, after = low.astimezone(tz).utcoffset(), high.astimezone(tz).utcoffset()
        if before != after:
            assert before is not None and after is not None
            while high - low > MINUTE:
                middle = (low + (high - low) / 2).replace(second=0, microsecond=0)
                low, high = (
                    (middle, high) if middle.astimezone(tz).utcoffset() == before else (low, middle)
                )
            found.append((high, before, after))
        day += timedelta(days=1)
    return tuple(found)


@st.composite
def around_a_dst_change(
    draw: st.DrawFn, *, simple: bool
) -> tuple[str, datetime, datetime, list[Layer]]:
    """A zone, 48 hours around one of its offset changes, and 1-3 layers with windows.

    Clock times are drawn from those of the change (the repeated or skipped span, its edges,
    15 and 30 minutes either side) and from every quarter hour; windows cross midnight when
    they end at or before they start. ``simple``: day and week turns, no skipping (what the
    oracle below knows); else hour turns and skipping too.
    """
    zone = draw(st.sampled_from(DST_ZONES))
    change, before, after = draw(st.sampled_from(offset_changes(zone)))
    near = {
        (change + offset + timedelta(minutes=m)).time()
        for offset in (before, after)
        for m in (-30, -15, 0, 15, 30)
    }
    clocks = st.one_of(
        st.sampled_from(sorted(near)),
        st.integers(0, 95).map(lambda q: time(q // 4, q % 4 * 15)),
    )
    local_day = change.astimezone(ZoneInfo(zone)).date()
    units = ["day", "week"] if simple else ["hour", "day", "week"]
    made = []
    for index in range(draw(st.integers(1, 3))):
        windows = [
            Window(
                days=draw(st.frozensets(st.integers(0, 6), min_size=1)),
                start=draw(clocks),
                end=draw(clocks),
            )
            for _ in range(draw(st.integers(0 if index else 1, 2)))
        ]
        members = draw(
            st.lists(st.sampled_from(["fay", "gus", "hal", "", "ivy jo"]), min_size=1, max_size=3)
        )
        made.append(
            Layer(
                name=f"l{index}",
                members=[m.split() if " " in m else m for m in members],
                period=Period(draw(st.sampled_from(units)), draw(st.integers(1, 2))),
                handoff=draw(clocks),
                start=local_day - timedelta(days=draw(st.integers(-1, 9))),
                start_index=draw(st.integers(0, 3)),
                priority=draw(st.integers(0, 2)),
                windows=windows,
                skip_outside_windows=False if simple else draw(st.booleans()),
            )
        )
    return zone, change - 24 * H, change + 24 * H, made


@settings(max_examples=200, deadline=None)
@given(case=around_a_dst_change(simple=False))
def test_every_shift_agrees_with_who_is_on_call_around_dst_changes(
    case: tuple[str, datetime, datetime, list[Layer]],
) -> None:
    """Each shift's start, middle and last instant: on_call() names the shift's people."""
    zone, start, end, layers = case
    schedules = book(*layers, zone=zone)
    shifts = schedules.shifts("s", start, end)
    assert shifts[0].start == start and shifts[-1].end == end
    for before, after in pairwise(shifts):
        assert before.end == after.start and before.people != after.people
    for shift in shifts:
        for at in (shift.start, shift.start + shift.length / 2, shift.end - MINUTE / 60_000_000):
            assert schedules.on_call("s", at) == shift.people, (at, shift)


#: Layer time zones for the oracle: a zone of its own, with or without DST, or the schedule's.
LAYER_ZONES = [None, None, "Asia/Tokyo", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe"]


@st.composite
def versions_around_a_dst_change(
    draw: st.DrawFn,
) -> tuple[str, datetime, datetime, list[Schedule]]:
    """Like :func:`around_a_dst_change` (day and week turns), as one or two versions.

    Layers may have a time zone of their own; each version may have overrides (for the
    schedule or one layer); a second version takes effect at a minute of the 48 hours. Every
    edge falls on a whole minute, so an answer holds from one minute to the next.
    """
    zone, start, end, layers = draw(around_a_dst_change(simple=True))
    minutes = st.integers(0, 48 * 60 - 1).map(lambda m: start + m * MINUTE)
    names = st.lists(
        st.sampled_from(["fay", "gus", "kim", "lee"]), min_size=1, max_size=2, unique=True
    )

    def zoned(made: list[Layer]) -> list[Layer]:
        return [attrs.evolve(layer, timezone=draw(st.sampled_from(LAYER_ZONES))) for layer in made]

    def overrides(made: list[Layer]) -> list[Override]:
        out = []
        for _ in range(draw(st.integers(0, 2))):
            begin = draw(minutes)
            kind = draw(st.sampled_from(["replace", "add", "remove"]))
            out.append(
                Override(
                    start=begin,
                    end=begin + draw(st.integers(1, 12 * 60)) * MINUTE,
                    layer=draw(st.sampled_from([None, *(layer.name for layer in made)])),
                    **{kind: draw(names)},  # type: ignore[arg-type]
                )
            )
        return out

    layers = zoned(layers)
    versions = [Schedule(name="s", timezone=zone, layers=layers, overrides=overrides(layers))]
    if draw(st.booleans()):
        _, _, _, more = draw(around_a_dst_change(simple=True))
        more = zoned(more)
        versions.append(
            Schedule(
                name="s",
                timezone=zone,
                layers=more,
                overrides=overrides(more),
                effective_from=draw(minutes),
            )
        )
    return zone, start, end, versions


class WallClocks:
    """The wall clocks of some zones read minute by minute from an instant: what each shows.

    A repeated span's second pass (fold=1) shows wall times the clock has shown already: the
    rule (each edge at its first occurrence) keeps reading the latest wall time shown, the end
    of the first pass; in a skipped span the clock jumps past the missing times.
    """

    def __init__(self, zones: set[str], at: datetime) -> None:
        self.zones = {name: ZoneInfo(name) for name in zones}
        while any(at.astimezone(tz).fold for tz in self.zones.values()):
            at -= H  # start from a minute no clock is in a second pass
        self.at = at
        self.latest = {
            name: at.astimezone(tz).replace(tzinfo=None) for name, tz in self.zones.items()
        }
        self.second_pass = False

    def tick(self) -> None:
        """One minute on."""
        self.at += MINUTE
        self.second_pass = False
        for name, tz in self.zones.items():
            seen = self.at.astimezone(tz)
            wall = seen.replace(tzinfo=None)
            assert (wall <= self.latest[name]) == bool(seen.fold), (self.at, name)
            self.latest[name] = max(wall, self.latest[name])
            self.second_pass = self.second_pass or bool(seen.fold)


def reading_the_wall_clock(
    versions: list[Schedule], start: datetime, end: datetime
) -> list[tuple[tuple[str, ...], bool]]:
    """Who is on call at each minute of [start, end), by the rule in docs/oncall.md, simply.

    Walks UTC minute by minute and reads each layer's wall clock (its own zone, else the
    schedule's; see :class:`WallClocks`). That reading is compared with the handoffs and
    windows as written: turns of whole days count in wall time from the turn of ``start_index``,
    a window is open from its start to its end on each of its days (to the next day's end when
    it ends at or before it starts). The version is the last whose ``effective_from`` has come;
    overrides apply from their start up to their end, a layer's before the layers combine.
    Each answer comes with whether the minute is a second pass.
    """
    zones = {v.timezone for v in versions} | {
        layer.timezone for v in versions for layer in v.layers if layer.timezone
    }
    clocks = WallClocks(zones, start - 3 * H)
    while clocks.at < start:
        clocks.tick()
    answers = []
    while clocks.at < end:
        at = clocks.at
        started = [v for v in versions if v.effective_from is None or v.effective_from <= at]
        version = max(started, key=lambda v: v.effective_from or start - 1000 * H)
        readings = []
        for layer in version.layers:
            people = _layer_reading(layer, clocks.latest[layer.timezone or version.timezone])
            for override in version.overrides:
                if override.layer == layer.name and override.start <= at < override.end:
                    people = _overridden(override, people)
            readings.append((people, layer.priority))
        people = _combined(readings)
        for override in version.overrides:
            if override.layer is None and override.start <= at < override.end:
                people = _overridden(override, people)
        answers.append((people, clocks.second_pass))
        clocks.tick()
    return answers


def _layer_reading(layer: Layer, wall: datetime) -> tuple[str, ...]:
    days = layer.period.count * (7 if layer.period.unit == "week" else 1)
    first = datetime.combine(layer.start, layer.handoff)
    if wall < first:
        return ()
    turn = (wall - first) // timedelta(days=days)
    if layer.windows:
        open_now = False
        for window in layer.windows:
            for day in (wall.date() - timedelta(days=1), wall.date()):
                closes = day + timedelta(days=1) if window.end <= window.start else day
                if day.weekday() in window.days and datetime.combine(
                    day, window.start
                ) <= wall < datetime.combine(closes, window.end):
                    open_now = True
        if not open_now:
            return ()
    return layer.members[(layer.start_index + turn) % len(layer.members)]


def _overridden(override: Override, people: tuple[str, ...]) -> tuple[str, ...]:
    """Replace, then remove, then add (each name once)."""
    out = people if override.replace is None else override.replace
    out = tuple(p for p in out if p not in override.remove)
    return out + tuple(p for p in override.add if p not in out)


def _combined(readings: list[tuple[tuple[str, ...], int]]) -> tuple[str, ...]:
    top = max((priority for people, priority in readings if people), default=None)
    people: list[str] = []
    for found, priority in readings:
        if found and priority == top:
            people += [p for p in found if p not in people]
    return tuple(people)


@settings(max_examples=60, deadline=None)
@given(case=versions_around_a_dst_change())
def test_shifts_and_on_call_match_a_minute_by_minute_reading_of_the_wall_clock(
    case: tuple[str, datetime, datetime, list[Schedule]],
) -> None:
    """The code against an independent oracle: every minute of 48 hours around a DST change.

    shifts() at every minute; on_call() at every minute of a second pass, every 31 minutes,
    and where the answer changes: at that minute and a microsecond before it (every edge is a
    whole minute, so that is the minute before's answer).
    """
    _, start, end, versions = case
    schedules = Schedules(versions)
    expected = reading_the_wall_clock(versions, start, end)
    shifts = schedules.shifts("s", start, end)
    index = 0
    for minute, (people, second_pass) in enumerate(expected):
        at = start + minute * MINUTE
        while shifts[index].end <= at:
            index += 1
        assert shifts[index].people == people, (at, shifts[index])
        changed = minute > 0 and people != expected[minute - 1][0]
        if second_pass or minute % 31 == 0 or changed:
            assert schedules.on_call("s", at) == people, at
        if changed:
            just_before = expected[minute - 1][0]
            assert schedules.on_call("s", at - MINUTE / 60_000_000) == just_before, at


# ----------------------------------------------------------------------------- from the policy

SCHEDULE_TOML = """
[[schedules]]
name = "primary"
timezone = "Europe/Berlin"

[[schedules.layers]]
name = "weekly"
members = ["alice", "bob", ["carol", "dan"], ""]
period = "1 week"
handoff = "09:00"
start = 2026-01-05
windows = [{ days = ["mon", "tue", "wed", "thu", "fri"], from = "09:00", to = "17:00" }]
outside_windows = "skip"
priority = 1

[[schedules.layers]]
name = "nights"
members = ["nora"]
period = "12h"
start = 2026-01-05
handoff = "21:00"
priority = 0

[[schedules.overrides]]
from = 2026-01-06T10:00:00
to = 2026-01-06T12:00:00+01:00
replace = "erin"
by = "alice"
why = "dentist"

[[schedules]]
name = "primary"
timezone = "Europe/Berlin"
effective_from = 2026-02-01T00:00:00Z
[[schedules.layers]]
name = "weekly"
members = ["bob"]
start = 2026-01-05
"""


def test_schedules_from_the_policy_file() -> None:
    from incident_flow import Policy

    policy = Policy.from_text(SCHEDULE_TOML)
    schedules = policy.schedules
    assert schedules.names == ("primary",) and "primary" in schedules
    first = schedules.version_at("primary", utc(2026, 1, 6))
    assert first is not None and first.layers[0].period == Period("week")
    assert first.layers[1].period == Period("hour", 12)
    assert first.overrides[0].by == "alice" and first.overrides[0].why == "dentist"
    assert schedules.on_call("primary", utc(2026, 1, 6, 9, 30)) == ("erin",)  # 10:30 Berlin
    assert schedules.on_call("primary", utc(2026, 1, 6, 11)) == ("alice",)
    assert schedules.on_call("primary", utc(2026, 1, 12, 10)) == ("bob",)
    assert schedules.on_call("primary", utc(2026, 1, 12, 20)) == ("nora",)  # the evening
    assert schedules.on_call("primary", utc(2026, 2, 2, 20)) == ("bob",)  # the edit
    assert schedules.version_at("primary", utc(2026, 2, 2)) is not first
    assert Policy().schedules.names == ()


def test_every_schedule_problem_at_once() -> None:
    from incident_flow import InvalidPolicy, Policy

    bad = """
    schedules = 3
    """
    with pytest.raises(InvalidPolicy, match="must be an array of tables"):
        Policy.from_text(bad)
    worse = """
    [[schedules]]
    name = ""
    timezone = "Mars/Base"
    colour = "red"
    effective_from = "soon"
    [[schedules.layers]]
    name = "w"
    members = [3]
    period = "fortnight"
    handoff = "25:00"
    start = "monday"
    priority = -1
    windows = [{ days = ["moon"], from = "x" }, 3]
    outside_windows = "maybe"
    [[schedules.layers]]
    name = "w"
    members = ["a"]
    start = 2026-01-05
    [[schedules.overrides]]
    from = 1
    to = 2026-01-01T00:00:00Z
    layer = "nope"
    add = 5
    by = 3
    [[schedules.overrides]]
    from = 2026-01-02T00:00:00Z
    to = 2026-01-01T00:00:00Z
    remove = "a"
    [[schedules.overrides]]
    from = 2026-01-01T00:00:00Z
    to = 2026-01-02T00:00:00Z
    [[schedules]]
    name = "x"
    [[schedules]]
    name = "y"
    layers = [{ name = "l", members = ["a"], start = 2026-01-05 }]
    [[schedules]]
    name = "y"
    layers = [{ name = "l", members = ["a"], start = 2026-01-05 }]
    """
    with pytest.raises(InvalidPolicy) as caught:
        Policy.from_text(worse)
    problems = "\n".join(caught.value.problems)
    for expected in (
        "schedules[0].name: must be a non-empty string",
        "schedules[0].colour: unknown key",
        "schedules[0].timezone: must be an IANA time zone",
        "schedules[0].effective_from: must be a date-time",
        "schedules[0].layers[0].members: must list the slots in turn",
        "schedules[0].layers[0].period: must be a count of hour, day, week, month",
        "schedules[0].layers[0].handoff: must be a local time like '09:00', got '25:00'",
        "schedules[0].layers[0].start: must be a date like 2026-01-05",
        "schedules[0].layers[0].priority: must be a whole number >= 0, got -1",
        "schedules[0].layers[0].windows[0].days: must list days among mon",
        "schedules[0].layers[0].windows[0].from: must be a local time",
        "schedules[0].layers[0].windows[1]: must be a table like",
        "schedules[0].layers[0].outside_windows: must be hide or skip",
        "schedules[0].overrides[0].from: must be a date-time",
        "schedules[0].overrides[0].layer: no layer 'nope' in this schedule (has: w)",
        "schedules[0].overrides[0].add: must be a name or a list of names, got 5",
        "schedules[0].overrides[0].by: must be a string, got 3",
        "schedules[0].overrides[1].to: must come after from",
        "schedules[0].overrides[2]: says nothing to change",
        "schedules[1].layers: needs at least one layer",
        "schedules[3].name: 'y' has two versions from the same time",
    ):
        assert expected in problems, expected
