"""Importers: vendors' schedules and escalations compared with what the vendors themselves say.

Fixtures and their origins: tests/samples/README.md ("Imports").
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incident_flow import Alert, InvalidPolicy, Person, Policy, Route, Team
from incident_flow._core.people import People
from incident_flow.importers import (
    InvalidExport,
    import_grafana_oncall,
    import_opsgenie,
    import_pagerduty,
    import_vendor,
)
from incident_flow.schedules import Schedules

SAMPLES = Path(__file__).parent / "samples" / "imports"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def round_trip(imported: Any) -> Schedules:
    """The imported schedules, read back from the policy TOML written for them."""
    policy = Policy.from_text(imported.policy_toml())
    assert policy.schedules == Schedules(imported.schedules)
    return policy.schedules


# ------------------------------------------------------------------------------------ Opsgenie


@pytest.mark.parametrize(
    ("recorded", "at"),
    [
        ("dxw_on_calls_2019-10-15T10Z.json", datetime(2019, 10, 15, 10, tzinfo=UTC)),
        ("dxw_on_calls_2019-10-25T10Z.json", datetime(2019, 10, 25, 10, tzinfo=UTC)),
    ],
)
def test_opsgenie_real_schedule_answers_as_opsgenie_answered(recorded: str, at: datetime) -> None:
    """dxw's recorded schedule (6 rotations, restrictions, end dates) and Opsgenie's on-calls."""
    imported = import_opsgenie([sample("dxw_get_schedule_first_line.json")])
    book = round_trip(imported)
    answer = sample(recorded)["data"]["onCallParticipants"]
    expected = sorted(p["name"].split("@")[0] for p in answer)
    assert sorted(book.on_call("first_line", at)) == expected
    assert [f.where for f in imported.findings] == ['schedules[0] "first_line".ownerTeam']


def _wall_turn(local: datetime, anchor: datetime, days: int) -> int:
    """The turn of a rotation handing off at the anchor's wall time every ``days`` (reference)."""
    elapsed = (local.date() - anchor.date()).days - (local.time() < anchor.time())
    return elapsed // days


def test_opsgenie_a_year_with_two_dst_changes_keeps_local_handoffs() -> None:
    """Weekly turns at 09:00 Berlin and a weekday night restriction, checked every 30 minutes."""
    rotation = {
        "id": "r1",
        "name": "nights",
        "startDate": "2026-01-05T08:00:00Z",
        "type": "weekly",
        "length": 1,
        "participants": [
            {"type": "user", "id": "u1", "username": "alice@example.com"},
            {"type": "none"},
            {"type": "user", "id": "u2", "username": "bob@example.com"},
        ],
        "timeRestriction": {
            "type": "weekday-and-time-of-day",
            "restrictions": [
                {
                    "startDay": "friday",
                    "startHour": 18,
                    "startMin": 0,
                    "endDay": "monday",
                    "endHour": 10,
                    "endMin": 0,
                },
            ],
        },
    }
    schedule = {"id": "s", "name": "ops", "timezone": "Europe/Berlin", "rotations": [rotation]}
    book = round_trip(import_opsgenie([{"data": schedule}]))
    zone, anchor = ZoneInfo("Europe/Berlin"), datetime(2026, 1, 5, 9)  # noqa: DTZ001 - wall time
    slots = [("alice",), (), ("bob",)]
    at = datetime(2026, 1, 1, tzinfo=UTC)
    while at < datetime(2027, 1, 1, tzinfo=UTC):
        local = at.astimezone(zone).replace(tzinfo=None)
        minutes = local.weekday() * 1440 + local.hour * 60 + local.minute
        weekend = minutes >= 4 * 1440 + 18 * 60 or minutes < 10 * 60
        want = slots[_wall_turn(local, anchor, 7) % 3] if local >= anchor and weekend else ()
        assert book.on_call("ops", at) == want, at
        at += timedelta(minutes=30)


def test_opsgenie_escalation_delays_from_creation_become_waits_between_levels() -> None:
    escalation = {
        "id": "e",
        "name": "Checkout",
        "ownerTeam": {"id": "t", "name": "payments"},
        "rules": [
            {
                "condition": "if-not-acked",
                "notifyType": "next",
                "delay": {"timeAmount": 15},
                "recipient": {"type": "schedule", "id": "s", "name": "ops"},
            },
            {
                "condition": "if-not-closed",
                "notifyType": "default",
                "delay": {"timeAmount": 1, "timeUnit": "minutes"},
                "recipient": {"type": "schedule", "id": "s", "name": "ops"},
            },
            {
                "notifyType": "default",
                "delay": {"timeAmount": 1},
                "recipient": {"type": "user", "id": "u9", "username": "ic@example.com"},
            },
            {
                "notifyType": "admins",
                "delay": {"timeAmount": 30},
                "recipient": {"type": "team", "id": "t", "name": "payments"},
            },
        ],
        "repeat": {"waitInterval": 10, "count": 1, "resetRecipientStates": True},
    }
    schedule = {
        "id": "s",
        "name": "ops",
        "timezone": "UTC",
        "rotations": [
            {
                "id": "r",
                "name": "r",
                "startDate": "2026-01-05T09:00:00Z",
                "type": "daily",
                "participants": [{"type": "team", "id": "t", "name": "payments"}],
            }
        ],
    }
    team = {
        "id": "t",
        "name": "payments",
        "members": [
            {"user": {"id": "u1", "username": "alice@example.com"}, "role": "admin"},
            {"user": {"id": "u2", "username": "bob@example.com"}, "role": "user"},
        ],
    }
    imported = import_opsgenie([{"data": schedule}, {"data": escalation}, {"data": team}])
    levels = [(lv.targets, lv.wait) for lv in imported.escalation]
    minutes = timedelta(minutes=1)
    assert levels == [
        (("schedule:ops", "ic"), 14 * minutes),
        (("schedule:ops:next",), 15 * minutes),
        (("alice",), 10 * minutes),  # the repeat: the whole chain once more
        (("schedule:ops", "ic"), 14 * minutes),
        (("schedule:ops:next",), 15 * minutes),
        (("alice",), None),
    ]
    assert Schedules(imported.schedules).on_call("ops", utc("2026-01-06T10:00:00Z")) == (
        "alice",
        "bob",
    )
    reported = {f.where.split(".", 1)[-1] for f in imported.findings}
    assert reported == {
        "rules[1].delay",  # the first level is paged at once, not after a minute
        "rules[1].condition",
        "repeat.resetRecipientStates",
        "ownerTeam",
        'rotations[0] "r".participants[0]',  # the team's members, on call together
    }
    Policy.from_text(imported.policy_toml())  # and it is a valid policy


def test_opsgenie_overrides_of_the_schedule_and_of_one_rotation() -> None:
    rotations = [
        {
            "id": "r1",
            "name": "day",
            "startDate": "2026-01-05T09:00:00Z",
            "type": "daily",
            "participants": [{"type": "user", "id": "u1", "username": "alice@example.com"}],
        },
        {
            "id": "r2",
            "name": "night",
            "startDate": "2026-01-05T09:00:00Z",
            "type": "daily",
            "participants": [{"type": "user", "id": "u2", "username": "bob@example.com"}],
        },
    ]
    parent = {"id": "s", "name": "ops", "enabled": True}
    overrides = [
        {
            "_parent": parent,
            "alias": "all",
            "user": {"type": "user", "id": "u3", "username": "carol@example.com"},
            "startDate": "2026-01-06T00:00:00Z",
            "endDate": "2026-01-06T06:00:00Z",
            "rotations": [],
        },
        {
            "_parent": parent,
            "alias": "one",
            "user": {"type": "none"},
            "startDate": "2026-01-07T00:00:00Z",
            "endDate": "2026-01-07T06:00:00Z",
            "rotations": [{"id": "r2", "name": "night"}],
        },
    ]
    imported = import_opsgenie(
        [
            {"data": {"id": "s", "name": "ops", "timezone": "UTC", "rotations": rotations}},
            {"data": overrides},
        ]
    )
    book = round_trip(imported)
    assert book.on_call("ops", utc("2026-01-06T01:00:00Z")) == ("carol",)
    assert book.on_call("ops", utc("2026-01-07T01:00:00Z")) == ("alice",)
    assert sorted(book.on_call("ops", utc("2026-01-08T01:00:00Z"))) == ["alice", "bob"]


# ---------------------------------------------------------------------------------- PagerDuty


def test_pagerduty_documented_example_renders_its_final_schedule() -> None:
    """PagerDuty's API reference example: a daily layer restricted to 08:00-17:00 New York."""
    body = sample("pagerduty_get_schedule.json")
    imported = import_pagerduty([body])
    book = round_trip(imported)
    (entry,) = body["schedule"]["final_schedule"]["rendered_schedule_entries"]
    start, end = utc(entry["start"]), utc(entry["end"])
    shifts = book.shifts(
        "Daily Engineering Rotation", start - timedelta(hours=3), end + timedelta(hours=3)
    )
    assert [(s.start, s.end, s.people) for s in shifts] == [
        (start - timedelta(hours=3), start, ()),
        (start, end, ("regina.phalange",)),
        (end, end + timedelta(hours=3), ()),
    ]


def _pd_layer(name: str, users: list[str], **fields: Any) -> dict[str, Any]:
    return {
        "id": name,
        "name": name,
        "start": "2026-01-05T09:00:00+01:00",
        "end": None,
        "rotation_virtual_start": "2026-01-05T09:00:00+01:00",
        "rotation_turn_length_seconds": 604800,
        "restrictions": [],
        "users": [{"user": {"id": u, "type": "user_reference", "summary": u}} for u in users],
        **fields,
    }


def test_pagerduty_a_year_with_two_dst_changes() -> None:
    """Layers come last first; Layer 2 (weekdays 09-17) hides Layer 1; turns keep 09:00 local."""
    weekdays = {
        "type": "weekly_restriction",
        "start_day_of_week": 1,
        "start_time_of_day": "09:00:00",
        "duration_seconds": 4 * 86400 + 8 * 3600,
    }
    layer_2 = _pd_layer(
        "Layer 2",
        ["Day1", "Day2"],
        rotation_turn_length_seconds=86400,
        restrictions=[
            {**weekdays, "start_day_of_week": d + 1, "duration_seconds": 8 * 3600} for d in range(5)
        ],
    )
    layer_1 = _pd_layer("Layer 1", ["Wk1", "Wk2", "Wk3"])
    body = {
        "schedule": {
            "id": "P1",
            "name": "ops",
            "time_zone": "Europe/Berlin",
            "schedule_layers": [layer_2, layer_1],
        }
    }
    imported = import_pagerduty([body])
    assert [(layer.name, layer.priority) for layer in imported.schedules[0].layers] == [
        ("Layer 1", 0),
        ("Layer 2", 1),
    ]
    book = round_trip(imported)
    zone, anchor = ZoneInfo("Europe/Berlin"), datetime(2026, 1, 5, 9)  # noqa: DTZ001 - wall time
    at = datetime(2026, 1, 1, tzinfo=UTC)
    while at < datetime(2027, 1, 1, tzinfo=UTC):
        local = at.astimezone(zone).replace(tzinfo=None)
        want: tuple[str, ...] = ()
        if local >= anchor:
            want = (("wk1", "wk2", "wk3")[_wall_turn(local, anchor, 7) % 3],)
            if local.weekday() < 5 and time(9) <= local.time() < time(17):
                want = (("day1", "day2")[_wall_turn(local, anchor, 1) % 2],)
        assert book.on_call("ops", at) == want, at
        at += timedelta(minutes=30)


def test_pagerduty_escalation_loops_are_written_out_and_every_field_is_accounted_for() -> None:
    body = sample("pagerduty_get_schedule.json")
    policy = sample("pagerduty_get_escalation_policy.json")
    other = {"escalation_policy": {**policy["escalation_policy"], "id": "X", "name": "Other"}}
    imported = import_pagerduty(
        [
            policy,
            body,
            other,
            {
                "overrides": [
                    {
                        "id": "O1",
                        "schedule_id": "PI7DH85",
                        "start": "2026-01-05T00:00:00Z",
                        "end": "2026-01-05T06:00:00Z",
                        "user": {"id": "PAM4FGS", "summary": "Kyler Kuhn"},
                    },
                    {
                        "id": "O2",
                        "start": "2026-01-05T00:00:00Z",
                        "end": "2026-01-05T06:00:00Z",
                        "user": {"id": "PAM4FGS"},
                    },
                ]
            },
        ]
    )
    targets = ("kyler.kuhn", "schedule:Daily Engineering Rotation")
    assert [(lv.targets, lv.wait) for lv in imported.escalation] == [
        (targets, timedelta(minutes=30)),
        (targets, timedelta(minutes=30)),
        (targets, None),
    ]  # num_loops 2: three times through the one rule
    book = round_trip(imported)
    assert book.on_call("Daily Engineering Rotation", utc("2026-01-05T01:00:00Z")) == (
        "kyler.kuhn",
    )
    # Two escalation policies: two teams (issue 34), the first the default and the top level.
    assert [t.name for t in imported.teams] == ["another-escalation-policy", "other"]
    assert imported.default_team == "another-escalation-policy"
    assert imported.teams[0].escalation == imported.escalation
    reported = sorted(f.where for f in imported.findings)
    assert reported == [
        'escalation_policies[0] "Another Escalation Policy"',  # the team's name is a slug
        'escalation_policies[0] "Another Escalation Policy".description',
        'escalation_policies[0] "Another Escalation Policy".services',  # no GET /services
        'escalation_policies[0] "Another Escalation Policy".teams',
        'escalation_policies[1] "Other".description',
        'escalation_policies[1] "Other".services',
        'escalation_policies[1] "Other".teams',
        # overrides[1] has no schedule_id, as GET /schedules/{id}/overrides answers: the only
        # schedule of the import is the one it was asked for (issue 28).
        'schedules[0] "Daily Engineering Rotation".description',
        'schedules[0] "Daily Engineering Rotation".teams',
    ]


