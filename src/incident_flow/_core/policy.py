"""Policy: the team's incident standards as data (the seed's "X people", "X folder", P1..P5)."""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from ..exceptions import InvalidPolicy
from ..schedules._book import Schedules
from .alerts import Alert
from .people import People
from .policy_file import Reader
from .policy_values import (
    _DEFAULT_ACK_TIMEOUT,
    _DEFAULT_ESCALATION,
    APPROVER_RULES,
    CRITICAL,
    DEFAULT_DESCRIPTIONS,
    DEFAULT_WAIT,
    MERGE_MODES,
    REVIEW_ORDERS,
    EscalationLevel,
    _at_least_one,
    _catalog,
    _choice,
    _descriptions,
    _directory,
    _duration_value,
    _levels,
    _names,
    _positive,
    _rules,
    _schedule_book,
    _sections,
    _severity_set,
    _thresholds,
    _timeouts,
    _zone,
    add_business_days,
    parse_duration,
    parse_time,
)
from .roles import Roles
from .rooms import IncidentChannels, incident_channels
from .runbooks import RunbookCatalog
from .severity import Severity
from .storms import GroupingRule, PageAfter, duration_text
from .teams import (
    IMPLICIT_TEAM,
    Route,
    Team,
    first_route,
    organisation_problems,
    roles_problems,
)
from .text import unknown_key
from .trackers import TrackerPolicy
from .trackers import tracker_value as _tracker

__all__ = [
    "DEFAULT_DESCRIPTIONS",
    "EscalationLevel",
    "Policy",
    "Roles",
    "Route",
    "Team",
    "add_business_days",
    "parse_duration",
    "parse_time",
]


def _teams(value: Iterable[Team]) -> tuple[Team, ...]:
    teams = tuple(value)
    for team in teams:
        if not isinstance(team, Team):
            msg = f"Policy.teams takes Team values, got {team!r}"
            raise TypeError(msg)
    return teams


def _routes(value: Iterable[Route]) -> tuple[Route, ...]:
    routes = tuple(value)
    for route in routes:
        if not isinstance(route, Route):
            msg = f"Policy.routes takes Route values, got {route!r}"
            raise TypeError(msg)
    return routes


def _roles(value: Roles | None) -> Roles:
    if value is None:
        return Roles()
    if not isinstance(value, Roles):
        msg = f"Policy.roles takes a Roles value, got {value!r}"
        raise TypeError(msg)
    return value


def _roles_check(policy: Policy, attribute: object, value: Roles) -> None:
    found = roles_problems(value, policy.teams, policy.schedules.names)
    if found:
        raise ValueError("Policy: " + "; ".join(found))


