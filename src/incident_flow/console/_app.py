"""The console's ASGI app: the pages, the one way they prove who is looking, the one way they act.

Every page is a GET wrapped by :meth:`Console.page` (who is looking, or 401 / the login form)
and every change a POST wrapped by :meth:`Console.action` (who, a person of the policy, the
CSRF token, a bounded form), which runs a flow command with ``by=`` the person and says the
outcome, or the refusal and what is possible now, as a flash message. See docs/console.md,
"Adding a page".
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from .._drivers.async_flow import AsyncIncidentFlow
from ..exceptions import IncidentFlowError, IncidentNotFound
from ._auth import Signer, Viewer, person_of
from ._settings import ConsoleConfig

if TYPE_CHECKING:
    from jinja2 import Environment
    from starlette.requests import Request
    from starlette.responses import Response

__all__ = ["Act", "Console", "Refused"]

#: The largest form a console POST may send.
MAX_FORM = 64 * 1024
CSRF_COOKIE = "if_csrf"
SESSION_COOKIE = "if_session"
FLASH_COOKIE = "if_flash"
TZ_COOKIE = "if_tz"
#: Every page: nothing from elsewhere, no inline script, not framed.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class Refused(Exception):
    """A console request refused: an HTTP status and the reason shown on the error page."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@attrs.define(kw_only=True)
class Act:
    """One POST from a console form, proved: what an action handler gets.

    Attributes:
        request: the Starlette request.
        viewer: who is looking.
        person: their name in ``Policy.people``: pass it as the command's ``by=``.
        form: the form's fields (the CSRF token checked and removed).
        back: where the browser goes afterwards, inside the console (a handler may change it).
    """

    request: Request
    viewer: Viewer
    person: str
    form: dict[str, str]
    back: str = "/"

    def field(self, name: str, *, required: bool = True) -> str:
        """A form field, stripped; a missing or blank required one is a refusal (400)."""
        value = self.form.get(name, "").strip()
        if required and not value:
            raise Refused(400, f"the form needs {name}")
        return value


Page = Callable[["Request", Viewer], Awaitable["Response"]]
Action = Callable[[Act], Awaitable[str]]


