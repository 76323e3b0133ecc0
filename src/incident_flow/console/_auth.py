"""Who is looking: signed values (session, flash), CSRF tokens, and the person behind a name.

Nothing here imports a web library: the console's app hands in header and cookie values.
Every signed value carries its purpose in the MAC, so a flash cookie is never a session and a
CSRF token of one person is never another's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from .._core.policy import Policy

__all__ = ["Signer", "Viewer", "person_of"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@attrs.frozen(kw_only=True)
class Viewer:
    """Who is looking.

    Attributes:
        name: the name they proved (the proxy's header, or the login's user name).
        person: their name in ``Policy.people`` (None: they may look, not act).
        via: ``proxy`` or ``session``.
        session: the session's id (a login), or None.
    """

    name: str
    person: str | None
    via: str
    session: str | None = None


def person_of(policy: Policy, name: str) -> str | None:
    """The person of ``Policy.people`` that ``name`` is (their name or one of their emails)."""
    key = name.strip().casefold()
    if not key:
        return None
    for person in policy.people:
        if person.name.casefold() == key or any(e.casefold() == key for e in person.email):
            return person.name
    return None


class Signer:
    """HMAC-SHA256 signed values, each bound to a purpose, and the sessions logged out.

    Args:
        secret: the key (the console's ``secret``); None: a random key for this process
            (proxy-only set-ups: its CSRF tokens and flash messages do not outlive it).
    """

    def __init__(self, secret: str | None) -> None:
        raw = secret.encode("utf-8") if secret else os.urandom(32)
        self._key = hashlib.sha256(b"incident_flow.console\n" + raw).digest()
        #: Sessions ended by "log out" (their id -> expiry), refused until they expire anyway.
        self._ended: dict[str, float] = {}
        self._lock = threading.Lock()

    def _mac(self, purpose: str, body: str) -> str:
        return _b64(hmac.new(self._key, f"{purpose}\n{body}".encode(), hashlib.sha256).digest())

    def sign(self, purpose: str, value: Mapping[str, Any]) -> str:
        """``value`` as a URL-safe token only this key makes, for ``purpose`` only."""
        body = _b64(json.dumps(dict(value), separators=(",", ":"), sort_keys=True).encode())
        return f"{body}.{self._mac(purpose, body)}"

    def unsign(self, purpose: str, token: str | None) -> dict[str, Any] | None:
        """The value of a token :meth:`sign` made for ``purpose``, or None (forged, garbled)."""
        if not token or token.count(".") != 1 or len(token) > 4096:
            return None
        body, mac = token.split(".")
        if not hmac.compare_digest(mac.encode(), self._mac(purpose, body).encode()):
            return None
        try:
            value = json.loads(_unb64(body))
        except (ValueError, UnicodeDecodeError):  # pragma: no cover - only we sign bodies
            return None
        return value if isinstance(value, dict) else None

    # ------------------------------------------------------------------ sessions

    def session(self, name: str, password_hash: str, *, now: datetime, expires: datetime) -> str:
        """A session cookie's value for ``name``, bound to their password hash."""
        return self.sign(
            "session",
            {
                "u": name,
                "id": _b64(os.urandom(16)),
                "exp": int(expires.timestamp()),
                "iat": int(now.timestamp()),
                "pw": _fingerprint(password_hash),
            },
        )

    def session_user(
        self, token: str | None, users: Mapping[str, str], *, now: datetime
    ) -> tuple[str, str] | None:
        """``(name, session id)`` of a live session cookie, or None.

        Refused: forged or garbled, expired, logged out, a name no longer configured, or a
        password hash changed since the login (changing it ends every session of theirs).
        """
        value = self.unsign("session", token)
        if value is None:
            return None
        name, session, expires = value.get("u"), value.get("id"), value.get("exp")
        if not isinstance(name, str) or not isinstance(session, str):
            return None
        if not isinstance(expires, int) or expires <= now.timestamp():
            return None
        stored = users.get(name)
        if stored is None or not hmac.compare_digest(str(value.get("pw")), _fingerprint(stored)):
            return None
        with self._lock:
            if session in self._ended:
                return None
        return name, session

    def end_session(self, token: str | None, *, now: datetime) -> None:
        """Log a session out: its cookie is refused from now on, even if replayed."""
        value = self.unsign("session", token)
        if value is None:
            return
        with self._lock:
            self._ended = {s: t for s, t in self._ended.items() if t > now.timestamp()}
            self._ended[str(value.get("id"))] = float(value.get("exp", 0))

    # ------------------------------------------------------------------ CSRF

    def csrf(self, viewer: str, binding: str) -> str:
        """The CSRF token of ``viewer`` for the browser holding ``binding`` (its CSRF cookie)."""
        return self._mac("csrf", f"{viewer}\n{binding}")

    def csrf_ok(self, viewer: str, binding: str | None, token: str | None) -> bool:
        """Whether ``token`` is :meth:`csrf` of this viewer and browser (constant time)."""
        if not binding or not token:
            return False
        return hmac.compare_digest(token.encode(), self.csrf(viewer, binding).encode())


def _fingerprint(password_hash: str) -> str:
    return _b64(hashlib.sha256(password_hash.encode()).digest()[:9])
