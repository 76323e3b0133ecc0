"""A webhook receiver: verify, parse and feed alerts and responders' actions into IncidentFlow.

    python examples/webhook_receiver.py --serve --port 8080 --db incidents.db
    python examples/webhook_receiver.py            # demo: serve on a free port, post to itself

The minimal variant, on the standard library only: ``incident-flow serve`` (docs/server.md) is
the full service (one configuration file, Slack's endpoints, health, metrics, the worker).

Point each monitor at ``POST /webhooks/<source>`` (datadog, checkly, alertmanager, grafana,
incidentio, pagerduty), and each tool responders act in at ``POST /actions/<source>``
(pagerduty webhooks v3, opsgenie, slack interactivity and slash commands, github). Closed by
default: set each source's secret in the environment (``INCIDENT_FLOW_SECRET_GRAFANA=``,
``INCIDENT_FLOW_SECRET_PAGERDUTY=``...; for Alertmanager and Datadog, which do not sign, a shared
token they send in ``X-Incident-Flow-Token``), and Slack's workspace in
``INCIDENT_FLOW_SLACK_TEAM=T...``. A source without a secret refuses every request, unless it is
listed in ``INCIDENT_FLOW_INSECURE=alertmanager,...`` (said at start-up).

Answers, chosen so that senders retry only what a retry can fix:
202 accepted (also for a recovery with no open incident, or an action about an incident that is
not ours: nothing to do; an action the incident no longer allows is recorded as ignored and
accepted too), 200 for Slack (it shows the answer's text to the person), 400 a body that cannot
be read (or a ``Content-Length`` that is missing (411), negative or not a number), 401 a bad
signature, 404 an unknown source, 413 too large: none of these is retried;
503 the store is unavailable: worth a retry; 500 a bug: also retried by most senders.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import urllib.error
import urllib.request
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import structlog

from incident_flow import (
    Action,
    ConcurrencyError,
    IncidentFlow,
    IncidentNotFound,
    InvalidPayload,
    InvalidSignature,
    SlackNotifier,
    SQLiteStore,
    StorageError,
    ingest,
)
from incident_flow.ingest import signatures

MAX_BODY = 5 * 1024 * 1024
CLIENT_TIMEOUT = 10.0
log = structlog.get_logger("webhook_receiver")


class Receiver:
    """What the HTTP handler calls: verify, parse, trigger or apply; returns (status, answer).

    ``slack`` (a SlackNotifier with a bot token) opens the Resolve and Add note forms when
    their buttons are pressed; without it those buttons do nothing.
    """

    def __init__(
        self,
        flow: IncidentFlow,
        secrets: dict[str, str],
        slack: SlackNotifier | None = None,
        *,
        slack_team: str | None = None,
        insecure: frozenset[str] = frozenset(),
    ) -> None:
        self.flow = flow
        self.secrets = secrets
        self.slack = slack
        self.slack_team = slack_team
        self.insecure = insecure

    def verify(self, source: str, body: bytes, headers: dict[str, str]) -> None:
        """The request proves its caller, or InvalidSignature (closed by default)."""
        secret = self.secrets.get(source)
        if not secret:
            if source in self.insecure:
                return
            msg = f"{source}: no secret is set (INCIDENT_FLOW_SECRET_{source.upper()})"
            raise InvalidSignature(msg)
        scheme = source if source in ingest.SIGNED_SOURCES else "opsgenie"  # a shared token
        signatures.verify(scheme, body, headers, secret, options={"source": source})
        if source == "slack" and ingest.slack_workspace(body)[0] != self.slack_team:
            # One signing secret signs every workspace the app is installed in.
            msg = "slack: the request is not from our workspace (INCIDENT_FLOW_SLACK_TEAM)"
            raise InvalidSignature(msg)

    def handle_action(  # noqa: PLR0911 - one answer per HTTP outcome
        self, source: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, Any]:
        """Handle one delivery from a tool responders act in (``POST /actions/<source>``)."""
        if source not in ingest.ACTION_SOURCES:
            return HTTPStatus.NOT_FOUND, {"error": f"unknown action source {source!r}"}
        try:
            self.verify(source, body, headers)
            if source == "slack" and self.slack is not None and self.slack.open_form(body):
                return HTTPStatus.OK, {}
            actions = ingest.actions(source, body, headers)
        except InvalidSignature as exc:
            return HTTPStatus.UNAUTHORIZED, {"error": str(exc)}
        except InvalidPayload as exc:
            if source == "slack":  # a mistyped /incident: Slack shows the person the usage
                return HTTPStatus.OK, {"response_type": "ephemeral", "text": str(exc)}
            return HTTPStatus.BAD_REQUEST, {"error": str(exc)}
        try:
            applied, unknown = self._apply(actions)
        except (StorageError, ConcurrencyError) as exc:
            log.error("webhook_receiver.store_unavailable", source=source, error=str(exc))
            return HTTPStatus.SERVICE_UNAVAILABLE, {"error": "store unavailable, retry later"}
        if source == "slack":
            done = ", ".join(f"{i['id']} is {i['state']}" for i in applied) or "nothing to do"
            return HTTPStatus.OK, {"response_type": "ephemeral", "text": done}
        return HTTPStatus.ACCEPTED, {"incidents": applied, "unknown": unknown}

    def _apply(self, actions: list[Action]) -> tuple[list[dict[str, str]], list[str]]:
        applied, unknown = [], []
        for action in actions:
            try:
                incident = self.flow.apply(action)
            except IncidentNotFound:
                unknown.append(action.incident)  # not one of ours: nothing to retry
                continue
            applied.append({"id": incident.id, "state": incident.state})
        return applied, unknown

    def handle(self, source: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        """Handle one delivery from ``source``."""
        if source not in ingest.sources():
            return HTTPStatus.NOT_FOUND, {"error": f"unknown source {source!r}"}
        try:
            self.verify(source, body, headers)
            alerts = ingest.parse(source, body, headers)
        except InvalidSignature as exc:
            return HTTPStatus.UNAUTHORIZED, {"error": str(exc)}
        except InvalidPayload as exc:
            return HTTPStatus.BAD_REQUEST, {"error": str(exc)}
        accepted, ignored = [], []
        try:
            for alert in alerts:
                try:
                    incident = self.flow.trigger(alert)
                except IncidentNotFound:
                    ignored.append(alert.dedup_key)  # a recovery of nothing open: done
                    continue
                accepted.append(
                    {"id": incident.id, "state": incident.state, "severity": incident.severity}
                )
        except (StorageError, ConcurrencyError) as exc:
            log.error("webhook_receiver.store_unavailable", source=source, error=str(exc))
            return HTTPStatus.SERVICE_UNAVAILABLE, {"error": "store unavailable, retry later"}
        return HTTPStatus.ACCEPTED, {"incidents": accepted, "ignored": ignored}


def make_server(
    receiver: Receiver,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    client_timeout: float = CLIENT_TIMEOUT,
) -> ThreadingHTTPServer:
    """An HTTP server (not yet serving): ``POST /webhooks/<source>``, ``/actions/<source>``."""
    routes = {"/webhooks/": "handle", "/actions/": "handle_action"}

    class Handler(BaseHTTPRequestHandler):
        # A client that stalls (sends nothing, or half a body) is dropped after this many
        # seconds instead of holding a thread forever.
        timeout = client_timeout

        def do_POST(self) -> None:
            prefix = next((p for p in routes if self.path.startswith(p)), None)
            if prefix is None:
                self._answer(HTTPStatus.NOT_FOUND, {"error": "POST /webhooks/<source>"})
                return
            length = self._length()
            if length is None:
                return
            try:
                body = self.rfile.read(length)
            except TimeoutError:
                self.close_connection = True
                return
            if len(body) < length:
                return  # the client went away mid-body: nothing to answer
            source = self.path[len(prefix) :].strip("/").split("?")[0]
            try:
                handle = getattr(receiver, routes[prefix])
                status, answer = handle(source, body, dict(self.headers.items()))
            except Exception:  # a bug: say so, and let the sender retry
                log.exception("webhook_receiver.failed", source=source)
                status, answer = HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error"}
            self._answer(status, answer)

        def _length(self) -> int | None:
            """The body's declared length, or None after answering why it cannot be read."""
            declared = self.headers.get("Content-Length")
            if declared is None:
                self._answer(HTTPStatus.LENGTH_REQUIRED, {"error": "Content-Length is required"})
                return None
            text = declared.strip()
            if not text.isdigit() or not text.isascii():  # "-1", "abc", "1e9", "٣"
                self._answer(
                    HTTPStatus.BAD_REQUEST, {"error": f"Content-Length must be a number: {text!r}"}
                )
                return None
            if int(text) > MAX_BODY:
                self._answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "body too large"})
                return None
            return int(text)

        def do_GET(self) -> None:
            self._answer(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "POST only"})

        def _answer(self, status: int, answer: Any) -> None:
            if status >= 400 and status != HTTPStatus.SERVICE_UNAVAILABLE:
                self.close_connection = True  # a body we did not read must not be parsed next
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
            log.debug("webhook_receiver.request", line=format % args)

    return ThreadingHTTPServer((host, port), Handler)


