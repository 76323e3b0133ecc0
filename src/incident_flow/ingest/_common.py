"""What every parser shares: reading the body, typed field access with paths, severity words."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .._core.severity import Severity
from .._core.text import storable_data
from ..exceptions import InvalidPayload

__all__ = [
    "DEDUP_FIX_LABEL",
    "DEDUP_LABEL",
    "Body",
    "Fields",
    "convention_severity",
    "is_zero_level",
    "level",
    "load_json",
    "priority",
]

#: The label that says an alert's dedup key is a fallback (``"fallback"``): the body had no
#: identity the source documents, so it was keyed by what it says (its title...).
DEDUP_LABEL = "incident_flow.dedup"
#: With :data:`DEDUP_LABEL`: what to add to the sender's template so the key is a real one.
DEDUP_FIX_LABEL = "incident_flow.dedup_fix"

#: What parse() takes: raw bytes, text, or an already parsed mapping.
Body = bytes | bytearray | memoryview | str | Mapping[str, Any]

_MAX_BYTES = 5 * 1024 * 1024

#: Label or field words -> severity, the conventions of Prometheus, Grafana and PagerDuty.
_WORDS = {
    "critical": Severity.P1,
    "crit": Severity.P1,
    "fatal": Severity.P1,
    "emergency": Severity.P1,
    "error": Severity.P2,
    "high": Severity.P2,
    "major": Severity.P2,
    "warning": Severity.P3,
    "warn": Severity.P3,
    "medium": Severity.P3,
    "info": Severity.P4,
    "informational": Severity.P4,
    "low": Severity.P5,
    "none": Severity.P5,
    "minor": Severity.P4,
}


def load_json(source: str, body: Body) -> Any:
    """The parsed body: bytes or text are decoded as UTF-8 JSON, a mapping is taken as is.

    Raises:
        InvalidPayload: not UTF-8, not JSON, too large or nested too deep.
    """
    if isinstance(body, Mapping):
        return storable_data(dict(body))
    if isinstance(body, (bytes, bytearray, memoryview)):
        raw = bytes(body)
        if len(raw) > _MAX_BYTES:
            msg = f"{source}: body of {len(raw)} bytes is larger than {_MAX_BYTES}"
            raise InvalidPayload(msg)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            msg = f"{source}: body is not UTF-8 (byte {exc.start}): {exc.reason}"
            raise InvalidPayload(msg) from None
    elif isinstance(body, str):
        text = body
        if len(text) > _MAX_BYTES:
            msg = f"{source}: body of {len(text)} characters is too large"
            raise InvalidPayload(msg)
    else:
        msg = f"{source}: body must be bytes, str or a mapping, got {type(body).__name__}"
        raise InvalidPayload(msg)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        msg = f"{source}: body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        raise InvalidPayload(msg) from None
    except RecursionError:
        msg = f"{source}: body is nested too deeply"
        raise InvalidPayload(msg) from None
    # A "\ud800" or "\u0000" escape gives text no store can keep: normalised here, the same
    # for every store (a lone surrogate becomes U+FFFD, a NUL goes).
    return storable_data(data) if "\\u" in text else data


def priority(value: object) -> Severity | None:
    """``P1``..``P5`` (any case, also ``1``..``5``) as a Severity, else None."""
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5:
        return Severity(f"P{value}")
    if isinstance(value, str):
        text = value.strip().upper()
        if text in {"1", "2", "3", "4", "5"}:
            text = "P" + text
        if text in Severity.__members__:
            return Severity(text)
    return None


#: The level above P1 on many teams' scales: P0, SEV0, sev-0, Sev 0, severity_0...
_ZERO_LEVEL = re.compile(r"(?:p|sev|severity)[ _-]?0", re.IGNORECASE)


def is_zero_level(value: object) -> bool:
    """True for a zero level (``P0``, ``SEV0``, ``sev-0``...), which alerts read as P1."""
    return isinstance(value, str) and _ZERO_LEVEL.fullmatch(value.strip()) is not None


def level(value: object) -> Severity | None:
    """An alert's priority: :func:`priority`, or a zero level (``P0``, ``SEV0``) as P1.

    Every alert source reads its priority fields and labels with this, so they share the rule:
    P0 / SEV0 is the top of many teams' scales, and our top is P1. The original value stays in
    the alert's labels (the label it came from), so nobody loses the difference. Responders'
    commands (``/incident severity``...) keep :func:`priority`: P1..P5 only.
    """
    return Severity.P1 if is_zero_level(value) else priority(value)


def convention_severity(value: object) -> Severity | None:
    """A severity word (``critical``, ``warning``...) or a priority as a Severity, else None."""
    found = level(value)
    if found is not None:
        return found
    if isinstance(value, str):
        return _WORDS.get(value.strip().lower())
    return None


class Fields:
    """Typed access to a JSON object, with errors that name the source and the path."""

    def __init__(self, source: str, data: object, path: str = "") -> None:
        if not isinstance(data, Mapping):
            where = path or "the body"
            msg = f"{source}: {where} must be a JSON object, got {_kind(data)}"
            raise InvalidPayload(msg)
        self.source = source
        self.data: Mapping[str, Any] = data
        self.path = path

    def _where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _fail(self, key: str, what: str) -> InvalidPayload:
        return InvalidPayload(f"{self.source}: {self._where(key)} {what}")

    def has(self, key: str) -> bool:
        """True when the key is present and not null."""
        return self.data.get(key) is not None

    def text(self, key: str, default: str | None = None) -> str:
        """A string field; numbers are accepted as their text. Missing: ``default`` or an error."""
        value = self.data.get(key)
        if value is None:
            if default is None:
                raise self._fail(key, "is missing")
            return default
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self._fail(key, f"must be a string, got {_kind(value)}")
        return str(value)

    def optional_text(self, key: str) -> str | None:
        """A string field, or None when missing, null or empty."""
        value = self.text(key, "")
        return value or None

    def obj(self, key: str, *, required: bool = True) -> Fields | None:
        """A nested object (None when missing and not required)."""
        value = self.data.get(key)
        if value is None and not required:
            return None
        if value is None:
            raise self._fail(key, "is missing")
        return Fields(self.source, value, self._where(key))

    def objects(self, key: str) -> list[Fields]:
        """A list of objects."""
        value = self.data.get(key)
        if not isinstance(value, list):
            raise self._fail(key, f"must be a list, got {_kind(value)}")
        return [
            Fields(self.source, item, f"{self._where(key)}[{i}]") for i, item in enumerate(value)
        ]

    def string_map(self, key: str) -> dict[str, str]:
        """A map of strings (missing: empty); list values are joined with commas."""
        value = self.data.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self._fail(key, f"must be an object, got {_kind(value)}")
        out: dict[str, str] = {}
        for name, item in value.items():
            if isinstance(item, list):
                out[str(name)] = ",".join(str(v) for v in item if not isinstance(v, (dict, list)))
            elif item is not None and not isinstance(item, (dict, bool)):
                out[str(name)] = str(item)
        return out

    def time(self, key: str) -> datetime | None:
        """An ISO 8601 or epoch (seconds or milliseconds) time, None when missing or zero."""
        value = self.data.get(key)
        if value in (None, ""):
            return None
        when: datetime | None = None
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if number or (isinstance(value, str) and value.strip().lstrip("-").isdigit()):
            try:
                when = _from_epoch(float(value))
            except OverflowError:
                when = None
        elif isinstance(value, str):
            try:
                when = datetime.fromisoformat(value.strip())
            except ValueError:
                when = None
        if when is None:
            raise self._fail(key, f"is not a time: {value!r}")
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        if when.year <= 1:
            return None  # Go's zero time: "not set"
        return when.astimezone(UTC)


def _from_epoch(number: float) -> datetime | None:
    # Seconds, milliseconds, microseconds or nanoseconds (Opsgenie's updatedAt), by magnitude.
    scale = next(
        (s for limit, s in ((1e17, 1e9), (1e14, 1e6), (1e11, 1e3)) if abs(number) > limit), 1
    )
    seconds = number / scale
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )
