"""Escalation levels page whoever the schedules have on call, by name; gaps escalate loudly."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest
from pytest_httpserver import HTTPServer

from incident_flow import (
    Action,
    Alert,
    DeliveryError,
    IncidentFlow,
    InvalidCommand,
    InvalidPolicy,
    MemoryStore,
    Notification,
    Policy,
    RecordingNotifier,
    Severity,
    SlackNotifier,
    SQLiteStore,
)
from incident_flow._core.people import People, Person
from incident_flow.adapters.channels.slack_pager import AsyncSlackDMPager, SlackDMPager
from incident_flow.adapters.channels.twilio import TwilioSmsPager
from incident_flow.importers import import_vendor
from incident_flow.schedules import Override
from incident_flow.testing import ManualClock
from incident_flow.testing.contracts import NotifierContract

from .conftest import MakeFlow
from .vendors import CHANNEL, TOKEN, FakeSlack, FakeTwilio

MONDAY = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)  # 11:00 in Berlin
P1 = Alert(source="datadog", name="CheckoutDown", title="checkout down", severity=Severity.P1)

POLICY = """
[[schedules]]
name = "primary"
timezone = "Europe/Berlin"
[[schedules.layers]]
name = "weekly"
members = ["alice", "bob"]
start = 2026-01-05

[[schedules]]
name = "secondary"
timezone = "Europe/Berlin"
[[schedules.layers]]
name = "weekly"
members = ["carol", "dan"]
start = 2026-01-05

[[schedules]]
name = "thin"
timezone = "Europe/Berlin"
[[schedules.layers]]
name = "weekly"
members = [""]
start = 2026-01-05

