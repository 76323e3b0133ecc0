"""The report: MTTA, MTTR, post-mortem compliance, runbook coverage, open action items (pure)."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from .._core import events as ev
from .._core.events import Event
from .._core.incident import Incident
from .._core.severity import Severity
from .._runbooks.catalog import Catalog

__all__ = ["DEFINITIONS", "Report", "build_report"]

DEFINITIONS = {
    "MTTA": "mean time to acknowledge: from the first page delivered to the first acknowledgement "
    "(paged incidents only)",
    "MTTR": "mean time to resolve: from the alert that opened the incident to its first resolution",
    "post-mortem compliance": "every closed incident that required a post-mortem has one "
    "published, approved by the policy's reviewers and saved",
    "runbook coverage": "incidents whose alert had a runbook, out of all incidents",
    "roles": "incidents whose severity needed a commander, those that got one, the mean time "
    "from opening to the first commander, and hand-overs (a role passed from one person to "
    "another)",
}


@attrs.frozen
class Report:
    """The figures of a set of incidents (see DEFINITIONS)."""

    incidents: int
    by_severity: dict[str, dict[str, Any]]
    noncompliant: tuple[str, ...]
    with_runbook: int
    without_runbook: tuple[str, ...]
    runbooks_added: int
    open_action_items: tuple[tuple[str, str, str], ...]
    #: Per alert source: incidents with and without a runbook.
    coverage_by_source: dict[str, dict[str, int]] = attrs.field(factory=dict)
    #: Runbooks by how many incidents used them, most used first.
    runbooks_used: tuple[tuple[str, int], ...] = ()
    #: Runbooks that incidents used and nobody updated since (neither in an incident nor in
    #: the catalog): the learnings may not have reached them.
    not_updated_since_used: tuple[str, ...] = ()
    #: Per team (a policy with teams only): incidents, open, MTTA and MTTR in minutes.
    by_team: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    #: Roles (only when an incident needed a commander or had a role): see DEFINITIONS.
    roles: dict[str, Any] = attrs.field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--format json``.

        ``by_team`` only when the policy has teams, ``roles`` only when an incident needed a
        commander or had a role.
        """
        teams = {"by_team": self.by_team} if self.by_team else {}
        if self.roles:
            teams["roles"] = self.roles
        return {
            "definitions": DEFINITIONS,
            "incidents": self.incidents,
            "by_severity": self.by_severity,
            "postmortem_compliance": {"noncompliant": list(self.noncompliant)},
            "runbook_coverage": {
                "with_runbook": self.with_runbook,
                "without_runbook": list(self.without_runbook),
                "runbooks_added": self.runbooks_added,
                "by_source": self.coverage_by_source,
                "most_used": [{"runbook": n, "incidents": c} for n, c in self.runbooks_used],
                "not_updated_since_used": list(self.not_updated_since_used),
            },
            "open_action_items": [
                {"incident": i, "item": a, "description": d} for i, a, d in self.open_action_items
            ],
            **teams,
        }


def _minutes(values: Sequence[timedelta]) -> float | None:
    return round(statistics.mean(v.total_seconds() for v in values) / 60, 1) if values else None


def _first(history: Sequence[Event], type_name: str) -> Event | None:
    return next((e for e in history if e.type == type_name), None)


def _opened(
    incidents: Sequence[tuple[Incident, Sequence[Event]]],
) -> list[tuple[Incident, Sequence[Event]]]:
    """The incidents that opened: a silenced alert waiting, or dismissed, is none."""
    return [(i, h) for i, h in incidents if any(e.type == "IncidentClassified" for e in h)]


