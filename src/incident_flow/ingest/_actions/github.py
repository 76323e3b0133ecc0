"""GitHub webhooks about post-mortem pull requests: reviews, pushes, merges and closes.

A pull request is ours when GitHubPublisher opened it: its branch is ``postmortem/<incident>``
(the default ``branch_prefix``) or its body carries our marker
``<!-- incident_flow:incident=<id> -->`` (whatever the prefix). Every other pull request in the
repository gives no actions, and a pull request that carries our branch name or marker counts
only when it is the one the incident's review recorded (``Action.review_url``: a fork's or
another repository's changes nothing). ``X-GitHub-Event`` says what the body is, and
``X-GitHub-Delivery`` names the delivery (a redelivery from GitHub's settings repeats it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..._responders.actions import Action, merge_delivery, review_delivery
from ...exceptions import InvalidPayload
from .._common import Body, Fields, load_json
from .github_issues import issue_closed

__all__ = ["BRANCH_PREFIX", "SOURCE", "marker", "parse"]

SOURCE = "github"
BRANCH_PREFIX = "postmortem/"
_MARKER = re.compile(r"<!--\s*incident_flow:incident=([^\s>]{1,128})\s*-->")
#: ``review.state`` of a submitted review -> the action kind.
_REVIEWS = {"approved": "approve_postmortem", "changes_requested": "request_changes"}


def marker(incident_id: str) -> str:
    """The comment GitHubPublisher puts in a pull request's body to name its incident."""
    return f"<!-- incident_flow:incident={incident_id} -->"


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if str(key).lower() == name:
            return str(value).strip() or None
    return None


def parse(body: Body, headers: Any = None) -> list[Action]:
    """The action in one ``pull_request_review`` or ``pull_request`` delivery, or none.

    Raises:
        InvalidPayload: no ``X-GitHub-Event`` header, or a body that is not GitHub's.
    """
    event = _header(headers, "x-github-event")
    if event is None:
        msg = f"{SOURCE}: the X-GitHub-Event header is missing (it says what the body is)"
        raise InvalidPayload(msg)
    if event == "issues":
        return issue_closed(body, headers)  # a follow-up's issue closed in GitHub
    if event not in ("pull_request_review", "pull_request"):
        return []  # ping, push...: nothing for an incident
    data = load_json(SOURCE, body)
    f = Fields(SOURCE, data)
    name = f.text("action")
    pull = f.obj("pull_request")
    assert pull is not None  # noqa: S101 - required above
    incident = _incident(pull)
    if incident is None:
        return []
    kind, actor, text = _what(event, name, f, pull)
    if kind is None or actor is None:
        return []
    url = pull.text("html_url", "") or None
    return [
        Action(
            source=SOURCE,
            kind=kind,
            incident=incident,
            by=actor,
            at=_when(f, pull),
            text=text,
            delivery_id=_delivery(headers, f, pull, kind, url),
            review_url=url,
            raw=data,
        )
    ]


def _delivery(headers: Any, f: Fields, pull: Fields, kind: str, url: str | None) -> str | None:
    """The delivery id: a review's and a merge's are what a poll of them gives too.

    So a review that arrives by webhook and is read again by the worker's poll (or the
    reverse) is one delivery, applied (or ignored) once. A push and a close without a merge
    are named by what the signed body says (the commit pushed to, the time of the close), not
    by ``X-GitHub-Delivery``, which the signature does not cover: a captured body sent again
    under another id is still the delivery seen before.
    """
    review = f.obj("review", required=False)
    if review is not None and review.data.get("id") is not None:
        state = "dismissed" if kind == "dismiss_review" else review.text("state", "")
        return review_delivery(SOURCE, review.data["id"], state)
    if kind == "postmortem_merged" and url:
        return merge_delivery(SOURCE, url)
    if url:
        if kind == "postmortem_revised" and f.optional_text("after"):
            return f"{SOURCE}:pushed:{url}:{f.optional_text('after')}"
        if kind == "postmortem_closed" and pull.optional_text("closed_at"):
            return f"{SOURCE}:closed:{url}:{pull.optional_text('closed_at')}"
    delivery = _header(headers, "x-github-delivery")
    return f"{SOURCE}:{delivery}" if delivery else None


def _incident(pull: Fields) -> str | None:
    found = _MARKER.search(pull.text("body", ""))
    if found:
        return found.group(1)
    head = pull.obj("head", required=False)
    ref = head.text("ref", "") if head is not None else ""
    if not ref.startswith(BRANCH_PREFIX):
        return None
    return ref.removeprefix(BRANCH_PREFIX) or None


def _login(holder: Fields | None, key: str) -> str | None:
    user = holder.obj(key, required=False) if holder is not None else None
    return user.optional_text("login") if user is not None else None


def _what(event: str, name: str, f: Fields, pull: Fields) -> tuple[str | None, str | None, str]:
    """The kind, who acted and what they said."""
    if event == "pull_request_review":
        review = f.obj("review")
        assert review is not None  # noqa: S101 - required above
        who = _login(review, "user") or _login(f, "sender")
        said = review.text("body", "").strip()
        if name == "dismissed":
            # The dismissed review's author loses the approval; who dismissed it is said.
            dismisser = _login(f, "sender")
            return "dismiss_review", who or dismisser, f"by {dismisser}" if dismisser else ""
        state = review.text("state", "").lower()
        return (_REVIEWS.get(state) if name == "submitted" else None), who, said
    if name == "synchronize":
        return "postmortem_revised", _login(f, "sender"), ""
    if name != "closed":
        return None, None, ""
    if pull.data.get("merged") is True:
        # The pull request's page is where the merged post-mortem is found.
        url = pull.text("html_url", "")
        return "postmortem_merged", _login(pull, "merged_by") or _login(f, "sender"), url
    return "postmortem_closed", _login(f, "sender"), ""


def _when(f: Fields, pull: Fields) -> Any:
    review = f.obj("review", required=False)
    if review is not None and review.has("submitted_at"):
        return review.time("submitted_at")
    try:
        return pull.time("merged_at") or pull.time("closed_at")
    except InvalidPayload:
        return None
