"""capture_events: incident_flow's log events as plain dicts, for tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["capture_events"]


@contextmanager
def capture_events(level: int = logging.DEBUG) -> Iterator[list[dict[str, Any]]]:
    """Collect every incident_flow log event at ``level`` or above while the block runs.

    Each is the event's fields with ``event`` and ``log_level`` (``info``, ``warning``...),
    like structlog's ``capture_logs``::

        with capture_events() as events:
            flow.trigger(alert)
        assert events[0]["event"] == "incident_flow.state_changed"

    The ``incident_flow`` logger's level is set for the block and put back after it.
    """
    events: list[dict[str, Any]] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            data = getattr(record, "incident_flow", None)
            if isinstance(data, dict):
                events.append({**data, "log_level": record.levelname.lower()})

    logger = logging.getLogger("incident_flow")
    handler, previous = _Collect(level), logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield events
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
