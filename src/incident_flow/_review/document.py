"""The post-mortem document: an incident and its timeline, rendered as Markdown."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime

import attrs

from .._core import events as ev
from .._core.incident import Incident
from .._core.text import markdown_block, markdown_inline, markdown_plain, markdown_unblock

__all__ = [
    "VERDICTS",
    "PostMortemDocument",
    "Review",
    "ReviewStatus",
    "Sections",
    "read_sections",
]


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:60].rstrip("-") or "incident"


def _when(event: ev.Event) -> str:
    at = event.at
    if at.year < 1000:  # padded as the platform's strftime pads them
        return at.strftime("%Y-%m-%d %H:%M:%S UTC")
    # strftime's own text, formatted directly (once per line of every published timeline)
    return (
        f"{at.year}-{at.month:02d}-{at.day:02d} {at.hour:02d}:{at.minute:02d}:{at.second:02d} UTC"
    )


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
        case ev.TeamReassigned():
            paged = ", its on-call paged" if event.paged else ""
            return f"Handed to team {event.team}{paged}"
        case ev.RoleAssigned():
            handed = f" (handed over from {event.previous})" if event.previous else ""
            return f"{event.person} is {event.role}{handed}"
        case ev.CommanderReminded():
            if event.step == "page":
                return f"Nobody led: {', '.join(event.targets) or 'nobody on call'} paged"
            return "Nobody led yet: the chat was reminded"
        case ev.AlertRepeated():
            return "Alert fired again"
        case ev.AlertRecovered():
            return "Source reported the alert recovered"
        case ev.MessageDelivered() if event.kind in ("notify", "page"):
            return f"{'Page' if event.kind == 'page' else 'Slack message'} delivered"
        case ev.PostMortemStarted():
            return "Post-mortem started"
        case ev.PostMortemSubmitted():
            asked = f": reviews asked of {', '.join(event.reviewers)}" if event.reviewers else ""
            return f"Post-mortem submitted for review{asked}"
        case ev.PostMortemApproved():
            return f"Post-mortem approved by {event.reviewer}"
        case ev.PostMortemChangesRequested():
            return f"Changes requested by {event.reviewer}"
        case ev.PostMortemMerged():
            return "Post-mortem merged"
        case ev.PostMortemReviewClosed():
            return "Post-mortem pull request closed without merging"
        case _:
            return None


def _destination(url: str) -> str:
    """A URL as a Markdown link's destination: in angle brackets, none of its own inside."""
    return "<" + "".join(c for c in url if c not in "<>\n\r") + ">"


@attrs.frozen
class PostMortemDocument:
    """What a publisher is given: the incident and its history, with the Markdown rendering.

    Attributes:
        incident: the incident as it is now (its post-mortem, who was asked to review).
        events: its events, oldest first (the timeline).
        folder: the policy's post-mortem folder (relative), where publishers save it.
        logins: people's names -> their GitHub logins (from ``Policy.people``), for the
            reviewers a publisher requests on a pull request.
    """

    incident: Incident
    events: Sequence[ev.Event]
    folder: str
    logins: Mapping[str, str] = attrs.field(factory=dict)

    @property
    def reviewers(self) -> tuple[str, ...]:
        """The people asked to review it (names, as the policy chose them)."""
        pm = self.incident.postmortem
        return pm.reviewers if pm is not None else ()

    @property
    def author(self) -> str | None:
        """Who wrote it."""
        pm = self.incident.postmortem
        return pm.author if pm is not None else None

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
        lines += [
            f"- **{md(role.replace('-', ' ').capitalize())}:** {md(person)}"
            for role, person in inc.roles.items()
        ]
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
            + (f" (owner: {md(item.owner)})" if item.owner else "")
            + (f" (waived: {md(item.reason)})" if item.waived else "")
            + (
                f" ([{md(item.tracker_key or '')}]({_destination(item.tracker_url)}))"
                if item.tracker_url
                else ""
            )
            for item in inc.action_items
        ] or ["_None._"]
        lines += ["", "## Reviewers", ""]
        approvals = pm.approvals if pm else ()
        asked = [r for r in (pm.reviewers if pm else ()) if r not in approvals]
        lines += [f"- {md(reviewer)} (approved)" for reviewer in approvals]
        lines += [f"- {md(reviewer)} (requested)" for reviewer in asked]
        if not approvals and not asked:
            lines.append("_None yet._")
        return "\n".join(lines) + "\n"


@attrs.frozen
class Sections:
    """The author's sections of a post-mortem, as read back from its Markdown."""

    impact: str
    root_cause: str
    learnings: tuple[str, ...]


_PLACEHOLDERS = ("_To be written._", "_None recorded._")


def read_sections(markdown: str) -> Sections | None:
    """The author's sections of a post-mortem's Markdown, or None when one is missing.

    Impact, root cause and learnings, as edited on its branch.

    The inverse of :meth:`PostMortemDocument.render_markdown` for the author's sections: what
    a reviewer or the author changed there in a pushed commit is what the incident keeps.
    """
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in markdown.replace("\r\n", "\n").split("\n"):
        if line.startswith("## "):
            current = found.setdefault(line[3:].strip().casefold(), [])
            continue
        if current is not None:
            current.append(line)
    if not {"impact", "root cause", "learnings"} <= found.keys():
        return None

    def block(name: str) -> str:
        text = "\n".join(found[name]).strip()
        return "" if text in _PLACEHOLDERS else markdown_unblock(text)

    learnings = tuple(
        markdown_plain(line.strip()[2:].strip())
        for line in found["learnings"]
        if line.strip().startswith(("- ", "* ")) and line.strip()[2:].strip()
    )
    return Sections(block("impact"), block("root cause"), learnings)


def _section(text: str) -> str:
    """The author's free text of a section, or a placeholder."""
    return markdown_block(text) if text.strip() else "_To be written._"


def _link(label: str, url: str) -> str:
    """A Markdown link when ``url`` is a plain http(s) URL, else the label and the URL as text."""
    if re.fullmatch(r"https?://[^\s()<>\x00-\x1f]+", url):
        return f"[{markdown_inline(label)}]({url})"
    return f"{markdown_inline(label)} ({markdown_inline(url)})"


#: A review's verdicts that count (a ``commented`` review neither approves nor withdraws).
VERDICTS = ("approved", "changes_requested", "dismissed")


@attrs.frozen(kw_only=True)
class Review:
    """One review of the post-mortem's pull request, as its host reports it.

    Attributes:
        id: the host's id of the review.
        reviewer: the host's identity of the reviewer (a GitHub login).
        state: ``approved``, ``changes_requested``, ``dismissed`` or ``commented``.
        at: when it was submitted.
        text: what the reviewer wrote.
    """

    id: str
    reviewer: str
    state: str
    at: datetime | None = None
    text: str = ""


@attrs.frozen(kw_only=True)
class ReviewStatus:
    """Where a post-mortem's review stands on its host (what a poll reads).

    Attributes:
        source: the host, as actions name it (``github``, ``git``).
        url: the pull request (or branch) the status is of.
        reviews: its reviews, oldest first.
        merged: whether it is merged into the base branch; ``merged_by`` who did it and
            ``location`` where the post-mortem is now.
        closed: whether it was closed without merging; ``closed_by`` who did it.
        text: the post-mortem's Markdown on its branch now (None: not read).
    """

    source: str
    url: str | None = None
    reviews: tuple[Review, ...] = ()
    merged: bool = False
    merged_by: str | None = None
    location: str | None = None
    closed: bool = False
    closed_by: str | None = None
    text: str | None = None
