"""The events of an incident's history, and their plain-data form.

``IncidentFlow.history(id)`` returns these, oldest first; each has ``version``, ``type``, ``at``
and ``by``. :func:`event_to_dict` / :func:`event_from_dict` round-trip every type exactly.
"""

from __future__ import annotations

from ._events import (
    EVENT_TYPES,
    ActionItemCompleted,
    ActionItemRaised,
    ActionItemWaived,
    AlertRecovered,
    AlertRepeated,
    DeliveryFailed,
    Escalated,
    Event,
    IncidentAcknowledged,
    IncidentClassified,
    IncidentClosed,
    IncidentNotified,
    IncidentReopened,
    IncidentResolved,
    IncidentTriggered,
    MessageDelivered,
    NoteAdded,
    PostMortemApproved,
    PostMortemPublished,
    PostMortemStarted,
    Reminded,
    ReminderScheduled,
    RunbookAdded,
    RunbookStarted,
    RunbookUpdated,
    SeverityChanged,
)
from ._serialization import event_from_dict, event_to_dict

__all__ = [
    "EVENT_TYPES",
    "ActionItemCompleted",
    "ActionItemRaised",
    "ActionItemWaived",
    "AlertRecovered",
    "AlertRepeated",
    "DeliveryFailed",
    "Escalated",
    "Event",
    "IncidentAcknowledged",
    "IncidentClassified",
    "IncidentClosed",
    "IncidentNotified",
    "IncidentReopened",
    "IncidentResolved",
    "IncidentTriggered",
    "MessageDelivered",
    "NoteAdded",
    "PostMortemApproved",
    "PostMortemPublished",
    "PostMortemStarted",
    "Reminded",
    "ReminderScheduled",
    "RunbookAdded",
    "RunbookStarted",
    "RunbookUpdated",
    "SeverityChanged",
    "event_from_dict",
    "event_to_dict",
]
