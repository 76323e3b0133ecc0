"""The post-mortem phase, decided: drafted, submitted, reviewed (on its pull request), merged.

Inside the ``postmortem`` state a post-mortem goes through stages (``PostMortem.stage``)::

    draft --submit--> review --(approvals and merge, either order)--> published
                        |  ^                                          (-> runbook_update)
     pull request closed|  |submit again
                        v  |
                       closed

- **draft**: ``start_postmortem`` wrote it; ``amend_postmortem`` changes it.
- **review**: ``submit_postmortem`` asked ``policy.postmortem_reviewers`` people of the
  policy's pool (never the author) and, with a publisher that keeps it on a branch, queued the
  branch or pull request. Approvals come from the pull request's reviews when there is one
  (its webhook, else the worker's poll), by command otherwise. Changes requested withdraw that
  reviewer's approval; commits pushed to the branch revise the stored sections.
- **published** means merged with the required approvals: ``merge = "auto"`` queues the merge
  (or the save, without a branch) as soon as the approvals are there; ``"manual"`` waits for a
  person to merge the pull request (or to ``publish_postmortem``). A merge that arrives before
  the approvals (an administrator's) counts once the approvals follow.
- A pull request closed unmerged is said in the thread; the obligation stays and the
  post-mortem can be submitted again.

Pure, like :mod:`._decide`: these are its handlers for the post-mortem commands.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from .._core import commands as cmd
from .._core import events as ev
from .._core.decision import Draft
from .._core.incident import Incident, PostMortem
from .._core.policy import Policy
from ..exceptions import PolicyViolation

__all__ = [
    "amend",
    "approve",
    "approvers",
    "closed",
    "merged",
    "publish",
    "ready",
    "request_changes",
    "review_reminder",
    "revise",
    "start",
    "submit",
    "unwritten_sections",
    "unwritten_text",
]


def _refuse(inc: Incident, trigger: str, standard: str, detail: str) -> PolicyViolation:
    return PolicyViolation(inc.id, inc.state, trigger, standard, detail)


def _pm(inc: Incident) -> PostMortem:
    pm = inc.postmortem
    assert pm is not None  # noqa: S101 - the postmortem state always has one
    return pm


def _where(pm: PostMortem) -> str:
    return pm.review_url or "its pull request"


def _ready(pm: PostMortem) -> str:
    """What an approved post-mortem is ready for: its merge on its pull request, or the command."""
    if pm.review == "pull_request":
        return f"merge at {_where(pm)}"
    return "publish (publish_postmortem)"  # reviewed by command: no pull request to point at


def start(inc: Incident, c: cmd.StartPostmortem, policy: Policy, d: Draft) -> None:
    """Start the draft (the author is ``c.by``)."""
    assert c.by is not None  # noqa: S101 - the command requires an actor
    d.add(
        ev.PostMortemStarted,
        author=c.by,
        impact=c.impact,
        root_cause=c.root_cause,
        learnings=c.learnings,
    )
    d.say("chat", "update", f"Post-mortem started by {c.by}")


def amend(inc: Incident, c: cmd.AmendPostmortem, policy: Policy, d: Draft) -> None:
    """Change the draft; under review on a branch, the new text is committed there too."""
    pm = _pm(inc)
    if pm.stage in ("merged", "published"):
        raise _refuse(inc, c.trigger, "postmortem_merged", "it is merged already")
    if pm.stage == "review" and pm.review == "pull_request":
        raise _refuse(
            inc,
            c.trigger,
            "review_on_pull_request",
            f"it is under review on {_where(pm)}: push the change there "
            "(pushed commits update it here)",
        )
    changes = {
        name: value
        for name, value, now in (
            ("impact", c.impact, pm.impact),
            ("root_cause", c.root_cause, pm.root_cause),
            ("learnings", c.learnings, pm.learnings),
        )
        if value is not None and value != now
    }
    if not changes:
        return
    d.add(ev.PostMortemAmended, **changes)
    d.say("chat", "update", f"Post-mortem amended by {c.by}")
    if pm.stage == "review" and pm.on_branch:
        d.say("publisher", "update")


#: A post-mortem's sections as people name them (the policy's names are the attributes').
_SECTION_NAMES = {"impact": "impact", "root_cause": "root cause", "learnings": "learnings"}


def unwritten_sections(pm: PostMortem, required: Iterable[str]) -> tuple[str, ...]:
    """The ``required`` sections (``impact``, ``root_cause``, ``learnings``) ``pm`` lacks.

    A section of only whitespace is unwritten: it would be published as "To be written".
    Returned as people name them (``root cause``), in the post-mortem's order.
    """
    wanted = set(required)
    written = {
        "impact": bool(pm.impact.strip()),
        "root_cause": bool(pm.root_cause.strip()),
        "learnings": any(learning.strip() for learning in pm.learnings),
    }
    return tuple(name for key, name in _SECTION_NAMES.items() if key in wanted and not written[key])


def unwritten_text(missing: tuple[str, ...]) -> str:
    """``its impact and root cause are not written yet`` (``missing`` is not empty)."""
    names = " and ".join(filter(None, (", ".join(missing[:-1]), missing[-1])))
    verb = "is" if len(missing) == 1 and missing[0] != "learnings" else "are"
    return f"its {names} {verb} not written yet"


def _written(inc: Incident, c: cmd.Command, pm: PostMortem, policy: Policy) -> None:
    """Refuse a post-mortem whose required sections are unwritten (naming them)."""
    missing = unwritten_sections(pm, policy.postmortem_required_sections)
    if not missing:
        return
    one = len(missing) == 1 and missing[0] != "learnings"
    raise _refuse(
        inc,
        c.trigger,
        "postmortem_sections",
        f"{unwritten_text(missing)}: write {'it' if one else 'them'} with amend_postmortem "
        "first (policy.postmortem_required_sections lists the sections a post-mortem needs "
        "before review)",
    )


def submit(inc: Incident, c: cmd.SubmitPostmortem, policy: Policy, d: Draft) -> None:
    """Submit the draft (or a closed pull request's post-mortem again) for review.

    Refused while a section ``policy.postmortem_required_sections`` lists is unwritten.
    """
    pm = _pm(inc)
    if pm.stage == "review":
        return  # submitted already: nothing more to ask
    if pm.stage in ("merged", "published"):
        raise _refuse(inc, c.trigger, "postmortem_merged", "it is merged already")
    _written(inc, c, pm, policy)
    reviewers = policy.postmortem_reviewers_for(inc.id, pm.author)
    d.add(ev.PostMortemSubmitted, reviewers=reviewers, review=c.review)
    asked = f": reviews asked of {', '.join(reviewers)}" if reviewers else ""
    needed = policy.postmortem_reviewers
    short = (
        f" (only {len(reviewers)} of the {needed} required reviewers could be asked: "
        "see policy.postmortem_review_pool)"
        if policy.postmortem_review_pool and len(reviewers) < needed
        else ""
    )
    d.say("chat", "update", f"Post-mortem submitted for review by {c.by}{asked}{short}")
    if c.review != "command":
        d.say("publisher", "submit")
    ready(
        inc, attrs.evolve(pm, review=c.review, submitted_at=d.at, review_closed_at=None), policy, d
    )


def _not_a_draft(inc: Incident, c: cmd.Command, pm: PostMortem) -> None:
    if pm.stage == "draft":
        raise _refuse(
            inc,
            c.trigger,
            "postmortem_submitted",
            "the post-mortem is still a draft: submit it for review first (submit_postmortem)",
        )


def _reviewable(inc: Incident, c: cmd.Command, pm: PostMortem) -> None:
    """Refuse a review of a draft, of a closed pull request, or by command on a pull request."""
    _not_a_draft(inc, c, pm)
    if pm.stage == "closed":
        raise _refuse(
            inc,
            c.trigger,
            "review_closed",
            "its pull request was closed without merging: submit it again first",
        )
    if pm.review == "pull_request" and c.origin != "github":
        raise _refuse(
            inc,
            c.trigger,
            "review_on_pull_request",
            f"it is reviewed on {_where(pm)}: review it there (reviews there count here)",
        )
    assert c.by is not None  # noqa: S101 - the review commands require an actor
    if cmd.same_person(c.by, pm.author):
        raise _refuse(
            inc,
            c.trigger,
            "independent_review",
            f"{c.by} wrote the post-mortem; reviewers must be other people",
        )


def _stale(pm: PostMortem, c: cmd.Command) -> bool:
    """A review older than the reviewer's latest verdict (a late redelivery) changes nothing."""
    assert c.by is not None  # noqa: S101 - the review commands require an actor
    last = pm.last_verdict(c.by)
    return c.at is not None and last is not None and c.at < last


def _one_of(who: str, names: tuple[str, ...], origin: str | None, policy: Policy) -> bool:
    """True when ``who`` is one of ``names``.

    A name that is not a person of ``policy.people`` is a vendor login (the pool may list
    GitHub logins): it matches the vendor's unmapped identity (``github:login``) too. A
    person's name matches that person only, never a stranger whose login spells it.
    """
    persons = {person.name.casefold() for person in policy.people}
    for name in names:
        if cmd.same_person(who, name):
            return True
        login = origin and name.strip().casefold() not in persons
        if login and cmd.same_person(who, f"{origin}:{name}"):
            return True
    return False


def approvers(pm: PostMortem, policy: Policy) -> tuple[str, ...] | None:
    """Whose review counts under ``policy.postmortem_approvers``; None: anyone's.

    ``requested``: the reviewers asked at submission (with nobody asked, as ``pool``);
    ``pool``: ``postmortem_review_pool`` (with no pool, the people the policy names; with
    none, anyone); ``anyone``: anyone. The author never counts (checked apart).
    """
    rule = policy.postmortem_approvers
    if rule == "requested" and pm.reviewers:
        return pm.reviewers
    if rule in ("requested", "pool"):
        if policy.postmortem_review_pool:
            return policy.postmortem_review_pool
        if len(policy.people):
            return tuple(person.name for person in policy.people)
    return None


def _may_review(inc: Incident, c: cmd.Command, pm: PostMortem, policy: Policy) -> None:
    """Refuse a review by someone whose verdict does not count (not asked, not in the pool)."""
    allowed = approvers(pm, policy)
    assert c.by is not None  # noqa: S101 - the review commands require an actor
    if allowed is None or _one_of(c.by, allowed, c.origin, policy):
        return
    who = {"requested": "the reviewers asked", "pool": "the review pool"}.get(
        policy.postmortem_approvers, "the reviewers"
    )
    if policy.postmortem_approvers == "requested" and not pm.reviewers:
        who = "the review pool" if policy.postmortem_review_pool else "the policy's people"
    elif policy.postmortem_approvers == "pool" and not policy.postmortem_review_pool:
        who = "the policy's people"
    raise _refuse(
        inc,
        c.trigger,
        "postmortem_approvers",
        f"{c.by} is not one of {who} ({', '.join(allowed)}): their review does not count",
    )


def approve(inc: Incident, c: cmd.ApprovePostmortem, policy: Policy, d: Draft) -> None:
    """A reviewer approves; the last approval needed merges it (``merge = "auto"``)."""
    pm = _pm(inc)
    if pm.published:
        return  # a late review of a published post-mortem changes nothing
    _reviewable(inc, c, pm)
    _may_review(inc, c, pm, policy)
    assert c.by is not None  # noqa: S101 - the command requires an actor
    if _stale(pm, c) or any(cmd.same_person(c.by, r) for r in pm.approvals):
        return
    d.add(ev.PostMortemApproved, reviewer=c.by, happened_at=c.at)
    after = attrs.evolve(pm, approvals=(*pm.approvals, c.by))
    d.say(
        "chat",
        "update",
        f"Post-mortem approved by {c.by} ({len(after.approvals)} of {policy.postmortem_reviewers})",
    )
    ready(inc, after, policy, d)


def request_changes(
    inc: Incident, c: cmd.RequestPostmortemChanges, policy: Policy, d: Draft
) -> None:
    """A reviewer asks for changes: their approval stops counting until they approve again."""
    pm = _pm(inc)
    if pm.published:
        return
    _reviewable(inc, c, pm)
    _may_review(inc, c, pm, policy)
    if _stale(pm, c):
        return
    assert c.by is not None  # noqa: S101 - the command requires an actor
    d.add(ev.PostMortemChangesRequested, reviewer=c.by, text=c.text, happened_at=c.at)
    said = f": {c.text}" if c.text.strip() else ""
    d.say("chat", "update", f"{c.by} requested changes on the post-mortem{said}")


def revise(inc: Incident, c: cmd.RevisePostmortem, policy: Policy, d: Draft) -> None:
    """Commits pushed to its branch changed the author's sections: keep what they say now."""
    pm = _pm(inc)
    if pm.stage not in ("review", "closed"):
        return
    now = (pm.impact, pm.root_cause, pm.learnings)
    if (c.impact, c.root_cause, c.learnings) == now:
        return  # our own commit, or a change outside the author's sections
    d.add(ev.PostMortemRevised, impact=c.impact, root_cause=c.root_cause, learnings=c.learnings)
    d.say("chat", "update", "The post-mortem was revised on its branch")


def merged(inc: Incident, c: cmd.RecordMerge, policy: Policy, d: Draft) -> None:
    """Its branch reached the base branch: published, once the approvals are there too."""
    pm = _pm(inc)
    if pm.stage in ("merged", "published"):
        return
    record_merge(inc, pm, c.location or pm.review_url or "merged", policy, d)


def record_merge(inc: Incident, pm: PostMortem, location: str, policy: Policy, d: Draft) -> None:
    """Record the merge (or the save) at ``location``; publish when the approvals are there."""
    d.add(ev.PostMortemMerged, location=location)
    needed = policy.postmortem_reviewers
    if len(pm.approvals) >= needed:
        _publish_now(inc, pm, location, d)
    else:
        d.say(
            "chat",
            "update",
            f"Post-mortem merged at {location} with {len(pm.approvals)} of {needed} approvals: "
            "it counts once the rest approve",
        )


def closed(inc: Incident, c: cmd.RecordReviewClosed, policy: Policy, d: Draft) -> None:
    """The pull request was closed unmerged: said in the thread; the obligation stays."""
    pm = _pm(inc)
    if pm.stage != "review":
        return
    d.add(ev.PostMortemReviewClosed, reason=c.text)
    who = f" by {c.by}" if c.by else ""
    d.say(
        "chat",
        "update",
        f"The post-mortem's pull request was closed without merging{who}: the post-mortem "
        "is still owed; submit it again (submit_postmortem)",
    )


def publish(inc: Incident, c: cmd.PublishPostmortem, policy: Policy, d: Draft) -> None:
    """A person asks for the approved post-mortem to be merged (or saved) now."""
    pm = _pm(inc)
    _not_a_draft(inc, c, pm)
    needed = policy.postmortem_reviewers
    if len(pm.approvals) < needed:
        have = ", ".join(pm.approvals) or "none"
        raise _refuse(
            inc,
            c.trigger,
            "postmortem_reviewers",
            f"needs {needed} distinct reviewer approval(s), has {len(pm.approvals)} ({have})",
        )
    if pm.stage == "merged":
        _publish_now(inc, pm, pm.location or "merged", d)
        return
    d.add(ev.NoteAdded, text="Merge of the post-mortem requested")
    _merge(pm, d)


def ready(inc: Incident, pm: PostMortem, policy: Policy, d: Draft) -> None:
    """What follows once ``pm``'s approvals count: publish, merge, or say it is ready.

    A merged one is published; else it is merged (``merge = "auto"``) or said ready to merge.
    """
    approvals = pm.approvals
    if len(approvals) < policy.postmortem_reviewers or pm.stage == "draft":
        return
    if pm.stage == "merged":
        _publish_now(inc, pm, pm.location or "merged", d)
    elif policy.postmortem_merge == "auto":
        _merge(pm, d)
    else:
        d.say(
            "chat",
            "update",
            f"The post-mortem has its {len(approvals)} approvals: ready to {_ready(pm)}",
        )


def _merge(pm: PostMortem, d: Draft) -> None:
    # On a branch the publisher merges it; without one, saving it is publishing it.
    d.say("publisher", "merge" if pm.on_branch else "postmortem")


def _publish_now(inc: Incident, pm: PostMortem, location: str, d: Draft) -> None:
    """Merged with the approvals: the post-mortem is published, its learnings become items."""
    d.add(ev.PostMortemPublished, approvals=pm.approvals)
    runbook = inc.runbook.name if inc.runbook else None
    for offset, learning in enumerate(pm.learnings):
        target = f"runbook {runbook}" if runbook else "the runbook"
        d.add(
            ev.ActionItemRaised,
            item_id=f"AI-{len(inc.action_items) + 1 + offset}",
            kind="update_runbook",
            description=f"Update {target}: {learning}",
            runbook=runbook,
        )
    d.say("chat", "update", f"Post-mortem published: {location}")


def review_reminder(inc: Incident, policy: Policy) -> str:
    """The reminder of an overdue post-mortem, saying what it waits for at its stage."""
    head = (
        f"Reminder: the post-mortem of this {inc.severity} incident is overdue "
        f"({policy.postmortem_due} business days after resolution)"
    )
    pm = inc.postmortem
    if pm is None or pm.stage == "draft":
        return f"{head}: submit it for review"
    if pm.stage == "closed":
        return f"{head}: its pull request was closed unmerged; submit it again"
    needed = policy.postmortem_reviewers
    have = f"{len(pm.approvals)} of {needed} approvals"
    parts = []
    if pm.changes_requested:
        parts.append(f"changes requested by {', '.join(pm.changes_requested)}")
    if pm.awaiting:
        parts.append(f"waiting for reviews from {', '.join(pm.awaiting)}")
    if pm.stage == "merged":
        parts.append("merged, waiting for the approvals")
    elif len(pm.approvals) >= needed:
        merge = pm.review == "pull_request"
        parts.append(
            f"waiting for the merge at {_where(pm)}" if merge else f"ready to {_ready(pm)}"
        )
    return f"{head}: {have}; {'; '.join(parts) or 'no reviewer asked yet'}"
