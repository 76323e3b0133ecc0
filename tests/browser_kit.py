"""A real browser on the real service: headless Chromium (Debian's) driven by Playwright.

The service is ``create_app`` of a real configuration file (what ``incident-flow serve``
runs), on uvicorn on a free loopback port, with a real SQLite store and the vendor fakes of
``tests/vendors.py`` for Slack and PagerDuty. The console is mounted at ``/ui`` with a login
(hashed credentials); the policy has people, a schedule in Chicago (its DST weeks) and a
runbook.

Screenshots go to ``$BROWSER_ARTIFACTS`` (else a pytest temporary folder); with
``CONSOLE_SCREENSHOTS=docs`` they are also written to ``docs/console/`` for the docs.

No browser here: the tests skip, except under CI (``CI=true``), where they fail: ``.ci/run``
installs Chromium when it is missing, so a missing one there is a broken set-up.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from incident_flow import (
    Alert,
    FolderPublisher,
    IncidentFlow,
    Policy,
    RecordingNotifier,
    SQLiteStore,
)
from incident_flow.console import hash_password
from incident_flow.server import async_flow, create_app
from incident_flow.server._config import load_config
from incident_flow.testing import ManualClock

from .test_server import Served
from .vendors import CHANNEL, ROUTING_KEY, TOKEN, FakePagerDuty, FakeSlack

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
DOCS_SHOTS = Path(__file__).parents[1] / "docs" / "console"
PASSWORD = "a long browser password"  # noqa: S105 - a test login
AM_TOKEN = "am-browser-token"  # noqa: S105 - a test token
ENV = {
    "SLACK_BOT_TOKEN": TOKEN,
    "SLACK_SIGNING_SECRET": "slack-browser-secret",
    "PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
    "ALERTMANAGER_TOKEN": AM_TOKEN,
    "CONSOLE_SECRET": "console-browser-secret-0123456789",
}

POLICY = """\
critical = ["P1", "P2"]
postmortem_reviewers = 1
postmortem_review_pool = ["alice", "bob"]
timezone = "America/Chicago"

[[escalation]]
targets = ["schedule:primary"]
wait = "5m"

[[escalation]]
targets = ["schedule:secondary"]

[[people]]
name = "alice"
email = ["alice@example.com"]

[[people]]
name = "bob"
email = ["bob@example.com"]

[[people]]
name = "carol"
email = ["carol@example.com"]

[[runbooks]]
name = "high-error-rate"
url = "https://runbooks.example.com/high-error-rate"
alert = "HighErrorRate*"
description = "Checkout answers 5xx"

[[schedules]]
name = "primary"
timezone = "America/Chicago"

[[schedules.layers]]
name = "daily"
members = ["alice", "bob"]
period = "1d"
handoff = "02:30"
start = 2026-01-05

[[schedules]]
name = "secondary"
timezone = "America/Chicago"

[[schedules.layers]]
name = "weekly"
members = ["carol", "alice"]
period = "1w"
handoff = "09:00"
start = 2026-01-05
"""

CONFIG = """\
policy_file = "{policy}"

[store]
sqlite = "{db}"

[slack]
token = "${{SLACK_BOT_TOKEN}}"
channel = "{channel}"
api_url = "{slack_url}"
signing_secret = "${{SLACK_SIGNING_SECRET}}"
team_id = "T024BE7LD"

[pagerduty]
routing_key = "${{PAGERDUTY_ROUTING_KEY}}"
url = "{pagerduty_url}"

[publisher]
kind = "folder"
folder = "{postmortems}"

[sources.alertmanager]
secret = "${{ALERTMANAGER_TOKEN}}"

[server]
host = "127.0.0.1"
port = 8080

[worker]
interval = "0.2s"

[console]
secret = "${{CONSOLE_SECRET}}"
secure_cookie = false
refresh_seconds = 0

