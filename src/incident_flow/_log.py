"""Our log events, silent unless the host asks: structlog events on the standard library.

incident_flow logs structured events (``incident_flow.state_changed incident_id=... state=...``)
but never configures logging: that is the host's. Every logger here is structlog's stdlib
integration over ``logging.getLogger("incident_flow...")``, wrapped locally (never through
``structlog.configure``), so:

- an unconfigured host sees nothing (a ``NullHandler`` on ``incident_flow``, and the
  standard library's own "last resort" never fires);
- ``logging.basicConfig(level=logging.INFO)`` shows ``incident_flow.state_changed
  incident_id='inc-1' state='notified' ...`` lines, and ``level=WARNING`` shows only failures;
- a host on structlog (``structlog.stdlib.ProcessorFormatter`` with ``ExtraAdder``, or any
  formatter reading the record's attributes) gets every field as a record attribute, and the
  whole event under ``record.incident_flow``.

A disabled level costs one ``isEnabledFor`` check.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

import structlog

__all__ = ["get_logger"]

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


def get_logger(name: str) -> Any:
    """A structlog logger over the standard library's ``logging.getLogger(name)``."""
    return structlog.wrap_logger(
        logging.getLogger(name),
        processors=[structlog.stdlib.filter_by_level, _to_record],
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
