"""A Slack bot that runs the incident process: ``/incident ack|resolve|note ID [text]``.

    SLACK_BOT_TOKEN=xoxb-... SLACK_SIGNING_SECRET=... python examples/slack_bot.py --serve
    python examples/slack_bot.py          # demo: signed requests dispatched in-process

Built on Slack Bolt's asyncio app (``pip install 'incident-flow[slack]'``: slack_bolt and
aiohttp) and :class:`~incident_flow.AsyncIncidentFlow` on an ``AsyncSQLiteStore``, so no
command blocks the event loop. Bolt verifies every request's signature (``X-Slack-Signature``,
five-minute window) before a handler runs; a request Slack retries (``X-Slack-Retry-Num``) is
answered at once and processed once; a refused command answers the person with what is allowed
now instead of failing. ``--serve`` listens on ``PORT`` (3000) at ``/slack/events`` with aiohttp,
keeps incidents in ``INCIDENT_FLOW_DB`` (``incidents.db``) and runs ``run_worker_async`` beside
the web app (delivery retries, escalations, reminders).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
import sys
import tempfile
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import structlog
from aiohttp import web
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltRequest
from slack_bolt.authorization import AuthorizeResult

from incident_flow import (
    Alert,
    AsyncIncidentFlow,
    AsyncSQLiteStore,
    IncidentFlowError,
    RecordingNotifier,
    run_worker_async,
)

USAGE = "usage: /incident ack ID | resolve ID [summary] | note ID text"


class Once:
    """Remembers the last requests it saw, so a retried one is processed once.

    Safe without a lock: handlers share one event loop and ``first_time`` never awaits.
    """

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


def make_app(flow: AsyncIncidentFlow, *, token: str, signing_secret: str) -> AsyncApp:
    """The Bolt app: one slash command, ``/incident``."""

    async def authorize(
        enterprise_id: str | None, team_id: str | None, **_: Any
    ) -> AuthorizeResult:
        # One workspace, one bot token: no auth.test round trip on every request.
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=token)

    app = AsyncApp(signing_secret=signing_secret, authorize=authorize, process_before_response=True)
    once = Once()

    @app.command("/incident")
    async def incident(ack: AsyncAck, command: dict[str, Any], body: dict[str, Any]) -> None:
        key = str(body.get("trigger_id") or command.get("trigger_id") or "")
        if key and not once.first_time(key):
            await ack()  # Slack retried a request we already handled
            return
        words = (command.get("text") or "").split(maxsplit=2)
        who = str(command.get("user_name") or command.get("user_id") or "someone")
        if len(words) < 2:
            await ack(USAGE)
            return
        action, incident_id, rest = words[0], words[1], words[2] if len(words) > 2 else ""
        try:
            if action == "ack":
                done = await flow.acknowledge(incident_id, by=who)
            elif action == "resolve":
                done = await flow.resolve(incident_id, by=who, summary=rest)
            elif action == "note" and rest:
                done = await flow.note(incident_id, rest, by=who)
            else:
                await ack(USAGE)
                return
        except IncidentFlowError as exc:
            await ack(f"Refused: {exc}")
            return
        await ack(f"{done.id} is {done.state} ({action} by {who})")

    return app


def signed(secret: str, params: dict[str, str], retry: int | None = None) -> AsyncBoltRequest:
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
    return AsyncBoltRequest(body=body, headers=headers)


async def demo() -> None:
    """Open an incident, then drive it from 'Slack' with signed (and one forged) requests."""
    secret = "demo-signing-secret"  # noqa: S105 - a demo value
    with tempfile.TemporaryDirectory() as folder:
        async with await AsyncSQLiteStore.open(Path(folder) / "incidents.db") as store:
            flow = AsyncIncidentFlow(
                store=store, notifier=RecordingNotifier(), pager=RecordingNotifier()
            )
            incident = await flow.trigger(
                Alert(source="datadog", name="CheckoutDown", title="Checkout down", severity="P1")
            )
            app = make_app(flow, token="xoxb-demo", signing_secret=secret)  # noqa: S106
            await send_demo_requests(app, secret, incident.id)
            notes = [e for e in await flow.history(incident.id) if e.type == "NoteAdded"]
            state = (await flow.get(incident.id)).state
            print(f"{incident.id}: {state}, {len(notes)} note(s)")


async def send_demo_requests(app: AsyncApp, secret: str, incident_id: str) -> None:
    """Dispatch the demo's requests to ``app`` and print each answer."""
    base = {"command": "/incident", "user_id": "U1", "user_name": "alice"}

    def text(words: str, trigger_id: str) -> dict[str, str]:
        return {**base, "text": words, "trigger_id": trigger_id}

    requests = [
        ("ack", signed(secret, text(f"ack {incident_id}", "t1"))),
        ("retried ack", signed(secret, text(f"ack {incident_id}", "t1"), retry=1)),
        ("note", signed(secret, text(f"note {incident_id} rolling back", "t2"))),
        ("unknown id", signed(secret, text("ack inc-nope", "t3"))),
        ("resolve", signed(secret, text(f"resolve {incident_id} rolled back", "t4"))),
        ("forged", signed("not-the-secret", text(f"note {incident_id} x", "t5"))),
    ]
    for label, request in requests:
        response = await app.async_dispatch(request)
        print(f"{label:16} -> {response.status} {response.body or ''}")


async def serve() -> None:
    """Answer Slack at ``/slack/events`` on ``PORT`` until interrupted."""
    path = os.environ.get("INCIDENT_FLOW_DB", "incidents.db")
    async with await AsyncSQLiteStore.open(path) as store:
        flow = AsyncIncidentFlow(store=store)
        app = make_app(
            flow,
            token=os.environ["SLACK_BOT_TOKEN"],
            signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        )
        # Retries, escalations and reminders on the same loop as the web app.
        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker_async(flow, stop=stop))
        runner = web.AppRunner(app.web_app(path="/slack/events"))
        await runner.setup()
        try:
            port = int(os.environ.get("PORT", "3000"))
            await web.TCPSite(runner, port=port).start()
            print(f"listening on :{port}/slack/events (Ctrl-C stops)")
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()
            stop.set()
            await worker
            await flow.drain()  # commands whose requests were dropped finish their deliveries


async def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    await (serve() if "--serve" in sys.argv[1:] else demo())


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
