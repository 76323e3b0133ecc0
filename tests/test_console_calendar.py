"""The console's calendar view model: days of their real length, lanes, handoffs, DST notes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incident_flow.console._calendar import (
    ON_CALL,
    OVERRIDES,
    _moved,
    build_calendar,
    period_of,
)
from incident_flow.schedules import Layer, Override, Period, Schedule, Schedules, Shift

CHICAGO = ZoneInfo("America/Chicago")
BERLIN = ZoneInfo("Europe/Berlin")
SPRING = date(2027, 3, 14)  # America/Chicago: 02:00 CST -> 03:00 CDT
AUTUMN = date(2027, 11, 7)  # America/Chicago: 02:00 CDT -> 01:00 CST


def daily(handoff: time = time(2, 30), **extra: object) -> Schedules:
    layer = Layer(
        name="daily",
        members=["alice", "bob"],
        period=Period("day"),
        handoff=handoff,
        start=date(2027, 1, 4),
    )
    return Schedules(
        [Schedule(name="primary", timezone="America/Chicago", layers=[layer], **extra)]
    )  # type: ignore[arg-type]


class TestPeriods:
    """A week is Monday to Sunday; a month view is the whole weeks around its month."""

    def test_week(self) -> None:
        assert period_of(date(2027, 3, 14), "week") == (
            date(2027, 3, 8),
            date(2027, 3, 14),
            date(2027, 3, 8),
            date(2027, 3, 14),
        )

    def test_month(self) -> None:
        first, last, month, month_last = period_of(date(2027, 2, 17), "month")
        assert (month, month_last) == (date(2027, 2, 1), date(2027, 2, 28))
        assert first == date(2027, 2, 1) and first.weekday() == 0
        assert last == date(2027, 2, 28) and last.weekday() == 6

    def test_december_month_reaches_into_january(self) -> None:
        first, last, month, month_last = period_of(date(2027, 12, 31), "month")
        assert (month, month_last) == (date(2027, 12, 1), date(2027, 12, 31))
        assert first == date(2027, 11, 29) and last == date(2028, 1, 2)

    def test_unknown_view(self) -> None:
        with pytest.raises(ValueError, match="a week or a month, not 'year'"):
            period_of(date(2027, 1, 1), "year")


class TestSpringForward:
    """The 23-hour day: no 02:00 mark, and the 02:30 handoff happens when the clocks jump."""

    def setup_method(self) -> None:
        self.calendar = build_calendar(daily(), "primary", zone=CHICAGO, anchor=SPRING)
        self.day = self.calendar.days[-1]

    def test_the_day_is_23_hours_and_says_why(self) -> None:
        assert self.day.day == SPRING
        assert self.day.length == timedelta(hours=23)
        assert self.day.note == "23-hour day: the clocks go forward (UTC-06:00 -> UTC-05:00)"
        assert all(d.length == timedelta(hours=24) and not d.note for d in self.calendar.days[:-1])

    def test_the_skipped_hour_has_no_mark(self) -> None:
        labels = [m.label for m in self.day.hours]
        assert len(labels) == 23
        assert labels[:4] == ["00:00", "01:00", "03:00", "04:00"]
        assert "02:00" not in labels and not any(m.repeated for m in self.day.hours)

    def test_the_handoff_is_at_the_jump_and_says_so(self) -> None:
        (handoff,) = self.day.handoffs
        assert handoff.at == datetime(2027, 3, 14, 8, tzinfo=UTC)
        assert handoff.local_text == "2027-03-14 03:00 CDT"
        assert handoff.before == ("alice",) and handoff.after == ("bob",)
        assert handoff.note == (
            "02:30 does not exist on 2027-03-14 in America/Chicago: the handoff is at 03:00, "
            "when the clocks jump"
        )

    def test_segments_are_placed_by_elapsed_time(self) -> None:
        first, second = self.day.lane(ON_CALL)
        assert (first.from_text, first.to_text) == ("00:00", "03:00")
        assert (second.from_text, second.to_text) == ("03:00", "24:00")
        assert first.top == 0 and first.height == pytest.approx(2 / 23)
        assert second.top == pytest.approx(2 / 23) and second.height == pytest.approx(21 / 23)
        assert first.starts_before and not first.ends_after and not second.ends_after

    def test_ordinary_handoffs_have_no_note(self) -> None:
        assert all(not h.note for h in self.calendar.handoffs[:-1])
        assert len(self.calendar.handoffs) == 7


class TestFallBack:
    """The 25-hour day: 01:00 marked twice, a 01:30 handoff at the first 01:30."""

    def setup_method(self) -> None:
        self.calendar = build_calendar(daily(time(1, 30)), "primary", zone=CHICAGO, anchor=AUTUMN)
        self.day = self.calendar.days[-1]

    def test_the_day_is_25_hours(self) -> None:
        assert self.day.length == timedelta(hours=25)
        assert self.day.note == "25-hour day: the clocks go back (UTC-05:00 -> UTC-06:00)"
        labels = [(m.label, m.repeated) for m in self.day.hours]
        assert labels[:4] == [("00:00", False), ("01:00", False), ("01:00", True), ("02:00", False)]

    def test_the_handoff_takes_the_first_occurrence(self) -> None:
        (handoff,) = self.day.handoffs
        assert handoff.local_text == "2027-11-07 01:30 CDT"
        assert handoff.note == "01:30 happens twice on 2027-11-07 in America/Chicago: the first one"


class TestViewerZone:
    """Days are cut in the viewer's zone, whatever the schedule's."""

    def test_berlin_viewer_of_a_chicago_schedule(self) -> None:
        calendar = build_calendar(daily(time(9)), "primary", zone=BERLIN, anchor=date(2027, 3, 10))
        # Chicago moved on the 14th; Berlin not until the 28th: all days 24 hours here.
        assert all(d.length == timedelta(hours=24) for d in calendar.days)
        # A 09:00 Chicago handoff is 16:00 in Berlin (then 15:00 after Chicago's change).
        texts = [h.local_text for h in calendar.handoffs]
        assert texts[0] == "2027-03-08 16:00 CET" and texts[-1] == "2027-03-14 15:00 CET"
        assert calendar.zone == "Europe/Berlin"

    def test_month_of_berlin_autumn(self) -> None:
        calendar = build_calendar(
            daily(time(9)), "primary", zone=BERLIN, anchor=date(2027, 10, 5), view="month"
        )
        assert len(calendar.days) == 35 and len(calendar.weeks) == 5
        assert [d.day for d in calendar.days if d.note] == [date(2027, 10, 31)]
        assert not calendar.days[0].in_period  # Sep 27, before the month
        assert calendar.previous() == date(2027, 9, 30)
        assert calendar.following() == date(2027, 11, 1)


class TestLanes:
    """Layers, overrides (with who and why) and the recorded shifts each get a lane."""

    def test_layers_and_overrides(self) -> None:
        book = daily(
            time(9),
            overrides=[
                Override(
                    start=datetime(2027, 3, 9, 18, tzinfo=UTC),
                    end=datetime(2027, 3, 10, 2, tzinfo=UTC),
                    replace=["carol"],
                    by="dana",
                    why="<b>dentist</b>",
                )
            ],
        )
        calendar = build_calendar(book, "primary", zone=CHICAGO, anchor=date(2027, 3, 9))
        assert calendar.lanes == (ON_CALL, "daily", OVERRIDES)
        tuesday = calendar.days[1]
        (override,) = tuesday.lane(OVERRIDES)
        assert override.people == ("carol",)
        assert override.note == "instead: carol by dana: <b>dentist</b>"  # escaped by templates
        assert not override.ends_after
        assert (override.from_text, override.to_text) == ("12:00", "20:00")
        assert [s.people for s in tuesday.lane(ON_CALL)] == [
            ("bob",),
            ("alice",),
            ("carol",),
            ("alice",),
        ]
        assert calendar.following() == date(2027, 3, 15) and calendar.previous() == date(2027, 3, 7)

    def test_layer_override_texts(self) -> None:
        book = daily(
            overrides=[
                Override(
                    start=datetime(2027, 3, 9, tzinfo=UTC),
                    end=datetime(2027, 3, 9, 1, tzinfo=UTC),
                    layer="daily",
                    add=["erin"],
                    remove=["alice"],
                ),
                Override(
                    start=datetime(2027, 3, 9, 2, tzinfo=UTC),
                    end=datetime(2027, 3, 9, 3, tzinfo=UTC),
                    replace=[],
                ),
                Override(  # another week: not drawn
                    start=datetime(2027, 4, 9, 2, tzinfo=UTC),
                    end=datetime(2027, 4, 9, 3, tzinfo=UTC),
                    replace=["zed"],
                ),
            ]
        )
        calendar = build_calendar(book, "primary", zone=CHICAGO, anchor=date(2027, 3, 9))
        notes = [s.note for d in calendar.days for s in d.lane(OVERRIDES)]
        assert notes == ["layer daily: adds erin; removes alice", "instead: nobody"]
        gaps = [s for d in calendar.days for s in d.lane(ON_CALL) if s.gap]
        assert len(gaps) == 1 and (gaps[0].from_text, gaps[0].to_text) == ("20:00", "21:00")

    def test_the_flow_s_shift_record_wins(self) -> None:
        start = datetime(2027, 3, 8, 6, tzinfo=UTC)
        record = [Shift("primary", start, start + timedelta(days=7), ("zoe",))]
        calendar = build_calendar(
            daily(), "primary", zone=CHICAGO, anchor=date(2027, 3, 8), shifts=record
        )
        assert calendar.shifts == tuple(record) and not calendar.handoffs
        assert {s.people for d in calendar.days for s in d.lane(ON_CALL)} == {("zoe",)}
        assert calendar.start == start and calendar.end == datetime(2027, 3, 15, 5, tzinfo=UTC)

    def test_versions_each_draw_their_layers(self) -> None:
        old = Layer(name="old", members=["alice"], start=date(2027, 1, 4))
        new = Layer(name="new", members=["bob"], start=date(2027, 1, 4))
        switch = datetime(2027, 3, 10, 12, tzinfo=UTC)
        book = Schedules(
            [
                Schedule(name="primary", timezone="UTC", layers=[old]),
                Schedule(name="primary", timezone="UTC", layers=[new], effective_from=switch),
                Schedule(name="other", timezone="UTC", layers=[new], effective_from=switch),
            ]
        )
        calendar = build_calendar(book, "primary", zone=ZoneInfo("UTC"), anchor=date(2027, 3, 10))
        assert calendar.lanes == (ON_CALL, "old", "new")
        wednesday = calendar.days[2]
        assert [(s.lane, s.to_text) for s in wednesday.segments] == [
            ("on call", "12:00"),
            ("on call", "24:00"),
            ("old", "12:00"),
            ("new", "24:00"),
        ]
        before = build_calendar(book, "other", zone=ZoneInfo("UTC"), anchor=date(2027, 3, 1))
        assert before.lanes == (ON_CALL,) and all(s.gap for s in before.shifts)

    def test_unknown_schedule(self) -> None:
        with pytest.raises(KeyError, match="no schedule 'nope' \\(known: primary\\)"):
            build_calendar(daily(), "nope", zone=CHICAGO, anchor=SPRING)
        with pytest.raises(KeyError, match="known: none"):
            build_calendar(Schedules(), "nope", zone=CHICAGO, anchor=SPRING)

    def test_no_note_before_the_first_version(self) -> None:
        book = daily(effective_from=datetime(2027, 3, 1, tzinfo=UTC))
        assert _moved(book, "primary", datetime(2027, 2, 1, tzinfo=UTC)) == ""

    def test_hourly_layers_never_note_a_move(self) -> None:
        layer = Layer(
            name="hours", members=["a", "b"], period=Period("hour", 12), start=date(2027, 3, 1)
        )
        book = Schedules([Schedule(name="p", timezone="America/Chicago", layers=[layer])])
        calendar = build_calendar(book, "p", zone=CHICAGO, anchor=SPRING)
        assert calendar.handoffs and not any(h.note for h in calendar.handoffs)


ZONES = st.sampled_from(
    ["America/Chicago", "Europe/Berlin", "Australia/Lord_Howe", "America/Santiago", "UTC"]
)


class TestProperties:
    """Whatever the zone and the day, days tile the period and lanes tile their days."""

    @given(
        zone=ZONES,
        anchor=st.dates(min_value=date(2026, 1, 1), max_value=date(2029, 12, 31)),
        view=st.sampled_from(["week", "month"]),
        hour=st.integers(0, 23),
        minute=st.sampled_from([0, 30]),
        unit=st.sampled_from(["day", "week"]),
    )
    def test_tiling(
        self, zone: str, anchor: date, view: str, hour: int, minute: int, unit: str
    ) -> None:
        layer = Layer(
            name="l",
            members=["a", "b", "c"],
            period=Period(unit),
            handoff=time(hour, minute),
            start=date(2025, 12, 29),
        )
        book = Schedules([Schedule(name="s", timezone=zone, layers=[layer])])
        calendar = build_calendar(book, "s", zone=ZoneInfo(zone), anchor=anchor, view=view)
        assert len(calendar.days) % 7 == 0
        assert calendar.first <= anchor <= calendar.last
        for before, after in pairwise(calendar.days):
            assert before.end == after.start and after.day == before.day + timedelta(days=1)
        for day in calendar.days:
            hours = day.length / timedelta(hours=1)
            assert 22 <= hours <= 26
            assert len(day.hours) == int(-(-day.length // timedelta(hours=1)))
            assert [m.offset for m in day.hours] == sorted(m.offset for m in day.hours)
            lane = day.lane(ON_CALL)
            assert lane[0].top == 0 and lane[0].start == day.start and lane[-1].end == day.end
            assert sum(s.height for s in lane) == pytest.approx(1)
            for one, two in pairwise(lane):
                assert one.end == two.start and one.people != two.people
            assert lane[-1].to_text == "24:00"
        # Each handoff sits in exactly one day, and the shift record spans the whole period.
        assert sum(len(d.handoffs) for d in calendar.days) == len(calendar.handoffs)
        assert calendar.shifts[0].start == calendar.start
        assert calendar.shifts[-1].end == calendar.end
