"""Teams and routing as values: who owns an alert, and what that team's standards are.

A :class:`Team` overrides some of the policy's values (its escalation, the schedules it is on
call through, its chat channel, its post-mortem reviewers and folder); every value it leaves
out is the policy's own. :class:`Route` values, tried in order, send an alert to a team by
label matchers (the syntax of grouping rules); an alert no route matches goes to the default
team. A policy without teams is one implicit team, :data:`IMPLICIT_TEAM`, with the top-level
values. :class:`~.policy.Policy` holds them (``teams``, ``routes``, ``default_team``) and
answers ``team_for(alert)`` and ``for_team(name)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import attrs

from .alerts import Alert
from .policy_values import EscalationLevel, _levels, _names
from .roles import Roles
from .rooms import IncidentChannels, incident_channels
from .storms import LabelMatcher, parse_matchers
from .text import team_name_problem, unknown_key
from .trackers import TrackerPolicy, tracker_value

__all__ = [
    "IMPLICIT_TEAM",
    "Route",
    "Team",
    "first_route",
    "organisation_problems",
    "roles_problems",
    "schedule_target",
    "schedules_named",
    "team_name_problem",
]

#: The name of the one team of a policy that declares none.
IMPLICIT_TEAM = "default"


def _name(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    problem = team_name_problem(value)
    if problem is not None:
        raise ValueError(f"{type(instance).__name__}.{attribute.name} {problem}")


def _optional_levels(
    value: Iterable[EscalationLevel] | None,
) -> tuple[EscalationLevel, ...] | None:
    return None if value is None else _levels(value)


def _optional_names(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    try:
        return _names(value)
    except ValueError:
        msg = f"Team schedules and review pools are lists of non-empty names, got {value!r}"
        raise ValueError(msg) from None


def _optional_count(
    instance: object, attribute: attrs.Attribute[int | None], value: object
) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        msg = f"Team.{attribute.name} must be a whole number >= 0 or None, got {value!r}"
        raise ValueError(msg)


def _optional_text(instance: object, attribute: attrs.Attribute[str | None], value: object) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        msg = f"Team.{attribute.name} must be a non-empty string or None, got {value!r}"
        raise ValueError(msg)


@attrs.frozen(kw_only=True)
class Team:
    """A team that owns incidents; each attribute left None is the policy's own value.

    Attributes:
        name: the team's name (routes and ``default_team`` name it).
        escalation: its escalation levels (targets as the policy's: people, pager names,
            ``schedule:NAME`` or a schedule's name).
        escalation_repeats: how many more times its last level is paged.
        schedules: the policy's schedules the team is on call through; its levels may name no
            other (None: all the policy's schedules).
        chat_channel: where its incidents are discussed (None: the channel the service
            configuration names).
        postmortem_reviewers: how many approvals its post-mortems need.
        postmortem_review_pool: who its post-mortems' reviews are requested from.
        postmortem_folder: where its post-mortems are saved.
        roles: its roles and commander rule (a whole :class:`~.roles.Roles`; the policy
            file's ``[teams.roles]`` starts from the policy's ``[roles]``).
        incident_channels: which of its incidents get a channel of their own, and how
            (:class:`~incident_flow.IncidentChannels`; None: the policy's).
        tracker: where its action items are opened as issues (``[teams.tracker]``; the kind
            must be the policy's, the flow has one tracker).
    """

    name: str = attrs.field(validator=_name)
    escalation: tuple[EscalationLevel, ...] | None = attrs.field(
        default=None, converter=_optional_levels
    )
    escalation_repeats: int | None = attrs.field(default=None, validator=_optional_count)
    schedules: tuple[str, ...] | None = attrs.field(default=None, converter=_optional_names)
    chat_channel: str | None = attrs.field(default=None, validator=_optional_text)
    postmortem_reviewers: int | None = attrs.field(default=None, validator=_optional_count)
    postmortem_review_pool: tuple[str, ...] | None = attrs.field(
        default=None, converter=_optional_names
    )
    postmortem_folder: str | None = attrs.field(default=None, validator=_optional_text)
    roles: Roles | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.instance_of(Roles))
    )
    incident_channels: IncidentChannels | None = attrs.field(
        default=None, converter=incident_channels
    )
    tracker: TrackerPolicy | None = attrs.field(default=None, converter=tracker_value)

    def describe(self) -> str:
        """One line: who it pages, who reviews, where it saves and talks (all resolved)."""
        levels = " -> ".join(", ".join(level.targets) for level in self.escalation or ())
        levels = levels or "the policy's"
        repeats = f" (last repeated {self.escalation_repeats}x)" if self.escalation_repeats else ""
        pool = ", ".join(self.postmortem_review_pool or ())
        pool = f" from {pool}" if pool else ""
        channel = self.chat_channel or "the configured chat channel"
        return (
            f"team {self.name}: escalation {levels}{repeats}; post-mortems "
            f"reviewed by {self.postmortem_reviewers}{pool}, saved under "
            f"{self.postmortem_folder}/; chat {channel}"
        )


def _matchers(value: Mapping[str, object] | Iterable[LabelMatcher]) -> tuple[LabelMatcher, ...]:
    matchers = parse_matchers(value) if isinstance(value, Mapping) else tuple(value)
    if not matchers:
        msg = "a route needs at least one matcher (it would take every alert)"
        raise ValueError(msg)
    for matcher in matchers:
        if not isinstance(matcher, LabelMatcher):
            msg = f"Route.match takes LabelMatcher values, got {matcher!r}"
            raise TypeError(msg)
    return matchers


@attrs.frozen(kw_only=True)
class Route:
    """An alert meeting every matcher of ``match`` belongs to ``team``.

    Attributes:
        team: the team's name.
        match: the conditions (labels such as ``service`` and ``team``, or the alert's
            ``source``, ``name``, ``severity``), as grouping rules write them.
    """

    team: str = attrs.field(validator=_name)
    match: tuple[LabelMatcher, ...] = attrs.field(converter=_matchers)

    def matches(self, alert: Alert) -> bool:
        """Whether ``alert`` meets every matcher."""
        return all(m.matches(alert) for m in self.match)

    def describe(self) -> str:
        """One line: what it matches and the team."""
        return f"{' '.join(str(m) for m in self.match)} -> {self.team}"


def first_route(routes: Iterable[Route], alert: Alert) -> tuple[int, Route] | None:
    """The first route (and its place, from 0) that ``alert`` meets; None when none does."""
    for index, route in enumerate(routes):
        if route.matches(alert):
            return index, route
    return None


def schedule_target(target: str, schedules: Iterable[str]) -> str | None:
    """The schedule an escalation target pages; None for a person or a pager name.

    ``schedule:NAME`` (with ``:next``, ``:previous`` or ``:current``), or a bare name among
    ``schedules``. A ``schedule:`` target names its schedule, among ``schedules`` or not.
    """
    if target.startswith("schedule:"):
        name = target.removeprefix("schedule:")
        base, _, suffix = name.rpartition(":")
        return base if base and suffix in ("next", "previous", "current") else name
    return target if target in set(schedules) else None


def schedules_named(levels: Iterable[EscalationLevel], schedules: Iterable[str]) -> list[str]:
    """The schedules ``levels`` page, in order, each once."""
    known = tuple(schedules)
    found = (schedule_target(t, known) for level in levels for t in level.targets)
    return list(dict.fromkeys(name for name in found if name is not None))


def _team_problems(
    path: str, team: Team, schedules: Sequence[str], escalation: Sequence[EscalationLevel]
) -> list[tuple[str, str]]:
    """One team's schedules: those it lists exist, those its levels page exist and are listed."""
    found: list[tuple[str, str]] = []
    listed = ", ".join(schedules) or "none"
    for index, name in enumerate(team.schedules or ()):
        if name not in schedules:
            found.append((f"{path}.schedules[{index}]", f"no schedule {name!r} (known: {listed})"))
    for index, level in enumerate(team.escalation or ()):
        for target in level.targets:
            paged = schedule_target(target, schedules)
            if paged is not None and paged not in schedules:
                text = f"{target!r}: no schedule {paged!r} (known: {listed})"
                found.append((f"{path}.escalation[{index}].targets", text))
    levels = escalation if team.escalation is None else team.escalation
    outside = [
        name
        for name in schedules_named(levels, schedules)
        if team.schedules is not None and name in schedules and name not in team.schedules
    ]
    if outside:
        text = f"its escalation pages {', '.join(outside)}: list them here too"
        found.append((f"{path}.schedules", text))
    return found


def organisation_problems(
    teams: Sequence[Team],
    routes: Sequence[Route],
    default_team: str | None,
    *,
    schedules: Sequence[str] | None,
    escalation: Sequence[EscalationLevel],
    team_paths: Sequence[str] | None = None,
    route_paths: Sequence[str] | None = None,
    declared: Iterable[str] = (),
) -> list[tuple[str, str]]:
    """What is wrong with these teams and routes in a policy, each with its path.

    ``schedules`` are the policy's schedules (None: they could not be read, so teams' schedule
    names are not checked) and ``escalation`` its top-level levels (what a team without its
    own inherits). ``declared`` adds team names whose tables had other
    problems, so a route naming one is not reported again. Empty: all is well.
    """
    found: list[tuple[str, str]] = []
    team_paths = team_paths or [f"teams[{i}]" for i in range(len(teams))]
    route_paths = route_paths or [f"routes[{i}]" for i in range(len(routes))]
    known = list(dict.fromkeys([*(t.name for t in teams), *declared]))
    seen: set[str] = set()
    for path, team in zip(team_paths, teams, strict=True):
        if team.name in seen:
            found.append((f"{path}.name", f"{team.name!r} is already used by another team"))
        seen.add(team.name)
        if schedules is not None:
            found += _team_problems(path, team, schedules, escalation)
    if routes and not known:
        found.append(("routes", "there are no [[teams]] to route to"))
    elif known:
        found += [
            (f"{path}.team", unknown_key(route.team, known, "team"))
            for path, route in zip(route_paths, routes, strict=True)
            if route.team not in known
        ]
    if default_team is not None and not known:
        found.append(("default_team", "there are no [[teams]] to name"))
    elif default_team is not None and default_team not in known:
        found.append(("default_team", unknown_key(default_team, known, "team")))
    elif default_team is None and len(known) > 1:
        text = f"missing: which team ({', '.join(known)}) owns what no route takes"
        found.append(("default_team", text))
    return found


def roles_problems(roles: Roles, teams: Iterable[Team], known: tuple[str, ...]) -> list[str]:
    """Commander rotations (``Roles.page``) naming a schedule not in ``known`` (or the team's)."""
    found: list[str] = []
    owners: list[tuple[str, Roles, tuple[str, ...] | None]] = [("roles", roles, None)]
    # A team without roles of its own pages the policy's rotation: through its schedules too.
    owners += [(f"teams.{t.name}.roles", t.roles or roles, t.schedules) for t in teams]
    for path, owned, allowed in owners:
        for target in owned.page:
            name = schedule_target(target, known)
            if name is None:
                continue
            listed = ", ".join(known) or "none"
            if name not in known:
                found.append(f"{path}.page: {target!r}: no schedule {name!r} (known: {listed})")
            elif allowed is not None and name not in allowed:
                found.append(f"{path}.page: {target!r}: the team is not on call through {name}")
    return found
