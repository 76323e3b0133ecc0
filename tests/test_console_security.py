"""The console is closed by default: every route proves its caller; forms prove their page.

The matrix: every console route, unauthenticated, is the login (a GET) or refused (a POST), and
a POST changes nothing; the proxy header from another address, a missing, forged or other
person's CSRF token, another site's Origin, a forged, expired, logged-out or replayed session
cookie are refused; hostile outside text is escaped on every page.
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import pytest

from incident_flow import AsyncIncidentFlow
from incident_flow.console import ConsoleConfig, create_console, hash_password, verify_password
from incident_flow.console._auth import Signer

from .console_kit import (
    HASHES,
    PROXY_HEADER,
    SECRET,
    alert,
    client,
    config,
    csrf_of,
    login,
    make_flow,
)


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


#: Every GET route of the console ({id}: an incident's id). Add the new pages here.
PAGES = (
    "/",
    "/incidents",
    "/incidents/{id}",
    "/oncall",
    "/oncall/primary",
    "/silences",
    "/runbooks",
    "/report",
    "/process",
)
#: Every POST route that changes something, with a form that would be accepted.
ACTIONS: tuple[tuple[str, dict[str, str]], ...] = (
    ("/incidents/{id}/acknowledge", {}),
    ("/incidents/{id}/start_runbook", {}),
    ("/incidents/{id}/note", {"text": "hi"}),
    ("/incidents/{id}/resolve", {"summary": "done"}),
    ("/incidents/{id}/escalate", {}),
    ("/incidents/{id}/reclassify", {"severity": "P4"}),
    ("/incidents/{id}/followup/start_postmortem", {}),
    ("/incidents/{id}/followup/amend_postmortem", {"impact": "i", "root_cause": "r"}),
    ("/incidents/{id}/followup/submit_postmortem", {}),
    ("/incidents/{id}/followup/approve_postmortem", {}),
    ("/incidents/{id}/followup/publish_postmortem", {}),
    ("/incidents/{id}/followup/waive_action_item", {"item": "AI-1", "reason": "r"}),
    ("/incidents/{id}/followup/close", {}),
    ("/silences", {"matchers": "service=x", "duration": "1h", "why": "w"}),
    ("/silences/sil-1/end", {}),
    ("/oncall/primary/override", {"mode": "add", "people": "bob", "end": "2099-01-01T00:00"}),
    ("/oncall/overrides/ovr-1/cancel", {}),
)


@pytest.fixture
def flow() -> AsyncIncidentFlow:
    return make_flow()


@pytest.fixture
def incident_id(flow: AsyncIncidentFlow) -> str:
    return str(run(flow.trigger(alert(1, severity="P1"))).id)


def version(flow: AsyncIncidentFlow, incident_id: str) -> tuple[int, int, int]:
    """What a POST could change: the incident, the silences, the overrides."""
    return (
        int(run(flow.get(incident_id)).version),
        len(run(flow.silences(active=False))),
        len(run(flow.overrides(active=False))),
    )


class TestUnauthenticated:
    """Nobody proved: GETs go to the login (or 401 without logins), POSTs change nothing."""

    @pytest.mark.parametrize("path", PAGES)
    def test_pages_go_to_the_login(
        self, flow: AsyncIncidentFlow, incident_id: str, path: str
    ) -> None:
        with client(flow) as browser:
            answer = browser.get(path.format(id=incident_id))
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login?next=")

    @pytest.mark.parametrize("path", PAGES)
    def test_without_logins_pages_are_401(
        self, flow: AsyncIncidentFlow, incident_id: str, path: str
    ) -> None:
        with client(flow, config(users={}, secret=None)) as browser:
            answer = browser.get(path.format(id=incident_id))
        assert answer.status_code == 401

    @pytest.mark.parametrize(("path", "form"), ACTIONS)
    def test_posts_change_nothing(
        self, flow: AsyncIncidentFlow, incident_id: str, path: str, form: dict[str, str]
    ) -> None:
        before = version(flow, incident_id)
        with client(flow) as browser:
            page = browser.get("/login")  # a CSRF cookie and a token, but no login
            answer = browser.post(
                path.format(id=incident_id), data={"csrf": csrf_of(page.text), **form}
            )
        assert answer.status_code == 401
        assert version(flow, incident_id) == before

    def test_logout_without_a_session(self, flow: AsyncIncidentFlow) -> None:
        with client(flow) as browser:
            assert browser.post("/logout", data={"csrf": "x"}).status_code == 401


class TestTheProxyHeader:
    """The header is believed from the proxies only."""

    def proxied(self, flow: AsyncIncidentFlow, address: str) -> Any:
        from starlette.testclient import TestClient

        app = create_console(flow, config())
        return TestClient(app, base_url="https://testserver", client=(address, 5000))

    def test_from_the_proxy(self, flow: AsyncIncidentFlow, incident_id: str) -> None:
        with self.proxied(flow, "10.0.0.1") as browser:
            headers = {PROXY_HEADER: "bob@example.com"}
            page = browser.get(f"/incidents/{incident_id}", headers=headers)
            assert page.status_code == 200 and "bob@example.com" in page.text
            answer = browser.post(
                f"/incidents/{incident_id}/acknowledge",
                data={"csrf": csrf_of(page.text)},
                headers=headers,
                follow_redirects=False,
            )
        assert answer.status_code == 303
        assert run(flow.get(incident_id)).acknowledged_by == "bob"  # the person, by email

    @pytest.mark.parametrize("path", PAGES)
    def test_from_anywhere_else_refused(
        self, flow: AsyncIncidentFlow, incident_id: str, path: str
    ) -> None:
        with self.proxied(flow, "10.0.0.2") as browser:
            answer = browser.get(path.format(id=incident_id), headers={PROXY_HEADER: "alice"})
        assert answer.status_code == 401
        assert "proxies only" in answer.text

    @pytest.mark.parametrize(("path", "form"), ACTIONS)
    def test_posts_from_elsewhere_change_nothing(
        self, flow: AsyncIncidentFlow, incident_id: str, path: str, form: dict[str, str]
    ) -> None:
        before = version(flow, incident_id)
        with self.proxied(flow, "192.168.1.9") as browser:
            answer = browser.post(
                path.format(id=incident_id),
                data={"csrf": "x", **form},
                headers={PROXY_HEADER: "alice"},
            )
        assert answer.status_code == 401
        assert version(flow, incident_id) == before

    def test_an_empty_header_and_a_stranger(
        self, flow: AsyncIncidentFlow, incident_id: str
    ) -> None:
        with self.proxied(flow, "10.0.0.1") as browser:
            assert browser.get("/", headers={PROXY_HEADER: " "}).status_code == 401
            headers = {PROXY_HEADER: "eve@elsewhere.example"}
            page = browser.get(f"/incidents/{incident_id}", headers=headers)
            assert "may look, not act" in page.text
            assert 'name="csrf"' not in page.text  # no form to act with
            signer = browser.app.state.console.signer
            token = signer.csrf("eve@elsewhere.example", browser.cookies.get("if_csrf"))
            answer = browser.post(
                f"/incidents/{incident_id}/acknowledge",
                data={"csrf": token},
                headers=headers,
            )
        assert answer.status_code == 403
        assert "not one of the policy" in answer.text
        assert run(flow.get(incident_id)).acknowledged_at is None


class TestCSRF:
    """Every POST carries the page's token, for this person and this browser."""

    @pytest.mark.parametrize("token", ["", "forged", None])
    def test_missing_or_forged(
        self, flow: AsyncIncidentFlow, incident_id: str, token: str | None
    ) -> None:
        before = version(flow, incident_id)
        with client(flow) as browser:
            login(browser)
            data = {"other": "1"} if token is None else {"csrf": token}
            answer = browser.post(f"/incidents/{incident_id}/acknowledge", data=data)
        assert answer.status_code == 403
        assert version(flow, incident_id) == before

    def test_another_persons_token(self, flow: AsyncIncidentFlow, incident_id: str) -> None:
        with client(flow) as bob:
            login(bob, "bob")
            bobs = csrf_of(bob.get("/").text)
        with client(flow) as alice:
            login(alice)
            answer = alice.post(f"/incidents/{incident_id}/acknowledge", data={"csrf": bobs})
        assert answer.status_code == 403

    def test_another_browsers_token(self, flow: AsyncIncidentFlow, incident_id: str) -> None:
        with client(flow) as first:
            login(first)
            token = csrf_of(first.get("/").text)
        with client(flow) as second:
            login(second)
            answer = second.post(f"/incidents/{incident_id}/acknowledge", data={"csrf": token})
        assert answer.status_code == 403

    def test_another_sites_page(self, flow: AsyncIncidentFlow, incident_id: str) -> None:
        with client(flow) as browser:
            login(browser)
            token = csrf_of(browser.get("/").text)
            answer = browser.post(
                f"/incidents/{incident_id}/acknowledge",
                data={"csrf": token},
                headers={"Origin": "https://evil.example"},
            )
        assert answer.status_code == 403
        assert run(flow.get(incident_id)).acknowledged_at is None

    def test_the_login_form_too(self, flow: AsyncIncidentFlow) -> None:
        with client(flow) as browser:
            answer = browser.post(
                "/login", data={"csrf": "x", "name": "alice", "password": "whatever"}
            )
        assert answer.status_code == 403

    def test_forms_are_urlencoded_and_bounded(
        self, flow: AsyncIncidentFlow, incident_id: str
    ) -> None:
        with client(flow) as browser:
            login(browser)
            url = f"/incidents/{incident_id}/note"
            assert browser.post(url, json={"csrf": "x"}).status_code == 415
            big = browser.post(url, data={"csrf": "x", "text": "a" * 70_000})
            assert big.status_code == 413


