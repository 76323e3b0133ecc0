"""Incident is the fold of its events."""

from __future__ import annotations

import pytest

from incident_flow import Severity
from incident_flow._core import events as ev
from incident_flow._core.incident import fold
from incident_flow.testing.contracts import sample_history

from .conftest import T0


class TestFold:
    """Folding events gives the incident; replay equals incremental folding."""

    def test_replay_equals_folding_one_by_one(self) -> None:
        history = sample_history()
        whole = fold(None, history)
        step = None
        for event in history:
            step = fold(step, [event])
        assert step == whole
        assert whole.version == len(history)
        assert whole.state == "closed"

    def test_sample_incident_facts(self) -> None:
        incident = fold(None, sample_history())
        assert incident.severity is Severity.P2
        assert incident.postmortem_required and incident.paged
        assert incident.alert_count == 2
        assert incident.postmortem is not None
        assert incident.postmortem.approvals == ("bob", "carol")
        assert incident.postmortem.location is not None
        assert incident.open_action_items == ()
        assert [(i.id, i.kind, i.done, i.waived) for i in incident.action_items] == [
            ("AI-1", "add_runbook", True, False),
            ("AI-2", "update_runbook", False, True),
            ("AI-3", "update_runbook", True, False),
            ("AI-4", "follow_up", True, False),
        ]
        assert incident.action_item("AI-2") is not None
        assert incident.action_item("AI-9") is None
        assert incident.closed and not incident.accepts_alerts

    def test_a_stream_must_start_with_triggered(self) -> None:
        with pytest.raises(ValueError, match="starts with IncidentTriggered"):
            fold(None, [ev.NoteAdded(version=1, at=T0, text="x")])

    def test_gaps_are_refused(self) -> None:
        history = sample_history()
        with pytest.raises(ValueError, match="event version 5 after 3"):
            fold(None, history[:3] + history[4:5])

    def test_nothing_to_fold(self) -> None:
        with pytest.raises(ValueError, match="no events"):
            fold(None, [])

    def test_first_acknowledgement_wins(self) -> None:
        history = sample_history()[:3]
        incident = fold(None, history)
        later = [
            ev.IncidentAcknowledged(version=4, at=T0, by="alice"),
            ev.IncidentAcknowledged(version=5, at=T0.replace(hour=11), by="bob"),
        ]
        assert fold(incident, later).acknowledged_by == "alice"
