"""Which links in a vendor's answers a fetch follows, and how far it pages.

A vendor's answers carry links: Grafana OnCall's ``next`` pages and the calendar URLs of its
``ical`` schedules. They are data the vendor (or whoever edited it) wrote, so they are checked
before anything is asked of them:

- the API's own origin (the URL the user gave: scheme, host and port) is always followed;
- any other link only over HTTPS, only to a host the user listed (``allowed_hosts``,
  ``--allow-host``), and only where every address the name resolves to is public: never
  loopback, private, link-local, shared, reserved, multicast or unspecified (loopback is
  allowed when the API itself is on this machine, as in tests; plain HTTP then too, to
  loopback names only). Pages are read from the API's own origin only: the token goes nowhere else.

A refused link is :class:`RefusedLink`, naming its scheme and host only (a calendar's path
may hold a secret). :class:`Pages` bounds a list: a page seen before, or more than
``max_pages`` of them, is an error saying so.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from urllib.parse import SplitResult, urlsplit

from ._common import InvalidExport

__all__ = ["MAX_PAGES", "Links", "Pages", "RefusedLink", "Resolver", "resolve", "shown"]

#: The most pages one list is read in (100 items a page): more is an API paging forever.
MAX_PAGES = 1000
#: A host name to the addresses it resolves to (tests pass their own).
Resolver = Callable[[str], Sequence[str]]
_PORTS = {"https": 443, "http": 80}
_LOCAL_NAMES = ("localhost",)


class RefusedLink(InvalidExport):
    """A link in a vendor's answer that is not followed (the message says why)."""


def resolve(host: str) -> list[str]:
    """The addresses ``host`` resolves to (empty when it does not resolve)."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return [str(info[4][0]) for info in infos]


def shown(url: str) -> str:
    """``url`` as its scheme and host only (``https://calendar.example.com``), for messages."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    where = f"[{host}]" if ":" in host else host
    return f"{parts.scheme or '(no scheme)'}://{where or '(no host)'}" + (
        f":{port}" if port else ""
    )


def _origin(parts: SplitResult) -> tuple[str, str, int]:
    port = parts.port  # a bad port is a ValueError, refused by the caller
    return (
        parts.scheme.lower(),
        (parts.hostname or "").lower().rstrip("."),
        port or _PORTS.get(parts.scheme.lower(), 0),
    )


def _host_entry(entry: str) -> tuple[str, int | None]:
    """An ``--allow-host`` entry (``HOST`` or ``HOST:PORT``) as a host and maybe a port."""
    parts = urlsplit(f"//{entry.strip()}")
    try:
        port = parts.port
    except ValueError:
        port = -1
    host = (parts.hostname or "").lower().rstrip(".")
    if not host or port == -1 or parts.path or parts.query or parts.username or "/" in entry:
        msg = f"--allow-host takes a host name (calendar.example.com) or HOST:PORT, got {entry!r}"
        raise InvalidExport(msg)
    return host, port


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv4 address written as IPv6 is checked as the IPv4 address it reaches.
        ip = ip.ipv4_mapped or ip.sixtofour or ip
    return ip


def not_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """What kind of non-public address ``ip`` is (``link-local``...), or None if public."""
    for kind, flag in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("unspecified", ip.is_unspecified),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
    ):
        if flag:
            return kind
    return None if ip.is_global else "shared (not public)"


def _loopback(host: str) -> bool:
    """Whether ``host`` names this machine (``localhost``, or a loopback address)."""
    literal = _address(host)
    return host in _LOCAL_NAMES or bool(literal and literal.is_loopback)


