"""The console in a real browser: headless Chromium on the real service (see browser_kit.py).

An incident followed from the alert to the close by clicking, a silence and an override made
and ended, the calendar across a DST week, every page photographed, and the forms checked for
keyboard use: every control reached by Tab, labelled, and its focus visible. Hostile text
from an alert never runs: no dialog opens on any page.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from pytest_httpserver import HTTPServer

from .browser_kit import AM_TOKEN, PASSWORD, Service, Shots, browser_or_skip, launch
from .vendors import FakePagerDuty, FakeSlack

SAMPLES = Path(__file__).parent / "samples"
HOSTILE = '<img src=x onerror=alert(1)> checkout 5xx "quoted" & more'


@pytest.fixture(scope="module")
def playwright_api() -> Any:
    return browser_or_skip()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, playwright_api: Any) -> Iterator[Service]:
    vendors = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    vendors.start()
    try:
        slack, pagerduty = FakeSlack(vendors), FakePagerDuty(vendors)
        with Service(tmp_path_factory.mktemp("service"), slack, pagerduty) as running:
            yield running
    finally:
        vendors.clear()
        vendors.stop()


@pytest.fixture(scope="module")
def browser(playwright_api: Any) -> Iterator[Any]:
    yield from launch(playwright_api)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Shots:
    import os

    folder = os.environ.get("BROWSER_ARTIFACTS")
    return Shots(Path(folder) if folder else tmp_path_factory.mktemp("browser-artifacts"))


def follow(page: Any, target: Any) -> None:
    """Click a link or a form's button and wait for the page it leads to (after a 303 too)."""
    with page.expect_navigation():
        target.click()


class Session:
    """One person's browser context, logged in, watching for dialogs (an escaping failure)."""

    def __init__(self, browser: Any, service: Service, name: str) -> None:
        self.context = browser.new_context(
            viewport={"width": 1280, "height": 900}, timezone_id="America/Chicago"
        )
        self.page = self.context.new_page()
        self.page.set_default_timeout(10_000)
        self.dialogs: list[str] = []
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.ui = service.ui
        self.page.goto(f"{self.ui}/login")
        self.page.get_by_label("Name").fill(name)
        self.page.get_by_label("Password").fill(PASSWORD)
        follow(self.page, self.page.get_by_role("button", name="Log in"))
        self.page.wait_for_url(f"{self.ui}/**")
        assert "/login" not in self.page.url

    def go(self, path: str) -> Any:
        self.page.goto(f"{self.ui}{path}")
        return self.page

    def click(self, name: str) -> str:
        """Click the button ``name``; the message the next page shows."""
        follow(self.page, self.page.get_by_role("button", name=name, exact=True).first)
        return self.flash()

    def flash(self) -> str:
        found = self.page.locator(".flash")
        return found.first.inner_text() if found.count() else ""

    def close(self) -> None:
        assert self.dialogs == [], f"a script ran: {self.dialogs}"
        self.context.close()


@pytest.fixture(scope="module")
def alice(browser: Any, service: Service) -> Iterator[Session]:
    session = Session(browser, service, "alice")
    yield session
    session.close()


@pytest.fixture(scope="module")
def bob(browser: Any, service: Service) -> Iterator[Session]:
    session = Session(browser, service, "bob")
    yield session
    session.close()


def fire(service: Service) -> None:
    body = json.loads((SAMPLES / "alertmanager_firing.json").read_text())
    body["alerts"] = body["alerts"][:1]
    body["alerts"][0]["annotations"]["summary"] = HOSTILE
    body["alerts"][0]["annotations"]["description"] = HOSTILE
    answer = httpx.post(
        f"{service.url}/webhooks/alertmanager",
        json=body,
        headers={"X-Incident-Flow-Token": AM_TOKEN},
        timeout=10,
    )
    assert answer.status_code == 202, answer.text


