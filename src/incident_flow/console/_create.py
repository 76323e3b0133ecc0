"""``create_console``: the console's app, its rooms (pages) and its templates put together."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from .._drivers.async_flow import AsyncIncidentFlow
from ._app import Console
from ._settings import ConsoleConfig

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

__all__ = ["create_console"]

_HERE = Path(__file__).parent


def create_console(flow: AsyncIncidentFlow, config: ConsoleConfig) -> Any:
    """The web console as a Starlette app: mount it (``incident-flow serve`` mounts it at /ui).

    Args:
        flow: the service's flow: the console reads and acts through it, nothing else.
        config: who may look and how (:class:`ConsoleConfig`; closed by default).

    Raises:
        ImportError: the ``ui`` extra (Jinja2) or Starlette is missing; the message says
            ``pip install 'incident-flow[ui]'``.
    """
    try:
        import jinja2  # noqa: PLC0415 - the ui extra
        from starlette.applications import Starlette  # noqa: PLC0415
        from starlette.routing import Mount  # noqa: PLC0415
        from starlette.staticfiles import StaticFiles  # noqa: PLC0415
    except ImportError as exc:
        msg = f"the console needs the ui extra: pip install 'incident-flow[ui]' ({exc.name})"
        raise ImportError(msg, name=exc.name) from exc
    from . import (  # noqa: PLC0415 - they import Starlette
        _followup,
        _incidents,
        _insights,
        _login,
        _oncall,
        _silences,
    )

    rooms = (_incidents, _followup, _oncall, _silences, _insights, _login)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["ago"] = _ago
    console = Console(flow, config, env, [n for room in rooms for n in room.NAV])
    routes: list[BaseRoute] = [r for room in rooms for r in room.routes(console)]
    routes.append(Mount("/static", app=StaticFiles(directory=_HERE / "static"), name="static"))
    app = Starlette(routes=routes)
    app.state.console = console
    return app


def _when(at: datetime | None, zone: str) -> str:
    """A time in the viewer's zone: ``2026-03-29 02:30 CEST``."""
    if at is None:
        return "-"
    return at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S %Z")


def _ago(at: datetime | None, now: datetime) -> str:
    """How long ago: ``3m``, ``2h 5m``, ``4d 1h``."""
    if at is None:
        return "-"
    seconds = max(0, int((now - at).total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m"
