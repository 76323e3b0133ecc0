"""Test support for incident_flow and for people who write their own adapters.

- :class:`ManualClock` and :class:`RecordingPublisher`: doubles (``MemoryStore`` and
  ``RecordingNotifier`` are real adapters, importable from :mod:`incident_flow`).
- :mod:`incident_flow.testing.contracts`: ``StoreContract``, ``NotifierContract`` and
  ``PublisherContract``, the suites every adapter passes (needs pytest).
- :mod:`incident_flow.testing.strategies`: Hypothesis strategies (needs hypothesis).
- :func:`capture_events`: incident_flow's log events as dicts, for asserting on them.
- :class:`LoopThread` and :class:`Blocking`: run async ports and ``AsyncIncidentFlow`` from
  sync test bodies (the contract suites run every body under both drivers with them).
"""

from __future__ import annotations

from typing import Any

from ._async import Blocking, LoopThread
from ._doubles import ManualClock, RecordingPublisher
from ._logs import capture_events

__all__ = [
    "Blocking",
    "LoopThread",
    "ManualClock",
    "NotifierContract",
    "PublisherContract",
    "RecordingPublisher",
    "StoreContract",
    "capture_events",
]

_CONTRACTS = ("NotifierContract", "PublisherContract", "StoreContract")


def __getattr__(name: str) -> Any:
    # The suites import pytest; load them only when asked for.
    if name in _CONTRACTS:
        from . import contracts  # noqa: PLC0415

        return getattr(contracts, name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
