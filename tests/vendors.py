"""Local servers that answer like the vendors (on pytest-httpserver), with faults; fake sleeps.

Each keeps what it received and can be told to fail the next requests: a 429 with
Retry-After, a 500, or (Slack) ``{"ok": false}`` with HTTP 200.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

ROUTING_KEY = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
HOOK_SECRET = "hook-secret"  # noqa: S105 - a test key
TOKEN = "xoxb-1234-5678-abcdefghijklmnop"  # noqa: S105 - a fake token for a fake Slack
CHANNEL = "C08K3M5N7PQ"


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body), status=status, headers=headers, content_type="application/json"
    )


class Sleeps:
    """A fake sleep that records what it was asked to wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class AsyncSleeps(Sleeps):
    """The same fake for an async client: awaited, never waits."""

    async def __call__(self, seconds: float) -> None:  # type: ignore[override]
        self.waits.append(seconds)


class FakeVendor:
    """Shared fault queue: each entry answers one request instead of the vendor."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.faults: deque[Response] = deque()
        self.requests = 0

    def fail_next(self, response: Response, times: int = 1) -> None:
        for _ in range(times):
            self.faults.append(response)

    def _fault(self) -> Response | None:
        self.requests += 1
        return self.faults.popleft() if self.faults else None


class FakeSlack(FakeVendor):
    """``chat.postMessage`` / ``chat.update`` with a bot token, and one incoming webhook."""

    def __init__(self, server: HTTPServer, clock: Callable[[], float] = time.time) -> None:
        super().__init__(server)
        self.messages: list[dict[str, Any]] = []
        #: The channels the bot may post to (add a team's channel to post there).
        self.channels = {CHANNEL}
        self.edits: list[dict[str, Any]] = []
        self.hook: list[dict[str, Any]] = []
        self._ts = 1748959335.0012
        self._clock = clock
        #: While set and not released, posts hang (Slack not answering); serve the fake on a
        #: threaded server then, so the other vendors still answer.
        self.hold: threading.Event | None = None
        server.expect_request("/api/chat.postMessage", method="POST").respond_with_handler(
            self._post
        )
        server.expect_request("/api/chat.update", method="POST").respond_with_handler(self._update)
        server.expect_request("/services/T1/B2/secret", method="POST").respond_with_handler(
            self._webhook
        )
        for method in ("conversations.history", "conversations.replies"):
            server.expect_request(f"/api/{method}", method="GET").respond_with_handler(self._read)
        self.reads = 0
        self.views: list[dict[str, Any]] = []
        server.expect_request("/api/views.open", method="POST").respond_with_handler(self._view)
        # Direct messages: conversations.open answers as Slack documents it
        # (https://api.slack.com/methods/conversations.open: {"ok": true, "channel": {"id": ...}}).
        self.dms: dict[str, str] = {}
        server.expect_request("/api/conversations.open", method="POST").respond_with_handler(
            self._open
        )
        #: Channels by id as conversations.list shows them (the bot's own and others').
        self.conversations: dict[str, dict[str, Any]] = {}
        #: Who is in each channel (by id), as conversations.invite left it.
        self.members: dict[str, list[str]] = {}
        #: The bot's user id (``auth.test``); a channel it creates has it as ``creator``.
        self.bot_user = "U0BOT0001"
        #: The users conversations.invite knows (others: ``user_not_found``).
        self.users = {"U0ALICE01", "U0BOB0002", "U0CAROL03"}
        #: When set, conversations.create makes the channel and then answers this instead
        #: (the answer lost on its way back), as many times as there are entries.
        self.lose_create: deque[Response] = deque()
        #: Answers one method gives instead of doing its work (a refusal, a 500), in order.
        self.method_faults: dict[str, deque[Response]] = {}
        self.calls: list[str] = []
        for method, handler in (
            ("conversations.create", self._create),
            ("conversations.invite", self._invite),
            ("conversations.archive", self._archive),
            ("conversations.setPurpose", self._purpose),
            ("auth.test", self._auth_test),
        ):
            server.expect_request(f"/api/{method}", method="POST").respond_with_handler(handler)
        for method, handler in (
            ("conversations.list", self._list),
            ("conversations.info", self._info),
        ):
            server.expect_request(f"/api/{method}", method="GET").respond_with_handler(handler)

    @property
    def api_url(self) -> str:
        return self.server.url_for("/api")

    @property
    def webhook_url(self) -> str:
        return self.server.url_for("/services/T1/B2/secret")

    def _authorised(self, request: Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {TOKEN}"

    def _post(self, request: Request) -> Response:
        if self.hold is not None:
            self.hold.wait(30)
        fault = self._fault()
        if fault is not None:
            return fault
        if not self._authorised(request):
            return _json(200, {"ok": False, "error": "invalid_auth"})
        body = request.get_json()
        if (
            body.get("channel") not in self.channels
            and body.get("channel") not in self.dms.values()
        ):
            return _json(200, {"ok": False, "error": "channel_not_found"})
        if not body.get("text") and not body.get("blocks"):
            return _json(200, {"ok": False, "error": "no_text"})
        # Slack's ts is its clock when the message was posted (and unique in the channel).
        self._ts = max(self._ts + 0.0001, self._clock())
        ts = f"{self._ts:.6f}"
        self.messages.append({**body, "ts": ts})
        return _json(
            200,
            {
                "ok": True,
                "channel": body["channel"],
                "ts": ts,
                "message": {"type": "message", "ts": ts, "text": body.get("text")},
            },
        )

    def _update(self, request: Request) -> Response:
        fault = self._fault()
        if fault is not None:
            return fault
        body = request.get_json()
        if not any(m["ts"] == body.get("ts") for m in self.messages):
            return _json(200, {"ok": False, "error": "message_not_found"})
        self.edits.append(body)
        return _json(200, {"ok": True, "channel": CHANNEL, "ts": body["ts"]})

    def _open(self, request: Request) -> Response:
        fault = self._fault()
        if fault is not None:
            return fault
        if not self._authorised(request):
            return _json(200, {"ok": False, "error": "invalid_auth"})
        user = str(request.get_json().get("users", ""))
        if not re.fullmatch(r"[UW][A-Z0-9]{2,}", user):
            return _json(200, {"ok": False, "error": "user_not_found"})
        channel = self.dms.setdefault(user, f"D{len(self.dms) + 1:08d}")
        return _json(200, {"ok": True, "channel": {"id": channel}})

    # The conversations methods answer with the bodies of Slack's method pages
    # (https://api.slack.com/methods/conversations.create, .invite, .archive, .list, .info,
    # .setPurpose, auth.test; mirrored in github.com/aki017/slack-api-docs methods/*.md):
    # a conversation object for create, invite and info, ``{"ok": true}`` for archive, the
    # ``channels`` page and ``response_metadata.next_cursor`` for list; errors as ``ok:false``.

    def channel(
        self, name: str, *, creator: str = "U0SOMEONE", purpose: str = "", **more: Any
    ) -> dict[str, Any]:
        """Add a channel made by someone (``creator``) as Slack lists it; return it."""
        self._ts = max(self._ts + 0.0001, self._clock())
        channel_id = f"C{len(self.conversations) + 1:08d}X"
        conversation = {
            "id": channel_id,
            "name": name,
            "is_channel": True,
            "is_group": False,
            "is_im": False,
            "created": int(self._clock()),
            "creator": creator,
            "is_archived": False,
            "is_general": False,
            "unlinked": 0,
            "name_normalized": name,
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "pending_shared": [],
            "is_pending_ext_shared": False,
            "is_member": creator == self.bot_user,
            "is_private": False,
            "is_mpim": False,
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": purpose, "creator": creator if purpose else "", "last_set": 0},
            "previous_names": [],
            **more,
        }
        self.conversations[channel_id] = conversation
        self.members[channel_id] = [creator]
        if conversation["is_member"]:
            self.channels.add(channel_id)
        return conversation

    def named(self, name: str) -> dict[str, Any] | None:
        """The channel called ``name`` (None: there is none)."""
        return next((c for c in self.conversations.values() if c["name"] == name), None)

    def room_messages(self, channel_id: str) -> list[dict[str, Any]]:
        """What was posted in ``channel_id`` (top level and replies)."""
        return [m for m in self.messages if m.get("channel") == channel_id]

    def fail_method(self, method: str, response: Response, times: int = 1) -> None:
        """Answer ``method``'s next ``times`` calls with ``response`` (the others work)."""
        self.method_faults.setdefault(method, deque()).extend([response] * times)

    def _api(self, request: Request, method: str) -> Response | None:
        """The fault queues and the token, as every Web API method checks them first."""
        self.calls.append(method)
        fault = self._fault()
        if fault is not None:
            return fault
        own = self.method_faults.get(method)
        if own:
            return own.popleft()
        if not self._authorised(request):
            return _json(200, {"ok": False, "error": "invalid_auth"})
        return None

    def _create(self, request: Request) -> Response:  # noqa: PLR0911 - one answer per error
        refused = self._api(request, "conversations.create")
        if refused is not None:
            return refused
        name = str(request.get_json().get("name", ""))
        if not name:
            return _json(200, {"ok": False, "error": "invalid_name_required"})
        if len(name) > 80:
            return _json(200, {"ok": False, "error": "invalid_name_maxlength"})
        if not re.fullmatch(r"[a-z0-9_-]+", name):
            return _json(200, {"ok": False, "error": "invalid_name_specials"})
        if self.named(name) is not None:
            return _json(200, {"ok": False, "error": "name_taken"})
        made = self.channel(name, creator=self.bot_user)
        if self.lose_create:
            return self.lose_create.popleft()
        return _json(200, {"ok": True, "channel": made})

    def _known(
        self, request: Request, method: str
    ) -> tuple[dict[str, Any] | None, Response | None]:
        refused = self._api(request, method)
        if refused is not None:
            return None, refused
        args = request.get_json() if request.method == "POST" else request.args
        found = self.conversations.get(str(args.get("channel", "")))
        if found is None:
            return None, _json(200, {"ok": False, "error": "channel_not_found"})
        return found, None

    def _invite(self, request: Request) -> Response:  # noqa: PLR0911 - one answer per error
        found, refused = self._known(request, "conversations.invite")
        if found is None:
            return refused  # type: ignore[return-value]
        members = self.members[found["id"]]
        if self.bot_user not in members:
            return _json(200, {"ok": False, "error": "not_in_channel"})
        if found["is_archived"]:
            return _json(200, {"ok": False, "error": "is_archived"})
        users = [u for u in str(request.get_json().get("users", "")).split(",") if u]
        if not users:
            return _json(200, {"ok": False, "error": "invalid_arguments"})
        for user in users:
            if user == self.bot_user:
                return _json(200, {"ok": False, "error": "cant_invite_self"})
            if user not in self.users:
                return _json(200, {"ok": False, "error": "user_not_found"})
            if user in members:
                return _json(200, {"ok": False, "error": "already_in_channel"})
        members.extend(users)
        return _json(200, {"ok": True, "channel": found})

    def _archive(self, request: Request) -> Response:
        found, refused = self._known(request, "conversations.archive")
        if found is None:
            return refused  # type: ignore[return-value]
        if found["is_archived"]:
            return _json(200, {"ok": False, "error": "already_archived"})
        found["is_archived"] = True
        self.channels.discard(found["id"])
        return _json(200, {"ok": True})

    def _purpose(self, request: Request) -> Response:
        found, refused = self._known(request, "conversations.setPurpose")
        if found is None:
            return refused  # type: ignore[return-value]
        purpose = str(request.get_json().get("purpose", ""))
        if len(purpose) > 250:
            return _json(200, {"ok": False, "error": "too_long"})
        found["purpose"] = {"value": purpose, "creator": self.bot_user, "last_set": 1}
        return _json(200, {"ok": True, "purpose": purpose})

    def _auth_test(self, request: Request) -> Response:
        refused = self._api(request, "auth.test")
        if refused is not None:
            return refused
        return _json(
            200,
            {
                "ok": True,
                "url": "https://acme.slack.com/",
                "team": "Acme",
                "user": "incident-bot",
                "team_id": "T0ACME001",
                "user_id": self.bot_user,
                "bot_id": "B0BOT0001",
            },
        )

    def _list(self, request: Request) -> Response:
        refused = self._api(request, "conversations.list")
        if refused is not None:
            return refused
        found = list(self.conversations.values())
        if request.args.get("exclude_archived") == "true":
            found = [c for c in found if not c["is_archived"]]
        limit = int(request.args.get("limit") or 100)
        start = int(base64.b64decode(request.args.get("cursor") or "MA==").decode())
        more = start + limit < len(found)
        cursor = base64.b64encode(str(start + limit).encode()).decode() if more else ""
        page = found[start : start + limit]
        return _json(
            200, {"ok": True, "channels": page, "response_metadata": {"next_cursor": cursor}}
        )

    def _info(self, request: Request) -> Response:
        found, refused = self._known(request, "conversations.info")
        if found is None:
            return refused  # type: ignore[return-value]
        return _json(200, {"ok": True, "channel": found})

    def _view(self, request: Request) -> Response:
        fault = self._fault()
        if fault is not None:
            return fault
        if not self._authorised(request):
            return _json(200, {"ok": False, "error": "invalid_auth"})
        body = request.get_json()
        view = body.get("view") or {}
        if not body.get("trigger_id"):
            return _json(200, {"ok": False, "error": "invalid_trigger_id"})
        if len((view.get("title") or {}).get("text", "")) > 24:
            return _json(200, {"ok": False, "error": "invalid_arguments"})
        self.views.append(body)
        return _json(200, {"ok": True, "view": {"id": f"V{len(self.views):04d}", **view}})

    def latest(self, ts: str) -> dict[str, Any]:
        """The message with ``ts`` as it now reads (its last edit, else as posted)."""
        edits = [e for e in self.edits if e["ts"] == ts]
        return edits[-1] if edits else next(m for m in self.messages if m["ts"] == ts)

    def _webhook(self, request: Request) -> Response:
        fault = self._fault()
        if fault is not None:
            return fault
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not body.get("text"):
            return Response("invalid_payload", status=400)
        self.hook.append(body)
        return Response("ok", status=200, content_type="text/plain")

    def _read(self, request: Request) -> Response:
        self.reads += 1
        if not self._authorised(request):
            return _json(200, {"ok": False, "error": "invalid_auth"})
        parent = request.args.get("ts")
        if parent:
            found = [m for m in self.messages if m["ts"] == parent or m.get("thread_ts") == parent]
        else:
            channel = request.args.get("channel")
            found = [m for m in self.top_level() if channel in (None, m.get("channel"))]
        # As Slack pages (https://api.slack.com/methods/conversations.history): newest first,
        # ``limit`` a page (default 100), only after ``oldest``, ``next_cursor`` to go on.
        oldest = float(request.args.get("oldest") or 0)
        found = [m for m in reversed(found) if float(m["ts"]) > oldest]
        limit = int(request.args.get("limit") or 100)
        start = int(base64.b64decode(request.args.get("cursor") or "MA==").decode())
        page = found[start : start + limit]
        more = start + limit < len(found)
        cursor = base64.b64encode(str(start + limit).encode()).decode() if more else ""
        return _json(
            200,
            {
                "ok": True,
                "messages": page,
                "has_more": more,
                "response_metadata": {"next_cursor": cursor},
            },
        )

    def top_level(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if "thread_ts" not in m]

    def thread(self, ts: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("thread_ts") == ts]


