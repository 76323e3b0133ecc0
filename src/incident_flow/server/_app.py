"""The ASGI application: webhooks in, actions in, health, metrics, and the worker in its lifespan.

Routes (see docs/server.md):

    POST /webhooks/{source}      an alert source's webhook -> 202 {"incidents": [...]}
    POST /actions/{source}       PagerDuty, Opsgenie, GitHub webhooks -> 200 {"applied": [...]}
    POST /slack/interactivity    Slack buttons and forms  -> 200 at once, applied after
    POST /slack/commands         /incident ...            -> 200 at once, applied after
    POST /slack/events           the Events API's url_verification (other events: 200)
    GET  /healthz                the process answers
    GET  /readyz                 the store answers and the worker turned recently
    GET  /metrics                Prometheus text (behind server.metrics_token when set)

A request is refused before anything is stored: 411 without a Content-Length, 400 for a
negative or non-numeric one or a body that cannot be read, 413 over ``max_body``, 415 for a
content type the route does not take, 401 for a bad signature, 404 for a source not configured,
408 for a body that does not arrive within ``server.body_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .._core.log import OncePerCause, get_logger
from .._drivers.async_flow import AsyncIncidentFlow
from .._drivers.worker import HOLD, AsyncClaimKeeper, _ReviewPolls, _steps, first_wait
from ..adapters.channels.slack import escape as slack_escape
from ..exceptions import (
    IncidentNotFound,
    InvalidCommand,
    InvalidPayload,
    InvalidSignature,
    StorageError,
)
from ..ingest import SIGNED_SOURCES, actions, parse, slack_workspace
from ..ingest._actions.slack import TeamRequest
from ..ingest._common import DEDUP_FIX_LABEL, DEDUP_LABEL
from ..ingest.signatures import verify
from ..ports import StoreCounts
from ._bodies import (
    Refused,
    bearer_matches,
    duration_field,
    field_of,
    is_slash_command,
    json_object,
    oncall_question,
    silence_json,
    team_request,
    time_field,
)
from ._closing import close_within as _close
from ._closing import maybe as _maybe
from ._config import ServiceConfig, SourceConfig
from ._console import console_routes
from ._counted import counted as _counted
from ._metrics import ServiceMetrics
from ._scrape import counted_by_loading, open_counts
from ._service_log import AccessLog, say_configuration, touched
from ._teams import team_answer

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

__all__ = ["create_app"]

_log = get_logger("incident_flow.server")
#: Seconds /readyz waits for the store before it says not ready.
READY_WITHIN = 0.5
#: Seconds a sender is asked to wait before retrying a request the store could not take.
RETRY_AFTER = 5
#: Seconds the stop waits for the worker's turn and the deliveries in flight, then cancels.
STOP_WITHIN = 5.0
#: Seconds the stop waits for the store's pool to close.
CLOSE_WITHIN = 1.0
_JSON = ("application/json",)
_FORM = ("application/x-www-form-urlencoded",)


class _Service:
    """The app's state: the flow, the configuration, the metrics and the worker."""

    def __init__(self, flow: AsyncIncidentFlow, config: ServiceConfig, *, worker: bool) -> None:
        self.flow = flow
        self.config = config
        teams = flow.policy.team_names if flow.policy.teams else ()
        self.metrics = ServiceMetrics(teams, flow.policy.default_team_name)
        self.run_worker = worker
        self.last_turn = 0.0
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        #: The store failure said last (said once per cause).
        self._store_said: str | None = None
        #: The worker steps' failures said (each once per cause, until the step succeeds).
        self._steps_said = OncePerCause()
        #: Slack's actions, applied after the answer: kept until done (not garbage-collected).
        self._background: set[asyncio.Task[None]] = set()
        flow.notifier = _counted(flow.notifier, "chat", self.metrics)
        flow.pager = _counted(flow.pager, "pager", self.metrics)
        # Answer once the decisions are committed; the sends follow on this loop (pages first).
        flow.deliver_in_background()
        flow._on_commit.append(self.metrics.committed)

    # ----------------------------------------------------------------- lifespan

    @contextlib.asynccontextmanager
    async def lifespan(self, app: object) -> AsyncIterator[None]:
        store: Any = self.flow.store
        opens = getattr(store, "_opened", True) is False and hasattr(store, "__aenter__")
        if opens:
            await store.__aenter__()
        say_configuration(self.config, worker=self.run_worker)
        for route in self.config.insecure:
            _log.warning("incident_flow.insecure_route", route=route)
        # This process's claims are short and renewed while it lives: killed, its messages
        # are taken over seconds later (by a replica, or by this service restarted).
        keeper = AsyncClaimKeeper(self.flow, HOLD)
        await keeper.__aenter__()
        if self.run_worker:
            self.stop = asyncio.Event()
            self.task = asyncio.create_task(self._worker())
        try:
            yield
        finally:
            await self._stop(store, close=opens, keeper=keeper)

    async def _stop(self, store: Any, *, close: bool, keeper: AsyncClaimKeeper) -> None:
        """Stop within a bound whatever the store does: finish what is in flight, or cancel.

        The worker checks its stop between steps; the turn it is in, Slack's actions being
        applied and the deliveries in flight get ``STOP_WITHIN`` seconds, then are cancelled
        (a message sent but not recorded is sent again after its lease, with the same
        idempotency key). The pool gets ``CLOSE_WITHIN`` seconds to close.
        """
        _log.info("incident_flow.stopping", within=f"{STOP_WITHIN:g}s")
        self.stop.set()
        pending = [t for t in (self.task, *self._background) if t is not None and not t.done()]
        try:
            async with asyncio.timeout(STOP_WITHIN):
                if pending:
                    await asyncio.gather(*pending, return_exceptions=True)
                await self.flow.drain()
        except TimeoutError:
            unfinished = [t for t in (*pending, *self.flow._in_flight) if not t.done()]
            for task in unfinished:
                task.cancel()
            _log.warning(
                "incident_flow.stop_cancelled",
                tasks=len(unfinished),
                why=f"not done within {STOP_WITHIN:g}s (the store may be unreachable)",
            )
        try:
            # The claims go back to their full lease, so sends still going may finish.
            async with asyncio.timeout(CLOSE_WITHIN):
                await keeper.__aexit__(None, None, None)
        except Exception as exc:  # noqa: BLE001 - stopping: said, not raised
            _log.warning("incident_flow.claims_not_released", error=f"{type(exc).__name__}")
        if close:
            try:
                await _close(store, CLOSE_WITHIN)
            except Exception as exc:  # noqa: BLE001 - stopping: said, not raised
                _log.warning("incident_flow.store_close_failed", error=f"{type(exc).__name__}")
        _log.info("incident_flow.stopped")

    async def _worker(self) -> None:
        """Deliveries, escalations, reminders and review polls, every ``worker_interval``."""
        polls = _ReviewPolls(self.config.review_poll_every)
        turns = 0
        while not self.stop.is_set():
            for name, step in _steps(self.flow, polls):
                if self.stop.is_set():
                    return  # a stop does not wait for the turn's other steps
                try:
                    done = await step()
                except Exception as exc:  # noqa: BLE001 - a worker outlives a bad turn
                    # Once per step and cause: an outage is not one error line per turn.
                    said = self._steps_said.first(name, str(exc))
                    (_log.error if said else _log.debug)(
                        "incident_flow.worker_step_failed", step=name, error=str(exc)
                    )
                    continue
                if self._steps_said.forget(name):
                    _log.info("incident_flow.worker_step_recovered", step=name)
                if name == "escalated":
                    self.metrics.escalations.inc(len(done))
            self.last_turn = time.monotonic()
            self.metrics.worker_turns.inc()
            turns += 1
            # The first turns come a third of a hold apart: they take over the messages a
            # killed predecessor had claimed (their claims lapse within a hold of the kill).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self.stop.wait(), first_wait(self.config.worker_interval, HOLD, turns)
                )

    # ----------------------------------------------------------------- requests

    async def body(self, request: Request, accepted: tuple[str, ...]) -> bytes:
        """The request's body, within every limit, or a refusal."""
        kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if kind and kind not in accepted:
            raise Refused(415, f"content type {kind!r} is not taken here: {', '.join(accepted)}")
        declared = request.headers.get("content-length")
        if declared is None:
            raise Refused(411, "Content-Length is required")
        if not declared.strip().isdigit():
            raise Refused(400, f"Content-Length must be a whole number >= 0: {declared[:20]!r}")
        if int(declared) > self.config.max_body:
            raise Refused(413, f"the body is over {self.config.max_body} bytes")
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.config.body_timeout.total_seconds()):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > self.config.max_body:
                        raise Refused(413, f"the body is over {self.config.max_body} bytes")
                    chunks.append(chunk)
        except TimeoutError:
            raise Refused(408, "the body did not arrive in time") from None
        return b"".join(chunks)

    def verify(self, source: str, settings: SourceConfig, body: bytes, request: Request) -> None:
        """The request proves its caller (its signature or shared token), or a 401.

        Closed by default: a source with no secret refuses everything unless it was set
        ``insecure`` on purpose (announced at start-up, reported by ``/readyz``).
        """
        if settings.secret is None or not str(settings.secret):
            if settings.insecure:
                return
            raise Refused(401, f"{source}: no secret is configured, so nothing can prove it")
        scheme = source if source in SIGNED_SOURCES else "opsgenie"  # a shared token header
        options = {"source": source}
        if settings.header:
            options["header"] = settings.header
        try:
            verify(scheme, body, dict(request.headers), str(settings.secret), options=options)
        except InvalidSignature as exc:
            raise Refused(401, str(exc)) from None

    async def webhook(self, request: Request) -> tuple[int, Any]:
        source = request.path_params["source"]
        settings = self.config.sources.get(source)
        if settings is None:
            raise Refused(404, f"no alert source {source!r} is configured")
        body = await self.body(request, _JSON)
        self.verify(source, settings, body, request)
        try:
            alerts = parse(source, body, dict(request.headers))
        except InvalidPayload as exc:
            raise Refused(400, str(exc)) from None
        policy = self.flow.policy
        self.metrics.received(source, [policy.team_name_for(a) for a in alerts])
        opened: list[str] = []
        unmatched: list[str] = []
        # One append per incident the body reaches, not one per alert (a group of 50).
        for alert, incident in zip(alerts, await self.flow.trigger_all(alerts), strict=True):
            if incident is None:
                unmatched.append(alert.dedup_key)  # a recovery of nothing open: said, not lost
            else:
                opened.append(incident.id)
        answer: dict[str, Any] = {"incidents": opened, "no_open_incident": unmatched}
        fallback = [
            {"dedup_key": a.dedup_key, "fix": a.labels.get(DEDUP_FIX_LABEL, "")}
            for a in alerts
            if a.labels.get(DEDUP_LABEL) == "fallback"
        ]
        if fallback:
            # Opened all the same (a refusal would drop the page): the sender is told how to
            # give each alert its own identity.
            answer["fallback_keys"] = fallback
        return 202, answer

    async def action(self, request: Request) -> tuple[int, Any]:
        source = request.path_params["source"]
        settings = self.config.actions.get(source)
        if settings is None or source == "slack":
            raise Refused(404, f"no action source {source!r} is configured")
        body = await self.body(request, _JSON)
        self.verify(source, settings, body, request)
        return 200, await self._apply(source, body, request)

    async def _apply(self, source: str, body: bytes, request: Request) -> dict[str, Any]:
        try:
            found = actions(source, body, dict(request.headers))
        except InvalidPayload as exc:
            raise Refused(400, str(exc)) from None
        applied: list[str] = []
        unknown: list[str] = []
        for action in found:
            try:
                incident = await self.flow.apply(action)
            except IncidentNotFound:
                unknown.append(action.incident)
                continue
            applied.append(incident.id)
        return {"applied": applied, "unknown": unknown}

    def slack_settings(self) -> SourceConfig:
        secret = (self.config.slack or {}).get("signing_secret")
        configured = self.config.actions.get("slack")
        if configured is not None and configured.secret is not None:
            return configured
        if secret:
            return SourceConfig(name="slack", secret=secret)
        raise Refused(404, "Slack is not configured (slack.signing_secret)")

    def slack_caller(self, body: bytes) -> None:
        """The request comes from the configured workspace (and app), or a 401.

        Slack signs the requests of every workspace an app is installed in with one secret:
        the signature proves Slack, the ``team_id`` proves the workspace.
        """
        slack = self.config.slack or {}
        try:
            team, app = slack_workspace(body)
        except InvalidPayload as exc:
            raise Refused(400, str(exc)) from None
        wanted_team, wanted_app = slack.get("team_id"), slack.get("api_app_id")
        if not wanted_team or team != wanted_team:
            raise Refused(401, "slack: the request is not from the configured workspace")
        if wanted_app and app != wanted_app:
            raise Refused(401, "slack: the request is not from the configured app")

    async def slack(self, request: Request) -> tuple[int, Any]:
        """Buttons, forms and slash commands: answered at once, applied right after."""
        settings = self.slack_settings()
        body = await self.body(request, _FORM)
        self.verify("slack", settings, body, request)
        self.slack_caller(body)
        headers = dict(request.headers)
        command = str((self.config.slack or {}).get("command") or "/incident")
        asked = oncall_question(body, command)
        if asked is not None:
            return 200, {"response_type": "ephemeral", "text": self.oncall_answer(asked)}
        handover = team_request(body, command)
        if isinstance(handover, TeamRequest):
            return 200, {
                "response_type": "ephemeral",
                "text": await team_answer(self.flow, handover),
            }
        if handover is not None:  # /incident team without its words: the usage, privately
            return 200, {"response_type": "ephemeral", "text": slack_escape(handover)}
        try:
            found = actions("slack", body, headers, command=command)
        except InvalidPayload as exc:
            if is_slash_command(body):
                # Slack shows the person no 400 body: the usage goes back as a private answer.
                return 200, {"response_type": "ephemeral", "text": slack_escape(str(exc))}
            raise Refused(400, str(exc)) from None
        touched(request.scope, [action.incident for action in found])

        async def apply_all() -> None:
            # Resolve and Add note open a form first (its submission is the action).
            opener = getattr(getattr(self.flow.notifier, "port", None), "open_form", None)
            if opener is not None and not found:
                try:
                    opened = opener(body)
                    if inspect.isawaitable(opened):
                        await opened
                except Exception as exc:  # noqa: BLE001 - Slack refused: said, not raised
                    _log.warning("incident_flow.slack_form_failed", error=str(exc))
            for action in found:
                try:
                    await self.flow.apply(action)
                except IncidentNotFound:
                    _log.warning("incident_flow.slack_unknown_incident", incident=action.incident)
                except Exception as exc:  # noqa: BLE001 - after the answer: logged, not lost
                    _log.error(
                        "incident_flow.slack_action_failed",
                        incident=action.incident,
                        error=f"{type(exc).__name__}: {exc}",
                    )

        # Slack wants its answer within 3 seconds: the work goes on after the response.
        task = asyncio.create_task(apply_all())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return 200, None

    def oncall_answer(self, schedule: str) -> str:
        """``/incident oncall [SCHEDULE]``: who is on call now, one line a schedule."""
        book = self.flow.policy.schedules
        names = [schedule] if schedule else list(book.names)
        if not names:
            return "No schedules in the policy ([[schedules]])."
        if schedule and schedule not in book:
            known = ", ".join(book.names) or "none"
            return slack_escape(f"No schedule {schedule!r} (known: {known}).")  # typed: text
        now = datetime.now(UTC)
        return "\n".join(slack_escape(book.describe(name, now)) for name in names)

    async def slack_events(self, request: Request) -> tuple[int, Any]:
        settings = self.slack_settings()
        body = await self.body(request, _JSON)
        self.verify("slack", settings, body, request)
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise Refused(400, "the body is not JSON") from None
        if isinstance(data, dict) and data.get("type") == "url_verification":
            return 200, {"challenge": str(data.get("challenge", ""))}
        self.slack_caller(body)  # any other event is a workspace's
        return 200, None

    def authorize(self, request: Request) -> None:
        """The API's bearer token, compared in constant time, or a refusal."""
        token = self.config.api_token
        if token is None:
            raise Refused(404, "the API is off: set server.api_token")
        if not bearer_matches(request, token):
            raise Refused(401, "the API needs Authorization: Bearer <server.api_token>")

    async def silences(self, request: Request) -> tuple[int, Any]:
        self.authorize(request)
        if request.method == "GET":
            everything = request.query_params.get("all", "") in ("1", "true", "yes")
            found = await self.flow.silences(active=not everything)
            return 200, {"silences": [silence_json(s) for s in found]}
        data = json_object(await self.body(request, _JSON))
        team = data.get("team")
        if team is not None and not isinstance(team, str):
            raise Refused(400, "team: a team's name (a str), or left out for every team")
        try:
            silence = await self.flow.silence(
                field_of(data, "matchers", dict),
                by=field_of(data, "by", str),
                why=field_of(data, "why", str),
                duration=duration_field(data.get("duration")),
                ends_at=time_field(data.get("ends_at")),
                starts_at=time_field(data.get("starts_at")),
                team=team,
            )
        except InvalidCommand as exc:
            raise Refused(400, str(exc)) from None
        return 201, silence_json(silence)

    async def end_silence(self, request: Request) -> tuple[int, Any]:
        self.authorize(request)
        by = request.query_params.get("by", "").strip()
        if not by:
            raise Refused(400, "say who ends it: ?by=<name>")
        try:
            silence = await self.flow.end_silence(request.path_params["silence_id"], by=by)
        except InvalidCommand as exc:
            raise Refused(404, str(exc)) from None
        return 200, silence_json(silence)

    def _counts_itself(self) -> bool:
        """Whether the store answers the probes from its indexes (``ports.StoreStats``)."""
        return self.flow._store_can("counts_incidents", "counts")

    def store_down(self, exc: StorageError) -> None:
        """Say that the store failed a request, once per cause (not once per retry)."""
        cause = str(exc)
        if cause != self._store_said:
            self._store_said = cause
            _log.warning("incident_flow.store_unavailable", error=cause)

    async def ready(self) -> tuple[int, Any]:
        problems: list[str] = []
        store: Any = self.flow.store
        try:
            # Within a bound whatever the store does: a probe's own timeout is about 1 s.
            async with asyncio.timeout(READY_WITHIN):
                if self._counts_itself():
                    await _maybe(store.ping())
                else:  # one index range of one row, on any store
                    await _maybe(store.due_incidents(datetime.now(UTC), limit=1))
            self._store_said = None  # it answers again
        except TimeoutError:
            problems.append(f"store: no answer within {READY_WITHIN} s")
        except Exception as exc:  # noqa: BLE001 - any store failure means not ready
            problems.append(f"store: {type(exc).__name__}")
        if self.run_worker:
            late = self.config.worker_interval.total_seconds() * 3 + 5
            if self.last_turn == 0.0 or time.monotonic() - self.last_turn > late:
                problems.append("worker: no turn recently")
        return (200, {"ready": True}) if not problems else (503, {"ready": False, "why": problems})

    async def scrape(self, request: Request) -> bytes:
        """The Prometheus text, behind ``server.metrics_token`` when it is set."""
        self.authorize_metrics(request)
        store: Any = self.flow.store
        itself = self._counts_itself()
        # The store counts no teams: with teams, the open incidents are loaded.
        opened = await open_counts(self.flow) if self.metrics.teams or not itself else Counter()
        if itself:
            counts: StoreCounts = await _maybe(store.counts())
        else:
            counts = await counted_by_loading(self.flow, opened)
        self.metrics.observe(counts, opened)
        self.metrics.observe_pauses(self.flow._pauses, self.flow._now())
        return self.metrics.text()

    def authorize_metrics(self, request: Request) -> None:
        """``server.metrics_token`` as a bearer token, compared in constant time, or 401."""
        token = self.config.metrics_token
        if token is not None and not bearer_matches(request, token):
            raise Refused(401, "metrics need Authorization: Bearer <server.metrics_token>")


