"""What ``/metrics`` loads when the store cannot count it: open incidents, by team too."""

from __future__ import annotations

from collections import Counter
from typing import Any

from .._core.process import FINAL_STATE
from .._drivers.async_flow import AsyncIncidentFlow
from ..ports import StoreCounts
from ._closing import maybe as _maybe
from ._metrics import COUNTED_STATES

__all__ = ["counted_by_loading", "open_counts"]


async def open_counts(flow: AsyncIncidentFlow) -> Counter[tuple[str, str, str | None]]:
    """The open incidents by ``(state, severity, team)``, loaded (slow with thousands)."""
    found: Counter[tuple[str, str, str | None]] = Counter()
    for state in COUNTED_STATES:
        for incident in await flow.incidents(state):
            found[incident.state, str(incident.severity), incident.team] += 1
    return found


async def counted_by_loading(flow: AsyncIncidentFlow, opened: Counter[Any]) -> StoreCounts:
    """A store without ``counts``: its open incidents as loaded, its closed ones counted."""
    found: Counter[tuple[str, str]] = Counter()
    for (state, severity, _), n in opened.items():
        found[state, severity] += n
    store: Any = flow.store
    closed = len(await _maybe(store.incident_ids(FINAL_STATE)))
    pending: list[Any] = []
    if hasattr(store, "outbox_messages"):
        pending = [m for m in await _maybe(store.outbox_messages()) if m.pending]
    return StoreCounts(
        incidents=[(s, v, n) for (s, v), n in found.items()],
        closed=closed,
        pending=len(pending),
        oldest_pending=min((m.created_at for m in pending), default=None),
    )