[[escalation]]
targets = ["schedule:primary"]
wait = "5m"
[[escalation]]
targets = ["schedule:secondary"]
wait = "5m"
[[escalation]]
targets = ["incident commander"]
"""


def world(
    make_flow: MakeFlow, policy: Policy
) -> tuple[IncidentFlow, RecordingNotifier, RecordingNotifier, ManualClock]:
    clock = ManualClock(MONDAY)
    chat, pager = RecordingNotifier(), RecordingNotifier()
    return make_flow(policy, notifier=chat, pager=pager, clock=clock), chat, pager, clock


#: The same people, schedules and escalation as POLICY, as each vendor's API returns them
#: (tests/samples/imports): a migrated policy must page exactly as the hand-written one.
IMPORTED = {
    "pagerduty": Person(name="incident commander", pagerduty=["PIC0001"]),
    "opsgenie": Person(name="incident commander", opsgenie=["u-ic"]),
    "grafana-oncall": Person(name="incident commander", email=["ic@example.com"]),
}


@pytest.fixture(params=["policy.toml", *IMPORTED])
def escalation_policy(request: pytest.FixtureRequest) -> Policy:
    """POLICY as written, or imported from PagerDuty, Opsgenie or Grafana OnCall (issue 20)."""
    if request.param == "policy.toml":
        return Policy.from_text(POLICY)
    sample = (
        Path(__file__).parent
        / "samples"
        / "imports"
        / f"e2e_{request.param.replace('-', '_')}.json"
    )
    imported = import_vendor(
        request.param, json.loads(sample.read_text()), people=People([IMPORTED[request.param]])
    )
    return Policy.from_text(imported.policy_toml())


def test_each_level_pages_its_on_call_person_by_name(
    make_flow: MakeFlow, escalation_policy: Policy
) -> None:
    """Done when: level 1's person, then level 2's, each named; an override changes level 2."""
    policy = escalation_policy
    flow, chat, pager, clock = world(make_flow, policy)
    incident = flow.trigger(P1)
    (first,) = pager.of(incident.id)
    assert first.to == ("alice",) and first.text == "[P1] checkout down (paging alice)"
    # The chat says whom, as the pager's copy does (issue 29: it said "paging on-call").
    assert chat.of(incident.id, "notify")[0].text == "[P1] checkout down (paging alice)"
    notified = next(e for e in flow.history(incident.id) if e.type == "IncidentNotified")
    assert notified.targets == ("alice",)  # recorded as it was, never recomputed
    # Dan swaps in for carol during the incident: level 2 pages him.
    second = policy.schedules.version_at("secondary", MONDAY)
    assert second is not None
    swap = Override(start=MONDAY, end=MONDAY + timedelta(hours=4), replace=["dan"], by="carol")
    edited = [s for s in policy.schedules.versions if s is not second]
    flow.policy = attrs.evolve(policy, schedules=[*edited, attrs.evolve(second, overrides=[swap])])
    clock.advance(timedelta(minutes=5))
    flow.escalate_due()
    clock.advance(timedelta(minutes=5))
    flow.escalate_due()
    pages = pager.of(incident.id)
    assert [p.to for p in pages] == [("alice",), ("dan",), ("incident commander",)]
    assert pages[1].text == "[P1] checkout down (escalated to dan)"
    escalated = [e.targets for e in flow.history(incident.id) if e.type == "Escalated"]
    assert escalated == [("dan",), ("incident commander",)]
    # Anyone's ack stops it for everyone.
    flow.acknowledge(incident.id, by="dan")
    assert flow.get(incident.id).escalation_due_at is None


def test_a_gap_escalates_at_once_and_is_said_loudly(make_flow: MakeFlow) -> None:
    policy = Policy.from_text(
        POLICY.replace('targets = ["schedule:primary"]', 'targets = ["schedule:thin"]')
    )
    flow, chat, pager, _ = world(make_flow, policy)
    incident = flow.trigger(P1)
    (page,) = pager.of(incident.id)
    assert page.to == ("carol",) and "(escalated to carol)" in page.text
    assert chat.of(incident.id, "notify")[0].text == (
        "[P1] checkout down (nobody on call at the first level: paging the next)"
    )
    loud = [m.text for m in chat.of(incident.id) if "NOBODY IS ON CALL" in m.text]
    assert loud == ["NOBODY IS ON CALL in schedule:thin (level 0): paging level 1"]
    now = flow.get(incident.id)
    assert now.escalation_level == 1 and now.escalation_due_at == MONDAY + timedelta(minutes=5)


def test_an_upgrade_into_a_gap_says_the_change_then_the_gap(make_flow: MakeFlow) -> None:
    policy = Policy.from_text(
        POLICY.replace('targets = ["schedule:primary"]', 'targets = ["schedule:thin"]')
    )
    flow, chat, pager, _ = world(make_flow, policy)
    incident = flow.trigger(attrs.evolve(P1, severity=Severity.P4))
    flow.reclassify(incident.id, Severity.P1, by="alice")
    assert [m.text for m in chat.of(incident.id, "update")] == [
        "Severity P4 -> P1 by alice",
        "NOBODY IS ON CALL in schedule:thin (level 0): paging level 1",
    ]
    (page,) = pager.of(incident.id)
    assert page.text.startswith("[P1] checkout down")


def test_gaps_at_every_level_page_nobody_and_say_so(make_flow: MakeFlow) -> None:
    text = (
        POLICY.replace('"schedule:primary"', '"schedule:thin"')
        .replace('"schedule:secondary"', '"schedule:thin"')
        .replace('"incident commander"', '"schedule:thin"')
    )
    flow, chat, pager, _ = world(make_flow, Policy.from_text(text))
    incident = flow.trigger(P1)
    (page,) = pager.of(incident.id)
    assert page.to == () and "nobody: schedule:thin had nobody on call" in page.text
    loud = [m.text for m in chat.of(incident.id) if "NOBODY IS ON CALL" in m.text]
    assert loud[-1].endswith("(level 1): paging level 2")
    gaps = [e for e in flow.history(incident.id) if e.type == "Escalated" and not e.targets]
    assert [e.level for e in gaps] == [1, 2]


def _levels(first: str, second: str, third: str) -> str:
    """POLICY with a second empty schedule (``thin2``) and each level's targets replaced."""
    thin2 = (
        POLICY.split("[[escalation]]", maxsplit=1)[0]
        .split("[[schedules]]")[3]
        .replace("thin", "thin2")
    )
    return (
        POLICY.replace('"schedule:primary"', first)
        .replace('"schedule:secondary"', second)
        .replace('"incident commander"', third)
        .replace("[[escalation]]", "[[schedules]]" + thin2 + "[[escalation]]", 1)
    )


def test_every_gap_of_a_level_is_named_and_the_last_level_says_nobody_is_left(
    make_flow: MakeFlow,
) -> None:
    text = _levels('"schedule:thin", "schedule:thin2"', '"schedule:thin"', '"schedule:thin2"')
    flow, chat, _, _ = world(make_flow, Policy.from_text(text))
    incident = flow.trigger(P1)
    loud = [m.text for m in chat.of(incident.id) if "NOBODY IS ON CALL" in m.text]
    assert loud == [
        "NOBODY IS ON CALL in schedule:thin, schedule:thin2 (level 0): paging level 1",
        "NOBODY IS ON CALL in schedule:thin (level 1): paging level 2",
    ]
    # With one level only, an upgrade's page into its gap leaves nobody to page.
    one = Policy.from_text(
        text.split("[[escalation]]")[0] + '[[escalation]]\ntargets = ["schedule:thin"]\n'
    )
    flow, chat, _, _ = world(make_flow, one)
    incident = flow.trigger(attrs.evolve(P1, severity=Severity.P4))
    flow.reclassify(incident.id, Severity.P1, by="alice")
    loud = [m.text for m in chat.of(incident.id) if "NOBODY IS ON CALL" in m.text]
    assert loud == ["NOBODY IS ON CALL in schedule:thin (level 0): nobody left to page"]