def build_report(
    incidents: Sequence[tuple[Incident, Sequence[Event]]],
    catalog: Catalog | None = None,
    teams: Sequence[str] = (),
    team_of: Callable[[Incident], str] | None = None,
) -> Report:
    """Compute the report of ``(incident, history)`` pairs (and the catalog's own changes).

    With ``teams`` (a policy's, in order) and ``team_of`` (the team an incident is decided
    by), the figures per team too: each team a row, with no incidents too.
    """
    timed: list[tuple[Incident, timedelta | None, timedelta | None]] = []
    by_severity: dict[str, dict[str, Any]] = {}
    acks: dict[str, list[timedelta]] = {}
    fixes: dict[str, list[timedelta]] = {}
    noncompliant: list[str] = []
    without: list[str] = []
    added = 0
    items: list[tuple[str, str, str]] = []
    by_source: dict[str, dict[str, int]] = {}
    used: dict[str, int] = {}
    last_used: dict[str, datetime] = {}
    updated: dict[str, datetime] = {}
    for revision in catalog.revisions if catalog is not None else ():
        name = revision.runbook.name
        updated[name] = max(updated.get(name, revision.at), revision.at)
    for incident, history in _opened(incidents):
        severity = str(incident.severity)
        row = by_severity.setdefault(severity, {"incidents": 0, "open": 0})
        row["incidents"] += 1
        row["open"] += not incident.closed
        to_ack, to_fix = _times(incident, history)
        if to_ack is not None:
            acks.setdefault(severity, []).append(to_ack)
        if to_fix is not None:
            fixes.setdefault(severity, []).append(to_fix)
        timed.append((incident, to_ack, to_fix))
        pm = incident.postmortem
        if (
            incident.closed
            and incident.postmortem_required
            and (pm is None or not pm.published or pm.location is None)
        ):
            noncompliant.append(incident.id)
        started = _first(history, "RunbookStarted")
        had_runbook = incident.runbook is not None and not any(
            e.type == "RunbookAdded" for e in history
        )
        if started is not None and getattr(started, "runbook", None) is None:
            had_runbook = False
        if not had_runbook:
            without.append(incident.id)
        source = by_source.setdefault(incident.alert.source, {"with": 0, "without": 0})
        source["with" if had_runbook else "without"] += 1
        if incident.runbook is not None:
            name = incident.runbook.name
            used[name] = used.get(name, 0) + 1
            last_used[name] = max(last_used.get(name, incident.created_at), incident.created_at)
        for event in history:
            changed = (
                event.name
                if isinstance(event, ev.RunbookUpdated)
                else event.runbook.name
                if isinstance(event, ev.RunbookAdded)
                else None
            )
            if changed is not None:
                updated[changed] = max(updated.get(changed, event.at), event.at)
        added += sum(1 for e in history if e.type == "RunbookAdded")
        items.extend((incident.id, i.id, i.description) for i in incident.open_action_items)
    for severity, row in by_severity.items():
        row["mtta_minutes"] = _minutes(acks.get(severity, []))
        row["mttr_minutes"] = _minutes(fixes.get(severity, []))
    ordered: dict[str, dict[str, Any]] = {
        str(s): by_severity[str(s)] for s in Severity if str(s) in by_severity
    }
    return Report(
        incidents=len(incidents),
        by_severity=ordered,
        noncompliant=tuple(noncompliant),
        with_runbook=len(incidents) - len(without),
        without_runbook=tuple(without),
        runbooks_added=added,
        open_action_items=tuple(items),
        coverage_by_source=dict(sorted(by_source.items())),
        runbooks_used=tuple(sorted(used.items(), key=lambda pair: (-pair[1], pair[0]))),
        not_updated_since_used=tuple(
            sorted(n for n, at in last_used.items() if updated.get(n, at) <= at)
        ),
        by_team=_by_team(timed, teams, team_of) if team_of is not None else {},
        roles=_roles(_opened(incidents)),
    )


def _roles(incidents: Sequence[tuple[Incident, Sequence[Event]]]) -> dict[str, Any]:
    """Who led: commanders needed and found, the time to the first one, the hand-overs."""
    if not any(i.commander_required or i.role_changes for i, _ in incidents):
        return {}
    needed = [i for i, _ in incidents if i.commander_required]
    waits = []
    for incident, _ in incidents:
        first = next((c for c in incident.role_changes if c.role == "commander"), None)
        if first is not None:
            waits.append(first.at - incident.created_at)
    handovers = sum(1 for i, _ in incidents for c in i.role_changes if c.previous is not None)
    return {
        "commander_needed": len(needed),
        "without_commander": [i.id for i in needed if "commander" not in i.roles],
        "time_to_commander_minutes": _minutes(waits),
        "handovers": handovers,
    }


def _times(
    incident: Incident, history: Sequence[Event]
) -> tuple[timedelta | None, timedelta | None]:
    """Its time to acknowledge (from the first page delivered) and to resolve (from opening)."""
    page = next(
        (e for e in history if e.type == "MessageDelivered" and getattr(e, "kind", "") == "page"),
        None,
    )
    acked_at = _happened(_first(history, "IncidentAcknowledged"))
    to_ack = None
    if page is not None and acked_at is not None and acked_at >= page.at:
        to_ack = acked_at - page.at
    resolved_at = _happened(_first(history, "IncidentResolved"))
    return to_ack, None if resolved_at is None else resolved_at - incident.created_at


def _by_team(
    timed: Sequence[tuple[Incident, timedelta | None, timedelta | None]],
    teams: Sequence[str],
    team_of: Callable[[Incident], str],
) -> dict[str, dict[str, Any]]:
    """Each of ``teams`` (in order, none left out): its incidents, open ones, MTTA and MTTR."""
    rows: dict[str, dict[str, Any]] = {}
    for team in teams:
        mine = [(i, a, f) for i, a, f in timed if team_of(i) == team]
        rows[team] = {
            "incidents": len(mine),
            "open": sum(not i.closed for i, _, _ in mine),
            "mtta_minutes": _minutes([a for _, a, _ in mine if a is not None]),
            "mttr_minutes": _minutes([f for _, _, f in mine if f is not None]),
        }
    return rows


def _happened(event: Event | None) -> datetime | None:
    """When it happened: by the vendor's clock when a person did it in a vendor's tool."""
    if event is None:
        return None
    return getattr(event, "happened_at", None) or event.at