def _organisation(policy: Policy, attribute: object, value: str | None) -> None:
    """Teams, routes and the default team agree with each other and with the schedules.

    A grouping rule scoped to a team names one of the policy's teams (``default`` is the one
    team of a policy that declares none).
    """
    for index, rule in enumerate(policy.grouping):
        if rule.team is not None and rule.team not in policy.team_names:
            problem = unknown_key(rule.team, policy.team_names, "team")
            msg = f"Policy: grouping[{index}].team: {rule.team!r}: {problem}"
            raise ValueError(msg)
    if not (policy.teams or policy.routes or value is not None):
        return  # one implicit team: nothing to check
    found = organisation_problems(
        policy.teams,
        policy.routes,
        value,
        schedules=policy.schedules.names,
        escalation=policy.escalation,
    )
    if found:
        msg = "Policy: " + "; ".join(f"{path}: {text}" for path, text in found)
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
        roles: the incident roles (commander, communications, scribe...), which severities
            need a commander, and who is reminded and paged when one has none (default: the
            three roles, no severity needs a commander).
        teams: the teams that own incidents, each with the values it overrides (default
            none: the policy is one team, ``default``, with the values above).
        routes: which team an alert belongs to, tried in order, the first match wins.
        default_team: the team of an alert no route matches (required with two teams or
            more; with one, that team).
        incident_channels: which incidents get a chat channel of their own, its name, and
            whether it is archived on close (:class:`~incident_flow.IncidentChannels`;
            default None: every incident lives in its thread of the alerts channel).
        tracker: whether and where action items are opened as issues (GitHub Issues or
            Jira; ``[tracker]``; default None: they stay in the store only).
    """

    critical: frozenset[Severity] = attrs.field(default=CRITICAL, converter=_severity_set)
    postmortem_required: frozenset[Severity] = attrs.field(
        default=CRITICAL, converter=_severity_set
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
    roles: Roles = attrs.field(factory=Roles, converter=_roles, validator=_roles_check)
    teams: tuple[Team, ...] = attrs.field(default=(), converter=_teams)
    routes: tuple[Route, ...] = attrs.field(default=(), converter=_routes)
    default_team: str | None = attrs.field(default=None, validator=_organisation)
    incident_channels: IncidentChannels | None = attrs.field(
        default=None, converter=incident_channels
    )
    tracker: TrackerPolicy | None = attrs.field(default=None, converter=_tracker)
    #: ``for_team``'s answers by team name: a decision asks on every command, and a team's
    #: policy is the same value every time (not compared, not shown, never copied: a policy
    #: made from this one starts its own).
    _team_views: dict[str, Policy] = attrs.field(
        factory=dict, init=False, repr=False, eq=False, hash=False
    )

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
        reader = Reader()
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
        return self.on_call_targets(self.escalation_targets(level), at)

    def on_call_targets(
        self, targets: Iterable[str], at: datetime
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Who ``targets`` (escalation targets) page at ``at``, and the schedules with nobody.

        As :meth:`page_targets` reads one level's targets.
        """
        names: list[str] = []
        gaps: list[str] = []
        for target in targets:
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
        return wait or self.ack_timeout_for(severity) or DEFAULT_WAIT

    @property
    def team_names(self) -> tuple[str, ...]:
        """The teams' names, in order (``("default",)`` for a policy without teams)."""
        return tuple(t.name for t in self.teams) or (IMPLICIT_TEAM,)

    @property
    def default_team_name(self) -> str:
        """The team of an alert no route matches."""
        return self.default_team or self.team_names[0]

    def team(self, name: str) -> Team:
        """The team called ``name`` with every value it leaves out taken from the policy.

        ``chat_channel`` stays None when neither says (the service's configured channel).

        Raises:
            ValueError: no such team.
        """
        return attrs.evolve(self._declared(name), **self._values_of(name))

    def _declared(self, name: str) -> Team:
        """The team as the policy declares it (the implicit one: the policy's values)."""
        declared = next((t for t in self.teams if t.name == name), None)
        if declared is None and (self.teams or name != IMPLICIT_TEAM):
            msg = f"no team {name!r} (known: {', '.join(self.team_names)})"
            raise ValueError(msg)
        return declared or Team(name=IMPLICIT_TEAM)

    def _values_of(self, name: str) -> dict[str, Any]:
        """The values team ``name`` pages, reviews and saves by: its own, else the policy's."""
        team = self._declared(name)
        own: dict[str, Any] = {
            "escalation": team.escalation,
            "escalation_repeats": team.escalation_repeats,
            "schedules": team.schedules,
            "postmortem_reviewers": team.postmortem_reviewers,
            "postmortem_review_pool": team.postmortem_review_pool,
            "postmortem_folder": team.postmortem_folder,
            "roles": team.roles,
            "incident_channels": team.incident_channels,
            "tracker": team.tracker,
        }
        mine = {k: v if v is not None else getattr(self, k) for k, v in own.items()}
        if team.schedules is None:
            mine["schedules"] = self.schedules.names
        return mine

    def route_for(self, alert: Alert) -> tuple[int, Route] | None:
        """The first route ``alert`` meets and its place (from 0); None: the default team."""
        return first_route(self.routes, alert)

    def team_name_for(self, alert: Alert) -> str:
        """The name of the team that owns ``alert`` (see :meth:`team_for`), cheaply.

        ``default`` for a policy without teams: what a silence or a grouping rule scoped to a
        team compares with.
        """
        found = first_route(self.routes, alert) if self.routes else None
        return self.default_team_name if found is None else found[1].team

    def team_for(self, alert: Alert) -> Team:
        """The team that owns ``alert``: the first route it meets, else the default team.

        The team comes with every value it leaves out taken from the policy (see :meth:`team`).
        """
        found = self.route_for(alert)
        return self.team(self.default_team_name if found is None else found[1].team)

    def for_team(self, name: str) -> Policy:
        """The policy as team ``name`` sees it: its escalation, schedules, reviewers, folder.

        Everything else is the policy's; its only team is that one, without routes, so a
        decision made for the team reads it as it reads a policy; its grouping rules are those
        for every team and the team's own. A policy without teams is its own implicit team's.

        Made once per team and policy (the same value every time after).

        Raises:
            ValueError: no such team.
        """
        known = self._team_views.get(name)
        if known is not None:
            return known
        if not self.teams and name == IMPLICIT_TEAM:
            return self  # asked on every decision: no team to build (not kept: no cycle)
        team = self.team(name)
        if not self.teams:  # pragma: no cover - team() refused every other name
            return self
        values = self._values_of(name)
        mine = set(values.pop("schedules"))
        view = attrs.evolve(
            self,
            **values,
            schedules=Schedules(v for v in self.schedules.versions if v.name in mine),
            grouping=tuple(r for r in self.grouping if r.team in (None, name)),
            teams=(team,),
            routes=(),
            default_team=team.name,
        )
        self._team_views[name] = view
        return view

    def owner_of(self, team: str | None) -> Policy:
        """The policy an incident of ``team`` is decided by (see :meth:`for_team`).

        None (an incident opened before its policy had teams) and a team the policy no
        longer declares are the default team's.
        """
        if not self.teams and self.default_team is None:
            return self  # one implicit team, every incident its: asked on every decision
        if team is None or team not in self.team_names:
            team = self.default_team_name
        return self.for_team(team)

    @property
    def chat_channel(self) -> str | None:
        """The chat channel of a policy made for one team (None: the configured channel)."""
        return self.teams[0].chat_channel if len(self.teams) == 1 else None

    def routing_lines(self) -> list[str]:
        """Its teams and the routing table, one line each (``policy check`` prints it)."""
        if not self.teams:
            return ["teams: none declared (one team: every alert is handled as above)"]
        lines = [self.team(name).describe() for name in self.team_names]
        lines.append("routes (in order, the first match wins):")
        lines += [f"  {i}. {route.describe()}" for i, route in enumerate(self.routes, 1)]
        lines.append(f"  else -> {self.default_team_name} (the default team)")
        return lines