def test_a_first_page_to_several_schedules_names_each_person(make_flow: MakeFlow) -> None:
    policy = Policy.from_text(
        POLICY.replace('["schedule:primary"]', '["schedule:primary", "schedule:secondary"]', 1)
    )
    flow, chat, pager, _ = world(make_flow, policy)
    incident = flow.trigger(P1)
    (page,) = pager.of(incident.id)
    assert page.to == ("alice", "carol")
    assert page.text == "[P1] checkout down (paging alice, carol)"
    assert chat.of(incident.id, "notify")[0].text == "[P1] checkout down (paging alice, carol)"


def test_an_escalation_to_several_people_names_each(make_flow: MakeFlow) -> None:
    policy = Policy.from_text(
        POLICY.replace('["schedule:secondary"]', '["schedule:secondary", "incident commander"]')
    )
    flow, chat, pager, clock = world(make_flow, policy)
    incident = flow.trigger(P1)
    clock.advance(timedelta(minutes=5))
    flow.escalate_due()
    page = pager.of(incident.id)[-1]
    assert page.to == ("carol", "incident commander")
    assert page.text == "[P1] checkout down (escalated to carol, incident commander)"
    assert chat.of(incident.id, "update")[-1].text == (
        "Not acknowledged in time: escalated to carol, incident commander (level 1)"
    )


def test_a_last_level_with_every_schedule_empty_names_each_of_them(make_flow: MakeFlow) -> None:
    text = _levels('"schedule:thin"', '"schedule:thin"', '"schedule:thin", "schedule:thin2"')
    flow, _, pager, _ = world(make_flow, Policy.from_text(text))
    incident = flow.trigger(P1)
    (page,) = pager.of(incident.id)
    assert page.to == ()
    assert page.text == (
        "[P1] checkout down (escalated to nobody: schedule:thin, schedule:thin2 had nobody on call)"
    )


def test_next_and_previous_people_and_literal_targets() -> None:
    policy = Policy.from_text(
        POLICY.replace(
            '"schedule:secondary"', '"schedule:primary:next", "schedule:primary:previous"'
        )
    )
    at = MONDAY + timedelta(days=7)  # bob's week
    assert policy.page_targets(0, at) == (("bob",), ())
    assert policy.page_targets(1, at) == (("alice",), ())  # next: alice again; previous: alice
    assert policy.page_targets(2, at) == (("incident commander",), ())
    assert Policy().page_targets(0, at) == (("primary on-call",), ())


def test_a_reopen_and_an_upgrade_page_the_first_level_by_name(make_flow: MakeFlow) -> None:
    flow, _, pager, _ = world(make_flow, Policy.from_text(POLICY))
    low = flow.trigger(attrs.evolve(P1, severity=Severity.P3, name="Slow", dedup_key="slow"))
    flow.reclassify(low.id, "P1", by="alice")
    assert pager.of(low.id)[-1].to == ("alice",)
    flow.resolve(low.id, by="alice")
    flow.reopen(low.id, by="bob")
    assert (
        pager.of(low.id)[-1].to == ("alice",)
        and "(reopened) (paging alice)" in pager.of(low.id)[-1].text
    )


def test_an_unknown_schedule_target_is_a_policy_problem() -> None:
    with pytest.raises(InvalidPolicy) as caught:
        Policy.from_text('[[escalation]]\ntargets = ["schedule:nope", "schedule:nope:next"]\n')
    assert list(caught.value.problems) == [
        "escalation[0].targets: 'schedule:nope': no schedule 'nope' (known: none)",
        "escalation[0].targets: 'schedule:nope:next': no schedule 'nope' (known: none)",
    ]


# ----------------------------------------------------------------------------- a page by DM

PEOPLE = """
[[people]]
name = "alice"
slack = "U0ALICE01"
[[people]]
name = "carol"
slack = "U0CAROL01"
"""


def test_a_page_without_a_paging_vendor_is_a_slack_dm(httpserver: HTTPServer) -> None:
    slack = FakeSlack(httpserver)
    policy = Policy.from_text(POLICY + PEOPLE)
    pager = SlackDMPager(token=TOKEN, people=policy.people, api_url=slack.api_url)
    assert "xoxb" not in repr(pager)
    clock = ManualClock(MONDAY)
    flow = IncidentFlow(policy, notifier=RecordingNotifier(), pager=pager, clock=clock)
    incident = flow.trigger(P1)
    (dm,) = slack.messages
    assert dm["channel"] == slack.dms["U0ALICE01"]
    assert dm["text"] == "<@U0ALICE01> [P1] checkout down (paging alice)"
    delivered = [e for e in flow.history(incident.id) if e.type == "MessageDelivered"]
    assert any(e.channel == "pager" and e.receipt.startswith("D") for e in delivered)
    clock.advance(timedelta(minutes=5))
    flow.escalate_due()
    assert slack.messages[-1]["channel"] == slack.dms["U0CAROL01"]
    flow.acknowledge(incident.id, by="carol")  # not a page: the DM pager sends nothing
    assert len(slack.messages) == 2


