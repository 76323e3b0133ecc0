"""The service's log: plain text lines on a terminal, JSON lines otherwise, secrets never.

Only ``incident-flow serve`` calls :func:`configure_service_logging`: the library configures
nothing at import (a host that mounts the app keeps its own logging). It puts one handler on
the ``incident_flow`` and ``uvicorn`` loggers (uvicorn's ``uvicorn.error`` lines go through it;
its access log is off, ours says more), at INFO, and on the root logger for any other
library's warnings (psycopg's pool's own reconnection warnings are left out: the service says
a store failure once per cause). Each line is one event:

    2026-12-07T20:14:03.112Z INFO    incident_flow.request method=POST path=/webhooks/alertmanager
        status=202 ms=18.4 incidents=inc-4f2a9c1b7e03

    {"time": "2026-12-07T20:14:03.112Z", "level": "info", "logger": "incident_flow.access",
     "event": "incident_flow.request", "method": "POST", "path": "/webhooks/alertmanager", ...}

Every value goes through :class:`~incident_flow.RedactSecrets` with the configuration's
secrets (and the store's password) before it is written, and outside text is escaped: a value
with spaces, quotes or control characters is written as a JSON string, so one event is always
one line.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

import attrs

from .._core.redact import RedactSecrets
from ._config import Secret, ServiceConfig, SourceConfig

__all__ = ["LOGGERS", "configure_service_logging", "secrets_of"]

#: The loggers the service's handler is put on (their children go through it too).
LOGGERS = ("incident_flow", "uvicorn")
#: A value written as it is in a text line; anything else is written as a JSON string.
_PLAIN = re.compile(r"^[\w.,:/@+*\-\[\]{}()#%?&=~]+$")


class ServiceFormatter(logging.Formatter):
    """One event per line, text or JSON, every secret replaced by ``***``."""

    def __init__(self, *, as_json: bool, secrets: Iterable[str | None] = ()) -> None:
        super().__init__()
        self.as_json = as_json
        self._redact = RedactSecrets(secrets)

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line (our events' fields, or a foreign record's message)."""
        ours = getattr(record, "incident_flow", None)
        event: dict[str, Any] = (
            dict(ours) if isinstance(ours, dict) else {"event": record.getMessage()}
        )
        at = datetime.fromtimestamp(record.created, UTC)
        fields: dict[str, Any] = {
            "time": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            **event,
        }
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        fields = dict(self._redact(None, record.levelname.lower(), fields))
        if self.as_json:
            return json.dumps(fields, default=str, ensure_ascii=False)
        return _text_line(fields, ours=isinstance(ours, dict))


def _text_line(fields: dict[str, Any], *, ours: bool) -> str:
    """``time LEVEL event k=v ...`` (a foreign record: ``time LEVEL logger: message``)."""
    time, level, logger = fields.pop("time"), fields.pop("level"), fields.pop("logger")
    event = str(fields.pop("event"))
    head = event if ours else f"{logger}: {_escaped(event)}"
    rest = " ".join(f"{key}={_value(value)}" for key, value in fields.items())
    return f"{time} {level.upper():7} {head}" + (f" {rest}" if rest else "")


def _escaped(text: str) -> str:
    """Text on one line: control characters (a newline) escaped as in JSON."""
    if text.isprintable():
        return text
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _value(value: object) -> str:
    """A field's value in a text line: plain when safe, else a JSON string."""
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value) or "-"
    text = str(value)
    return text if _PLAIN.match(text) else json.dumps(text, ensure_ascii=False)


class _ServiceHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The service's one handler (a second configuration replaces it, never doubles it)."""


def configure_service_logging(
    log_format: str = "auto",
    *,
    stream: TextIO | None = None,
    secrets: Iterable[str | None] = (),
    level: int = logging.INFO,
) -> str:
    """Send the service's and uvicorn's log lines to ``stream`` (stderr), text or JSON.

    Args:
        log_format: ``text``, ``json``, or ``auto``: text on a terminal, JSON otherwise.
        stream: where the lines go (default: ``sys.stderr``).
        secrets: values never written (:func:`secrets_of` gives a configuration's).
        level: the lowest level written.

    Returns:
        The format chosen (``text`` or ``json``).
    """
    stream = stream if stream is not None else sys.stderr
    if log_format not in ("auto", "text", "json"):
        msg = f"log_format must be auto, text or json, not {log_format!r}"
        raise ValueError(msg)
    if log_format == "auto":
        log_format = "text" if _is_terminal(stream) else "json"
    handler = _ServiceHandler(stream)
    handler.setFormatter(ServiceFormatter(as_json=log_format == "json", secrets=secrets))
    for name in LOGGERS:
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            stderr = isinstance(old, logging.StreamHandler) and old.stream is sys.stderr
            if stderr or isinstance(old, _ServiceHandler):
                logger.removeHandler(old)  # the command line's own, or a previous setup
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False  # one line per event, whatever the root logger does
    # Any other library's warnings (psycopg's pool, httpx) in the same format, redacted.
    root = logging.getLogger()
    for old in list(root.handlers):
        if isinstance(old, _ServiceHandler):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(max(level, logging.WARNING))
    # The pool says "error connecting" every second of an outage; ours says it once per cause.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    # uvicorn's own lines reach ours through "uvicorn", whatever an earlier uvicorn.Config
    # (its dictConfig) or another host left on "uvicorn.error".
    said = logging.getLogger("uvicorn.error")
    said.handlers.clear()
    said.disabled = False
    said.setLevel(logging.NOTSET)
    said.propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.disabled = True  # ours says the route, the status, the time and the incidents
    return log_format


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def secrets_of(config: ServiceConfig) -> list[str]:
    """Every secret a configuration holds: its tokens and keys, and the store's password."""
    found = [str(s) for s in _walk(attrs.asdict(config, recurse=False)) if isinstance(s, Secret)]
    found.extend(_dsn_passwords(config.store))
    return found


def _walk(value: object) -> Iterator[object]:
    if isinstance(value, SourceConfig):
        yield value.secret
    elif isinstance(value, dict) or hasattr(value, "items"):
        for item in value.values():  # type: ignore[attr-defined]
            yield from _walk(item)
    else:
        yield value


def _dsn_passwords(store: str) -> list[str]:
    """The password in a DSN (``user:pw@`` or ``password=pw``), to keep it out of every line."""
    found = re.findall(r"://[^:@/]+:([^@/]*)@", store)
    found += re.findall(r"password=([^&\s]+)", store)
    return [p for p in found if p]
