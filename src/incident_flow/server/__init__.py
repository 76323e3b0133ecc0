"""incident_flow as a service: one configuration file, an ASGI app, ``incident-flow serve``.

``load_config(path)`` reads the TOML file (secrets from the environment), ``async_flow(config)``
and ``sync_flow(config)`` build the configured flow, and ``create_app(flow, config)`` is the
Starlette application (mount it in your own app, or run ``incident-flow serve``). Needs the
``server`` extra (Starlette, uvicorn, prometheus_client).
"""

from __future__ import annotations

from ._app import create_app
from ._config import ConfigError, Secret, ServiceConfig, SourceConfig, load_config
from ._wiring import FanOutPager, async_flow, sync_flow

__all__ = [
    "ConfigError",
    "FanOutPager",
    "Secret",
    "ServiceConfig",
    "SourceConfig",
    "async_flow",
    "create_app",
    "load_config",
    "sync_flow",
]