def test_slack_says_who_is_paged_once(httpserver: HTTPServer) -> None:
    """Issue 29: Slack said "paging on-call" (and the title twice) where the page named tomas."""
    slack = FakeSlack(httpserver)
    policy = Policy.from_text(POLICY.replace('members = ["alice", "bob"]', 'members = ["<!here>"]'))
    notifier = SlackNotifier(token=TOKEN, channel=CHANNEL, api_url=slack.api_url)
    flow = IncidentFlow(
        policy, notifier=notifier, pager=RecordingNotifier(), clock=ManualClock(MONDAY)
    )
    incident = flow.trigger(P1)
    (posted,) = slack.messages
    assert posted["text"] == "[P1] checkout down (paging &lt;!here&gt;)"  # named, not a ping
    said = [b for b in posted["blocks"] if b["type"] == "context"]
    assert said[-1]["elements"] == [{"type": "plain_text", "text": "paging <!here>"}]
    notified = next(e for e in flow.history(incident.id) if e.type == "IncidentNotified")
    assert notified.targets == ("<!here>",)


def test_a_resent_dm_page_is_not_sent_twice(httpserver: HTTPServer) -> None:
    slack = FakeSlack(httpserver)
    pager = SlackDMPager(token=TOKEN, people={"alice": "U0ALICE01"}, api_url=slack.api_url)
    page = Notification(
        incident_id="inc-1", kind="page", text="[P1] x <!channel>", title="x",
        severity=Severity.P1, state="notified", idempotency_key="inc-1/1/pager/page",
        to=("alice", "bob"),
    )  # fmt: skip
    first = pager.send(page)
    assert first is not None and first.startswith("D")
    assert slack.messages[0]["text"] == "<@U0ALICE01> [P1] x &lt;!channel&gt;"  # text, not a ping
    again = pager.send(attrs.evolve(page, resent=True))
    assert again == first and len(slack.messages) == 1
    with pytest.raises(DeliveryError, match=r"no Slack identity in Policy\.people for bob"):
        pager.send(attrs.evolve(page, to=("bob",)))
    assert pager.send(attrs.evolve(page, kind="ack")) is None


async def _async_page(pager: AsyncSlackDMPager, page: Notification) -> str | None:
    return await pager.send(page)


def test_the_async_dm_pager(httpserver: HTTPServer) -> None:
    import asyncio

    slack = FakeSlack(httpserver)
    pager = AsyncSlackDMPager(token=TOKEN, people={"carol": "U0CAROL01"}, api_url=slack.api_url)
    page = Notification(
        incident_id="inc-2", kind="page", text="[P2] y", title="y", severity=Severity.P2,
        state="notified", idempotency_key="inc-2/1/pager/page", to=("carol",),
    )  # fmt: skip
    receipt = asyncio.run(_async_page(pager, page))
    assert receipt is not None and slack.messages[0]["channel"] == slack.dms["U0CAROL01"]


def test_the_dry_run_says_who_each_level_would_have_paged() -> None:
    from incident_flow.simulation import simulate

    report = simulate(
        Policy.from_text(POLICY), [(timedelta(0), P1)], start=MONDAY, horizon=timedelta(minutes=11)
    )
    assert [p.to for p in report.pages] == [("alice",), ("carol",), ("incident commander",)]
    assert report.format().splitlines()[0] == "+00:00:00 [P1] checkout down (paging alice)"


# ----------------------------------------------------------------------------- a page by text


def test_a_page_by_text_message_through_twilio(httpserver: HTTPServer) -> None:
    twilio = FakeTwilio(httpserver)
    policy = Policy.from_text(
        POLICY + '[[people]]\nname = "alice"\nphone = "+14155550100"\n'
        '[[people]]\nname = "carol"\nphone = ["+14155550123"]\n'
    )
    pager = TwilioSmsPager(
        account_sid=twilio.SID,
        auth_token=twilio.AUTH_TOKEN,
        from_number=twilio.FROM,
        people=policy.people,
        api_url=twilio.api_url,
    )
    assert twilio.AUTH_TOKEN not in repr(pager)
    clock = ManualClock(MONDAY)
    flow = IncidentFlow(policy, notifier=RecordingNotifier(), pager=pager, clock=clock)
    incident = flow.trigger(P1)
    (text,) = twilio.sent
    assert text["to"] == "+14155550100"
    assert text["body"].startswith("[P1] checkout down (paging alice) [ref ")
    clock.advance(timedelta(minutes=5))
    flow.escalate_due()
    assert twilio.sent[-1]["to"] == "+14155550123"
    delivered = [e for e in flow.history(incident.id) if e.type == "MessageDelivered"]
    assert [e.receipt for e in delivered if e.channel == "pager"] == [m["sid"] for m in twilio.sent]


