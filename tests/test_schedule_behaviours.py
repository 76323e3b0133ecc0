"""Schedules, pinned by behaviour (issue 33): what a wrong boundary or index would change.

Each test states a fact a person reading the schedule would check by hand: when an edit takes
over, which day a night belongs to, who takes the first turn, whose clock a layer reads.
"""

from __future__ import annotations

import re
import time as time_module
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import attrs
import pytest

from incident_flow.schedules import (
    Layer,
    Override,
    Period,
    Schedule,
    Schedules,
    Shift,
    Window,
    instant,
)
from incident_flow.schedules._book import describe, notices
from incident_flow.schedules._read import read_schedules

H = timedelta(hours=1)
TICK = timedelta(microseconds=1)
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def book(*layers: Layer, zone: str = "UTC", overrides: tuple[Override, ...] = ()) -> Schedules:
    return Schedules([Schedule(name="s", timezone=zone, layers=layers, overrides=overrides)])


def daily(members: list[str], **fields: object) -> Layer:
    """A daily rotation handing off at 09:00 from Monday 2026-01-05."""
    made: dict[str, object] = {
        "name": "l",
        "members": members,
        "period": Period("day"),
        "handoff": time(9),
        "start": date(2026, 1, 5),
        **fields,
    }
    return Layer(**made)  # type: ignore[arg-type]


@contextmanager
def host_zone(monkeypatch: pytest.MonkeyPatch, zone: str) -> Iterator[None]:
    """The machine's own time zone set to ``zone`` (``TZ`` and ``tzset``), restored after."""
    monkeypatch.setenv("TZ", zone)
    time_module.tzset()
    try:
        yield
    finally:
        monkeypatch.undo()
        time_module.tzset()


def table(shifts: list[Shift]) -> list[tuple[datetime, datetime, tuple[str, ...]]]:
    return [(s.start, s.end, s.people) for s in shifts]


# ----------------------------------------------------------------------------- versions


EDIT = utc(2026, 1, 7, 12, 30)  # Wednesday, half-way through ann's turn


def edited(edit: datetime = EDIT) -> Schedules:
    """ann every day until the edit; from ``edit``, bob every day (an edit, not a handoff)."""
    return Schedules(
        [
            Schedule(name="s", layers=[daily(["ann"])]),
            Schedule(name="s", layers=[daily(["bob"])], effective_from=edit),
        ]
    )


def test_an_edit_answers_from_exactly_its_effective_from() -> None:
    schedules = edited()
    assert schedules.on_call("s", EDIT) == ("bob",)
    assert schedules.on_call("s", EDIT - TICK) == ("ann",)
    assert schedules.version_at("s", EDIT) is schedules.versions[1]
    assert schedules.version_at("s", EDIT - TICK) is schedules.versions[0]
    # Asked in another time zone, the same instant.
    assert schedules.on_call("s", EDIT.astimezone(ZoneInfo("Asia/Tokyo"))) == ("bob",)


def test_shifts_across_an_edit_hand_over_at_the_edit_not_at_the_next_handoff() -> None:
    """With the boundary off by one, the day after the edit was the old version's (or a gap)."""
    shifts = edited().shifts("s", utc(2026, 1, 7), utc(2026, 1, 9))
    assert table(shifts) == [
        (utc(2026, 1, 7), EDIT, ("ann",)),
        (EDIT, utc(2026, 1, 9), ("bob",)),
    ]
    hours = edited().hours("s", utc(2026, 1, 7), utc(2026, 1, 9))
    assert hours == {"ann": timedelta(hours=12, minutes=30), "bob": timedelta(hours=35, minutes=30)}


def test_each_version_applies_until_exactly_the_next_ones_effective_from() -> None:
    second, third = utc(2026, 1, 6, 3), utc(2026, 1, 8, 21, 15)
    schedules = Schedules(
        [
            Schedule(name="s", layers=[daily(["cat"])], effective_from=third),
            Schedule(name="s", layers=[daily(["ann"])]),
            Schedule(name="s", layers=[daily(["bob"])], effective_from=second),
        ]
    )
    assert [schedules.on_call("s", at) for at in (second - TICK, second, third - TICK, third)] == [
        ("ann",),
        ("bob",),
        ("bob",),
        ("cat",),
    ]
    assert table(schedules.shifts("s", utc(2026, 1, 6), utc(2026, 1, 10))) == [
        (utc(2026, 1, 6), second, ("ann",)),
        (second, third, ("bob",)),
        (third, utc(2026, 1, 10), ("cat",)),
    ]


def test_before_the_first_version_nobody_is_on_call() -> None:
    first = utc(2026, 1, 6, 10)
    schedules = Schedules([Schedule(name="s", layers=[daily(["ann"])], effective_from=first)])
    assert schedules.version_at("s", first - TICK) is None
    assert schedules.on_call("s", first - TICK) == ()
    assert schedules.on_call("s", first) == ("ann",)
    assert table(schedules.shifts("s", utc(2026, 1, 6), utc(2026, 1, 7))) == [
        (utc(2026, 1, 6), first, ()),
        (first, utc(2026, 1, 7), ("ann",)),
    ]


def test_an_edit_whose_answer_is_the_same_makes_no_new_shift() -> None:
    schedules = Schedules(
        [
            Schedule(name="s", layers=[daily(["ann", "bob"])]),
            Schedule(name="s", layers=[daily(["ann", "bob"])], effective_from=EDIT),
        ]
    )
    assert table(schedules.shifts("s", utc(2026, 1, 7), utc(2026, 1, 8))) == [
        (utc(2026, 1, 7), utc(2026, 1, 7, 9), ("bob",)),
        (utc(2026, 1, 7, 9), utc(2026, 1, 8), ("ann",)),
    ]


# ----------------------------------------------------------------------------- overnight windows


def fridays_at_night(*days: int, zone: str = "UTC") -> Schedules:
    """fay on call from 22:00 to 06:00 on the nights starting on ``days``."""
    layer = Layer(
        name="nights",
        members=["fay"],
        start=date(2026, 1, 5),
        windows=[Window(days=set(days), start=time(22), end=time(6))],
    )
    return book(layer, zone=zone)


def test_a_window_across_midnight_belongs_to_the_night_it_starts() -> None:
    """Friday 22:00-06:00: Saturday 00:00-06:00 is on call, Friday 00:00-06:00 is not."""
    schedules = fridays_at_night(FRI)
    friday, saturday = date(2026, 1, 9), date(2026, 1, 10)

    def at(day: date, hour: int, minute: int = 0) -> tuple[str, ...]:
        return schedules.on_call("s", datetime.combine(day, time(hour, minute), UTC))

    assert at(friday, 0) == () and at(friday, 5, 59) == ()  # Thursday's night: not in days
    assert at(friday, 21, 59) == () and at(friday, 22) == ("fay",)
    assert at(saturday, 0) == ("fay",) and at(saturday, 5, 59) == ("fay",)
    assert at(saturday, 6) == () and at(saturday, 22) == ()
    week = schedules.shifts("s", utc(2026, 1, 5), utc(2026, 1, 12))
    assert [(s.start, s.end) for s in week if s.people] == [
        (utc(2026, 1, 9, 22), utc(2026, 1, 10, 6)),
    ]


