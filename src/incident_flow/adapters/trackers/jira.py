"""JiraTracker: action items as Jira Cloud issues (REST API v3; extra ``http``).

One issue per item in the project the policy's ``[tracker] project`` names, of
``issue_type`` (default ``Task``), its description (Atlassian Document Format: plain text,
never markup) linking back to the incident and saying the incident cannot close while the
issue is open. Labels name it: ``incident-flow``, ``incident-flow-<incident>`` (the webhook
finds the incident by it) and ``incident-flow-<incident>--<item>``.

Nothing is opened twice: when an earlier attempt may have created the issue (``resent``),
a JQL search for the item's label comes first (``POST /rest/api/3/search/jql``). Closing
comments, then moves the issue along the first transition whose status is in the ``done``
category; an issue already done is left as it is.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ..._core.text import no_controls
from ..._core.trackers import LABEL, FollowUp, TrackerIssue, incident_label, item_label
from ...exceptions import DeliveryError
from .._http import AsyncHttpClient, HttpClient, check_secret
from ._common import AwaitedTracker, BlockingTracker, TrackerAdapter

__all__ = ["AsyncJiraTracker", "JiraTracker", "description"]

_SUMMARY_MAX = 255


def _paragraph(text: str) -> dict[str, Any]:
    content = [{"type": "text", "text": text}] if text else []
    return {"type": "paragraph", "content": content}


def _doc(*paragraphs: str) -> dict[str, Any]:
    """An Atlassian Document Format document of plain-text paragraphs."""
    return {
        "type": "doc",
        "version": 1,
        "content": [_paragraph(no_controls(p)) for p in paragraphs],
    }


def description(follow_up: FollowUp) -> dict[str, Any]:
    """The issue's description: the item, its owner, the way back (ADF, plain text)."""
    f = follow_up
    lines = [
        f"{f.item_id} of incident {f.incident_id} ({f.severity}): {f.incident_title}",
        f.title,
    ]
    if f.owner:
        lines.append(f"Owner: {f.owner}")
    if f.link:
        lines.append(f"Incident: {f.link}")
    lines.append(
        f"Incident {f.incident_id} cannot close while this issue is open: moving it to done "
        f"marks {f.item_id} done there. Opened by incident_flow."
    )
    return _doc(*lines)


def _done(fields: object) -> bool:
    status = fields.get("status") if isinstance(fields, dict) else None
    category = status.get("statusCategory") if isinstance(status, dict) else None
    return isinstance(category, dict) and category.get("key") == "done"


