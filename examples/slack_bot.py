"""A Slack bot that runs the incident process: buttons, forms and ``/incident``.

    SLACK_BOT_TOKEN=xoxb-... SLACK_SIGNING_SECRET=... SLACK_CHANNEL=C0... \
        python examples/slack_bot.py --serve
    python examples/slack_bot.py          # demo: signed requests dispatched in-process

Built on Slack Bolt's asyncio app (``pip install 'incident-flow[slack]'``: slack_bolt and
aiohttp) and :class:`~incident_flow.AsyncIncidentFlow` on an ``AsyncSQLiteStore``, so no
command blocks the event loop. Every incident's first message carries buttons (Acknowledge,
Start runbook, Resolve, Add note); Resolve and Add note open a form; ``/incident ack|runbook|
resolve|note|escalate|reopen|sev ID [text]`` does the same by text. Each request becomes
:class:`~incident_flow.Action` s (``ingest.actions("slack", body)``) applied with
``flow.apply``: who pressed is mapped through the policy's ``people``, a repeated request is
applied once, and what the incident no longer allows is recorded and answered, never an error.
Bolt verifies every request's signature (``X-Slack-Signature``, five-minute window) before a
handler runs.

With ``INCIDENT_FLOW_CONFIG`` set (the service's configuration file, see docs/server.md),
``--serve`` runs on the configured store, Slack, pager and publisher. Without it,
``--serve`` posts with the real notifiers: ``AsyncSlackNotifier`` to ``SLACK_CHANNEL``, and
``AsyncPagerDutyPager`` when ``PAGERDUTY_ROUTING_KEY`` is set (an ack pressed in Slack is
mirrored to PagerDuty). It listens on ``PORT`` (3000) at ``/slack/events`` (set it as the
Interactivity and the ``/incident`` URL), keeps incidents in ``INCIDENT_FLOW_DB``
(``incidents.db``), reads the policy from ``INCIDENT_FLOW_POLICY`` when set, and runs
``run_worker_async`` beside the web app (delivery retries, escalations, reminders).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import re
import sys
import tempfile
import time
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
    AsyncPagerDutyPager,
    AsyncSlackNotifier,
    AsyncSQLiteStore,
    IncidentFlowError,
    InvalidPayload,
    LogNotifier,
    Person,
    Policy,
    RecordingNotifier,
    ingest,
    run_worker_async,
)

OURS = re.compile(r"^incident_flow:")


async def answer(flow: AsyncIncidentFlow, body: dict[str, Any]) -> str:
    """Apply what the request asks; say what became of it (for the person who asked)."""
    try:
        said = []
        for action in ingest.actions("slack", body):
            done = await flow.apply(action)
            said.append(f"{done.id} is {done.state}")
    except InvalidPayload as exc:
        return str(exc)  # a mistyped /incident: its usage
    except IncidentFlowError as exc:
        return f"Refused: {exc}"
    return "; ".join(said) or "nothing to do"


def make_app(
    flow: AsyncIncidentFlow,
    notifier: AsyncSlackNotifier | None,
    *,
    token: str,
    signing_secret: str,
) -> AsyncApp:
    """The Bolt app: ``/incident``, our buttons and our forms."""

    async def authorize(
        enterprise_id: str | None, team_id: str | None, **_: Any
    ) -> AuthorizeResult:
        # One workspace, one bot token: no auth.test round trip on every request.
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=token)

    app = AsyncApp(signing_secret=signing_secret, authorize=authorize, process_before_response=True)

    @app.command("/incident")
    async def command(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack(await answer(flow, body))

    @app.action(OURS)
    async def pressed(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        if notifier is not None and await notifier.open_form(body):
            return  # Resolve or Add note: the form is open; its submission is the action
        await answer(flow, body)

    @app.view(OURS)
    async def submitted(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await answer(flow, body)

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
    policy = Policy(people=[Person(name="alice", slack="U1"), Person(name="bob", slack="U2")])
    with tempfile.TemporaryDirectory() as folder:
        async with await AsyncSQLiteStore.open(Path(folder) / "incidents.db") as store:
            flow = AsyncIncidentFlow(
                policy, store=store, notifier=RecordingNotifier(), pager=RecordingNotifier()
            )
            incident = await flow.trigger(
                Alert(source="datadog", name="CheckoutDown", title="Checkout down", severity="P1")
            )
            app = make_app(flow, None, token="xoxb-demo", signing_secret=secret)  # noqa: S106
            await send_demo_requests(app, secret, incident.id)
            history = await flow.history(incident.id)
            notes = [e for e in history if e.type == "NoteAdded"]
            acked = (await flow.get(incident.id)).acknowledged_by
            state = (await flow.get(incident.id)).state
            print(f"{incident.id}: {state}, acknowledged by {acked}, {len(notes)} note(s)")


async def send_demo_requests(app: AsyncApp, secret: str, incident_id: str) -> None:
    """Dispatch the demo's requests to ``app`` and print each answer."""
    base = {"command": "/incident", "user_id": "U1", "user_name": "alice"}

    def text(words: str, trigger_id: str) -> dict[str, str]:
        return {**base, "text": words, "trigger_id": trigger_id}

    def press(kind: str, trigger_id: str) -> dict[str, str]:
        payload = {
            "type": "block_actions",
            "user": {"id": "U2", "username": "bob"},
            "trigger_id": trigger_id,
            "actions": [{"action_id": f"incident_flow:{kind}", "value": incident_id}],
        }
        return {"payload": json.dumps(payload)}

    def submit(kind: str, value: str, view_id: str) -> dict[str, str]:
        state = {"incident_flow_text": {"incident_flow_text": {"value": value}}}
        payload = {
            "type": "view_submission",
            "user": {"id": "U2", "username": "bob"},
            "view": {
                "id": view_id,
                "type": "modal",
                "callback_id": f"incident_flow:{kind}",
                "private_metadata": incident_id,
                "state": {"values": state},
            },
        }
        return {"payload": json.dumps(payload)}

    requests = [
        ("ack", signed(secret, text(f"ack {incident_id}", "t1"))),
        ("retried ack", signed(secret, text(f"ack {incident_id}", "t1"), retry=1)),
        ("runbook button", signed(secret, press("start_runbook", "t2"))),
        ("note", signed(secret, text(f"note {incident_id} rolling back", "t3"))),
        ("unknown id", signed(secret, text("ack inc-nope", "t4"))),
        ("resolve form", signed(secret, submit("resolve", "rolled back", "V1"))),
        ("forged", signed("not-the-secret", text(f"note {incident_id} x", "t5"))),
        ("mistyped", signed(secret, text("dance", "t6"))),
    ]
    for label, request in requests:
        response = await app.async_dispatch(request)
        print(f"{label:16} -> {response.status} {response.body or ''}")


