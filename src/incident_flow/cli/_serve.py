"""``incident-flow config check`` and ``incident-flow serve``: the process as a service."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

import click

from .._core.log import get_logger
from ._common import Context, errors, pass_context, say

__all__ = ["config_group", "serve"]

_log = get_logger("incident_flow.server")


@click.group("config")
def config_group() -> None:
    """The service configuration file."""


@config_group.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
def config_check(path: str) -> None:
    """Read PATH and report every problem at once (secrets are never shown); exit 5 if any."""
    from ..server._config import load_config  # noqa: PLC0415

    with errors():
        config = load_config(path)
    say(f"{path}: ok")
    for line in config.describe():
        say(f"  {line}")


@click.command()
@click.option("--host", default=None, help="Listen here instead of the file's server.host.")
@click.option("--port", type=int, default=None, help="Listen here instead of server.port.")
@click.option(
    "--log-format",
    type=click.Choice(["auto", "text", "json"]),
    default="auto",
    show_default=True,
    help="The log on stderr: text lines, JSON lines, or auto (text on a terminal, else JSON).",
)
@pass_context
def serve(context: Context, host: str | None, port: int | None, log_format: str) -> None:
    """Run the service: webhooks, Slack, actions, health, metrics and the worker.

    Needs --config (here, before the command, or INCIDENT_FLOW_CONFIG) and the server extra:
    pip install 'incident-flow[server]'. It logs on stderr what it runs (secrets never), one
    line per request, each failed delivery and its next attempt, and its stop.
    """
    if not context.config_file:
        msg = (
            "serve needs a configuration: `incident-flow serve --config incident-flow.toml` "
            "(or `incident-flow --config incident-flow.toml serve`, or INCIDENT_FLOW_CONFIG); "
            "check the file with `incident-flow config check incident-flow.toml`"
        )
        raise click.UsageError(msg)
    config = context.config()
    try:
        import uvicorn  # noqa: PLC0415 - the server extra

        from ..server import async_flow, create_app  # noqa: PLC0415
        from ..server._logging import configure_service_logging, secrets_of  # noqa: PLC0415
    except ImportError as exc:
        msg = f"serve needs the server extra: pip install 'incident-flow[server]' ({exc.name})"
        raise click.ClickException(msg) from None
    # The command line is the host: the log is configured here, never at import.
    configure_service_logging(log_format, secrets=secrets_of(config))
    _lighter_records()
    app = create_app(async_flow(config), config)
    server = _server_class(uvicorn)(
        uvicorn.Config(
            app,
            host=host or config.host,
            port=port or config.port,
            log_config=None,  # ours (configure_service_logging), not uvicorn's
            log_level="info",
            access_log=False,  # ours says the status, the time and the incidents
            timeout_keep_alive=5,
            timeout_graceful_shutdown=5,  # a request that hangs does not hold the stop
            limit_concurrency=1000,
            # The peer is the connection's own address: never one a caller names in
            # X-Forwarded-For (uvicorn believes it from 127.0.0.1 by default), since the
            # console trusts its proxy header only from the proxies it lists.
            proxy_headers=False,
        )
    )
    server.run()
    # A stop asked for by SIGTERM or SIGINT, done gracefully, is a success: exit 0 (uvicorn
    # would die by the signal again after its graceful stop, and supervisors count 143).
    if not server.started:
        _log.error("incident_flow.exit", code=1, why="the service did not start")
        raise click.ClickException("the service did not start (see the lines above)")
    _log.info("incident_flow.exit", code=0)


def _lighter_records() -> None:
    """Records without what our lines never show: the caller, the process, the thread names.

    The standard library's documented optimisations (logging HOWTO, "Optimization"): finding
    the caller walks the stack and the process and thread names are looked up for every
    record, one of which is written per request. This process is the host: nothing else reads
    them (the formatter writes the time, the level, the logger and the event's fields).
    """
    logging._srcfile = None  # the documented switch
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def _server_class(uvicorn: Any) -> type[Any]:
    """The uvicorn Server, whose graceful stop on SIGTERM or SIGINT ends the process normally."""

    class Server(uvicorn.Server):  # type: ignore[misc]
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                config = self.config
                shown = f"[{config.host}]" if ":" in config.host else config.host
                _log.info(
                    "incident_flow.listening",
                    url=f"http://{shown}:{config.port}",
                    pid=os.getpid(),
                )

        def stop_on(self, number: int, frame: FrameType | None) -> None:
            _log.info("incident_flow.signal", signal=signal.Signals(number).name)
            self.handle_exit(number, frame)

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            handled = (signal.SIGINT, signal.SIGTERM)
            original = {sig: signal.signal(sig, self.stop_on) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in original.items():
                    signal.signal(sig, handler)

    return Server
