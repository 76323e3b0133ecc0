"""Logging in and out (``[console.users]``): a form, a signed session cookie, a bounded guess rate.

``GET /login`` shows the form; ``POST /login`` checks its CSRF token, the name and the
password (scrypt, constant time, the same cost for an unknown name), then sets the session
cookie (HttpOnly, SameSite=Lax, Secure unless configured off) and goes where the person was
going. Five wrong passwords for one name within 15 minutes lock that name for 15 minutes.
``POST /logout`` ends the session: its cookie is refused from then on, even replayed.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ._app import CSRF_COOKIE, SESSION_COOKIE, Console, Refused, _inside
from ._passwords import verify_password

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

__all__ = ["NAV", "routes"]

NAV: tuple[tuple[str, str], ...] = ()
#: Wrong passwords for one name within ``_WINDOW`` before it is locked for ``_WINDOW``.
_TRIES = 5
_WINDOW = timedelta(minutes=15)


class _Guesses:
    """Wrong passwords by name, to lock a name being guessed (in this process)."""

    def __init__(self) -> None:
        self._failed: dict[str, list[datetime]] = {}
        self._lock = threading.Lock()

    def locked(self, name: str, now: datetime) -> bool:
        with self._lock:
            recent = [t for t in self._failed.get(name, []) if now - t < _WINDOW]
            self._failed[name] = recent
            return len(recent) >= _TRIES

    def failed(self, name: str, now: datetime) -> None:
        with self._lock:
            self._failed.setdefault(name, []).append(now)
            if len(self._failed) > 10_000:  # bounded: a flood of made-up names
                self._failed.pop(next(iter(self._failed)))

    def forget(self, name: str) -> None:
        with self._lock:
            self._failed.pop(name, None)


def routes(console: Console) -> list[BaseRoute]:
    """The login form, the login and the logout."""
    guesses = _Guesses()

    async def login_form(request: Request) -> Response:
        if not console.config.users:
            return console.refusal(
                request, None, Refused(404, "no login here: sign in through the proxy")
            )
        try:
            viewer = console.who(request)
        except Refused:
            viewer = None
        target = _inside(request.query_params.get("next", "/"))
        return console.render(request, viewer, "login.html", {"next": target, "error": None})

    async def login(request: Request) -> Response:
        if not console.config.users:
            return console.refusal(request, None, Refused(404, "no login here"))
        try:
            console.same_origin(request)
            form = await console.form(request)
            if not console.signer.csrf_ok(
                "", request.cookies.get(CSRF_COOKIE), form.get("csrf", "")
            ):
                raise Refused(403, "the form is stale or forged (CSRF): reload the page")
        except Refused as refused:
            return console.refusal(request, None, refused)
        name = form.get("name", "").strip()
        password = form.get("password", "")
        target = _inside(form.get("next", "/"))
        now = console.now()
        stored = console.config.users.get(name)
        if guesses.locked(name, now):
            error = "too many wrong passwords for this name: try again in 15 minutes"
            return console.render(
                request, None, "login.html", {"next": target, "error": error}, status=429
            )
        # scrypt takes tens of milliseconds: off the event loop.
        right = await asyncio.to_thread(verify_password, password, stored)
        if not right or stored is None:
            guesses.failed(name, now)
            error = "wrong name or password"
            return console.render(
                request, None, "login.html", {"next": target, "error": error}, status=401
            )
        guesses.forget(name)
        expires = now + console.config.session
        token = console.signer.session(name, stored, now=now, expires=expires)
        response = console.redirect(request, target)
        console.cookie(
            response,
            request,
            SESSION_COOKIE,
            token,
            max_age=int(console.config.session.total_seconds()),
        )
        return response

    async def logout(request: Request) -> Response:
        try:
            viewer = console.who(request)
            if viewer is None:
                raise Refused(401, "sign in first")
            console.same_origin(request)
            form = await console.form(request)
            binding = request.cookies.get(CSRF_COOKIE)
            if not console.signer.csrf_ok(viewer.name, binding, form.get("csrf", "")):
                raise Refused(403, "the form is stale or forged (CSRF): reload the page")
        except Refused as refused:
            return console.refusal(request, None, refused)
        console.signer.end_session(request.cookies.get(SESSION_COOKIE), now=console.now())
        response = console.redirect(request, "/login", flash=("ok", "logged out"))
        response.delete_cookie(SESSION_COOKIE, path=console.cookie_path(request))
        return response

    return [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]
