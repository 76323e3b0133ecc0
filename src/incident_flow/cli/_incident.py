"""The commands that move one incident along: ack, runbook, resolve ... close, post-mortems."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from .._core.incident import Incident
from .._core.roles import role_slug
from .._core.runbooks import Runbook
from .._core.severity import Severity
from ._common import Context, errors, pass_context, say

__all__ = ["COMMANDS"]

_BY = click.option("--by", required=True, help="Who acts (a name, as the timeline shows it).")


def _simple(name: str, call: Callable[[Any, str, str], Incident], help_text: str) -> click.Command:
    @click.command(name, help=help_text)
    @click.argument("incident_id")
    @_BY
    @pass_context
    def command(context: Context, incident_id: str, by: str) -> None:
        with errors():
            incident = call(context.flow(), incident_id, by)
        say(f"{incident.id}: {incident.state}")

    return command


@click.command()
@click.argument("incident_id")
@_BY
@pass_context
def ack(context: Context, incident_id: str, by: str) -> None:
    """Acknowledge an incident (mirrored to the pager); says so if someone already has."""
    with errors():
        flow = context.flow()
        before = flow.get(incident_id)
        if before.acknowledged_at is not None:
            say(
                f"{incident_id}: already acknowledged by {before.acknowledged_by} "
                f"at {before.acknowledged_at:%Y-%m-%d %H:%M} UTC"
            )
            return
        incident = flow.acknowledge(incident_id, by=by)
    say(f"{incident.id}: acknowledged by {incident.acknowledged_by} ({incident.state})")


@click.command("runbook")
@click.argument("incident_id")
@_BY
@pass_context
def start_runbook(context: Context, incident_id: str, by: str) -> None:
    """Start its runbook: prints the runbook's name and link (or what to do without one)."""
    with errors():
        incident = context.flow().start_runbook(incident_id, by=by)
    runbook = incident.runbook
    if runbook is not None:
        say(f"{incident.id}: {incident.state}; runbook {runbook.name}: {runbook.url}")
        return
    items = [i.id for i in incident.open_action_items if i.kind == "add_runbook"]
    raised = f"{items[0]} raised: " if items else ""
    say(
        f"{incident.id}: {incident.state}; no runbook for {incident.alert.name!r}: "
        f"{raised}add one with `add-runbook {incident.id} --name NAME --url URL --by NAME`"
    )


@click.command()
@click.argument("incident_id")
@_BY
@click.option("--summary", default="", help="What fixed it (the Slack thread and timeline).")
@pass_context
def resolve(context: Context, incident_id: str, by: str, summary: str) -> None:
    """Resolve an incident."""
    with errors():
        incident = context.flow().resolve(incident_id, by=by, summary=summary)
    say(f"{incident.id}: {incident.state}")


@click.command()
@click.argument("incident_id")
@click.argument("severity", type=click.Choice([str(s) for s in Severity], case_sensitive=False))
@_BY
@pass_context
def reclassify(context: Context, incident_id: str, severity: str, by: str) -> None:
    """Change the severity (an upgrade to a paging severity pages at once)."""
    with errors():
        incident = context.flow().reclassify(incident_id, severity, by=by)
    say(f"{incident.id}: {incident.severity} ({incident.state})")


@click.command()
@click.argument("incident_id")
@click.argument("text")
@_BY
@pass_context
def note(context: Context, incident_id: str, text: str, by: str) -> None:
    """Add a status update."""
    with errors():
        incident = context.flow().note(incident_id, text, by=by)
    say(f"{incident.id}: noted")


@click.command()
@click.argument("incident_id")
@click.argument("role")
@click.argument("person")
@_BY
@pass_context
def assign(context: Context, incident_id: str, role: str, person: str, by: str) -> None:
    """PERSON takes ROLE (commander, communications, scribe...); a hand-over is recorded."""
    with errors():
        flow = context.flow()
        before = flow.get(incident_id).version
        incident = flow.assign(incident_id, role, person, by=by)
    if incident.version == before:  # they hold it already: nothing was recorded
        slug = role_slug(role)
        say(f"{incident.id}: {slug} is {incident.roles[slug]} already")
        return
    change = incident.role_changes[-1]
    handed = f" (handed over from {change.previous})" if change.previous else ""
    say(f"{incident.id}: {change.role} is {change.person}{handed}")


@click.command("add-runbook")
@click.argument("incident_id")
@click.option("--name", required=True, help="The runbook's name.")
@click.option("--url", required=True, help="Where its steps live.")
@click.option("--alert", default=None, help="A glob on the alert names it answers.")
@_BY
@pass_context
def add_runbook(  # noqa: PLR0917 - click passes the options by name; this is its order
    context: Context, incident_id: str, name: str, url: str, alert: str | None, by: str
) -> None:
    """Record the missing runbook as written; settles the "add runbook" items."""
    with errors():
        incident = context.flow().add_runbook(
            incident_id, Runbook(name=name, url=url, alert=alert), by=by
        )
    say(f"{incident.id}: runbook {name} added; {len(incident.open_action_items)} items open")


@click.command("update-runbook")
@click.argument("incident_id")
@click.argument("name")
@click.option("--note", "text", required=True, help="What changed, from the learnings.")
@click.option("--url", default=None, help="Where it lives, if the catalog does not know it yet.")
@_BY
@pass_context
def update_runbook(  # noqa: PLR0917 - click passes the options by name
    context: Context, incident_id: str, name: str, text: str, url: str | None, by: str
) -> None:
    """Record a runbook updated from the learnings; settles its "update runbook" items."""
    with errors():
        incident = context.flow().update_runbook(incident_id, name, by=by, note=text, url=url)
    say(f"{incident.id}: runbook {name} updated; {len(incident.open_action_items)} items open")