def test_a_resent_text_is_not_sent_twice_and_refusals_are_clear(httpserver: HTTPServer) -> None:
    twilio = FakeTwilio(httpserver)
    pager = TwilioSmsPager(
        account_sid=twilio.SID,
        auth_token=twilio.AUTH_TOKEN,
        from_number=twilio.FROM,
        people={"alice": "+14155550100", "bob": "+1415"},
        api_url=twilio.api_url,
    )
    page = Notification(
        incident_id="inc-1", kind="page", text="[P1] x", title="x", severity=Severity.P1,
        state="notified", idempotency_key="inc-1/1/pager/page", to=("alice",),
    )  # fmt: skip
    first = pager.send(page)
    assert pager.send(attrs.evolve(page, resent=True)) == first and len(twilio.sent) == 1
    with pytest.raises(DeliveryError, match="is not a valid phone number") as refused:
        pager.send(attrs.evolve(page, to=("bob",)))
    assert refused.value.permanent and twilio.AUTH_TOKEN not in str(refused.value)
    with pytest.raises(DeliveryError, match="no phone number"):
        pager.send(attrs.evolve(page, to=("carol",)))
    assert pager.send(attrs.evolve(page, kind="resolve")) is None
    wrong = TwilioSmsPager(
        account_sid=twilio.SID, auth_token="nope-nope", from_number=twilio.FROM,  # noqa: S106
        people={"alice": "+14155550100"}, api_url=twilio.api_url,
    )  # fmt: skip
    with pytest.raises(DeliveryError, match="HTTP 401") as denied:
        wrong.send(page)
    assert "nope-nope" not in str(denied.value)


def test_a_phone_number_must_be_e164() -> None:
    with pytest.raises(InvalidPolicy, match=r"E\.164 form"):
        Policy.from_text('[[people]]\nname = "alice"\nphone = "555-0100"\n')


def test_the_async_text_pager(httpserver: HTTPServer) -> None:
    import asyncio

    from incident_flow.adapters import AsyncTwilioSmsPager

    twilio = FakeTwilio(httpserver)
    pager = AsyncTwilioSmsPager(
        account_sid=twilio.SID, auth_token=twilio.AUTH_TOKEN, from_number=twilio.FROM,
        people={"dan": "+14155550999"}, api_url=twilio.api_url,
    )  # fmt: skip
    page = Notification(
        incident_id="inc-3", kind="page", text="[P1] z", title="z", severity=Severity.P1,
        state="notified", idempotency_key="inc-3/1/pager/page", to=("dan",),
    )  # fmt: skip

    async def send() -> str | None:
        return await pager.send(page)

    assert asyncio.run(send()) == twilio.sent[0]["sid"]


# ----------------------------------------------------------------------------- the record


def test_the_past_is_read_from_the_record_not_from_todays_policy(make_flow: MakeFlow) -> None:
    store = MemoryStore()
    policy = Policy.from_text(POLICY)
    clock = ManualClock(MONDAY)
    flow = make_flow(policy, store=store, notifier=RecordingNotifier(), clock=clock)
    assert flow.record_shifts() == 0  # nothing has ended yet
    clock.advance(timedelta(days=15))  # alice's week and bob's week are over
    assert flow.record_shifts() >= 2
    assert flow.record_shifts() == 0  # kept once
    # The policy file is edited in place: the rotation now starts with dan and erin.
    flow.policy = Policy.from_text(POLICY.replace('["alice", "bob"]', '["dan", "erin"]'))
    assert flow.on_call("primary", MONDAY + timedelta(days=1)) == ("alice",)  # as it was
    assert flow.on_call("primary", clock.now() + timedelta(days=1)) in (("dan",), ("erin",))
    past = flow.shifts("primary", MONDAY, MONDAY + timedelta(days=14))
    # As recorded until bob's week ended (Monday 09:00 Berlin), then today's policy: dan.
    assert [s.people for s in past] == [("alice",), ("bob",), ("dan",)]
    assert past[0].start == MONDAY and past[-1].end == MONDAY + timedelta(days=14)
    assert past[1].end == MONDAY + timedelta(days=14, hours=-2)
    both = flow.shifts("primary", MONDAY + timedelta(days=13), clock.now() + timedelta(days=10))
    assert both[0].people == ("bob",) and both[1].people in (("dan",), ("erin",))
    assert flow.shifts("primary", MONDAY - timedelta(days=3), MONDAY + timedelta(days=1))[0].gap
    with pytest.raises(InvalidCommand, match="no schedule 'nope'"):
        flow.on_call("nope")
    with pytest.raises(InvalidCommand, match="no schedule 'nope'"):
        flow.shifts("nope", MONDAY, clock.now())