def test_pagerduty_v3_rotations_of_recurring_events() -> None:
    """The developer docs' v3 example: weekday business hours in Los Angeles."""
    body = sample("pagerduty_v3_get_schedule.json")
    imported = import_pagerduty([body])
    book = round_trip(imported)
    name = "Primary On-Call"
    (computed,) = body["schedule"]["final_schedule"]["computed_shift_assignments"]
    start, end = utc(computed["start_time"]), utc(computed["end_time"])
    assert book.on_call(name, start) == ("puser01",)
    assert book.on_call(name, end - timedelta(minutes=1)) == ("puser01",)
    assert book.on_call(name, end) == ()
    assert book.on_call(name, utc("2026-05-02T18:00:00Z")) == ()  # a Saturday


# ------------------------------------------------------------------------------ Grafana OnCall


def _oncall_case(case: dict[str, Any]) -> tuple[Any, dict[str, str]]:
    groups, used = [], 0
    for size in case["users_per_group"]:
        groups.append(list(LETTERS[used : used + size]))
        used += size
    first = date.fromisoformat(case["shift_start"])
    shift = {
        "id": "O1",
        "name": "rota",
        "type": "rolling_users",
        "time_zone": None,
        "level": 1,
        "start": f"{first}T00:00:00",
        "duration": 12 * 3600,
        "rotation_start": f"{first}T00:00:00",
        "frequency": case["frequency"],
        "interval": case["interval"],
        "by_day": case["by_day"] or None,
        "week_start": "MO",
        "until": f"{first + timedelta(days=case['total_days'])}T00:00:00",
        "rolling_users": groups,
        "start_rotation_from_user_index": 0,
    }
    users = [{"id": x, "username": x, "email": f"{x.lower()}@example.com"} for x in LETTERS]
    schedule = {"id": "S1", "name": "s", "type": "web", "time_zone": "UTC", "shifts": ["O1"]}
    imported = import_grafana_oncall(
        [{"results": [schedule]}, {"results": [shift]}, {"results": users}]
    )
    got = {}
    for offset in range(case["total_days"] + 1):
        day = first + timedelta(days=offset)
        at = datetime.combine(day, time(1), tzinfo=UTC)
        if imported.schedules and (who := Schedules(imported.schedules).on_call("s", at)):
            got[str(day)] = "".join(sorted(w.upper() for w in who))
    return imported, got


CASES = sample("oncall_rolling_users_cases.json")["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["label"] for c in CASES])
def test_grafana_oncall_rolling_users_as_oncall_expects(case: dict[str, Any]) -> None:
    """OnCall's own 24 expected rotations (custom_shift_test_cases.py), day by day."""
    imported, got = _oncall_case(case)
    if case["frequency"] == "monthly":
        # A monthly rotation on chosen weekdays has no layer form: reported, never guessed.
        assert not imported.schedules
        assert "has no layer form" in imported.findings[0].why
    elif case["label"].startswith("21 "):
        # OnCall's `until` quirk: once the rule runs out, the remaining groups get one-off days
        # (D, E, F on consecutive days). The imported layer stops at `until` instead.
        assert got == {k: v for k, v in case["expected"].items() if k <= "2024-10-14"}
    else:
        assert got == case["expected"]


def test_grafana_oncall_a_year_with_two_dst_changes_as_oncall_renders_it() -> None:
    """Two Berlin shifts rendered by OnCall's own code; level 1 hides level 0 where both are."""
    rendered = sample("oncall_berlin_2026_rendered.json")
    base = {
        "team_id": None,
        "schedule": None,
        "type": "rolling_users",
        "time_zone": "Europe/Berlin",
        "start": "2026-01-05T09:00:00",
        "week_start": "MO",
        "rotation_start": "2026-01-05T09:00:00",
        "until": None,
        "by_month": None,
        "by_monthday": None,
        "interval": 1,
    }
    weekly = {
        **base,
        "id": "OWEEKLY",
        "name": "weekly",
        "level": 0,
        "duration": 604800,
        "frequency": "weekly",
        "by_day": None,
        "rolling_users": [["UA"], ["UB"], ["UC"]],
        "start_rotation_from_user_index": 0,
    }
    days = {
        **base,
        "id": "ODAYS",
        "name": "days",
        "level": 1,
        "duration": 8 * 3600,
        "frequency": "daily",
        "by_day": ["MO", "TU", "WE", "TH", "FR"],
        "rolling_users": [["UD"], ["UE"]],
        "start_rotation_from_user_index": 1,
    }
    users = [
        {"id": f"U{n[0].upper()}", "username": n, "email": f"{n}@example.com"}
        for n in ("alice", "bob", "carol", "dan", "erin")
    ]
    schedule = {
        "id": "S",
        "name": "ops",
        "type": "calendar",
        "time_zone": "Europe/Berlin",
        "shifts": ["OWEEKLY", "ODAYS"],
    }
    book = round_trip(
        import_grafana_oncall(
            [{"results": [schedule]}, {"results": [weekly, days]}, {"results": users}]
        )
    )
    events = [
        (utc(s), utc(e), who.removeprefix("[L1] "), who.startswith("[L1]"))
        for shift in rendered.values()
        for s, e, who in shift
    ]
    points = sorted({t for s, e, *_ in events for t in (s, e)})
    for begin, finish in pairwise(points):
        covering = [e for e in events if e[0] <= begin < e[1]]
        top = [who for *_, who, high in covering if high] or [who for *_, who, _ in covering]
        assert book.on_call("ops", begin) == tuple(top), begin
        assert book.on_call("ops", finish - timedelta(seconds=1)) == tuple(top), finish
    assert len(events) == 52 + 259


def test_grafana_oncall_escalation_chain_splits_at_waits_and_reports_the_rest() -> None:
    steps = [
        {"type": "notify_persons", "persons_to_notify": ["UA"], "important": True},
        {"type": "notify_person_next_each_time", "persons_to_notify_next_each_time": ["UB"]},
        {"type": "wait", "duration": 600},
        {"type": "notify_on_call_from_schedule", "notify_on_call_from_schedule": "S"},
        {
            "type": "notify_if_num_alerts_in_window",
            "num_alerts_in_window": 3,
            "num_minutes_in_window": 5,
        },
        {"type": "trigger_webhook", "action_to_trigger": "W1"},
        {"type": "declare_incident", "severity": "critical"},
        {"type": "wait", "duration": 300},
        {"type": "notify_on_call_from_schedule", "notify_on_call_from_schedule": "NOPE"},
        {"type": "notify_persons", "persons_to_notify": ["UB"]},
        {"type": "repeat_escalation"},
        {"type": "resolve"},
    ]
    policies = [
        {"id": f"E{i}", "escalation_chain_id": "F1", "position": i, **s}
        for i, s in enumerate(steps)
    ]
    shift = {
        "id": "O",
        "name": "o",
        "type": "recurrent_event",
        "start": "2026-01-05T00:00:00",
        "duration": 86400,
        "frequency": "daily",
        "users": ["UA"],
        "time_zone": None,
    }
    imported = import_grafana_oncall(
        [
            {
                "results": [
                    {"id": "S", "name": "ops", "type": "web", "time_zone": "UTC", "shifts": ["O"]}
                ]
            },
            {"results": [shift]},
            {
                "results": [
                    {"id": "F1", "name": "main", "team_id": None},
                    {"id": "F2", "name": "other", "team_id": None},
                ]
            },
            {"results": policies},
            {
                "results": [
                    {"id": "UA", "username": "alice", "email": "alice@example.com"},
                    {"id": "UB", "username": "bob", "email": "bob@example.com"},
                ]
            },
        ]
    )
    cycle = [(("alice",), timedelta(minutes=10)), (("schedule:ops",), timedelta(minutes=5))]
    levels = [(lv.targets, lv.wait) for lv in imported.escalation]
    assert levels[:3] == [*cycle, (("bob",), None)]  # the repeat waits the ack timeout
    assert len(levels) == 3 * 6 and levels[-1] == (("bob",), None)
    reported = sorted(f.where.split(".", 1)[-1] for f in imported.findings)
    assert reported == [
        'escalation_chains[1] "other"',  # a policy has one escalation
        "repeat_escalation",
        "steps[0].important",
        "steps[11]",
        "steps[1].type",
        "steps[4].type",
        "steps[5].type",
        "steps[6].type",
        "steps[8].notify_on_call_from_schedule",
    ]


# ------------------------------------------------------------------------ migrated policies


IC = {
    "pagerduty": Person(name="incident commander", pagerduty=["PIC0001"]),
    "opsgenie": Person(name="incident commander", opsgenie=["u-ic"]),
    "grafana-oncall": Person(name="incident commander", email=["ic@example.com"]),
}


@pytest.mark.parametrize("vendor", sorted(IC))
def test_a_migrated_policy_is_the_hand_written_one(vendor: str) -> None:
    """Each vendor's version of tests/test_oncall.py's policy imports to the same schedules."""
    imported = import_vendor(
        vendor,
        sample(f"e2e_{vendor.replace('-', '_')}.json"),
        people=People([IC[vendor]]),
    )
    policy = Policy.from_text(imported.policy_toml())
    assert [(lv.targets, lv.wait) for lv in policy.escalation] == [
        (("schedule:primary",), timedelta(minutes=5)),
        (("schedule:secondary",), timedelta(minutes=5)),
        (("incident commander",), None),
    ]
    at = datetime(2026, 1, 5, 10, tzinfo=UTC)
    assert policy.schedules.on_call("primary", at) == ("alice",)
    assert policy.schedules.on_call("secondary", at + timedelta(weeks=1)) == ("dan",)
    # Nothing of the schedules or the escalation is lost; of OnCall's user records, the
    # fields people do not carry (role, time zone...) are reported.
    assert all(f.where.startswith("users[*].") for f in imported.findings)


def test_bad_exports_are_refused_with_the_field_named() -> None:
    with pytest.raises(InvalidExport, match=r"rotations\[0\] \"r\".type: must be hourly"):
        import_opsgenie(
            [
                {
                    "data": {
                        "name": "s",
                        "timezone": "UTC",
                        "rotations": [
                            {
                                "name": "r",
                                "type": "yearly",
                                "startDate": "2026-01-01T00:00:00Z",
                                "participants": [{"type": "none"}],
                            }
                        ],
                    }
                }
            ]
        )
    with pytest.raises(InvalidExport, match="rotation_virtual_start: must be an ISO 8601"):
        import_pagerduty(
            [
                {
                    "schedule": {
                        "name": "s",
                        "time_zone": "UTC",
                        "schedule_layers": [
                            _pd_layer("L", ["a"], rotation_virtual_start="yesterday")
                        ],
                    }
                }
            ]
        )
    with pytest.raises(InvalidExport, match="time_zone: not an IANA time zone"):
        import_grafana_oncall(
            [{"results": [{"id": "S", "name": "s", "type": "web", "time_zone": "Mars/Olympus"}]}]
        )
    with pytest.raises(InvalidExport, match="no importer for 'victorops'"):
        import_vendor("victorops", [])
    with pytest.raises(InvalidExport, match="document 0: must be a JSON object"):
        import_pagerduty(["not json"])


# ------------------------------------------------------------------------------ command line


def test_the_import_command_writes_a_policy_and_a_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from incident_flow.cli import main

    monkeypatch.chdir(tmp_path)
    existing = tmp_path / "policy.toml"
    existing.write_text('[[people]]\nname = "incident commander"\nopsgenie = ["u-ic"]\n')
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "--policy",
            str(existing),
            "import",
            "opsgenie",
            str(SAMPLES / "e2e_opsgenie.json"),
            "-o",
            "imported.toml",
            "--report",
            "report.md",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "imported 2 schedules, 3 escalation levels, 4 new people" in result.output
    policy = Policy.from_toml(tmp_path / "imported.toml")
    assert policy.escalation[-1].targets == ("incident commander",)
    assert (tmp_path / "report.md").read_text().startswith("# Import report: Opsgenie")
    (tmp_path / "bad.json").write_text(
        '{"data": {"name": "s", "rotations": [{"name": "r", "type": "x"}]}}'
    )
    refused = runner.invoke(main, ["import", "opsgenie", "bad.json"])
    assert refused.exit_code == 5 and "must be hourly, daily or weekly" in refused.output
    (tmp_path / "text.json").write_text("nope")
    assert runner.invoke(main, ["import", "pagerduty", "text.json"]).exit_code == 5
    (tmp_path / "empty.json").write_text("[]")
    bad_pair = runner.invoke(main, ["import", "grafana-oncall", "empty.json", "--calendar", "x"])
    assert bad_pair.exit_code == 5 and "SCHEDULE=FILE.ics" in bad_pair.output


def test_the_report_escapes_what_vendors_wrote() -> None:
    schedule = {
        "id": "s",
        "name": "ops <!here> | *x*",
        "timezone": "UTC",
        "description": "[click](http://evil) # Heading",
        "ownerTeam": {"name": "`t`"},
        "rotations": [
            {
                "id": "r",
                "name": "r",
                "startDate": "2026-01-05T09:00:00Z",
                "type": "daily",
                "participants": [{"type": "user", "id": "u", "username": "x@example.com"}],
            }
        ],
    }
    imported = import_opsgenie([{"data": schedule}])
    report = imported.report()
    assert "\\<!here\\> \\| \\*x\\*" in report and "\\[click\\]" in report
    assert "\n# Heading" not in report and "\\`t\\`" in report
    toml = imported.policy_toml()
    assert Policy.from_text(toml).schedules.names == ("ops <!here> | *x*",)


def test_an_ical_schedule_of_grafana_oncall() -> None:
    """A calendar of weekly events (as OnCall's ical schedules are), levels in the summary."""
    calendar = "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "X-WR-TIMEZONE:Europe/Berlin",
            "BEGIN:VEVENT",
            "SUMMARY:alice",
            "DTSTART;TZID=Europe/Berlin:20260105T090000",
            "DTEND;TZID=Europe/Berlin:20260112T090000",
            "RRULE:FREQ=WEEKLY;INTERVAL=2",
            "END:VEVENT",
            "BEGIN:VEVENT",
            "SUMMARY:bob",
            "DTSTART;TZID=Europe/Berlin:20260112T090000",
            "DTEND;TZID=Europe/Berlin:20260119T090000",
            "RRULE:FREQ=WEEKLY;INTERVAL=2",
            "END:VEVENT",
            "BEGIN:VEVENT",
            "SUMMARY:[L1] carol",
            "DTSTART:20260106T080000Z",
            "DTEND:20260106T160000Z",
            "END:VEVENT",
            "BEGIN:VEVENT",
            "SUMMARY:dan",
            "STATUS:CANCELLED",
            "DTSTART:20260107T080000Z",
            "DTEND:20260107T160000Z",
            "END:VEVENT",
            "BEGIN:VEVENT",
            "SUMMARY:erin",
            "DTSTART:20260108T080000Z",
            "DURATION:PT8H",
            "RRULE:FREQ=MONTHLY;BYMONTHDAY=8",
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
    )
    schedule = {
        "id": "S",
        "name": "ops",
        "type": "ical",
        "ical_url_primary": "https://cal/x.ics",
        "ical_url_overrides": "https://cal/o.ics",
    }
    users = [
        {"id": "UA", "username": "alice", "email": "alice@example.com"},
        {"id": "UB", "username": "bob", "email": "BOB@example.com"},
    ]
    imported = import_grafana_oncall(
        [{"results": [schedule]}, {"results": users}], calendars={"ops": calendar}
    )
    book = round_trip(imported)
    # Every other week each, handing off at 09:00 Berlin before and after the clocks change.
    assert book.on_call("ops", utc("2026-03-30T06:59:00Z")) == ("bob",)  # 08:59 CEST
    assert book.on_call("ops", utc("2026-03-30T07:00:00Z")) == ("alice",)  # 09:00 CEST
    assert book.on_call("ops", utc("2026-01-19T07:59:00Z")) == ("bob",)  # 08:59 CET
    assert book.on_call("ops", utc("2026-01-06T10:00:00Z")) == ("carol",)  # level 1
    assert book.on_call("ops", utc("2026-01-07T10:00:00Z")) == ("alice",)  # dan's is cancelled
    reported = sorted(f.where.split(".", 1)[-1] for f in imported.findings)
    assert reported == [
        "ical_url_overrides",  # no calendar given for it
        "ical_url_primary.events[2]",  # carol is no OnCall user: kept as written
        "ical_url_primary.events[3]",  # erin neither
        "ical_url_primary.events[3]",  # and BYMONTHDAY has no layer form: not imported
    ]


