"""Jira Cloud webhooks: a follow-up's issue moved to a done status settles its action item.

``jira:issue_updated`` whose changelog changed the ``status`` and whose issue is now in a
status of the ``done`` category. The issue is ours when its labels name our incident
(``incident-flow-<incident>``, written by JiraTracker); it counts only when its key is the
issue the incident recorded for an item (``Action.issue``). Jira Cloud signs webhooks
registered with a secret (``X-Hub-Signature: sha256=...``, checked by the service); the
delivery is named by ``X-Atlassian-Webhook-Identifier``, the same on Jira's retries.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..._core.trackers import incident_from_labels
from ..._responders.actions import Action, follow_up_delivery
from .._common import Body, Fields, load_json

__all__ = ["SOURCE", "parse"]

SOURCE = "jira"


def parse(body: Body, headers: Any = None) -> list[Action]:
    """The action in one Jira webhook delivery: ``follow_up_closed``, or none.

    Raises:
        InvalidPayload: a body that is not Jira's.
    """
    data = load_json(SOURCE, body)
    f = Fields(SOURCE, data)
    if f.text("webhookEvent", "") != "jira:issue_updated":
        return []
    issue = f.obj("issue")
    assert issue is not None  # noqa: S101 - required above
    fields = issue.obj("fields")
    assert fields is not None  # noqa: S101 - required above
    changelog = f.obj("changelog", required=False)
    items = changelog.data.get("items") if changelog is not None else None
    moved = isinstance(items, list) and any(
        isinstance(i, dict) and i.get("field") == "status" for i in items
    )
    status = fields.obj("status", required=False)
    category = status.obj("statusCategory", required=False) if status is not None else None
    if not moved or category is None or category.text("key", "") != "done":
        return []
    labels = fields.data.get("labels")
    incident = incident_from_labels(labels if isinstance(labels, list) else [])
    if incident is None:
        return []
    key = issue.text("key")
    user = f.obj("user", required=False)
    who = None
    if user is not None:
        who = user.optional_text("accountId") or user.optional_text("name")
    stamp = data.get("timestamp") if isinstance(data, dict) else None
    at = (
        datetime.fromtimestamp(stamp / 1000, UTC)
        if isinstance(stamp, int) and not isinstance(stamp, bool) and 0 < stamp < 2**45
        else None
    )
    return [
        Action(
            source=SOURCE,
            kind="follow_up_closed",
            incident=incident,
            by=who or "unknown",
            by_name=user.optional_text("displayName") if user is not None else None,
            at=at,
            issue=key,
            delivery_id=follow_up_delivery(SOURCE, key),
            raw=data,
        )
    ]