def secrets_from_env() -> dict[str, str]:
    """``INCIDENT_FLOW_SECRET_<SOURCE>`` variables, by source (empty ones are no secret)."""
    prefix = "INCIDENT_FLOW_SECRET_"
    return {
        k[len(prefix) :].lower(): v
        for k, v in os.environ.items()
        if k.startswith(prefix) and v.strip()
    }


def receiver_from_env(flow: IncidentFlow, **secrets: str) -> Receiver:
    """The receiver the environment describes; insecure sources are said on stderr."""
    insecure = frozenset(
        name.strip() for name in os.environ.get("INCIDENT_FLOW_INSECURE", "").split(",") if name
    )
    for name in sorted(insecure):
        print(f"WARNING: {name} accepts requests without proof", file=sys.stderr)
    return Receiver(
        flow,
        {**secrets, **secrets_from_env()},
        slack_team=os.environ.get("INCIDENT_FLOW_SLACK_TEAM") or None,
        insecure=insecure,
    )


#: The demo's shared token for its own Alertmanager posts.
DEMO_TOKEN = "demo-token"  # noqa: S105 - the demo posts to itself


DEMO_FIRING = {
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "CheckoutHighErrorRate",
                "severity": "critical",
                "service": "checkout",
            },
            "annotations": {"summary": "checkout 5xx above 5%"},
            "startsAt": "2025-06-03T14:00:42Z",
            "fingerprint": "8f3a1c2d4e5b6a70",
        }
    ],
}