class Console:
    """The console's state: the flow, its settings, the templates and the signing key."""

    def __init__(
        self, flow: AsyncIncidentFlow, config: ConsoleConfig, env: Environment, nav: Sequence[Any]
    ) -> None:
        self.flow = flow
        self.config = config
        self.env = env
        self.nav = tuple(nav)
        self.signer = Signer(config.secret)

    # ------------------------------------------------------------------ who is looking

    def now(self) -> datetime:
        """The flow's clock (sessions expire by it)."""
        return self.flow._now()

    def who(self, request: Request) -> Viewer | None:
        """Who is looking, or None (nobody proved anything).

        Raises:
            Refused: the proxy's header came from an address not among the proxies.
        """
        config = self.config
        if config.proxy_header:
            value = request.headers.get(config.proxy_header)
            if value is not None:
                client = request.client.host if request.client else None
                if not config.trusts(client):
                    raise Refused(
                        401, f"the {config.proxy_header} header is believed from the proxies only"
                    )
                if not value.strip():
                    raise Refused(401, f"the {config.proxy_header} header is empty")
                name = value.strip()[:200]
                return Viewer(name=name, person=person_of(self.flow.policy, name), via="proxy")
        if config.users:
            found = self.signer.session_user(
                request.cookies.get(SESSION_COOKIE), config.users, now=self.now()
            )
            if found is not None:
                name, session = found
                person = person_of(self.flow.policy, name)
                return Viewer(name=name, person=person, via="session", session=session)
        return None

    def base(self, request: Request) -> str:
        """The console's path prefix (``/ui`` when the service mounts it)."""
        return str(request.scope.get("root_path", "")).rstrip("/")

    def zone(self, request: Request) -> ZoneInfo:
        """The viewer's time zone: ``?tz=``, their cookie, else the policy's."""
        for candidate in (
            request.query_params.get("tz"),
            request.cookies.get(TZ_COOKIE),
            self.flow.policy.timezone,
        ):
            if candidate and len(candidate) <= 64:
                try:
                    return ZoneInfo(candidate)
                except (ZoneInfoNotFoundError, ValueError):
                    continue
        return ZoneInfo("UTC")  # pragma: no cover - the policy's zone was checked

    # ------------------------------------------------------------------ responses

    def render(
        self,
        request: Request,
        viewer: Viewer | None,
        template: str,
        context: dict[str, Any],
        *,
        status: int = 200,
    ) -> Response:
        """A page from ``template``: the layout's context added, the cookies it needs set."""
        from starlette.responses import HTMLResponse  # noqa: PLC0415 - the ui extra

        binding = request.cookies.get(CSRF_COOKIE) or ""
        fresh = not binding or len(binding) > 100
        if fresh:
            binding = secrets.token_urlsafe(24)
        flash = self.signer.unsign("flash", request.cookies.get(FLASH_COOKIE))
        zone = self.zone(request)
        page = {
            "base": self.base(request),
            "viewer": viewer,
            "csrf": self.signer.csrf(viewer.name if viewer else "", binding),
            "flash": flash,
            "nav": self.nav,
            "zone": zone.key,
            "path": request.url.path,
            **context,
        }
        html = self.env.get_template(template).render(page)
        response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
        if fresh:
            # Lax, not Strict: a link from Slack would otherwise arrive without it, and a new
            # one would make the forms of the tabs already open stale.
            self.cookie(response, request, CSRF_COOKIE, binding)
        if flash is not None:
            response.delete_cookie(FLASH_COOKIE, path=self.cookie_path(request))
        if request.query_params.get("tz") and zone.key == request.query_params.get("tz"):
            self.cookie(response, request, TZ_COOKIE, zone.key, max_age=365 * 86400)
        return response

    def cookie_path(self, request: Request) -> str:
        """Cookies are the console's only: its path."""
        return self.base(request) + "/"

    def cookie(
        self,
        response: Response,
        request: Request,
        name: str,
        value: str,
        *,
        max_age: int | None = None,
        samesite: str = "lax",
    ) -> None:
        """Set a console cookie: HttpOnly, SameSite, Secure unless configured off."""
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=self.cookie_path(request),
            secure=self.config.secure_cookie,
            httponly=True,
            samesite=samesite,  # type: ignore[arg-type]
        )

    def refusal(self, request: Request, viewer: Viewer | None, refused: Refused) -> Response:
        """The error page of a refusal (its status, its reason, escaped)."""
        return self.render(
            request, viewer, "error.html", {"reason": refused.reason}, status=refused.status
        )

    def redirect(
        self, request: Request, to: str, *, flash: tuple[str, str] | None = None
    ) -> Response:
        """303 to a console path, with a flash message for the next page."""
        from starlette.responses import RedirectResponse  # noqa: PLC0415

        response = RedirectResponse(self.base(request) + to, status_code=303)
        if flash is not None:
            kind, text = flash
            self.cookie(
                response,
                request,
                FLASH_COOKIE,
                self.signer.sign("flash", {"k": kind, "t": text[:1000]}),
            )
        return response

    # ------------------------------------------------------------------ the two wrappers

    def page(self, handler: Page) -> Callable[[Request], Awaitable[Response]]:
        """A GET endpoint: the viewer proved (else the login form, or 401), then ``handler``."""

        async def endpoint(request: Request) -> Response:
            try:
                viewer = self.who(request)
            except Refused as refused:
                return self.refusal(request, None, refused)
            if viewer is None:
                if self.config.users:
                    target = request.url.path[len(self.base(request)) :] or "/"
                    if request.url.query:
                        target += "?" + request.url.query
                    return self.redirect(request, "/login?next=" + quote(target, safe=""))
                return self.refusal(request, None, Refused(401, "sign in through the proxy"))
            try:
                return await handler(request, viewer)
            except Refused as refused:
                return self.refusal(request, viewer, refused)
            except IncidentNotFound as exc:
                return self.refusal(request, viewer, Refused(404, str(exc)))

        return endpoint

    def action(self, handler: Action) -> Callable[[Request], Awaitable[Response]]:
        """A POST endpoint: proved, a person, same origin, CSRF, then ``handler`` with ``by=``.

        ``handler`` returns the message shown after it; a refusal of the process or the policy
        (any ``IncidentFlowError``) is shown instead, and nothing changed.
        """

        async def endpoint(request: Request) -> Response:
            viewer: Viewer | None = None
            try:
                viewer = self.who(request)
                if viewer is None:
                    raise Refused(401, "sign in first")
                self.same_origin(request)
                form = await self.form(request)
                token = form.pop("csrf", "")
                if not self.signer.csrf_ok(viewer.name, request.cookies.get(CSRF_COOKIE), token):
                    raise Refused(403, "the form is stale or forged (CSRF): reload the page")
                if viewer.person is None:
                    raise Refused(
                        403,
                        f"{viewer.name} may look, not act: not one of the policy's people",
                    )
                act = Act(
                    request=request,
                    viewer=viewer,
                    person=viewer.person,
                    form=form,
                    back=_inside(form.pop("back", "/")),
                )
            except Refused as refused:
                return self.refusal(request, viewer, refused)
            try:
                said = await handler(act)
            except Refused as refused:
                return self.redirect(request, act.back, flash=("error", refused.reason))
            except IncidentFlowError as exc:
                return self.redirect(request, act.back, flash=("error", str(exc)))
            return self.redirect(request, act.back, flash=("ok", said))

        return endpoint

    def same_origin(self, request: Request) -> None:
        """A POST's Origin (when the browser sends one) is this console's."""
        origin = request.headers.get("origin")
        if origin is None:
            return  # not a browser, or one that sends none: the CSRF token decides
        if urlsplit(origin).netloc != request.headers.get("host", request.url.netloc):
            raise Refused(403, "the form was sent from another site")

    async def form(self, request: Request) -> dict[str, str]:
        """The URL-encoded form, bounded (415, 413), its fields once each."""
        kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if kind != "application/x-www-form-urlencoded":
            raise Refused(415, "a console form is sent URL-encoded")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM:
                raise Refused(413, f"the form is over {MAX_FORM} bytes")
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
        except (UnicodeDecodeError, ValueError):
            raise Refused(400, "the form cannot be read") from None
        return dict(pairs)


def _inside(path: str) -> str:
    """A redirect target inside the console: a path, never another site (``//evil``)."""
    # Browsers drop tabs and newlines from URLs ("/\t/evil" is "//evil"): no control
    # character, no backslash, no second slash first.
    if any(c < " " or c == "\x7f" for c in path) or "\\" in path:
        return "/"
    if not path.startswith("/") or path.startswith("//") or len(path) > 2000:
        return "/"
    return path