class _Jira(TrackerAdapter[Any]):
    """The JiraTracker logic both classes share."""

    kind = "jira"

    def __init__(self, site: str, email: str, api_token: str, *, client: Any = None) -> None:
        if not site.startswith(("https://", "http://")):
            msg = f"{type(self).__name__} needs the site's URL (https://acme.atlassian.net)"
            raise ValueError(msg)
        if not email or not api_token or not api_token.strip():
            msg = f"{type(self).__name__} needs the account's email and an API token"
            raise ValueError(msg)
        check_secret("api_token", api_token)
        self.site = site.rstrip("/")
        self.email = email
        credentials = base64.b64encode(f"{email}:{api_token}".encode()).decode()
        self._authorization = f"Basic {credentials}"
        super().__init__(client, api_token, credentials)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.site!r}, email={self.email!r}, api_token='***')"

    def headers(self) -> Mapping[str, str]:
        """Basic authentication with the API token; JSON both ways."""
        return {"Authorization": self._authorization, "Accept": "application/json"}

    def _issue_url(self, key: str) -> str:
        return f"{self.site}/rest/api/3/issue/{quote(key)}"

    def _browse(self, key: str) -> str:
        return f"{self.site}/browse/{quote(key)}"

    def open_steps(self, follow_up: FollowUp) -> Any:
        """Find the item's issue by its label (when resent), else create it."""
        label = item_label(follow_up.incident_id, follow_up.item_id)
        if follow_up.resent:
            jql = f'project = "{follow_up.where}" AND labels = "{label}" ORDER BY created ASC'
            _, found = yield from self.call(
                "POST",
                f"{self.site}/rest/api/3/search/jql",
                {"jql": jql, "fields": ["status"], "maxResults": 1},
                what="issue search",
            )
            issues = found.get("issues") if isinstance(found, dict) else None
            if isinstance(issues, list) and issues and isinstance(issues[0], dict):
                return self._issue(issues[0])
        summary = no_controls(f"[{follow_up.incident_id}] {' '.join(follow_up.title.split())}")
        labels = (LABEL, incident_label(follow_up.incident_id), label, *follow_up.labels)
        _, created = yield from self.call(
            "POST",
            f"{self.site}/rest/api/3/issue",
            {
                "fields": {
                    "project": {"key": follow_up.where},
                    "issuetype": {"name": follow_up.issue_type},
                    "summary": summary[:_SUMMARY_MAX],
                    "labels": list(dict.fromkeys(labels)),
                    "description": description(follow_up),
                }
            },
            what="create issue",
            idempotent=False,
        )
        return self._issue(created)

    def _issue(self, data: object) -> TrackerIssue:
        key = data.get("key") if isinstance(data, dict) else None
        if not isinstance(key, str) or not key:
            msg = f"Jira: the answer is not an issue: {str(data)[:200]}"
            raise DeliveryError(msg)
        assert isinstance(data, dict)  # noqa: S101 - checked above
        return TrackerIssue(key=key, url=self._browse(key), closed=_done(data.get("fields")))

    def _read(self, issue: TrackerIssue) -> Any:
        _, found = yield from self.call(
            "GET", f"{self._issue_url(issue.key)}?fields=status", what="issue"
        )
        return self._issue(found)

    def close_steps(self, issue: TrackerIssue, comment: str) -> Any:
        """Comment, then transition to a done status; a done issue is left as it is."""
        now = yield from self._read(issue)
        if now.closed:
            return now
        url = self._issue_url(issue.key)
        yield from self.call(
            "POST", f"{url}/comment", {"body": _doc(comment)}, what="comment", idempotent=False
        )
        _, found = yield from self.call("GET", f"{url}/transitions", what="transitions")
        transitions = found.get("transitions") if isinstance(found, dict) else None
        done = next(
            (
                t
                for t in transitions or ()
                if isinstance(t, dict) and _done({"status": t.get("to")})
            ),
            None,
        )
        if done is None:
            msg = f"Jira: {issue.key} has no transition to a done status"
            raise DeliveryError(msg, permanent=True)
        yield from self.call(
            "POST", f"{url}/transitions", {"transition": {"id": str(done["id"])}}, what="transition"
        )
        return TrackerIssue(key=now.key, url=now.url, closed=True)

    def status_steps(self, issue: TrackerIssue) -> Any:
        """The issue as Jira has it now (done: in a status of the ``done`` category)."""
        return (yield from self._read(issue))


class JiraTracker(_Jira, BlockingTracker):
    """Opens each exported action item as a Jira Cloud issue, and closes it when settled here.

    Args:
        site: the site's URL (``https://acme.atlassian.net``; a proxy or a test server).
        email: the account the API token belongs to.
        api_token: an Atlassian API token (never shown).
        client: the HTTP client (timeouts, retries); one is made when omitted.

    The project is the policy's (``[tracker] project``). An issue's key is Jira's (``OPS-7``).
    """

    def __init__(
        self, site: str, email: str, api_token: str, *, client: HttpClient | None = None
    ) -> None:
        super().__init__(site, email, api_token, client=client)


class AsyncJiraTracker(_Jira, AwaitedTracker):
    """:class:`JiraTracker` on an :class:`AsyncHttpClient`: same arguments, awaited."""

    def __init__(
        self, site: str, email: str, api_token: str, *, client: AsyncHttpClient | None = None
    ) -> None:
        super().__init__(site, email, api_token, client=client)
