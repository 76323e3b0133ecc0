"""The console's settings (``[console]`` in the service configuration): who may look, and how.

Closed by default: a console with no way to know who is looking does not mount. Two ways,
either or both:

- a trusted header (``proxy_header``, say ``X-Forwarded-User``) set by an authenticating proxy
  (oauth2-proxy and the like), believed only from the addresses in ``proxies``;
- per-person credentials (``[console.users]``: a name and a password *hash* made by
  ``incident-flow console hash-password``), a login form and a signed session cookie (the
  signing key ``secret`` comes from the environment, like every secret).

This module reads no file and imports no web library: the service's configuration reader
hands it the ``[console]`` table.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, Protocol

import attrs

from .._core.text import unknown_key
from ._passwords import is_password_hash

__all__ = ["ConsoleConfig", "read_console"]

_KEYS = (
    "proxy_header",
    "proxies",
    "users",
    "secret",
    "secure_cookie",
    "session_hours",
    "refresh_seconds",
)
_HEADER = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_USER = re.compile(r"^[^\s:]{1,100}$")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@attrs.frozen(kw_only=True)
class ConsoleConfig:
    """How the console knows who is looking (``[console]``).

    Attributes:
        proxy_header: the header an authenticating proxy sets to the person's name or email
            (None: no proxy).
        proxies: the addresses (or networks) the header is believed from; from any other
            address a request carrying it is refused.
        users: person name -> password hash (``scrypt$...``), for the login form.
        secret: the key that signs session cookies, flash messages and CSRF tokens (from the
            environment; needed with ``users``). Without it (proxy only) a random key is made
            at start.
        secure_cookie: send cookies over HTTPS only (default true; false for a plain-HTTP
            test set-up).
        session: how long a login lasts.
        refresh: how often the incident list refreshes itself in the browser (0: never).
    """

    proxy_header: str | None = None
    proxies: tuple[Network, ...] = ()
    users: Mapping[str, str] = attrs.field(factory=dict, repr=lambda u: f"<{len(u)} users>")
    secret: str | None = attrs.field(default=None, repr=lambda s: "'***'" if s else "None")
    secure_cookie: bool = True
    session: timedelta = timedelta(hours=12)
    refresh: timedelta = timedelta(seconds=15)

    def __attrs_post_init__(self) -> None:
        if not self.proxy_header and not self.users:
            msg = (
                "the console is closed by default: give proxy_header with proxies (an "
                "authenticating proxy), or [console.users] with secret (a login form)"
            )
            raise ValueError(msg)
        if self.proxy_header and not self.proxies:
            msg = "proxy_header is believed only from the proxies: give their addresses"
            raise ValueError(msg)
        if self.users and not self.secret:
            msg = "[console.users] needs secret (the key that signs the session cookies)"
            raise ValueError(msg)

    def trusts(self, address: str | None) -> bool:
        """Whether a request from ``address`` may carry the proxy's header."""
        if address is None:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.proxies)

    def describe(self) -> list[str]:
        """What it configures, one line each, the secret hidden (``config check`` says it)."""
        lines = []
        if self.proxy_header:
            shown = ", ".join(str(n) for n in self.proxies)
            lines.append(f"console: the {self.proxy_header} header, from {shown} only")
        if self.users:
            lines.append(f"console: a login form for {len(self.users)} people (hashed)")
        return lines


class _Reader(Protocol):
    """What the service's configuration reader gives this module."""

    def problem(self, path: str, text: str) -> None: ...

    def secret(self, path: str, raw: object) -> str | None: ...


def read_console(reader: _Reader, data: object) -> ConsoleConfig | None:
    """The ``[console]`` table as a :class:`ConsoleConfig`, or None when absent (or wrong).

    Every problem is said to ``reader.problem`` with its path (``console.users.alice``...).
    """
    if data is None:
        return None
    if not isinstance(data, Mapping):
        reader.problem("console", f"must be a table, got {data!r}")
        return None
    before = _problems_seen(reader)
    for key in data:
        if key not in _KEYS:
            reader.problem(f"console.{key}", unknown_key(key, _KEYS))
    header = data.get("proxy_header")
    if header is not None and (not isinstance(header, str) or not _HEADER.match(header)):
        reader.problem("console.proxy_header", f"must be a header name, got {header!r}")
        header = None
    proxies = _networks(reader, data.get("proxies", []))
    users = _users(reader, data.get("users", {}))
    secret = reader.secret("console.secret", data.get("secret"))
    secure = data.get("secure_cookie", True)
    if not isinstance(secure, bool):
        reader.problem("console.secure_cookie", f"must be true or false, got {secure!r}")
        secure = True
    hours = _number(reader, "console.session_hours", data.get("session_hours", 12), 0.01, 720)
    refresh = _number(reader, "console.refresh_seconds", data.get("refresh_seconds", 15), 0, 3600)
    if _problems_seen(reader) > before:
        return None
    try:
        return ConsoleConfig(
            proxy_header=header,
            proxies=proxies,
            users=users,
            secret=secret,
            secure_cookie=secure,
            session=timedelta(hours=hours),
            refresh=timedelta(seconds=refresh),
        )
    except ValueError as exc:
        reader.problem("console", str(exc))
        return None


def _problems_seen(reader: _Reader) -> int:
    problems: Any = getattr(reader, "problems", ())
    return len(problems)


def _networks(reader: _Reader, raw: object) -> tuple[Network, ...]:
    if not isinstance(raw, list):
        reader.problem("console.proxies", f"must be a list of addresses, got {raw!r}")
        return ()
    found: list[Network] = []
    for n, item in enumerate(raw):
        try:
            found.append(ipaddress.ip_network(str(item), strict=False))
        except ValueError:
            reader.problem(
                f"console.proxies[{n}]", f"must be an address or a network, got {item!r}"
            )
    return tuple(found)


def _users(reader: _Reader, raw: object) -> dict[str, str]:
    if not isinstance(raw, Mapping):
        reader.problem("console.users", f"must be a table of name = hash, got {raw!r}")
        return {}
    users: dict[str, str] = {}
    for name, value in raw.items():
        path = f"console.users.{name}"
        if not _USER.match(str(name)):
            reader.problem(path, "a name without spaces or colons")
        elif not isinstance(value, str) or not is_password_hash(value):
            # Never the value itself in the message: it may be a password written in clear.
            reader.problem(
                path,
                "must be a password hash (scrypt$...), never the password: make one with "
                "`incident-flow console hash-password`",
            )
        else:
            users[str(name)] = value
    return users


def _number(reader: _Reader, path: str, raw: object, low: float, high: float) -> float:
    check: Callable[[object], bool] = lambda v: (  # noqa: E731 - one use, reads as the rule
        isinstance(v, int | float) and not isinstance(v, bool) and low <= v <= high
    )
    if not check(raw):
        reader.problem(path, f"must be a number from {low:g} to {high:g}, got {raw!r}")
        return low
    return float(raw)  # type: ignore[arg-type]
