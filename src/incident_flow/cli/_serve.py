"""``incident-flow config check`` and ``incident-flow serve``: the process as a service."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

import click

from ._common import Context, errors, pass_context, say

__all__ = ["config_group", "serve"]


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
@pass_context
def serve(context: Context, host: str | None, port: int | None) -> None:
    """Run the service: webhooks, Slack, actions, health, metrics and the worker.

    Needs --config (here, before the command, or INCIDENT_FLOW_CONFIG) and the server extra:
    pip install 'incident-flow[server]'.
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
    except ImportError as exc:
        msg = f"serve needs the server extra: pip install 'incident-flow[server]' ({exc.name})"
        raise click.ClickException(msg) from None
    for route in config.insecure:
        # Said where the operator looks first, whether or not logging is set up.
        click.echo(f"WARNING: {route} accepts requests without proof (insecure = true)", err=True)
    app = create_app(async_flow(config), config)
    server = _server_class(uvicorn)(
        uvicorn.Config(
            app,
            host=host or config.host,
            port=port or config.port,
            log_level="warning",
            timeout_keep_alive=5,
            limit_concurrency=1000,
        )
    )
    server.run()
    # A stop asked for by SIGTERM or SIGINT, done gracefully, is a success: exit 0 (uvicorn
    # would die by the signal again after its graceful stop, and supervisors count 143).
    if not server.started:
        raise click.ClickException("the service did not start (see the lines above)")


def _server_class(uvicorn: Any) -> type[Any]:
    """The uvicorn Server, whose graceful stop on SIGTERM or SIGINT ends the process normally."""

    class Server(uvicorn.Server):  # type: ignore[misc]
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            handled = (signal.SIGINT, signal.SIGTERM)
            original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in original.items():
                    signal.signal(sig, handler)

    return Server