class FakePagerDuty(FakeVendor):
    """The Events API v2: validates events, dedups by dedup_key, tracks each alert's state."""

    def __init__(self, server: HTTPServer) -> None:
        super().__init__(server)
        self.events: list[dict[str, Any]] = []
        self.alerts: dict[str, str] = {}
        self.triggers: dict[str, int] = {}
        server.expect_request("/v2/enqueue", method="POST").respond_with_handler(self._enqueue)

    @property
    def url(self) -> str:
        return self.server.url_for("/v2/enqueue")

    def _invalid(self, *errors: str) -> Response:
        return _json(
            400,
            {
                "status": "invalid event",
                "message": "Event object is invalid",
                "errors": list(errors),
            },
        )

    def _enqueue(self, request: Request) -> Response:  # noqa: PLR0911 - one answer per rule
        fault = self._fault()
        if fault is not None:
            return fault
        event = request.get_json(silent=True)
        if not isinstance(event, dict):
            return self._invalid("Event object must be JSON")
        if event.get("routing_key") != ROUTING_KEY:
            return self._invalid("'routing_key' is invalid")
        action = event.get("event_action")
        key = event.get("dedup_key")
        if action not in ("trigger", "acknowledge", "resolve"):
            return self._invalid("'event_action' is invalid")
        if action == "trigger":
            payload = event.get("payload") or {}
            missing = [f for f in ("summary", "source", "severity") if not payload.get(f)]
            if missing or payload.get("severity") not in ("critical", "error", "warning", "info"):
                return self._invalid(
                    *(f"'payload.{f}' is missing" for f in missing), "'payload.severity' is invalid"
                )
        elif not key:
            return self._invalid("'dedup_key' is missing")
        self.events.append(event)
        if action == "trigger":
            # While an alert with this key is open, a trigger only adds to it.
            if self.alerts.get(key) not in ("triggered", "acknowledged"):
                self.triggers[key] = self.triggers.get(key, 0) + 1
                self.alerts[key] = "triggered"
        elif key in self.alerts and self.alerts[key] != "resolved":
            self.alerts[key] = "acknowledged" if action == "acknowledge" else "resolved"
        return _json(202, {"status": "success", "message": "Event processed", "dedup_key": key})

    def actions(self, key: str) -> list[str]:
        return [e["event_action"] for e in self.events if e.get("dedup_key") == key]


