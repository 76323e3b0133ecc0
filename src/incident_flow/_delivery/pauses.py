"""Channels that keep failing are paused for a cool-down, so a dead chat costs one timeout.

Without it, every pending message of a hanging Slack waits out its own timeout, one after the
other, and everything behind them waits too. With it, the first failure of a channel pauses it:
its other messages are not tried until the cool-down ends (they stay pending, and say so in
the timeline), while the other channels (the pager first) go on. The cool-down doubles with
each failure in a row, from 5 seconds (a failed message's own first retry) up to 5 minutes,
or is what the receiver asked for
(``Retry-After``); one delivery that goes through ends it.

Only failures that say nothing about the message itself pause a channel: a receiver that
refuses one message (a 4xx, ``permanent``) is not down.

The state is this process's: another replica finds out for itself, at the cost of one attempt.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import attrs

__all__ = ["COOL_DOWN", "LONGEST", "Pauses", "held_by_pause"]

#: The first cool-down, and the longest.
COOL_DOWN = timedelta(seconds=5)
LONGEST = timedelta(minutes=5)


@attrs.frozen
class _Pause:
    until: datetime
    failures: int
    why: str


class Pauses:
    """Which channels are paused, until when and why (thread-safe: drivers share one)."""

    def __init__(self) -> None:
        self._paused: dict[str, _Pause] = {}
        self._started: dict[str, int] = {}
        self._lock = threading.Lock()

    def until(self, channel: str, now: datetime) -> tuple[datetime, str] | None:
        """When ``channel``'s pause ends and why it was paused, or None: not paused now."""
        pause = self._paused.get(channel)
        if pause is None or pause.until <= now:
            return None
        return pause.until, pause.why

    def failed(
        self,
        channel: str,
        now: datetime,
        why: str,
        *,
        retry_after: float | None = None,
        permanent: bool = False,
    ) -> None:
        """A delivery through ``channel`` failed: pause it (longer for each failure in a row)."""
        if permanent:
            return  # the receiver refused this message, it is not down
        with self._lock:
            before = self._paused.get(channel)
            failures = (before.failures if before is not None else 0) + 1
            cool = min(COOL_DOWN * 2 ** min(failures - 1, 10), LONGEST)
            if retry_after is not None:
                cool = timedelta(seconds=max(retry_after, 0.0))
            self._paused[channel] = _Pause(until=now + cool, failures=failures, why=why)
            self._started[channel] = self._started.get(channel, 0) + 1

    def delivered(self, channel: str) -> None:
        """A delivery through ``channel`` went through: it is not paused any more."""
        if channel in self._paused:
            with self._lock:
                self._paused.pop(channel, None)

    def paused(self, now: datetime) -> dict[str, datetime]:
        """The channels paused at ``now`` and when each pause ends (for metrics)."""
        return {name: p.until for name, p in list(self._paused.items()) if p.until > now}

    def started(self) -> dict[str, int]:
        """How many pauses each channel has had (started or extended by a failure), ever."""
        with self._lock:
            return dict(self._started)


def held_by_pause(channel: str, error: str) -> bool:
    """Whether a DeliveryFailed ``error`` says the message was not tried: ``channel`` was paused.

    The driver records such a message as ``"<channel> paused until HH:MM:SS UTC after: <why>"``.
    """
    return error.startswith(f"{channel} paused until ")
