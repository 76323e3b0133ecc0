"""Our log events, silent unless the host asks: structured events on the standard library.

incident_flow logs structured events (``incident_flow.state_changed incident_id=... state=...``)
but never configures logging: that is the host's. Every logger here hands its events to
``logging.getLogger("incident_flow...")`` as structlog's stdlib integration would (never
through ``structlog.configure``), without going through structlog itself (one event per
request in the service: its cost counts), so:

- an unconfigured host sees nothing (a ``NullHandler`` on ``incident_flow``, and the
  standard library's own "last resort" never fires);
- ``logging.basicConfig(level=logging.INFO)`` shows ``incident_flow.state_changed
  incident_id='inc-1' state='notified' ...`` lines, and ``level=WARNING`` shows only failures;
- a host on structlog (``structlog.stdlib.ProcessorFormatter`` with ``ExtraAdder``, or any
  formatter reading the record's attributes) gets every field as a record attribute, and the
  whole event under ``record.incident_flow``.

A disabled level costs one ``isEnabledFor`` check (the standard library caches it).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Hashable, MutableMapping
from typing import Any

__all__ = ["EventLogger", "OncePerCause", "get_logger"]

#: LogRecord attributes an ``extra`` key may not overwrite.
_RESERVED = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
)

logging.getLogger("incident_flow").addHandler(logging.NullHandler())


def _to_record(
    logger: logging.Logger, method_name: str, event_dict: MutableMapping[str, Any]
) -> dict[str, Any]:
    """The event as a log call: ``event k=v ...`` as the message, the fields as ``extra``."""
    event = str(event_dict.pop("event", ""))
    fields = " ".join(f"{key}={value!r}" for key, value in event_dict.items())
    extra = {(f"if_{k}" if k in _RESERVED else k): v for k, v in event_dict.items()}
    extra["incident_flow"] = {"event": event, **event_dict}
    return {"msg": f"{event} {fields}" if fields else event, "extra": extra}


class EventLogger:
    """Our events at four levels; a level the host did not enable costs one check.

    An event goes straight to the standard library's logger (the record :func:`_to_record`
    makes, said to come from the code that logged it): the service writes one per request.
    """

    __slots__ = ("_std",)

    def __init__(self, name: str) -> None:
        self._std = logging.getLogger(name)

    def enabled(self, level: int) -> bool:
        """Whether an event at ``level`` would be logged (skip building costly fields if not)."""
        return self._std.isEnabledFor(level)

    def _say(self, level: int, event: str, fields: dict[str, Any]) -> None:
        fields["event"] = event
        said = _to_record(self._std, "", fields)
        self._std.log(level, said["msg"], extra=said["extra"], stacklevel=3)

    def debug(self, event: str, **fields: Any) -> None:
        """Log ``event`` with its fields at DEBUG."""
        if self._std.isEnabledFor(logging.DEBUG):
            self._say(logging.DEBUG, event, fields)

    def info(self, event: str, **fields: Any) -> None:
        """Log ``event`` with its fields at INFO."""
        if self._std.isEnabledFor(logging.INFO):
            self._say(logging.INFO, event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        """Log ``event`` with its fields at WARNING."""
        if self._std.isEnabledFor(logging.WARNING):
            self._say(logging.WARNING, event, fields)

    def error(self, event: str, **fields: Any) -> None:
        """Log ``event`` with its fields at ERROR."""
        if self._std.isEnabledFor(logging.ERROR):
            self._say(logging.ERROR, event, fields)


def get_logger(name: str) -> EventLogger:
    """Our events over the standard library's ``logging.getLogger(name)``."""
    return EventLogger(name)


class OncePerCause:
    """Which warnings were said already, so that each is said once per cause, not per retry.

    A subject (an incident's channel, say) failing again for the same cause is not news: the
    first failure is said as a warning, the repeats only at DEBUG. Once the subject recovers
    (:meth:`forget`), a new failure is news again. Thread-safe; it remembers at most ``most``
    subjects (the oldest forgotten first), so a flood of them cannot grow it for ever.
    """

    def __init__(self, most: int = 10_000) -> None:
        self._said: OrderedDict[Hashable, set[str]] = OrderedDict()
        self._most = most
        self._lock = threading.Lock()

    def first(self, subject: Hashable, cause: str) -> bool:
        """True the first time ``cause`` is said about ``subject`` (and remember it)."""
        with self._lock:
            causes = self._said.setdefault(subject, set())
            self._said.move_to_end(subject)
            if cause in causes:
                return False
            causes.add(cause)
            while len(self._said) > self._most:
                self._said.popitem(last=False)
            return True

    def forget(self, subject: Hashable) -> bool:
        """Forget what was said about ``subject``; True if anything was."""
        if subject not in self._said:
            return False  # the usual case, checked without the lock
        with self._lock:
            return self._said.pop(subject, None) is not None