def test_the_night_before_is_on_call_only_when_its_day_is_listed() -> None:
    schedules = fridays_at_night(THU, FRI)
    assert schedules.on_call("s", utc(2026, 1, 9, 3)) == ("fay",)  # Thursday's night
    week = schedules.shifts("s", utc(2026, 1, 5), utc(2026, 1, 12))
    assert [(s.start, s.end) for s in week if s.people] == [
        (utc(2026, 1, 8, 22), utc(2026, 1, 9, 6)),
        (utc(2026, 1, 9, 22), utc(2026, 1, 10, 6)),
    ]


def test_sundays_night_runs_into_monday() -> None:
    """The week wraps: Sunday's night is Monday morning, Monday's own night is not listed."""
    schedules = fridays_at_night(SUN)
    assert schedules.on_call("s", utc(2026, 1, 12, 5)) == ("fay",)  # Monday 05:00
    assert schedules.on_call("s", utc(2026, 1, 6, 5)) == ()  # Tuesday 05:00: Monday's night
    assert schedules.on_call("s", utc(2026, 1, 11, 5)) == ()  # Sunday 05:00: Saturday's night
    week = schedules.shifts("s", utc(2026, 1, 5), utc(2026, 1, 12, 12))
    assert [(s.start, s.end) for s in week if s.people] == [
        (utc(2026, 1, 11, 22), utc(2026, 1, 12, 6)),
    ]


def test_a_night_window_reads_the_schedules_wall_clock() -> None:
    """In Tokyo (UTC+9), Friday 22:00-06:00 is Friday 13:00 to 21:00 UTC."""
    schedules = fridays_at_night(FRI, zone="Asia/Tokyo")
    week = schedules.shifts("s", utc(2026, 1, 5), utc(2026, 1, 12))
    assert [(s.start, s.end) for s in week if s.people] == [
        (utc(2026, 1, 9, 13), utc(2026, 1, 9, 21)),
    ]


def test_a_whole_day_window_is_that_day_only() -> None:
    """00:00-00:00 on Wednesday: the whole of Wednesday, not Thursday's first minutes."""
    layer = Layer(
        name="wed", members=["gus"], start=date(2026, 1, 5),
        windows=[Window(days={WED}, start=time(0), end=time(0))],
    )  # fmt: skip
    week = book(layer).shifts("s", utc(2026, 1, 5), utc(2026, 1, 12))
    assert [(s.start, s.end) for s in week if s.people] == [(utc(2026, 1, 7), utc(2026, 1, 8))]


# ----------------------------------------------------------------------------- start_index


def test_start_index_names_the_slot_of_the_first_turn() -> None:
    first_days = [utc(2026, 1, d, 12) for d in (5, 6, 7, 8)]
    for start_index, expected in (
        (0, ["a", "b", "c", "a"]),
        (1, ["b", "c", "a", "b"]),
        (2, ["c", "a", "b", "c"]),
        (4, ["b", "c", "a", "b"]),  # counted round the slots
    ):
        schedules = book(daily(["a", "b", "c"], start_index=start_index))
        assert [schedules.on_call("s", at)[0] for at in first_days] == expected, start_index


def test_start_index_also_counts_kept_turns_when_turns_are_skipped() -> None:
    """Weekdays only, skipping: from b, Friday's b is followed by Monday's c."""
    layer = daily(
        ["a", "b", "c"],
        handoff=time(0),
        start_index=1,
        windows=[Window(days=range(5), start=time(0), end=time(0))],
        skip_outside_windows=True,
    )
    schedules = book(layer)
    days = [utc(2026, 1, d, 12) for d in (5, 6, 7, 8, 9, 10, 11, 12)]
    assert [schedules.on_call("s", at) for at in days] == [
        ("b",), ("c",), ("a",), ("b",), ("c",), (), (), ("a",),
    ]  # fmt: skip


def test_start_index_and_timezone_from_the_policy_file() -> None:
    from incident_flow import Policy

    policy = Policy.from_text(
        """
        [[schedules]]
        name = "ops"
        timezone = "Europe/Berlin"
        [[schedules.layers]]
        name = "day"
        members = ["a", "b", "c"]
        period = "1 day"
        handoff = "09:00"
        start = 2026-01-05
        start_index = 2
        timezone = "Asia/Tokyo"
        windows = [{ days = ["fri"], from = "22:00", to = "06:00" }]
        """
    )
    (layer,) = policy.schedules.versions[0].layers
    assert layer.start_index == 2 and layer.timezone == "Asia/Tokyo"
    # Turns hand off at 09:00 Tokyo (00:00 UTC); Friday's is turn 4, slot (2 + 4) % 3 = a.
    # The night is Friday 22:00 to Saturday 06:00 Tokyo: 13:00 to 21:00 UTC on Friday.
    shifts = policy.schedules.shifts("ops", utc(2026, 1, 5), utc(2026, 1, 12))
    assert [(s.start, s.end, s.people) for s in shifts if s.people] == [
        (utc(2026, 1, 9, 13), utc(2026, 1, 9, 21), ("a",)),
    ]


# ----------------------------------------------------------------------------- a layer's zone


def test_a_layer_in_its_own_time_zone_hands_off_by_its_own_clock() -> None:
    """A Tokyo layer in a Berlin schedule hands off at 09:00 Tokyo (00:00 UTC), not 08:00 UTC."""
    tokyo = daily(["ann", "bob"], timezone="Asia/Tokyo")
    schedules = book(tokyo, zone="Europe/Berlin")
    assert table(schedules.shifts("s", utc(2026, 1, 5, 12), utc(2026, 1, 7, 12))) == [
        (utc(2026, 1, 5, 12), utc(2026, 1, 6), ("ann",)),
        (utc(2026, 1, 6), utc(2026, 1, 7), ("bob",)),
        (utc(2026, 1, 7), utc(2026, 1, 7, 12), ("ann",)),
    ]
    assert schedules.on_call("s", utc(2026, 1, 6) - TICK) == ("ann",)
    assert schedules.on_call("s", utc(2026, 1, 6)) == ("bob",)


