"""Post-mortem review, as steps: polling the pull requests under review, the document.

The review's decisions are :mod:`incident_flow._review.decide`.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._core.decision import team_policy
from .._core.events import Event
from .._core.incident import Incident, fold
from .._core.steps import Steps, call
from .._responders.actions import status_changes
from .._review.document import PostMortemDocument
from ..exceptions import (
    IncidentNotFound,
)
from .loop import Loop, _log


class ReviewSteps(Loop):
    """Post-mortem review, as steps: polling the pull requests under review, the document."""

    def _polls_reviews(self) -> bool:
        return hasattr(self._port("publisher"), "review_status")

    def _poll_reviews(self, limit: int) -> Steps[list[Incident]]:
        """Read every post-mortem under review on its branch; apply what changed there."""
        if not self._polls_reviews():
            return []
        ids = yield from call("store", "incident_ids", "postmortem")
        changed: list[Incident] = []
        for incident_id in ids[:limit]:
            try:
                incident = yield from self._poll_review(incident_id)
            except Exception as exc:  # noqa: BLE001 - one pull request must not stop the rest
                _log.warning(
                    "incident_flow.review_poll_failed",
                    incident_id=incident_id,
                    error=f"{type(exc).__name__}: {exc}",
                )
                continue
            if incident is not None:
                changed.append(incident)
        return changed

    def _poll_review(self, incident_id: str) -> Steps[Incident | None]:
        """Apply what the post-mortem's branch says now; the incident if that changed it."""
        events = yield from call("store", "load", incident_id)
        if not events:
            raise IncidentNotFound(incident_id)
        incident = fold(None, events)
        pm = incident.postmortem
        if pm is None or not pm.on_branch or pm.stage not in ("review", "merged"):
            return None
        status = yield from call("publisher", "review_status", self._document(events, incident))
        if status is None:
            return None
        before = incident.version
        revision, actions = status_changes(incident, status, self.policy.people)
        if revision is not None:
            incident = yield from self._command(incident_id, revision)
        for action in actions:
            incident = yield from self._apply(action)
        return incident if incident.version != before else None

    def _document(
        self, events: Sequence[Event], incident: Incident | None = None
    ) -> PostMortemDocument:
        """The post-mortem of these events (their fold, ``incident``), with GitHub logins."""
        incident = incident if incident is not None else fold(None, events)
        pm = incident.postmortem
        people = self.policy.people
        logins = {}
        for name in (*pm.reviewers, pm.author) if pm is not None else ():
            login = people.identity(name, "github")
            if login is not None:
                logins[name] = login
        return PostMortemDocument(
            incident=incident,
            events=events,
            folder=team_policy(self.policy, incident).postmortem_folder,
            logins=logins,
        )
