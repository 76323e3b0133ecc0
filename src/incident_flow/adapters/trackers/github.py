"""GitHubTracker: action items as GitHub issues (REST API; extra ``http``).

One issue per item, in the repository the policy's ``[tracker] repo`` names: its title is
``[<incident>] <item>``, its body links back to the incident, names the item and its owner,
says that the incident cannot close while the issue is open, and ends with the hidden marker
``<!-- incident_flow:item=<incident>/<item> -->``; it carries the label ``incident-flow``.

Nothing is opened twice: when an earlier attempt may have created the issue (the outbox says
``resent``: it failed without an answer, or its sender died), the repository's issues with
the label, updated since the export was decided, are read for the marker first (the list
endpoint, not the search API, whose index lags). Closing comments, then closes the issue as
completed; a closed issue is left as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import attrs

from ..._core.text import markdown_block, markdown_inline, quiet_mentions
from ..._core.trackers import LABEL, FollowUp, TrackerIssue, find_marker, marker
from ...exceptions import DeliveryError
from .._http import AsyncHttpClient, HttpClient, check_secret
from ._common import AwaitedTracker, BlockingTracker, TrackerAdapter

__all__ = ["API_URL", "AsyncGitHubTracker", "GitHubTracker", "issue_body", "issue_key"]

API_URL = "https://api.github.com"
_TITLE_MAX = 256
_PAGES = 5


def issue_key(repository: str, number: int) -> str:
    """The key of issue ``number`` of ``owner/name``: ``owner/name#number``."""
    return f"{repository}#{number}"


def _parse_key(key: str) -> tuple[str, int]:
    repository, _, number = key.rpartition("#")
    if repository.count("/") != 1 or not number.isdigit():
        msg = f"GitHub: {key!r} is not an issue key (owner/name#number)"
        raise DeliveryError(msg, permanent=True)
    return repository, int(number)


def issue_body(follow_up: FollowUp) -> str:
    """The issue's body: the item, its owner, the way back, and the marker (all escaped)."""
    f = follow_up
    link = f"\n\nIncident: {markdown_inline(f.link)}" if f.link else ""
    owner = f"\n\nOwner: {quiet_mentions(markdown_inline(f.owner))}" if f.owner else ""
    return (
        f"**{f.item_id}** of incident **{f.incident_id}** ({f.severity}): "
        f"{quiet_mentions(markdown_inline(f.incident_title))}"
        f"\n\n{quiet_mentions(markdown_block(f.title))}{owner}{link}"
        f"\n\nIncident {f.incident_id} cannot close while this issue is open: closing it "
        f"marks {f.item_id} done there. Opened by incident_flow."
        f"\n\n{marker(f.incident_id, f.item_id)}"
    )


