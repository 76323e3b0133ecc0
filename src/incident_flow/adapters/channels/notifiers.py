"""LogNotifier and RecordingNotifier: notifiers that need no network."""

from __future__ import annotations

import logging
import threading

from ..._core.log import get_logger
from ..._core.messages import Notification

__all__ = ["LogNotifier", "RecordingNotifier"]


class LogNotifier:
    """Logs each message (``incident_flow.notify``, INFO); the default channel.

    The host configures logging; this never does (see :mod:`incident_flow._core.log`). Useful as a
    dry run of a policy: every message that would reach Slack or the pager is logged with its
    incident and kind.
    """

    #: Never blocks: AsyncIncidentFlow calls it inline (see adapters.threaded).
    nonblocking = True

    def __init__(self, channel: str = "chat") -> None:
        self.channel = channel
        self._log = get_logger("incident_flow.notify")

    def __repr__(self) -> str:
        return f"LogNotifier(channel={self.channel!r})"

    def send(self, message: Notification) -> str | None:
        """Log the message; always succeeds."""
        if not self._log.enabled(logging.INFO):
            return None  # the host logs nothing at INFO: no fields to build
        self._log.info(
            "incident_flow.notify",
            channel=self.channel,
            incident_id=message.incident_id,
            kind=message.kind,
            severity=str(message.severity),
            text=message.text,
        )
        return None


class RecordingNotifier:
    """Keeps every message it delivered in ``.messages``, in order; for tests and examples.

    Each message has ``incident_id``, ``kind`` (``notify``, ``update``, ``page``, ``ack``,
    ``resolve``) and ``text``. Messages re-sent with the same ``idempotency_key`` (a retry after
    a crash) are recorded once, as a receiver that dedups would see them; ``.sends`` counts
    every call.
    """

    #: Never blocks: AsyncIncidentFlow calls it inline (see adapters.threaded).
    nonblocking = True

    def __init__(self) -> None:
        self.messages: list[Notification] = []
        self.sends = 0
        self._keys: set[str] = set()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RecordingNotifier(messages={len(self.messages)})"

    def send(self, message: Notification) -> str | None:
        """Record the message and return its idempotency key as the receipt."""
        with self._lock:
            self.sends += 1
            if message.idempotency_key not in self._keys:
                self._keys.add(message.idempotency_key)
                self.messages.append(message)
        return message.idempotency_key

    def incident_channel(self, message: Notification) -> str | None:
        """Record a message about the incident's own channel as :meth:`send` does.

        Kinds ``channel``, ``invite``, ``archive``; the channel it opens is ``C-`` and the
        incident's id (its receipt ``C-<id>:<idempotency key>``).
        """
        self.send(message)
        if message.kind == "channel":
            return f"C-{message.incident_id}:{message.idempotency_key}"
        return message.room

    def of(self, incident_id: str, kind: str | None = None) -> list[Notification]:
        """The messages of one incident (of one kind when given)."""
        return [
            m
            for m in self.messages
            if m.incident_id == incident_id and (kind is None or m.kind == kind)
        ]

    def clear(self) -> None:
        """Forget every recorded message."""
        with self._lock:
            self.messages.clear()
            self._keys.clear()
            self.sends = 0
