"""The post-mortem document: an incident and its timeline, rendered as Markdown."""

from __future__ import annotations

import re
from collections.abc import Sequence

import attrs

from . import _events as ev
from ._incident import Incident

__all__ = ["PostMortemDocument"]


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:60].rstrip("-") or "incident"


def _when(event: ev.Event) -> str:
    return event.at.strftime("%Y-%m-%d %H:%M:%S UTC")


def _describe(event: ev.Event) -> str | None:  # noqa: PLR0911, PLR0912 - one line per event type
    match event:
        case ev.IncidentTriggered():
            return f"Alert {event.alert.name!r} from {event.alert.source} fired: {event.title}"
        case ev.IncidentClassified():
            return f"Classified {event.severity} (from the {event.source})"
        case ev.IncidentNotified():
            return "Slack notified, on-call paged" if event.paged else "Slack notified"
        case ev.SeverityChanged():
            return f"Severity changed {event.old} -> {event.new}"
        case ev.IncidentAcknowledged():
            return "Acknowledged"
        case ev.RunbookStarted():
            return f"Runbook {event.runbook.name} started" if event.runbook else "No runbook found"
        case ev.IncidentResolved():
            return f"Resolved{': ' + event.summary if event.summary else ''}"
        case ev.IncidentReopened():
            return "Reopened"
        case ev.NoteAdded():
            return event.text
        case ev.AlertRepeated():
            return "Alert fired again"
        case ev.AlertRecovered():
            return "Source reported the alert recovered"
        case ev.MessageDelivered() if event.kind in ("notify", "page"):
            return f"{'Page' if event.kind == 'page' else 'Slack message'} delivered"
        case ev.PostMortemStarted():
            return "Post-mortem started"
        case _:
            return None


@attrs.frozen
class PostMortemDocument:
    """What a publisher is given: the incident and its history, with the Markdown rendering.

    Attributes:
        incident: the incident as it was when publishing was accepted.
        events: its events, oldest first (the timeline).
        folder: the policy's post-mortem folder (relative), where publishers save it.
    """

    incident: Incident
    events: Sequence[ev.Event]
    folder: str

    @property
    def filename(self) -> str:
        """A stable file name: ``<date>-<incident id>-<title slug>.md``."""
        date = self.incident.created_at.strftime("%Y-%m-%d")
        return f"{date}-{self.incident.id}-{_slug(self.incident.title)}.md"

    @property
    def path(self) -> str:
        """The path relative to a repository or root folder: ``<folder>/<filename>``."""
        return f"{self.folder.strip('/')}/{self.filename}"

    def render_markdown(self) -> str:
        """Render the post-mortem as Markdown."""
        inc = self.incident
        pm = inc.postmortem
        lines = [
            f"# Post-mortem: {inc.title}",
            "",
            f"- **Incident:** {inc.id}",
            f"- **Severity:** {inc.severity}",
            f"- **Alert:** {inc.alert.name} ({inc.alert.source})",
            f"- **Started:** {inc.created_at.isoformat()}",
        ]
        if inc.resolved_at is not None:
            lines.append(f"- **Resolved:** {inc.resolved_at.isoformat()}")
            minutes = (inc.resolved_at - inc.created_at).total_seconds() / 60
            lines.append(f"- **Time to resolve:** {minutes:.0f} min")
        if inc.runbook is not None:
            lines.append(f"- **Runbook:** [{inc.runbook.name}]({inc.runbook.url})")
        if pm is not None:
            lines.append(f"- **Author:** {pm.author}")
        lines += ["", "## Impact", "", (pm.impact if pm and pm.impact else "_To be written._")]
        lines += ["", "## Root cause", ""]
        lines.append(pm.root_cause if pm and pm.root_cause else "_To be written._")
        lines += ["", "## Timeline", "", "| Time | Who | What |", "|---|---|---|"]
        for event in self.events:
            text = _describe(event)
            if text is not None:
                who = event.by or "system"
                lines.append(f"| {_when(event)} | {who} | {text.replace('|', '/')} |")
        lines += ["", "## Learnings", ""]
        learnings = pm.learnings if pm else ()
        lines += [f"- {learning}" for learning in learnings] or ["_None recorded._"]
        lines += ["", "## Action items", ""]
        lines += [
            f"- [{'x' if not item.open else ' '}] {item.id}: {item.description}"
            + (f" (waived: {item.reason})" if item.waived else "")
            for item in inc.action_items
        ] or ["_None._"]
        lines += ["", "## Reviewers", ""]
        approvals = pm.approvals if pm else ()
        lines += [f"- {reviewer}" for reviewer in approvals] or ["_None yet._"]
        return "\n".join(lines) + "\n"
