"""A sync tracker for :class:`~incident_flow.AsyncIncidentFlow`: its calls run on threads."""

from __future__ import annotations

import asyncio
import inspect

from ..._core.trackers import FollowUp, TrackerIssue
from ...ports import AsyncTracker, Tracker

__all__ = ["ThreadedTracker", "as_async_tracker"]


class ThreadedTracker:
    """An :class:`~incident_flow.ports.AsyncTracker` over a sync one (calls on threads)."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker
        self.kind = tracker.kind

    def __repr__(self) -> str:
        return f"ThreadedTracker({self.tracker!r})"

    async def open(self, follow_up: FollowUp) -> TrackerIssue:
        """Open through the wrapped tracker on a worker thread."""
        return await asyncio.to_thread(self.tracker.open, follow_up)

    async def close(self, issue: TrackerIssue, comment: str) -> TrackerIssue:
        """Close through the wrapped tracker on a worker thread."""
        return await asyncio.to_thread(self.tracker.close, issue, comment)

    async def status(self, issue: TrackerIssue) -> TrackerIssue:
        """Read through the wrapped tracker on a worker thread."""
        return await asyncio.to_thread(self.tracker.status, issue)


def as_async_tracker(tracker: AsyncTracker | Tracker) -> AsyncTracker | Tracker:
    """The tracker as AsyncIncidentFlow calls it: async or non-blocking as is, else threaded."""
    if inspect.iscoroutinefunction(getattr(tracker, "open", None)):
        return tracker
    if getattr(tracker, "nonblocking", False) is True:
        return tracker
    return ThreadedTracker(tracker)  # type: ignore[arg-type]  # sync: open is no coroutine
