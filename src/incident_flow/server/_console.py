"""The web console's place in the service: mounted at ``/ui`` when ``[console]`` is configured."""

from __future__ import annotations

from typing import Any

from .._drivers.async_flow import AsyncIncidentFlow
from ._config import ServiceConfig

__all__ = ["CONSOLE_PATH", "console_routes"]

#: Where the service mounts the console.
CONSOLE_PATH = "/ui"


def console_routes(flow: AsyncIncidentFlow, config: ServiceConfig) -> list[Any]:
    """``[Mount("/ui", console)]`` when the configuration has a console, else nothing.

    Closed by default: without ``[console]`` (which must say how people prove who they are)
    there is no console at all. Its dependencies are imported only here, only then.
    """
    if config.console is None:
        return []
    from starlette.routing import Mount  # noqa: PLC0415 - the server extra

    from ..console import create_console  # noqa: PLC0415 - the ui extra, only when configured

    return [Mount(CONSOLE_PATH, app=create_console(flow, config.console))]