TOO_MANY = Response(
    json.dumps({"ok": False, "error": "ratelimited"}),
    status=429,
    headers={"Retry-After": "1"},
    content_type="application/json",
)
TOO_MANY_LONG = Response("slow down", status=429, headers={"Retry-After": "120"})
SERVER_ERROR = Response("internal error", status=500)


GENIE_KEY = "eb243592-faa2-4ba2-a551q-1afdf565c889"


class FakeOpsgenie(FakeVendor):
    """The Alert API: create (alias dedup), acknowledge and close by alias; answers 202."""

    def __init__(self, server: HTTPServer) -> None:
        super().__init__(server)
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.alerts: dict[str, dict[str, Any]] = {}
        server.expect_request("/v2/alerts", method="POST").respond_with_handler(self._create)
        for action in ("acknowledge", "close"):
            server.expect_request(
                re.compile(rf"^/v2/alerts/[^/]+/{action}$"), method="POST"
            ).respond_with_handler(self._action)

    @property
    def url(self) -> str:
        return self.server.url_for("/").rstrip("/")

    def _check(self, request: Request) -> Response | None:
        fault = self._fault()
        if fault is not None:
            return fault
        if request.headers.get("Authorization") != f"GenieKey {GENIE_KEY}":
            return _json(401, {"message": "Could not authenticate", "took": 0.0})
        return None

    def _accepted(self) -> Response:
        return _json(
            202,
            {
                "result": "Request will be processed",
                "took": 0.01,
                "requestId": f"req-{len(self.calls)}",
            },
        )

    def _create(self, request: Request) -> Response:
        refused = self._check(request)
        if refused is not None:
            return refused
        body = request.get_json()
        if not body.get("message") or len(body["message"]) > 130:
            return _json(422, {"message": "Request body is not processable", "took": 0.0})
        self.calls.append(("create", body.get("alias", ""), body))
        alert = self.alerts.get(body.get("alias"))
        if alert is not None and alert["status"] == "open":
            alert["count"] += 1
        else:
            self.alerts[body.get("alias")] = {"status": "open", "count": 1, **body}
        return self._accepted()

    def _action(self, request: Request) -> Response:
        refused = self._check(request)
        if refused is not None:
            return refused
        if request.args.get("identifierType") != "alias":
            return _json(422, {"message": "identifierType must be alias", "took": 0.0})
        quoted, action = request.path.rsplit("/", 2)[-2:]
        alias = unquote(quoted)
        self.calls.append((action, alias, request.get_json()))
        if alias in self.alerts:
            self.alerts[alias]["status"] = "acked" if action == "acknowledge" else "closed"
        return self._accepted()