def test_without_a_record_the_policy_answers(make_flow: MakeFlow) -> None:
    flow = make_flow(Policy.from_text(POLICY), store=_NoShifts(), clock=ManualClock(MONDAY))
    assert flow.record_shifts() == 0
    assert flow.on_call("primary") == ("alice",)
    assert [s.people for s in flow.shifts("primary", MONDAY, MONDAY + timedelta(days=8))] == [
        ("alice",),
        ("bob",),
    ]


class _NoShifts:
    def __init__(self) -> None:
        self._store = MemoryStore()

    def __getattr__(self, name: str) -> object:
        if name in (
            "record_shifts",
            "recorded_shifts",
            "shifts_recorded_until",
            "save_override",
            "overrides",
        ):
            raise AttributeError(name)
        return getattr(self._store, name)


# ----------------------------------------------------------------------------- run-time overrides


def test_an_override_made_at_run_time_changes_who_level_2_pages(
    make_flow: MakeFlow, tmp_path: object
) -> None:
    """Done when: an override during the incident changes who level 2 pages (from the CLI/API)."""
    flow, _, pager, clock = world(make_flow, Policy.from_text(POLICY))
    incident = flow.trigger(P1)
    made = flow.override(
        "secondary", end=MONDAY + timedelta(hours=4), replace=["dan"], by="carol", why="dentist"
    )
    assert made.id is not None and made.schedule == "secondary" and made.by == "carol"
    assert flow.on_call("secondary") == ("dan",)
    assert [o.id for o in flow.overrides()] == [made.id]
    clock.advance(timedelta(minutes=5))
    flow.escalate_due()
    assert [p.to for p in pager.of(incident.id)] == [("alice",), ("dan",)]
    # Cancelled: cut short now, so the past keeps it and what follows does not.
    cut = flow.cancel_override(made.id, by="carol")
    assert cut.end == clock.now() and "cancelled by carol" in (cut.why or "")
    assert flow.on_call("secondary") == ("carol",)
    assert flow.on_call("secondary", MONDAY + timedelta(minutes=1)) == ("dan",)
    assert flow.overrides() == [] and [o.id for o in flow.overrides(active=False)] == [made.id]
    again = flow.override(
        "primary", layer="weekly", add=["zoe"], end=clock.now() + timedelta(hours=1),
        by="alice", why="shadowing",
    )  # fmt: skip
    assert flow.on_call("primary") == ("alice", "zoe") and again.layer == "weekly"


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"schedule": "nope", "replace": ["x"]}, "no schedule 'nope' in force"),
        ({"layer": "nights", "replace": ["x"]}, "no layer 'nights' in schedule 'primary'"),
        ({}, "give replace, add or remove"),
        ({"replace": ["x"], "why": " "}, "who made it and why"),
        (
            {
                "replace": ["x"],
                "start": MONDAY - timedelta(hours=3),
                "end": MONDAY - timedelta(hours=1),
            },
            "over already",
        ),
        ({"replace": ["x"], "start": MONDAY + timedelta(hours=9)}, "must end after it starts"),
    ],
)
def test_a_bad_override_is_refused(
    make_flow: MakeFlow, changes: dict[str, object], error: str
) -> None:
    flow, _, _, _ = world(make_flow, Policy.from_text(POLICY))
    fields: dict[str, object] = {
        "schedule": "primary",
        "end": MONDAY + timedelta(hours=8),
        "by": "a",
        "why": "b",
    }
    fields.update(changes)
    schedule = fields.pop("schedule")
    with pytest.raises(InvalidCommand, match=error):
        flow.override(schedule, **fields)  # type: ignore[arg-type]
    with pytest.raises(InvalidCommand, match="no override 'ovr-nope'"):
        flow.cancel_override("ovr-nope", by="a")
    assert flow.overrides(active=False) == []


def test_overrides_without_an_override_log(make_flow: MakeFlow) -> None:
    flow = make_flow(Policy.from_text(POLICY), store=_NoShifts(), clock=ManualClock(MONDAY))
    made = flow.override("primary", end=MONDAY + timedelta(hours=1), replace=["x"], by="a", why="b")
    assert flow.on_call("primary") == ("x",) and flow.overrides() == [made]


