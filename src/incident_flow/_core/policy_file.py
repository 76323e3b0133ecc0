"""The policy file read: every key checked, every problem reported at once with its path.

:meth:`Policy.from_mapping <.policy.Policy.from_mapping>` hands the parsed TOML to
:class:`Reader`; what it returns are the policy's keyword arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, TypeVar

from ..schedules._clock import zone_named
from ..schedules._read import read_schedules
from .people import IDENTITY_SOURCES, Person
from .policy_values import (
    APPROVER_RULES,
    MERGE_MODES,
    POSTMORTEM_SECTIONS,
    REVIEW_ORDERS,
    EscalationLevel,
    parse_duration,
)
from .roles import Roles
from .roles_file import read_roles
from .rooms import IncidentChannels, name_problem
from .runbooks import Runbook
from .severity import Severity
from .storms import GroupingRule, PageAfter, parse_matchers
from .teams import Team, roles_problems
from .teams_file import TeamTables
from .text import team_name_problem, unknown_key
from .trackers import read_tracker

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
    "roles",
    "teams",
    "routes",
    "default_team",
    "tracker",
    "incident_channels",
)
#: The keys of ``[incident_channels]`` (and of a team's ``incident_channels``).
_CHANNEL_KEYS = ("severities", "name", "archive_on_close")
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


_Named = TypeVar("_Named", Runbook, GroupingRule, Team)


class Reader:
    """Reads policy data, collecting every problem instead of stopping at the first."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        #: The policy's own ``[roles]`` table, where a team's ``[teams.roles]`` starts from.
        self.roles_table: Mapping[str, Any] = {}

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
            "tracker": lambda path, v: read_tracker(path, v, self.problem),
            "roles": lambda path, v: read_roles(self, path, v),
            "incident_channels": self.incident_channels,
        }
        if isinstance(data.get("roles"), Mapping):
            self.roles_table = data["roles"]
        teams = TeamTables(self)
        readers.update(teams.readers())
        out: dict[str, Any] = {}
        for key, reader in readers.items():
            if key in data:
                value = reader(key, data[key])
                if value is not None:
                    out[key] = value
        self.check_targets(out)
        teams.check(out, data)
        self.check_roles(out)
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

    def check_roles(self, read: Mapping[str, Any]) -> None:
        """Every commander rotation's schedule exists (and is its team's)."""
        if any(p.startswith(("schedules", "teams", "roles")) for p in self.problems):
            return  # their own problems are said; these would repeat or mislead
        known = tuple(dict.fromkeys(s.name for s in read.get("schedules", ())))
        roles = read.get("roles") or Roles()
        for found in roles_problems(roles, read.get("teams", ()), known):
            path, _, text = found.partition(": ")
            self.problem(path, text)

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

    def incident_channels(self, path: str, value: object) -> IncidentChannels | None:
        """``[incident_channels]``: severities, a name pattern, archive on close or not."""
        table = self.table(path, value)
        if table is None:
            return None
        before = len(self.problems)
        for key in table:
            if key not in _CHANNEL_KEYS:
                self.problem(f"{path}.{key}", unknown_key(key, _CHANNEL_KEYS))
        fields: dict[str, Any] = {}
        if "severities" in table:
            fields["severities"] = self.severity_list(f"{path}.severities", table["severities"])
        if "name" in table:
            problem = name_problem(table["name"])
            if problem is not None:
                self.problem(f"{path}.name", problem)
            fields["name"] = table["name"]
        if "archive_on_close" in table:
            fields["archive_on_close"] = self.flag(
                f"{path}.archive_on_close", table["archive_on_close"]
            )
        if len(self.problems) > before:
            return None
        return IncidentChannels(**fields)

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
        name, ok = self.named(path, table, ("name", "match", "by", "window", "page_after", "team"))
        fields: dict[str, Any] = {}
        if "team" in table:
            wrong = team_name_problem(table["team"])
            if wrong is not None:
                self.problem(f"{path}.team", wrong)
                ok = False
            fields["team"] = table["team"]
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