class _GitHub(TrackerAdapter[Any]):
    """The GitHubTracker logic both classes share."""

    kind = "github"

    def __init__(self, token: str, *, api_url: str = API_URL, client: Any = None) -> None:
        if not token or not token.strip():
            msg = f"{type(self).__name__} needs a token"
            raise ValueError(msg)
        check_secret("token", token)
        self._token = token
        self.api_url = api_url.rstrip("/")
        super().__init__(client, token)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(token='***', api_url={self.api_url!r})"

    def headers(self) -> Mapping[str, str]:
        """GitHub's REST headers with the token."""
        return {
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }

    def _repo_url(self, repository: str) -> str:
        owner, _, name = repository.partition("/")
        return f"{self.api_url}/repos/{quote(owner)}/{quote(name)}"

    def open_steps(self, follow_up: FollowUp) -> Any:
        """Find the item's issue (when resent), else create it."""
        repository = follow_up.where
        if follow_up.resent:
            found = yield from self._find(follow_up)
            if found is not None:
                return found
        title = quiet_mentions(f"[{follow_up.incident_id}] {' '.join(follow_up.title.split())}")
        _, created = yield from self.call(
            "POST",
            f"{self._repo_url(repository)}/issues",
            {
                "title": title[:_TITLE_MAX],
                "body": issue_body(follow_up),
                "labels": list(dict.fromkeys((LABEL, *follow_up.labels))),
            },
            what="create issue",
            idempotent=False,
        )
        return _issue(repository, created)

    def _find(self, follow_up: FollowUp) -> Any:
        """The item's issue among the labelled ones updated since it was decided, or None."""
        wanted = (follow_up.incident_id, follow_up.item_id)
        since = ""
        if follow_up.since is not None:
            since = "&since=" + quote(follow_up.since.strftime("%Y-%m-%dT%H:%M:%SZ"))
        for page in range(1, _PAGES + 1):
            _, found = yield from self.call(
                "GET",
                f"{self._repo_url(follow_up.where)}/issues?state=all&labels={LABEL}"
                f"&per_page=100&page={page}{since}",
                what="issue lookup",
            )
            batch = [i for i in found if isinstance(i, dict)] if isinstance(found, list) else []
            for item in batch:
                if (
                    "pull_request" not in item
                    and find_marker(str(item.get("body") or "")) == wanted
                ):
                    return _issue(follow_up.where, item)
            if len(batch) < 100:
                return None
        return None

    def _read(self, issue: TrackerIssue) -> Any:
        repository, number = _parse_key(issue.key)
        _, found = yield from self.call(
            "GET", f"{self._repo_url(repository)}/issues/{number}", what="issue"
        )
        return _issue(repository, found), isinstance(found, dict) and found.get("state")

    def close_steps(self, issue: TrackerIssue, comment: str) -> Any:
        """Comment, then close as completed; a closed issue is left as it is."""
        now, state = yield from self._read(issue)
        if state == "closed":
            return attrs.evolve(now, closed=True)
        repository, number = _parse_key(issue.key)
        url = f"{self._repo_url(repository)}/issues/{number}"
        yield from self.call(
            "POST",
            f"{url}/comments",
            {"body": quiet_mentions(markdown_block(comment))},
            what="comment",
            idempotent=False,
        )
        _, closed = yield from self.call(
            "PATCH", url, {"state": "closed", "state_reason": "completed"}, what="close issue"
        )
        return _issue(repository, closed)

    def status_steps(self, issue: TrackerIssue) -> Any:
        """The issue as GitHub has it now (closed other than as completed reads open)."""
        now, _ = yield from self._read(issue)
        return now


def _issue(repository: str, data: object) -> TrackerIssue:
    if not isinstance(data, dict) or not isinstance(data.get("number"), int):
        msg = f"GitHub: the answer is not an issue: {str(data)[:200]}"
        raise DeliveryError(msg)
    closer = data.get("closed_by")
    login = closer.get("login") if isinstance(closer, dict) else None
    return TrackerIssue(
        key=issue_key(repository, data["number"]),
        url=str(data.get("html_url") or ""),
        # Closed as not planned is not the work done: the item stays open, to be waived here.
        closed=data.get("state") == "closed" and data.get("state_reason") in (None, "completed"),
        closed_by=str(login) if login else None,
    )


class GitHubTracker(_GitHub, BlockingTracker):
    """Opens each exported action item as a GitHub issue, and closes it when settled here.

    Args:
        token: a token that may create, comment on and close issues (never shown).
        api_url: the API base (GitHub Enterprise, a proxy, a test server).
        client: the HTTP client (timeouts, retries); one is made when omitted.

    The repository is the policy's (``[tracker] repo``): one token may serve several teams'
    repositories. An issue's key is ``owner/name#number``.
    """

    def __init__(
        self, token: str, *, api_url: str = API_URL, client: HttpClient | None = None
    ) -> None:
        super().__init__(token, api_url=api_url, client=client)


class AsyncGitHubTracker(_GitHub, AwaitedTracker):
    """:class:`GitHubTracker` on an :class:`AsyncHttpClient`: same arguments, awaited."""

    def __init__(
        self, token: str, *, api_url: str = API_URL, client: AsyncHttpClient | None = None
    ) -> None:
        super().__init__(token, api_url=api_url, client=client)
