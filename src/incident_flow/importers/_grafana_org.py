"""Grafana OnCall's integrations and their routes as incident_flow's teams and routes.

Split from :mod:`.grafana_oncall` (schedules, shifts, calendars, escalation chains), whose
reader reads the chains the routes lead to. In OnCall an alert arrives at an integration;
its routes, by ``position``, test the alert's payload (a Jinja2 template, or a regular
expression over its JSON); the first that matches gives the escalation chain, else the
integration's default route does. Here:

- each escalation chain is a team (a slug of its name), paging the chain's levels; the Slack
  channel its routes post to is the team's chat channel;
- each route is a route to its chain's team: the integration (``source``, when the
  integration's type is one of incident_flow's sources and no other integration of the import
  has it; else the label ``integration``) and the route's test as label matchers;
- a test a matcher can say is a Jinja2 comparison of labels (``{{ payload.commonLabels.team
  == "search" }}``, joined by ``and``) or a regular expression naming one label's value
  (``"service": "checkout-api"``); any other is reported, and its route left out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from .._core.storms import LabelMatcher
from .._core.teams import Route, Team, schedules_named
from ..schedules import Schedule
from ._common import Imported, InvalidExport, Reader, imported, short, team_slug
from ._escalation import Step, levels

__all__ = ["OnCallOrganisation", "is_integration", "is_route", "organisation"]

#: OnCall's integration types that arrive at one of incident_flow's webhooks, by its name.
_SOURCES = {
    "alertmanager": "alertmanager",
    "legacy_alertmanager": "alertmanager",
    "grafana": "grafana",
    "grafana_alerting": "grafana",
    "legacy_grafana_alerting": "grafana",
    "datadog": "datadog",
}
_ROUTE_KEYS = (
    "integration_id",
    "escalation_chain_id",
    "routing_type",
    "routing_regex",
    "position",
    "is_the_last_route",
    "slack",
)
_OTHER_CHATS = ("telegram", "msteams", "mobile_app")
_INTEGRATION_IGNORED = (
    "id",
    "name",
    "type",
    "link",
    "inbound_email",
    "heartbeat",
    "templates",
    "maintenance_mode",
    "maintenance_started_at",
    "maintenance_end_at",
    "description_short",
    "default_route",
)
#: ``payload.commonLabels.KEY == "VALUE"`` (or ``labels``, ``groupLabels``,
#: ``alerts[0].labels``; ``["KEY"]``; ``!=``), as a Jinja2 route's test writes it.
_COMPARISON = re.compile(
    r"""payload\s*\.\s*(?P<where>labels|commonLabels|groupLabels|alerts\s*\[\s*0\s*\]\s*\.\s*labels)
    \s*(?:\.\s*(?P<dotted>[A-Za-z_][A-Za-z0-9_]*)|\[\s*(?P<q>["'])(?P<quoted>[^"'\\]+)(?P=q)\s*\])
    \s*(?P<op>==|!=)\s*(?P<v>["'])(?P<value>[^"'\\]*)(?P=v)""",
    re.VERBOSE,
)
#: ``"KEY": "VALUE"`` as a regular expression over the alert's JSON (no other pattern).
_LITERAL = re.compile(
    r'"(?P<key>[A-Za-z_][A-Za-z0-9_.\-/]*)":(?: |\\s\*|\\s\?)?"(?P<value>[^"\\^$.|?*+()\[\]{}]+)"'
)


def is_integration(item: Mapping[str, Any]) -> bool:
    """Whether ``item`` is an integration (``GET /api/v1/integrations/``)."""
    return "default_route" in item


def is_route(item: Mapping[str, Any]) -> bool:
    """Whether ``item`` is a route (``GET /api/v1/routes/``)."""
    return "integration_id" in item


class OnCallOrganisation:
    """Builds teams (one per escalation chain) and routes (per integration), reporting.

    Args:
        reader: the OnCall reader (its findings).
        chains: the escalation chains of the import, each a team.
        steps_of: a chain's steps and repeats (read once each: its findings said once).
        schedules: the imported schedules' names (the teams' schedules are among them).
    """

    def __init__(
        self,
        reader: Reader,
        chains: Sequence[Mapping[str, Any]],
        steps_of: Callable[[Mapping[str, Any]], tuple[list[Step], int]],
        schedules: Iterable[str],
    ) -> None:
        self.reader = reader
        self.chains = chains
        self.steps_of = steps_of
        self.schedules = list(schedules)
        self.routes: list[Route] = []
        #: Each chain's team name, by the chain's place and by its id (the first of an id).
        self.names: list[str] = []
        self.team_of: dict[str, str] = {}
        taken: set[str] = set()
        for chain in chains:
            self.names.append(team_slug(str(chain.get("name") or chain.get("id")), taken))
            self.team_of.setdefault(str(chain.get("id")), self.names[-1])
        #: The Slack channels each chain's routes post to, in order met.
        self.channels: dict[str, dict[str, None]] = {}

    def teams(self) -> list[Team]:
        """Every chain a team, in the export's order (after :meth:`integrations`)."""
        out: list[Team] = []
        for index, chain in enumerate(self.chains):
            label = str(chain.get("name") or chain.get("id"))
            where = f'escalation_chains[{index}] "{label}"'
            name = self.names[index]
            if name != label.lower():
                self.reader.approximate(where, label, f"the team is named {name}")
            steps, repeats = self.steps_of(chain)
            chain_levels = levels(steps, repeats=repeats)
            if not chain_levels:
                why = "no level could be imported: the team pages the policy's top-level escalation"
                self.reader.drop(where, label, why)
            mine = self.team_of.get(str(chain.get("id"))) == name
            channels = list(self.channels.get(str(chain.get("id")), {})) if mine else []
            if len(channels) > 1:
                why = f"its routes post to {len(channels)} Slack channels: the first is the team's"
                self.reader.approximate(f"{where} (Slack channels)", ", ".join(channels), why)
            out.append(
                Team(
                    name=name,
                    escalation=chain_levels or None,
                    schedules=schedules_named(chain_levels, self.schedules)
                    if chain_levels
                    else None,
                    chat_channel=channels[0] if channels else None,
                )
            )
        return out

    # ------------------------------------------------------------------------ integrations

    def integrations(
        self, integrations: Sequence[Mapping[str, Any]], routes: Sequence[Mapping[str, Any]]
    ) -> None:
        """Each integration's routes, by position, then its default route, as routes."""
        types = [str(i.get("type")) for i in integrations]
        sources = [_SOURCES.get(t) for t in types]
        placed: set[int] = set()
        labels: set[str] = set()
        for index, integration in enumerate(integrations):
            label = str(integration.get("name") or integration.get("id"))
            where = f'integrations[{index}] "{label}"'
            self.reader.unknown(where, integration, (), _INTEGRATION_IGNORED)
            mine = [
                (i, r)
                for i, r in enumerate(routes)
                if str(r.get("integration_id")) == str(integration.get("id"))
            ]
            placed.update(i for i, _ in mine)
            source = sources[index]
            if source is not None and sources.count(source) == 1:
                arrival = LabelMatcher("source", (source,))
            else:
                arrival = LabelMatcher("integration", (label,))
                why = (
                    f"another integration of the import arrives as {source}"
                    if source is not None
                    else f"'{types[index]}' is not a webhook of incident_flow's"
                )
                if label in labels:
                    why = "another integration has this name: its label reaches that one"
                    self.reader.drop(where, label, f"{why}; its routes are not imported")
                    continue
                labels.add(label)
                why += f": its alerts are routed by the label integration={label}"
                self.reader.approximate(where, label, why)
            ordered = sorted(
                mine, key=lambda p: (bool(p[1].get("is_the_last_route")), _position(p[1]), p[0])
            )
            last = integration.get("default_route")
            has_last = any(r.get("is_the_last_route") for _, r in mine)
            for i, route in ordered:
                self.route(
                    f"{where}.routes[{i}]",
                    route,
                    arrival,
                    last=bool(route.get("is_the_last_route")),
                )
            if isinstance(last, Mapping) and not has_last:
                self.route(f"{where}.default_route", last, arrival, last=True)
        for index, route in enumerate(routes):
            if index not in placed:
                why = "a route of no integration in the import: not imported"
                self.reader.drop(f"routes[{index}]", route.get("id"), why)

    def route(
        self, where: str, route: Mapping[str, Any], arrival: LabelMatcher, *, last: bool
    ) -> None:
        """One route: to its chain's team, when its test can be said (else reported)."""
        reader = self.reader
        reader.unknown(where, route, _ROUTE_KEYS, ("id", *_OTHER_CHATS))
        for chat in _OTHER_CHATS:
            value = route.get(chat)
            if isinstance(value, Mapping) and value.get("enabled") and value.get("id"):
                reader.drop(f"{where}.{chat}", value.get("id"), "only Slack is a chat channel here")
        chain = route.get("escalation_chain_id")
        team = self.team_of.get(str(chain)) if chain else None
        if team is None:
            why = (
                "no escalation chain: OnCall pages nobody for it; here its alerts take the "
                "integration's later routes (or the default team)"
                if not chain
                else "the escalation chain is not in the import: not imported"
            )
            reader.drop(f"{where}.escalation_chain_id", chain, why)
            return
        tests: tuple[LabelMatcher, ...] | str = ()
        if not last:
            tests = self.test(where, route)
        if isinstance(tests, str):
            reader.drop(f"{where}.routing_regex", route.get("routing_regex"), tests)
            return
        if any(m.name == arrival.name for m in tests):
            why = f"it tests {arrival.name}, which says the integration here: not imported"
            reader.drop(f"{where}.routing_regex", route.get("routing_regex"), why)
            return
        slack = route.get("slack")
        if isinstance(slack, Mapping) and slack.get("channel_id") and slack.get("enabled", True):
            self.channels.setdefault(str(chain), {})[str(slack["channel_id"])] = None
        self.routes.append(Route(team=team, match=(arrival, *tests)))

    def test(self, where: str, route: Mapping[str, Any]) -> tuple[LabelMatcher, ...] | str:
        """A route's test as matchers, or why it has none (said as the finding)."""
        text = route.get("routing_regex")
        if not isinstance(text, str) or not text.strip():
            return "a route without a test is not imported (only the default route takes all)"
        kind = route.get("routing_type") or "regex"
        if kind == "jinja2":
            return self.jinja(where, text)
        if kind != "regex":
            return f"routing_type {short(kind, 40)!r} is not known: not imported"
        found = _LITERAL.fullmatch(text.strip())
        if found is None:
            return "a regular expression over the alert's JSON has no matcher form: not imported"
        why = f"the expression is read as the label {found['key']}={found['value']}"
        self.reader.approximate(f"{where}.routing_regex", text, why)
        return _matcher(found["key"], found["value"], negate=False)

    def jinja(self, where: str, text: str) -> tuple[LabelMatcher, ...] | str:
        """``{{ A and B }}`` where each is a comparison of a label (else why not)."""
        body = text.strip()
        if not (body.startswith("{{") and body.endswith("}}")):
            return "a Jinja2 template other than one {{ ... }} test: not imported"
        parts = re.split(r"\s+and\s+", body[2:-2].strip())
        found: dict[str, LabelMatcher] = {}
        for part in parts:
            match = _COMPARISON.fullmatch(part.strip())
            if match is None:
                return "a Jinja2 test other than label comparisons joined by 'and': not imported"
            key = match["dotted"] or match["quoted"]
            made = _matcher(key, match["value"], negate=match["op"] == "!=")
            if isinstance(made, str):
                return made
            (matcher,) = made
            if found.get(key, matcher) != matcher:
                return (
                    "two comparisons ask one label for different values: never true, not imported"
                )
            found[key] = matcher
            if "alerts" in match["where"]:
                why = "the first alert's labels are read as each alert's own"
                self.reader.approximate(f"{where}.routing_regex", part.strip(), why)
        return tuple(found.values())


def _matcher(key: str, value: str, *, negate: bool) -> tuple[LabelMatcher, ...] | str:
    try:
        return (LabelMatcher(key, (value,), negate),)
    except ValueError:
        return f"{short(key, 40)!r} is not a label's name: not imported"


def _position(route: Mapping[str, Any]) -> int:
    value = route.get("position")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def organisation(
    reader: Any,
    found: Mapping[str, list[Mapping[str, Any]]],
    ids: Mapping[str, str],
    schedules: Sequence[Schedule],
    *,
    wanted: str | None,
    read: str,
) -> Imported:
    """The import with its organisation: every chain a team, every integration's routes.

    ``reader`` is :mod:`.grafana_oncall`'s (its ``chain()`` reads a chain's steps once here).

    The default team is the chain named (or with the id) ``wanted``, else the first chain's;
    the top-level escalation is its chain.
    """
    chains = found["chain"]
    chosen = 0
    if wanted is not None:
        matches = [i for i, c in enumerate(chains) if wanted in (c.get("name"), c.get("id"))]
        if not matches:
            names = ", ".join(str(c.get("name")) for c in chains)
            msg = (
                f"none of the escalation_chains is named or with the id {wanted!r} (found: {names})"
            )
            raise InvalidExport(msg)
        chosen = matches[0]
    read_chains: dict[int, tuple[list[Step], int]] = {}

    def steps_of(chain: Mapping[str, Any]) -> tuple[list[Step], int]:
        index = next(i for i, c in enumerate(chains) if c is chain)
        if index not in read_chains:
            read_chains[index] = reader.chain(
                f"escalation_chains[{index}]", chain, found["policy"], ids
            )
        return read_chains[index]

    org = OnCallOrganisation(reader, chains, steps_of, [s.name for s in schedules])
    org.integrations(found["integration"], found["route"])
    teams = org.teams()
    steps, repeats = steps_of(chains[chosen]) if chains else ([], 0)
    result = imported(
        "Grafana OnCall",
        reader.names,
        reader,
        schedules=schedules,
        steps=steps,
        repeats=repeats,
        read=read,
    )
    return attrs.evolve(
        result,
        teams=tuple(teams),
        routes=tuple(org.routes),
        default_team=teams[chosen].name if teams else None,
    )
