"""Shared fixtures and the Hypothesis profiles (``ci`` under CI=true, else ``dev``)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from incident_flow import (
    FolderPublisher,
    IncidentFlow,
    Policy,
    PostMortemDocument,
    RecordingNotifier,
    Runbook,
)
from incident_flow.ports import ReviewStatus
from incident_flow.testing import ManualClock, RecordingPublisher
from incident_flow.testing._async import DRIVERS, LoopThread, flow_for

pytest_plugins = ["pytester"]

settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=60, deadline=None)
settings.register_profile("thorough", max_examples=2000, deadline=None)
#: For `mutmut run` (docs/testing.md): each mutant runs the tests of the code it changed, so
#: property tests stay short; ``pytest_collection_modifyitems`` caps the tests' own counts too.
settings.register_profile(
    "mutation", max_examples=10, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under the ``mutation`` profile, no property test runs more examples than the profile.

    A test's own ``@settings(max_examples=...)`` wins over any profile; for a mutation run,
    where a surviving mutant reruns every test of its function, the profile's cap applies.
    """
    if settings.get_current_profile_name() != "mutation":
        return
    cap = settings.default.max_examples
    for item in items:
        test = getattr(getattr(item, "obj", None), "__func__", getattr(item, "obj", None))
        own = getattr(test, "_hypothesis_internal_use_settings", None)
        if own is not None and own.max_examples > cap:
            test._hypothesis_internal_use_settings = settings(own, max_examples=cap)  # type: ignore[union-attr]
    if "__mutmut_" in os.environ.get("MUTANT_UNDER_TEST", ""):
        # mutmut runs a mutant's tests with -x in no useful order: the fastest first, so a
        # mutant a quick test kills costs that test, not the slow property tests before it.
        took = _mutmut_durations()
        items.sort(key=lambda item: took.get(item.nodeid, 0.0))


def _mutmut_durations() -> dict[str, float]:
    """Each test's duration in mutmut's last stats run (``mutants/mutmut-stats.json``)."""
    import json

    try:
        with open("mutmut-stats.json", encoding="utf-8") as stats:
            took = json.load(stats)["duration_by_test"]
    except (OSError, ValueError, KeyError):
        return {}
    return {str(name): float(seconds) for name, seconds in took.items()}


T0 = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
CHECKOUT_RUNBOOK = Runbook(
    name="checkout-errors", url="https://runbooks.example/checkout", alert="Checkout*"
)


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest) -> str:
    """The flow driver a test runs under: ``sync`` (IncidentFlow) or ``async``."""
    return str(request.param)


@pytest.fixture
def loop() -> Iterator[LoopThread]:
    """An event loop on a thread (asyncio debug mode) for the async driver."""
    with LoopThread(debug=True) as running:
        yield running


MakeFlow = Callable[..., IncidentFlow]


@pytest.fixture
def make_flow(driver: str, request: pytest.FixtureRequest) -> MakeFlow:
    """Builds a flow under ``driver`` from IncidentFlow's arguments.

    Under ``async`` it is an AsyncIncidentFlow behind a sync face (``testing._async.Blocking``),
    so that one test body checks both drivers behave identically.
    """

    def make(*args: Any, **kwargs: Any) -> IncidentFlow:
        flow: IncidentFlow = flow_for(driver, request, *args, **kwargs)
        return flow

    return make


#: The pull request PullRequestPublisher opens (as GitHub names it).
PULL_REQUEST = "https://github.com/acme/runbooks/pull/318"


class PullRequestPublisher(RecordingPublisher):
    """Keeps the post-mortem on a pull request (``PULL_REQUEST``), reviewed there, as GitHub.

    Its reviews arrive as GitHub actions; a poll finds none (the webhooks bring them).
    """

    review = "pull_request"

    def publish(self, document: PostMortemDocument) -> str:
        """Keep the document; the pull request's URL."""
        super().publish(document)
        return PULL_REQUEST

    def merge(self, document: PostMortemDocument) -> str:
        """The merged document's place."""
        return f"{PULL_REQUEST}/files"

    def review_status(self, document: PostMortemDocument) -> ReviewStatus:
        """Nothing beyond what the webhooks said."""
        return ReviewStatus(source="github", url=PULL_REQUEST)


class Harness:
    """A flow over the memory store with recording channels and a manual clock."""

    def __init__(
        self,
        policy: Policy,
        folder: str,
        make_flow: MakeFlow = IncidentFlow,
        *,
        publisher: object = None,
    ) -> None:
        self.clock = ManualClock(T0)
        self.chat = RecordingNotifier()
        self.pager = RecordingNotifier()
        self.flow = make_flow(
            policy,
            notifier=self.chat,
            pager=self.pager,
            publisher=publisher if publisher is not None else FolderPublisher(folder),
            clock=self.clock,
        )


@pytest.fixture
def policy() -> Policy:
    return Policy(runbooks=[CHECKOUT_RUNBOOK])


@pytest.fixture
def harness(policy: Policy, tmp_path: object, make_flow: MakeFlow) -> Harness:
    return Harness(policy, str(tmp_path) + "/postmortems", make_flow)


POSTGRES_DSN = os.environ.get(
    "INCIDENT_FLOW_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    """The test server's DSN. Without a server: skipped locally, a failure under CI."""
    import psycopg

    try:
        with psycopg.connect(POSTGRES_DSN, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        reason = f"no PostgreSQL server at {POSTGRES_DSN.split('@')[-1]}: {exc}".strip()
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must run the PostgreSQL tests; .ci/run starts it)")
        pytest.skip(reason)
    return POSTGRES_DSN


@contextmanager
def pg_schema(dsn: str) -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        yield schema
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