class FakeWebhookReceiver(FakeVendor):
    """Any HTTP endpoint that takes incident_flow's events."""

    def __init__(self, server: HTTPServer) -> None:
        super().__init__(server)
        self.received: list[tuple[dict[str, str], bytes]] = []
        server.expect_request("/hooks/incidents", method="POST").respond_with_handler(self._take)

    @property
    def url(self) -> str:
        return self.server.url_for("/hooks/incidents")

    def _take(self, request: Request) -> Response:
        fault = self._fault()
        if fault is not None:
            return fault
        self.received.append((dict(request.headers.items()), request.get_data()))
        return Response("", status=204)


_API_SAMPLES = Path(__file__).with_name("samples") / "github_api"


def _api_sample(name: str) -> Any:
    """A real GitHub REST response body from ``samples/github_api``."""
    return json.loads((_API_SAMPLES / name).read_text())


GITHUB_TOKEN = "ghp_0123456789abcdefghijABCDEFGHIJ012345"  # noqa: S105 - fake


class FakeGitHub(FakeVendor):
    """One repository: refs, files per branch (contents API), pull requests, review requests."""

    def __init__(self, server: HTTPServer, owner: str = "acme", repo: str = "runbooks") -> None:
        super().__init__(server)
        self.prefix = f"/repos/{owner}/{repo}"
        self.refs: dict[str, str] = {"main": "1acc419d4d6a9ce985db7be48c6349a0475975b5"}
        self.files: dict[str, dict[str, tuple[str, bytes]]] = {"main": {}}
        self.commits: list[tuple[str, str]] = []
        self.pulls: list[dict[str, Any]] = []
        self.commit_messages: list[str] = []
        self.review_requests: list[tuple[int, list[str]]] = []
        self.reviews: dict[int, list[dict[str, Any]]] = {}
        self.merge_calls: list[int] = []
        self.refuse_merge = False
        server.expect_request(re.compile(rf"^{self.prefix}/.*")).respond_with_handler(self._route)

    @property
    def api_url(self) -> str:
        return self.server.url_for("/").rstrip("/")

    def _route(self, request: Request) -> Response:  # noqa: PLR0911, PLR0912 - one answer per endpoint
        fault = self._fault()
        if fault is not None:
            return fault
        if request.headers.get("Authorization") != f"Bearer {GITHUB_TOKEN}":
            return _json(401, {"message": "Bad credentials"})
        path = unquote(request.path[len(self.prefix) :])
        method = request.method
        if method == "GET" and path.startswith("/git/ref/heads/"):
            branch = path.removeprefix("/git/ref/heads/")
            if branch not in self.refs:
                return _json(404, {"message": "Not Found"})
            return _json(200, {"ref": f"refs/heads/{branch}", "object": {"sha": self.refs[branch]}})
        if method == "POST" and path == "/git/refs":
            body = request.get_json()
            branch = body["ref"].removeprefix("refs/heads/")
            if branch in self.refs:
                return _json(422, {"message": "Reference already exists"})
            base = next(b for b, sha in self.refs.items() if sha == body["sha"])
            self.refs[branch] = body["sha"]
            self.files[branch] = dict(self.files[base])
            return _json(201, {"ref": body["ref"], "object": {"sha": body["sha"]}})
        if path.startswith("/contents/"):
            return self._contents(request, path.removeprefix("/contents/"))
        if method == "GET" and path == "/pulls":
            head = request.args.get("head", "").split(":", 1)[-1]
            state = request.args.get("state", "open")
            found = [
                p
                for p in reversed(self.pulls)  # newest first, as sort=created&direction=desc
                if p["head"]["ref"] == head and state in ("all", p["state"])
            ]
            return _json(200, found)
        if method == "POST" and path == "/pulls":
            body = request.get_json()
            if any(p["head"]["ref"] == body["head"] and p["state"] == "open" for p in self.pulls):
                return _json(
                    422,
                    {
                        "message": "Validation Failed",
                        "errors": [
                            {
                                "resource": "PullRequest",
                                "code": "custom",
                                "message": "A pull request already exists for "
                                f"acme:{body['head']}.",
                            }
                        ],
                    },
                )
            number = 318 + len(self.pulls)
            pull = {
                "number": number,
                "state": "open",
                "title": body["title"],
                "body": body.get("body", ""),
                "html_url": f"https://github.com/acme/runbooks/pull/{number}",
                "head": {"ref": body["head"]},
                "base": {"ref": body["base"]},
                "requested_reviewers": [],
            }
            self.pulls.append(pull)
            return _json(201, pull)
        if path.startswith(("/pulls/", "/issues/")):
            answer = self._pull_route(request, method, path)
            if answer is not None:
                return answer
        if method == "POST" and path.endswith("/requested_reviewers"):
            number = int(path.split("/")[2])
            pull = next(p for p in self.pulls if p["number"] == number)
            logins = request.get_json()["reviewers"]
            self.review_requests.append((number, logins))
            pull["requested_reviewers"] += [{"login": login} for login in logins]
            return _json(201, pull)
        return _json(404, {"message": "Not Found"})

    # ------------------------------------------------------------- reviews and merges
    # Answers are the real recorded bodies of ``samples/github_api`` (origins in its README),
    # with this repository's numbers, logins and branches put in.

    def _full(self, pull: dict[str, Any]) -> dict[str, Any]:
        full = copy.deepcopy(_api_sample("pull_get.json"))
        full.update({k: v for k, v in pull.items() if k not in ("head", "base")})
        full["head"].update(ref=pull["head"]["ref"], sha=self.refs.get(pull["head"]["ref"]))
        full["base"].update(ref=pull["base"]["ref"], sha=self.refs.get(pull["base"]["ref"]))
        full["base"]["repo"]["html_url"] = "https://github.com/acme/runbooks"
        full["merged"] = pull.get("merged", False)
        full["merged_by"] = pull.get("merged_by")
        full["mergeable"] = None if full["merged"] else True
        return full

    def _pull_route(  # noqa: PLR0911 - one answer per endpoint
        self, request: Request, method: str, path: str
    ) -> Response | None:
        parts = path.strip("/").split("/")
        number = int(parts[1])
        pull = next((p for p in self.pulls if p["number"] == number), None)
        if pull is None:
            return _json(404, {"message": "Not Found"})
        rest = parts[2:]
        if parts[0] == "issues" and method == "GET" and not rest:
            issue = copy.deepcopy(_api_sample("issue_get_closed_pr.json"))
            issue.update(number=number, state=pull["state"])
            issue["closed_by"] = pull.get("closed_by")
            return _json(200, issue)
        if method == "GET" and not rest:
            return _json(200, self._full(pull))
        if method == "GET" and rest == ["reviews"]:
            page = int(request.args.get("page", "1"))
            size = int(request.args.get("per_page", "30"))
            items = self.reviews.get(number, [])
            return _json(200, items[(page - 1) * size : page * size])
        if method == "PUT" and rest == ["merge"]:
            self.merge_calls.append(number)
            if self.refuse_merge or pull["state"] != "open":
                return _json(405, _api_sample("pull_merge_405.json"))
            self._merge(pull, "incident-flow-bot")
            answer = dict(_api_sample("pull_merge_200.json"))
            answer["sha"] = self.refs[pull["base"]["ref"]]
            return _json(200, answer)
        return None

    def _merge(self, pull: dict[str, Any], login: str) -> None:
        import hashlib

        base, head = pull["base"]["ref"], pull["head"]["ref"]
        self.files[base].update(self.files[head])
        self.commits.append((base, f"Merge pull request #{pull['number']}"))
        self.refs[base] = hashlib.sha1(f"merge{len(self.commits)}".encode()).hexdigest()  # noqa: S324
        pull.update(state="closed", merged=True, merged_by={"login": login})

    def pull_for(self, incident_id: str) -> dict[str, Any]:
        """The newest pull request of the incident's branch."""
        return next(
            p for p in reversed(self.pulls) if p["head"]["ref"] == f"postmortem/{incident_id}"
        )

    def review(self, number: int, login: str, state: str, body: str = "") -> dict[str, Any]:
        """A person reviews on GitHub (``APPROVED``, ``CHANGES_REQUESTED``, ``COMMENTED``)."""
        item = copy.deepcopy(_api_sample("pull_reviews.json")[0])
        reviews = self.reviews.setdefault(number, [])
        item.update(
            id=28482091 + len(self.pulls) * 1000 + len(reviews),
            body=body,
            state=state,
            submitted_at=f"2025-03-04T12:{len(reviews):02d}:00Z",
        )
        item["user"]["login"] = login
        reviews.append(item)
        return item

    def dismiss(self, number: int, review_id: int) -> None:
        """A maintainer dismisses a review: GitHub lists it as ``DISMISSED`` from then on."""
        for item in self.reviews.get(number, []):
            if item["id"] == review_id:
                item["state"] = "DISMISSED"

    def push(self, branch: str, path: str, text: str, message: str = "edit") -> None:
        """A person pushes a commit that changes ``path`` on ``branch``."""
        import hashlib

        content = text.encode()
        self.files[branch][path] = (hashlib.sha1(content).hexdigest(), content)  # noqa: S324
        self.commits.append((branch, message))
        self.refs[branch] = hashlib.sha1(f"{branch}{len(self.commits)}".encode()).hexdigest()  # noqa: S324

    def close(self, number: int, login: str) -> None:
        """A person closes the pull request without merging."""
        pull = next(p for p in self.pulls if p["number"] == number)
        pull.update(state="closed", closed_by={"login": login})

    def merge_by_hand(self, number: int, login: str) -> None:
        """A person presses Merge on GitHub."""
        self._merge(next(p for p in self.pulls if p["number"] == number), login)

    def _contents(self, request: Request, path: str) -> Response:
        import hashlib

        if request.method == "GET":
            branch = request.args.get("ref", "main")
            entry = self.files.get(branch, {}).get(path)
            if entry is None:
                return _json(404, {"message": "Not Found"})
            sha, content = entry
            return _json(
                200, {"path": path, "sha": sha, "content": base64.encodebytes(content).decode()}
            )
        body = request.get_json()
        branch = body["branch"]
        self.commit_messages.append(body.get("message", ""))
        existing = self.files[branch].get(path)
        if existing is not None and body.get("sha") != existing[0]:
            return _json(409, {"message": f"{path} does not match {body.get('sha')}"})
        content = base64.b64decode(body["content"])
        sha = hashlib.sha1(content).hexdigest()  # noqa: S324 - git's blob ids are sha1
        self.files[branch][path] = (sha, content)
        self.commits.append((branch, body["message"]))
        tip = f"{branch}{len(self.commits)}".encode()
        self.refs[branch] = hashlib.sha1(tip).hexdigest()  # noqa: S324 - a fake commit id
        return _json(
            200 if existing else 201,
            {"content": {"path": path, "sha": sha}, "commit": {"sha": self.refs[branch]}},
        )


