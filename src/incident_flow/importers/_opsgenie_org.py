"""Opsgenie's teams and their routing rules as incident_flow's teams and routes.

Split from :mod:`.opsgenie` (schedules, overrides, escalations), whose reader reads the
escalations the rules notify. In Opsgenie an alert is assigned to a team by the integration
that created it; the team's routing rules, in order (the default rule last), decide which
escalation or schedule is notified. Here:

- each Opsgenie team is a team named after it (a slug), paging what its default rule notifies;
  a rule notifying something else makes a team of its own (``checkout-card-escalation``);
- each rule is a route: ``team`` (the alert's label: the Opsgenie team's name, as an
  integration assigned it) and the rule's conditions as label matchers; ``match-any`` rules
  become one route per condition (the same team, so the first match still decides);
- what a matcher cannot say (text operations, regular expressions, time restrictions, a
  rule that notifies nobody) is reported, and the rule (or the condition) left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from .._core.policy import EscalationLevel
from .._core.storms import LabelMatcher
from .._core.teams import Route, Team, schedules_named
from ._common import Reader, short, team_slug
from ._escalation import Step, levels

__all__ = ["Organisation", "is_rule", "rule_sets"]

#: The keys of a team routing rule (``GET /v2/teams/{id}/routing-rules``).
_RULE_KEYS = ("name", "isDefault", "order", "criteria", "timezone", "timeRestriction", "notify")
#: Opsgenie's priorities, which are incident_flow's severities by name.
_PRIORITIES = ("P1", "P2", "P3", "P4", "P5")
#: Fields whose conditions compare text a label matcher cannot see.
_TEXT_FIELDS = {
    "message": "the alert's message is its title here: a matcher reads labels",
    "alias": "the alias is the alert's dedup key here: a matcher reads labels",
    "description": "a matcher reads labels, not the description",
    "actions": "alerts have no actions here",
    "recipients": "who is notified is the route's team",
    "eventType": "not a field of an alert here",
    "conversationSubject": "not a field of an alert here",
    "from_address": "email integrations send no labels",
    "from_name": "email integrations send no labels",
    "subject": "email integrations send no labels",
}

#: One condition as matchers (an empty tuple: always true), or why it cannot be one.
Matchers = tuple[LabelMatcher, ...]


def is_rule(item: object) -> bool:
    """Whether ``item`` is a team routing rule (it notifies, with criteria or a default flag)."""
    return (
        isinstance(item, Mapping)
        and "notify" in item
        and ("criteria" in item or "isDefault" in item)
    )


def rule_sets(documents: Iterable[object]) -> tuple[list[object], list[tuple[object, list[Any]]]]:
    """The documents without their routing-rule answers, and those answers with whose they are.

    A routing-rules answer (``{"data": [rules]}``, or one rule) names no team: a fetch adds
    ``"team": {"id": ..., "name": ...}``; in a saved file, add ``"team": "NAME"`` (else the
    team is found from what the rules notify, see :meth:`Organisation.owner`).
    """
    rest: list[object] = []
    sets: list[tuple[object, list[Any]]] = []
    for document in documents:
        if isinstance(document, list):
            others, found = rule_sets(document)
            if others:
                rest.append(others)
            sets += found
            continue
        data = document.get("data", document) if isinstance(document, Mapping) else None
        whose = document.get("team") if isinstance(document, Mapping) else None
        if isinstance(data, list) and any(is_rule(d) for d in data):
            sets.append((whose, list(data)))
        elif is_rule(data):
            sets.append((whose, [data]))
        else:
            rest.append(document)
    return rest, sets


@attrs.frozen
class _Target:
    """What a rule notifies: an escalation's or a schedule's name, and its levels."""

    kind: str
    name: str
    levels: tuple[EscalationLevel, ...]


class Organisation:
    """Builds teams and routes from routing-rule sets, reporting through ``reader``.

    Args:
        reader: the Opsgenie reader (its findings; its ``teams`` by id and name).
        escalations: the escalations of the import.
        schedules: the imported schedules' names by Opsgenie id (and by name).
        steps_of: an escalation's steps (read once each: its findings said once).
    """

    def __init__(
        self,
        reader: Reader,
        escalations: Sequence[Mapping[str, Any]],
        schedules: Mapping[str, str],
        steps_of: Callable[[Mapping[str, Any]], list[Step]],
    ) -> None:
        self.reader = reader
        self.escalations = escalations
        self.schedules = schedules
        self.steps_of = steps_of
        self.teams: list[Team] = []
        self.routes: list[Route] = []
        #: Each team's name by (Opsgenie team, what it notifies).
        self.team_of: dict[tuple[str, str, str], str] = {}
        #: The escalations some team pages (by id() of their JSON).
        self.used: set[int] = set()
        self._taken: set[str] = set()
        #: The Opsgenie teams whose rules were read.
        self.owners: set[str] = set()
        self._known = list(dict.fromkeys(schedules.values()))

    # ----------------------------------------------------------------------------- owners

    def owner(
        self, index: int, whose: object, rules: Sequence[Any], teams: Mapping[str, Any]
    ) -> str | None:
        """The Opsgenie team's name a set of rules is of (None: reported, not imported).

        Named by the answer's ``team`` (a name, or ``{"id", "name"}``); else the owner team of
        an escalation the rules notify; else the one team of the import.
        """
        where = f"routing_rules[{index}]"
        if isinstance(whose, Mapping):
            found = teams.get(str(whose.get("id"))) or teams.get(str(whose.get("name")))
            name = (found or {}).get("name") or whose.get("name")
        elif isinstance(whose, str) and whose.strip():
            found = teams.get(whose.strip())
            name = (found or {}).get("name") or whose.strip()
        else:
            name = self._owner_of_targets(rules) or self._only_team(teams)
        if isinstance(name, str) and name.strip():
            return name.strip()
        why = (
            'the rules of no known team: not imported (add "team": "NAME" to the answer, '
            "or fetch them)"
        )
        self.reader.drop(where, whose if whose is not None else f"{len(rules)} rules", why)
        return None

    def _owner_of_targets(self, rules: Sequence[Any]) -> str | None:
        for rule in rules:
            notify = rule.get("notify") if isinstance(rule, Mapping) else None
            if not isinstance(notify, Mapping):
                continue
            for item in self.escalations:
                ident, name = notify.get("id"), notify.get("name")
                if (ident and ident == item.get("id")) or (name and name == item.get("name")):
                    team = item.get("ownerTeam")
                    if isinstance(team, Mapping) and team.get("name"):
                        return str(team["name"])
        return None

    @staticmethod
    def _only_team(teams: Mapping[str, Any]) -> str | None:
        distinct = {id(t): t for t in teams.values()}
        if len(distinct) == 1:
            (team,) = distinct.values()
            name = team.get("name")
            return str(name) if name else None
        return None

    # ----------------------------------------------------------------------------- targets

    def target(self, where: str, notify: object) -> _Target | None:
        """What a rule notifies, as levels (None: reported)."""
        reader = self.reader
        item = reader.table(f"{where}.notify", notify)
        reader.unknown(f"{where}.notify", item, ("type", "id", "name"))
        kind = item.get("type")
        ident, name = item.get("id"), item.get("name")
        if kind == "escalation":
            for escalation in self.escalations:
                if (ident and ident == escalation.get("id")) or (
                    name and name == escalation.get("name")
                ):
                    self.used.add(id(escalation))
                    label = str(escalation.get("name"))
                    return _Target("escalation", label, levels(self.steps_of(escalation)))
            why = "the escalation is not in the import: the rule is not imported"
            reader.drop(f"{where}.notify", name or ident, why)
            return None
        if kind == "schedule":
            found = self.schedules.get(str(ident)) or self.schedules.get(str(name))
            if found is not None:
                return _Target("schedule", found, (EscalationLevel((f"schedule:{found}",)),))
            why = "the schedule is not in the import: the rule is not imported"
            reader.drop(f"{where}.notify", name or ident, why)
            return None
        why = (
            "the rule notifies nobody; here every critical incident pages its team: not imported"
            if kind == "none"
            else "not something incident_flow can page: the rule is not imported"
        )
        reader.drop(f"{where}.notify", kind, why)
        return None

    def team(self, owner: str, target: _Target, *, primary: bool) -> str:
        """The team paging ``target`` for Opsgenie team ``owner`` (made when first met)."""
        key = (owner, target.kind, target.name)
        if key in self.team_of:
            return self.team_of[key]
        label = owner if primary else f"{owner} {target.name}"
        name = team_slug(label, self._taken)
        if name != label.lower():
            self.reader.approximate(f'teams "{owner}"', label, f"the team is named {name}")
        self.team_of[key] = name
        self.teams.append(
            Team(
                name=name,
                escalation=target.levels or None,
                schedules=schedules_named(target.levels, self._known) if target.levels else None,
            )
        )
        return name

    # ----------------------------------------------------------------------------- rules

    def rules(self, index: int, owner: str, rules: Sequence[Any]) -> None:
        """One team's rules, in Opsgenie's order (the default last), as routes.

        The rules of a team named as one met before are reported, not imported: an alert's
        ``team`` label would reach the first one's routes only.
        """
        reader = self.reader
        if owner in self.owners:
            why = "the rules of a team named as one before: its team label reaches that one"
            reader.drop(f'routing_rules[{index}] "{owner}"', owner, f"{why}; not imported")
            return
        self.owners.add(owner)
        tables = [reader.table(f"routing_rules[{index}][{i}]", r) for i, r in enumerate(rules)]
        order = sorted(
            range(len(tables)),
            key=lambda i: (bool(tables[i].get("isDefault")), _order(tables[i]), i),
        )
        first = [i for i in order if tables[i].get("isDefault")][:1]
        targets = {
            i: self.target(self._where(owner, i, tables), tables[i].get("notify"))
            for i in [*first, *(i for i in order if i not in first)]
        }
        # The team's own escalation: its default rule's (else its first rule's) target.
        primary = next((targets[i] for i in [*first, *order] if targets[i] is not None), None)
        if primary is not None:
            self.team(owner, primary, primary=True)
        for i in order:
            where = self._where(owner, i, tables)
            rule = tables[i]
            reader.unknown(where, rule, _RULE_KEYS, ("id",))
            target = targets[i]
            if target is None:
                continue
            restricted = rule.get("timeRestriction")
            if restricted:
                why = (
                    "the rule holds at chosen times only and a route has no hours: not imported "
                    "(its alerts take the team's later rules)"
                )
                reader.drop(f"{where}.timeRestriction", restricted, why)
                continue
            alternatives = self.criteria(where, rule.get("criteria"))
            team = self.team(owner, target, primary=target == primary)
            label = LabelMatcher("team", (owner,))
            for alternative in alternatives:
                merged = _merge(label, alternative)
                if merged is None:
                    why = "it asks for another team than the rule's own: it never matches here"
                    reader.drop(f"{where}.criteria", _shown(alternative), why)
                    continue
                self.routes.append(Route(team=team, match=merged))

    @staticmethod
    def _where(owner: str, index: int, tables: Sequence[Mapping[str, Any]]) -> str:
        name = tables[index].get("name") or tables[index].get("id") or index
        return f'teams "{owner}".routing_rules[{index}] "{name}"'

    def criteria(self, where: str, value: object) -> list[Matchers]:
        """A rule's criteria as alternatives, each all of its matchers (empty: reported)."""
        reader = self.reader
        criteria = reader.table(f"{where}.criteria", value or {"type": "match-all"})
        reader.unknown(f"{where}.criteria", criteria, ("type", "conditions"))
        kind = criteria.get("type", "match-all")
        conditions = reader.array(f"{where}.criteria.conditions", criteria.get("conditions"))
        if kind == "match-all":
            return [()]
        if kind not in ("match-all-conditions", "match-any-condition"):
            reader.drop(
                f"{where}.criteria.type", kind, "not a kind of criteria: the rule is not imported"
            )
            return []
        made: list[Matchers | str] = [
            self.condition(f"{where}.criteria.conditions[{i}]", c) for i, c in enumerate(conditions)
        ]
        if not made:
            reader.drop(f"{where}.criteria", kind, "no conditions: the rule is not imported")
            return []
        if kind == "match-all-conditions":
            return self._all(where, kind, made, conditions)
        return self._any(where, kind, made, conditions)

    def _all(
        self, where: str, kind: str, made: list[Matchers | str], conditions: Sequence[Any]
    ) -> list[Matchers]:
        """Every condition must hold: one route, or none when one cannot be said."""
        failed = [(i, m) for i, m in enumerate(made) if isinstance(m, str)]
        for i, why in failed:
            at = f"{where}.criteria.conditions[{i}]"
            self.reader.drop(
                at, _condition_shown(conditions[i]), f"{why}: the rule is not imported"
            )
        if failed:
            return []
        together = _together([m for m in made if not isinstance(m, str)])
        if together is None:
            why = "two conditions ask one label for different values: never true, not imported"
            self.reader.drop(f"{where}.criteria", kind, why)
            return []
        return [together]

    def _any(
        self, where: str, kind: str, made: list[Matchers | str], conditions: Sequence[Any]
    ) -> list[Matchers]:
        """Any condition may hold: a route each (those that cannot be said are reported)."""
        kept: list[Matchers] = []
        for i, one in enumerate(made):
            if isinstance(one, str):
                why = f"{one}: alerts meeting only this condition take the team's later rules"
                at = f"{where}.criteria.conditions[{i}]"
                self.reader.approximate(at, _condition_shown(conditions[i]), why)
            else:
                kept.append(one)
        if not kept:
            why = "no condition could be imported: the rule is not imported"
            self.reader.drop(f"{where}.criteria", kind, why)
        return kept

    def condition(self, where: str, value: object) -> Matchers | str:  # noqa: PLR0911 - one answer per field
        """One condition as matchers, or why it cannot be one."""
        reader = self.reader
        item = reader.table(where, value)
        reader.unknown(where, item, ("field", "key", "not", "operation", "expectedValue", "order"))
        field, operation = reader.text(where, item, "field"), reader.text(where, item, "operation")
        negate = item.get("not") is True
        expected = item.get("expectedValue")
        text = expected.strip() if isinstance(expected, str) else None
        if field in _TEXT_FIELDS:
            return str(_TEXT_FIELDS[field])
        if operation not in ("equals", "contains", "contains-key"):
            return f"'{operation}' compares text; a matcher compares whole values"
        if field == "priority":
            if operation != "equals" or text not in _PRIORITIES:
                return "a priority is matched when it equals P1..P5"
            return _one("severity", text, negate)
        if field in ("source", "entity") and operation == "equals" and text:
            if field == "source":
                why = "read as the alert's source here (its webhook: alertmanager, datadog...)"
                reader.approximate(where, text, why)
            return _one(field, text, negate)
        if field == "teams" and operation == "contains" and text:
            return _one("team", text, negate)
        if field == "tags" and operation == "contains" and text:
            return self._tag(where, text, negate)
        if field in ("extra-properties", "details"):
            return _property(item.get("key"), operation, text, negate)
        return f"'{field}' {operation} has no label form"

    def _tag(self, where: str, text: str, negate: bool) -> Matchers | str:
        """A tag ``KEY:VALUE`` as the label ``KEY`` = ``VALUE`` (said), else why not."""
        label, sep, wanted = (part.strip() for part in text.partition(":"))
        if not sep or not label or not wanted:
            return "a tag without KEY:VALUE has no label form"
        self.reader.approximate(where, text, f"the tag is read as the label {label}={wanted}")
        return _one(label, wanted, negate)


