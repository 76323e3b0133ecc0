"""What the service says: its configuration at start, one line per request, its stop.

The events go to the ``incident_flow.server`` and ``incident_flow.access`` loggers, silent
unless the host configures logging (``incident-flow serve`` does: see ``_logging``). No secret
is ever a field: the store is shown without its password, a channel by its non-secret
settings, a URL by its scheme and host only (a path may carry a token: Slack's hooks do).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from .._core.log import get_logger
from ._config import _SECRETS, Secret, ServiceConfig, _redact_dsn

__all__ = ["TOUCHED", "AccessLog", "say_configuration", "touched"]

_log = get_logger("incident_flow.server")
_access = get_logger("incident_flow.access")

#: The scope key holding the incident ids a request touched (the access line says them).
TOUCHED = "incident_flow.incidents"
#: The longest path an access line quotes (the rest of an odd request is cut).
_LONGEST_PATH = 200

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def touched(scope: Scope, ids: list[str] | tuple[str, ...]) -> None:
    """Note incident ids this request touched, for its access line."""
    found = scope.get(TOUCHED)
    if isinstance(found, list):
        found.extend(ids)


class AccessLog:
    """ASGI middleware: one ``incident_flow.request`` line per request, after its answer.

    Its fields: ``method``, ``path``, ``status``, ``ms`` (from the request's arrival to the
    end of the answer), ``client`` and ``incidents`` (the incident ids the request opened,
    attached or changed).
    """

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; say how it went."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ids: list[str] = []
        scope[TOUCHED] = ids
        status = 500  # no answer started: the app failed
        start = time.perf_counter()

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            client = scope.get("client")
            _access.info(
                "incident_flow.request",
                method=scope.get("method"),
                path=str(scope.get("path", ""))[:_LONGEST_PATH],
                status=status,
                ms=round((time.perf_counter() - start) * 1000, 1),
                client=client[0] if client else None,
                incidents=list(dict.fromkeys(ids)),
            )


def say_configuration(config: ServiceConfig, *, worker: bool) -> None:
    """Log what the service runs: its store, sources, actions, channels and worker."""
    _log.info("incident_flow.store", store=_redact_dsn(config.store), schema=config.schema)
    for kind, route, table in (
        ("source", "/webhooks", config.sources),
        ("actions", "/actions", config.actions),
    ):
        for source in table.values():
            _log.info(
                f"incident_flow.{kind}",
                name=source.name,
                route=f"{route}/{source.name}",
                proof=source.proof,
            )
    for name in ("slack", "webhook", "pagerduty", "opsgenie", "twilio"):
        section = getattr(config, name)
        if section:
            _log.info("incident_flow.channel", name=name, **_shown(section))
    if not config.slack and not config.webhook:
        _log.info("incident_flow.channel", name="log", role="chat")
    if not (config.pagerduty or config.opsgenie or config.twilio):
        _log.info("incident_flow.channel", name="log", role="pager")
    _log.info("incident_flow.publisher", **_shown(config.publisher))
    if config.api_token is not None:
        _log.info("incident_flow.api", route="/api/silences", proof="bearer token")
    if config.console is not None:
        for line in config.console.describe():
            _log.info("incident_flow.console", route="/ui", proof=line.removeprefix("console: "))
    if worker:
        poll = config.review_poll_every
        _log.info(
            "incident_flow.worker",
            interval=f"{config.worker_interval.total_seconds():g}s",
            review_poll_every=f"{poll.total_seconds():g}s" if poll else "never",
        )
    else:
        _log.info("incident_flow.worker", running="elsewhere (worker=False)")


def _shown(section: Any) -> dict[str, object]:
    """A section's settings without its secrets; URLs by scheme and host only."""
    shown: dict[str, object] = {}
    for key, value in section.items():
        if key in _SECRETS or isinstance(value, Secret):
            shown[key] = "set"  # said to be there, never what it is
        elif isinstance(value, str) and "://" in value:
            shown[key] = _origin(value)
        else:
            shown[key] = value
    return shown


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL: its path, query and credentials are left out."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.scheme}://{parts.hostname or '?'}" + (f":{port}" if port else "")
