"""Events: frozen, versioned, and round-tripping exactly through plain data."""

from __future__ import annotations

import json

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from incident_flow import Alert
from incident_flow._core.serialization import message_from_dict, message_to_dict
from incident_flow.events import (
    EVENT_TYPES,
    AlertRepeated,
    Event,
    IncidentTriggered,
    event_from_dict,
    event_to_dict,
)
from incident_flow.testing.contracts import sample_history, storm_histories
from incident_flow.testing.strategies import alerts, aware_datetimes

from .conftest import T0


class TestEventValues:
    """Every event is frozen and names its type."""

    def test_type_is_the_class_name(self) -> None:
        for name, cls in EVENT_TYPES.items():
            assert cls.type == name == cls.__name__
            assert issubclass(cls, Event)

    def test_events_are_frozen(self) -> None:
        event = sample_history()[0]
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            event.version = 9  # type: ignore[misc]


class TestRoundTrip:
    """event_from_dict(event_to_dict(e)) == e for every type, through real JSON."""

    def test_every_type_in_a_real_history(self) -> None:
        history = sample_history() + [e for storm in storm_histories() for e in storm]
        assert {e.type for e in history} == set(EVENT_TYPES)
        for event in history:
            data = json.loads(json.dumps(event_to_dict(event)))
            assert event_from_dict(data) == event
            assert data["type"] == event.type

    @given(alert=alerts(), at=aware_datetimes(), version=st.integers(1, 10**6))
    def test_any_alert_survives(self, alert: Alert, at: object, version: int) -> None:
        event = AlertRepeated(version=version, at=at, alert=alert)  # type: ignore[arg-type]
        back = event_from_dict(json.loads(json.dumps(event_to_dict(event))))
        assert back == event
        assert back.alert.raw == alert.raw  # type: ignore[attr-defined]

    def test_outbox_messages_round_trip(self) -> None:
        from incident_flow import MemoryStore

        store = MemoryStore()
        from incident_flow import IncidentFlow, RecordingNotifier
        from incident_flow.testing import ManualClock, RecordingPublisher

        flow = IncidentFlow(
            store=store,
            notifier=RecordingNotifier(),
            pager=RecordingNotifier(),
            publisher=RecordingPublisher(),
            clock=ManualClock(T0),
        )
        flow.trigger(Alert(source="s", name="n", title="t", severity="P1"))
        messages = store.outbox_messages()
        assert len(messages) == 2
        for message in messages:
            assert message_from_dict(json.loads(json.dumps(message_to_dict(message)))) == message

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            ({"type": "Nope"}, "unknown event type 'Nope'"),
            ({}, "unknown event type None"),
            ({"type": "NoteAdded", "version": 1}, "cannot read a NoteAdded event"),
        ],
    )
    def test_bad_data_is_a_value_error(self, data: dict[str, object], message: str) -> None:
        with pytest.raises(ValueError, match=message):
            event_from_dict(data)

    def test_triggered_keeps_the_alert(self) -> None:
        alert = Alert(source="s", name="n", title="t", labels={"a": "b"}, started_at=T0)
        event = IncidentTriggered(
            version=1, at=T0, incident_id="i", alert=alert, title="t", dedup_key="s:n"
        )
        assert event_from_dict(event_to_dict(event)) == event