def test_follow_the_sun_layers_each_read_their_own_clock_and_dst() -> None:
    """Business hours in Sydney and in New York, one schedule in UTC, across New York's DST."""
    hours = [Window(days=range(5), start=time(9), end=time(17))]
    sydney = Layer(
        name="apac", members=["kai"], start=date(2026, 3, 2), windows=hours,
        timezone="Australia/Sydney",
    )  # fmt: skip
    new_york = Layer(
        name="amer", members=["ned"], start=date(2026, 3, 2), windows=hours,
        timezone="America/New_York",
    )  # fmt: skip
    schedules = book(sydney, new_york)
    # Friday 2026-03-06, EST (UTC-5) and AEDT (UTC+11); Monday 2026-03-09, EDT (UTC-4).
    friday = schedules.shifts("s", utc(2026, 3, 5, 21), utc(2026, 3, 6, 23))
    assert table(friday) == [
        (utc(2026, 3, 5, 21), utc(2026, 3, 5, 22), ("ned",)),  # Thursday, to 17:00 EST
        (utc(2026, 3, 5, 22), utc(2026, 3, 6, 6), ("kai",)),  # 09:00-17:00 Sydney
        (utc(2026, 3, 6, 6), utc(2026, 3, 6, 14), ()),
        (utc(2026, 3, 6, 14), utc(2026, 3, 6, 22), ("ned",)),  # 09:00-17:00 EST
        (utc(2026, 3, 6, 22), utc(2026, 3, 6, 23), ()),  # Saturday in Sydney
    ]
    assert schedules.on_call("s", utc(2026, 3, 9, 13, 30)) == ("ned",)  # 09:30 EDT
    assert schedules.on_call("s", utc(2026, 3, 9, 21, 30)) == ()  # 17:30 EDT


@pytest.mark.parametrize("first", ["UTC", "America/New_York"])
def test_one_layer_in_two_schedules_of_different_zones_gives_each_its_own_answer(
    first: str,
) -> None:
    """Skipping counts the kept turns in each zone: New York's Sunday 02:15-02:45 window does
    not exist on 2026-03-08 (the clocks jump from 02:00 to 03:00), so that week is skipped
    there and not in UTC. Whichever schedule is asked first, each keeps its own count."""
    layer = Layer(
        name=f"sundays-{first}",
        members=["a", "b"],
        period=Period("week"),
        handoff=time(0),
        start=date(2026, 1, 5),
        windows=[Window(days={SUN}, start=time(2, 15), end=time(2, 45))],
        skip_outside_windows=True,
    )
    in_utc, in_new_york = book(layer), book(layer, zone="America/New_York")
    asks = [
        (in_utc, utc(2026, 3, 15, 2, 30), ("b",)),  # turn 9, nine kept before it
        (in_new_york, utc(2026, 3, 15, 6, 30), ("a",)),  # 02:30 EDT: eight kept before it
    ]
    for schedules, at, expected in asks if first == "UTC" else asks[::-1]:
        assert schedules.on_call("s", at) == expected, at
    assert in_new_york.shifts("s", utc(2026, 3, 8), utc(2026, 3, 9)) == [
        Shift("s", utc(2026, 3, 8), utc(2026, 3, 9), ())
    ]


@pytest.mark.parametrize("zone", ["America/Chicago", "Europe/London", "Asia/Kolkata"])
def test_a_layer_without_a_zone_of_its_own_reads_the_schedules(zone: str) -> None:
    handoff = instant(datetime(2026, 1, 6, 9), ZoneInfo(zone))  # noqa: DTZ001 - wall time
    schedules = book(daily(["ann", "bob"]), zone=zone)
    assert schedules.on_call("s", handoff - TICK) == ("ann",)
    assert schedules.on_call("s", handoff) == ("bob",)


def test_an_override_never_puts_one_person_on_call_twice() -> None:
    """A name added twice, or added while already on call, is on call once (found by the
    oracle's author: ``add = ["a", "a"]`` answered ``("a", "a")``)."""
    start, end = utc(2026, 1, 5, 9), utc(2026, 1, 5, 17)
    twice = Override(start=start, end=end, add=("a", "a"))
    assert twice.apply(()) == ("a",)
    assert twice.apply(("b",)) == ("b", "a")
    already = Override(start=start, end=end, add=("b",))
    assert already.apply(("b", "c")) == ("b", "c")
    replaced = Override(start=start, end=end, replace=("x", "x"), add=("x",))
    assert replaced.apply(("b",)) == ("x",)


# ----------------------------------------------------------------------------- notices


def test_a_handoff_is_announced_once_when_it_happens_with_its_end_and_who_came_before() -> None:
    """A handoff at 09:00 belongs to the check whose (since, now] holds 09:00, not the next."""
    schedules = book(daily(["ann", "bob", "cy"]))
    tue9 = utc(2026, 1, 6, 9)
    said = [
        (
            "handoff/s/2026-01-06T09:00:00+00:00",
            "On call in s: bob until 2026-01-07 09:00 UTC (after ann)",
        )
    ]
    assert notices(schedules, "s", tue9 - H, tue9, timedelta(0)) == said
    assert notices(schedules, "s", tue9 - TICK, tue9 + TICK, timedelta(0)) == said
    assert notices(schedules, "s", tue9, tue9 + H, timedelta(0)) == []  # said already
    assert notices(schedules, "s", tue9 - 2 * H, tue9 - H, timedelta(0)) == []  # not yet
    assert notices(schedules, "s", tue9 + H, tue9 + H, timedelta(0)) == []  # no time passed
    assert notices(schedules, "s", tue9 + H, tue9 - H, timedelta(0)) == []


def test_a_shift_is_reminded_once_its_reminder_is_due_and_never_for_a_gap() -> None:
    schedules = book(
        daily(["ann", "bob"], windows=[Window(days=range(7), start=time(9), end=time(17))])
    )
    tue9 = utc(2026, 1, 6, 9)
    reminder = [
        (
            "shift/s/2026-01-06T09:00:00+00:00",
            "Reminder: bob on call in s from 2026-01-06 09:00 UTC",
        )
    ]
    assert notices(schedules, "s", tue9 - 2 * H, tue9 - H, H) == reminder  # due at 08:00
    assert notices(schedules, "s", tue9 - H - TICK, tue9 - H + TICK, H) == reminder
    assert notices(schedules, "s", tue9 - H, tue9 - H / 2, H) == []  # reminded already
    assert notices(schedules, "s", tue9 - 3 * H, tue9 - 2 * H, H) == []  # not due yet
    # 17:00 hands off to nobody: said, and a gap is never reminded.
    five = utc(2026, 1, 6, 17)
    assert notices(schedules, "s", five - H, five, H) == [
        (
            "handoff/s/2026-01-06T17:00:00+00:00",
            "On call in s: NOBODY (a gap) until 2026-01-07 09:00 UTC (after bob)",
        )
    ]


