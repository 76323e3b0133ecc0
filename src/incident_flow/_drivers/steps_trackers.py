"""Follow-ups in the team's tracker, as steps: an item's issue opened and closed, and polled.

The decisions are :mod:`incident_flow._core.follow_ups`; here the ``tracker`` port is called.
"""

from __future__ import annotations

from typing import TypeVar

from .._core.decision import team_policy
from .._core.incident import ActionItem, Incident
from .._core.messages import OutboxMessage
from .._core.policy import Policy
from .._core.process import OPEN_STATES
from .._core.steps import Steps, call
from .._core.trackers import TRACKER_KINDS, FollowUp, TrackerIssue
from .._responders.actions import Action, follow_up_delivery
from ..exceptions import DeliveryError
from .loop import Loop, _FirstNotOut, _log

_T = TypeVar("_T")


def checked_tracker(policy: Policy, tracker: _T) -> _T:
    """``tracker``, once its kind is the policy's (a GitHub tracker for a Jira policy is wrong).

    Raises:
        ValueError: the kinds differ, or ``tracker`` says no ``kind``.
    """
    if tracker is None:
        return tracker
    kind = getattr(tracker, "kind", None)
    wanted = {p.tracker.kind for p in _team_policies(policy) if p.tracker is not None}
    if kind not in TRACKER_KINDS or (wanted and wanted != {kind}):
        msg = f"the tracker is {kind!r}, the policy's [tracker] says {', '.join(sorted(wanted))}"
        raise ValueError(msg)
    return tracker


def _team_policies(policy: Policy) -> list[Policy]:
    return [policy.for_team(name) for name in policy.team_names]


def close_comment(incident: Incident, item: ActionItem) -> str:
    """What an item's issue is told when it is closed because the item was settled here."""
    if item.waived:
        return f"Waived in incident {incident.id}: {item.reason}"
    return f"Done in incident {incident.id}."


class TrackerSteps(Loop):
    """Follow-ups in the team's tracker, as steps: issues opened, closed, and polled."""

    def _tracker(self) -> object | None:
        return getattr(self, "tracker", None)

    def _send_follow_up(self, message: OutboxMessage) -> Steps[str | None]:
        """Open or close one item's issue; the receipt of an open is ``"<key> <url>"``."""
        action, _, item_id = message.kind.partition(":")
        if self._tracker() is None:
            msg = "no tracker is configured (IncidentFlow(tracker=...)): the issue waits"
            raise DeliveryError(msg, retry_after=900.0)
        incident = yield from self._load(message.incident_id)
        item = incident.action_item(item_id)
        tracker = team_policy(self.policy, incident).tracker
        if item is None or tracker is None:
            return None  # nothing to send any more (a policy without a tracker now)
        if action == "open":
            if item.tracker_key is not None:
                return f"{item.tracker_key} {item.tracker_url}"
            follow_up = FollowUp(
                incident_id=incident.id,
                item_id=item.id,
                kind=item.kind,
                title=item.description,
                owner=item.owner,
                where=tracker.where,
                incident_title=incident.title,
                severity=incident.severity,
                state=incident.state,
                link=incident.alert.url,
                labels=tracker.labels,
                issue_type=tracker.issue_type,
                resent=bool(message.reclaimed or message.attempts),
                since=message.created_at,
            )
            issue: TrackerIssue = yield from call("tracker", "open", follow_up)
            return f"{issue.key} {issue.url}"
        if item.tracker_key is None:
            # Like a chat update waiting for the first message: the tracker is not down, so
            # its channel is not paused (a pause would hold back the very open it waits for).
            msg = f"{item.id}'s issue is not opened yet: it is closed after"
            raise _FirstNotOut(msg, retry_after=5.0)
        issue = TrackerIssue(key=item.tracker_key, url=item.tracker_url or item.tracker_key)
        closed: TrackerIssue = yield from call(
            "tracker", "close", issue, close_comment(incident, item)
        )
        return closed.key

    def _poll_follow_ups(self, limit: int) -> Steps[list[Incident]]:
        """Read the open items' issues; an issue closed there settles its item here."""
        tracker = self._tracker()
        if tracker is None:
            return []
        ids: list[str] = []
        for state in OPEN_STATES:
            ids += yield from call("store", "incident_ids", state)
        changed: list[Incident] = []
        for incident_id in ids:
            if len(changed) >= limit:
                break
            incident = yield from self._load(incident_id)
            before = incident.version
            for item in incident.open_action_items:
                if item.tracker_key is None:
                    continue
                try:
                    issue: TrackerIssue = yield from call(
                        "tracker",
                        "status",
                        TrackerIssue(key=item.tracker_key, url=item.tracker_url or ""),
                    )
                except Exception as exc:  # noqa: BLE001 - one issue must not stop the rest
                    _log.warning(
                        "incident_flow.follow_up_poll_failed",
                        incident_id=incident_id,
                        item=item.id,
                        error=f"{type(exc).__name__}: {exc}",
                    )
                    continue
                if not issue.closed:
                    continue
                kind = str(getattr(tracker, "kind", "tracker"))
                incident = yield from self._apply(
                    Action(
                        source=kind,
                        kind="follow_up_closed",
                        incident=incident_id,
                        by=issue.closed_by or "unknown",
                        issue=item.tracker_key,
                        delivery_id=follow_up_delivery(kind, item.tracker_key),
                    )
                )
            if incident.version != before:
                changed.append(incident)
        return changed
