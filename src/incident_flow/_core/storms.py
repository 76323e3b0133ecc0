"""Storm controls as data: label matchers, grouping rules, paging thresholds and silences.

Pure values and functions (no I/O, no clock): the policy holds the rules, the store keeps the
silences, and :mod:`._decide` applies them. An alert matched by a grouping rule joins the
group's open incident; a critical incident held by a paging threshold pages only once its alerts
fired often enough; an alert a silence matches opens an incident that says nothing until the
silence ends.

A rule or a silence may name a ``team``: it then applies only to the alerts the policy routes
to that team (the caller says which team that is: :meth:`Policy.team_name_for
<incident_flow.Policy.team_name_for>`); without one it applies to every alert, as before teams.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

import attrs

from .alerts import Alert
from .text import team_name_problem

__all__ = [
    "GroupingRule",
    "LabelMatcher",
    "PageAfter",
    "Silence",
    "duration_text",
    "group_key",
    "matching_silence",
    "parse_matchers",
]

#: A matcher on these names reads the alert's own fields; any other name reads its labels.
ALERT_FIELDS = ("source", "name", "severity")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-/]*$")


def _value(alert: Alert, name: str) -> str | None:
    if name == "source":
        return alert.source
    if name == "name":
        return alert.name
    if name == "severity":
        return None if alert.severity is None else str(alert.severity)
    return alert.labels.get(name)


@attrs.frozen
class LabelMatcher:
    """One condition on an alert: a label (or ``source``, ``name``, ``severity``) and values.

    ``values`` empty: the label must be present (any value); else it must be one of them.
    ``negate`` turns it around (absent, or none of the values).
    """

    name: str
    values: tuple[str, ...] = ()
    negate: bool = False

    def __attrs_post_init__(self) -> None:
        if not _NAME.match(self.name):
            msg = f"a matcher names a label like 'service', got {self.name!r}"
            raise ValueError(msg)

    def matches(self, alert: Alert) -> bool:
        """Whether ``alert`` satisfies this condition."""
        value = _value(alert, self.name)
        found = value is not None and (not self.values or value in self.values)
        return found != self.negate

    def __str__(self) -> str:
        op = "!=" if self.negate else "="
        return f"{self.name}{op}{'|'.join(self.values) or '*'}"


def _matchers(value: Iterable[LabelMatcher] | Mapping[str, object]) -> tuple[LabelMatcher, ...]:
    if isinstance(value, Mapping):
        return parse_matchers(value)
    return tuple(value)


def parse_matchers(table: Mapping[str, object]) -> tuple[LabelMatcher, ...]:
    """Matchers from a table: ``{service = "checkout", env = ["prod", "eu"], team = "*"}``.

    A string value is one allowed value (``"*"``: present, any value; ``"!x"``: not ``x``);
    a list allows any of its values.

    Raises:
        ValueError: a name or value that is not a string (or list of strings).
    """
    out: list[LabelMatcher] = []
    for name, raw in table.items():
        if isinstance(raw, str):
            negate = raw.startswith("!")
            text = raw[1:] if negate else raw
            values: tuple[str, ...] = () if text == "*" else (text,)
        elif isinstance(raw, (list, tuple)) and raw and all(isinstance(v, str) for v in raw):
            negate, values = False, tuple(raw)
        else:
            msg = f"{name}: must be a value, '*', '!value' or a list of values, got {raw!r}"
            raise ValueError(msg)
        out.append(LabelMatcher(str(name), values, negate))
    return tuple(out)


def _positive_duration(
    instance: object, attribute: attrs.Attribute[timedelta], value: object
) -> None:
    if not isinstance(value, timedelta) or value <= timedelta(0):
        msg = f"{attribute.name} must be a positive duration, got {value!r}"
        raise ValueError(msg)


@attrs.frozen
class PageAfter:
    """Page only once the incident's alerts fired ``firings`` times within ``within``."""

    firings: int
    within: timedelta = attrs.field(validator=_positive_duration)

    def __attrs_post_init__(self) -> None:
        if isinstance(self.firings, bool) or not isinstance(self.firings, int) or self.firings < 1:
            msg = f"PageAfter.firings must be a whole number >= 1, got {self.firings!r}"
            raise ValueError(msg)

    def reached(self, firings: Iterable[datetime], now: datetime) -> bool:
        """Whether enough of ``firings`` (times) fall within the window ending ``now``."""
        return sum(1 for at in firings if now - at <= self.within) >= self.firings

    def __str__(self) -> str:
        return f"{self.firings} firings within {duration_text(self.within)}"