class TestSessions:
    """A session cookie is ours, live, and not logged out."""

    def test_a_wrong_password_and_an_unknown_name(self, flow: AsyncIncidentFlow) -> None:
        with client(flow) as browser:
            assert login(browser, "alice", "wrong password").status_code == 401
            assert login(browser, "nobody", "wrong password").status_code == 401
            assert "if_session" not in browser.cookies

    def test_guessing_locks_the_name(self, flow: AsyncIncidentFlow) -> None:
        with client(flow) as browser:
            for _ in range(5):
                login(browser, "bob", "guess guess")
            answer = login(browser, "bob")  # even the right password, for a while
            assert answer.status_code == 429

    def test_cookie_flags(self, flow: AsyncIncidentFlow) -> None:
        with client(flow) as browser:
            answer = login(browser)
        cookie = next(
            v for k, v in answer.headers.multi_items() if k == "set-cookie" and "if_session" in v
        )
        lowered = cookie.lower()
        assert "httponly" in lowered and "samesite=lax" in lowered and "secure" in lowered

    def test_forged_cookies(self, flow: AsyncIncidentFlow) -> None:
        other = Signer("another key").session(
            "alice", HASHES["alice"], now=flow._now(), expires=flow._now().replace(year=2030)
        )
        ours = Signer(SECRET).session(
            "alice", HASHES["alice"], now=flow._now(), expires=flow._now().replace(year=2030)
        )
        body, mac = ours.split(".")
        for forged in (other, f"{body}.{mac[:-2]}AA", "garbage", f"{body}x.{mac}", "a.b.c"):
            with client(flow) as browser:
                browser.cookies.set("if_session", forged)
                assert browser.get("/").status_code == 303, forged

    def test_logged_out_cookie_replayed(self, flow: AsyncIncidentFlow) -> None:
        app = create_console(flow, config())
        from starlette.testclient import TestClient

        with TestClient(app, base_url="https://testserver", follow_redirects=False) as browser:
            login(browser)
            cookie = browser.cookies.get("if_session")
            token = csrf_of(browser.get("/").text)
            answer = browser.post("/logout", data={"csrf": token})
            assert answer.status_code == 303 and answer.headers["location"] == "/login"
            assert browser.get("/").status_code == 303
            browser.cookies.set("if_session", str(cookie))  # the old cookie, replayed
            assert browser.get("/").status_code == 303

    def test_a_new_password_ends_the_sessions(self, flow: AsyncIncidentFlow) -> None:
        with client(flow) as browser:
            login(browser)
            cookie = str(browser.cookies.get("if_session"))
        changed = {**HASHES, "alice": hash_password("another password")}
        with client(flow, config(users=changed)) as browser:
            browser.cookies.set("if_session", cookie)
            assert browser.get("/").status_code == 303

    def test_a_login_goes_where_it_was_going_inside_only(self, flow: AsyncIncidentFlow) -> None:
        with client(flow) as browser:
            form = browser.get("/login?next=//evil.example/x")
            assert 'value="/"' in form.text
            answer = browser.post(
                "/login",
                data={
                    "csrf": csrf_of(form.text),
                    "name": "alice",
                    "password": "correct horse battery",
                    "next": "https://evil.example/",
                },
            )
        assert answer.headers["location"] == "/"


