"""Events to plain data and back, through one cattrs converter (what durable stores write)."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from cattrs.preconf.json import make_converter

from .events import EVENT_TYPES, Event
from .messages import OutboxMessage

__all__ = ["converter", "event_from_dict", "event_to_dict", "message_from_dict", "message_to_dict"]

#: The converter for every value incident_flow stores (datetimes as ISO 8601, enums by value).
converter = make_converter()
# Alert.labels is a read-only mapping; store it as a plain JSON object.
converter.register_unstructure_hook(MappingProxyType, dict)


def event_to_dict(event: Event) -> dict[str, Any]:
    """Return the event as JSON-ready data, with its ``type``."""
    data: dict[str, Any] = converter.unstructure(event)
    data["type"] = event.type
    return data


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event from :func:`event_to_dict`'s output.

    Raises:
        ValueError: the type is unknown or a field is missing or wrong.
    """
    fields = dict(data)
    type_name = fields.pop("type", None)
    cls = EVENT_TYPES.get(type_name) if isinstance(type_name, str) else None
    if cls is None:
        msg = f"unknown event type {type_name!r}"
        raise ValueError(msg)
    try:
        return converter.structure(fields, cls)
    except Exception as exc:
        msg = f"cannot read a {type_name} event: {exc}"
        raise ValueError(msg) from exc


def message_to_dict(message: OutboxMessage) -> dict[str, Any]:
    """Return the outbox message as JSON-ready data."""
    data: dict[str, Any] = converter.unstructure(message)
    return data


def message_from_dict(data: dict[str, Any]) -> OutboxMessage:
    """Rebuild an outbox message from :func:`message_to_dict`'s output."""
    return converter.structure(data, OutboxMessage)