def duration_text(value: timedelta) -> str:
    """A duration as the policy writes it: ``90s``, ``5m``, ``2h``, ``1d``."""
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _names(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _team(instance: object, attribute: attrs.Attribute[str | None], value: object) -> None:
    problem = None if value is None else team_name_problem(value)
    if problem is not None:
        raise ValueError(f"{type(instance).__name__}.{attribute.name} {problem}")


def _for_team(scope: str | None, team: str | None) -> bool:
    """Whether something scoped to ``scope`` (None: every team) applies to ``team``'s alert."""
    return scope is None or scope == team


@attrs.frozen(kw_only=True)
class GroupingRule:
    """Alerts this rule matches, with equal ``by`` labels, are one incident within ``window``.

    Attributes:
        name: the rule's name, recorded on every alert it groups.
        match: the conditions an alert must meet for the rule to apply (empty: every alert).
        by: the labels that must be equal for alerts to share an incident (``service``,
            ``cluster``...); an alert without one of them is not grouped by this rule.
        window: a matching alert joins the group's incident while that is unresolved and the
            group's last new alert came at most this long ago; after that it opens a new one.
        page_after: hold the page until the group's alerts fired this often (None: the
            severity's threshold, else page at once).
        team: the only team whose alerts the rule groups (None: every team's).
    """

    name: str
    match: tuple[LabelMatcher, ...] = attrs.field(default=(), converter=_matchers)
    by: tuple[str, ...] = attrs.field(default=(), converter=_names)
    window: timedelta = attrs.field(default=timedelta(minutes=10), validator=_positive_duration)
    page_after: PageAfter | None = None
    team: str | None = attrs.field(default=None, validator=_team)

    def key(self, alert: Alert, team: str | None = None) -> str | None:
        """The group ``alert`` belongs to under this rule, or None when the rule does not apply.

        ``team``: the team the alert is routed to; a rule scoped to another team (or given
        no team) does not apply.
        """
        if not _for_team(self.team, team) or not all(m.matches(alert) for m in self.match):
            return None
        parts = []
        for label in self.by:
            value = _value(alert, label)
            if value is None:
                return None
            parts.append(f"{label}={value}")
        return f"group:{self.name}:{','.join(parts)}"

    def describe(self) -> str:
        """One line: what the rule matches, by what, for how long."""
        what = " ".join(str(m) for m in self.match) or "every alert"
        by = f" by {', '.join(self.by)}" if self.by else ""
        paged = f", pages after {self.page_after}" if self.page_after else ""
        scope = f" (team {self.team} only)" if self.team else ""
        return f"{self.name}: {what}{by} within {duration_text(self.window)}{paged}{scope}"


def group_key(
    rules: Iterable[GroupingRule], alert: Alert, team: str | None = None
) -> tuple[GroupingRule, str] | None:
    """The first rule that groups ``alert`` (routed to ``team``), and its key; None: none does."""
    for rule in rules:
        key = rule.key(alert, team)
        if key is not None:
            return rule, key
    return None


def _labels(value: Mapping[str, object] | Iterable[LabelMatcher]) -> tuple[LabelMatcher, ...]:
    matchers = _matchers(value)
    if not matchers:
        msg = "a silence needs at least one matcher (it would silence every alert)"
        raise ValueError(msg)
    return matchers


@attrs.frozen(kw_only=True)
class Silence:
    """A time-boxed silence: alerts it matches are recorded, neither posted nor paged.

    Attributes:
        id: the silence's id (``sil-`` and hex digits).
        matchers: the conditions an alert must meet (all of them) to be silenced.
        starts_at, ends_at: the window (``ends_at`` exclusive).
        by: who created it; why: the reason (a maintenance, a known issue).
        created_at: when it was created.
        ended_at, ended_by: when and by whom it was ended early, if it was.
        team: the only team whose alerts it silences (None: every team's).
    """

    id: str
    matchers: tuple[LabelMatcher, ...] = attrs.field(converter=_labels)
    starts_at: datetime
    ends_at: datetime
    by: str
    why: str
    created_at: datetime
    ended_at: datetime | None = None
    ended_by: str | None = None
    team: str | None = attrs.field(default=None, validator=_team)

    def __attrs_post_init__(self) -> None:
        if self.ends_at <= self.starts_at:
            msg = f"a silence must end after it starts ({self.starts_at} .. {self.ends_at})"
            raise ValueError(msg)
        if not self.by.strip() or not self.why.strip():
            msg = "a silence says who made it and why (by=, why=)"
            raise ValueError(msg)

    @property
    def until(self) -> datetime:
        """When it stops silencing: its end, or when it was ended early."""
        return self.ends_at if self.ended_at is None else min(self.ends_at, self.ended_at)

    def active(self, now: datetime) -> bool:
        """Whether it silences alerts at ``now``."""
        return self.starts_at <= now < self.until

    def matches(self, alert: Alert, team: str | None = None) -> bool:
        """Whether ``alert`` (routed to ``team``) meets every matcher (whatever the time).

        A silence scoped to a team matches only that team's alerts (never one given no team).
        """
        return _for_team(self.team, team) and all(m.matches(alert) for m in self.matchers)

    def describe(self) -> str:
        """One line: what (of which team), until when, who and why."""
        what = " ".join(str(m) for m in self.matchers)
        if self.team:
            what = f"team {self.team}: {what}"
        return f"{self.id} {what} until {self.until:%Y-%m-%d %H:%M} UTC by {self.by}: {self.why}"


def matching_silence(
    silences: Iterable[Silence], alert: Alert, now: datetime, team: str | None = None
) -> Silence | None:
    """The active silence matching ``alert`` (routed to ``team``) that lasts longest, or None."""
    found = [s for s in silences if s.active(now) and s.matches(alert, team)]
    return max(found, key=lambda s: s.until) if found else None