class TestEscaping:
    """Hostile alert titles, descriptions, labels and notes are text on every page."""

    HOSTILE = (
        '<script>alert("x")</script><img src=x onerror=alert(1)> *bold* <!channel> '
        "[a](javascript:x)"
    )

    def test_everywhere(self, flow: AsyncIncidentFlow) -> None:
        incident = run(
            flow.trigger(
                alert(
                    1,
                    title=self.HOSTILE,
                    description=self.HOSTILE,
                    labels={"service": self.HOSTILE},
                    url='https://x.example/"><script>alert(2)</script>',
                )
            )
        )
        run(flow.note(incident.id, self.HOSTILE, by="alice"))
        with client(flow) as browser:
            login(browser)
            pages = [
                browser.get("/").text,
                browser.get(f"/incidents/{incident.id}").text,
                browser.get(f"/incidents?source={self.HOSTILE}").text,
                browser.get("/incidents?state=" + "<b>x</b>").text,
            ]
        for page in pages:
            assert "<script>alert" not in page
            assert "<img src=x" not in page
            assert "<b>x</b>" not in page
        assert "&lt;script&gt;" in pages[1]

    def test_headers_forbid_inline_script(self, flow: AsyncIncidentFlow) -> None:
        with client(flow) as browser:
            login(browser)
            answer = browser.get("/")
        policy = answer.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert answer.headers["cache-control"] == "no-store"


