"""Test doubles: a clock you move by hand and a publisher that keeps documents in memory."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from .._review.document import PostMortemDocument

__all__ = ["ManualClock", "RecordingPublisher"]


class ManualClock:
    """A clock that only moves when told to.

    Args:
        start: the initial time (timezone-aware; default 2025-01-01 09:00 UTC).
    """

    def __init__(self, start: datetime | None = None) -> None:
        start = start if start is not None else datetime(2025, 1, 1, 9, 0, tzinfo=UTC)
        if start.utcoffset() is None:
            msg = "ManualClock needs a timezone-aware start time"
            raise ValueError(msg)
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ManualClock({self._now.isoformat()})"

    def now(self) -> datetime:
        """Return the clock's current time."""
        return self._now

    def advance(self, delta: timedelta | float) -> datetime:
        """Move forward by ``delta`` (a timedelta or seconds) and return the new time.

        Raises:
            ValueError: ``delta`` is negative.
        """
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        if step < timedelta(0):
            msg = f"a ManualClock only moves forward, got {step}"
            raise ValueError(msg)
        with self._lock:
            self._now += step
            return self._now

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (which may be in the past, to test clocks that go backwards)."""
        if when.utcoffset() is None:
            msg = "ManualClock.set needs a timezone-aware datetime"
            raise ValueError(msg)
        with self._lock:
            self._now = when.astimezone(UTC)


class RecordingPublisher:
    """Keeps each published post-mortem in ``.documents`` (by path) instead of writing it.

    Publishing the same incident again replaces its entry, as the real publishers update
    rather than duplicate. ``publish`` returns ``memory://<folder>/<file>``.
    """

    #: Never blocks: AsyncIncidentFlow calls it inline (see adapters.threaded).
    nonblocking = True

    def __init__(self) -> None:
        self.documents: dict[str, str] = {}
        self.publishes = 0

    def __repr__(self) -> str:
        return f"RecordingPublisher(documents={len(self.documents)})"

    def publish(self, document: PostMortemDocument) -> str:
        """Render and keep the document; return its memory:// location."""
        self.publishes += 1
        self.documents[document.path] = document.render_markdown()
        return f"memory://{document.path}"
