"""The console's charts: the report's own figures per week, drawn as escaped inline SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incident_flow import Alert, IncidentFlow, Policy, RecordingNotifier
from incident_flow._response.report import build_report
from incident_flow.console._charts import (
    Week,
    _nice,
    compliance_chart,
    line_chart,
    weekly,
)
from incident_flow.testing import ManualClock, RecordingPublisher

T0 = datetime(2027, 3, 1, 9, tzinfo=UTC)  # a Monday
SVG = "{http://www.w3.org/2000/svg}"


def lifecycle_flow() -> tuple[IncidentFlow, ManualClock]:
    clock = ManualClock(T0)
    flow = IncidentFlow(
        Policy(postmortem_reviewers=0),
        notifier=RecordingNotifier(),
        pager=RecordingNotifier(),
        publisher=RecordingPublisher(),
        clock=clock,
    )
    return flow, clock


def incident(
    flow: IncidentFlow, clock: ManualClock, severity: str, ack: int, fix: int, key: str
) -> str:
    opened = flow.trigger(
        Alert(
            source="datadog", name="Down", title=f"<b>{key}</b>", severity=severity, dedup_key=key
        )
    )
    clock.advance(ack * 60)
    flow.acknowledge(opened.id, by="alice")
    clock.advance((fix - ack) * 60)
    flow.resolve(opened.id, by="alice")
    return opened.id


def pairs(flow: IncidentFlow) -> list:  # type: ignore[type-arg]
    return [(i, flow.history(i.id)) for i in flow.incidents()]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 (our own output, parsed to prove it is well-formed)


class TestWeekly:
    """Each week's figures are build_report's over that week's incidents; empty weeks stay."""

    def test_weeks_match_the_report(self) -> None:
        flow, clock = lifecycle_flow()
        incident(flow, clock, "P1", 2, 10, "a")
        incident(flow, clock, "P1", 4, 20, "b")
        clock.set(T0 + timedelta(days=14))
        incident(flow, clock, "P3", 6, 30, "c")
        weeks = weekly(pairs(flow), ZoneInfo("UTC"))
        assert [w.start for w in weeks] == [date(2027, 3, 1), date(2027, 3, 8), date(2027, 3, 15)]
        assert [w.incidents for w in weeks] == [2, 0, 1]
        first_week = [p for p in pairs(flow) if p[0].created_at < T0 + timedelta(days=7)]
        assert weeks[0].by_severity == build_report(first_week).by_severity
        assert weeks[1].by_severity == {}
        assert weeks[2].by_severity["P3"]["mttr_minutes"] == 30.0
        assert weeks[0].compliance is None and weeks[0].required == 0

    def test_weeks_are_cut_in_the_viewer_zone(self) -> None:
        flow, clock = lifecycle_flow()
        clock.set(datetime(2027, 3, 8, 2, tzinfo=UTC))  # Monday 02:00 UTC: Sunday in Chicago
        incident(flow, clock, "P2", 1, 2, "a")
        (utc,) = weekly(pairs(flow), ZoneInfo("UTC"))
        (chicago,) = weekly(pairs(flow), ZoneInfo("America/Chicago"))
        assert utc.start == date(2027, 3, 8) and chicago.start == date(2027, 3, 1)

    def test_a_given_range_and_none(self) -> None:
        assert weekly([], ZoneInfo("UTC")) == ()
        weeks = weekly([], ZoneInfo("UTC"), first=date(2027, 3, 3), last=date(2027, 3, 20))
        assert [w.start.day for w in weeks] == [1, 8, 15] and not any(w.incidents for w in weeks)

    def test_compliance_counts_closed_required_ones(self) -> None:
        flow, clock = lifecycle_flow()
        done = incident(flow, clock, "P1", 1, 5, "a")
        flow.start_postmortem(done, author="alice")
        flow.amend_postmortem(done, by="alice", impact="i", root_cause="r")
        flow.submit_postmortem(done, by="alice")
        flow.waive_action_item(done, "AI-1", by="alice", reason="test")
        flow.close(done, by="alice")
        week = weekly(pairs(flow), ZoneInfo("UTC"))[0]
        assert week.required == 1 and week.noncompliant == () and week.compliance == 1