class TestSettings:
    """Closed by default: a console without a way to prove who is looking cannot be made."""

    @pytest.mark.parametrize(
        ("settings", "said"),
        [
            ({}, "closed by default"),
            ({"proxy_header": "X-Forwarded-User"}, "believed only from the proxies"),
            ({"users": {"alice": HASHES["alice"]}}, "needs secret"),
        ],
    )
    def test_refused(self, settings: dict[str, Any], said: str) -> None:
        with pytest.raises(ValueError, match=said):
            ConsoleConfig(**settings)

    def test_trusts_only_its_proxies(self) -> None:
        settings = ConsoleConfig(
            proxy_header="X-Forwarded-User",
            proxies=(ipaddress.ip_network("10.0.0.0/24"),),
        )
        assert settings.trusts("10.0.0.7")
        assert not settings.trusts("10.0.1.7")
        assert not settings.trusts(None)
        assert not settings.trusts("testclient")
        assert "10.0.0.0/24" in settings.describe()[0]

    def test_passwords(self) -> None:
        hashed = hash_password("a long password")
        assert hashed.startswith("scrypt$16384$8$1$")
        assert verify_password("a long password", hashed)
        assert not verify_password("another password", hashed)
        assert not verify_password("a long password", None)
        assert not verify_password("a long password", "a long password")
        with pytest.raises(ValueError, match="at least 8"):
            hash_password("short")
        assert hashed != hash_password("a long password")  # salted


