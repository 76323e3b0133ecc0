"""Shared fixtures and the Hypothesis profiles (``ci`` under CI=true, else ``dev``)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, settings

from incident_flow import FolderPublisher, IncidentFlow, Policy, RecordingNotifier, Runbook
from incident_flow.testing import ManualClock

pytest_plugins = ["pytester"]

settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=60, deadline=None)
settings.register_profile("thorough", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

T0 = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
CHECKOUT_RUNBOOK = Runbook(
    name="checkout-errors", url="https://runbooks.example/checkout", alert="Checkout*"
)


class Harness:
    """A flow over the memory store with recording channels and a manual clock."""

    def __init__(self, policy: Policy, folder: str) -> None:
        self.clock = ManualClock(T0)
        self.chat = RecordingNotifier()
        self.pager = RecordingNotifier()
        self.flow = IncidentFlow(
            policy,
            notifier=self.chat,
            pager=self.pager,
            publisher=FolderPublisher(folder),
            clock=self.clock,
        )


@pytest.fixture
def policy() -> Policy:
    return Policy(runbooks=[CHECKOUT_RUNBOOK])


@pytest.fixture
def harness(policy: Policy, tmp_path: object) -> Harness:
    return Harness(policy, str(tmp_path) + "/postmortems")


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