def demo(db: Path) -> None:
    """Serve on a free port, post a firing alert, its repeat, its recovery and garbage."""
    flow = IncidentFlow(store=SQLiteStore(db))
    server = make_server(receiver_from_env(flow, alertmanager=DEMO_TOKEN))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/"
    resolved = json.loads(json.dumps(DEMO_FIRING))
    resolved["alerts"][0]["status"] = "resolved"
    posts = [
        ("alertmanager", DEMO_FIRING),
        ("alertmanager", DEMO_FIRING),
        ("alertmanager", resolved),
        ("alertmanager", "not json"),
        ("nagios", {}),
    ]
    for source, payload in posts:
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        request = urllib.request.Request(  # noqa: S310 - our own http://127.0.0.1 server
            url + source,
            data=data,
            method="POST",
            headers={"Content-Type": "application/json", "X-Incident-Flow-Token": DEMO_TOKEN},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                print(response.status, source, response.read().decode())
        except urllib.error.HTTPError as error:
            print(error.code, source, error.read().decode())
    server.shutdown()
    (incident,) = flow.incidents()
    print(
        f"{incident.id}: {incident.state}, alert fired {incident.alert_count}x, "
        f"{[e.type for e in flow.history(incident.id)][-2]}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="serve until interrupted")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--db", default="incidents.db")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if not args.serve:
        demo(Path(args.db))
        return
    flow = IncidentFlow(store=SQLiteStore(args.db))
    server = make_server(receiver_from_env(flow), args.host, args.port)
    print(f"listening on http://{args.host}:{server.server_address[1]}/webhooks/<source>")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == "__main__":
    main()