class TestAnIncidentByClicking:
    """From the alert to the close, every step a click in the console."""

    def test_alert_to_close(
        self, service: Service, alice: Session, bob: Session, shots: Shots
    ) -> None:
        fire(service)
        page = alice.go("/incidents")
        link = page.get_by_role("link", name=HOSTILE)
        assert link.count() == 1  # the title is text, not markup
        shots.take(page, "incidents")
        follow(page, link)
        incident_url = page.url
        assert page.locator("h1").inner_text().endswith(HOSTILE)
        assert "acknowledged by alice" in alice.click("Acknowledge")
        assert "runbook started" in alice.click("Start runbook")
        page.get_by_label("Note").fill("rolled back the <b>deploy</b>")
        assert alice.click("Add note") == "note added"
        assert page.get_by_text("rolled back the <b>deploy</b>").count() >= 1
        shots.take(page, "incident")
        page.get_by_label("Resolution summary").fill("rollback")
        assert alice.click("Resolve").startswith("resolved")
        assert "post-mortem started" in alice.click("Start post-mortem")
        page.get_by_label("Impact").fill("checkout failed for 7% of requests")
        page.get_by_label("Root cause").fill("a bad deploy")
        page.get_by_label("Learnings (one a line)").fill("canary the checkout deploys")
        assert alice.click("Save draft") == "post-mortem draft saved"
        said = alice.click("Submit for review")
        assert said.startswith("post-mortem submitted for review"), said
        # A reviewer who is not the author approves, in another browser.
        bob.page.goto(incident_url)
        assert "approved by bob" in bob.click("Approve as bob")
        # With the approvals there, the service publishes it (the folder publisher saves it at
        # once, in the background); the Publish button does it when it has not yet.
        publish = bob.page.get_by_role("button", name="Publish", exact=True)
        if publish.count():
            said = bob.click("Publish")
            assert "post-mortem published" in said or "runbook_update" in said, said
        state = ""
        for _ in range(50):  # the service saves it in the background: a moment at most
            bob.page.reload()
            state = bob.page.locator(".facts").first.inner_text()
            if "runbook_update" in state:
                break
            bob.page.wait_for_timeout(100)
        assert "runbook_update" in state
        while bob.page.get_by_label("Action item to waive").count():
            bob.page.get_by_label("Why it is not needed").fill("covered by the canary work")
            assert "waived" in bob.click("Waive")
        assert bob.click("Close") == "closed"
        assert "closed" in bob.page.locator(".facts").first.inner_text()
        shots.take(bob.page, "incident-closed")


class TestSilencesAndOverrides:
    """A silence and an override made and ended from their forms."""

    def test_silence(self, alice: Session, shots: Shots) -> None:
        page = alice.go("/silences")
        page.get_by_label("Matchers", exact=False).fill("service=checkout-api env=prod")
        page.get_by_label("For how long", exact=False).fill("2h")
        page.get_by_label("Why").fill("database <maintenance>")
        said = alice.click("Create silence")
        assert said.startswith("silence sil-"), said
        row = page.locator("table.silences tbody tr").first
        assert "in force" in row.inner_text() and "database <maintenance>" in row.inner_text()
        shots.take(page, "silences")
        follow(page, page.locator("table.silences button", has_text="End now").first)
        assert alice.flash().endswith("ended")

    def test_override(self, alice: Session, shots: Shots) -> None:
        page = alice.go("/oncall/primary")
        page.get_by_label("in addition").check()
        page.get_by_label("People (names, commas between)").fill("carol")
        page.get_by_label("Why").fill("shadowing")
        said = alice.click("Create override")
        assert said.startswith("override ovr-") and "carol added" in said, said
        assert "carol" in page.locator("table.overrides").inner_text()
        shots.take(page, "oncall-override")
        follow(page, page.locator("table.overrides button", has_text="Cancel").first)
        assert alice.flash().endswith("ended")


def next_dst_day(hours: int) -> date:
    """The next day in Chicago that is ``hours`` long (23: spring forward; 25: fall back)."""
    zone = ZoneInfo("America/Chicago")
    day = datetime.now(UTC).astimezone(zone).date()
    for _ in range(400):
        day += timedelta(days=1)
        start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
        if end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=hours):
            return day
    raise AssertionError("no DST change in Chicago within 400 days")


class TestCalendarAcrossDST:
    """The week of Chicago's next spring forward: a 23-hour Sunday, the 02:30 handoff at the
    jump; and of its next fall back: a 25-hour Sunday."""

    def test_spring_week(self, alice: Session, shots: Shots) -> None:
        day = next_dst_day(23)
        page = alice.go(f"/oncall/primary?day={day}&tz=America/Chicago")
        notes = page.locator("p.dst").all_inner_texts()
        assert any("23-hour day" in n for n in notes)
        assert any(f"02:30 does not exist on {day}" in n for n in notes)
        svg = page.locator("svg.calendar")
        assert svg.locator("text.dst").text_content().startswith("23 hours")
        heights = svg.evaluate(
            "s => [...s.querySelectorAll('rect[stroke=\"#bbb\"]')]"
            ".map(r => +r.getAttribute('height'))"
        )
        assert heights[-1] / heights[0] == pytest.approx(23 / 24)  # Sunday drawn shorter
        moved = svg.locator("g.handoff.moved title").text_content()
        assert f"{day} 03:00 CDT" in moved
        shots.take(page, "oncall-week-dst")
        follow(page, page.get_by_role("link", name="Month"))
        assert page.locator("table.month").count() == 1
        shots.take(page, "oncall-month")

    def test_autumn_week(self, alice: Session) -> None:
        day = next_dst_day(25)
        page = alice.go(f"/oncall/primary?day={day}&tz=America/Chicago")
        assert page.locator("svg.calendar text.dst").text_content().startswith("25 hours")


