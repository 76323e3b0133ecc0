"""Local servers that answer like GitHub Issues and Jira Cloud (on pytest-httpserver).

Origins of the bodies:
- GitHub: every issue answered is the real recorded body of ``samples/github_api/
  issue_get_closed.json`` (PyGithub ReplayData, see its README) with this repository's
  number, title, body, labels, state and URLs put in; the ``issues`` webhook body is
  ``samples/actions/github_issues_reopened.json`` (octokit/webhooks) turned into a close.
- Jira: the shapes of Atlassian's REST v3 reference examples (create issue ``{id, key,
  self}``; get issue ``fields.status.statusCategory``; get transitions ``{expand,
  transitions: [{id, name, to: {statusCategory}}]}``; ``POST /rest/api/3/search/jql``
  ``{issues, isLast}``; add comment); the status objects are those of zulip's recorded Jira
  webhook ``samples/actions/jira_issue_updated_status.json``. The webhook is that file with
  the status moved to Done.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.vendors import GITHUB_TOKEN, FakeVendor

SAMPLES = Path(__file__).with_name("samples")
JIRA_EMAIL = "bot@acme.example"
JIRA_TOKEN = "ATATT3xFfGF0jira-api-token-0123456789"  # noqa: S105 - fake
HOOK_SECRET = "tracker-hook-secret"  # noqa: S105 - a test key


def _json(status: int, body: Any) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _sample(path: str) -> Any:
    return json.loads((SAMPLES / path).read_text())


class FakeGitHubIssues(FakeVendor):
    """One repository's issues: create, list (labels, state, since, pages), get, close, comment."""

    def __init__(self, server: HTTPServer, repository: str = "acme/ops") -> None:
        super().__init__(server)
        self.repository = repository
        self.prefix = f"/repos/{repository}/issues"
        self.issues: list[dict[str, Any]] = []
        self.comments: dict[int, list[str]] = {}
        self.created = 0
        self.lose_answers = 0
        server.expect_request(re.compile(rf"^{self.prefix}.*")).respond_with_handler(self._route)

    @property
    def api_url(self) -> str:
        return self.server.url_for("/").rstrip("/")

    def _issue(self, number: int, title: str, body: str, labels: list[str]) -> dict[str, Any]:
        issue = copy.deepcopy(_sample("github_api/issue_get_closed.json"))
        api = f"https://api.github.com/repos/{self.repository}"
        issue.update(
            url=f"{api}/issues/{number}",
            repository_url=api,
            html_url=f"https://github.com/{self.repository}/issues/{number}",
            number=number,
            title=title,
            body=body,
            labels=[{"name": name} for name in labels],
            state="open",
            state_reason=None,
            closed_at=None,
            closed_by=None,
            comments=0,
            created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        issue["user"]["login"] = "incident-flow-bot"
        return issue

    def _route(self, request: Request) -> Response:  # noqa: PLR0911 - one answer per endpoint
        fault = self._fault()
        if fault is not None:
            return fault
        if request.headers.get("Authorization") != f"Bearer {GITHUB_TOKEN}":
            return _json(401, {"message": "Bad credentials"})
        path = unquote(request.path[len(self.prefix) :])
        if request.method == "POST" and path == "":
            body = request.get_json()
            number = len(self.issues) + 1
            issue = self._issue(number, body["title"], body.get("body", ""), body.get("labels", []))
            self.issues.append(issue)
            self.created += 1
            if self.lose_answers:
                self.lose_answers -= 1
                return _json(502, {"message": "Server Error"})  # created, answer lost
            return _json(201, issue)
        if request.method == "GET" and path == "":
            wanted = set(filter(None, request.args.get("labels", "").split(",")))
            state = request.args.get("state", "open")
            page, per = int(request.args.get("page", 1)), int(request.args.get("per_page", 30))
            found = [
                i
                for i in reversed(self.issues)
                if wanted <= {label["name"] for label in i["labels"]}
                and state in ("all", i["state"])
            ]
            return _json(200, found[(page - 1) * per : page * per])
        match = re.fullmatch(r"/(\d+)(/comments)?", path)
        issue = None
        if match:
            issue = next((i for i in self.issues if i["number"] == int(match.group(1))), None)
        if issue is None:
            return _json(404, {"message": "Not Found"})
        if match and match.group(2):
            self.comments.setdefault(issue["number"], []).append(request.get_json()["body"])
            issue["comments"] += 1
            return _json(201, {"id": 1, "body": request.get_json()["body"]})
        if request.method == "PATCH":
            changes = request.get_json()
            if changes.get("state") == "closed" and issue["state"] != "closed":
                self.close_there(issue["number"], "incident-flow-bot")
            return _json(200, issue)
        return _json(200, issue)

    def close_there(
        self, number: int, login: str = "octocat", reason: str = "completed"
    ) -> dict[str, Any]:
        """Close issue ``number`` as a person in GitHub does (as ``completed``, or not)."""
        issue = next(i for i in self.issues if i["number"] == number)
        issue.update(
            state="closed",
            state_reason=reason,
            closed_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            closed_by={"login": login},
        )
        return issue

    def webhook(self, number: int, *, repository: str | None = None) -> bytes:
        """The ``issues`` webhook (action closed) GitHub sends for issue ``number``."""
        payload = _sample("actions/github_issues_reopened.json")
        issue = next(i for i in self.issues if i["number"] == number)
        payload["action"] = "closed"
        payload["issue"].update(
            {k: issue[k] for k in ("number", "title", "body", "state", "html_url", "closed_at")}
        )
        payload["issue"]["state_reason"] = issue["state_reason"]
        payload["repository"]["full_name"] = repository or self.repository
        payload["sender"]["login"] = (issue.get("closed_by") or {}).get("login", "octocat")
        return json.dumps(payload).encode()


def github_headers(body: bytes, secret: str = HOOK_SECRET, delivery: str = "d-1") -> dict[str, str]:
    """The headers GitHub sends with an ``issues`` delivery, signed with ``secret``."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": f"sha256={digest}",
        "Content-Type": "application/json",
    }


_TODO = {"self": "", "id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"}
_DONE = {"self": "", "id": 3, "key": "done", "colorName": "green", "name": "Done"}


def _status(name: str, category: dict[str, Any]) -> dict[str, Any]:
    return {"self": "", "description": "", "iconUrl": "", "name": name, "id": "1"} | {
        "statusCategory": category
    }


class FakeJira(FakeVendor):
    """One Jira Cloud site: create, search (JQL on labels), get, comment, transitions."""

    def __init__(self, server: HTTPServer) -> None:
        super().__init__(server)
        self.issues: dict[str, dict[str, Any]] = {}
        self.comments: dict[str, list[Any]] = {}
        self.lose_answers = 0
        self.no_done = False
        server.expect_request(re.compile(r"^/rest/api/3/.*")).respond_with_handler(self._route)

    @property
    def site(self) -> str:
        return self.server.url_for("/").rstrip("/")

    def _authorised(self, request: Request) -> bool:
        token = base64.b64encode(f"{JIRA_EMAIL}:{JIRA_TOKEN}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {token}"

    def _route(self, request: Request) -> Response:  # noqa: PLR0911 - one answer per endpoint
        fault = self._fault()
        if fault is not None:
            return fault
        if not self._authorised(request):
            return Response("Client must be authenticated to access this resource.", status=401)
        path = unquote(request.path)
        if request.method == "POST" and path == "/rest/api/3/issue":
            fields = request.get_json()["fields"]
            key = f"{fields['project']['key']}-{len(self.issues) + 1}"
            self.issues[key] = {
                "id": str(10000 + len(self.issues)),
                "key": key,
                "self": f"{self.site}/rest/api/3/issue/{10000 + len(self.issues)}",
                "fields": fields | {"status": _status("To Do", _TODO)},
            }
            if self.lose_answers:
                self.lose_answers -= 1
                return Response("upstream timeout", status=504)
            issue = self.issues[key]
            return _json(201, {"id": issue["id"], "key": key, "self": issue["self"]})
        if request.method == "POST" and path == "/rest/api/3/search/jql":
            jql = request.get_json()["jql"]
            label = re.search(r'labels = "([^"]+)"', jql)
            found = [
                {"id": i["id"], "key": i["key"], "self": i["self"], "fields": i["fields"]}
                for i in self.issues.values()
                if label is not None and label.group(1) in i["fields"].get("labels", [])
            ]
            return _json(200, {"issues": found, "isLast": True})
        match = re.fullmatch(r"/rest/api/3/issue/([A-Z]+-\d+)(/comment|/transitions)?", path)
        issue = self.issues.get(match.group(1)) if match else None
        if issue is None or match is None:
            return _json(404, {"errorMessages": ["Issue does not exist"], "errors": {}})
        if match.group(2) == "/comment":
            self.comments.setdefault(issue["key"], []).append(request.get_json()["body"])
            return _json(201, {"id": "10001", "body": request.get_json()["body"]})
        if match.group(2) == "/transitions" and request.method == "GET":
            return _json(
                200,
                {
                    "expand": "transitions",
                    "transitions": [
                        {"id": "11", "name": "To Do", "to": _status("To Do", _TODO)},
                        *(
                            []
                            if self.no_done
                            else [{"id": "31", "name": "Done", "to": _status("Done", _DONE)}]
                        ),
                    ],
                },
            )
        if match.group(2) == "/transitions":
            if request.get_json()["transition"]["id"] != "31":
                return _json(400, {"errorMessages": ["no such transition"], "errors": {}})
            issue["fields"]["status"] = _status("Done", _DONE)
            return Response(status=204)
        return _json(
            200,
            {"id": issue["id"], "key": issue["key"], "self": issue["self"]}
            | {"fields": {"status": issue["fields"]["status"]}},
        )

    def close_there(self, key: str) -> None:
        """Move issue ``key`` to Done as a person in Jira does."""
        self.issues[key]["fields"]["status"] = _status("Done", _DONE)

    def webhook(self, key: str) -> bytes:
        """The ``jira:issue_updated`` webhook Jira sends when ``key`` moved to Done."""
        payload = _sample("actions/jira_issue_updated_status.json")
        issue = self.issues[key]
        payload["issue"]["key"] = key
        payload["issue"]["fields"]["labels"] = issue["fields"]["labels"]
        payload["issue"]["fields"]["status"] = issue["fields"]["status"]
        payload["changelog"]["items"][0].update(fromString="To Do", toString="Done", to="3")
        return json.dumps(payload).encode()


def jira_headers(body: bytes, secret: str = HOOK_SECRET, delivery: str = "j-1") -> dict[str, str]:
    """The headers Jira Cloud sends with a webhook registered with ``secret``."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-Hub-Signature": f"sha256={digest}",
        "X-Atlassian-Webhook-Identifier": delivery,
        "Content-Type": "application/json",
    }
