"""MemoryTracker: a tracker kept in the process, for tests, examples and the stateful test."""

from __future__ import annotations

import threading

import attrs

from ..._core.trackers import TRACKER_KINDS, FollowUp, TrackerIssue

__all__ = ["MemoryTracker"]


class MemoryTracker:
    """Issues in a dict: what a tracker adapter must do, with nothing between (never blocks).

    ``issues`` holds every issue by key, ``follow_ups`` what each was opened for, and
    ``comments`` what each was told. :meth:`close_there` closes one as a person would in the
    tracker (its webhook or a poll then settles the item). ``lose_answers`` makes the next
    opens create the issue and then fail, as a lost answer does.
    """

    nonblocking = True

    def __init__(self, kind: str = "github") -> None:
        if kind not in TRACKER_KINDS:
            msg = f"MemoryTracker kind: one of {', '.join(TRACKER_KINDS)}, got {kind!r}"
            raise ValueError(msg)
        self.kind = kind
        self.issues: dict[str, TrackerIssue] = {}
        self.follow_ups: dict[str, FollowUp] = {}
        self.comments: dict[str, list[str]] = {}
        self.lose_answers = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryTracker({self.kind!r}, issues={len(self.issues)})"

    def _key(self, where: str) -> str:
        number = len(self.issues) + 1
        return f"{where}#{number}" if self.kind == "github" else f"{where}-{number}"

    def open(self, follow_up: FollowUp) -> TrackerIssue:
        """Open the item's issue; with ``resent``, the one opened for it before, if any."""
        with self._lock:
            if follow_up.resent:
                for key, opened in self.follow_ups.items():
                    if (opened.incident_id, opened.item_id) == (
                        follow_up.incident_id,
                        follow_up.item_id,
                    ):
                        return self.issues[key]
            key = self._key(follow_up.where)
            issue = TrackerIssue(key=key, url=f"memory://{key}")
            self.issues[key] = issue
            self.follow_ups[key] = follow_up
            if self.lose_answers:
                self.lose_answers -= 1
                msg = "the answer was lost (MemoryTracker.lose_answers)"
                raise ConnectionError(msg)
            return issue

    def close(self, issue: TrackerIssue, comment: str) -> TrackerIssue:
        """Comment and close it; a closed one is left as it is."""
        with self._lock:
            now = self.issues[issue.key]
            if now.closed:
                return now
            self.comments.setdefault(issue.key, []).append(comment)
            closed = self.issues[issue.key] = attrs.evolve(now, closed=True)
            return closed

    def status(self, issue: TrackerIssue) -> TrackerIssue:
        """The issue as it is now."""
        return self.issues[issue.key]

    def close_there(self, key: str, by: str = "someone") -> TrackerIssue:
        """Close issue ``key`` as a person in the tracker does (``closed_by``)."""
        with self._lock:
            closed = attrs.evolve(self.issues[key], closed=True, closed_by=by)
            self.issues[key] = closed
            return closed

    def opened_for(self, incident_id: str) -> list[FollowUp]:
        """What was opened for the incident's items, in order."""
        return [f for f in self.follow_ups.values() if f.incident_id == incident_id]