@click.command()
@click.argument("incident_id")
@click.argument("item_id")
@_BY
@click.option("--reason", required=True, help="Why it will not be done.")
@pass_context
def waive(context: Context, incident_id: str, item_id: str, by: str, reason: str) -> None:
    """Waive an open action item, with a reason."""
    with errors():
        context.flow().waive_action_item(incident_id, item_id, by=by, reason=reason)
    say(f"{incident_id}: {item_id} waived")


@click.command("follow-up")
@click.argument("incident_id")
@click.argument("title")
@_BY
@click.option("--owner", default=None, help="Who is to do it.")
@pass_context
def follow_up(context: Context, incident_id: str, title: str, by: str, owner: str | None) -> None:
    """Add a follow-up item (opened in the tracker when the policy's [tracker] says so)."""
    with errors():
        incident = context.flow().add_follow_up(incident_id, title, by=by, owner=owner)
    say(f"{incident.id}: {incident.action_items[-1].id} added")


@click.command()
@click.argument("incident_id")
@click.argument("item_id")
@_BY
@click.option("--note", default="", help="What was done.")
@pass_context
def done(context: Context, incident_id: str, item_id: str, by: str, note: str) -> None:
    """Mark an open action item done (its tracker issue, if any, is closed)."""
    with errors():
        context.flow().complete_action_item(incident_id, item_id, by=by, note=note)
    say(f"{incident_id}: {item_id} done")


@click.group()
def postmortem() -> None:
    """Post-mortems: start, amend, submit, approve or ask for changes, publish."""


@postmortem.command("start")
@click.argument("incident_id")
@click.option("--author", required=True)
@click.option("--impact", default="", help="Who and what was affected, for how long.")
@click.option("--root-cause", default="", help="Why it happened.")
@click.option("--learning", "learnings", multiple=True, help="A learning (repeatable).")
@pass_context
def postmortem_start(  # noqa: PLR0917 - click passes the options by name
    context: Context,
    incident_id: str,
    author: str,
    impact: str,
    root_cause: str,
    learnings: tuple[str, ...],
) -> None:
    """Start the post-mortem; each learning becomes an "update runbook" item on publish."""
    with errors():
        context.flow().start_postmortem(
            incident_id, author=author, impact=impact, root_cause=root_cause, learnings=learnings
        )
    say(f"{incident_id}: post-mortem started")


@postmortem.command("amend")
@click.argument("incident_id")
@_BY
@click.option("--impact", default=None, help="Who and what was affected, for how long.")
@click.option("--root-cause", default=None, help="Why it happened.")
@click.option("--learning", "learnings", multiple=True, help="A learning (repeatable; replaces).")
@pass_context
def postmortem_amend(  # noqa: PLR0917 - click passes the options by name
    context: Context,
    incident_id: str,
    by: str,
    impact: str | None,
    root_cause: str | None,
    learnings: tuple[str, ...],
) -> None:
    """Change the draft (what is not given stays as it is)."""
    with errors():
        context.flow().amend_postmortem(
            incident_id,
            by=by,
            impact=impact,
            root_cause=root_cause,
            learnings=learnings or None,
        )
    say(f"{incident_id}: post-mortem amended")


@postmortem.command("submit")
@click.argument("incident_id")
@_BY
@pass_context
def postmortem_submit(context: Context, incident_id: str, by: str) -> None:
    """Submit the draft for review (the policy's reviewers are asked)."""
    with errors():
        incident = context.flow().submit_postmortem(incident_id, by=by)
    pm = incident.postmortem
    asked = ", ".join(pm.reviewers) if pm and pm.reviewers else "nobody (no review pool)"
    say(f"{incident_id}: submitted for review; asked: {asked}")


@postmortem.command("changes")
@click.argument("incident_id")
@click.option("--reviewer", required=True)
@click.option("--text", default="", help="What should change.")
@pass_context
def postmortem_changes(context: Context, incident_id: str, reviewer: str, text: str) -> None:
    """Ask for changes: the reviewer's approval stops counting until renewed."""
    with errors():
        context.flow().request_postmortem_changes(incident_id, reviewer=reviewer, text=text)
    say(f"{incident_id}: changes requested by {reviewer}")


@postmortem.command("approve")
@click.argument("incident_id")
@click.option("--reviewer", required=True)
@pass_context
def postmortem_approve(context: Context, incident_id: str, reviewer: str) -> None:
    """Approve the post-mortem."""
    with errors():
        incident = context.flow().approve_postmortem(incident_id, reviewer=reviewer)
    pm = incident.postmortem
    approvals = pm.approvals if pm else ()
    saved = f"; published at {pm.location}" if pm and pm.published else ""
    say(f"{incident_id}: approved by {', '.join(approvals)}{saved}")


@postmortem.command("publish")
@click.argument("incident_id")
@_BY
@pass_context
def postmortem_publish(context: Context, incident_id: str, by: str) -> None:
    """Publish (merge or save) the approved post-mortem now."""
    with errors():
        incident = context.flow().publish_postmortem(incident_id, by=by)
    location = incident.postmortem.location if incident.postmortem else None
    say(f"{incident_id}: published at {location}")


#: Every incident command, for the main group to add.
COMMANDS: tuple[click.Command, ...] = (
    ack,
    start_runbook,
    resolve,
    _simple("reopen", lambda f, i, by: f.reopen(i, by=by), "Reopen a resolved incident."),
    reclassify,
    _simple(
        "escalate", lambda f, i, by: f.escalate(i, by=by), "Page the next escalation level now."
    ),
    note,
    assign,
    add_runbook,
    update_runbook,
    waive,
    follow_up,
    done,
    _simple("close", lambda f, i, by: f.close(i, by=by), "Close an incident."),
    postmortem,
)