class FakeTwilio(FakeVendor):
    """Twilio's Messages API: create (form-encoded, basic auth) and list.

    Answers with the message resource as Twilio's documentation shows it (the create example
    response at https://www.twilio.com/docs/messaging/api/message-resource, also quoted in
    Ri-Hong/ASL-to-Text index.js), and errors as ``{code, message, more_info, status}``.
    """

    SID = "AC0123456789abcdef0123456789abcdef"
    AUTH_TOKEN = "twilio-auth-token-1"  # noqa: S105 - a fake token for a fake Twilio
    FROM = "+15017122661"

    def __init__(self, server: HTTPServer) -> None:
        super().__init__(server)
        self.sent: list[dict[str, Any]] = []
        path = f"/2010-04-01/Accounts/{self.SID}/Messages.json"
        server.expect_request(path, method="POST").respond_with_handler(self._create)
        server.expect_request(path, method="GET").respond_with_handler(self._list)

    @property
    def api_url(self) -> str:
        return self.server.url_for("").rstrip("/")

    def _authorised(self, request: Request) -> bool:
        import base64

        expected = base64.b64encode(f"{self.SID}:{self.AUTH_TOKEN}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    def _error(self, status: int, code: int, message: str) -> Response:
        more = f"https://www.twilio.com/docs/errors/{code}"
        return _json(
            status, {"code": code, "message": message, "more_info": more, "status": status}
        )

    def _create(self, request: Request) -> Response:
        fault = self._fault()
        if fault is not None:
            return fault
        if not self._authorised(request):
            return self._error(401, 20003, "Authenticate")
        form = request.form
        to = form.get("To", "")
        if not re.fullmatch(r"\+[1-9]\d{6,14}", to):
            return self._error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if form.get("From") != self.FROM:
            return self._error(400, 21606, "The From phone number is not a valid Twilio number.")
        sid = f"SM{len(self.sent) + 1:032x}"
        message = {
            "account_sid": self.SID,
            "api_version": "2010-04-01",
            "body": form.get("Body", ""),
            "date_created": "Thu, 30 Jul 2015 20:12:31 +0000",
            "date_sent": None,
            "date_updated": "Thu, 30 Jul 2015 20:12:31 +0000",
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": self.FROM,
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {
                "media": f"/2010-04-01/Accounts/{self.SID}/Messages/{sid}/Media.json"
            },
            "to": to,
            "uri": f"/2010-04-01/Accounts/{self.SID}/Messages/{sid}.json",
        }
        self.sent.append(message)
        return _json(201, message)

    def _list(self, request: Request) -> Response:
        if not self._authorised(request):
            return self._error(401, 20003, "Authenticate")
        to = request.args.get("To")
        found = [m for m in self.sent if m["to"] == to]
        return _json(200, {"messages": list(reversed(found)), "page": 0, "page_size": 50})