def test_a_handoff_to_who_stays_on_call_has_no_end_and_people_are_listed() -> None:
    end = utc(2026, 1, 6, 12)
    pair = Override(start=utc(2026, 1, 6, 10), end=end, add=("bob", "cy"))
    schedules = book(daily(["ann"]), overrides=(pair,))
    assert notices(schedules, "s", end - H, end, timedelta(0)) == [
        ("handoff/s/2026-01-06T12:00:00+00:00", "On call in s: ann (after ann, bob, cy)")
    ]


def test_a_period_reads_as_written() -> None:
    assert [str(Period("day")), str(Period("week", 2))] == ["1 day", "2 weeks"]


def test_describe_says_who_until_when_and_who_is_next() -> None:
    schedules = book(daily(["ann", "bob"]))
    assert schedules.describe("s", utc(2026, 1, 6, 10)) == (
        "s: bob until 2026-01-07 09:00 UTC, then ann"
    )
    assert describe("s", (), []) == "s: NOBODY (a gap)"
    ahead = schedules.shifts("s", utc(2026, 1, 6, 10), utc(2026, 1, 6, 11))
    assert describe("s", ("ann", "bob"), ahead) == "s: ann, bob until 2026-01-06 11:00 UTC"


def test_every_problem_of_the_schedules_table_is_reported_and_the_good_ones_kept() -> None:
    said: list[tuple[str, str]] = []

    def problem(where: str, message: str) -> None:
        said.append((where, message))

    assert read_schedules("schedules", {"a": 1}, problem) == []
    assert said == [("schedules", "must be an array of tables ([[schedules]])")]
    said.clear()
    layer = {"name": "l", "members": ["ann"], "period": "1d", "start": date(2026, 1, 5)}
    tables = [
        3,
        {"name": "a", "layers": [layer]},
        {"name": "a", "layers": [layer]},
        {"name": " ", "layers": [layer], "color": "red"},
        {"name": "b", "layers": [layer]},
    ]
    assert [s.name for s in read_schedules("schedules", tables, problem)] == ["a", "b"]
    assert said == [
        ("schedules[0]", "must be a table, got 3"),
        ("schedules[2].name", "'a' has two versions from the same time"),
        (
            "schedules[3].color",
            "unknown key (known: name, timezone, effective_from, layers, overrides)",
        ),
        ("schedules[3].name", "must be a non-empty string, got ' '"),
    ]


def test_every_problem_of_a_layer_a_window_and_an_override_is_reported() -> None:
    """The reader names each wrong key by its path, and keeps what it read right, as written."""
    said: list[tuple[str, str]] = []

    def problem(where: str, message: str) -> None:
        said.append((where, message))

    bad_layer = {
        "name": "",
        "members": [],
        "period": "0 weeks",
        "handoff": "9am",
        "start": "2026-01-05",
        "start_index": -1,
        "priority": True,
        "outside_windows": "show",
        "colour": 1,
        "windows": [3, {"days": ["mon", "funday"], "from": "25:00", "to": "17:00", "x": 1}],
        "timezone": "Mars/Base",
        "active_from": "soon",
        "active_until": "2026-01-01T00:00:00",
    }
    span_layer = {
        "name": "b",
        "members": ["x"],
        "start": date(2026, 1, 5),
        "active_from": "2026-02-01T00:00:00",
        "active_until": "2026-01-01T00:00:00",
    }
    zone_layer = {"name": "c", "members": ["x"], "start": date(2026, 1, 5), "timezone": "Mars/Base"}
    good = {
        "name": "l",
        "members": ["ann", ["bob", "cy"], ""],
        "period": "12h",
        "handoff": "08:30",
        "start": date(2026, 1, 5),
        "start_index": 1,
        "priority": 2,
        "outside_windows": "skip",
        "windows": [{"days": ["mon", "tue"], "from": "09:00", "to": "17:00"}],
        "timezone": "Europe/Berlin",
        "active_from": "2026-01-05T00:00:00",
        "active_until": datetime(2026, 6, 1, 0, 0),  # noqa: DTZ001 - local: the layer's zone
    }
    ovs = [
        5,
        {
            "from": "x",
            "to": "2026-01-06T10:00:00",
            "layer": "zz",
            "add": [1],
            "remove": "",
            "by": 3,
            "why": ["w"],
            "q": 1,
        },
        {"from": "2026-01-06T10:00:00", "to": "2026-01-06T09:00:00", "add": "dave"},
        {"from": "2026-01-06T10:00:00", "to": "2026-01-06T12:00:00"},
        {
            "from": "2026-01-06T10:00:00",
            "to": "2026-01-06T12:00:00",
            "replace": ["eve"],
            "layer": "l",
            "by": "ann",
            "why": "swap",
        },
    ]
    read = read_schedules(
        "schedules",
        [
            {"name": "s", "timezone": "Europe/Berlin", "layers": [good], "overrides": [ovs[4]]},
            {"name": "t", "layers": [bad_layer, span_layer, zone_layer, 7], "overrides": ovs[:4]},
            {"name": "u", "timezone": "Nowhere/X", "layers": []},
            {"name": "v", "effective_from": "later", "layers": [good, good]},
        ],
        problem,
    )
    assert read == [
        Schedule(
            name="s",
            timezone="Europe/Berlin",
            layers=[
                Layer(
                    name="l",
                    members=["ann", ["bob", "cy"], ""],
                    period=Period("hour", 12),
                    handoff=time(8, 30),
                    start=date(2026, 1, 5),
                    start_index=1,
                    priority=2,
                    windows=[Window(days={MON, TUE}, start=time(9), end=time(17))],
                    skip_outside_windows=True,
                    active_from=utc(2026, 1, 4, 23),
                    active_until=utc(2026, 5, 31, 22),
                    timezone="Europe/Berlin",
                )
            ],
            overrides=[
                Override(
                    start=utc(2026, 1, 6, 9), end=utc(2026, 1, 6, 11), layer="l",
                    replace=("eve",), by="ann", why="swap",
                )
            ],
        )
    ]  # fmt: skip
    assert said == [
        (
            "schedules[1].layers[0].colour",
            (
                "unknown key (known: name, members, period, handoff, start, start_index, "
                "priority, windows, outside_windows, active_from, active_until, timezone)"
            ),
        ),
        ("schedules[1].layers[0].name", "must be a non-empty string, got ''"),
        (
            "schedules[1].layers[0].members",
            (
                "must list the slots in turn: names, lists of names on call together, "
                'or "" (nobody), got []'
            ),
        ),
        (
            "schedules[1].layers[0].period",
            "must be a count of hour, day, week, month like '1 week' or '12h', got '0 weeks'",
        ),
        ("schedules[1].layers[0].handoff", "must be a local time like '09:00', got '9am'"),
        (
            "schedules[1].layers[0].start",
            "must be a date like 2026-01-05 (the first turn), got '2026-01-05'",
        ),
        ("schedules[1].layers[0].start_index", "must be a whole number >= 0, got -1"),
        ("schedules[1].layers[0].priority", "must be a whole number >= 0, got True"),
        (
            "schedules[1].layers[0].windows[0]",
            "must be a table like { days = ['mon'], from = '09:00', to = '17:00' }, got 3",
        ),
        ("schedules[1].layers[0].windows[1].x", "unknown key (known: days, from, to)"),
        (
            "schedules[1].layers[0].windows[1].days",
            "must list days among mon, tue, wed, thu, fri, sat, sun, got ['mon', 'funday']",
        ),
        (
            "schedules[1].layers[0].windows[1].from",
            "must be a local time like '09:00', got '25:00'",
        ),
        ("schedules[1].layers[0].timezone", "must be an IANA time zone, got 'Mars/Base'"),
        (
            "schedules[1].layers[0].active_from",
            "must be a date-time like 2026-03-01T09:00:00+01:00, got 'soon'",
        ),
        ("schedules[1].layers[0].outside_windows", "must be hide or skip, got 'show'"),
        ("schedules[1].layers[1].active_until", "must come after active_from"),
        ("schedules[1].layers[2].timezone", "must be an IANA time zone, got 'Mars/Base'"),
        ("schedules[1].layers[3]", "must be a table, got 7"),
        ("schedules[1].overrides[0]", "must be a table, got 5"),
        (
            "schedules[1].overrides[1].q",
            "unknown key (known: from, to, layer, add, remove, replace, by, why)",
        ),
        (
            "schedules[1].overrides[1].from",
            "must be a date-time like 2026-03-01T09:00:00+01:00, got 'x'",
        ),
        ("schedules[1].overrides[1].layer", "no layer 'zz' in this schedule (has: none)"),
        ("schedules[1].overrides[1].add", f"{_NAMES} [1]"),
        ("schedules[1].overrides[1].remove", "must be a name or a list of names, got ''"),
        ("schedules[1].overrides[1].by", "must be a string, got 3"),
        ("schedules[1].overrides[1].why", "must be a string, got ['w']"),
        ("schedules[1].overrides[2].to", "must come after from"),
        ("schedules[1].overrides[3]", "says nothing to change: give replace, add or remove"),
        (
            "schedules[2].timezone",
            "must be an IANA time zone like 'Europe/Berlin', got 'Nowhere/X'",
        ),
        ("schedules[2].layers", "needs at least one layer ([[schedules.layers]])"),
        (
            "schedules[3].effective_from",
            "must be a date-time like 2026-03-01T09:00:00+01:00, got 'later'",
        ),
        ("schedules[3].layers", "two layers are named 'l'"),
    ]


