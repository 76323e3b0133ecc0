"""The policy file's ``[[teams]]``, ``[[routes]]`` and ``default_team``, read by the Reader.

Split from :mod:`.policy_file`: :class:`TeamTables` reads the three keys with the Reader's
own checks (every problem with its path), then checks them together with
:func:`~.teams.organisation_problems`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .policy_values import _DEFAULT_ESCALATION
from .roles_file import read_roles
from .storms import parse_matchers
from .teams import IMPLICIT_TEAM, Route, Team, organisation_problems, team_name_problem
from .text import unknown_key
from .trackers import read_tracker

if TYPE_CHECKING:
    from .policy_file import Reader

#: The keys of one ``[[teams]]`` table.
TEAM_KEYS = (
    "name",
    "escalation",
    "escalation_repeats",
    "schedules",
    "chat_channel",
    "postmortem_reviewers",
    "postmortem_review_pool",
    "postmortem_folder",
    "roles",
    "incident_channels",
    "tracker",
)
#: The keys of one ``[[routes]]`` table.
ROUTE_KEYS = ("match", "team")


class TeamTables:
    """Reads teams, routes and the default team for one :class:`~.policy_file.Reader`."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        #: Every team name a table gave, even of a table with other problems.
        self.declared: list[str] = []
        self.team_paths: list[str] = []
        self.route_paths: list[str] = []
        self.first_path: dict[str, str] = {}

    def readers(self) -> dict[str, Callable[[str, Any], Any]]:
        """The Reader's readers of the three keys."""
        return {"teams": self.teams, "routes": self.routes, "default_team": self.default_team}

    def teams(self, path: str, value: object) -> list[Team]:
        """``[[teams]]``: each table a team, each name used once."""
        found = self.reader.named_tables(path, value, "[[teams]]", self.team, "another team")
        self.team_paths = [self.first_path[team.name] for team in found]
        return found

    def team(self, path: str, table: Mapping[str, Any]) -> Team | None:
        """One ``[[teams]]`` table."""
        reader = self.reader
        name, ok = reader.named(path, table, TEAM_KEYS)
        wrong = team_name_problem(name) if name else None
        if wrong is not None:
            reader.problem(f"{path}.name", wrong)
            return None
        if name in self.first_path:
            reader.problem(f"{path}.name", f"{name!r} is already used by another team")
            return None
        if name:
            self.declared.append(name)
            self.first_path[name] = path
        fields: dict[str, Any] = {}
        reads: dict[str, Callable[[str, Any], Any]] = {
            "escalation": reader.escalation,
            "escalation_repeats": reader.reviewers,
            "schedules": reader.name_list,
            "chat_channel": reader.folder,
            "postmortem_reviewers": reader.reviewers,
            "postmortem_review_pool": reader.name_list,
            "postmortem_folder": reader.folder,
            "roles": lambda path, v: read_roles(reader, path, v, self.roles_base()),
            "incident_channels": reader.incident_channels,
            "tracker": lambda where, value: read_tracker(where, value, reader.problem),
        }
        problems = len(reader.problems)
        for key, read in reads.items():
            if key in table:
                fields[key] = read(f"{path}.{key}", table[key])
        if not ok or not name or len(reader.problems) > problems:
            return None
        return Team(name=name, **fields)

    def roles_base(self) -> Mapping[str, Any]:
        """The policy's ``[roles]``, where a team's ``[teams.roles]`` starts from.

        None of it when it has problems of its own: they are said once, at ``roles``.
        """
        broken = any(p.startswith(("roles.", "roles:")) for p in self.reader.problems)
        return {} if broken else self.reader.roles_table

    def routes(self, path: str, value: object) -> list[Route]:
        """``[[routes]]``: in order, each with matchers and a team."""
        if not isinstance(value, list):
            self.reader.problem(path, "must be an array of tables ([[routes]])")
            return []
        out: list[Route] = []
        for index, entry in enumerate(value):
            where = f"{path}[{index}]"
            table = self.reader.table(where, entry)
            route = None if table is None else self.route(where, table)
            if route is not None:
                out.append(route)
                self.route_paths.append(where)
        return out

    def route(self, path: str, table: Mapping[str, Any]) -> Route | None:
        """One ``[[routes]]`` table."""
        reader = self.reader
        ok = True
        for key in table:
            if key not in ROUTE_KEYS:
                reader.problem(f"{path}.{key}", unknown_key(key, ROUTE_KEYS))
                ok = False
        team = table.get("team")
        if team is None:
            reader.problem(f"{path}.team", "missing: the team that owns what the route matches")
            ok = False
        elif (wrong := team_name_problem(team)) is not None:
            reader.problem(f"{path}.team", wrong)
            ok = False
        example = 'like { service = "checkout" }'
        if "match" not in table:
            reader.problem(f"{path}.match", f"missing: a route needs matchers, {example}")
            return None
        match = reader.table(f"{path}.match", table["match"])
        if match is None:
            return None
        if not match:
            reader.problem(f"{path}.match", f"needs at least one matcher, {example}")
            return None
        try:
            matchers = parse_matchers(match)
        except ValueError as exc:
            reader.problem(f"{path}.match", str(exc))
            return None
        return Route(team=str(team), match=matchers) if ok else None

    def default_team(self, path: str, value: object) -> str | None:
        """``default_team``: a team's name."""
        wrong = team_name_problem(value)
        if wrong is not None:
            self.reader.problem(path, wrong)
            return None
        return str(value)

    def check(self, read: Mapping[str, Any], data: Mapping[str, Any]) -> None:
        """The teams, routes and default team read agree with each other and the schedules."""
        if "default_team" in data and "default_team" not in read:
            return  # already reported; "missing" would be wrong
        broken = any(p.startswith(("schedules:", "schedules[")) for p in self.reader.problems)
        found = organisation_problems(
            read.get("teams", ()),
            read.get("routes", ()),
            read.get("default_team"),
            schedules=None if broken else [s.name for s in read.get("schedules", ())],
            escalation=read.get("escalation", _DEFAULT_ESCALATION),
            team_paths=self.team_paths or None,
            route_paths=self.route_paths or None,
            declared=self.declared,
        )
        for path, text in found:
            self.reader.problem(path, text)
        self.check_scopes(data)

    def check_scopes(self, data: Mapping[str, Any]) -> None:
        """Each grouping rule scoped to a team names a team of the policy.

        Without ``[[teams]]`` the one team is ``default``. A name that is not a team's name at
        all was reported when the rule was read.
        """
        known = list(dict.fromkeys(self.declared)) or [IMPLICIT_TEAM]
        rules = data.get("grouping")
        for index, rule in enumerate(rules if isinstance(rules, list) else ()):
            team = rule.get("team") if isinstance(rule, Mapping) else None
            if team is None or team_name_problem(team) is not None or team in known:
                continue
            problem = f"{team!r}: {unknown_key(team, known, 'team')}"
            self.reader.problem(f"grouping[{index}].team", problem)