#: The webhooks' path, which :class:`_Webhooks` takes straight to its endpoint.
_WEBHOOKS = "/webhooks/"


class _Webhooks:
    """ASGI middleware: ``POST /webhooks/{source}`` straight to its endpoint, past the router.

    A webhook is most of what the service is asked (a storm of them): the router's matching,
    its exception wrappers and their send wrappers were a fifth of its work. Anything else,
    and the app mounted under a prefix (a ``root_path``), goes through the router as before,
    where the same endpoint is routed too; the access line and the 500 for a failure are the
    outer middleware's, as for every route.
    """

    def __init__(self, app: Any, endpoint: Callable[[Request], Awaitable[Response]]) -> None:
        self.app = app
        self.endpoint = endpoint

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Answer a webhook here; pass anything else on."""
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            path: str = scope["path"]
            source = path[len(_WEBHOOKS) :] if path.startswith(_WEBHOOKS) else ""
            if source and "/" not in source:  # the route's {source}: one segment
                from starlette.requests import Request  # noqa: PLC0415 - the server extra

                scope["path_params"] = {"source": source}
                response = await self.endpoint(Request(scope, receive, send))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(flow: AsyncIncidentFlow, config: ServiceConfig, *, worker: bool = True) -> Starlette:
    """The service as an ASGI app (Starlette): mount it in a host's FastAPI or Starlette app.

    The flow's chat and pager are wrapped so the metrics count their deliveries.

    Args:
        flow: the flow to drive (:func:`~incident_flow.server.async_flow` builds the
            configured one).
        config: the service configuration (sources, secrets, limits, the worker's pace).
        worker: run the worker (outbox, timers, review polls) in the app's lifespan. Turn it
            off when another process runs it.
    """
    from starlette.applications import Starlette  # noqa: PLC0415 - the server extra
    from starlette.middleware import Middleware  # noqa: PLC0415
    from starlette.responses import JSONResponse, Response  # noqa: PLC0415
    from starlette.routing import Route  # noqa: PLC0415

    service = _Service(flow, config, worker=worker)

    def route(
        name: str, handler: Callable[[Request], Awaitable[tuple[int, Any]]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            headers: dict[str, str] = {}
            try:
                status, answer = await handler(request)
            except Refused as refused:
                status, answer = refused.status, {"error": refused.error}
            except StorageError as exc:
                # Nothing was kept: the sender retries (every vendor does on a 5xx), soon.
                service.store_down(exc)
                status, answer = 503, {"error": "the store is unavailable: retry later"}
                headers["Retry-After"] = str(RETRY_AFTER)
            service.metrics.requests.labels(name, str(status)).inc()
            if isinstance(answer, dict):
                touched(request.scope, [*answer.get("incidents", ()), *answer.get("applied", ())])
            if answer is None:
                return Response(status_code=status, headers=headers)
            return JSONResponse(answer, status_code=status, headers=headers)

        return endpoint

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def readyz(request: Request) -> Response:
        status, answer = await service.ready()
        if config.insecure:
            answer = {**answer, "insecure": list(config.insecure)}  # said, on purpose
        return JSONResponse(answer, status_code=status)

    async def metrics(request: Request) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST  # noqa: PLC0415

        try:
            text = await service.scrape(request)
        except Refused as refused:
            return JSONResponse({"error": refused.error}, status_code=refused.status)
        return Response(text, media_type=CONTENT_TYPE_LATEST)

    webhooks = route("webhooks", service.webhook)
    app = Starlette(
        routes=[
            Route("/webhooks/{source}", webhooks, methods=["POST"]),
            Route("/actions/{source}", route("actions", service.action), methods=["POST"]),
            Route("/slack/interactivity", route("slack", service.slack), methods=["POST"]),
            Route("/slack/commands", route("slack", service.slack), methods=["POST"]),
            Route("/slack/events", route("slack_events", service.slack_events), methods=["POST"]),
            Route("/api/silences", route("api", service.silences), methods=["GET", "POST"]),
            Route(
                "/api/silences/{silence_id}",
                route("api", service.end_silence),
                methods=["DELETE"],
            ),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            *console_routes(flow, config),
        ],
        middleware=[Middleware(AccessLog), Middleware(_Webhooks, endpoint=webhooks)],
        lifespan=service.lifespan,
    )
    app.state.incident_flow = service
    return app