# ------------------------------------------------------------------------- fetched with a token


TOKEN = "u+TESTTOKEN-never-logged"  # noqa: S105 - a test key, checked never to be shown


def _pd_server(
    httpserver: Any,
    v3: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
    services: list[list[dict[str, Any]]] | None = None,
) -> None:
    """Answers like PagerDuty's REST API: pages of 100 with ``more``, the v2 Accept header;
    an account without the newer schedules answers 404 to ``/v3/schedules``; ``overrides``:
    a schedule's ``GET /schedules/{id}/overrides`` answer, by its id (default: none);
    ``services``: the pages of ``GET /services`` (default: one page, none)."""
    if v3 is None:
        httpserver.expect_request("/v3/schedules").respond_with_json(
            {"error": {"message": "Not Found", "code": 2100}}, status=404
        )
    else:
        ident = v3["id"]
        httpserver.expect_request("/v3/schedules").respond_with_json(
            {"schedules": [{"id": ident, "type": "schedule_v3", "name": v3["name"]}], "more": False}
        )
        httpserver.expect_request(f"/v3/schedules/{ident}").respond_with_json({"schedule": v3})
        httpserver.expect_request(f"/v3/schedules/{ident}/custom_shifts").respond_with_json(
            {"custom_shifts": [], "more": False}
        )
        httpserver.expect_request(f"/v3/schedules/{ident}/overrides").respond_with_json(
            {"overrides": [], "more": False}
        )
    pd = sample("e2e_pagerduty.json")
    schedules = [d["schedule"] for d in pd if "schedule" in d]
    auth = {
        "Authorization": f"Token token={TOKEN}",
        "Accept": "application/vnd.pagerduty+json;version=2",
    }
    first = {"limit": "100", "offset": "0", "include[]": "schedule_layers"}
    httpserver.expect_request("/schedules", query_string=first, headers=auth).respond_with_json(
        {"schedules": schedules[:1], "limit": 100, "offset": 0, "more": True}
    )
    httpserver.expect_request(
        "/schedules", query_string={**first, "offset": "100"}, headers=auth
    ).respond_with_json({"schedules": schedules[1:], "limit": 100, "offset": 100, "more": False})
    for schedule in schedules:
        httpserver.expect_request(
            f"/schedules/{schedule['id']}/overrides", headers=auth
        ).respond_with_json((overrides or {}).get(schedule["id"], {"overrides": []}))
    users = next(d["users"] for d in pd if "users" in d)
    httpserver.expect_request("/users", headers=auth).respond_with_json(
        {"users": users, "more": False}
    )
    policy = next(d["escalation_policy"] for d in pd if "escalation_policy" in d)
    httpserver.expect_request("/escalation_policies", headers=auth).respond_with_json(
        {"escalation_policies": [policy], "more": False}
    )
    pages = services or [[]]
    for number, page in enumerate(pages):
        httpserver.expect_request(
            "/services", query_string={"limit": "100", "offset": str(100 * number)}, headers=auth
        ).respond_with_json(
            {
                "services": page,
                "limit": 100,
                "offset": 100 * number,
                "more": number < len(pages) - 1,
            }
        )


def test_fetched_from_pagerduty_with_a_token(httpserver: Any) -> None:
    from incident_flow.importers import fetch

    _pd_server(httpserver)
    documents = fetch(
        "pagerduty", TOKEN, url=httpserver.url_for("/"), now=datetime(2026, 1, 5, tzinfo=UTC)
    )
    imported = import_vendor("pagerduty", documents, people=People([IC["pagerduty"]]))
    assert [s.name for s in imported.schedules] == ["primary", "secondary"]
    assert imported.escalation[-1].targets == ("incident commander",)
    overrides = [r for r, _ in httpserver.log if r.path.endswith("/overrides")]
    assert overrides[0].args["since"] == "2026-01-05T00:00:00+00:00"


def test_fetched_from_opsgenie_with_a_token(httpserver: Any) -> None:
    from incident_flow.importers import fetch

    og = sample("e2e_opsgenie.json")
    auth = {"Authorization": f"GenieKey {TOKEN}"}
    schedules = [d["data"] for d in og if "rotations" in d["data"]]
    httpserver.expect_request("/v2/schedules", headers=auth).respond_with_json(
        {"data": schedules, "paging": {}, "took": 0.1, "requestId": "r"}
    )
    for schedule in schedules:
        httpserver.expect_request(f"/v2/schedules/{schedule['id']}/overrides").respond_with_json(
            {"data": [], "took": 0.1, "requestId": "r"}
        )
    escalation = next(d["data"] for d in og if "rules" in d["data"])
    httpserver.expect_request("/v2/escalations", headers=auth).respond_with_json(
        {"data": [escalation], "took": 0.1, "requestId": "r"}
    )
    httpserver.expect_request("/v2/teams", headers=auth).respond_with_json(
        {"data": [{"id": "t1", "name": "ops"}], "took": 0.1, "requestId": "r"}
    )
    httpserver.expect_request("/v2/teams/t1", headers=auth).respond_with_json(
        {"data": {"id": "t1", "name": "ops", "members": []}, "took": 0.1, "requestId": "r"}
    )
    httpserver.expect_request("/v2/teams/t1/routing-rules", headers=auth).respond_with_json(
        {"data": [], "took": 0.1, "requestId": "r"}
    )
    documents = fetch("opsgenie", TOKEN, url=httpserver.url_for("/"))
    imported = import_vendor("opsgenie", documents, people=People([IC["opsgenie"]]))
    assert [s.name for s in imported.schedules] == ["primary", "secondary"]
    assert [lv.targets for lv in imported.escalation][-1] == ("incident commander",)


def test_fetched_from_grafana_oncall_calendars_without_the_token(httpserver: Any) -> None:
    from incident_flow.importers import fetch

    calendar = "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "BEGIN:VEVENT",
            "SUMMARY:alice",
            "DTSTART:20260105T080000Z",
            "DTEND:20260106T080000Z",
            "RRULE:FREQ=DAILY",
            "END:VEVENT",
            "END:VCALENDAR",
        ]
    )
    other_host = httpserver.url_for("/cal.ics").replace("localhost", "127.0.0.1")
    gf = sample("e2e_grafana_oncall.json")
    schedules = [
        *gf[0]["results"],
        {
            "id": "SICAL",
            "name": "cal",
            "type": "ical",
            "ical_url_primary": other_host,
            "ical_url_overrides": None,
        },
    ]
    auth = {"Authorization": TOKEN}
    paths = ["users", "on_call_shifts", "escalation_chains", "escalation_policies"]
    pages = dict(zip(paths, [gf[2], gf[1], gf[3], gf[4]], strict=True))
    users = pages.pop("users")
    base = httpserver.url_for("/").replace("127.0.0.1", "localhost")
    httpserver.expect_request("/api/v1/users/", query_string="", headers=auth).respond_with_json(
        {**users, "results": users["results"][:2], "next": f"{base}api/v1/users/?page=2"}
    )
    httpserver.expect_request(
        "/api/v1/users/", query_string="page=2", headers=auth
    ).respond_with_json({**users, "results": users["results"][2:], "next": None})
    httpserver.expect_request("/api/v1/schedules/", headers=auth).respond_with_json(
        {**gf[0], "results": schedules}
    )
    for path, page in pages.items():
        httpserver.expect_request(f"/api/v1/{path}/", headers=auth).respond_with_json(page)
    for path in ("integrations", "routes"):
        httpserver.expect_request(f"/api/v1/{path}/", headers=auth).respond_with_json(
            {"results": [], "next": None}
        )
    httpserver.expect_request("/cal.ics").respond_with_data(calendar)
    # The calendar is on another host than the API's (127.0.0.1, not localhost): listed.
    documents = fetch("grafana-oncall", TOKEN, url=base, allowed_hosts=["127.0.0.1"])
    imported = import_vendor("grafana-oncall", documents, people=People([IC["grafana-oncall"]]))
    assert [s.name for s in imported.schedules] == ["primary", "secondary", "cal"]
    assert Schedules(imported.schedules).on_call("cal", utc("2026-02-01T12:00:00Z")) == ("alice",)
    (asked,) = [r for r, _ in httpserver.log if r.path == "/cal.ics"]
    assert "Authorization" not in asked.headers  # the token goes to the API only


def test_a_refused_token_is_a_clear_error_that_never_shows_it(httpserver: Any) -> None:
    from incident_flow import DeliveryError
    from incident_flow.importers import fetch

    httpserver.expect_request("/v2/schedules").respond_with_json(
        {"message": "Could not authenticate", "took": 0.0, "requestId": "r"}, status=401
    )
    with pytest.raises(DeliveryError) as refused:
        fetch("opsgenie", TOKEN, url=httpserver.url_for("/"))
    assert "GET /v2/schedules" in str(refused.value) and "401" in str(refused.value)
    assert TOKEN not in str(refused.value)
    with pytest.raises(InvalidExport, match="give the API's URL"):
        fetch("grafana-oncall", TOKEN)
    with pytest.raises(InvalidExport, match="token has whitespace"):
        fetch("pagerduty", "token with spaces\n")