def test_a_short_override_is_described_with_its_end_and_who_follows() -> None:
    cover = Override(start=utc(2026, 1, 6, 10), end=utc(2026, 1, 6, 12), add=("bob",))
    schedules = book(daily(["ann"]), overrides=(cover,))
    assert schedules.describe("s", utc(2026, 1, 6, 10, 30)) == (
        "s: ann, bob until 2026-01-06 12:00 UTC, then ann"
    )
    # ann alone for good: described as far as the 60 days it looks ahead
    assert schedules.describe("s", utc(2026, 1, 7)) == "s: ann until 2026-03-08 00:00 UTC"
    ten = utc(2026, 1, 6, 10)
    assert notices(schedules, "s", ten - H, ten, timedelta(0)) == [
        (
            "handoff/s/2026-01-06T10:00:00+00:00",
            "On call in s: ann, bob until 2026-01-06 12:00 UTC (after ann)",
        )
    ]


def test_a_handoff_says_the_shifts_end_only_within_the_60_days_it_looks_ahead() -> None:
    """Past 60 days a shift is said without an end (as far as the notice looks, it stays)."""
    ten = utc(2026, 1, 6, 10)

    def handoff(length: timedelta) -> list[tuple[str, str]]:
        cover = Override(start=ten, end=ten + length, replace=("bob",))
        return notices(book(daily(["ann"]), overrides=(cover,)), "s", ten - H, ten, timedelta(0))

    key = "handoff/s/2026-01-06T10:00:00+00:00"
    assert handoff(timedelta(days=60) - H) == [
        (key, "On call in s: bob until 2026-03-07 09:00 UTC (after ann)")
    ]
    assert handoff(timedelta(days=60)) == [(key, "On call in s: bob (after ann)")]
    assert handoff(timedelta(days=60, hours=12)) == [(key, "On call in s: bob (after ann)")]


def test_describe_says_utc_times_whatever_the_hosts_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    """An instant with any offset is read in UTC: the line never shows the host's clock."""

    cover = Override(start=utc(2026, 1, 6, 10), end=utc(2026, 1, 6, 12), add=("bob",))
    schedules = book(daily(["ann"]), overrides=(cover,))
    with host_zone(monkeypatch, "America/New_York"):
        paris = ZoneInfo("Europe/Paris")
        short = schedules.describe("s", datetime(2026, 1, 6, 11, 30, tzinfo=paris))
        far = schedules.describe("s", utc(2026, 1, 7))
    assert short == "s: ann, bob until 2026-01-06 12:00 UTC, then ann"
    assert far == "s: ann until 2026-03-08 00:00 UTC"  # the 60 days it looks ahead, in UTC


def test_a_reminder_is_not_due_a_tick_before_its_time() -> None:
    schedules = book(daily(["ann", "bob"]))
    tue9 = utc(2026, 1, 6, 9)
    assert notices(schedules, "s", tue9 - 2 * H, tue9 - H - TICK, H) == []


# ------------------------------------------------------------------ one defect at a time

_LAYER = {"name": "l", "members": ["ann"], "start": date(2026, 1, 5)}
_OTHER = {"name": "m", "members": ["bob"], "start": date(2026, 1, 5)}
_SWAP = {"from": "2026-01-06T10:00:00", "to": "2026-01-06T12:00:00", "replace": ["eve"]}
_AMONG = "must list days among mon, tue, wed, thu, fri, sat, sun, got"
_WHEN = "must be a date-time like 2026-03-01T09:00:00+01:00"
_LOCAL = "must be a local time like '09:00', got"
_NAMES = "must be a name or a list of names, got"
_NOTHING = "says nothing to change: give replace, add or remove"