class Links:
    """The link rules of one fetch: the API's origin, the hosts the user listed, a resolver.

    Args:
        base: the API's base URL (already checked: HTTPS, or HTTP to this machine).
        allowed_hosts: hosts (``HOST`` or ``HOST:PORT``) other links may go to.
        resolver: how a host name is resolved (default: the system's).

    Raises:
        InvalidExport: an allowed host that is not a host name.
    """

    def __init__(
        self, base: str, allowed_hosts: Iterable[str] = (), resolver: Resolver = resolve
    ) -> None:
        self.api = _origin(urlsplit(base))
        self.allowed = {_host_entry(entry) for entry in allowed_hosts}
        self.resolver = resolver
        #: The API is on this machine (a local server): loopback links are allowed too.
        self.local = _loopback(self.api[1])

    def page(self, url: str) -> None:
        """Check a page link: the API's own origin only (the token goes with it).

        Raises:
            RefusedLink: another scheme, host or port.
        """
        if self.own(url):
            return
        api = f"{self.api[0]}://{self.api[1]}:{self.api[2]}"
        msg = (
            f"a page link to {shown(url)} is not the API's own {api}; not followed "
            "(pages are read from the API only: the token goes nowhere else)"
        )
        raise RefusedLink(msg)

    def own(self, url: str) -> bool:
        """Whether ``url`` is on the API's own origin (scheme, host and port)."""
        try:
            return _origin(urlsplit(url)) == self.api
        except ValueError:
            return False

    def other(self, url: str) -> None:
        """Check a link off the API (a calendar; fetched without the token).

        Raises:
            RefusedLink: not HTTPS, a host not listed, a name that does not resolve, or an
                address that is not public.
        """
        link = shown(url)
        parts = urlsplit(url)
        if parts.username is not None or parts.password is not None:
            msg = f"{link}: a link with a user name or password in it is not followed"
            raise RefusedLink(msg)
        try:
            scheme, host, port = _origin(parts)
        except ValueError:
            msg = f"{link}: not a port number: not followed"
            raise RefusedLink(msg) from None
        if (scheme, host, port) == self.api:
            return
        if scheme not in _PORTS or (scheme == "http" and not (self.local and _loopback(host))):
            msg = f"{link}: not an https:// link: not fetched (plain HTTP can be read or changed)"
            raise RefusedLink(msg)
        if (host, port) not in self.allowed and (host, None) not in self.allowed:
            msg = f"{link}: not the API's host: not fetched (--allow-host {host} to fetch it)"
            raise RefusedLink(msg)
        literal = _address(host)
        found = [str(literal)] if literal else list(self.resolver(host))
        if not found:
            msg = f"{link}: the name does not resolve: not fetched"
            raise RefusedLink(msg)
        for text in found:
            ip = _address(text.split("%")[0])
            kind = "not an address" if ip is None else not_public(ip)
            if kind == "loopback" and self.local:
                continue  # a local API's tests: this machine, and nothing else private
            if kind is not None:
                msg = f"{link}: {host} is at {text}, a {kind} address: not fetched"
                raise RefusedLink(msg)
            if scheme == "http":
                msg = f"{link}: not an https:// link: not fetched (plain HTTP off this machine)"
                raise RefusedLink(msg)


class Pages:
    """Counts the pages of one list and refuses a loop: a page seen before, or too many.

    Args:
        what: the list, for messages (``GET /api/v1/users/``).
        max_pages: the most pages read.
    """

    def __init__(self, what: str, max_pages: int = MAX_PAGES) -> None:
        self.what, self.max_pages = what, max_pages
        self.seen: set[str] = set()

    def next(self, key: str, shown_as: str) -> None:
        """Record the next page (``key``: its URL or offset; ``shown_as``: how to name it).

        Raises:
            InvalidExport: the page was read before, or it would be one too many.
        """
        if key in self.seen:
            msg = f"{self.what}: the API's paging loops ({shown_as} was read before): stopped"
            raise InvalidExport(msg)
        if len(self.seen) >= self.max_pages:
            msg = (
                f"{self.what}: more than {self.max_pages} pages (max_pages): stopped "
                "(an API paging forever?)"
            )
            raise InvalidExport(msg)
        self.seen.add(key)
