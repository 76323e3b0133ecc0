"""Policy: the team's incident standards as data (the seed's "X people", "X folder", P1..P5)."""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import attrs

from ._people import IDENTITY_SOURCES, People, Person
from ._runbooks import Runbook, RunbookCatalog
from ._severity import Severity
from ._storms import GroupingRule, PageAfter, duration_text, parse_matchers
from ._text import unknown_key
from .exceptions import InvalidPolicy
from .schedules._book import Schedules
from .schedules._clock import zone_named
from .schedules._model import Schedule
from .schedules._read import read_schedules

__all__ = ["DEFAULT_DESCRIPTIONS", "EscalationLevel", "Policy"]

_CRITICAL = frozenset({Severity.P1, Severity.P2})

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


_DEFAULT_WAIT = timedelta(minutes=5)


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


@attrs.frozen(kw_only=True)
class Policy:
    """The standards an incident is held to.

    Attributes:
        critical: severities that page on-call (default P1, P2).
        postmortem_required: severities whose incidents must publish a reviewed post-mortem
            before they close (default P1, P2). Once an incident was ever of such a severity the
            obligation stays, even after a downgrade.
        postmortem_reviewers: distinct reviewers (other than the author) who must approve a
            post-mortem before it is published (default 2).
        postmortem_folder: the folder post-mortems are saved under (default ``postmortems``).
        postmortem_review_pool: the people a submitted post-mortem's reviews are requested
            from (names of ``people`` or GitHub logins); empty: nobody is asked by the policy.
        postmortem_review_order: ``list`` asks the first ``postmortem_reviewers`` of the
            pool (never the author), ``rotation`` takes the pool in turn, from a place the
            incident's id picks, so reviews spread evenly over it (default ``list``).
        postmortem_approvers: whose approval counts: ``requested`` (the default) the
            reviewers asked when it was submitted; ``pool`` anyone of
            ``postmortem_review_pool``; ``anyone`` anyone but the author. With no reviewer
            asked, ``requested`` is ``pool``; with no pool, ``pool`` is a person of ``people``
            (and anyone, when the policy names no people either). The author never counts.
        postmortem_merge: ``auto`` merges (or saves) the post-mortem as soon as the required
            approvals are there; ``manual`` waits for a person to merge the pull request (or
            to ``publish_postmortem``) (default ``auto``).
        postmortem_required_sections: the author's sections (``impact``, ``root_cause``,
            ``learnings``) a post-mortem must have written before it can be submitted for
            review (default impact and root cause; empty: a draft is submitted as it is, its
            unwritten sections published as "To be written").
        default_severity: the severity of an alert that neither the source nor the catalog
            classified (default P3).
        ack_timeout: per critical severity, how long a page may stay unacknowledged before it
            escalates (default P1 5 minutes, P2 15 minutes; others 5 minutes).
        escalation: the levels: who gets the first page (level 0), then who is paged at each
            escalation (default primary on-call, secondary on-call, incident commander).
        escalation_repeats: how many more times the last level is paged when nobody
            acknowledges (default 0).
        postmortem_due: business days after resolution by which a required post-mortem is
            published before the thread is reminded (default 5).
        action_items_due: business days after the post-mortem (or the resolution) by which
            the action items are settled before the thread is reminded (default 10).
        remind_every: business days between reminders once overdue (default 1).
        repeat_summary_every: at most one "Alert fired again (N times)" in the thread per
            this interval, however often the alert repeats (default 5 minutes; 0: every
            repeat is posted). Every repeat is still counted and kept in the timeline.
        flap_window: an alert that fires again within this long after its incident resolved
            reopens it without paging again (flapping); 0 (the default) pages every reopen.
        grouping: rules that put alerts of one outage (same ``service``, same ``cluster``...)
            into one incident within a window, tried in order (default none).
        page_after: per severity, a critical incident pages only once its alerts fired this
            often within this long (a grouping rule's own ``page_after`` comes first).
        schedules: who is on call: each schedule's versions of layered rotations, windows and
            overrides (``[[schedules]]``; see :mod:`incident_flow.schedules`).
        oncall_notices: say each handoff of each schedule in the chat channel (default off).
        shift_reminder: remind the chat channel this long before each shift starts, naming
            who takes it (default 0: off).
        timezone: the IANA time zone business days are counted in (default ``UTC``): a
            Friday-evening resolution in Los Angeles is not a Saturday one.
        runbooks: the alert -> runbook catalog.
        descriptions: what makes an incident P1..P5, shown to responders.
        people: who each Slack, PagerDuty, Opsgenie and GitHub identity is, so actions taken
            in those tools name one person (an unknown identity is kept as the vendor's).
    """

    critical: frozenset[Severity] = attrs.field(default=_CRITICAL, converter=_severity_set)
    postmortem_required: frozenset[Severity] = attrs.field(
        default=_CRITICAL, converter=_severity_set
    )
    postmortem_reviewers: int = attrs.field(default=2, validator=_positive)
    postmortem_folder: str = "postmortems"
    postmortem_review_pool: tuple[str, ...] = attrs.field(default=(), converter=_names)
    postmortem_review_order: str = attrs.field(
        default="list", validator=_choice("postmortem_review_order", REVIEW_ORDERS)
    )
    postmortem_merge: str = attrs.field(
        default="auto", validator=_choice("postmortem_merge", MERGE_MODES)
    )
    postmortem_approvers: str = attrs.field(
        default="requested", validator=_choice("postmortem_approvers", APPROVER_RULES)
    )
    postmortem_required_sections: tuple[str, ...] = attrs.field(
        default=("impact", "root_cause"), converter=_sections
    )
    default_severity: Severity = attrs.field(default=Severity.P3, converter=Severity)
    ack_timeout: Mapping[Severity, timedelta] = attrs.field(
        factory=lambda: dict(_DEFAULT_ACK_TIMEOUT), converter=_timeouts
    )
    escalation: tuple[EscalationLevel, ...] = attrs.field(
        default=_DEFAULT_ESCALATION, converter=_levels
    )
    escalation_repeats: int = attrs.field(default=0, validator=_positive)
    postmortem_due: int = attrs.field(default=5, validator=_positive)
    action_items_due: int = attrs.field(default=10, validator=_positive)
    remind_every: int = attrs.field(default=1, validator=_at_least_one)
    repeat_summary_every: timedelta = attrs.field(
        default=timedelta(minutes=5), converter=_duration_value
    )
    flap_window: timedelta = attrs.field(default=timedelta(0), converter=_duration_value)
    grouping: tuple[GroupingRule, ...] = attrs.field(default=(), converter=_rules)
    page_after: Mapping[Severity, PageAfter] = attrs.field(factory=dict, converter=_thresholds)
    schedules: Schedules = attrs.field(factory=Schedules, converter=_schedule_book)
    oncall_notices: bool = False
    shift_reminder: timedelta = attrs.field(default=timedelta(0), converter=_duration_value)
    timezone: str = attrs.field(default="UTC", validator=_zone)
    runbooks: RunbookCatalog = attrs.field(factory=RunbookCatalog, converter=_catalog)
    descriptions: Mapping[Severity, str] = attrs.field(factory=dict, converter=_descriptions)
    people: People = attrs.field(factory=People, converter=_directory)

    @classmethod
    def default(cls) -> Policy:
        """The seed process's standards.

        P1/P2 are critical: Slack, a page and a post-mortem reviewed by 2 people saved under
        ``postmortems``; P3-P5 get Slack only; unclassified alerts are P3; the runbook catalog
        starts empty (every incident without a runbook then records an "add runbook" action
        item, which is how the catalog fills up).
        """
        return cls()

    @classmethod
    def from_toml(cls, path: str | Path) -> Policy:
        """Read a policy from a TOML file; keys left out keep their defaults.

        Every problem is reported at once, with its path (``runbooks[2].url: missing``).

        Raises:
            InvalidPolicy: the file is missing, is not TOML, or has wrong keys or values.
        """
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidPolicy([f"{source}: cannot read: {exc.strerror or exc}"], source) from exc
        return cls.from_text(text, source=source)

    @classmethod
    def from_text(cls, text: str, *, source: str = "policy") -> Policy:
        """Read a policy from TOML text (see :meth:`from_toml`).

        Raises:
            InvalidPolicy: not TOML, or wrong keys or values.
        """
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InvalidPolicy([f"{source}: not valid TOML: {exc}"], source) from exc
        return cls.from_mapping(data, source=source)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "policy") -> Policy:
        """Build a policy from plain data (the parsed TOML), reporting every problem.

        Raises:
            InvalidPolicy: with every wrong key or value and its path.
        """
        reader = _Reader()
        kwargs = reader.read(data)
        if reader.problems:
            raise InvalidPolicy(reader.problems, source)
        return cls(**kwargs)

    def is_critical(self, severity: Severity) -> bool:
        """Return True when incidents of this severity page on-call."""
        return severity in self.critical

    def postmortem_reviewers_for(self, incident_id: str, author: str) -> tuple[str, ...]:
        """Whom a submitted post-mortem asks to review, never the author, nobody twice.

        ``postmortem_reviewers`` people of the pool, in its order or in turn.
        """
        pool = [
            name
            for name in dict.fromkeys(self.postmortem_review_pool)
            if name.casefold() != author.strip().casefold()
        ]
        if not pool:
            return ()
        if self.postmortem_review_order == "rotation":
            # In turn from a place the incident picks: no shared counter for replicas to race
            # on, the same answer when a decision is made again, an even spread over the pool.
            start = int.from_bytes(hashlib.sha256(incident_id.encode()).digest()[:8], "big")
            start %= len(pool)
            pool = pool[start:] + pool[:start]
        return tuple(pool[: self.postmortem_reviewers])

    def page_threshold(self, severity: Severity, rule: GroupingRule | None) -> PageAfter | None:
        """What a critical incident of ``severity`` (grouped by ``rule``) waits for to page.

        None pages at once (no threshold, or a threshold of one firing).
        """
        hold = rule.page_after if rule is not None and rule.page_after else None
        hold = hold or self.page_after.get(severity)
        return hold if hold is not None and hold.firings > 1 else None

    def storm_lines(self) -> list[str]:
        """What the policy does in an alert storm, one line each (``policy check`` prints it)."""
        every = self.repeat_summary_every
        lines = [
            "repeats: summed up in the thread at most once per "
            + (duration_text(every) if every else "repeat (every one posted)"),
            "flapping: "
            + (
                f"a reopen within {duration_text(self.flap_window)} of resolving does not page"
                if self.flap_window
                else "every reopen pages (flap_window off)"
            ),
        ]
        lines += [f"grouping {rule.describe()}" for rule in self.grouping]
        lines += [f"{sev}: pages after {hold}" for sev, hold in sorted(self.page_after.items())]
        return lines

    def requires_postmortem(self, severity: Severity) -> bool:
        """Return True when incidents of this severity must publish a post-mortem."""
        return severity in self.postmortem_required

    def ack_timeout_for(self, severity: Severity) -> timedelta | None:
        """Return how long a page of this severity may stay unacknowledged, or None."""
        return self.ack_timeout.get(severity)

    def due_after(self, start: datetime, business_days: int) -> datetime:
        """``start`` moved forward by whole business days (Monday to Friday, local time)."""
        local = start.astimezone(ZoneInfo(self.timezone))
        return add_business_days(local, business_days).astimezone(UTC)

    @property
    def escalation_steps(self) -> int:
        """How many pages one incident can get in all: the first, then each escalation."""
        return len(self.escalation) + self.escalation_repeats

    def escalation_targets(self, level: int) -> tuple[str, ...]:
        """Who is paged at ``level`` (levels past the last repeat the last)."""
        return self.escalation[min(level, len(self.escalation) - 1)].targets

    def page_targets(self, level: int, at: datetime) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Who the page at ``level`` goes to at ``at``, and the schedules that had nobody.

        A target ``schedule:NAME`` (or the name of one of ``schedules``) is whoever is on
        call there at ``at``; ``schedule:NAME:next`` and ``:previous`` the people of the next
        and the previous shift. Any other target is taken as it is written (a person, or a
        name the pager service knows). Empty names with gaps: nobody to page at this level.
        """
        names: list[str] = []
        gaps: list[str] = []
        for target in self.escalation_targets(level):
            found = self._on_call_for(target, at)
            if found is None:
                names.append(target)
            elif found:
                names += [p for p in found if p not in names]
            else:
                gaps.append(target)
        return tuple(names), tuple(gaps)

    def _on_call_for(self, target: str, at: datetime) -> tuple[str, ...] | None:
        """Who a schedule target has on call (None: the target names no schedule)."""
        name, which = target, "current"
        if target.startswith("schedule:"):
            name = target.removeprefix("schedule:")
            base, _, suffix = name.rpartition(":")
            if base and suffix in ("next", "previous", "current"):
                name, which = base, suffix
        if name not in self.schedules:
            return None
        if which == "current":
            return self.schedules.on_call(name, at)
        if which == "next":
            ahead = self.schedules.shifts(name, at, at + timedelta(days=120))
            return ahead[1].people if len(ahead) > 1 else ()
        behind = self.schedules.shifts(name, at - timedelta(days=120), at + timedelta(seconds=1))
        return behind[-2].people if len(behind) > 1 else ()

    def escalation_wait(self, level: int, severity: Severity) -> timedelta | None:
        """How long the page at ``level`` waits for an acknowledgement; None after the last."""
        if level + 1 >= self.escalation_steps:
            return None
        wait = self.escalation[min(level, len(self.escalation) - 1)].wait
        return wait or self.ack_timeout_for(severity) or _DEFAULT_WAIT


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


_TOP_KEYS = (
    "timezone",
    "postmortem_due",
    "action_items_due",
    "remind_every",
    "repeat_summary_every",
    "flap_window",
    "grouping",
    "page_after",
    "schedules",
    "oncall_notices",
    "shift_reminder",
    "escalation",
    "escalation_repeats",
    "critical",
    "postmortem_required",
    "postmortem_reviewers",
    "postmortem_folder",
    "postmortem_review_pool",
    "postmortem_review_order",
    "postmortem_merge",
    "postmortem_approvers",
    "postmortem_required_sections",
    "default_severity",
    "ack_timeout",
    "runbooks",
    "descriptions",
    "people",
)
_PERSON_KEYS = ("name", "email", *IDENTITY_SOURCES, "phone")
_RUNBOOK_KEYS = (
    "name",
    "url",
    "alert",
    "source",
    "severity",
    "description",
    "source_url",
    "labels",
)


_Named = TypeVar("_Named", Runbook, GroupingRule)


class _Reader:
    """Reads policy data, collecting every problem instead of stopping at the first."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, path: str, text: str) -> None:
        self.problems.append(f"{path}: {text}")

    def read(self, data: Mapping[str, Any]) -> dict[str, Any]:
        for key in data:
            if key not in _TOP_KEYS:
                self.problem(key, unknown_key(key, _TOP_KEYS))
        readers: dict[str, Callable[[str, Any], Any]] = {
            "critical": self.severity_list,
            "postmortem_required": self.severity_list,
            "postmortem_reviewers": self.reviewers,
            "postmortem_folder": self.folder,
            "postmortem_review_pool": self.name_list,
            "postmortem_review_order": lambda path, v: self.one_of(path, v, REVIEW_ORDERS),
            "postmortem_merge": lambda path, v: self.one_of(path, v, MERGE_MODES),
            "postmortem_approvers": lambda path, v: self.one_of(path, v, APPROVER_RULES),
            "postmortem_required_sections": self.sections,
            "default_severity": self.severity,
            "ack_timeout": self.timeouts,
            "escalation": self.escalation,
            "escalation_repeats": self.reviewers,
            "postmortem_due": self.reviewers,
            "action_items_due": self.reviewers,
            "remind_every": self.at_least_one,
            "repeat_summary_every": self.duration_or_zero,
            "flap_window": self.duration_or_zero,
            "grouping": self.grouping,
            "page_after": self.thresholds,
            "schedules": lambda path, v: read_schedules(path, v, self.problem),
            "oncall_notices": self.flag,
            "shift_reminder": self.duration_or_zero,
            "timezone": self.zone,
            "descriptions": self.descriptions,
            "runbooks": self.runbooks,
            "people": self.people,
        }
        out: dict[str, Any] = {}
        for key, reader in readers.items():
            if key in data:
                value = reader(key, data[key])
                if value is not None:
                    out[key] = value
        self.check_targets(out)
        return out

    def check_targets(self, read: Mapping[str, Any]) -> None:
        """Every ``schedule:NAME`` escalation target names a schedule of the policy."""
        known = {s.name for s in read.get("schedules", ())}
        for index, level in enumerate(read.get("escalation", ())):
            for target in level.targets:
                if not target.startswith("schedule:"):
                    continue
                name = target.removeprefix("schedule:")
                base, _, suffix = name.rpartition(":")
                name = base if base and suffix in ("next", "previous", "current") else name
                if name not in known:
                    listed = ", ".join(sorted(known)) or "none"
                    self.problem(
                        f"escalation[{index}].targets",
                        f"{target!r}: no schedule {name!r} (known: {listed})",
                    )

    def reviewers(self, path: str, value: object) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.problem(path, f"must be a whole number >= 0, got {value!r}")
            return None
        return value

    def zone(self, path: str, value: object) -> str | None:
        try:
            zone_named(value)
        except ValueError:
            self.problem(path, f"must be an IANA time zone like 'Europe/Paris', got {value!r}")
            return None
        return str(value)

    def at_least_one(self, path: str, value: object) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.problem(path, f"must be a whole number >= 1, got {value!r}")
            return None
        return value

    def folder(self, path: str, value: object) -> str | None:
        if not isinstance(value, str) or not value.strip():
            self.problem(path, f"must be a non-empty string, got {value!r}")
            return None
        return value

    def duration_or_zero(self, path: str, value: object) -> timedelta | None:
        if value in (0, "0", "off"):
            return timedelta(0)
        return self.duration(path, value)

    def flag(self, path: str, value: object) -> bool | None:
        if not isinstance(value, bool):
            self.problem(path, f"must be true or false, got {value!r}")
            return None
        return value

    def name_list(self, path: str, value: object) -> list[str] | None:
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.problem(path, f"must be a list of non-empty names, got {value!r}")
            return None
        return [v.strip() for v in value]

    def sections(self, path: str, value: object) -> list[str] | None:
        if not isinstance(value, list):
            self.problem(path, f"must be a list like ['impact', 'root_cause'], got {value!r}")
            return None
        found = [self.one_of(f"{path}[{i}]", v, POSTMORTEM_SECTIONS) for i, v in enumerate(value)]
        return [v for v in found if v is not None]

    def one_of(self, path: str, value: object, allowed: tuple[str, ...]) -> str | None:
        if value not in allowed:
            self.problem(path, f"must be one of {', '.join(allowed)}, got {value!r}")
            return None
        return str(value)

    def severity(self, path: str, value: object) -> Severity | None:
        try:
            return Severity(value)  # type: ignore[arg-type]  # checked right here
        except ValueError:
            self.problem(path, f"must be one of P1..P5, got {value!r}")
            return None

    def severity_list(self, path: str, value: object) -> list[Severity] | None:
        if not isinstance(value, list):
            self.problem(path, f"must be a list of severities like ['P1', 'P2'], got {value!r}")
            return None
        found = [self.severity(f"{path}[{i}]", v) for i, v in enumerate(value)]
        return [s for s in found if s is not None]

    def duration(self, path: str, value: object) -> timedelta | None:
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.problem(path, str(exc))
            return None

    def table(self, path: str, value: object) -> Mapping[str, Any] | None:
        if not isinstance(value, Mapping):
            self.problem(path, f"must be a table, got {value!r}")
            return None
        return value

    def timeouts(self, path: str, value: object) -> dict[Severity, timedelta]:
        out: dict[Severity, timedelta] = {}
        table = self.table(path, value)
        for key, raw in (table or {}).items():
            severity = self.severity(f"ack_timeout.{key}", key)
            duration = self.duration(f"ack_timeout.{key}", raw)
            if severity is not None and duration is not None:
                out[severity] = duration
        return out

    def descriptions(self, path: str, value: object) -> dict[Severity, str]:
        out: dict[Severity, str] = {}
        table = self.table(path, value)
        for key, raw in (table or {}).items():
            severity = self.severity(f"descriptions.{key}", key)
            if not isinstance(raw, str):
                self.problem(f"descriptions.{key}", f"must be a string, got {raw!r}")
            elif severity is not None:
                out[severity] = raw
        return out

    def escalation(self, path: str, value: object) -> list[EscalationLevel] | None:
        if not isinstance(value, list) or not value:
            self.problem(path, "must be a non-empty array of tables ([[escalation]])")
            return None
        levels: list[EscalationLevel] = []
        for index, entry in enumerate(value):
            where = f"{path}[{index}]"
            table = self.table(where, entry)
            if table is None:
                continue
            for key in table:
                if key not in ("targets", "wait"):
                    self.problem(f"{where}.{key}", unknown_key(key, ("targets", "wait")))
            targets = table.get("targets")
            if isinstance(targets, str):
                targets = [targets]
            if (
                not isinstance(targets, list)
                or not targets
                or not all(isinstance(t, str) and t.strip() for t in targets)
            ):
                self.problem(f"{where}.targets", f"must name who is paged, got {targets!r}")
                continue
            wait = self.duration(f"{where}.wait", table["wait"]) if "wait" in table else None
            if "wait" in table and wait is None:
                continue
            levels.append(EscalationLevel(tuple(targets), wait))
        return levels

    def threshold(self, path: str, value: object) -> PageAfter | None:
        table = self.table(path, value)
        if table is None:
            return None
        for key in table:
            if key not in ("firings", "within"):
                self.problem(f"{path}.{key}", unknown_key(key, ("firings", "within")))
        found = {}
        for key, read in (("firings", self.at_least_one), ("within", self.duration)):
            if key not in table:
                self.problem(f"{path}.{key}", "missing")
            else:
                found[key] = read(f"{path}.{key}", table[key])
        firings, within = found.get("firings"), found.get("within")
        if not isinstance(firings, int) or not isinstance(within, timedelta):
            return None
        return PageAfter(firings, within)

    def thresholds(self, path: str, value: object) -> dict[Severity, PageAfter]:
        out: dict[Severity, PageAfter] = {}
        for key, raw in (self.table(path, value) or {}).items():
            severity = self.severity(f"{path}.{key}", key)
            hold = self.threshold(f"{path}.{key}", raw)
            if severity is not None and hold is not None:
                out[severity] = hold
        return out

    def grouping(self, path: str, value: object) -> list[GroupingRule]:
        return self.named_tables(path, value, "[[grouping]]", self.rule, "another rule")

    def rule(self, path: str, table: Mapping[str, Any]) -> GroupingRule | None:
        name, ok = self.named(path, table, ("name", "match", "by", "window", "page_after"))
        fields: dict[str, Any] = {}
        match = self.table(f"{path}.match", table.get("match", {}))
        try:
            fields["match"] = parse_matchers(match or {})
        except ValueError as exc:
            self.problem(f"{path}.match", str(exc))
            ok = False
        by = table.get("by", [])
        by = [by] if isinstance(by, str) else by
        if not isinstance(by, list) or not all(isinstance(b, str) and b.strip() for b in by):
            self.problem(f"{path}.by", f"must be a list of label names, got {by!r}")
            ok = False
        elif not by and not fields.get("match"):
            self.problem(path, "needs 'match' or 'by' (it would group every alert into one)")
            ok = False
        else:
            fields["by"] = tuple(by)
        if "window" in table:
            window = self.duration(f"{path}.window", table["window"])
            ok = ok and window is not None
            fields["window"] = window
        if "page_after" in table:
            hold = self.threshold(f"{path}.page_after", table["page_after"])
            ok = ok and hold is not None
            fields["page_after"] = hold
        return GroupingRule(name=name, **fields) if ok else None

    def runbooks(self, path: str, value: object) -> list[Runbook]:
        return self.named_tables(path, value, "[[runbooks]]", self.runbook, "another one")

    def named(
        self, path: str, table: Mapping[str, Any], known: tuple[str, ...]
    ) -> tuple[str, bool]:
        """A table's ``name`` (stripped), and whether its keys and name are all good."""
        ok = True
        for key in table:
            if key not in known:
                self.problem(f"{path}.{key}", unknown_key(key, known))
                ok = False
        name = table.get("name")
        if not isinstance(name, str) or not name.strip():
            self.problem(f"{path}.name", f"must be a non-empty string, got {name!r}")
            return "", False
        return name.strip(), ok

    def named_tables(
        self,
        path: str,
        value: object,
        header: str,
        read: Callable[[str, Mapping[str, Any]], _Named | None],
        other: str,
    ) -> list[_Named]:
        """An array of tables read one by one, each name used once."""
        if not isinstance(value, list):
            self.problem(path, f"must be an array of tables ({header})")
            return []
        out: list[_Named] = []
        seen: set[str] = set()
        for index, entry in enumerate(value):
            where = f"{path}[{index}]"
            table = self.table(where, entry)
            found = None if table is None else read(where, table)
            if found is None:
                continue
            if found.name in seen:
                self.problem(f"{where}.name", f"{found.name!r} is already used by {other}")
                continue
            seen.add(found.name)
            out.append(found)
        return out

    def runbook(self, path: str, table: Mapping[str, Any]) -> Runbook | None:
        ok = True
        for key in table:
            if key not in _RUNBOOK_KEYS:
                self.problem(f"{path}.{key}", unknown_key(key, _RUNBOOK_KEYS))
                ok = False
        fields: dict[str, Any] = {}
        for key in ("name", "url"):
            raw = table.get(key)
            if raw is None:
                self.problem(f"{path}.{key}", "missing")
                ok = False
            elif not isinstance(raw, str) or not raw.strip():
                self.problem(f"{path}.{key}", f"must be a non-empty string, got {raw!r}")
                ok = False
            else:
                fields[key] = raw
        for key in ("alert", "source", "description", "source_url"):
            raw = table.get(key)
            if raw is not None and not isinstance(raw, str):
                self.problem(f"{path}.{key}", f"must be a string, got {raw!r}")
                ok = False
            elif raw is not None:
                fields[key] = raw
        if "severity" in table:
            severity = self.severity(f"{path}.severity", table["severity"])
            ok = ok and severity is not None
            fields["severity"] = severity
        if "labels" in table:
            labels = self.labels(f"{path}.labels", table["labels"])
            ok = ok and labels is not None
            fields["labels"] = labels
        return Runbook(**fields) if ok else None

    def labels(self, path: str, value: object) -> dict[str, str] | None:
        labels = self.table(path, value)
        if labels is None or not all(isinstance(v, str) for v in labels.values()):
            self.problem(path, 'must be a table of strings, like { service = "checkout" }')
            return None
        return dict(labels)

    def people(self, path: str, value: object) -> list[Person]:
        if not isinstance(value, list):
            self.problem(path, "must be an array of tables ([[people]])")
            return []
        out: list[Person] = []
        claimed: dict[tuple[str, str], str] = {}
        for index, entry in enumerate(value):
            where = f"{path}[{index}]"
            table = self.table(where, entry)
            if table is None:
                continue
            person = self.person(where, table)
            if person is None:
                continue
            for source in IDENTITY_SOURCES:
                for identity in person.identities(source):
                    owner = claimed.setdefault((source, identity.casefold()), person.name)
                    if owner != person.name:
                        self.problem(where, f"{source} identity {identity!r} is {owner}'s too")
            out.append(person)
        return out

    def person(self, path: str, table: Mapping[str, Any]) -> Person | None:
        name, ok = self.named(path, table, _PERSON_KEYS)
        fields: dict[str, Any] = {}
        for key in ("email", *IDENTITY_SOURCES, "phone"):
            raw = table.get(key)
            if raw is None:
                continue
            values = [raw] if isinstance(raw, str) else raw
            if not isinstance(values, list) or not all(
                isinstance(v, str) and v.strip() for v in values
            ):
                self.problem(f"{path}.{key}", f"must be a string or a list of strings, got {raw!r}")
                ok = False
                continue
            fields[key] = values
        if not ok:
            return None
        try:
            return Person(name=str(name), **fields)
        except ValueError as exc:
            self.problem(path, str(exc))
            return None