def _read_one(schedule: dict[str, object]) -> tuple[list[Schedule], list[tuple[str, str]]]:
    said: list[tuple[str, str]] = []
    read = read_schedules("schedules", [schedule], lambda w, m: said.append((w, m)))
    return read, said


@pytest.mark.parametrize(
    ("window", "where", "message"),
    [
        ({"days": [], "from": "09:00", "to": "17:00"}, ".days", f"{_AMONG} []"),
        ({"days": "mon", "from": "09:00"}, ".days", f"{_AMONG} 'mon'"),
        ({"days": ["mon"], "from": "9am", "to": "17:00"}, ".from", f"{_LOCAL} '9am'"),
        ({"days": ["mon"], "from": "09:00", "to": "5pm"}, ".to", f"{_LOCAL} '5pm'"),
    ],
)  # fmt: skip
def test_one_wrong_key_of_a_window_is_named_alone_and_keeps_its_schedule_out(
    window: dict[str, object], where: str, message: str
) -> None:
    """A window wrong in one key only: that key is named, and no schedule is read half-right."""
    read, said = _read_one({"name": "s", "layers": [{**_LAYER, "windows": [window]}]})
    assert read == []
    assert said == [(f"schedules[0].layers[0].windows[0]{where}", message)]


def test_a_window_that_names_nothing_is_every_day_from_midnight_to_midnight() -> None:
    """``{}`` and a window naming only its days read the documented defaults: all days, 00:00."""
    read, said = _read_one(
        {"name": "s", "layers": [{**_LAYER, "windows": [{}, {"days": ["sat"]}]}]}
    )
    assert said == []
    assert read[0].layers[0].windows == (
        Window(days=set(range(7)), start=time(0), end=time(0)),
        Window(days={SAT}, start=time(0), end=time(0)),
    )


@pytest.mark.parametrize(
    ("override", "where", "message"),
    [
        ({**_SWAP, "layer": "zz"}, ".layer", "no layer 'zz' in this schedule (has: l, m)"),
        ({**_SWAP, "add": [1]}, ".add", f"{_NAMES} [1]"),
        ({**_SWAP, "remove": ["ann", " "]}, ".remove", f"{_NAMES} ['ann', ' ']"),
        ({**_SWAP, "by": 3}, ".by", "must be a string, got 3"),
        ({**_SWAP, "why": None}, ".why", "must be a string, got None"),
        ({**_SWAP, "from": "soon"}, ".from", f"{_WHEN}, got 'soon'"),
        ({**_SWAP, "to": "later"}, ".to", f"{_WHEN}, got 'later'"),
        ({**_SWAP, "to": _SWAP["from"]}, ".to", "must come after from"),
        ({"from": _SWAP["from"], "to": _SWAP["to"]}, "", _NOTHING),
    ],
)  # fmt: skip
def test_one_wrong_key_of_an_override_is_named_alone_and_keeps_its_schedule_out(
    override: dict[str, object], where: str, message: str
) -> None:
    """An override wrong in one key only (an empty span included): named once, nothing read."""
    read, said = _read_one({"name": "s", "layers": [_LAYER, _OTHER], "overrides": [override]})
    assert read == []
    assert said == [(f"schedules[0].overrides[0]{where}", message)]


def test_an_override_with_an_offset_is_kept_in_utc_whatever_the_hosts_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reader never converts to the host's zone: its instants are UTC on any machine."""

    with host_zone(monkeypatch, "America/New_York"):
        offset = {**_SWAP, "from": "2026-01-06T10:00:00+01:00"}
        read, said = _read_one({"name": "s", "layers": [_LAYER], "overrides": [offset]})
    assert said == []
    start = read[0].overrides[0].start
    assert start == utc(2026, 1, 6, 9) and start.utcoffset() == timedelta(0)


_SLOTS = 'must list the slots in turn: names, lists of names on call together, or "" (nobody), got'
_COUNT = "must be a count of hour, day, week, month like '1 week' or '12h', got"
_FIRST = "must be a date like 2026-01-05 (the first turn), got"


@pytest.mark.parametrize(
    ("layer", "where", "message"),
    [
        ({"name": " "}, ".name", "must be a non-empty string, got ' '"),
        ({"members": [["ann", " "]]}, ".members", f"{_SLOTS} [['ann', ' ']]"),
        ({"members": [["ann", 3]]}, ".members", f"{_SLOTS} [['ann', 3]]"),
        ({"period": 7}, ".period", f"{_COUNT} 7"),
        ({"period": "0 days"}, ".period", f"{_COUNT} '0 days'"),
        ({"handoff": 9}, ".handoff", f"{_LOCAL} 9"),
        ({"handoff": "24:00"}, ".handoff", f"{_LOCAL} '24:00'"),
        ({"start": "2026-01-05"}, ".start", f"{_FIRST} '2026-01-05'"),
        ({"start_index": -1}, ".start_index", "must be a whole number >= 0, got -1"),
        ({"priority": 1.5}, ".priority", "must be a whole number >= 0, got 1.5"),
        ({"outside_windows": "show"}, ".outside_windows", "must be hide or skip, got 'show'"),
        ({"timezone": "Mars/Base"}, ".timezone", "must be an IANA time zone, got 'Mars/Base'"),
        ({"active_from": "soon"}, ".active_from", f"{_WHEN}, got 'soon'"),
        ({"active_until": "later"}, ".active_until", f"{_WHEN}, got 'later'"),
        (
            {"active_from": "2026-02-01T00:00:00", "active_until": "2026-02-01T00:00:00"},
            ".active_until", "must come after active_from",
        ),
    ],
)  # fmt: skip
def test_one_wrong_key_of_a_layer_is_named_alone_and_keeps_its_schedule_out(
    layer: dict[str, object], where: str, message: str
) -> None:
    """A layer wrong in one key only: that key is named once, and no schedule is read."""
    read, said = _read_one({"name": "s", "layers": [{**_LAYER, **layer}]})
    assert read == []
    assert said == [(f"schedules[0].layers[0]{where}", message)]


@pytest.mark.parametrize(
    ("schedule", "where", "message"),
    [
        ({"name": " "}, ".name", "must be a non-empty string, got ' '"),
        (
            {"timezone": "Mars/Base"}, ".timezone",
            "must be an IANA time zone like 'Europe/Berlin', got 'Mars/Base'",
        ),
        ({"effective_from": "later"}, ".effective_from", f"{_WHEN}, got 'later'"),
        (
            {"time_zone": "UTC"}, ".time_zone",
            (
                "unknown key, did you mean 'timezone'? "
                "(known: name, timezone, effective_from, layers, overrides)"
            ),
        ),
    ],
)  # fmt: skip
def test_one_wrong_key_of_a_schedule_is_named_alone_and_keeps_it_out(
    schedule: dict[str, object], where: str, message: str
) -> None:
    """A wrong zone is not read as UTC, a wrong edit time not as "always": nothing is read."""
    read, said = _read_one({"name": "s", "layers": [_LAYER], **schedule})
    assert read == []
    assert said == [(f"schedules[0]{where}", message)]