async def run_bot(flow: AsyncIncidentFlow, app: AsyncApp, label: str) -> None:
    """Serve ``app`` at ``/slack/events`` on ``PORT`` with the worker beside it, until stopped."""
    # Retries, escalations and reminders on the same loop as the web app.
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker_async(flow, stop=stop))
    runner = web.AppRunner(app.web_app(path="/slack/events"))
    await runner.setup()
    try:
        port = int(os.environ.get("PORT", "3000"))
        await web.TCPSite(runner, port=port).start()
        print(f"listening on :{port}/slack/events{label} (Ctrl-C stops)")
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        stop.set()
        await worker
        await flow.drain()  # commands whose requests were dropped finish their deliveries


async def serve() -> None:
    """Answer Slack at ``/slack/events`` on ``PORT`` until interrupted."""
    if os.environ.get("INCIDENT_FLOW_CONFIG"):
        await serve_configured(os.environ["INCIDENT_FLOW_CONFIG"])
        return
    path = os.environ.get("INCIDENT_FLOW_DB", "incidents.db")
    policy_file = os.environ.get("INCIDENT_FLOW_POLICY")
    policy = Policy.from_toml(policy_file) if policy_file else Policy.default()
    token = os.environ["SLACK_BOT_TOKEN"]
    notifier = AsyncSlackNotifier(token=token, channel=os.environ["SLACK_CHANNEL"])
    routing_key = os.environ.get("PAGERDUTY_ROUTING_KEY")
    pager = AsyncPagerDutyPager(routing_key) if routing_key else LogNotifier("pager")
    async with await AsyncSQLiteStore.open(path) as store:
        flow = AsyncIncidentFlow(policy, store=store, notifier=notifier, pager=pager)
        app = make_app(
            flow, notifier, token=token, signing_secret=os.environ["SLACK_SIGNING_SECRET"]
        )
        try:
            await run_bot(flow, app, "")
        finally:
            await notifier.aclose()
            if isinstance(pager, AsyncPagerDutyPager):
                await pager.aclose()


async def serve_configured(config_file: str) -> None:
    """The bot on the configured channels (``incident-flow serve`` does this and more)."""
    from incident_flow.server import async_flow, load_config  # noqa: PLC0415 - the server extra

    config = load_config(config_file)
    if not config.slack or not config.slack.get("signing_secret"):
        raise SystemExit(f"{config_file}: the bot needs [slack] token and signing_secret")
    flow = async_flow(config)
    notifier = flow.notifier if isinstance(flow.notifier, AsyncSlackNotifier) else None
    app = make_app(
        flow,
        notifier,
        token=str(config.slack["token"]),
        signing_secret=str(config.slack["signing_secret"]),
    )
    await run_bot(flow, app, f" with {config_file}")


async def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    await (serve() if "--serve" in sys.argv[1:] else demo())


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