class TestEveryPage:
    """Each page renders and is photographed."""

    @pytest.mark.parametrize(
        ("path", "name", "heading"),
        [
            ("/oncall", "oncall", "On call"),
            ("/runbooks", "runbooks", "Runbook catalog"),
            ("/report?weeks=4", "report", "Report: the last 4 weeks"),
            ("/process", "process", "The incident process"),
        ],
    )
    def test_page(self, alice: Session, shots: Shots, path: str, name: str, heading: str) -> None:
        page = alice.go(path)
        assert page.locator("h1").inner_text() == heading
        shots.take(page, name)

    def test_login_page(self, browser: Any, service: Service, shots: Shots) -> None:
        context = browser.new_context(viewport={"width": 1280, "height": 700})
        page = context.new_page()
        page.goto(f"{service.ui}/oncall")
        assert "/login" in page.url
        shots.take(page, "login")
        context.close()


#: What a keyboard reaches: every control a person can use.
_CONTROLS = "input:not([type=hidden]), select, textarea, button, a[href]"


class TestKeyboard:
    """Tab reaches every control of the forms, in the page's order, each labelled, focus shown."""

    @pytest.mark.parametrize("path", ["/silences", "/oncall/primary", "/incidents", "incident"])
    def test_tab_order_labels_focus(self, alice: Session, path: str) -> None:
        if path == "incident":  # an open incident's page: its command forms
            page = alice.go("/incidents")
            follow(page, page.locator("table.incidents tbody a").first)
            assert page.get_by_role("button", name="Add note").count() == 1
        else:
            page = alice.go(path)
        keyboard_check(page)

    def test_the_login_form(self, browser: Any, service: Service) -> None:
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{service.ui}/login")
        keyboard_check(page)
        context.close()


def keyboard_check(page: Any) -> None:
    """Tab reaches every control; each is labelled or named; the focused one shows it.

    The order is the page's (no positive ``tabindex`` reorders it).
    """
    assert (
        page.evaluate(
            "() => [...document.querySelectorAll('[tabindex]')].filter(e => e.tabIndex > 0).length"
        )
        == 0
    )
    wanted = page.evaluate(
        """sel => [...document.querySelectorAll(sel)]
             .filter(e => e.offsetParent !== null && !e.disabled && e.tabIndex >= 0)
             .map(e => e.type === 'radio' ? 'radio:' + e.name
                                          : (e.id || e.name || e.textContent.trim()))""",
        _CONTROLS,
    )
    reached: list[str] = []
    outlines: list[str] = []
    page.locator("body").focus()
    # A date-time field takes a Tab per part (day, month, year, hour, minute).
    for _ in range(len(wanted) * 6 + 20):
        page.keyboard.press("Tab")
        found = page.evaluate(
            """() => { const e = document.activeElement;
              if (!e || e === document.body) return null;
              const s = getComputedStyle(e);
              const key = e.type === 'radio' ? 'radio:' + e.name
                                             : (e.id || e.name || e.textContent.trim());
              return [key, s.outlineStyle + ' ' + s.outlineWidth]; }"""
        )
        if found is None:
            continue  # past the last control, before Tab wraps to the first
        reached.append(found[0])
        outlines.append(found[1])
        if set(wanted) <= set(reached):
            break
    # A radio group is one Tab stop (the arrows move within it), as browsers do.
    missing = [w for w in wanted if w not in reached]
    assert not missing, f"Tab never reaches {missing}"
    # Every focused control shows its focus (the console's outline), none hides it.
    hidden = [(r, o) for r, o in zip(reached, outlines, strict=True) if o.startswith("none")]
    assert not hidden, hidden
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
             .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
             .map(e => e.id || e.name)"""
    )
    assert unlabelled == []
    unnamed = page.evaluate(
        """() => [...document.querySelectorAll('button')]
             .filter(b => !b.textContent.trim() && !b.getAttribute('aria-label'))
             .map(b => b.outerHTML)"""
    )
    assert unnamed == []
