"""Alert storms without noise: repeats summed up in the thread, flapping alerts not re-paged."""

from __future__ import annotations

from datetime import timedelta

import pytest

from incident_flow import Alert, IncidentFlow, InvalidPolicy, Policy, RecordingNotifier, Severity
from incident_flow.testing import ManualClock

from .conftest import T0

P1 = Alert(source="datadog", name="CheckoutErrors", title="checkout 5xx", severity=Severity.P1)


def make(policy: Policy) -> tuple[IncidentFlow, RecordingNotifier, RecordingNotifier, ManualClock]:
    clock = ManualClock(T0)
    chat, pager = RecordingNotifier(), RecordingNotifier()
    flow = IncidentFlow(policy, notifier=chat, pager=pager, clock=clock)
    return flow, chat, pager, clock


def test_a_storm_of_repeats_is_summed_up_not_posted_one_by_one() -> None:
    """500 repeats over 30 minutes: at most (30 / 5) + 2 thread messages, the count exact."""
    flow, chat, pager, clock = make(Policy(repeat_summary_every=timedelta(minutes=5)))
    incident = flow.trigger(P1)
    for _ in range(500):
        clock.advance(timedelta(seconds=3.6))
        flow.trigger(P1)
    repeats = [m for m in chat.of(incident.id, "update") if "fired again" in m.text]
    assert 1 <= len(repeats) <= 30 // 5 + 2
    assert repeats[0].text == "Alert fired again (2 times)"
    assert repeats[1].text.endswith("since the last update)")
    now = flow.get(incident.id)
    assert now.alert_count == 501
    assert len(pager.of(incident.id)) == 1  # one page for the whole storm
    assert sum(1 for e in flow.history(incident.id) if e.type == "AlertRepeated") == 500
    resolved = flow.resolve(incident.id, by="alice")
    assert resolved.alert_count == 501
    last = chat.of(incident.id, "update")[-1].text
    assert last.startswith("Resolved by alice") and "(the alert fired 501 times)" in last
    assert chat.of(incident.id)[-1].fired == 501  # a channel can show the count


def test_every_repeat_posted_when_asked() -> None:
    flow, chat, _, _ = make(Policy(repeat_summary_every=timedelta(0)))
    incident = flow.trigger(P1)
    for _ in range(3):
        flow.trigger(P1)
    texts = [m.text for m in chat.of(incident.id, "update")]
    assert texts == [f"Alert fired again ({n} times)" for n in (2, 3, 4)]


def test_a_flapping_alert_does_not_page_again() -> None:
    flow, chat, pager, clock = make(Policy(flap_window=timedelta(minutes=10)))
    incident = flow.trigger(P1)
    for _ in range(5):  # fire, resolve, fire... within the window
        flow.resolve(incident.id, by="alice")
        clock.advance(timedelta(minutes=2))
        assert flow.trigger(P1).id == incident.id
    assert [m.kind for m in pager.of(incident.id)] == ["page", "resolve"] * 1 + ["resolve"] * 4
    assert any("flapping" in m.text for m in chat.of(incident.id))
    flow.resolve(incident.id, by="alice")
    clock.advance(timedelta(minutes=30))  # past the window: a real recurrence pages again
    flow.trigger(P1)
    assert [m.kind for m in pager.of(incident.id)][-1] == "page"
    # A person's reopen pages, flapping or not.
    flow.resolve(incident.id, by="alice")
    flow.reopen(incident.id, by="bob")
    assert [m.kind for m in pager.of(incident.id)][-1] == "page"


def test_the_storm_settings_from_toml() -> None:
    policy = Policy.from_text('repeat_summary_every = "2m"\nflap_window = "10m"\n')
    assert policy.repeat_summary_every == timedelta(minutes=2)
    assert policy.flap_window == timedelta(minutes=10)
    assert Policy.from_text("repeat_summary_every = 0\n").repeat_summary_every == timedelta(0)
    with pytest.raises(InvalidPolicy, match="flap_window: must be a positive duration"):
        Policy.from_text('flap_window = "soon"\n')
    with pytest.raises(ValueError, match="durations must be"):
        Policy(flap_window=-1)  # type: ignore[arg-type]