def test_the_import_command_fetches_with_a_token_and_keeps_what_it_fetched(
    httpserver: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from incident_flow.cli import main

    _pd_server(httpserver)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INCIDENT_FLOW_IMPORT_TOKEN", TOKEN)
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "import",
            "pagerduty",
            "--url",
            httpserver.url_for("/"),
            "--save",
            "fetched.json",
            "-o",
            "policy.toml",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert TOKEN not in result.output
    assert [s.name for s in Policy.from_toml(tmp_path / "policy.toml").schedules.versions] == [
        "primary",
        "secondary",
    ]
    again = import_pagerduty(json.loads((tmp_path / "fetched.json").read_text()))
    assert again.policy_toml() == (tmp_path / "policy.toml").read_text()
    # The key in the environment is not wanted when files are given; one typed is a mistake.
    offline = runner.invoke(main, ["import", "pagerduty", "fetched.json", "-o", "again.toml"])
    assert offline.exit_code == 0, offline.output
    both = runner.invoke(main, ["import", "pagerduty", "fetched.json", "--token", "k"])
    assert both.exit_code == 5 and "not both" in both.output


def test_pagerduty_v3_members_in_turn_custom_shifts_and_rotation_overrides() -> None:
    """Two rotations at once; two shifts each in turn; an override swaps one member for another
    only where that member was on call; a custom shift adds someone."""

    def event(name: str, start: str, end: str, rule: str, **strategy: Any) -> dict[str, Any]:
        return {
            "id": name,
            "type": "schedule_event",
            "name": name,
            "start_time": {"date_time": start, "time_zone": "America/Chicago"},
            "end_time": {"date_time": end, "time_zone": "America/Chicago"},
            "effective_since": "2026-01-05T15:00:00Z",
            "effective_until": None,
            "recurrence": [rule],
            "assignment_strategy": strategy,
        }

    def member(user: str) -> dict[str, str]:
        return {"type": "user_member", "user_id": user}

    days = event(
        "days",
        "2026-01-05T09:00:00-06:00",
        "2026-01-05T17:00:00-06:00",
        "RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
        type="rotating_member_assignment_strategy",
        shifts_per_member=2,
        members=[member("PA"), member("PB"), {"type": "empty_member"}],
    )
    nights = event(
        "days",
        "2026-01-05T17:00:00-06:00",
        "2026-01-06T09:00:00-06:00",
        "RRULE:FREQ=DAILY",
        type="every_member_assignment_strategy",
        members=[member("PC"), member("PD")],
    )
    schedule = {
        "id": "S3",
        "type": "schedule_v3",
        "name": "v3",
        "time_zone": "America/Chicago",
        "rotations": [{"id": "R1", "events": [days]}, {"id": "R2", "events": [nights]}],
        "custom_shifts": [
            {
                "id": "C1",
                "start_time": "2026-01-10T15:00:00Z",
                "end_time": "2026-01-10T18:00:00Z",
                "assignments": [{"member": member("PE")}],
            }
        ],
    }
    swap = {
        "id": "X1",
        "type": "override_shift",
        "rotation_id": "R1",
        "start_time": "2026-01-05T00:00:00Z",
        "end_time": "2026-01-09T00:00:00Z",
        "overridden_member": member("PB"),
        "overriding_member": member("PE"),
    }
    imported = import_pagerduty([{"schedule": schedule}, {"overrides": [swap]}])
    assert [layer.name for layer in imported.schedules[0].layers] == ["days", "days (2)"]
    book = round_trip(imported)
    cst = ZoneInfo("America/Chicago")

    def who(day: int, hour: int) -> tuple[str, ...]:
        return book.on_call("v3", datetime(2026, 1, day, hour, tzinfo=cst))

    assert [who(d, 12) for d in (5, 6, 7, 8, 9, 12, 13)] == [
        ("pa",),
        ("pa",),
        ("pe",),
        ("pe",),
        (),
        (),
        ("pa",),
    ]  # two shifts each, in turn; PB's two swapped to PE; then the empty member's two
    assert who(15, 12) == ("pb",)  # after the override's window
    assert sorted(who(5, 20)) == ["pc", "pd"]  # every member of the night rotation
    assert who(10, 8) == ("pc", "pd")  # Saturday 08:00: Friday's night
    assert who(10, 10) == ("pe",)  # Saturday 10:00: only the custom shift
    assert imported.dropped() == ()


def _objects_in(node: Any, path: tuple[Any, ...] = ()) -> Any:
    if isinstance(node, dict):
        yield path
        for key, value in node.items():
            yield from _objects_in(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _objects_in(value, (*path, index))


@pytest.mark.parametrize("vendor", sorted(IC))
def test_a_field_the_importer_does_not_know_is_reported_wherever_it_is(vendor: str) -> None:
    """Done when: every unmapped field is in the report. A new field is put in each object of
    the vendor's documents in turn (schedules, layers, users, references, rules, steps...);
    each time the report names it. Only the API's envelopes (``took``, ``requestId``, paging)
    are not read: they carry no schedule data."""
    documents = sample(f"e2e_{vendor.replace('-', '_')}.json")
    checked = 0
    for path in _objects_in(documents):
        if len(path) <= 1 or path[-1] in ("data", "results"):
            continue  # a document's envelope
        changed = json.loads(json.dumps(documents))
        node = changed
        for key in path:
            node = node[key]
        node["x_new_field"] = "surprise"
        imported = import_vendor(vendor, changed, people=People([IC[vendor]]))
        named = [f for f in imported.findings if f.where.endswith("x_new_field")]
        assert named, path
        assert named[0].value == "surprise" and named[0].outcome == "dropped"
        assert "x\\_new\\_field" in imported.report()
        checked += 1
    assert checked > 10


# ------------------------------------------------------------------------ the TOML written


_text = (
    st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        min_size=1,
        max_size=12,
    )
    .map(str.strip)
    .filter(bool)
)
_zones = st.sampled_from(["UTC", "Europe/Berlin", "America/Chicago", "Australia/Lord_Howe"])
_instants = st.datetimes(
    min_value=datetime(2025, 1, 1),  # noqa: DTZ001 - Hypothesis bounds are naive
    max_value=datetime(2027, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
).map(lambda d: d.replace(microsecond=0))


@st.composite
def _imported(draw: st.DrawFn) -> Any:
    from incident_flow import EscalationLevel
    from incident_flow.importers import Imported
    from incident_flow.schedules import Layer, Override, Period, Schedule, Window

    people = draw(st.lists(_text, min_size=2, max_size=4, unique=True))
    slot = st.one_of(
        st.sampled_from(people),
        st.just(""),
        st.lists(st.sampled_from(people), min_size=2, max_size=3, unique=True),
    )
    clock = st.times().map(lambda t: t.replace(microsecond=0))
    windows = st.lists(
        st.builds(Window, days=st.sets(st.integers(0, 6), min_size=1), start=clock, end=clock),
        max_size=3,
    )
    layers = []
    for index in range(draw(st.integers(1, 3))):
        start_at = draw(st.one_of(st.none(), _instants))
        layers.append(
            Layer(
                name=f"{draw(_text)} {index}",
                members=draw(st.lists(slot, min_size=1, max_size=4)),
                period=Period(
                    draw(st.sampled_from(["hour", "day", "week", "month"])), draw(st.integers(1, 3))
                ),
                handoff=draw(clock),
                start=draw(st.dates(date(2025, 1, 1), date(2026, 12, 31))),
                start_index=draw(st.integers(0, 5)),
                priority=draw(st.integers(0, 3)),
                windows=draw(windows),
                skip_outside_windows=draw(st.booleans()),
                active_from=start_at,
                active_until=None
                if start_at is None
                else start_at + timedelta(days=draw(st.integers(1, 90))),
                timezone=draw(st.one_of(st.none(), _zones)),
            )
        )
    begin = draw(_instants)
    override = Override(
        start=begin,
        end=begin + timedelta(hours=draw(st.integers(1, 48))),
        layer=draw(st.sampled_from([None, layers[0].name])),
        replace=draw(st.one_of(st.none(), st.lists(st.sampled_from(people), max_size=2))),
        add=draw(st.lists(st.sampled_from(people), max_size=2)),
        by=draw(st.one_of(st.none(), _text)),
        why=draw(st.one_of(st.none(), _text)),
    )
    schedule = Schedule(
        name=draw(_text),
        timezone=draw(_zones),
        layers=layers,
        overrides=[override] if override.replace is not None or override.add else [],
    )
    levels = [
        EscalationLevel(
            (f"schedule:{schedule.name}",), timedelta(minutes=draw(st.integers(1, 90)))
        ),
        EscalationLevel(
            tuple(draw(st.lists(st.sampled_from(people), min_size=1, max_size=2, unique=True)))
        ),
    ]
    # Teams and routes (issue 34): a service's name may read as a matcher ('*', '!x').
    services = draw(
        st.lists(_text | st.sampled_from(["*", "!legacy", "!*", "a=b"]), max_size=3, unique=True)
    )
    teams = (
        Team(name="one", escalation=levels, schedules=[schedule.name]),
        Team(name="two", escalation=levels[1:]),  # all the schedules
    )
    return Imported(
        vendor="Test",
        schedules=(schedule,),
        escalation=tuple(levels),
        teams=teams if services else (),
        routes=tuple(
            Route(team=teams[i % 2].name, match={"service": [name]})
            for i, name in enumerate(services)
        ),
        default_team="two" if services else None,
        people=tuple(
            Person(name=p, email=[f"u{i}@example.com"], opsgenie=[f"id-{i}"])
            for i, p in enumerate(people)
        ),
    )


@settings(max_examples=150, deadline=None)
@given(_imported())
def test_the_policy_toml_reads_back_to_the_same_values(imported: Any) -> None:
    """Any names (quotes, backslashes, newlines, emoji, control characters), times with
    seconds, windows, spans, zones and overrides: written, read back, equal."""
    policy = Policy.from_text(imported.policy_toml())
    assert policy.schedules == Schedules(imported.schedules)
    assert policy.escalation == imported.escalation
    assert tuple(policy.people) == imported.people
    assert (policy.teams, policy.routes) == (imported.teams, imported.routes)
    assert policy.default_team == imported.default_team


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 10**6)
    | st.floats(allow_nan=False)
    | _text
    | st.sampled_from(
        [
            "2026-01-05T09:00:00Z",
            "09:00:00",
            "weekly",
            "RRULE:FREQ=DAILY;BYDAY=XX",
            "FREQ=WEEKLY;INTERVAL=abc",
            "Mars/Olympus",
            "monday",
            "user",
            "none",
        ]
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(vendor=st.sampled_from(sorted(IC)), data=st.data())
def test_any_damaged_export_is_imported_or_refused_clearly(vendor: str, data: Any) -> None:
    """A value anywhere replaced by any JSON: imported, or InvalidExport naming the field."""
    documents = sample(f"e2e_{vendor.replace('-', '_')}.json")
    places = [p for p in _objects_in(documents) if p]
    path = data.draw(st.sampled_from(places))
    node = documents
    for key in path[:-1]:
        node = node[key]
    parent = node[path[-1]]
    key = data.draw(st.sampled_from(sorted(parent))) if parent else None
    if key is not None:
        parent[key] = data.draw(_json)
    try:
        imported = import_vendor(vendor, documents)
    except InvalidExport as refused:
        problem: str | None = str(refused)
    else:
        problem = None
        Policy.from_text(imported.policy_toml())  # what is imported is a valid policy
    assert problem is None or ": " in problem  # a refusal names the field


def test_a_real_google_calendar_of_an_oncall_ical_schedule() -> None:
    """OnCall's own test calendar (a Google Calendar export): 13:00-22:00 daily, Yekaterinburg."""
    text = (SAMPLES / "oncall_calendar_with_recurring_event.ics").read_text()
    schedule = {"id": "S", "name": "ical", "type": "ical", "ical_url_primary": "https://x/y.ics"}
    imported = import_grafana_oncall([{"results": [schedule]}], calendars={"https://x/y.ics": text})
    book = round_trip(imported)
    (layer,) = imported.schedules[0].layers
    assert (layer.handoff, layer.windows[0].end, layer.timezone) == (
        time(13),
        time(22),
        "Asia/Yekaterinburg",
    )
    person = layer.members[0]
    assert book.on_call("ical", utc("2026-06-01T08:00:00Z")) == person  # 13:00 +05
    assert book.on_call("ical", utc("2026-06-01T17:00:00Z")) == ()  # 22:00 +05


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_damaged_calendar_is_imported_or_refused_clearly(data: Any) -> None:
    lines = (SAMPLES / "oncall_calendar_with_recurring_event.ics").read_text().splitlines()
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(0, len(lines) - 1))
        name = lines[index].split(":")[0]
        lines[index] = data.draw(
            st.sampled_from(
                [
                    "",
                    f"{name}:",
                    f"{name}:20261301T250000",
                    f"{name}:FREQ=WEEKLY;BYDAY=ZZ",
                    "DTSTART;TZID=Nowhere/X:20260105T090000",
                    "RRULE:FREQ=DAILY;INTERVAL=0",
                    "BEGIN:VEVENT",
                    "END:VEVENT",
                    "DURATION:P1000000W",
                    "X-WR-TIMEZONE:Mars",
                ]
            )
        )
    schedule = {"id": "S", "name": "c", "type": "ical", "ical_url_primary": "u"}
    try:
        imported = import_grafana_oncall(
            [{"results": [schedule]}], calendars={"c": "\n".join(lines)}
        )
    except InvalidExport as refused:
        problem: str | None = str(refused)
    else:
        problem = None
        Policy.from_text(imported.policy_toml())
    assert problem is None or ": " in problem


def test_grafana_oncall_documented_shifts_single_recurrent_and_overrides() -> None:
    """OnCall's API reference example (a single event; every other week Mon/Wed/Fri 16-19 UTC),
    and an override shift, which beats every level."""
    shifts = sample("oncall_docs_on_call_shifts.json")
    override = {
        "id": "OOVER",
        "name": "swap",
        "type": "override",
        "time_zone": "UTC",
        "start": "2020-09-14T17:00:00",
        "duration": 3600,
        "users": ["UOTHER"],
    }
    monthly = {
        "id": "OMONTH",
        "name": "m",
        "type": "recurrent_event",
        "time_zone": "UTC",
        "start": "2020-09-10T00:00:00",
        "duration": 3600,
        "frequency": "daily",
        "by_month": [1, 2],
        "users": [],
    }
    schedule = {
        "id": "S",
        "name": "demo",
        "type": "web",
        "time_zone": "UTC",
        "shifts": ["OH3V5FYQEYJ6M", "O9WTH7CKM3KZW", "OOVER", "OMONTH"],
    }
    users = [
        {"id": "U4DNY931HHJS5", "username": "alex", "email": "alex@example.com"},
        {"id": "UOTHER", "username": "bo", "email": "bo@example.com"},
    ]
    imported = import_grafana_oncall(
        [{"results": [schedule]}, shifts, {"results": [override, monthly]}, {"results": users}]
    )
    book = round_trip(imported)
    assert book.on_call("demo", utc("2020-09-10T09:00:00Z")) == ("alex",)  # the single event
    assert book.on_call("demo", utc("2020-09-10T12:00:00Z")) == ()
    # The rule starts on Thursday 10th, which counts (iCalendar's DTSTART); then Mon, Wed, Fri
    # of every other week from the week (Sunday to Saturday) it starts in.
    assert book.on_call("demo", utc("2020-09-10T17:00:00Z")) == ("alex",)
    assert book.on_call("demo", utc("2020-09-11T18:59:00Z")) == ("alex",)
    assert book.on_call("demo", utc("2020-09-14T16:30:00Z")) == ()  # an off week...
    assert book.on_call("demo", utc("2020-09-14T17:30:00Z")) == ("bo",)  # ...but the override
    assert book.on_call("demo", utc("2020-09-21T16:30:00Z")) == ("alex",)
    assert book.on_call("demo", utc("2020-09-28T16:30:00Z")) == ()
    reported = sorted(f.where.split(".", 1)[-1] for f in imported.findings)
    assert reported == ['shifts[3] "m".by_month']  # days of months: not imported


REFUSED = [
    (
        "opsgenie",
        {
            "data": {
                "name": "s",
                "rotations": [
                    {
                        "name": "r",
                        "type": "daily",
                        "startDate": "2026-01-05T09:00:00Z",
                        "participants": [{"type": "user"}],
                    }
                ],
            }
        },
        "a user without an id or a username",
    ),
    (
        "opsgenie",
        {
            "data": {
                "name": "s",
                "rotations": [
                    {
                        "name": "r",
                        "type": "daily",
                        "startDate": "2026-01-05T09:00:00Z",
                        "participants": [{"type": "none"}],
                        "timeRestriction": {"type": "sometimes"},
                    }
                ],
            }
        },
        "must be time-of-day or weekday-and-time-of-day",
    ),
    (
        "opsgenie",
        {
            "data": {
                "name": "s",
                "rotations": [
                    {
                        "name": "r",
                        "type": "daily",
                        "startDate": "2026-01-05T09:00:00Z",
                        "participants": [{"type": "none"}],
                        "timeRestriction": {
                            "type": "time-of-day",
                            "restriction": {"startHour": 25, "endHour": 1},
                        },
                    }
                ],
            }
        },
        "not a time of day",
    ),
    (
        "opsgenie",
        {
            "data": {
                "name": "s",
                "rotations": [
                    {
                        "name": "r",
                        "type": "daily",
                        "startDate": "2026-01-05T09:00:00Z",
                        "participants": [{"type": "none"}],
                        "timeRestriction": {
                            "type": "weekday-and-time-of-day",
                            "restrictions": [
                                {
                                    "startDay": "funday",
                                    "startHour": 1,
                                    "endDay": "monday",
                                    "endHour": 2,
                                }
                            ],
                        },
                    }
                ],
            }
        },
        "must be a weekday like 'monday'",
    ),
    (
        "opsgenie",
        {
            "data": {
                "name": "s",
                "rotations": [
                    {
                        "name": "r",
                        "type": "daily",
                        "startDate": "2026-01-05T09:00:00Z",
                        "participants": [],
                    }
                ],
            }
        },
        "a rotation needs at least one participant",
    ),
    (
        "opsgenie",
        {"data": {"name": "s", "timezone": "Mars/Olympus", "rotations": [{}]}},
        "not an IANA time zone",
    ),
    ("opsgenie", {"data": {"name": "s", "rotations": []}}, "list schedules with expand=rotation"),
    (
        "opsgenie",
        {
            "data": {
                "name": "e",
                "rules": [{"recipient": {"type": "user", "id": " "}, "delay": {"timeAmount": 0}}],
            }
        },
        "names nobody",
    ),
    (
        "opsgenie",
        {
            "data": {
                "name": "e",
                "rules": [
                    {"recipient": {"type": "user", "id": "u"}, "delay": {"timeUnit": "fortnights"}}
                ],
            }
        },
        "not a unit of time",
    ),
    (
        "pagerduty",
        {
            "schedule": {
                "name": "s",
                "time_zone": "UTC",
                "schedule_layers": [
                    _pd_layer(
                        "L",
                        ["a"],
                        restrictions=[
                            {
                                "type": "weekly_restriction",
                                "start_day_of_week": 8,
                                "start_time_of_day": "09:00:00",
                                "duration_seconds": 60,
                            }
                        ],
                    )
                ],
            }
        },
        "must be 1 (Monday) to 7 (Sunday)",
    ),
    (
        "pagerduty",
        {
            "schedule": {
                "name": "s",
                "time_zone": "UTC",
                "schedule_layers": [
                    _pd_layer(
                        "L",
                        ["a"],
                        restrictions=[
                            {
                                "type": "monthly_restriction",
                                "start_time_of_day": "09:00:00",
                                "duration_seconds": 60,
                            }
                        ],
                    )
                ],
            }
        },
        "must be daily_restriction or weekly_restriction",
    ),
    (
        "pagerduty",
        {
            "schedule": {
                "name": "s",
                "time_zone": "UTC",
                "schedule_layers": [
                    _pd_layer(
                        "L",
                        ["a"],
                        restrictions=[
                            {
                                "type": "daily_restriction",
                                "start_time_of_day": "25:99",
                                "duration_seconds": 60,
                            }
                        ],
                    )
                ],
            }
        },
        "must be a time like 08:00:00",
    ),
    (
        "pagerduty",
        {"schedule": {"name": "s", "time_zone": "Nowhere", "schedule_layers": []}},
        "not an IANA time zone",
    ),
    (
        "pagerduty",
        {"schedule": {"name": "s", "time_zone": "UTC", "schedule_layers": []}},
        "include[]=schedule_layers",
    ),
    ("pagerduty", {"escalation_policies": [{"name": "a"}]}, "named or with the id 'b'"),
    (
        "grafana-oncall",
        {
            "results": [
                {"id": "S", "name": "s", "type": "web", "shifts": ["O"]},
                {
                    "id": "O",
                    "name": "o",
                    "type": "weird",
                    "duration": 1,
                    "start": "2026-01-05T09:00:00",
                    "users": [],
                },
            ]
        },
        "must be single_event, recurrent_event, rolling_users or override",
    ),
    (
        "grafana-oncall",
        {
            "results": [
                {"id": "S", "name": "s", "type": "web", "shifts": ["O"]},
                {
                    "id": "O",
                    "name": "o",
                    "type": "override",
                    "duration": 1,
                    "start": "yesterday",
                    "users": [],
                },
            ]
        },
        "must be a time like 2026-01-05T09:00:00",
    ),
    (
        "grafana-oncall",
        {
            "results": [
                {"id": "S", "name": "s", "type": "web", "shifts": ["O"]},
                {
                    "id": "O",
                    "name": "o",
                    "type": "override",
                    "duration": 1,
                    "start": "2026-01-05T09:00:00",
                    "users": [],
                    "time_zone": "Nowhere",
                },
            ]
        },
        "not an IANA time zone",
    ),
]


@pytest.mark.parametrize(
    ("vendor", "document", "message"), REFUSED, ids=[f"{v}-{m[:30]}" for v, _, m in REFUSED]
)
def test_exports_that_cannot_be_read_are_refused_naming_the_field(
    vendor: str, document: Any, message: str
) -> None:
    escalation = "b" if "named or with the id" in message else None
    with pytest.raises(InvalidExport, match=re.escape(message)):
        import_vendor(vendor, [document], escalation=escalation)


def test_what_pagerduty_has_that_incident_flow_does_not_is_reported() -> None:
    short_turns = _pd_layer("Short", ["a"], rotation_turn_length_seconds=5400)
    nobody = _pd_layer("Empty", [])
    v3 = {
        "id": "V3",
        "type": "schedule_v3",
        "name": "v3",
        "time_zone": "UTC",
        "rotations": [
            {
                "id": "R",
                "events": [
                    {
                        "name": "monthly",
                        "start_time": {"date_time": "2026-01-05T09:00:00Z"},
                        "end_time": {"date_time": "2026-01-05T10:00:00Z"},
                        "recurrence": ["RRULE:FREQ=MONTHLY;BYMONTHDAY=5"],
                        "assignment_strategy": {
                            "members": [{"type": "user_member", "user_id": "PA"}]
                        },
                    },
                    {
                        "name": "daily",
                        "start_time": {"date_time": "2026-01-05T09:00:00Z"},
                        "end_time": {"date_time": "2026-01-06T09:00:00Z"},
                        "recurrence": [
                            "RRULE:FREQ=DAILY;WKST=MO;UNTIL=20260301T000000Z",
                            "EXDATE:20260107T090000Z",
                        ],
                        "assignment_strategy": {
                            "members": [{"type": "user_member", "user_id": "PA"}]
                        },
                    },
                    {
                        "name": "counted",
                        "start_time": {"date_time": "2026-01-05T09:00:00Z"},
                        "end_time": {"date_time": "2026-01-06T09:00:00Z"},
                        "recurrence": ["RRULE:FREQ=DAILY;COUNT=3"],
                        "assignment_strategy": {
                            "members": [{"type": "user_member", "user_id": "PB"}]
                        },
                    },
                    {
                        "name": "bare",
                        "start_time": {"date_time": "2026-01-05T09:00:00Z"},
                        "end_time": {"date_time": "2026-01-06T09:00:00Z"},
                        "recurrence": [],
                        "assignment_strategy": {"members": []},
                    },
                ],
            }
        ],
    }
    policy = {
        "escalation_policy": {
            "id": "E",
            "name": "e",
            "num_loops": 0,
            "on_call_handoff_notifications": "always",
            "escalation_rules": [
                {
                    "id": "R1",
                    "escalation_delay_in_minutes": 10,
                    "escalation_rule_assignment_strategy": {"type": "round_robin"},
                    "targets": [
                        {"id": "PX", "type": "schedule_reference", "summary": "Elsewhere"},
                        {"id": "T1", "type": "team_reference", "summary": "A team"},
                    ],
                },
                {
                    "id": "R2",
                    "escalation_delay_in_minutes": 10,
                    "targets": [{"id": "PA", "type": "user_reference", "summary": "Ann"}],
                },
            ],
        }
    }
    users = {
        "users": [
            {
                "id": "PA",
                "name": "Ann",
                "email": "ann@example.com",
                "deleted_at": "2026-01-01T00:00:00Z",
                "time_zone": "UTC",
            }
        ]
    }
    swap = {
        "overrides": [
            {
                "rotation_id": "NOPE",
                "schedule_id": None,
                "start_time": "2026-01-05T00:00:00Z",
                "end_time": "2026-01-06T00:00:00Z",
                "overridden_member": {"type": "empty_member"},
                "overriding_member": {"type": "empty_member"},
            }
        ]
    }
    imported = import_pagerduty(
        [
            [
                {
                    "schedule": {
                        "id": "P",
                        "name": "p",
                        "time_zone": "UTC",
                        "schedule_layers": [short_turns, nobody],
                    }
                },
                {"schedule": v3},
            ],
            policy,
            users,
            swap,
            {"unrelated": True},
        ]
    )
    assert [s.name for s in imported.schedules] == ["v3"]
    assert [(lv.targets, lv.wait) for lv in imported.escalation] == [
        (("Elsewhere",), timedelta(minutes=10)),
        (("ann",), None),
    ]
    whys = {f.where: f.why for f in imported.findings}
    rule = 'escalation_policies[0] "e".escalation_rules'
    v3 = 'schedules[1] "v3".rotations[0]'
    assert sorted(whys) == [
        "document 0",  # {"unrelated": true}
        f"{rule}[0].escalation_rule_assignment_strategy",  # round robin: everyone is paged
        f"{rule}[0].targets[0]",  # a schedule not in the import: paged by its name
        f"{rule}[0].targets[1]",  # a team: not a target
        f"{rule}[1].targets[0]",  # Ann is deactivated
        'escalation_policies[0] "e".on_call_handoff_notifications',
        "overrides[0]",  # of a rotation not in the import
        'schedules[0] "p"',  # none of its layers could be imported
        'schedules[0] "p".schedule_layers[0] "Short"',  # 90-minute turns
        'schedules[0] "p".schedule_layers[1] "Empty"',  # nobody in it
        f'{v3}.events[0] "monthly".members[0]',  # Ann is deactivated
        f'{v3}.events[0] "monthly".recurrence',  # BYMONTHDAY: not imported
        f'{v3}.events[1] "daily".members[0]',
        f'{v3}.events[1] "daily".recurrence',  # the EXDATE
        f'{v3}.events[2] "counted".recurrence',  # COUNT: not imported
        f'{v3}.events[3] "bare"',  # no recurrence, no members
        "users[*].time_zone",
    ]
    assert "deactivated" in whys[f"{rule}[1].targets[0]"]
    assert whys[f'{v3}.events[2] "counted".recurrence'].startswith("COUNT=3: ")
    (daily,) = imported.schedules[0].layers
    assert daily.active_until == utc("2026-03-02T00:00:00Z")  # UNTIL, plus the last one's day


def test_fetched_from_pagerduty_with_its_newer_schedules(httpserver: Any) -> None:
    """An upgraded schedule is read from /v3 (with its custom shifts and overrides), not twice."""
    from incident_flow.importers import fetch

    v3 = sample("pagerduty_v3_get_schedule.json")["schedule"]
    _pd_server(httpserver, v3=v3)
    documents = fetch("pagerduty", TOKEN, url=httpserver.url_for("/"))
    imported = import_vendor("pagerduty", documents, people=People([IC["pagerduty"]]))
    assert sorted(s.name for s in imported.schedules) == ["Primary On-Call", "primary", "secondary"]
    asked = [r.path for r, _ in httpserver.log]
    assert "/v3/schedules/PL5FQHC/custom_shifts" in asked


def test_the_token_never_travels_in_clear_nor_to_another_host() -> None:
    from incident_flow.importers import fetch
    from incident_flow.importers._fetch import _Api

    with pytest.raises(InvalidExport, match="must be https://"):
        fetch("grafana-oncall", TOKEN, url="http://oncall.example.com/")

    class Client:
        def request(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("nothing is sent")

    api = _Api(Client(), "https://oncall.example.com/", {"Authorization": TOKEN})  # type: ignore[arg-type]
    for elsewhere in (
        "http://oncall.example.com/api/v1/users/?page=2",
        "https://evil.example.com/api/v1/users/",
    ):
        with pytest.raises(InvalidExport, match="not followed"):
            api.get(elsewhere)


def test_grafana_oncall_a_weekly_nightly_shift_stays_with_the_week_it_began_in() -> None:
    """Nights 20:00-08:00 every day, a group a week (weeks from Monday): Sunday's night ends
    on Monday morning with the same group; the next group starts Monday 20:00."""
    shift = {
        "id": "O",
        "name": "nights",
        "type": "rolling_users",
        "time_zone": "UTC",
        "start": "2026-01-05T20:00:00",
        "duration": 12 * 3600,
        "frequency": "weekly",
        "interval": 1,
        "week_start": "MO",
        "by_day": ["MO", "TU", "WE", "TH", "FR", "SA", "SU"],
        "rolling_users": [["UA"], ["UB"]],
        "start_rotation_from_user_index": 0,
    }
    schedule = {"id": "S", "name": "s", "type": "web", "time_zone": "UTC", "shifts": ["O"]}
    users = [{"id": "UA", "username": "a"}, {"id": "UB", "username": "b"}]
    book = round_trip(
        import_grafana_oncall([{"results": [schedule]}, {"results": [shift]}, {"results": users}])
    )
    assert book.on_call("s", utc("2026-01-12T07:00:00Z")) == ("a",)  # Sunday's night
    assert book.on_call("s", utc("2026-01-12T12:00:00Z")) == ()
    assert book.on_call("s", utc("2026-01-12T20:00:00Z")) == ("b",)
    assert book.on_call("s", utc("2026-01-19T07:59:00Z")) == ("b",)


def test_review_findings_what_else_is_reported_and_what_is_kept_apart() -> None:
    """A wait before anyone is paged, steps after a repeat, a shift of no schedule, a second
    time-of-day window, an override of no schedule: each reported. A person never takes a
    schedule's name (a target ``ops`` would page the schedule)."""
    steps = [
        {"type": "wait", "duration": 900},
        {"type": "notify_persons", "persons_to_notify": ["UO"]},
        {"type": "repeat_escalation"},
        {"type": "resolve"},
        {"type": "wait"},
    ]
    imported = import_grafana_oncall(
        [
            {
                "results": [
                    {"id": "S", "name": "ops", "type": "web", "time_zone": "UTC", "shifts": ["O1"]}
                ]
            },
            {
                "results": [
                    {
                        "id": "O1",
                        "name": "day",
                        "type": "recurrent_event",
                        "start": "2026-01-05T00:00:00",
                        "duration": 86400,
                        "frequency": "daily",
                        "users": ["UO"],
                    },
                    {
                        "id": "O2",
                        "name": "stray",
                        "type": "single_event",
                        "schedule": None,
                        "start": "2026-01-05T00:00:00",
                        "duration": 60,
                        "users": ["UO"],
                    },
                ]
            },
            {"results": [{"id": "UO", "username": "ops", "email": "ops@example.com"}]},
            {"results": [{"id": "F", "name": "chain"}]},
            {
                "results": [
                    {"id": f"E{i}", "escalation_chain_id": "F", "position": i, **step}
                    for i, step in enumerate(steps)
                ]
            },
        ]
    )
    assert [p.name for p in imported.people] == ["ops-2"]
    assert imported.escalation[0].targets == ("ops-2",)
    assert sorted(f.where for f in imported.findings) == [
        'escalation_chains[0] "chain".repeat_escalation',  # after the severity's ack timeout
        'escalation_chains[0] "chain".steps[0]',  # paged at once, not after 15 minutes
        'escalation_chains[0] "chain".steps[3]',
        'escalation_chains[0] "chain".steps[4]',
        "shifts[1]",
    ]
    rotation = {
        "id": "r",
        "name": "r",
        "type": "daily",
        "startDate": "2026-01-05T00:00:00Z",
        "participants": [{"type": "user", "id": "u", "username": "a@example.com"}],
        "timeRestriction": {
            "type": "time-of-day",
            "restrictions": [{"startHour": 9, "endHour": 17}, {"startHour": 20, "endHour": 22}],
        },
    }
    stray = {
        "alias": "lost",
        "user": {"type": "none"},
        "startDate": "2026-01-05T00:00:00Z",
        "endDate": "2026-01-06T00:00:00Z",
    }
    imported = import_opsgenie(
        [
            {"data": {"id": "s", "name": "og", "timezone": "UTC", "rotations": [rotation]}},
            {"data": [stray]},
        ]
    )
    assert sorted(f.where for f in imported.findings) == [
        "overrides[0]",
        'schedules[0] "og".rotations[0] "r".timeRestriction.restrictions[1]',
    ]
    assert round_trip(imported).on_call("og", utc("2026-01-05T10:00:00Z")) == ("a",)


def test_an_oncall_calendar_event_names_its_user_in_its_description_or_attendee() -> None:
    calendar = "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "BEGIN:VEVENT",
            "SUMMARY:",
            "DESCRIPTION:alice",
            "DTSTART:20260105T000000Z",
            "DTEND:20260105T120000Z",
            "END:VEVENT",
            "BEGIN:VEVENT",
            "ATTENDEE:mailto:BOB@example.com",
            "DTSTART:20260106T000000Z",
            "DTEND:20260106T120000Z",
            "END:VEVENT",
            "BEGIN:VEVENT",
            "SUMMARY:carol",
            "DTSTART:20260107T000000Z",
            "DTEND:20260107T000000Z",
            "END:VEVENT",
            "END:VCALENDAR",
        ]
    )
    users = [
        {"id": "UA", "username": "alice", "email": "alice@example.com"},
        {"id": "UB", "username": "bob", "email": "bob@example.com"},
    ]
    imported = import_grafana_oncall(
        [
            {"results": [{"id": "S", "name": "c", "type": "ical", "ical_url_primary": "u"}]},
            {"results": users},
        ],
        calendars={"c": calendar},
    )
    book = round_trip(imported)
    assert book.on_call("c", utc("2026-01-05T06:00:00Z")) == ("alice",)
    assert book.on_call("c", utc("2026-01-06T06:00:00Z")) == ("bob",)
    assert [f.why for f in imported.findings] == [
        "no such OnCall user: kept as the name written",  # carol
        "an event of no length is not imported",
    ]


