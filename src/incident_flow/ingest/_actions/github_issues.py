"""GitHub ``issues`` webhooks: a follow-up's issue closed settles its action item.

An issue is ours when its body carries the marker GitHubTracker wrote
(``<!-- incident_flow:item=<incident>/<item> -->``); it counts only when its key
(``owner/name#number``, from ``repository.full_name`` and ``issue.number``) is the issue the
incident recorded for an item (``Action.issue``): a marker copied into another issue, or an
issue of another repository, changes nothing. Only ``closed`` as completed counts (a
``not_planned`` or ``duplicate`` close is not the work done: the item stays open, to be
waived here).
"""

from __future__ import annotations

from typing import Any

from ..._core.trackers import find_marker
from ..._responders.actions import Action, follow_up_delivery
from .._common import Body, Fields, load_json

__all__ = ["issue_closed"]

SOURCE = "github"


def issue_closed(body: Body, headers: Any = None) -> list[Action]:
    """The action in one ``issues`` delivery: ``follow_up_closed``, or none.

    Raises:
        InvalidPayload: a body that is not GitHub's.
    """
    data = load_json(SOURCE, body)
    f = Fields(SOURCE, data)
    if f.text("action") != "closed":
        return []
    issue = f.obj("issue")
    repository = f.obj("repository")
    assert issue is not None  # noqa: S101 - required above
    assert repository is not None  # noqa: S101 - required above
    if issue.has("pull_request") or issue.text("state_reason", "completed") != "completed":
        return []
    named = find_marker(issue.text("body", ""))
    number = issue.data.get("number")
    if named is None or not isinstance(number, int):
        return []
    key = f"{repository.text('full_name')}#{number}"
    sender = f.obj("sender", required=False)
    closer = sender.optional_text("login") if sender is not None else None
    return [
        Action(
            source=SOURCE,
            kind="follow_up_closed",
            incident=named[0],
            by=closer or "unknown",
            at=issue.time("closed_at") if issue.has("closed_at") else None,
            issue=key,
            delivery_id=follow_up_delivery(SOURCE, key),
            raw=data,
        )
    ]
