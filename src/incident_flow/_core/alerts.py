"""Alert: what a monitor said, normalised across sources."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal

import attrs

from .severity import Severity
from .text import storable

__all__ = ["Alert", "AlertStatus"]

AlertStatus = Literal["firing", "resolved"]
_STATUSES = ("firing", "resolved")


def _non_empty(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        msg = f"Alert.{attribute.name} must be a non-empty string, got {value!r}"
        raise ValueError(msg)


def _status(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in _STATUSES:
        msg = f"Alert.status must be 'firing' or 'resolved', got {value!r}"
        raise ValueError(msg)


def _aware(instance: object, attribute: attrs.Attribute[datetime | None], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, datetime) or value.utcoffset() is None:
        msg = f"Alert.{attribute.name} must be a timezone-aware datetime, got {value!r}"
        raise ValueError(msg)


def _severity(value: Severity | str | None) -> Severity | None:
    if value is None:
        return None
    try:
        return Severity(value)
    except ValueError:
        msg = f"Alert.severity must be one of P1, P2, P3, P4, P5 or None, got {value!r}"
        raise ValueError(msg) from None


def _text(value: object) -> object:
    # A lone surrogate or a NUL cannot be stored by every store: normalised for all alike.
    return storable(value) if isinstance(value, str) else value


def _labels(value: Mapping[str, str] | None) -> Mapping[str, str]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        msg = f"Alert.labels must be a mapping of str to str, got {type(value).__name__}"
        raise TypeError(msg)
    # A read-only copy: an Alert is frozen, and stored events must not change under us.
    return MappingProxyType({storable(str(k)): storable(str(v)) for k, v in value.items()})


@attrs.frozen(kw_only=True)
class Alert:
    """One alert from a monitoring source, firing or resolved.

    Attributes:
        source: where it came from (``datadog``, ``alertmanager``, ``manual``...).
        name: what fired: the monitor, check or alertname. The runbook catalog matches on it.
        title: a one-line human title.
        severity: the severity the source gave, or None when it gave none.
        dedup_key: alerts with the same key are the same problem; defaults to ``source:name``.
        status: ``"firing"`` or ``"resolved"``.
        description: longer text from the source.
        labels: string labels (service, env, team...).
        url: a link back to the source.
        runbook_url: the runbook the source links to this alert (Alertmanager's and Grafana's
            ``runbook_url`` annotation...): the incident's runbook before the catalog's.
        started_at: when the source says it started (timezone-aware), if it says.
        raw: the parsed body it came from, kept for audit: JSON-compatible values (what
            ``json.loads`` returns), so that every store keeps it exactly.
    """

    source: str = attrs.field(converter=_text, validator=_non_empty)
    name: str = attrs.field(converter=_text, validator=_non_empty)
    title: str = attrs.field(converter=_text, validator=_non_empty)
    severity: Severity | None = attrs.field(default=None, converter=_severity)
    dedup_key: str = attrs.field(converter=_text, validator=_non_empty)
    status: AlertStatus = attrs.field(default="firing", validator=_status)
    description: str = attrs.field(default="", converter=_text)
    labels: Mapping[str, str] = attrs.field(factory=dict, converter=_labels, hash=False)
    url: str | None = attrs.field(default=None, converter=_text)
    runbook_url: str | None = attrs.field(default=None, converter=_text)
    started_at: datetime | None = attrs.field(default=None, validator=_aware)
    raw: Any = attrs.field(default=None, eq=False, repr=False)

    @dedup_key.default
    def _default_dedup_key(self) -> str:
        return f"{self.source}:{self.name}"

    @property
    def firing(self) -> bool:
        """True when the alert is firing (not a recovery)."""
        return self.status == "firing"
