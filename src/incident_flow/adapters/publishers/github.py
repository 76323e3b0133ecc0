"""GitHubPublisher: the post-mortem as a branch, a file and a pull request with reviewers."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from ..._core.text import markdown_inline, quiet_mentions
from ..._review.document import PostMortemDocument, Review, ReviewStatus
from ...exceptions import DeliveryError
from .._http import HttpClient, check_secret

__all__ = ["API_URL", "GitHubPublisher"]

API_URL = "https://api.github.com"
_BOT = ("incident-flow bot", "incident-flow@users.noreply.github.com")


class GitHubPublisher:
    """Keeps each post-mortem on a pull request, where it is reviewed, and merges it.

    ``publish`` (a post-mortem submitted for review): for incident ``inc-1``, the branch
    ``postmortem/inc-1`` (from ``base``), the file ``<folder>/<date>-inc-1-<title>.md`` on it,
    a pull request into ``base``, and review requests. Publishing again updates the same file
    and reuses the open pull request (an unchanged text makes no commit; reviewers already
    asked are not asked twice). ``review_status`` reads the pull request's reviews, whether it
    is merged or closed, and the file on its branch (what ``poll_reviews`` applies).
    ``merge`` merges the approved pull request into ``base``.

    Reviewers: the people the policy asked (``Policy.postmortem_review_pool``), as their GitHub
    logins in ``Policy.people`` (else ``logins``, else the name as it is), plus ``reviewers``
    (logins asked on every post-mortem). The author is never asked to review their own.

    Args:
        repository: ``owner/name``.
        token: a token that may push and open pull requests (never shown).
        api_url: the API base (GitHub Enterprise, a proxy, a test server).
        base: the branch to start from and to merge into.
        branch_prefix: prefix of the per-incident branch.
        reviewers: logins to request reviews from on every post-mortem.
        logins: incident_flow names -> GitHub logins (``Policy.people`` comes first).
        merge_method: ``merge``, ``squash`` or ``rebase``.
        committer: ``(name, email)`` of the commits.
        client: the HTTP client (timeouts, retries); one is made when omitted.

    Returns from ``publish``: the pull request's URL; from ``merge``: the file's URL on
    ``base``.
    """

    #: Post-mortems are reviewed on the pull request: its reviews are the approvals.
    review = "pull_request"

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
        merge_method: str = "merge",
    ) -> None:
        owner, _, name = repository.partition("/")
        if not owner or not name or "/" in name:
            msg = f"GitHubPublisher needs the repository as owner/name, got {repository!r}"
            raise ValueError(msg)
        if not token:
            msg = "GitHubPublisher needs a token"
            raise ValueError(msg)
        check_secret("token", token)
        if merge_method not in ("merge", "squash", "rebase"):
            msg = f"GitHubPublisher merge_method: merge, squash or rebase, not {merge_method!r}"
            raise ValueError(msg)
        self.merge_method = merge_method
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

    def _find_pull(self, branch: str, state: str = "open") -> dict[str, Any] | None:
        """The branch's newest pull request in ``state`` (``open``, ``all``), or None."""
        _, pulls = self._call(
            "GET",
            f"/pulls?head={quote(self.owner)}:{quote(branch)}&state={state}"
            "&sort=created&direction=desc",
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

    def _login(self, document: PostMortemDocument, name: str) -> str:
        return document.logins.get(name) or self.logins.get(name, name)

    def _request_reviews(
        self, document: PostMortemDocument, number: int, requested: set[str]
    ) -> None:
        wanted = [*self.reviewers, *(self._login(document, n) for n in document.reviewers)]
        author = document.author
        mine = self._login(document, author).casefold() if author else None
        asked = {login.casefold() for login in requested}
        new = [
            login
            for login in dict.fromkeys(wanted)
            if login.casefold() not in asked and login.casefold() != mine
        ]
        if new:
            self._call(
                "POST",
                f"/pulls/{number}/requested_reviewers",
                {"reviewers": new},
                what="request reviewers",
            )

    # ----------------------------------------------------------------- review and merge

    def _pull(self, document: PostMortemDocument) -> dict[str, Any]:
        """The post-mortem's newest pull request, in full (``merged``, ``merged_by``...)."""
        branch = f"{self.branch_prefix}{document.incident.id}"
        found = self._find_pull(branch, state="all")
        if found is None:
            msg = f"GitHub: no pull request for {branch} in {self.owner}/{self.name}"
            raise DeliveryError(msg, permanent=True)
        _, pull = self._call("GET", f"/pulls/{int(found['number'])}", what="pull request")
        if not isinstance(pull, dict):
            msg = f"GitHub: pull request #{found['number']} could not be read"
            raise DeliveryError(msg)
        return pull

    def _location(self, document: PostMortemDocument, pull: Mapping[str, Any]) -> str:
        """The post-mortem's URL on the base branch."""
        html = str(pull.get("html_url", ""))
        repository = html.rsplit("/pull/", 1)[0] if "/pull/" in html else ""
        if not repository:
            return f"{self.base}:{document.path}"
        return f"{repository}/blob/{quote(self.base)}/{quote(document.path)}"

    def merge(self, document: PostMortemDocument) -> str:
        """Merge the approved pull request into ``base``; return the file's URL there.

        A pull request merged already (by a person) is fine: its location is returned.

        Raises:
            DeliveryError: no pull request, closed unmerged (permanent), or GitHub would not
                merge it yet (branch protection, a conflict: retried).
        """
        pull = self._pull(document)
        number = int(pull["number"])
        if pull.get("merged") is True:
            return self._location(document, pull)
        if pull.get("state") == "closed":
            msg = f"GitHub: pull request #{number} was closed without merging"
            raise DeliveryError(msg, permanent=True)
        incident = document.incident
        status, answer = self._call(
            "PUT",
            f"/pulls/{number}/merge",
            {
                "merge_method": self.merge_method,
                "commit_title": quiet_mentions(f"Post-mortem {incident.id}: {incident.title}"),
                "sha": (pull.get("head") or {}).get("sha"),
            },
            what="merge the pull request",
            accept=(405, 409),
        )
        if status in (405, 409):
            said = answer.get("message") if isinstance(answer, dict) else None
            msg = f"GitHub would not merge pull request #{number}: {said or status}"
            raise DeliveryError(msg)
        return self._location(document, pull)

    def review_status(self, document: PostMortemDocument) -> ReviewStatus:
        """The pull request's reviews, merge or close, and the post-mortem on its branch."""
        branch = f"{self.branch_prefix}{document.incident.id}"
        pull = self._pull(document)
        number = int(pull["number"])
        reviews: list[Review] = []
        page = 1
        while True:
            _, found = self._call(
                "GET", f"/pulls/{number}/reviews?per_page=100&page={page}", what="reviews"
            )
            batch = [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []
            reviews += [r for r in (_review(item) for item in batch) if r is not None]
            if len(batch) < 100 or page >= 10:
                break
            page += 1
        merged = pull.get("merged") is True
        closed = pull.get("state") == "closed" and not merged
        closed_by = None
        if closed:
            _, issue = self._call("GET", f"/issues/{number}", what="pull request's issue")
            closed_by = _user(issue, "closed_by")
        return ReviewStatus(
            source="github",
            url=str(pull.get("html_url") or "") or None,
            reviews=tuple(reviews),
            merged=merged,
            merged_by=_user(pull, "merged_by"),
            location=self._location(document, pull) if merged else None,
            closed=closed,
            closed_by=closed_by,
            text=None if merged or closed else self._text(document, branch),
        )

    def _text(self, document: PostMortemDocument, branch: str) -> str | None:
        path = quote(document.path)
        status, found = self._call(
            "GET", f"/contents/{path}?ref={quote(branch)}", what="file lookup", accept=(404,)
        )
        if status == 404 or not isinstance(found, dict):
            return None
        raw = base64.b64decode(str(found.get("content", "")).replace("\n", ""))
        return raw.decode("utf-8", errors="replace")


def _user(holder: object, key: str) -> str | None:
    user = holder.get(key) if isinstance(holder, dict) else None
    login = user.get("login") if isinstance(user, dict) else None
    return str(login) if login else None


def _review(item: Mapping[str, Any]) -> Review | None:
    """One review of GitHub's list (its ``state`` in capitals: ``APPROVED``...)."""
    login = _user(item, "user")
    if login is None or item.get("id") is None:
        return None
    submitted = item.get("submitted_at")
    try:
        at = datetime.fromisoformat(str(submitted).replace("Z", "+00:00")) if submitted else None
    except ValueError:
        at = None
    return Review(
        id=str(item["id"]),
        reviewer=login,
        state=str(item.get("state", "")).lower(),
        at=at if at is None or at.tzinfo is not None else at.replace(tzinfo=UTC),
        text=str(item.get("body") or ""),
    )
