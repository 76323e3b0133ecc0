"""The test support shipped in incident_flow.testing, and properties over random policies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given

import incident_flow.testing
from incident_flow import Alert, IncidentFlow, Policy, RecordingNotifier
from incident_flow.testing import ManualClock, RecordingPublisher
from incident_flow.testing.strategies import alerts, policies

from .conftest import T0


class TestManualClock:
    """Moves only when told, forward by advance(), anywhere by set()."""

    def test_default_start_and_advance(self) -> None:
        clock = ManualClock()
        start = clock.now()
        assert start.tzinfo is UTC
        assert clock.advance(90) == start + timedelta(seconds=90)
        assert clock.advance(timedelta(minutes=1)) == start + timedelta(seconds=150)
        assert "ManualClock(" in repr(clock)

    def test_refuses_naive_times_and_going_back_by_advance(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            ManualClock(datetime(2025, 1, 1))  # noqa: DTZ001
        clock = ManualClock(T0)
        with pytest.raises(ValueError, match="only moves forward"):
            clock.advance(-1)
        with pytest.raises(ValueError, match="timezone-aware"):
            clock.set(datetime(2025, 1, 1))  # noqa: DTZ001
        clock.set(T0 - timedelta(days=1))
        assert clock.now() == T0 - timedelta(days=1)


class TestModule:
    """The contract suites load lazily; unknown names fail clearly."""

    def test_lazy_contracts(self) -> None:
        assert incident_flow.testing.StoreContract.__name__ == "StoreContract"

    def test_unknown_name(self) -> None:
        with pytest.raises(AttributeError, match="no attribute 'Nope'"):
            _ = incident_flow.testing.Nope  # type: ignore[attr-defined]

    def test_recording_notifier_clear_and_publisher_repr(self) -> None:
        notifier = RecordingNotifier()
        flow = IncidentFlow(notifier=notifier, pager=notifier, publisher=RecordingPublisher())
        flow.trigger(Alert(source="s", name="n", title="t", severity="P1"))
        assert notifier.sends == 2
        notifier.clear()
        assert (notifier.messages, notifier.sends) == ([], 0)
        assert repr(RecordingPublisher()) == "RecordingPublisher(documents=0)"


class TestAnyPolicy:
    """For any policy and alert, classification, paging and obligations follow the policy."""

    @given(policy=policies(), alert=alerts())
    def test_trigger_follows_the_policy(self, policy: Policy, alert: Alert) -> None:
        chat, pager = RecordingNotifier(), RecordingNotifier()
        flow = IncidentFlow(
            policy,
            notifier=chat,
            pager=pager,
            publisher=RecordingPublisher(),
            clock=ManualClock(T0),
        )
        incident = flow.trigger(alert)
        runbook = policy.runbooks.find(alert)
        expected = alert.severity or (runbook.severity if runbook else None)
        assert incident.severity == (expected or policy.default_severity)
        assert incident.runbook == runbook
        assert incident.critical == policy.is_critical(incident.severity)
        assert incident.paged == incident.critical
        assert [m.kind for m in pager.messages] == (["page"] if incident.critical else [])
        assert [m.kind for m in chat.messages] == ["notify"]
        assert incident.postmortem_required == policy.requires_postmortem(incident.severity)