class TestLineChart:
    """One line per severity, gaps where a week has no figure, tooltips with values."""

    def weeks(self) -> list[Week]:
        row = {"incidents": 1, "open": 0}
        return [
            Week(
                date(2027, 3, 1),
                2,
                {"P1": {**row, "mtta_minutes": 2.0, "mttr_minutes": 9.0}},
                0,
                (),
            ),
            Week(date(2027, 3, 8), 0, {}, 0, ()),
            Week(
                date(2027, 3, 15),
                2,
                {
                    "P1": {**row, "mtta_minutes": 3.0, "mttr_minutes": 12.5},
                    "P3": {**row, "mtta_minutes": None, "mttr_minutes": 40.0},
                },
                0,
                (),
            ),
            Week(
                date(2027, 3, 22),
                1,
                {"P1": {**row, "mtta_minutes": 1.0, "mttr_minutes": 4.0}},
                0,
                (),
            ),
        ]

    def test_well_formed_with_a_legend_and_a_broken_line(self) -> None:
        svg = line_chart(self.weeks(), "mttr_minutes")
        root = parse(svg)
        assert (
            root.get("role") == "img"
            and root.get("aria-label") == "MTTR (min) per week and severity"
        )
        lines = root.findall(f"{SVG}polyline")
        assert len(lines) == 1  # P1: weeks 3-4 joined; week 1 alone (week 2 breaks it)
        circles = root.findall(f"{SVG}circle")
        tips = [c.find(f"{SVG}title").text for c in circles]  # type: ignore[union-attr]
        assert (
            "P1, week of 2027-03-15: 12.5 min" in tips and "P3, week of 2027-03-15: 40 min" in tips
        )
        assert len(circles) == 4
        legend = [t.text for t in root.findall(f"{SVG}text")]
        assert "P1" in legend and "P3" in legend and "Mar 01" in legend and "50" in legend

    def test_mtta_skips_missing_values(self) -> None:
        root = parse(line_chart(self.weeks(), "mtta_minutes", title="acks"))
        assert root.get("aria-label") == "acks" and len(root.findall(f"{SVG}circle")) == 3

    def test_nothing_to_draw(self) -> None:
        root = parse(line_chart([Week(date(2027, 3, 1), 0, {}, 0, ())], "mtta_minutes"))
        assert "No MTTA yet" in "".join(root.itertext())

    def test_unknown_metric(self) -> None:
        with pytest.raises(ValueError, match="not 'open'"):
            line_chart(self.weeks(), "open")

    def test_one_week_and_an_unknown_severity_escaped(self) -> None:
        weeks = [Week(date(2027, 3, 1), 1, {'<x&"y>': {"mttr_minutes": 0.0}}, 0, ())]
        svg = line_chart(weeks, "mttr_minutes", title="<script>alert(1)</script>")
        root = parse(svg)
        assert "<script>" not in svg and "&lt;script&gt;" in svg
        assert '<x&"y>' in [t.text for t in root.findall(f"{SVG}text")]
        (circle,) = root.findall(f"{SVG}circle")
        assert float(circle.get("cx")) == pytest.approx(56 + (640 - 56 - 90) / 2)  # type: ignore[arg-type]

    def test_many_weeks_label_about_eight(self) -> None:
        weeks = [
            Week(
                date(2027, 1, 4) + timedelta(weeks=n), 1, {"P2": {"mttr_minutes": float(n)}}, 0, ()
            )
            for n in range(30)
        ]
        labels = [
            t
            for t in parse(line_chart(weeks, "mttr_minutes")).findall(f"{SVG}text")
            if t.text and t.text[:3] in {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug"}
        ]
        assert 8 <= len(labels) <= 12


class TestComplianceChart:
    """A bar per week with required post-mortems; n/a where none; the missing ones named."""

    def test_bars(self) -> None:
        weeks = [
            Week(date(2027, 3, 1), 2, {}, 2, ("inc-<1>",)),
            Week(date(2027, 3, 8), 0, {}, 0, ()),
            Week(date(2027, 3, 15), 1, {}, 1, ()),
        ]
        svg = compliance_chart(weeks)
        root = parse(svg)
        rects = root.findall(f"{SVG}rect")
        assert [r.get("fill") for r in rects] == ["#c62828", "#2e7d32"]
        tip = rects[0].find(f"{SVG}title").text  # type: ignore[union-attr]
        assert tip == "week of 2027-03-01: 1 of 2 required post-mortems done (missing: inc-<1>)"
        texts = [t.text for t in root.findall(f"{SVG}text")]
        assert "1/2" in texts and "1/1" in texts and "n/a" in texts and "100%" in texts
        assert "inc-&lt;1&gt;" in svg

    def test_none_required(self) -> None:
        svg = compliance_chart([Week(date(2027, 3, 1), 1, {}, 0, ())], title="PMs")
        assert (
            "No closed incident required a post-mortem" in svg
            and parse(svg).get("aria-label") == "PMs"
        )


class TestNiceAxis:
    """The axis top is a round number at or above the data, never more than 2.5x it."""

    @given(st.floats(min_value=0.01, max_value=1e7))
    def test_nice(self, top: float) -> None:
        nice = _nice(top)
        assert top <= nice <= max(2.5 * top, 1)


_VALUE = st.one_of(st.none(), st.floats(min_value=0, max_value=1e6, allow_nan=False))


@st.composite
def weeks_of(draw: st.DrawFn) -> list[Week]:
    count = draw(st.integers(1, 60))
    out = []
    for n in range(count):
        rows = {
            s: {"mtta_minutes": draw(_VALUE), "mttr_minutes": draw(_VALUE)}
            for s in draw(st.sets(st.sampled_from(["P1", "P2", "P3", "P4", "P5", "<x>"])))
        }
        required = draw(st.integers(0, 5))
        missing = tuple(f"inc-{i}" for i in range(draw(st.integers(0, required))))
        out.append(Week(date(2027, 1, 4) + timedelta(weeks=n), len(rows), rows, required, missing))
    return out


class TestChartProperties:
    """Whatever the figures, the SVG is well-formed, one point per figure, inside its box."""

    @given(weeks_of(), st.sampled_from(["mtta_minutes", "mttr_minutes"]))
    def test_line_chart(self, weeks: list[Week], metric: str) -> None:
        root = parse(line_chart(weeks, metric))
        known = sum(1 for w in weeks for r in w.by_severity.values() if r[metric] is not None)
        circles = root.findall(f"{SVG}circle")
        assert len(circles) == known
        width, height = (float(v) for v in root.get("viewBox", "").split()[2:])
        for circle in circles:
            assert 0 <= float(circle.get("cx", "-1")) <= width
            assert 0 <= float(circle.get("cy", "-1")) <= height

    @given(weeks_of())
    def test_compliance_chart(self, weeks: list[Week]) -> None:
        root = parse(compliance_chart(weeks))
        bars = root.findall(f"{SVG}rect")
        assert len(bars) == sum(1 for w in weeks if w.required)
        for bar in bars:
            assert float(bar.get("height", "-1")) >= 0
