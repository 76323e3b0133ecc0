"""The post-mortem document: an incident and its timeline, rendered as Markdown."""

from __future__ import annotations

import re
from collections.abc import Sequence

import attrs

from . import _events as ev
from ._incident import Incident
from ._text import markdown_block, markdown_inline

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
        """Render the post-mortem as Markdown.

        Every text from outside (the title, names, the timeline, learnings, action items) is
        escaped onto its line, and the author's impact and root cause cannot open a section: no
        alert or name can add a "Root cause" section or a reviewer to the reviewed document.
        """
        inc = self.incident
        pm = inc.postmortem
        md = markdown_inline
        lines = [
            f"# Post-mortem: {md(inc.title)}",
            "",
            f"- **Incident:** {md(inc.id)}",
            f"- **Severity:** {inc.severity}",
            f"- **Alert:** {md(inc.alert.name)} ({md(inc.alert.source)})",
            f"- **Started:** {inc.created_at.isoformat()}",
        ]
        if inc.resolved_at is not None:
            lines.append(f"- **Resolved:** {inc.resolved_at.isoformat()}")
            minutes = (inc.resolved_at - inc.created_at).total_seconds() / 60
            lines.append(f"- **Time to resolve:** {minutes:.0f} min")
        if inc.runbook is not None:
            lines.append(f"- **Runbook:** {_link(inc.runbook.name, inc.runbook.url)}")
        if pm is not None:
            lines.append(f"- **Author:** {md(pm.author)}")
        lines += ["", "## Impact", "", _section(pm.impact if pm else "")]
        lines += ["", "## Root cause", "", _section(pm.root_cause if pm else "")]
        lines += ["", "## Timeline", "", "| Time | Who | What |", "|---|---|---|"]
        for event in self.events:
            text = _describe(event)
            if text is not None:
                lines.append(f"| {_when(event)} | {md(event.by or 'system')} | {md(text)} |")
        lines += ["", "## Learnings", ""]
        learnings = pm.learnings if pm else ()
        lines += [f"- {md(learning)}" for learning in learnings] or ["_None recorded._"]
        lines += ["", "## Action items", ""]
        lines += [
            f"- [{'x' if not item.open else ' '}] {md(item.id)}: {md(item.description)}"
            + (f" (waived: {md(item.reason)})" if item.waived else "")
            for item in inc.action_items
        ] or ["_None._"]
        lines += ["", "## Reviewers", ""]
        approvals = pm.approvals if pm else ()
        lines += [f"- {md(reviewer)}" for reviewer in approvals] or ["_None yet._"]
        return "\n".join(lines) + "\n"


def _section(text: str) -> str:
    """The author's free text of a section, or a placeholder."""
    return markdown_block(text) if text.strip() else "_To be written._"


def _link(label: str, url: str) -> str:
    """A Markdown link when ``url`` is a plain http(s) URL, else the label and the URL as text."""
    if re.fullmatch(r"https?://[^\s()<>\x00-\x1f]+", url):
        return f"[{markdown_inline(label)}]({url})"
    return f"{markdown_inline(label)} ({markdown_inline(url)})"