# Every path to a page, each step by a new flow on one SQLite file (as the command line runs
# them): whom the page goes to follows the run-time overrides in the store, whichever flow
# made them. Each returns the incident whose last page must go to jin (the override).
NewFlow = Callable[[], IncidentFlow]
HOUR = timedelta(hours=1)
_PAGED = ("IncidentNotified", "Escalated")
CHECKOUT = attrs.evolve(P1, labels={"service": "checkout"})


def _swap(new: NewFlow, schedule: str = "primary") -> None:
    new().override(schedule, end=MONDAY + 4 * HOUR, replace=["jin"], by="carol", why="swap")


def _released_at_its_silence_end(new: NewFlow, clock: ManualClock) -> str:
    _swap(new)
    silence = new().silence({"service": "checkout"}, by="a", why="deploy", duration=2 * HOUR)
    incident = new().trigger(CHECKOUT)
    new().end_silence(silence.id, by="a")
    return incident.id


def _released_when_its_silence_runs_out(new: NewFlow, clock: ManualClock) -> str:
    _swap(new)
    new().silence({"service": "checkout"}, by="a", why="deploy", duration=HOUR)
    incident = new().trigger(CHECKOUT)
    clock.advance(HOUR)
    new().escalate_due()
    return incident.id


def _reopened_by_its_alert(new: NewFlow, clock: ManualClock) -> str:
    incident = new().trigger(P1)
    new().resolve(incident.id, by="alice", summary="restarted")
    _swap(new)
    new().trigger(P1)
    return incident.id


def _opened_with_another_alert(new: NewFlow, clock: ManualClock) -> str:
    _swap(new)
    other = Alert(source="datadog", name="PaymentsDown", title="payments down", severity="P1")
    first, second = new().trigger_all([P1, other])
    assert first is not None and second is not None
    return first.id


def _escalated_from_the_pager(new: NewFlow, clock: ManualClock) -> str:
    incident = new().trigger(P1)
    _swap(new, "secondary")
    new().apply(Action(source="pagerduty", kind="escalate", incident=incident.id, by="PX"))
    return incident.id


def _reclassified(new: NewFlow, clock: ManualClock) -> str:
    incident = new().trigger(attrs.evolve(P1, severity=Severity.P4))
    _swap(new)
    new().reclassify(incident.id, Severity.P1, by="alice")
    return incident.id


@pytest.mark.parametrize(
    "page",
    [
        _released_at_its_silence_end,
        _released_when_its_silence_runs_out,
        _reopened_by_its_alert,
        _opened_with_another_alert,
        _escalated_from_the_pager,
        _reclassified,
    ],
)
def test_every_page_follows_the_run_time_overrides_in_the_store(
    make_flow: MakeFlow, tmp_path: Path, page: Callable[[NewFlow, ManualClock], str]
) -> None:
    """Issue 28 (1): the page at a silence's end went to the policy's tomas, not the override's jin.

    A flow made for one command had read no overrides, and only some paths read them.
    """
    clock, pager, policy = ManualClock(MONDAY), RecordingNotifier(), Policy.from_text(POLICY)

    def new() -> IncidentFlow:
        return make_flow(
            policy,
            store=SQLiteStore(tmp_path / "x.db"),
            notifier=RecordingNotifier(),
            pager=pager,
            clock=clock,
        )

    incident_id = page(new, clock)
    last = pager.of(incident_id)[-1]
    assert (last.kind, last.to) == ("page", ("jin",)), last.text
    assert "jin" in last.text
    if page not in (_reopened_by_its_alert, _reclassified):  # their pages record no targets
        recorded = [e.targets for e in new().history(incident_id) if e.type in _PAGED and e.targets]
        assert recorded[-1] == ("jin",)


def test_a_page_reads_an_override_cancelled_by_another_replica(
    make_flow: MakeFlow, tmp_path: Path
) -> None:
    """A long-lived flow's overrides are read again for a page: not what it last saw."""
    clock, pager, policy = ManualClock(MONDAY), RecordingNotifier(), Policy.from_text(POLICY)
    one, other = (
        make_flow(policy, store=SQLiteStore(tmp_path / "x.db"), pager=pager, clock=clock)
        for _ in range(2)
    )
    made = one.override("primary", end=MONDAY + 4 * HOUR, replace=["jin"], by="c", why="swap")
    silence = one.silence({"service": "checkout"}, by="a", why="deploy", duration=2 * HOUR)
    incident = one.trigger(CHECKOUT)
    assert made.id is not None
    other.cancel_override(made.id, by="c")
    clock.advance(timedelta(minutes=1))
    one.end_silence(silence.id, by="a")
    assert pager.of(incident.id)[-1].to == ("alice",)


