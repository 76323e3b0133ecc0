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

    A document is rendered when ``.documents`` is first read after it was published (the
    same Markdown: a document is a frozen value), not on every publish nobody reads.
    """

    #: Never blocks: AsyncIncidentFlow calls it inline (see adapters.threaded).
    nonblocking = True

    def __init__(self) -> None:
        # Each path's Markdown, or the document not rendered yet (in place: the order kept).
        self._documents: dict[str, str | PostMortemDocument] = {}
        self._lock = threading.Lock()
        self.publishes = 0

    def __repr__(self) -> str:
        return f"RecordingPublisher(documents={len(self._documents)})"

    @property
    def documents(self) -> dict[str, str]:
        """Each published post-mortem's Markdown by path, in the order first published."""
        with self._lock:
            documents = self._documents
            for path, kept in documents.items():
                if not isinstance(kept, str):
                    documents[path] = kept.render_markdown()  # an existing key: order kept
            return documents  # type: ignore[return-value]  # every value is rendered now

    @documents.setter
    def documents(self, documents: dict[str, str]) -> None:
        with self._lock:
            self._documents = documents  # type: ignore[assignment]  # str is a kept value

    def publish(self, document: PostMortemDocument) -> str:
        """Keep the document (rendered when read); return its memory:// location."""
        path = document.path
        with self._lock:
            self.publishes += 1
            self._documents[path] = document
        return f"memory://{path}"
