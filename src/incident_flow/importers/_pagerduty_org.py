"""PagerDuty's services as routes, its escalation policies as teams: the organisation.

Split from :mod:`.pagerduty` (schedules and escalation), whose reader inherits
:class:`ServiceReader`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._core.teams import Route, Team, schedules_named
from ._common import InvalidExport, Reader, team_slug
from ._escalation import Step, levels

_REFERENCE = ("id", "type", "summary", "self", "html_url")


class ServiceReader(Reader):
    """Reads a PagerDuty service into a route (what is left out is said as findings)."""

    if TYPE_CHECKING:  # the escalation reader, in .pagerduty, which inherits this class

        def escalation(
            self, where: str, item: Mapping[str, Any], schedules: Mapping[str, str]
        ) -> tuple[list[Step], int]: ...

    def service(
        self, where: str, item: Mapping[str, Any], teams: Mapping[str, str], seen: set[str]
    ) -> Route | None:
        """A service as a route to the team of its escalation policy (None: reported)."""
        name = self.text(where, item, "name", str(item.get("summary") or item.get("id")))
        where = f'{where} "{name}"'
        for key, why in _SERVICE_DROPPED.items():
            if item.get(key) not in (None, [], {}, "", _SERVICE_DEFAULTS.get(key)):
                self.drop(f"{where}.{key}", item[key], why)
        urgency = item.get("incident_urgency_rule")
        if isinstance(urgency, Mapping) and not (
            urgency.get("type") == "constant" and urgency.get("urgency") in (None, "high")
        ):
            why = "urgency comes from the alert's severity in incident_flow"
            self.drop(f"{where}.incident_urgency_rule", urgency, why)
        if item.get("status") == "disabled":
            why = "routed anyway: incident_flow pages for every alert it is sent"
            self.approximate(f"{where}.status", "disabled", why)
        self.unknown(
            where,
            item,
            ("name", "escalation_policy", "incident_urgency_rule", "status", *_SERVICE_DROPPED),
            (*_REFERENCE, "created_at", "updated_at", "last_incident_timestamp"),
        )
        ref = item.get("escalation_policy")
        if not isinstance(ref, Mapping) or not ref.get("id"):
            why = "no escalation policy: not routed (its alerts go to the default team)"
            self.drop(f"{where}.escalation_policy", ref, why)
            return None
        team = teams.get(str(ref.get("id")))
        if team is None:
            label = ref.get("summary") or ref.get("id")
            why = "the escalation policy is not in the import: not routed (default team)"
            self.drop(f"{where}.escalation_policy", label, why)
            return None
        if name in seen:
            why = "another service has this name: an alert's service label reaches the first"
            self.drop(where, name, why)
            return None
        seen.add(name)
        # A name starting with ``!`` or being ``*`` means a negation or any value when written
        # as a string: as a one-value list it is the name itself.
        value = [name] if name.startswith("!") or name == "*" else name
        return Route(team=team, match={"service": value})


#: A service's fields incident_flow has no place for, and why.
_SERVICE_DROPPED = {
    "description": "a route has no description in incident_flow",
    "teams": "a PagerDuty team is not an incident_flow team (each escalation policy is)",
    "integrations": "alerts reach incident_flow by its own webhooks: point each integration "
    "at them, with the service label",
    "support_hours": "a route has no hours in incident_flow (use the schedules' windows)",
    "scheduled_actions": "a route has no hours in incident_flow",
    "acknowledgement_timeout": "an acknowledgement does not expire in incident_flow",
    "auto_resolve_timeout": "incidents resolve by their alerts or by hand in incident_flow",
    "alert_creation": "every alert is an alert in incident_flow",
    "alert_grouping_parameters": "grouping is the policy's grouping rules",
    "auto_pause_notifications_parameters": "paging follows the policy's page_after",
    "addons": "a route has no add-ons in incident_flow",
    "response_play": "use runbooks and the policy's automatic actions",
}


#: Values of those fields that mean what incident_flow does anyway.
_SERVICE_DEFAULTS = {"alert_creation": "create_alerts_and_incidents"}


def _organisation(
    reader: ServiceReader,
    tables: list[Mapping[str, Any]],
    chosen: int,
    ids: Mapping[str, str],
    services: list[Any],
) -> tuple[list[Step], int, list[Team], list[Route], str | None]:
    """The chosen policy's steps and loops; every policy a team, every service a route.

    With one escalation policy and no services there are no teams: the policy is one team.
    """
    steps: list[Step] = []
    loops = 0
    teams: list[Team] = []
    routes: list[Route] = []
    default_team = None
    several = len(tables) > 1 or bool(services)
    names: set[str] = set()
    team_of: dict[str, str] = {}
    known = list(ids.values())
    for index, table in enumerate(tables):
        policy_steps, policy_loops = reader.escalation(f"escalation_policies[{index}]", table, ids)
        if index == chosen:
            steps, loops = policy_steps, policy_loops
        if not several:
            continue
        label = reader.label(table)
        where = f'escalation_policies[{index}] "{label}"'
        name = team_slug(label, names)
        if name != label.lower():
            reader.approximate(where, label, f"the team is named {name}")
        chain = levels(policy_steps, repeats=policy_loops)
        if not chain:
            why = "no level could be imported: the team pages the policy's top-level escalation"
            reader.drop(f"{where}.escalation_rules", label, why)
        teams.append(
            Team(
                name=name,
                escalation=chain or None,
                schedules=schedules_named(chain, known) if chain else None,
            )
        )
        team_of[str(table.get("id"))] = name
        if index == chosen:
            default_team = name
    seen: set[str] = set()
    for index, raw in enumerate(services):
        route = reader.service(
            f"services[{index}]", reader.table(f"services[{index}]", raw), team_of, seen
        )
        if route is not None:
            routes.append(route)
    return steps, loops, teams, routes, default_team


def _chosen(tables: list[Mapping[str, Any]], wanted: str | None) -> int:
    """The place of the escalation policy named or with the id ``wanted`` (default: the first).

    Raises:
        InvalidExport: none is ``wanted`` (naming those there are).
    """
    if wanted is None or not tables:
        return 0
    for index, table in enumerate(tables):
        if wanted in (table.get("name"), table.get("id")):
            return index
    names = ", ".join(str(t.get("name")) for t in tables)
    msg = f"none of the escalation_policies is named or with the id {wanted!r} (found: {names})"
    raise InvalidExport(msg)
