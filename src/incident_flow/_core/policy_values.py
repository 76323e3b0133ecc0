"""The policy's values and their checks: escalation levels, severities' defaults, the choices.

Split from :mod:`.policy` (the class) and :mod:`.policy_file` (the TOML reader), which both
use them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from ..schedules._book import Schedules
from ..schedules._clock import zone_named
from ..schedules._model import Schedule
from .people import People, Person
from .runbooks import Runbook, RunbookCatalog
from .severity import Severity
from .storms import GroupingRule, PageAfter

CRITICAL = frozenset({Severity.P1, Severity.P2})

DEFAULT_DESCRIPTIONS: Mapping[Severity, str] = {
    Severity.P1: "Critical: a customer-facing service is down or losing data for many users; "
    "all hands until it is mitigated.",
    Severity.P2: "Major: a key feature is broken or badly degraded for a significant share of "
    "users, or a P1 is imminent without action.",
    Severity.P3: "Minor: partial degradation with a workaround, or an internal system impaired; "
    "fix within the business day.",
    Severity.P4: "Low: cosmetic or single-user impact, or a risk to address in planned work.",
    Severity.P5: "Informational: no user impact; tracked for follow-up.",
}

_DEFAULT_ACK_TIMEOUT: Mapping[Severity, timedelta] = {
    Severity.P1: timedelta(minutes=5),
    Severity.P2: timedelta(minutes=15),
}


DEFAULT_WAIT = timedelta(minutes=5)


def _targets(value: Iterable[str]) -> tuple[str, ...]:
    targets = tuple(value)
    if not targets or not all(isinstance(t, str) and t.strip() for t in targets):
        msg = f"an escalation level needs at least one target name, got {targets!r}"
        raise ValueError(msg)
    return targets


def _schedule_book(value: Schedules | Iterable[Schedule]) -> Schedules:
    return value if isinstance(value, Schedules) else Schedules(value)


def _rules(value: Iterable[GroupingRule]) -> tuple[GroupingRule, ...]:
    rules = tuple(value)
    for rule in rules:
        if not isinstance(rule, GroupingRule):
            msg = f"Policy.grouping takes GroupingRule values, got {rule!r}"
            raise TypeError(msg)
    return rules


def _thresholds(value: Mapping[Severity | str, PageAfter]) -> Mapping[Severity, PageAfter]:
    out = {Severity(k): v for k, v in value.items()}
    for severity, hold in out.items():
        if not isinstance(hold, PageAfter):
            msg = f"Policy.page_after[{severity}] must be a PageAfter, got {hold!r}"
            raise TypeError(msg)
    return out


@attrs.frozen
class EscalationLevel:
    """Who is paged at one level of escalation, and how long they have to acknowledge.

    Attributes:
        targets: the people, rotations or schedules paged at this level (names for the pager).
        wait: how long to wait for an acknowledgement before the next level; None uses the
            severity's ``ack_timeout``.
    """

    targets: tuple[str, ...] = attrs.field(converter=_targets)
    wait: timedelta | None = None


_DEFAULT_ESCALATION = (
    EscalationLevel(("primary on-call",)),
    EscalationLevel(("secondary on-call",)),
    EscalationLevel(("incident commander",)),
)


def _levels(value: Iterable[EscalationLevel]) -> tuple[EscalationLevel, ...]:
    levels = tuple(value)
    if not levels:
        msg = "escalation needs at least one level (who gets the first page)"
        raise ValueError(msg)
    return levels


def _severity_set(value: Iterable[Severity | str]) -> frozenset[Severity]:
    return frozenset(Severity(v) for v in value)


def _timeouts(value: Mapping[Severity | str, timedelta]) -> dict[Severity, timedelta]:
    return {Severity(k): v for k, v in value.items()}


def _descriptions(value: Mapping[Severity | str, str]) -> dict[Severity, str]:
    merged = dict(DEFAULT_DESCRIPTIONS)
    merged.update({Severity(k): v for k, v in value.items()})
    return merged


def _catalog(value: RunbookCatalog | Iterable[Runbook]) -> RunbookCatalog:
    return value if isinstance(value, RunbookCatalog) else RunbookCatalog(list(value))


def _directory(value: People | Iterable[Person]) -> People:
    return value if isinstance(value, People) else People(value)


def _zone(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    try:
        zone_named(value)
    except ValueError:
        msg = f"Policy.timezone must be an IANA time zone like 'Europe/Paris', got {value!r}"
        raise ValueError(msg) from None


def _at_least_one(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        msg = f"Policy.{attribute.name} must be a whole number >= 1, got {value!r}"
        raise ValueError(msg)


#: How a post-mortem's reviewers are taken from the pool.
REVIEW_ORDERS = ("list", "rotation")
#: Who merges an approved post-mortem: the library at once, or a person.
MERGE_MODES = ("auto", "manual")
#: Whose approval of a post-mortem counts (``postmortem_approvers``).
APPROVER_RULES = ("requested", "pool", "anyone")
#: The author's sections of a post-mortem a policy can require written before submission.
POSTMORTEM_SECTIONS = ("impact", "root_cause", "learnings")


def _sections(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        msg = f"Policy.postmortem_required_sections must be a list of sections, got {value!r}"
        raise ValueError(msg)
    unknown = [v for v in value if v not in POSTMORTEM_SECTIONS]
    if unknown:
        msg = (
            f"Policy.postmortem_required_sections: {', '.join(map(repr, unknown))} is not a "
            f"section (known: {', '.join(POSTMORTEM_SECTIONS)})"
        )
        raise ValueError(msg)
    return tuple(dict.fromkeys(value))


def _duration_value(value: object) -> timedelta:
    if isinstance(value, timedelta) and value >= timedelta(0):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return timedelta(seconds=value)
    msg = f"Policy durations must be a timedelta or seconds >= 0, got {value!r}"
    raise ValueError(msg)


def _names(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        msg = f"Policy.postmortem_review_pool must be a list of names, got {value!r}"
        raise ValueError(msg)
    if not all(isinstance(v, str) and v.strip() for v in value):
        msg = f"Policy.postmortem_review_pool must hold non-empty names, got {value!r}"
        raise ValueError(msg)
    return tuple(v.strip() for v in value)


def _choice(name: str, allowed: tuple[str, ...]) -> Any:
    def check(instance: object, attribute: object, value: object) -> None:
        if value not in allowed:
            msg = f"Policy.{name} must be one of {', '.join(allowed)}, got {value!r}"
            raise ValueError(msg)

    return check


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        msg = f"Policy.{attribute.name} must be a whole number >= 0, got {value!r}"
        raise ValueError(msg)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: object) -> timedelta:
    """A positive duration from ``'5m'``, ``'90s'``, ``'2h'``, ``'1d'`` or seconds.

    Raises:
        ValueError: not such a duration.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match and float(match.group(1)) > 0:
            return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    msg = f"must be a positive duration like '5m', '90s' or 300, got {value!r}"
    raise ValueError(msg)


def parse_time(text: str) -> datetime:
    """An ISO 8601 time (``2026-12-06T18:00+01:00``); one without an offset is taken as UTC.

    Raises:
        ValueError: not such a time.
    """
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        msg = f"an ISO 8601 time like 2026-12-06T18:00+01:00 is expected, got {text!r}"
        raise ValueError(msg) from None
    return at if at.utcoffset() is not None else at.replace(tzinfo=UTC)


def add_business_days(start: datetime, days: int) -> datetime:
    """``start`` plus ``days`` working days (weekends skipped; the time of day kept)."""
    current = start
    while current.weekday() >= 5:  # a start at the weekend counts from Monday
        current += timedelta(days=1)
    # Five working days from a working day are one calendar week (the same weekday).
    if days >= 5:
        weeks, days = divmod(days, 5)
        current += timedelta(days=7 * weeks)
    added = 0
    while added < days:
        current += timedelta(days=1)
        if current.weekday() < 5:
            added += 1
    return current
