"""Runbooks in a response: which one an alert gets, and learnings written back as revisions.

Pure, like every concern's decisions: the catalog comes in with the policy.
"""

from __future__ import annotations

import attrs

from .._core import commands as cmd
from .._core import events as ev
from .._core.alerts import Alert
from .._core.decision import (
    Draft,
    refuse,
)
from .._core.incident import Incident
from .._core.policy import Policy
from .._core.runbooks import Runbook, exact_pattern


def runbook_for(alert: Alert, policy: Policy) -> Runbook | None:
    """The alert's runbook: the link its source gave it, then the catalog's, then none."""
    if alert.runbook_url:
        catalog = policy.runbooks.find(alert)
        if catalog is not None and catalog.url == alert.runbook_url:
            return catalog  # the catalog knows it already (with its name and history)
        return Runbook(
            name=alert.name,
            url=alert.runbook_url,
            alert=exact_pattern(alert.name),
            source=alert.source,
            description="linked by the alert's source",
        )
    return policy.runbooks.find(alert)


def needs_runbook_item(incident: Incident, policy: Policy) -> bool:
    """Whether the incident is missing a runbook and has no action item saying so yet."""
    if incident.runbook is not None or runbook_for(incident.alert, policy) is not None:
        return False
    return not any(item.kind == "add_runbook" for item in incident.action_items)


def raise_runbook_item(incident: Incident, draft: Draft) -> None:
    """Record the action item "add a runbook for this alert"."""
    draft.add(
        ev.ActionItemRaised,
        item_id=f"AI-{len(incident.action_items) + 1}",
        kind="add_runbook",
        description=f"Add a runbook for alert {incident.alert.name!r} ({incident.alert.source})",
    )


def add_runbook(inc: Incident, c: cmd.AddRunbook, policy: Policy, d: Draft) -> None:
    """Add a runbook learned from the incident to the catalog, settling its action item."""
    runbook = c.runbook
    if runbook.alert is None:
        # Written for this incident's alert: it answers that alert from now on.
        runbook = attrs.evolve(runbook, alert=exact_pattern(inc.alert.name))
    d.add(ev.RunbookAdded, runbook=runbook)
    for item in inc.open_action_items:
        # The missing runbook is written now, and with it the learnings that had no runbook
        # to go into when the post-mortem was published.
        if item.kind == "add_runbook" or (item.kind == "update_runbook" and item.runbook is None):
            d.add(ev.ActionItemCompleted, item_id=item.id)
    d.say("chat", "update", f"Runbook {runbook.name} added by {c.by}: {runbook.url}")


def update_runbook(inc: Incident, c: cmd.UpdateRunbook, policy: Policy, d: Draft) -> None:
    """Record a learning against a catalog runbook, settling its action item."""
    own = inc.runbook if inc.runbook is not None and inc.runbook.name == c.name else None
    if policy.runbooks.get(c.name) is None and own is None:
        if c.url is None:
            known = ", ".join(r.name for r in policy.runbooks) or "none yet"
            raise refuse(
                inc,
                c.trigger,
                "unknown_runbook",
                f"no runbook {c.name!r} in the catalog (known: {known}); add it with "
                "add_runbook, or give its url to add it now",
            )
        add_runbook(
            inc, cmd.AddRunbook(by=c.by, runbook=Runbook(name=c.name, url=c.url)), policy, d
        )
    d.add(ev.RunbookUpdated, name=c.name, note=c.note)
    for item in inc.open_action_items:
        if item.kind == "update_runbook" and item.runbook == c.name:
            d.add(ev.ActionItemCompleted, item_id=item.id)
    d.say("chat", "update", f"Runbook {c.name} updated by {c.by}: {c.note}")
