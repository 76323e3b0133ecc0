"""The values an incident holds besides itself: its action items and its post-mortem.

:mod:`.incident` folds the events into them (and re-exports them).
"""

from __future__ import annotations

from datetime import datetime

import attrs

__all__ = ["ActionItem", "PostMortem"]


@attrs.frozen(kw_only=True)
class ActionItem:
    """A follow-up the incident owes before it can close.

    Attributes:
        id: ``AI-1``, ``AI-2``... within the incident.
        kind: ``add_runbook``, ``update_runbook`` or ``follow_up`` (added by a person).
        description: what is to be done.
        runbook: the runbook it concerns, when known.
        done: settled by the work itself (a runbook added or updated, the item completed, its
            tracker issue closed).
        waived: settled by a decision not to do it; ``reason`` says why.
        owner: who is to do it, when named.
        tracker_key, tracker_url: its issue in the team's tracker, once opened there.
    """

    id: str
    kind: str
    description: str
    runbook: str | None = None
    done: bool = False
    waived: bool = False
    reason: str = ""
    owner: str | None = None
    tracker_key: str | None = None
    tracker_url: str | None = None

    @property
    def open(self) -> bool:
        """True while the item is neither done nor waived."""
        return not (self.done or self.waived)


@attrs.frozen(kw_only=True)
class PostMortem:
    """The incident's post-mortem: drafted, reviewed (on its pull request), merged.

    Attributes:
        author: who wrote it.
        impact, root_cause, learnings: the author's sections (as revised on its branch).
        approvals: the distinct reviewers whose approval counts now, in order.
        changes_requested: reviewers whose latest review asks for changes.
        reviewers: the people asked to review when it was submitted.
        review: where it is reviewed once submitted: ``pull_request`` (approvals are the pull
            request's reviews), ``branch`` or ``command`` (approvals by command); None while
            it is a draft.
        submitted_at: when it was submitted for review (None: a draft).
        review_url: where it is reviewed (the pull request's URL, ``<branch>:<path>``), once
            the publisher has opened it.
        review_closed_at: when its pull request was closed without merging (None: it was not,
            or it was submitted again since).
        merged_at: when it reached the base branch (or was saved, without one).
        location: where it is now: the publisher's answer for the merged (saved) document.
        published_at: when it was merged with the required approvals (the incident moved on
            to the runbook updates then).
    """

    author: str
    started_at: datetime
    impact: str = ""
    root_cause: str = ""
    learnings: tuple[str, ...] = ()
    approvals: tuple[str, ...] = ()
    changes_requested: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()
    review: str | None = None
    submitted_at: datetime | None = None
    review_url: str | None = None
    review_closed_at: datetime | None = None
    merged_at: datetime | None = None
    location: str | None = None
    published_at: datetime | None = None
    #: Each reviewer's latest verdict time (their tool's clock): an older review arriving
    #: late (a redelivered webhook) never overrides a newer one.
    verdict_at: tuple[tuple[str, datetime], ...] = ()

    @property
    def published(self) -> bool:
        """True once merged with the required approvals (0.1: accepted for publishing)."""
        return self.published_at is not None

    @property
    def stage(self) -> str:
        """Its stage: ``draft``, ``review``, ``closed``, ``merged`` or ``published``."""
        if self.published_at is not None:
            return "published"
        if self.merged_at is not None:
            return "merged"
        if self.submitted_at is None:
            return "draft"
        return "closed" if self.review_closed_at is not None else "review"

    @property
    def on_branch(self) -> bool:
        """True when publishing means merging a branch (a pull request or a git branch)."""
        return self.review in ("pull_request", "branch")

    @property
    def awaiting(self) -> tuple[str, ...]:
        """Requested reviewers who have neither approved nor asked for changes."""
        done = {r.casefold() for r in (*self.approvals, *self.changes_requested)}
        return tuple(r for r in self.reviewers if r.casefold() not in done)

    def last_verdict(self, reviewer: str) -> datetime | None:
        """When ``reviewer``'s latest verdict was given, by their tool's clock."""
        key = reviewer.casefold()
        return next((at for who, at in self.verdict_at if who.casefold() == key), None)
