"""What the console's tests share: a flow with people, a console app, a logged-in browser."""

from __future__ import annotations

import re
import warnings
from datetime import UTC, datetime
from typing import Any

import attrs

from incident_flow import Alert, AsyncIncidentFlow, MemoryStore, Person, Policy, RecordingNotifier
from incident_flow.console import ConsoleConfig, create_console, hash_password
from incident_flow.testing import ManualClock, RecordingPublisher

with warnings.catch_warnings():  # starlette asks for httpx2; httpx is what we have
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

START = datetime(2026, 3, 27, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"  # noqa: S105 - a test login
#: Hashed once: scrypt costs tens of milliseconds.
HASHES = {name: hash_password(PASSWORD) for name in ("alice", "bob", "mallory")}
SECRET = "console-test-secret-0123456789"  # noqa: S105 - a test key
PROXY_HEADER = "X-Forwarded-User"
BASE = "https://testserver"


def policy() -> Policy:
    """The default policy with two people (mallory has a login but is nobody's person)."""
    people = [
        Person(name="alice", email=["alice@example.com"]),
        Person(name="bob", email=["bob@example.com"]),
    ]
    return attrs.evolve(Policy.default(), people=people, timezone="Europe/Paris")


def make_flow(store: Any = None) -> AsyncIncidentFlow:
    return AsyncIncidentFlow(
        policy(),
        store=store if store is not None else MemoryStore(),
        notifier=RecordingNotifier(),
        pager=RecordingNotifier(),
        publisher=RecordingPublisher(),
        clock=ManualClock(START),
    )


def config(**changes: Any) -> ConsoleConfig:
    settings: dict[str, Any] = {
        "users": HASHES,
        "secret": SECRET,
        "proxy_header": PROXY_HEADER,
        "proxies": (__import__("ipaddress").ip_network("10.0.0.1/32"),),
    }
    settings.update(changes)
    return ConsoleConfig(**settings)


def client(flow: AsyncIncidentFlow, console: ConsoleConfig | None = None) -> TestClient:
    app = create_console(flow, console or config())
    return TestClient(app, base_url=BASE, follow_redirects=False)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def login(browser: TestClient, name: str = "alice", password: str = PASSWORD) -> Any:
    form = browser.get("/login")
    return browser.post(
        "/login",
        data={"csrf": csrf_of(form.text), "name": name, "password": password, "next": "/"},
    )


def alert(n: int = 1, **changes: Any) -> Alert:
    fields: dict[str, Any] = {
        "source": "alertmanager",
        "name": "HighLatency",
        "title": f"Checkout latency high #{n}",
        "severity": "P2",
        "dedup_key": f"key-{n}",
        "labels": {"service": "checkout"},
        "description": "p99 over 2s",
        "url": "https://grafana.example.com/d/abc",
    }
    fields.update(changes)
    return Alert(**fields)