def test_a_layers_misspelt_key_is_named_with_its_fix() -> None:
    read, said = _read_one({"name": "s", "layers": [{**_LAYER, "member": ["bob"]}]})
    assert read == []
    assert said == [
        (
            "schedules[0].layers[0].member",
            (
                "unknown key, did you mean 'members'? (known: name, members, period, handoff, "
                "start, start_index, priority, windows, outside_windows, active_from, "
                "active_until, timezone)"
            ),
        )
    ]


def test_local_times_without_an_offset_read_the_schedules_zone() -> None:
    """An edit's time and a layer's span, written without an offset, are the schedule's clock."""
    read, said = _read_one(
        {
            "name": "s",
            "timezone": "Europe/Berlin",
            "effective_from": "2026-03-01T09:00:00",
            "layers": [
                {**_LAYER, "active_from": "2026-03-02T09:00:00", "active_until": "2026-07-01"},
            ],
        }
    )
    assert said == []
    (schedule,) = read
    assert schedule.effective_from == utc(2026, 3, 1, 8)  # CET, UTC+1
    (layer,) = schedule.layers
    assert (layer.active_from, layer.active_until) == (utc(2026, 3, 2, 8), utc(2026, 6, 30, 22))


@pytest.mark.parametrize(
    ("written", "period"),
    [
        ("12h", Period("hour", 12)),
        ("2 hours", Period("hour", 2)),
        ("1 hour", Period("hour")),
        ("3d", Period("day", 3)),
        ("3 days", Period("day", 3)),
        ("2 weeks", Period("week", 2)),
        ("1w", Period("week")),
        ("1 month", Period("month")),
        ("2 months", Period("month", 2)),
        (" 6mo ", Period("month", 6)),
    ],
)
def test_a_period_is_read_in_each_unit_as_written(written: str, period: Period) -> None:
    read, said = _read_one({"name": "s", "layers": [{**_LAYER, "period": written}]})
    assert said == []
    assert read[0].layers[0].period == period


def test_in_the_repeated_hour_of_autumn_a_night_and_a_whole_day_window_still_cover() -> None:
    """Berlin's clocks go back at 03:00 on 2026-10-25: 02:00-03:00 is lived twice.

    The second pass (01:00-02:00 UTC) is inside Saturday's 22:00-06:00 night and inside
    Sunday's whole day, as the first pass is.
    """
    night = daily(["ann"], windows=[Window(days=[SAT], start=time(22), end=time(6))])
    whole = daily(["bob"], name="m", windows=[Window(days=[SUN])])
    schedules = book(night, whole, zone="Europe/Berlin")
    for at in (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)):  # 02:30, first and second
        assert sorted(schedules.on_call("s", at)) == ["ann", "bob"], at


def test_an_override_that_ends_when_it_starts_is_refused() -> None:
    at = utc(2026, 1, 6, 10)
    with pytest.raises(ValueError, match=r"^an override must end after it starts \(2026-01-06"):
        Override(start=at, end=at, add=("bob",))


def test_a_monthly_turn_keeps_its_day_of_the_month_or_the_months_last_day() -> None:
    """From 31 December: each month's last day when it has no 31st, across both new years."""
    monthly = daily(["ann", "bob"], period=Period("month"), start=date(2025, 12, 31))
    shifts = book(monthly).shifts("s", utc(2025, 12, 31, 9), utc(2027, 2, 1))
    assert [s.start.date().isoformat() for s in shifts] == [
        "2025-12-31", "2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31",
        "2026-06-30", "2026-07-31", "2026-08-31", "2026-09-30", "2026-10-31", "2026-11-30",
        "2026-12-31", "2027-01-31",
    ]  # fmt: skip
    assert {s.start.time() for s in shifts} == {time(9)}
    assert [s.people for s in shifts[:3]] == [("ann",), ("bob",), ("ann",)]
    three = daily(["ann", "bob", "cy"], period=Period("month"), start=date(2026, 1, 31))
    turns = book(three).shifts("s", utc(2026, 1, 1), utc(2026, 5, 1))
    assert [(s.start.date().isoformat(), s.people) for s in turns] == [
        ("2026-01-01", ()),  # before its first turn: nobody
        ("2026-01-31", ("ann",)),
        ("2026-02-28", ("bob",)),
        ("2026-03-31", ("cy",)),
        ("2026-04-30", ("ann",)),
    ]


# ----------------------------------------------------------------------------- refusals and edges


@pytest.mark.parametrize("days", [[], [7], [0, 7], [-1]])
def test_a_window_on_a_day_that_is_not_monday_to_sunday_is_refused(days: list[int]) -> None:
    shown = re.escape(repr(sorted(days)))
    with pytest.raises(
        ValueError,
        match=rf"^a window's days are 0 \(Monday\) to 6 \(Sunday\), at least one, got {shown}$",
    ):
        Window(days=days)


@pytest.mark.parametrize("count", [True, 1.0, 2.5, 0, -1])
def test_a_period_counts_whole_units_not_flags_or_fractions(count: object) -> None:
    with pytest.raises(ValueError, match=rf"^a period counts whole units >= 1, got {count!r}$"):
        Period("day", count)  # type: ignore[arg-type]


def test_a_layer_that_stops_applying_when_it_starts_is_refused() -> None:
    at = utc(2026, 1, 6, 10)
    with pytest.raises(ValueError, match=r"^layer 'l' must stop applying after it starts$"):
        daily(["ann"], active_from=at, active_until=at)


def test_a_schedule_without_layers_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^a schedule needs at least one layer$"):
        Schedule(name="s", layers=[])


def test_an_unknown_schedule_is_named_with_the_known_ones() -> None:
    two = Schedules([Schedule(name=n, layers=[daily(["ann"])]) for n in ("a", "b")])
    with pytest.raises(KeyError, match=r"no schedule 'zz' \(known: a, b\)"):
        two.on_call("zz", utc(2026, 1, 6))
    with pytest.raises(KeyError, match=r"no schedule 'zz' \(known: none\)"):
        Schedules().shifts("zz", utc(2026, 1, 6), utc(2026, 1, 7))


def test_an_hourly_rotation_starts_at_its_handoff_on_the_schedules_clock() -> None:
    hourly = daily(["ann", "bob"], period=Period("hour", 2))
    berlin = book(hourly, zone="Europe/Berlin")  # 09:00 in Berlin is 08:00 UTC in January
    assert berlin.on_call("s", utc(2026, 1, 5, 8) - TICK) == ()
    assert berlin.on_call("s", utc(2026, 1, 5, 8)) == ("ann",)
    assert berlin.on_call("s", utc(2026, 1, 5, 10)) == ("bob",)