def test_a_lone_surrogate_in_an_export_is_written_as_a_replacement_character(
    tmp_path: Path,
) -> None:
    """JSON can carry half a UTF-16 pair; the policy and the report still write as UTF-8."""
    documents = json.loads(
        '[{"data": {"id": "s", "name": "ops \\ud800", "timezone": "UTC", "rotations": [{"id":'
        ' "r", "name": "r", "type": "daily", "startDate": "2026-01-05T00:00:00Z",'
        ' "participants": [{"type": "user", "id": "u\\u0000", "username": "a@example.com"}],'
        ' "x": "\\udfff"}]}}]'
    )
    imported = import_opsgenie(documents)
    (tmp_path / "p.toml").write_text(imported.policy_toml(), encoding="utf-8")
    (tmp_path / "r.md").write_text(imported.report(), encoding="utf-8")
    assert Policy.from_toml(tmp_path / "p.toml").schedules.names == ("ops \ufffd",)


def test_a_time_zone_zoneinfo_cannot_even_look_up_is_refused_clearly() -> None:
    """A key too long for a file name makes zoneinfo raise OSError: still a clear refusal."""
    long_zone = "Europe/" + "x" * 300
    with pytest.raises(InvalidExport, match="not an IANA time zone"):
        import_grafana_oncall(
            [{"results": [{"id": "S", "name": "s", "type": "web", "time_zone": long_zone}]}]
        )
    with pytest.raises(InvalidPolicy, match="must be an IANA time zone"):
        Policy.from_text(f'timezone = "{long_zone}"')
    with pytest.raises(InvalidPolicy, match="must be an IANA time zone"):
        Policy.from_text(
            f'[[schedules]]\nname = "s"\ntimezone = "{long_zone}"\n[[schedules.layers]]\n'
            'name = "l"\nmembers = ["a"]\nstart = 2026-01-05\n'
        )