[console.users]
alice = "{alice}"
bob = "{bob}"
viewer = "{viewer}"
"""


def seed(policy: Policy, db: Path, folder: Path, *, weeks: int = 8) -> None:
    """Some weeks of past incidents in the store, for the report and the catalog to show.

    Made by the library's own flow on a manual clock, as they would have happened: each is
    acknowledged and resolved after a while, the critical ones closed with a reviewed
    post-mortem, one P3 left open.
    """
    store = SQLiteStore(str(db))
    start = datetime.now(UTC) - timedelta(weeks=weeks)
    clock = ManualClock(start)
    flow = IncidentFlow(
        policy,
        store=store,
        notifier=RecordingNotifier(),
        pager=RecordingNotifier(),
        publisher=FolderPublisher(str(folder)),
        clock=clock,
    )
    plan = [("P1", "HighErrorRateCheckout", 3, 40), ("P2", "DiskFull", 6, 90)]
    plan += [("P3", "SlowQueries", 20, 180), ("P2", "HighErrorRateCart", 4, 55)]
    for week in range(weeks):
        for n, (severity, name, ack, fix) in enumerate(plan[: 2 + week % 3]):
            clock.set(start + timedelta(weeks=week, days=n, hours=3 + n))
            incident = flow.trigger(
                Alert(
                    source=("alertmanager", "grafana", "datadog")[n % 3],
                    name=name,
                    title=f"{name} on {('checkout', 'cart', 'db')[n % 3]}",
                    severity=severity,
                    dedup_key=f"seed-{week}-{n}",
                    labels={"service": ("checkout", "cart", "db")[n % 3]},
                )
            )
            clock.advance(timedelta(minutes=ack + week % 4))
            flow.acknowledge(incident.id, by="alice")
            if week == weeks - 1 and severity == "P3":
                continue  # one still open
            clock.advance(timedelta(minutes=fix - ack + 5 * (week % 3)))
            flow.resolve(incident.id, by="alice", summary="fixed")
            _close(flow, incident.id)
    store.close()


def _close(flow: IncidentFlow, incident_id: str) -> None:
    incident = flow.get(incident_id)
    if incident.postmortem_required:
        flow.start_postmortem(incident_id, author="alice")
        flow.amend_postmortem(
            incident_id, by="alice", impact="users saw errors", root_cause="a deploy"
        )
        flow.submit_postmortem(incident_id, by="alice")
        flow.approve_postmortem(incident_id, reviewer="bob")
        incident = flow.get(incident_id)
        if incident.state == "postmortem":
            flow.publish_postmortem(incident_id, by="alice")
    for item in flow.get(incident_id).open_action_items:
        flow.waive_action_item(incident_id, item.id, by="alice", reason="tracked elsewhere")
    flow.close(incident_id, by="alice")


class Service(Served):
    """The service (``create_app`` of a configuration file) on uvicorn, in a thread."""

    start_within = 15.0

    def __init__(self, folder: Path, slack: FakeSlack, pagerduty: FakePagerDuty) -> None:
        policy = folder / "policy.toml"
        policy.write_text(POLICY)
        hashed = hash_password(PASSWORD)
        config = folder / "incident-flow.toml"
        config.write_text(
            CONFIG.format(
                db=folder / "incident-flow.db",
                policy=policy,
                channel=CHANNEL,
                slack_url=slack.api_url,
                pagerduty_url=pagerduty.url,
                postmortems=folder / "postmortems",
                alice=hashed,
                bob=hashed,
                viewer=hashed,
            )
        )
        self.config = load_config(config, environ=ENV)
        seed(self.config.policy, folder / "incident-flow.db", folder / "postmortems")
        self.app = create_app(async_flow(self.config), self.config)
        super().__init__(self.app)

    @property
    def ui(self) -> str:
        """The console's root."""
        return f"{self.url}/ui"


def browser_or_skip() -> Any:
    """Playwright's sync API and the system Chromium, or a skip (a failure under CI)."""
    why = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        why = "playwright is not installed (pip install -e '.[all,test]')"
        sync_playwright = None
    if why is None and not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        why = f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)"
    if why is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the browser tests must run in CI: {why}")
        pytest.skip(why)
    return sync_playwright


def launch(sync_playwright: Any) -> Iterator[Any]:
    """A headless Chromium (the system's; Playwright downloads none)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            # As root (CI here) Chromium's sandbox cannot start; the pages are our own.
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        try:
            yield browser
        finally:
            browser.close()


class Shots:
    """Where screenshots go: the artifacts folder, and ``docs/console/`` when asked."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.docs = os.environ.get("CONSOLE_SCREENSHOTS") == "docs"
        self.taken: list[Path] = []

    def take(self, page: Any, name: str, *, full_page: bool = True) -> Path:
        """Save ``page`` as ``name``.png; the path of the artifact."""
        path = self.folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        self.taken.append(path)
        if self.docs:
            DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, DOCS_SHOTS / f"{name}.png")
        return path