def _property(key: object, operation: object, text: str | None, negate: bool) -> Matchers | str:
    """An extra property's condition as a matcher on the label of its key, else why not."""
    key = key.strip() if isinstance(key, str) else ""
    if not key:
        return "an extra property without a key has no label form"
    if operation == "contains-key":
        return _one(key, None, negate)
    if operation == "equals" and text:
        return _one(key, text, negate)
    return f"an extra property {operation} has no label form"


def _order(rule: Mapping[str, Any]) -> int:
    order = rule.get("order")
    return order if isinstance(order, int) and not isinstance(order, bool) else 0


def _one(name: str, value: str | None, negate: bool) -> Matchers | str:
    """A matcher on label ``name`` (``value`` None: present), or why not."""
    if negate and value == "*":
        return "'not *' has no matcher form"
    try:
        return (LabelMatcher(name, () if value is None else (value,), negate),)
    except ValueError:
        return f"{short(name, 40)!r} is not a label's name"


def _together(parts: Iterable[Matchers]) -> Matchers | None:
    """All of ``parts`` as one route's matchers (None: one label asked two ways)."""
    found: dict[str, LabelMatcher] = {}
    for matcher in (m for part in parts for m in part):
        if found.get(matcher.name, matcher) != matcher:
            return None
        found[matcher.name] = matcher
    return tuple(found.values())


def _merge(team: LabelMatcher, alternative: Matchers) -> Matchers | None:
    """The rule's team and its conditions (None: a condition asks for another team)."""
    rest = tuple(m for m in alternative if m != team)
    if any(m.name == "team" for m in rest):
        return None
    return (team, *rest)


def _shown(matchers: Matchers) -> str:
    return " ".join(str(m) for m in matchers) or "always"


def _condition_shown(value: object) -> str:
    if not isinstance(value, Mapping):
        return short(value)
    parts = [
        value.get("field"),
        value.get("key"),
        value.get("operation"),
        value.get("expectedValue"),
    ]
    words = " ".join(str(p) for p in parts if p not in (None, ""))
    return f"not {words}" if value.get("not") is True else words