class TestSmallRefusals:
    """The login keeps the query it was asked with; the logout needs its token; odd cookies."""

    def test_the_login_keeps_the_query(self, flow: AsyncIncidentFlow) -> None:
        with client(flow) as browser:
            answer = browser.get("/incidents?state=all")
        assert answer.headers["location"] == "/login?next=%2Fincidents%3Fstate%3Dall"

    def test_logout_needs_its_token(self, flow: AsyncIncidentFlow) -> None:
        with client(flow) as browser:
            login(browser)
            assert browser.post("/logout", data={"csrf": "forged"}).status_code == 403
            assert browser.get("/").status_code == 200  # still logged in

    def test_odd_session_values(self, flow: AsyncIncidentFlow) -> None:
        signer = Signer(SECRET)
        now = flow._now()
        for value in ({"u": "alice", "id": "x", "exp": "never"}, {"u": 1, "id": "x", "exp": 9}):
            token = signer.sign("session", value)
            assert signer.session_user(token, HASHES, now=now) is None
        signer.end_session("garbage", now=now)  # nothing to end: no error
        flash = signer.sign("flash", {"u": "alice"})
        assert signer.session_user(flash, HASHES, now=now) is None  # another purpose


#: Served to anyone: the login form and the stylesheet and script (nothing of the incidents).
PUBLIC = {("GET", "/login"), ("POST", "/login")}


def every_route(flow: AsyncIncidentFlow) -> list[tuple[str, str]]:
    """Every (method, path template) the console's app serves, its own and those added later."""
    from starlette.routing import Route

    app = create_console(flow, config())
    found = []
    for route in app.routes:
        if isinstance(route, Route):
            found.extend((m, route.path) for m in sorted(route.methods or ()) if m != "HEAD")
    return found


class TestEveryRoute:
    """Found from the app itself, so a page added later is in the matrix without a word."""

    def test_the_matrix_knows_the_routes(self, flow: AsyncIncidentFlow) -> None:
        routes = every_route(flow)
        assert ("GET", "/incidents/{incident_id}") in routes
        assert ("POST", "/incidents/{incident_id}/{command}") in routes
        assert len(routes) >= 6

    def test_nobody_gets_anything(self, flow: AsyncIncidentFlow, incident_id: str) -> None:
        def filled(path: str) -> str:
            path = path.replace("{incident_id}", incident_id).replace("{command}", "acknowledge")
            return __import__("re").sub(r"\{[^}]+\}", "x", path)

        before = (
            version(flow, incident_id),
            run(flow.silences(active=False)),
            run(flow.overrides(active=False)),
        )
        with client(flow) as browser:
            token = csrf_of(browser.get("/login").text)
            for method, path in every_route(flow):
                if (method, path) in PUBLIC:
                    continue
                url = filled(path)
                if method == "GET":
                    answer = browser.get(url)
                    assert answer.status_code in (303, 401), (method, path)
                    if answer.status_code == 303:
                        assert answer.headers["location"].startswith("/login?next=")
                else:
                    answer = browser.request(method, url, data={"csrf": token, "why": "x"})
                    assert answer.status_code == 401, (method, path, answer.status_code)
        after = (
            version(flow, incident_id),
            run(flow.silences(active=False)),
            run(flow.overrides(active=False)),
        )
        assert after == before

    def test_the_header_from_elsewhere_gets_nothing(
        self, flow: AsyncIncidentFlow, incident_id: str
    ) -> None:
        from starlette.testclient import TestClient

        app = create_console(flow, config())
        before = version(flow, incident_id)
        with TestClient(app, base_url="https://testserver", client=("10.9.9.9", 1)) as browser:
            for method, path in every_route(flow):
                if (method, path) in PUBLIC:
                    continue
                url = path.replace("{incident_id}", incident_id).replace("{command}", "escalate")
                url = __import__("re").sub(r"\{[^}]+\}", "x", url)
                answer = browser.request(
                    method, url, headers={PROXY_HEADER: "alice"}, follow_redirects=False
                )
                assert answer.status_code == 401, (method, path, answer.status_code)
        assert version(flow, incident_id) == before
