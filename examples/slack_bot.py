"""A Slack bot that runs the incident process: ``/incident ack|resolve|note ID [text]``.

    SLACK_BOT_TOKEN=xoxb-... SLACK_SIGNING_SECRET=... python examples/slack_bot.py --serve
    python examples/slack_bot.py          # demo: signed requests dispatched in-process

Built on Slack Bolt (``pip install slack_bolt``). Bolt verifies every request's signature
(``X-Slack-Signature``, five-minute window) before a handler runs; a request Slack retries
(``X-Slack-Retry-Num``) is answered at once and processed once; a refused command answers the
person with what is allowed now instead of failing.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import sys
import time
from collections import OrderedDict
from typing import Any
from urllib.parse import urlencode

import structlog
from slack_bolt import Ack, App, BoltRequest
from slack_bolt.authorization import AuthorizeResult

from incident_flow import Alert, IncidentFlow, IncidentFlowError, RecordingNotifier, SQLiteStore

USAGE = "usage: /incident ack ID | resolve ID [summary] | note ID text"


class Once:
    """Remembers the last requests it saw, so a retried one is processed once."""

    def __init__(self, size: int = 10_000) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._size = size

    def first_time(self, key: str) -> bool:
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > self._size:
            self._seen.popitem(last=False)
        return True


def make_app(flow: IncidentFlow, *, token: str, signing_secret: str) -> App:
    """The Bolt app: one slash command, ``/incident``."""

    def authorize(enterprise_id: str | None, team_id: str | None, **_: Any) -> AuthorizeResult:
        # One workspace, one bot token: no auth.test round trip on every request.
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=token)

    app = App(signing_secret=signing_secret, authorize=authorize, process_before_response=True)
    once = Once()

    @app.command("/incident")
    def incident(ack: Ack, command: dict[str, Any], body: dict[str, Any]) -> None:
        key = str(body.get("trigger_id") or command.get("trigger_id") or "")
        if key and not once.first_time(key):
            ack()  # Slack retried a request we already handled
            return
        words = (command.get("text") or "").split(maxsplit=2)
        who = str(command.get("user_name") or command.get("user_id") or "someone")
        if len(words) < 2:
            ack(USAGE)
            return
        action, incident_id, rest = words[0], words[1], words[2] if len(words) > 2 else ""
        try:
            if action == "ack":
                done = flow.acknowledge(incident_id, by=who)
            elif action == "resolve":
                done = flow.resolve(incident_id, by=who, summary=rest)
            elif action == "note" and rest:
                done = flow.note(incident_id, rest, by=who)
            else:
                ack(USAGE)
                return
        except IncidentFlowError as exc:
            ack(f"Refused: {exc}")
            return
        ack(f"{done.id} is {done.state} ({action} by {who})")

    return app


def signed(secret: str, params: dict[str, str], retry: int | None = None) -> BoltRequest:
    """A slash-command request as Slack would send it, signed with ``secret``."""
    body = urlencode(params)
    timestamp = str(int(time.time()))
    base = f"v0:{timestamp}:{body}".encode()
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    headers = {
        "content-type": ["application/x-www-form-urlencoded"],
        "x-slack-request-timestamp": [timestamp],
        "x-slack-signature": [signature],
    }
    if retry is not None:
        headers["x-slack-retry-num"] = [str(retry)]
    return BoltRequest(body=body, headers=headers)


def demo() -> None:
    """Open an incident, then drive it from 'Slack' with signed (and one forged) requests."""
    secret = "demo-signing-secret"  # noqa: S105 - a demo value
    flow = IncidentFlow(notifier=RecordingNotifier(), pager=RecordingNotifier())
    incident = flow.trigger(
        Alert(source="datadog", name="CheckoutDown", title="Checkout down", severity="P1")
    )
    app = make_app(flow, token="xoxb-demo", signing_secret=secret)  # noqa: S106
    base = {"command": "/incident", "user_id": "U1", "user_name": "alice"}
    requests = [
        ("ack", signed(secret, {**base, "text": f"ack {incident.id}", "trigger_id": "t1"})),
        (
            "retried ack",
            signed(secret, {**base, "text": f"ack {incident.id}", "trigger_id": "t1"}, retry=1),
        ),
        (
            "note",
            signed(
                secret, {**base, "text": f"note {incident.id} rolling back", "trigger_id": "t2"}
            ),
        ),
        ("unknown id", signed(secret, {**base, "text": "ack inc-nope", "trigger_id": "t3"})),
        (
            "resolve",
            signed(
                secret, {**base, "text": f"resolve {incident.id} rolled back", "trigger_id": "t4"}
            ),
        ),
        (
            "forged",
            signed("not-the-secret", {**base, "text": f"note {incident.id} x", "trigger_id": "t5"}),
        ),
    ]
    for label, request in requests:
        response = app.dispatch(request)
        print(f"{label:16} -> {response.status} {response.body or ''}")
    notes = [e for e in flow.history(incident.id) if e.type == "NoteAdded"]
    print(f"{incident.id}: {flow.get(incident.id).state}, {len(notes)} note(s)")


def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if "--serve" not in sys.argv[1:]:
        demo()
        return
    flow = IncidentFlow(store=SQLiteStore(os.environ.get("INCIDENT_FLOW_DB", "incidents.db")))
    app = make_app(
        flow, token=os.environ["SLACK_BOT_TOKEN"], signing_secret=os.environ["SLACK_SIGNING_SECRET"]
    )
    app.start(port=int(os.environ.get("PORT", "3000")))


if __name__ == "__main__":
    main()
