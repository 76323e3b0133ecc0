"""The week calendar and the process diagram as SVG: well-formed, escaped, drawn to scale."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from incident_flow._core.process import IN_PLACE, STATES, TRANSITIONS, Step
from incident_flow.console._calendar import build_calendar
from incident_flow.console._calendar_svg import person_colour, week_svg
from incident_flow.console._process_svg import process_svg
from incident_flow.schedules import Layer, Override, Period, Schedule, Schedules

SVG = "{http://www.w3.org/2000/svg}"
CHICAGO = ZoneInfo("America/Chicago")


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 (our own output, parsed to prove it is well-formed)


def book(*overrides: Override, members: tuple[str, ...] = ("alice", "bob")) -> Schedules:
    layer = Layer(
        name="daily <l>",
        members=list(members),
        period=Period("day"),
        handoff=time(2, 30),
        start=date(2027, 1, 4),
    )
    return Schedules(
        [Schedule(name="p&q", timezone="America/Chicago", layers=[layer], overrides=overrides)]
    )


class TestWeek:
    """Seven columns, each as tall as its day; handoffs and DST marked; names escaped."""

    def test_spring_week(self) -> None:
        calendar = build_calendar(book(), "p&q", zone=CHICAGO, anchor=date(2027, 3, 14))
        root = parse(week_svg(calendar))
        assert root.get("aria-label", "").startswith("p&q: 2027-03-08 to 2027-03-14")
        days = [r for r in root.iter(f"{SVG}rect") if r.get("stroke") == "#bbb"]
        heights = [float(r.get("height", "0")) for r in days]
        assert heights[:6] == [24 * 22.0] * 6 and heights[6] == 23 * 22.0
        moved = [g for g in root.iter(f"{SVG}g") if g.get("class") == "handoff moved"]
        assert len(moved) == 1
        tip = moved[0].find(f"{SVG}title").text or ""  # type: ignore[union-attr]
        assert "02:30 does not exist on 2027-03-14" in tip
        labels = [t.text for t in root.iter(f"{SVG}text")]
        assert "daily <l>" in " ".join(x or "" for x in labels)  # the legend, escaped then read

    def test_a_gap_and_an_override_are_drawn_apart(self) -> None:
        ovr = Override(
            start=datetime(2027, 3, 9, 15, tzinfo=UTC),
            end=datetime(2027, 3, 9, 18, tzinfo=UTC),
            replace=["<b>x</b>"],
            by="dana",
            why='"why"',
        )
        calendar = build_calendar(
            book(ovr, members=("alice", "")), "p&q", zone=CHICAGO, anchor=date(2027, 3, 9)
        )
        svg = week_svg(calendar)
        assert "<b>" not in svg and "&lt;b&gt;x&lt;/b&gt;" in svg
        root = parse(svg)
        fills = {r.get("fill") for r in root.iter(f"{SVG}rect")}
        assert "#ffcdd2" in fills and "#eeeeee" in fills  # the gap, the override
        tips = [t.text or "" for t in root.iter(f"{SVG}title")]
        assert any("nobody (a gap)" in t for t in tips)
        assert any('by dana: "why"' in t for t in tips)

    def test_long_names_are_cut(self) -> None:
        calendar = build_calendar(
            book(members=("a-very-long-name-indeed-for-a-column",)),
            "p&q",
            zone=CHICAGO,
            anchor=date(2027, 3, 9),
        )
        texts = [t.text or "" for t in parse(week_svg(calendar)).iter(f"{SVG}text")]
        assert any(t.endswith("…") for t in texts)

    def test_colours(self) -> None:
        assert person_colour(()) == "#ffcdd2"
        assert person_colour(("alice",)) == person_colour(["alice"])
        assert person_colour(("alice",)).startswith("#")


class TestProcess:
    """The machine's steps: next-state arrows, forward arcs above, back arcs below."""

    def test_the_machine(self) -> None:
        root = parse(process_svg(TRANSITIONS, STATES, current="resolved"))
        states = [g for g in root.iter(f"{SVG}g") if g.get("class") == "state"]
        assert len(states) == len(STATES)
        current = [g for g in states if g.find(f"{SVG}rect").get("fill") == "#1565c0"]  # type: ignore[union-attr]
        assert [g.find(f"{SVG}title").text for g in current] == ["resolved"]  # type: ignore[union-attr]
        edges = [
            g.find(f"{SVG}title").text or ""
            for g in root.iter(f"{SVG}g")
            if g.get("class") == "edge"
        ]  # type: ignore[union-attr]
        assert "reopen: resolved -> runbook" in edges and "dismiss: triggered -> closed" in edges
        assert len(root.findall(f".//{SVG}path")) >= 3

    def test_in_place_steps_are_left_out_and_triggers_joined(self) -> None:
        steps = [
            *IN_PLACE,
            Step(trigger="a", sources=("x",), dest="y", rule=""),
            Step(trigger="b", sources=("x",), dest="y", rule=""),
            Step(trigger="a", sources=("x",), dest="y", rule=""),
            Step(trigger="<c>", sources=("y",), dest="x", rule=""),
        ]
        svg = process_svg(
            steps,
            ("x", "y"),
        )
        root = parse(svg)
        edges = [
            g.find(f"{SVG}title").text for g in root.iter(f"{SVG}g") if g.get("class") == "edge"
        ]  # type: ignore[union-attr]
        assert edges == ["a, b: x -> y", "<c>: y -> x"]
        assert "&lt;c&gt;" in svg
