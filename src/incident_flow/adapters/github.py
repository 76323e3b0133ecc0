"""GitHubPublisher: the post-mortem as a branch, a file and a pull request with reviewers."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from .._postmortem import PostMortemDocument
from .._text import markdown_inline, quiet_mentions
from ..exceptions import DeliveryError
from ._http import HttpClient, check_secret

__all__ = ["API_URL", "GitHubPublisher"]

API_URL = "https://api.github.com"
_BOT = ("incident-flow bot", "incident-flow@users.noreply.github.com")


class GitHubPublisher:
    """Publishes each post-mortem through the GitHub REST API.

    For incident ``inc-1``: the branch ``postmortem/inc-1`` (from ``base``), the file
    ``<folder>/<date>-inc-1-<title>.md`` on it, a pull request into ``base``, and review
    requests. Publishing again updates the same file and reuses the open pull request (an
    unchanged text makes no commit; reviewers already asked are not asked twice).

    Reviewers: ``reviewers`` when given (GitHub logins), else the people who approved the
    post-mortem in incident_flow, mapped to logins with ``logins`` (names that map to nothing
    are used as they are). The author is never asked to review their own post-mortem.

    Args:
        repository: ``owner/name``.
        token: a token that may push and open pull requests (never shown).
        api_url: the API base (GitHub Enterprise, a proxy, a test server).
        base: the branch to start from and to merge into.
        branch_prefix: prefix of the per-incident branch.
        reviewers: logins to request reviews from, instead of the approvers.
        logins: incident_flow names -> GitHub logins.
        committer: ``(name, email)`` of the commits.
        client: the HTTP client (timeouts, retries); one is made when omitted.

    Returns from ``publish``: the pull request's URL.
    """

    def __init__(
        self,
        repository: str,
        token: str,
        *,
        api_url: str = API_URL,
        base: str = "main",
        branch_prefix: str = "postmortem/",
        reviewers: Sequence[str] = (),
        logins: Mapping[str, str] | None = None,
        committer: tuple[str, str] = (
            "incident-flow bot",
            "incident-flow@users.noreply.github.com",
        ),
        client: HttpClient | None = None,
    ) -> None:
        owner, _, name = repository.partition("/")
        if not owner or not name or "/" in name:
            msg = f"GitHubPublisher needs the repository as owner/name, got {repository!r}"
            raise ValueError(msg)
        if not token:
            msg = "GitHubPublisher needs a token"
            raise ValueError(msg)
        check_secret("token", token)
        self.owner, self.name = owner, name
        self._token = token
        self.api_url = api_url.rstrip("/")
        self.base = base
        self.branch_prefix = branch_prefix
        self.reviewers = tuple(reviewers)
        self.logins = dict(logins or {})
        self.committer = committer
        self._http = client if client is not None else HttpClient()
        self._http.redact.add(token)

    def __repr__(self) -> str:
        return f"GitHubPublisher('{self.owner}/{self.name}', token='***', base={self.base!r})"

    def _call(
        self,
        method: str,
        path: str,
        payload: Mapping[str, Any] | None = None,
        *,
        what: str,
        accept: Sequence[int] = (),
    ) -> tuple[int, Any]:
        response = self._http.request(
            method,
            f"{self.api_url}/repos/{self.owner}/{self.name}{path}",
            payload,
            {
                "Authorization": f"Bearer {self._token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            },
            what=f"GitHub {what}",
            accept=accept,
        )
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        return response.status_code, body

    def publish(self, document: PostMortemDocument) -> str:
        """Branch, commit, pull request, reviewers; return the pull request's URL."""
        incident = document.incident
        branch = f"{self.branch_prefix}{incident.id}"
        self._ensure_branch(branch)
        self._put_file(document, branch)
        number, url, requested = self._pull_request(document, branch)
        self._request_reviews(document, number, requested)
        return url

    def _ensure_branch(self, branch: str) -> None:
        status, _ = self._call(
            "GET", f"/git/ref/heads/{quote(branch)}", what="branch lookup", accept=(404,)
        )
        if status != 404:
            return
        status, base = self._call(
            "GET", f"/git/ref/heads/{quote(self.base)}", what="base branch lookup", accept=(404,)
        )
        if status == 404 or not isinstance(base, dict):
            msg = f"GitHub: no branch {self.base!r} in {self.owner}/{self.name}"
            raise DeliveryError(msg, permanent=True)
        sha = base.get("object", {}).get("sha")
        self._call(
            "POST",
            "/git/refs",
            {"ref": f"refs/heads/{branch}", "sha": sha},
            what="create branch",
            accept=(422,),
        )  # 422: it exists already (a race)

    def _put_file(self, document: PostMortemDocument, branch: str) -> None:
        text = document.render_markdown().encode()
        path = quote(document.path)
        status, existing = self._call(
            "GET", f"/contents/{path}?ref={quote(branch)}", what="file lookup", accept=(404,)
        )
        body: dict[str, Any] = {
            "message": quiet_mentions(
                f"postmortem: {document.incident.id} ({document.incident.title})"
            ),
            "content": base64.b64encode(text).decode(),
            "branch": branch,
            "committer": {"name": self.committer[0], "email": self.committer[1]},
        }
        if status != 404 and isinstance(existing, dict):
            current = base64.b64decode(str(existing.get("content", "")).replace("\n", ""))
            if current == text:
                return  # unchanged: no empty commit
            body["sha"] = existing.get("sha")
            body["message"] = f"postmortem: update {document.incident.id}"
        self._call("PUT", f"/contents/{path}", body, what="commit the post-mortem")

    def _find_pull(self, branch: str) -> dict[str, Any] | None:
        _, pulls = self._call(
            "GET",
            f"/pulls?head={quote(self.owner)}:{quote(branch)}&state=open",
            what="pull request lookup",
        )
        if isinstance(pulls, list) and pulls and isinstance(pulls[0], dict):
            return pulls[0]
        return None

    def _pull_request(self, document: PostMortemDocument, branch: str) -> tuple[int, str, set[str]]:
        pull = self._find_pull(branch)
        if pull is None:
            incident = document.incident
            # The title is outside text: no @-mention or #reference of it may notify anyone.
            title = quiet_mentions(markdown_inline(incident.title))
            body = (
                f"Post-mortem for **{incident.id}** ({incident.severity}): {title}."
                f"\n\nAdds `{document.path}`. Opened by incident_flow."
                # Reviews of this pull request come back as actions for the incident.
                f"\n\n<!-- incident_flow:incident={incident.id} -->"
            )
            status, created = self._call(
                "POST",
                "/pulls",
                {
                    "title": quiet_mentions(f"Post-mortem {incident.id}: {incident.title}"),
                    "head": branch,
                    "base": self.base,
                    "body": body,
                    "maintainer_can_modify": True,
                },
                what="open the pull request",
                accept=(422,),
            )
            pull = created if status != 422 else self._find_pull(branch)
            if not isinstance(pull, dict):
                msg = f"GitHub: could not open a pull request for {branch}: {created}"
                raise DeliveryError(msg, permanent=True)
        requested = {
            str(r.get("login"))
            for r in pull.get("requested_reviewers") or []
            if isinstance(r, dict)
        }
        return int(pull["number"]), str(pull["html_url"]), requested

    def _request_reviews(
        self, document: PostMortemDocument, number: int, requested: set[str]
    ) -> None:
        pm = document.incident.postmortem
        wanted = list(self.reviewers) or [
            self.logins.get(name, name) for name in (pm.approvals if pm else ())
        ]
        author = self.logins.get(pm.author, pm.author) if pm else None
        new = [
            login for login in dict.fromkeys(wanted) if login not in requested and login != author
        ]
        if new:
            self._call(
                "POST",
                f"/pulls/{number}/requested_reviewers",
                {"reviewers": new},
                what="request reviewers",
            )