def test_a_31_day_month_is_one_turn_to_its_last_hour() -> None:
    """January is longer than an average month: its last hours are still the first turn."""
    monthly = daily(["ann", "bob"], period=Period("month"), start=date(2026, 1, 1))
    assert book(monthly).on_call("s", utc(2026, 1, 31, 22)) == ("ann",)
    assert book(monthly).on_call("s", utc(2026, 2, 1, 9)) == ("bob",)


def test_a_skipping_layer_reads_its_turns_and_windows_on_its_own_clock() -> None:
    """Tokyo's Sunday 09:00-12:00 is a turn's first hours; Monday's is the next turn's."""
    tokyo = ZoneInfo("Asia/Tokyo")
    sunday = daily(
        ["ann", "bob", "cy"],
        windows=[Window(days=[SUN], start=time(9), end=time(12))],
        skip_outside_windows=True,
    )
    at = datetime(2026, 1, 11, 10, tzinfo=tokyo)  # the first Sunday of the rotation
    assert book(sunday, zone="Asia/Tokyo").on_call("s", at) == ("ann",)
    assert book(sunday, zone="Asia/Tokyo").on_call("s", at + timedelta(days=7)) == ("bob",)
    monday = attrs.evolve(sunday, windows=[Window(days=[MON], start=time(9), end=time(12))])
    mondays = book(monday, zone="Asia/Tokyo")
    firsts = [datetime(2026, 1, d, 10, tzinfo=tokyo) for d in (5, 12, 19)]
    assert [mondays.on_call("s", at) for at in firsts] == [("ann",), ("bob",), ("cy",)]


def test_window_edges_are_those_from_start_up_to_but_not_at_end() -> None:
    layer = daily(["ann"], windows=[Window(days=[TUE], start=time(10), end=time(12))])
    utc_zone = ZoneInfo("UTC")
    ten, noon = utc(2026, 1, 6, 10), utc(2026, 1, 6, 12)
    assert layer.window_edges(ten, noon, utc_zone) == [ten]
    assert layer.window_edges(ten - H, noon, utc_zone) == [ten]
    assert layer.window_edges(ten + TICK, noon + TICK, utc_zone) == [noon]


def test_changes_lie_strictly_between_start_and_end() -> None:
    nine, next_nine = utc(2026, 1, 6, 9), utc(2026, 1, 7, 9)
    cover = Override(start=nine, end=next_nine, add=("cy",))
    schedule = Schedule(name="s", layers=[daily(["ann", "bob"])], overrides=[cover])
    assert schedule.changes(nine, next_nine) == []  # the override's own ends are not inside
    assert schedule.changes(nine - TICK, next_nine + TICK) == [nine, next_nine]


def test_after_an_edit_the_shifts_follow_the_new_versions_handoffs() -> None:
    first = Schedule(name="s", layers=[daily(["ann", "bob"])])
    edited = attrs.evolve(first, layers=[daily(["cy", "dee"])], effective_from=EDIT)
    shifts = Schedules([first, edited]).shifts("s", utc(2026, 1, 8), utc(2026, 1, 10))
    assert [(s.start, s.people) for s in shifts] == [
        (utc(2026, 1, 8), ("cy",)),  # the turn from Wednesday 09:00, the third: cy's
        (utc(2026, 1, 8, 9), ("dee",)),
        (utc(2026, 1, 9, 9), ("cy",)),
    ]


def test_a_wall_time_read_on_its_second_pass_is_still_its_first_occurrence() -> None:
    chicago = ZoneInfo("America/Chicago")
    # 01:30 as read back from 07:30 UTC (its second pass keeps fold=1): still the first 01:30.
    second_pass = datetime.combine(date(2026, 11, 1), time(1, 30, fold=1))
    assert instant(second_pass, chicago) == utc(2026, 11, 1, 6, 30)


def test_a_handoff_in_the_skipped_hour_is_the_jump_to_the_second() -> None:
    chicago = ZoneInfo("America/Chicago")  # 2026-03-08: 02:00 CST jumps to 03:00 CDT (08:00 UTC)
    for wall in (time(2, 0, 1), time(2, 0, 3), time(2, 30), time(2, 59, 59)):
        assert instant(datetime.combine(date(2026, 3, 8), wall), chicago) == utc(2026, 3, 8, 8)


def test_answers_and_instants_are_utc_whatever_the_hosts_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A host in Chicago (its own DST) changes nothing: not the instants, not who is on call."""

    chicago = ZoneInfo("America/Chicago")
    night = daily(
        ["ann", "bob"],
        start=date(2026, 3, 2),
        windows=[Window(days=[SUN], start=time(2), end=time(2, 30))],
        skip_outside_windows=True,
    )
    paris = ZoneInfo("Europe/Paris")
    with host_zone(monkeypatch, "America/Chicago"):
        plain = instant(datetime.combine(date(2026, 1, 6), time(9)), chicago)
        skipped = instant(datetime.combine(date(2026, 3, 8), time(2, 30)), chicago)
        shifts = book(daily(["ann", "bob"])).shifts(
            "s", datetime(2026, 1, 6, 12, tzinfo=paris), utc(2026, 1, 8)
        )
        # 02:00-02:30 exists in UTC on the night Chicago skips it: the layer's, not the host's.
        sunday = book(night).on_call("s", utc(2026, 3, 8, 2, 15))
    assert (plain, plain.utcoffset()) == (utc(2026, 1, 6, 15), timedelta(0))
    assert (skipped, skipped.utcoffset()) == (utc(2026, 3, 8, 8), timedelta(0))
    assert [s.start.isoformat() for s in shifts] == [
        "2026-01-06T11:00:00+00:00",
        "2026-01-07T09:00:00+00:00",
    ]
    assert sunday == ("ann",)


def test_window_edges_read_the_layers_day_not_the_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A host at UTC+14 is two dates ahead of a layer at UTC-12 late in the layer's day."""

    west = ZoneInfo("Etc/GMT+12")  # UTC-12
    layer = daily(["ann"], windows=[Window(days=[TUE], start=time(23, 30), end=time(23, 45))])
    start = utc(2026, 1, 7, 11)  # Tuesday 23:00 at UTC-12, Thursday 01:00 at UTC+14
    with host_zone(monkeypatch, "Pacific/Kiritimati"):
        edges = layer.window_edges(start, start + H, west)
    assert edges == [utc(2026, 1, 7, 11, 30), utc(2026, 1, 7, 11, 45)]
