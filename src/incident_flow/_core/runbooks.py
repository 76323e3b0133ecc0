"""Runbooks and the catalog that maps alerts to them (the seed's Alerts table)."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType

import attrs

from ..exceptions import InvalidCommand
from .alerts import Alert
from .severity import Severity

__all__ = ["Runbook", "RunbookCatalog", "checked_runbook", "exact_pattern"]


def _non_empty(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        msg = f"Runbook.{attribute.name} must be a non-empty string, got {value!r}"
        raise ValueError(msg)


def _severity(value: Severity | str | None) -> Severity | None:
    return None if value is None else Severity(value)


def _labels(value: Mapping[str, str] | None) -> Mapping[str, str]:
    if value is None:
        return MappingProxyType({})
    return MappingProxyType({str(k): str(v) for k, v in value.items()})


@attrs.frozen(kw_only=True)
class Runbook:
    """A runbook: the steps to resolve one kind of alert.

    Attributes:
        name: a unique name (``checkout-high-error-rate``).
        url: where the steps live.
        alert: a glob on :attr:`Alert.name` (``"Checkout*"``; case-insensitive) that this
            runbook answers; None for a runbook that is only chosen by hand.
        source: restrict the match to one alert source (``datadog``...), or None for any.
        severity: the severity alerts matching this entry get when the source gave none.
        description: what the alert means, in a sentence or two.
        labels: label selectors the alert must carry too (``{"service": "checkout"}``).
        source_url: where the alert is defined in its source (the seed table's "Source").
    """

    name: str = attrs.field(validator=_non_empty)
    url: str = attrs.field(validator=_non_empty)
    alert: str | None = None
    source: str | None = None
    severity: Severity | None = attrs.field(default=None, converter=_severity)
    description: str = ""
    labels: Mapping[str, str] = attrs.field(factory=dict, converter=_labels, hash=False)
    source_url: str | None = None

    def matches(self, alert: Alert) -> bool:
        """Return True when this runbook's pattern, source and label selectors match the alert."""
        if self.alert is None:
            return False
        if self.source is not None and self.source.lower() != alert.source.lower():
            return False
        if any(alert.labels.get(key) != value for key, value in self.labels.items()):
            return False
        return fnmatch.fnmatchcase(alert.name.lower(), self.alert.lower())


def checked_runbook(runbook: object, by: object) -> tuple[Runbook, str]:
    """``(runbook, by)`` for a catalog change, or InvalidCommand saying what is wrong."""
    if not isinstance(runbook, Runbook):
        msg = f"a catalog change takes a Runbook, got {type(runbook).__name__}"
        raise InvalidCommand(msg)
    if not isinstance(by, str) or not by.strip():
        msg = f"say who changes the catalog: a non-empty name is needed, got {by!r}"
        raise InvalidCommand(msg)
    return runbook, by.strip()


def exact_pattern(name: str) -> str:
    """A :attr:`Runbook.alert` pattern that matches exactly this alert name."""
    return re.sub(r"([*?\[])", r"[\1]", name)


def _runbook_tuple(value: Iterable[Runbook]) -> tuple[Runbook, ...]:
    return tuple(value)


@attrs.frozen
class RunbookCatalog:
    """The alert -> runbook table, in priority order.

    A runbook written for exactly the alert's name wins; otherwise the first match does.

    Attributes:
        runbooks: the entries; names must be unique.
    """

    runbooks: tuple[Runbook, ...] = attrs.field(default=(), converter=_runbook_tuple)
    _by_name: dict[str, Runbook] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        by_name: dict[str, Runbook] = {}
        for runbook in self.runbooks:
            if not isinstance(runbook, Runbook):
                msg = f"RunbookCatalog takes Runbook values, got {type(runbook).__name__}"
                raise TypeError(msg)
            if runbook.name in by_name:
                msg = f"runbook name {runbook.name!r} appears twice in the catalog"
                raise ValueError(msg)
            by_name[runbook.name] = runbook
        object.__setattr__(self, "_by_name", by_name)

    def find(self, alert: Alert) -> Runbook | None:
        """The runbook for the alert: one written for exactly its name, else the first match."""
        first = None
        exact = exact_pattern(alert.name).lower()
        for runbook in self.runbooks:
            if runbook.matches(alert):
                if runbook.alert is not None and runbook.alert.lower() == exact:
                    return runbook
                first = first or runbook
        return first

    def get(self, name: str) -> Runbook | None:
        """Return the runbook with this name, or None."""
        return self._by_name.get(name)

    def with_runbooks(self, runbooks: Iterable[Runbook]) -> RunbookCatalog:
        """Return a catalog with these runbooks added or replacing ones of the same name."""
        merged = dict(self._by_name)
        for runbook in runbooks:
            merged[runbook.name] = runbook
        return RunbookCatalog(list(merged.values()))

    def __iter__(self) -> Iterator[Runbook]:
        return iter(self.runbooks)

    def __len__(self) -> int:
        return len(self.runbooks)