# ----------------------------------------------------------------------------- notices


def test_handoffs_and_shift_reminders_are_said_in_the_channel(make_flow: MakeFlow) -> None:
    policy = attrs.evolve(
        Policy.from_text(POLICY), oncall_notices=True, shift_reminder=timedelta(hours=1)
    )
    start = MONDAY + timedelta(days=6, hours=20)  # Sunday 06:00 UTC, bob's week next
    flow, chat, _, clock = world(make_flow, policy)
    clock.advance(start - clock.now())
    assert flow.notify_oncall() == 0  # the first turn says nothing of the past
    clock.advance(timedelta(hours=1, minutes=30))  # 07:30: bob's shift at 08:00 is an hour off
    assert flow.notify_oncall() == 2  # primary and secondary reminders
    reminders = [m.text for m in chat.messages if m.kind == "shift_reminder"]
    assert reminders == [
        "Reminder: bob on call in primary from 2026-01-12 08:00 UTC",
        "Reminder: dan on call in secondary from 2026-01-12 08:00 UTC",
    ]
    clock.advance(timedelta(hours=1))  # 08:30: the handoffs happened
    flow.notify_oncall()
    handoffs = [m.text for m in chat.messages if m.kind == "handoff"]
    assert handoffs[0] == "On call in primary: bob until 2026-01-19 08:00 UTC (after alice)"
    assert not any(t.startswith("On call in thin") for t in handoffs)  # nobody ever: no handoff
    assert flow.notify_oncall() == 0  # said once
    quiet = world(make_flow, Policy.from_text(POLICY))[0]
    assert quiet.notify_oncall() == 0
    read = Policy.from_text('oncall_notices = true\nshift_reminder = "30m"\n')
    assert read.oncall_notices and read.shift_reminder == timedelta(minutes=30)
    with pytest.raises(InvalidPolicy, match="oncall_notices: must be true or false"):
        Policy.from_text('oncall_notices = "yes"\n')


def test_a_notice_is_plain_text_in_slack_and_said_once(httpserver: HTTPServer) -> None:
    slack = FakeSlack(httpserver)
    notifier = SlackNotifier(token=TOKEN, channel=CHANNEL, api_url=slack.api_url)
    notice = Notification(
        incident_id="schedule:primary", kind="handoff", text="On call in primary: <!here> bob",
        title="on call in primary", severity=Severity.P5, state="notice",
        idempotency_key="handoff/primary/2026-01-12T08:00:00+00:00", resent=True,
    )  # fmt: skip
    first = notifier.send(notice)
    assert notifier.send(notice) == first and len(slack.messages) == 1
    (posted,) = slack.messages
    assert posted["text"] == "On call in primary: &lt;!here&gt; bob" and "blocks" not in posted


# ----------------------------------------------------------------------------- the pager contract


class TestSlackDMPagerContract(NotifierContract):
    """SlackDMPager takes pages only; a page naming nobody reachable goes to the fallback."""

    kinds = ("page",)

    @pytest.fixture
    def slack(self, httpserver: HTTPServer) -> FakeSlack:
        return FakeSlack(httpserver)

    @pytest.fixture
    def notifier(self, slack: FakeSlack) -> SlackDMPager:
        return SlackDMPager(
            token=TOKEN, people={"alice": "U0ALICE01"}, api_url=slack.api_url, fallback=["alice"]
        )

    @pytest.fixture
    def received(self, slack: FakeSlack) -> Callable[[], list[tuple[str, str]]]:
        def seen() -> list[tuple[str, str]]:
            payloads = [m["metadata"]["event_payload"] for m in slack.messages]
            return [(p["incident_id"], p["kind"]) for p in payloads]

        return seen


class TestTwilioSmsPagerContract(NotifierContract):
    """TwilioSmsPager takes pages only; a page naming nobody reachable goes to the fallback."""

    kinds = ("page",)

    @pytest.fixture
    def twilio(self, httpserver: HTTPServer) -> FakeTwilio:
        return FakeTwilio(httpserver)

    @pytest.fixture
    def notifier(self, twilio: FakeTwilio) -> TwilioSmsPager:
        return TwilioSmsPager(
            account_sid=twilio.SID, auth_token=twilio.AUTH_TOKEN, from_number=twilio.FROM,
            people={"alice": "+14155550100"}, api_url=twilio.api_url, fallback=["alice"],
        )  # fmt: skip

    @pytest.fixture
    def received(self, twilio: FakeTwilio) -> Callable[[], list[tuple[str, str]]]:
        def seen() -> list[tuple[str, str]]:
            keys = [m["body"].rsplit("[ref ", 1)[1].rstrip("]") for m in twilio.sent]
            return [(key.split("/")[0], key.split("/")[-1]) for key in keys]

        return seen