# --------------------------------------------- links in the answers, and paging (issue 26)

CALENDAR = "\r\n".join(
    [
        "BEGIN:VCALENDAR",
        "BEGIN:VEVENT",
        "SUMMARY:alice",
        "DTSTART:20260105T080000Z",
        "DTEND:20260106T080000Z",
        "RRULE:FREQ=DAILY",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
)


def _oncall_server(httpserver: Any, calendars: dict[str, str]) -> str:
    """Grafana OnCall's API on the local server, its schedules ``ical`` ones with these calendar
    URLs (by name); ``/cal.ics`` answers a calendar. Returns the API's URL (on localhost)."""
    auth = {"Authorization": TOKEN}
    schedules = [
        {"id": f"S{i}", "name": name, "type": "ical", "ical_url_primary": url}
        for i, (name, url) in enumerate(calendars.items())
    ]
    httpserver.expect_request("/api/v1/schedules/", headers=auth).respond_with_json(
        {"results": schedules, "next": None}
    )
    for path in (
        "users",
        "on_call_shifts",
        "escalation_chains",
        "escalation_policies",
        "integrations",
        "routes",
    ):
        httpserver.expect_request(f"/api/v1/{path}/", headers=auth).respond_with_json(
            {"results": [], "next": None}
        )
    httpserver.expect_request("/cal.ics").respond_with_data(CALENDAR)
    return str(httpserver.url_for("/")).replace("127.0.0.1", "localhost")


def test_calendar_links_off_the_api_are_reported_not_fetched_nor_saved(
    httpserver: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A calendar over plain HTTP, on a host not listed, or at a private or link-local address
    (even listed) is not fetched: the import reports it (scheme and host only) and goes on."""
    from click.testing import CliRunner

    from incident_flow.cli import main

    own = str(httpserver.url_for("/cal.ics")).replace("127.0.0.1", "localhost")
    same_machine = own.replace("localhost", "127.0.0.1")
    secret = "private-0123456789abcdef"  # noqa: S105 - a calendar's secret path, never shown
    base = _oncall_server(
        httpserver,
        {
            "own": own,  # the API's own origin: fetched (without the token)
            "plain": "http://calendar.example.com/plain.ics",
            "elsewhere": f"https://calendar.example.com/calendar/ical/ops/{secret}/basic.ics",
            "intranet": "https://10.1.2.3/cal.ics",
            "metadata": "https://169.254.169.254/latest/meta-data/",
            "same machine": same_machine,  # loopback, but another host than the API's
        },
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INCIDENT_FLOW_IMPORT_TOKEN", TOKEN)
    result = CliRunner().invoke(
        main,
        [
            "import",
            "grafana-oncall",
            "--url",
            base,
            "--allow-host",
            "10.1.2.3",
            "--allow-host",
            "169.254.169.254",
            "--save",
            "fetched.json",
            "-o",
            "policy.toml",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert [r.path for r, _ in httpserver.log].count("/cal.ics") == 1  # "own" only
    assert Policy.from_toml(tmp_path / "policy.toml").schedules.names == ("own",)
    saved = json.loads((tmp_path / "fetched.json").read_text())
    texts = {d["calendar"]: "text" in d for d in saved if "calendar" in d}
    assert texts == {url: url == own for url in texts}  # nothing refused is saved
    assert len(texts) == 6
    report = (tmp_path / "import-report.md").read_text()
    assert secret not in report and secret not in result.output
    whys = {
        f.where.split('"')[1]: f.why
        for f in import_grafana_oncall(saved).findings
        if f.where.endswith(".ical_url_primary")
    }
    assert "http://calendar.example.com: not an https:// link" in whys["plain"]
    assert "not the API's host: not fetched (--allow-host calendar.example.com" in whys["elsewhere"]
    assert "10.1.2.3, a private address: not fetched" in whys["intranet"]
    assert "169.254.169.254, a link-local address: not fetched" in whys["metadata"]
    assert "--allow-host 127.0.0.1 " in whys["same machine"]
    assert "--calendar NAME=FILE.ics" in whys["metadata"]


def test_a_calendar_on_the_api_s_own_host_or_a_listed_one_is_fetched_without_the_token(
    httpserver: Any,
) -> None:
    from incident_flow.importers import fetch

    base = _oncall_server(
        httpserver,
        {
            "own": str(httpserver.url_for("/cal.ics")).replace("127.0.0.1", "localhost"),
            "listed": str(httpserver.url_for("/cal.ics")).replace("localhost", "127.0.0.1"),
        },
    )
    documents = fetch("grafana-oncall", TOKEN, url=base, allowed_hosts=["127.0.0.1"])
    assert [d["text"] for d in documents if "calendar" in d] == [CALENDAR, CALENDAR]
    asked = [r for r, _ in httpserver.log if r.path == "/cal.ics"]
    assert len(asked) == 2 and not any("Authorization" in r.headers for r in asked)
    imported = import_vendor("grafana-oncall", documents)
    assert [s.name for s in imported.schedules] == ["own", "listed"]


def test_a_listed_calendar_host_whose_name_resolves_to_a_private_address_is_not_fetched(
    httpserver: Any,
) -> None:
    """Every address a name resolves to is checked: one private address is enough to refuse."""
    from incident_flow.importers import fetch

    addresses = {
        "intranet.example.com": ["10.0.0.7"],
        "mixed.example.com": ["93.184.216.34", "192.168.1.5"],
        "mapped.example.com": ["::ffff:10.0.0.8"],
        "cgnat.example.com": ["100.64.0.9"],
    }
    base = _oncall_server(httpserver, {name: f"https://{name}/cal.ics" for name in addresses})
    documents = fetch(
        "grafana-oncall",
        TOKEN,
        url=base,
        allowed_hosts=list(addresses),
        resolver=lambda host: addresses.get(host, []),
    )
    refused = {d["calendar"]: d["refused"] for d in documents if "calendar" in d}
    assert refused == {
        "https://intranet.example.com/cal.ics": "https://intranet.example.com: intranet.example.com"
        " is at 10.0.0.7, a private address: not fetched",
        "https://mixed.example.com/cal.ics": "https://mixed.example.com: mixed.example.com is at "
        "192.168.1.5, a private address: not fetched",
        "https://mapped.example.com/cal.ics": "https://mapped.example.com: mapped.example.com is "
        "at ::ffff:10.0.0.8, a private address: not fetched",
        "https://cgnat.example.com/cal.ics": "https://cgnat.example.com: cgnat.example.com is at "
        "100.64.0.9, a shared (not public) address: not fetched",
    }
    assert not [r for r, _ in httpserver.log if r.path == "/cal.ics"]


def test_links_off_a_public_api_only_over_https_to_listed_hosts_at_public_addresses() -> None:
    """The rules on their own, for an API on a public HTTPS host (the resolver is given)."""
    from incident_flow.importers._links import Links, RefusedLink

    addresses = {
        "cal.example.com": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
        "ten.example.com": ["10.9.8.7"],
        "meta.example.com": ["169.254.169.254"],
        "loop.example.com": ["127.0.0.1"],
        "v6loop.example.com": ["::1"],
        "v6local.example.com": ["fe80::1%eth0"],
    }

    def resolver(host: str) -> list[str]:
        assert host != "oncall.example.com", "the API's own host is not looked up"
        return addresses.get(host, [])

    listed = [*addresses, "127.0.0.1", "10.0.0.1", "169.254.169.254", "nowhere.example.com"]
    links = Links("https://oncall.example.com/", [*listed, "cal.example.com:8443"], resolver)
    for fine in (
        "https://cal.example.com/team/basic.ics",
        "https://CAL.example.com.:8443/x.ics",
        "https://oncall.example.com/api/v1/ical/x.ics",  # the API's own origin
    ):
        links.other(fine)
    refused = {
        "http://cal.example.com/x.ics": "not an https:// link",
        "ftp://cal.example.com/x.ics": "not an https:// link",
        "https://other.example.com/x.ics": "--allow-host other.example.com",
        "https://oncall.example.com:8443/x.ics": "--allow-host oncall.example.com",
        "https://ten.example.com/x.ics": "10.9.8.7, a private address",
        "https://meta.example.com/x.ics": "169.254.169.254, a link-local address",
        "https://loop.example.com/x.ics": "127.0.0.1, a loopback address",
        "https://v6loop.example.com/x.ics": "::1, a loopback address",
        "https://v6local.example.com/x.ics": "fe80::1%eth0, a link-local address",
        "https://127.0.0.1/x.ics": "127.0.0.1, a loopback address",
        "https://10.0.0.1/x.ics": "10.0.0.1, a private address",
        "https://169.254.169.254/latest/meta-data/": "169.254.169.254, a link-local address",
        "https://nowhere.example.com/x.ics": "does not resolve",
        "https://user:s3cret-pass@cal.example.com/x.ics": "a user name or password",
    }
    for url, why in refused.items():
        with pytest.raises(RefusedLink, match=re.escape(why)) as caught:
            links.other(url)
        assert "x.ics" not in str(caught.value) and "s3cret" not in str(caught.value)
    # A page goes to the API's own origin only (the token goes with it), listed or not.
    links.page("https://oncall.example.com/api/v1/users/?page=2")
    for elsewhere in (
        "http://oncall.example.com/api/v1/users/?page=2",
        "https://cal.example.com/api/v1/users/?page=2",
    ):
        with pytest.raises(
            RefusedLink, match=re.escape("not the API's own https://oncall.example.com:443")
        ):
            links.page(elsewhere)
    # An API on this machine (tests): loopback, and plain HTTP to it, but nothing else private.
    local = Links("http://localhost:8080/", ["127.0.0.1", "10.0.0.1"], resolver)
    local.other("http://127.0.0.1:9000/cal.ics")
    with pytest.raises(RefusedLink, match="a private address"):
        local.other("https://10.0.0.1/cal.ics")
    with pytest.raises(RefusedLink, match="not an https:// link"):
        Links("http://localhost:8080/", ["cal.example.com"], resolver).other(
            "http://cal.example.com/x.ics"
        )
    for bad in ("https://cal.example.com", "cal.example.com/x", "", "cal.example.com:port"):
        with pytest.raises(InvalidExport, match="--allow-host takes a host name"):
            Links("https://oncall.example.com/", [bad])


def test_a_next_link_back_to_a_page_read_before_is_an_error_that_says_so(httpserver: Any) -> None:
    from incident_flow.importers import fetch

    base = str(httpserver.url_for("/")).replace("127.0.0.1", "localhost")
    auth = {"Authorization": TOKEN}
    httpserver.expect_request("/api/v1/users/", query_string="", headers=auth).respond_with_json(
        {"results": [], "next": f"{base}api/v1/users/?page=2"}
    )
    httpserver.expect_request(
        "/api/v1/users/", query_string="page=2", headers=auth
    ).respond_with_json({"results": [], "next": f"{base}api/v1/users/"})  # back to page 1
    loops = re.escape(f"GET /api/v1/users/: the API's paging loops ({base}api/v1/users/ was")
    with pytest.raises(InvalidExport, match=loops):
        fetch("grafana-oncall", TOKEN, url=base)
    assert len(httpserver.log) == 2


def test_a_next_link_off_the_api_s_origin_is_an_error_naming_its_host(httpserver: Any) -> None:
    from incident_flow.importers import fetch

    httpserver.expect_request("/api/v1/users/").respond_with_json(
        {"results": [], "next": "https://elsewhere.example.com/api/v1/users/?page=2&k=v"}
    )
    off = re.escape("a page link to https://elsewhere.example.com is not the API's own")
    with pytest.raises(InvalidExport, match=off) as caught:
        fetch(
            "grafana-oncall",
            TOKEN,
            url=httpserver.url_for("/"),
            allowed_hosts=["elsewhere.example.com"],
        )
    assert "k=v" not in str(caught.value) and TOKEN not in str(caught.value)


def test_paging_forever_stops_at_max_pages(httpserver: Any) -> None:
    """OnCall with a new ``next`` each time, Opsgenie's ``paging.next``, PagerDuty's ``more``."""
    from werkzeug import Request, Response

    from incident_flow.importers import fetch

    base = str(httpserver.url_for("/"))

    def next_page(request: Request) -> Response:
        number = int(request.args.get("page", "1")) + 1
        page = {"results": [], "next": f"{base}api/v1/users/?page={number}"}
        return Response(json.dumps(page), content_type="application/json")

    httpserver.expect_request("/api/v1/users/").respond_with_handler(next_page)
    with pytest.raises(InvalidExport, match=r"GET /api/v1/users/: more than 5 pages"):
        fetch("grafana-oncall", TOKEN, url=base, max_pages=5)
    assert len(httpserver.log) == 5

    def more(request: Request) -> Response:
        offset = int(request.args["offset"])
        page = {"schedules": [], "limit": 100, "offset": offset, "more": True}
        return Response(json.dumps(page), content_type="application/json")

    httpserver.clear_log()
    httpserver.expect_request("/schedules").respond_with_handler(more)
    with pytest.raises(InvalidExport, match=r"GET /schedules: more than 7 pages"):
        fetch("pagerduty", TOKEN, url=base, max_pages=7)
    assert [r.args["offset"] for r, _ in httpserver.log] == [str(100 * i) for i in range(7)]
    with pytest.raises(InvalidExport, match="max_pages must be a whole number"):
        fetch("pagerduty", TOKEN, url=base, max_pages=0)


def test_a_page_that_answers_a_page_seen_before_is_a_loop(httpserver: Any) -> None:
    """PagerDuty answering offset 0 whatever is asked; Opsgenie's next link back to offset 0."""
    from incident_flow.importers import fetch

    httpserver.expect_request("/schedules").respond_with_json(
        {"schedules": [], "limit": 100, "offset": 0, "more": True}
    )
    with pytest.raises(InvalidExport, match=r"GET /schedules: the API's paging loops \(offset 0"):
        fetch("pagerduty", TOKEN, url=httpserver.url_for("/"))
    assert len(httpserver.log) == 2
    httpserver.clear_log()
    httpserver.expect_request("/v2/schedules").respond_with_json(
        {
            "data": [{"id": "s", "name": "s", "rotations": []}],
            "paging": {"next": "https://api.opsgenie.com/v2/schedules?limit=100&offset=0"},
        }
    )
    with pytest.raises(InvalidExport, match=r"GET /v2/schedules: the API's paging loops"):
        fetch("opsgenie", TOKEN, url=httpserver.url_for("/"))
    assert len(httpserver.log) == 1


def test_the_import_command_stops_paging_forever_and_saves_nothing(
    httpserver: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``more: true`` forever answer ends at the default bound, an error; nothing is written."""
    from click.testing import CliRunner

    from incident_flow.cli import main
    from incident_flow.importers import _links

    assert _links.MAX_PAGES == 1000
    monkeypatch.setattr(_links, "MAX_PAGES", 30)  # the default, read when fetching (faster)

    _pd_server(httpserver)
    httpserver.clear()
    httpserver.expect_request("/schedules").respond_with_json(
        {"schedules": [], "limit": 100, "more": True}
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INCIDENT_FLOW_IMPORT_TOKEN", TOKEN)
    result = CliRunner().invoke(
        main,
        ["import", "pagerduty", "--url", httpserver.url_for("/"), "--save", "fetched.json"],
    )
    assert result.exit_code == 5, result.output
    assert "GET /schedules: more than 30 pages" in result.output
    assert len(httpserver.log) == 30
    assert not (tmp_path / "fetched.json").exists()
    assert not (tmp_path / "import-report.md").exists()
    refused = CliRunner().invoke(
        main, ["import", "pagerduty", "--url", httpserver.url_for("/"), "--allow-host", "x"]
    )
    assert refused.exit_code == 5 and "--allow-host is for fetching Grafana OnCall" in (
        refused.output
    )


# ------------------------------------------------------------ PagerDuty's time zone (issue 28)


def test_a_pagerduty_schedule_without_a_time_zone_is_refused_or_read_in_the_zone_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read as UTC, a New York schedule's 08:00-17:00 would move by an hour at DST."""
    body = sample("pagerduty_get_schedule.json")
    schedule = {k: v for k, v in body["schedule"].items() if k != "time_zone"}
    users = {
        "users": [
            {
                "id": "PXPGF42",
                "name": "Regina",
                "email": "regina@example.com",
                "time_zone": "America/New_York",
            }
        ]
    }
    where = 'schedules[0] "Daily Engineering Rotation".time_zone'
    with pytest.raises(
        InvalidExport,
        match=re.escape(where) + r": missing.*--time-zone ZONE \(time_zone=\) \(the users' time "
        r"zones: America/New_York\)",
    ):
        import_pagerduty([{"schedule": schedule}, users])
    imported = import_pagerduty([{"schedule": schedule}, users], time_zone="America/New_York")
    assert imported.schedules == import_pagerduty([body, users]).schedules
    book = round_trip(imported)
    for at in ("2026-01-15T21:30:00Z", "2026-07-15T20:30:00Z"):  # 16:30 in New York
        assert book.on_call("Daily Engineering Rotation", utc(at)) == ("regina",)
    assert book.on_call("Daily Engineering Rotation", utc("2026-07-15T21:30:00Z")) == ()
    (finding,) = [f for f in imported.findings if f.where == where]
    assert (finding.value, finding.outcome) == ("America/New_York", "approximated")
    with pytest.raises(InvalidExport, match="time_zone: not an IANA time zone"):
        import_pagerduty([{"schedule": schedule}], time_zone="Mars/Olympus")
    with pytest.raises(InvalidExport, match="for PagerDuty only"):
        import_vendor("opsgenie", [], time_zone="UTC")

    from click.testing import CliRunner

    from incident_flow.cli import main

    (tmp_path / "schedule.json").write_text(json.dumps({"schedule": schedule}))
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    refused = runner.invoke(main, ["import", "pagerduty", "schedule.json"])
    assert refused.exit_code == 5 and "--time-zone" in refused.output
    taken = runner.invoke(
        main,
        [
            "import",
            "pagerduty",
            "schedule.json",
            "--time-zone",
            "America/New_York",
            "-o",
            "policy.toml",
        ],
    )
    assert taken.exit_code == 0, taken.output
    assert 'timezone = "America/New_York"' in (tmp_path / "policy.toml").read_text()
    assert "read in the time zone given" in (tmp_path / "import-report.md").read_text()


# ------------------------------------------------------------- PagerDuty's overrides (issue 28)


def test_pagerduty_overrides_as_the_api_answers_them_belong_to_the_schedule_asked_for() -> None:
    """GET /schedules/{id}/overrides names no schedule: with one schedule it is that one's;
    with several, the caller says whose (by name or id)."""
    body = sample("pagerduty_get_schedule.json")
    answer = sample("pagerduty_list_schedule_overrides.json")
    during = utc("2012-07-01T12:00:00-04:00")
    imported = import_pagerduty([body, answer])
    assert not [f for f in imported.findings if "override" in f.where]
    book = round_trip(imported)
    assert book.on_call("Daily Engineering Rotation", during) == ("aurelio.rice",)
    report = imported.report()
    assert "Read: 1 schedule, 1 override, 0 escalation policies, 0 users." in report
    assert "Imported: 1 schedule (1 layer, 1 override)" in report

    other = {"schedule": {**body["schedule"], "id": "POTHER1", "name": "Other"}}
    loose = import_pagerduty([body, other, answer])
    (finding,) = [f for f in loose.findings if "override" in f.where]
    assert finding.where == "overrides[0]" and "--overrides SCHEDULE=FILE.json" in finding.why
    assert all(not s.overrides for s in loose.schedules)
    for whose in ("Daily Engineering Rotation", "PI7DH85"):
        told = import_vendor("pagerduty", [body, other], overrides={whose: [answer]})
        assert [len(s.overrides) for s in told.schedules] == [1, 0]
        assert "Read: 2 schedules, 1 override," in told.report()
    with pytest.raises(InvalidExport, match=r"overrides given for 'Nope': no such schedule"):
        import_pagerduty([body], overrides={"Nope": [answer]})
    with pytest.raises(InvalidExport, match=r"must be GET /schedules/\{id\}/overrides answers"):
        import_pagerduty([body], overrides={"PI7DH85": [other]})


def test_the_import_command_takes_overrides_by_schedule_and_counts_in_the_singular(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from incident_flow.cli import main

    monkeypatch.chdir(tmp_path)
    body = sample("pagerduty_get_schedule.json")
    (tmp_path / "schedule.json").write_text(json.dumps(body))
    (tmp_path / "other.json").write_text(
        json.dumps({"schedule": {**body["schedule"], "id": "POTHER1", "name": "Other"}})
    )
    (tmp_path / "overrides.json").write_text(
        (SAMPLES / "pagerduty_list_schedule_overrides.json").read_text()
    )
    runner = CliRunner()
    one = runner.invoke(
        main, ["import", "pagerduty", "schedule.json", "overrides.json", "-o", "one.toml"]
    )
    assert one.exit_code == 0, one.output
    assert "imported 1 schedule, 0 escalation levels, 2 new people; " in one.output
    two = runner.invoke(
        main,
        [
            "import",
            "pagerduty",
            "schedule.json",
            "other.json",
            "--overrides",
            "Daily Engineering Rotation=overrides.json",
            "-o",
            "two.toml",
        ],
    )
    assert two.exit_code == 0, two.output
    assert "imported 2 schedules, 0 escalation levels, 2 new people; " in two.output
    policy = Policy.from_toml(tmp_path / "two.toml")
    during = utc("2012-07-01T12:00:00-04:00")
    assert policy.schedules.on_call("Daily Engineering Rotation", during) == ("aurelio.rice",)
    assert policy.schedules.on_call("Other", during) != ("aurelio.rice",)
    bad = runner.invoke(main, ["import", "pagerduty", "schedule.json", "--overrides", "x.json"])
    assert bad.exit_code == 5 and "--overrides takes SCHEDULE=FILE.json" in bad.output


def test_fetched_pagerduty_overrides_are_the_schedule_s_they_were_asked_for(
    httpserver: Any,
) -> None:
    from incident_flow.importers import fetch

    _pd_server(httpserver, overrides={"PPRIMRY": sample("pagerduty_list_schedule_overrides.json")})
    documents = fetch("pagerduty", TOKEN, url=httpserver.url_for("/"))
    imported = import_vendor("pagerduty", documents, people=People([IC["pagerduty"]]))
    assert [len(s.overrides) for s in imported.schedules] == [1, 0]
    during = utc("2012-07-01T12:00:00-04:00")
    assert round_trip(imported).on_call("primary", during) == ("aurelio.rice",)
    assert "Read: 2 schedules, 1 override, 1 escalation policy, " in imported.report()


def test_every_user_s_time_zone_is_in_the_report_not_the_first_one_s() -> None:
    users = [
        {"id": f"P{i}", "name": f"U{i}", "email": f"u{i}@example.com", "time_zone": zone}
        for i, zone in enumerate(["America/New_York", "Europe/London", "America/New_York"])
    ]
    imported = import_pagerduty([{"users": users}])
    (finding,) = imported.findings
    assert finding.where == "users[*].time_zone"
    assert finding.value == "2 values: America/New_York, Europe/London"
    assert "Europe/London" in imported.report()


def test_a_calendar_that_redirects_is_not_followed(httpserver: Any) -> None:
    """A redirect would take the fetch past the link checks (to a metadata address, say)."""
    from incident_flow import DeliveryError
    from incident_flow.importers import fetch

    own = str(httpserver.url_for("/moved.ics")).replace("127.0.0.1", "localhost")
    base = _oncall_server(httpserver, {"moved": own})
    httpserver.expect_request("/moved.ics").respond_with_data(
        "", status=302, headers={"Location": "http://169.254.169.254/latest/meta-data/"}
    )
    with pytest.raises(DeliveryError, match="HTTP 302"):
        fetch("grafana-oncall", TOKEN, url=base)
    assert [r.path for r, _ in httpserver.log][-1] == "/moved.ics"


# ------------------------------------------------------------ organisations (issue 34)

ORG = "pagerduty_org_three_services.json"
MONDAY = utc("2026-01-05T10:00:00Z")  # the first week: alice, carol, erin on call


def _service_alert(service: str | None = None) -> Alert:
    labels = {"service": service} if service is not None else {}
    return Alert(source="datadog", name="HighLatency", title="HighLatency", labels=labels)


def test_pagerduty_services_route_to_the_team_of_their_escalation_policy() -> None:
    """Three services over three escalation policies: three teams, each paging its own."""
    imported = import_pagerduty(sample(ORG))
    assert [t.name for t in imported.teams] == ["checkout", "search-discovery", "platform-infra"]
    assert [(r.describe()) for r in imported.routes] == [
        "service=checkout-api -> checkout",
        "service=search-api -> search-discovery",
        "service=platform-db -> platform-infra",
    ]
    assert imported.default_team == "checkout"  # the first policy, without --escalation
    policy = Policy.from_text(imported.policy_toml())
    assert (policy.teams, policy.routes, policy.default_team) == (
        imported.teams,
        imported.routes,
        imported.default_team,
    )
    people = {
        "checkout-api": ("checkout", "alice", "bob"),
        "search-api": ("search-discovery", "carol", "dan"),
        "platform-db": ("platform-infra", "erin", "frank"),
    }
    for service, (team, first, second) in people.items():
        assert policy.team_for(_service_alert(service)).name == team
        view = policy.for_team(team)
        assert view.page_targets(0, MONDAY) == ((first,), ())
        assert view.page_targets(0, MONDAY + timedelta(weeks=1)) == ((second,), ())
        assert len(view.schedules.names) == 1  # only the schedule its rules page
    assert policy.for_team("checkout").escalation_targets(1) == ("ic",)
    assert policy.team_for(_service_alert("billing")).name == "checkout"  # no route: default
    assert policy.team_for(_service_alert()).name == "checkout"
    # What a route cannot carry is reported, service by service.
    reported = {f.where.rsplit(".", 1)[-1] for f in imported.findings if "services[1]" in f.where}
    assert reported == {
        "teams",
        "integrations",
        "support_hours",
        "scheduled_actions",
        "incident_urgency_rule",
        "acknowledgement_timeout",
        "auto_resolve_timeout",
    }
    report = imported.report()
    assert "3 teams, 3 routes" in report
    assert "- route service=search-api -\\> search-discovery" in report


def test_escalation_names_the_default_team_and_the_top_level_chain() -> None:
    """``--escalation`` keeps choosing the policy's own chain, now also the default team."""
    imported = import_pagerduty(sample(ORG), escalation="Search & Discovery")
    assert imported.default_team == "search-discovery"
    assert imported.escalation == imported.teams[1].escalation
    policy = Policy.from_text(imported.policy_toml())
    assert policy.team_for(_service_alert("billing")).name == "search-discovery"
    assert policy.team_for(_service_alert("checkout-api")).name == "checkout"
    with pytest.raises(InvalidExport, match="named or with the id 'Nope'"):
        import_pagerduty(sample(ORG), escalation="Nope")


def test_one_escalation_policy_and_no_services_is_still_one_team() -> None:
    documents = [d for d in sample(ORG) if "services" not in d]
    documents[-1] = {"escalation_policies": documents[-1]["escalation_policies"][:1]}
    imported = import_pagerduty(documents)
    assert (imported.teams, imported.routes, imported.default_team) == ((), (), None)
    assert "[[teams]]" not in imported.policy_toml()
    assert "Teams and routes" not in imported.report()


def test_a_service_of_no_or_an_unknown_escalation_policy_is_reported_not_routed() -> None:
    documents = sample(ORG)
    services = documents[-1]["services"]
    unknown = {**services[0], "id": "PX1", "name": "ghost"}
    unknown["escalation_policy"] = {"id": "PNOPE", "type": "escalation_policy_reference"}
    alone = {**services[0], "id": "PX2", "name": "orphan", "escalation_policy": None}
    twice = {**services[2], "id": "PX3", "escalation_policy": services[1]["escalation_policy"]}
    documents[-1] = {"services": [*services, unknown, alone, twice]}
    imported = import_pagerduty(documents)
    assert [r.team for r in imported.routes] == ["checkout", "search-discovery", "platform-infra"]
    found = {
        (f.where, f.value, f.why.split(":")[0])
        for f in imported.findings
        if f.where.endswith(("escalation_policy", '"platform-db"'))
    }
    assert found == {
        (
            'services[3] "ghost".escalation_policy',
            "PNOPE",
            "the escalation policy is not in the import",
        ),
        ('services[4] "orphan".escalation_policy', "None", "no escalation policy"),
        ('services[5] "platform-db"', "platform-db", "another service has this name"),
    }
    assert Policy.from_text(imported.policy_toml()).routes == imported.routes


def test_hostile_policy_and_service_names_are_slugged_escaped_and_read_back() -> None:
    documents = sample(ORG)
    policies = documents[-2]["escalation_policies"]
    policies[0]["name"] = 'Ops "core"\n<script>alert(1)</script> | ]] = x'
    policies[1]["name"] = "<!-- -->"  # nothing of it is a slug's
    policies[2]["name"] = "ops-core-script-alert-1-script-x"  # the first's slug, taken
    services = documents[-1]["services"]
    services[0]["name"] = 'pay"ments\n[[routes]]\nteam = "evil"'
    services[1]["name"] = "!legacy"
    services[2]["name"] = "*"
    imported = import_pagerduty(documents)
    assert [t.name for t in imported.teams] == [
        "ops-core-script-alert-1-script-x",
        "team",
        "ops-core-script-alert-1-script-x-2",
    ]
    policy = Policy.from_text(imported.policy_toml())
    assert (policy.teams, policy.routes) == (imported.teams, imported.routes)
    # Each service name is itself: not a negation, not "any service".
    assert policy.team_for(_service_alert("!legacy")).name == "team"
    assert policy.team_for(_service_alert("legacy")).name == imported.default_team
    assert policy.team_for(_service_alert("*")).name == "ops-core-script-alert-1-script-x-2"
    assert policy.team_for(_service_alert("other")).name == imported.default_team
    name = 'pay"ments [[routes]] team = "evil"'  # storable: the newlines are kept
    assert policy.team_for(_service_alert(services[0]["name"])).name == imported.teams[0].name
    assert policy.team_for(_service_alert(name)).name == imported.default_team
    assert 'team = "evil"' not in imported.policy_toml().splitlines()
    report = imported.report()
    assert "\\<script\\>" in report and not re.search(r"(?<!\\)<", report)  # all escaped
    for title in ("## Not carried over", "## Carried over approximately", "## Teams"):
        section = report.split(title)[1].split("\n## ")[0].splitlines()[1:]
        assert all(line.startswith(("|", "- ")) for line in section if line)  # one line each


def test_fetched_pagerduty_services_over_pages_are_routes(httpserver: Any) -> None:
    from incident_flow.importers import fetch

    services = sample(ORG)[-1]["services"]
    # The fetched account's one policy is the e2e sample's "Checkout" (PESC001).
    for service in services:
        service["escalation_policy"]["id"] = "PESC001"
    _pd_server(httpserver, services=[services[:2], services[2:]])
    documents = fetch(
        "pagerduty", TOKEN, url=httpserver.url_for("/"), now=datetime(2026, 1, 5, tzinfo=UTC)
    )
    imported = import_vendor("pagerduty", documents, people=People([IC["pagerduty"]]))
    assert [r.describe() for r in imported.routes] == [
        "service=checkout-api -> checkout",
        "service=search-api -> checkout",
        "service=platform-db -> checkout",
    ]
    asked = [r.args["offset"] for r, _ in httpserver.log if r.path == "/services"]
    assert asked == ["0", "100"]


def test_fetching_services_that_page_forever_stops_at_max_pages(httpserver: Any) -> None:
    from werkzeug import Request, Response

    from incident_flow.importers import fetch

    def more(request: Request) -> Response:
        offset = int(request.args["offset"])
        page = {"services": [], "limit": 100, "offset": offset, "more": True}
        return Response(json.dumps(page), content_type="application/json")

    httpserver.expect_request("/services").respond_with_handler(more)  # before _pd_server's
    _pd_server(httpserver)
    with pytest.raises(InvalidExport, match=r"GET /services: more than 4 pages"):
        fetch(
            "pagerduty",
            TOKEN,
            url=httpserver.url_for("/"),
            now=datetime(2026, 1, 5, tzinfo=UTC),
            max_pages=4,
        )
    asked = [r.args["offset"] for r, _ in httpserver.log if r.path == "/services"]
    assert asked == [str(100 * i) for i in range(4)]


def test_the_import_command_writes_the_organisation(tmp_path: Path) -> None:
    """``import pagerduty`` of an organisation: teams and routes that ``--policy`` reads back."""
    from click.testing import CliRunner

    from incident_flow.cli import main

    export = tmp_path / "org.json"
    export.write_text(json.dumps(sample(ORG)))
    out, report = tmp_path / "org.toml", tmp_path / "org.md"
    args = ["import", "pagerduty", str(export), "-o", str(out), "--report", str(report)]
    result = CliRunner().invoke(main, [*args, "--escalation", "PEPPLT1"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "3 teams, 3 routes;" in result.output
    policy = Policy.from_toml(out)
    assert policy.default_team == "platform-infra"  # --escalation by id
    assert policy.team_for(_service_alert("search-api")).name == "search-discovery"
    assert "## Teams and routes" in report.read_text()
    wrong = CliRunner().invoke(main, [*args, "--escalation", "Nope"])
    assert wrong.exit_code == 5 and "'Nope'" in wrong.output
