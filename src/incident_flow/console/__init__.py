"""A web console: the incidents, one incident's timeline, and acting on them, in a browser.

``create_console(flow, config)`` is a Starlette app (``incident-flow serve`` mounts it at
``/ui`` when the configuration has a ``[console]`` table). Server-rendered, no CDN; closed by
default (a trusted proxy header or per-person hashed credentials). Needs the ``ui`` extra
(Jinja2) besides the ``server`` one; :class:`ConsoleConfig` and :func:`hash_password` need
neither. See docs/console.md.
"""

from __future__ import annotations

from ._create import create_console
from ._passwords import hash_password, verify_password
from ._settings import ConsoleConfig

__all__ = ["ConsoleConfig", "create_console", "hash_password", "verify_password"]
