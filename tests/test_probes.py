"""The service's probes: /readyz asks the store one question, /metrics reads counts, not events.

The app is served by a real uvicorn (``test_server.Served``) on stores seeded by a real flow;
then every event and delivered outbox body is overwritten with garbage: a probe that still
answers right read only the indexes (the incidents' rows and the pending outbox).
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from incident_flow import (
    Alert,
    DeliveryError,
    IncidentFlow,
    IncidentFlowError,
    MemoryStore,
    Notification,
    Policy,
    PostgresStore,
    RecordingNotifier,
    SQLiteStore,
)
from incident_flow._core.process import OPEN_STATES
from incident_flow.ports import StoreCounts
from incident_flow.server import (
    ConfigError,
    Secret,
    ServiceConfig,
    async_flow,
    create_app,
    load_config,
)
from incident_flow.server._metrics import ServiceMetrics
from incident_flow.testing import ManualClock, RecordingPublisher, capture_events

from .conftest import T0, pg_schema
from .test_server import Served

MINUTE = timedelta(minutes=1)


class Down(RecordingNotifier):
    """A chat that refuses every message: what it is sent stays pending in the outbox."""

    def send(self, message: Notification) -> str | None:
        raise DeliveryError("chat is down")


def seed(store: Any) -> IncidentFlow:
    """P1..P4 incidents in several states, one closed, and two messages left pending."""
    clock = ManualClock(T0)
    flow = IncidentFlow(
        Policy(),
        store=store,
        notifier=RecordingNotifier(),
        pager=RecordingNotifier(),
        publisher=RecordingPublisher(),
        clock=clock,
    )
    opened = {
        key: flow.trigger(Alert(source="t", name=key, title=key, severity=severity, dedup_key=key))
        for key, severity in (("a", "P3"), ("b", "P3"), ("c", "P1"), ("d", "P4"), ("e", "P2"))
    }
    clock.advance(MINUTE)
    flow.deliver_pending()
    flow.acknowledge(opened["c"].id, by="alice")
    flow.resolve(opened["b"].id, by="alice")
    flow.start_runbook(opened["e"].id, by="alice")
    closing = flow.resolve(opened["d"].id, by="alice")
    for item in closing.action_items:
        flow.waive_action_item(closing.id, item.id, by="alice", reason="test")
    flow.close(closing.id, by="alice")
    clock.advance(MINUTE)
    down = IncidentFlow(
        Policy(), store=store, notifier=Down(), pager=RecordingNotifier(), clock=clock
    )
    down.trigger(Alert(source="t", name="f", title="f", severity="P5", dedup_key="f"))
    down.note(opened["a"].id, "still looking", by="bob")
    return flow


def loaded(flow: IncidentFlow) -> dict[tuple[str, str], float]:
    """The gauge ``incident_flow_incidents`` as loading every incident gives it."""
    found = Counter((i.state, str(i.severity)) for i in flow.incidents() if i.state in OPEN_STATES)
    expected = {key: float(n) for key, n in found.items()}
    expected["closed", "any"] = float(len(flow.store.incident_ids("closed")))
    return expected


def samples(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """The scrape's samples: name -> sorted labels -> value."""
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def incidents_gauge(text: str) -> dict[tuple[str, str], float]:
    gauge = samples(text).get("incident_flow_incidents", {})
    return {(dict(k)["state"], dict(k)["severity"]): v for k, v in gauge.items()}


class Backend:
    """A seeded store ``serve`` can open, and a way to spoil what the probes must not read."""

    def __init__(self, config: ServiceConfig, sync: Callable[[], Any], run: Callable[[str], None]):
        self.config = config
        self.sync = sync
        self.run = run

    def spoil_bodies(self) -> None:
        """Every event and every delivered message's stored body becomes unreadable."""
        self.run("""UPDATE events SET data = '{"garbage": 1}'""")
        self.run("UPDATE outbox SET data = '[]' WHERE delivered")


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        path = tmp_path / "probes.db"

        def run_sqlite(statement: str) -> None:
            with sqlite3.connect(path) as db:
                db.execute(statement)

        yield Backend(ServiceConfig(store=str(path)), lambda: SQLiteStore(path), run_sqlite)
        return
    import psycopg

    dsn = request.getfixturevalue("postgres_dsn")
    with pg_schema(dsn) as schema:

        def run_pg(statement: str) -> None:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f'SET search_path TO "{schema}"')
                conn.execute(statement)

        yield Backend(
            ServiceConfig(store=dsn, schema=schema),
            lambda: PostgresStore(dsn, schema=schema),
            run_pg,
        )


def test_the_probes_read_the_indexes_not_the_events(backend: Backend) -> None:
    """/metrics counts as loading every incident would, and both probes answer with the event
    and delivered outbox bodies unreadable: they read the incidents' rows and pending index."""
    store = backend.sync()
    flow = seed(store)
    expected = loaded(flow)
    assert expected[("notified", "P3")] == 1 and expected[("closed", "any")] == 1
    pending = [m for m in store.outbox_messages() if m.pending]
    assert len(pending) == 2
    store.close()
    backend.spoil_bodies()
    app = create_app(async_flow(backend.config), backend.config, worker=False)
    with Served(app) as server:
        assert httpx.get(f"{server.url}/readyz", timeout=10).json() == {"ready": True}
        before = datetime.now(UTC)
        answer = httpx.get(f"{server.url}/metrics", timeout=10)
        after = datetime.now(UTC)
    assert answer.status_code == 200, answer.text
    assert incidents_gauge(answer.text) == expected
    found = samples(answer.text)
    assert found["incident_flow_outbox_backlog"][()] == 2
    oldest = found["incident_flow_outbox_oldest_seconds"][()]
    created = T0 + 2 * MINUTE  # the first of the two messages the chat refused
    assert (before - created).total_seconds() <= oldest <= (after - created).total_seconds()


def test_readyz_says_when_the_store_cannot_answer(backend: Backend) -> None:
    backend.sync().close()  # the schema is made
    app = create_app(async_flow(backend.config), backend.config, worker=False)
    with Served(app) as server:
        assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200
        backend.run("DROP TABLE incident_flow_meta")
        answer = httpx.get(f"{server.url}/readyz", timeout=10)
    assert answer.status_code == 503
    assert answer.json() == {"ready": False, "why": ["store: StorageError"]}


class HostStore:
    """A host's own store with only the required ports: no ``ping``, no ``counts``."""

    def __init__(self, inner: MemoryStore, *, nonblocking: bool) -> None:
        self.nonblocking = nonblocking  # else the async flow runs it on a thread (ThreadedStore)
        self.inner = inner
        self.append = inner.append
        self.load = inner.load
        self.find_by_dedup_key = inner.find_by_dedup_key
        self.incident_ids = inner.incident_ids
        self.claim_due = inner.claim_due
        self.due_incidents = inner.due_incidents
        self.outbox_messages = inner.outbox_messages


@pytest.mark.parametrize("nonblocking", [True, False])
def test_a_store_without_counts_is_loaded_and_gives_the_same_figures(nonblocking: bool) -> None:
    memory = MemoryStore()
    flow = seed(memory)
    texts = []
    for store in (memory, HostStore(memory, nonblocking=nonblocking)):
        config = ServiceConfig()
        service = async_flow(config, store=store)
        assert service._store_can("counts_incidents", "counts") is (store is memory)
        app = create_app(service, config, worker=False)
        with Served(app) as server:
            assert httpx.get(f"{server.url}/readyz", timeout=10).json() == {"ready": True}
            texts.append(httpx.get(f"{server.url}/metrics", timeout=10).text)
    counted, by_loading = texts
    assert incidents_gauge(counted) == incidents_gauge(by_loading) == loaded(flow)
    assert samples(counted)["incident_flow_outbox_backlog"] == {(): 2.0}
    assert samples(by_loading)["incident_flow_outbox_backlog"] == {(): 2.0}


# ----------------------------------------------------------------- the metrics token


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[Served]:
    config = ServiceConfig(store=str(tmp_path / "x.db"), metrics_token=Secret("m-token-1"))
    with Served(create_app(async_flow(config), config, worker=False)) as server:
        yield server


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", "Bearer m-token-1x", "Basic m-token-1", "m-token-1", "Bearer"],
)
def test_metrics_refuse_without_the_right_token(guarded: Served, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    answer = httpx.get(f"{guarded.url}/metrics", headers=headers, timeout=10)
    assert answer.status_code == 401
    assert answer.json() == {"error": "metrics need Authorization: Bearer <server.metrics_token>"}
    assert "incident_flow_" not in answer.text


@pytest.mark.parametrize("authorization", ["Bearer m-token-1", "bearer  m-token-1"])
def test_metrics_answer_with_the_token(guarded: Served, authorization: str) -> None:
    answer = httpx.get(
        f"{guarded.url}/metrics", headers={"Authorization": authorization}, timeout=10
    )
    assert answer.status_code == 200 and "incident_flow_outbox_backlog 0.0" in answer.text
    # The other probes stay open: a load balancer and a kubelet send no token.
    assert httpx.get(f"{guarded.url}/readyz", timeout=10).status_code == 200
    assert httpx.get(f"{guarded.url}/healthz", timeout=10).status_code == 200


def test_metrics_are_open_without_a_token(tmp_path: Path) -> None:
    config = ServiceConfig(store=str(tmp_path / "x.db"))
    assert config.metrics_token is None
    with Served(create_app(async_flow(config), config, worker=False)) as server:
        assert httpx.get(f"{server.url}/metrics", timeout=10).status_code == 200


LITERAL = "server.metrics_token: a secret must come from the environment: write ${SOME_VARIABLE}"


class TestMetricsTokenConfig:
    """``[server] metrics_token`` comes from the environment only, like ``api_token``."""

    def write(self, tmp_path: Path, value: str) -> Path:
        path = tmp_path / "c.toml"
        path.write_text(f"[server]\nmetrics_token = {value}\n")
        return path

    def test_read_from_the_environment_and_never_shown(self, tmp_path: Path) -> None:
        config = load_config(self.write(tmp_path, '"${M}"'), environ={"M": "scrape-me"})
        token = config.metrics_token
        assert isinstance(token, Secret) and str(token) == "scrape-me"
        assert "scrape-me" not in repr(config) + "\n".join(config.describe())

    @pytest.mark.parametrize(
        ("value", "environ", "problem"),
        [
            (
                '"s3cr3t"',
                {},
                LITERAL,
            ),
            (
                "12",
                {},
                LITERAL,
            ),
            (
                '"${M}"',
                {"M": ""},
                "server.metrics_token: the environment variable M is empty: a secret is needed",
            ),
            ('"${M}"', {}, "server.metrics_token: the environment variable M is not set"),
        ],
    )
    def test_a_literal_an_empty_or_a_missing_variable_is_a_problem(
        self, tmp_path: Path, value: str, environ: dict[str, str], problem: str
    ) -> None:
        with pytest.raises(ConfigError) as caught:
            load_config(self.write(tmp_path, value), environ=environ)
        assert caught.value.problems == [problem]  # one problem each, not two
        assert "s3cr3t" not in str(caught.value)


# ----------------------------------------------------------------- MTTA and MTTR


def test_mtta_and_mttr_are_observed_when_this_process_commits_them() -> None:
    """Each acknowledgement and resolution once, from the incident's opening; no per-incident
    memory is kept (the old scrape-time sets grew with every incident ever seen)."""
    clock = ManualClock(T0)
    flow = IncidentFlow(Policy(), store=MemoryStore(), publisher=RecordingPublisher(), clock=clock)
    metrics = ServiceMetrics()
    flow._on_commit.append(metrics.committed)
    incident = flow.trigger(Alert(source="t", name="n", title="t", severity="P3"))
    clock.advance(5 * MINUTE)
    flow.acknowledge(incident.id, by="alice")
    flow.acknowledge(incident.id, by="bob")  # already acknowledged: nothing new
    clock.advance(10 * MINUTE)
    flow.resolve(incident.id, by="alice")
    flow.note(incident.id, "after", by="alice")
    found = samples(metrics.text().decode())
    assert found["incident_flow_time_to_acknowledge_seconds_count"] == {(): 1.0}
    assert found["incident_flow_time_to_acknowledge_seconds_sum"] == {(): 300.0}
    assert found["incident_flow_time_to_resolve_seconds_count"] == {(): 1.0}
    assert found["incident_flow_time_to_resolve_seconds_sum"] == {(): 900.0}
    assert not hasattr(metrics, "_acked") and not hasattr(metrics, "_resolved")


def test_a_failing_commit_watcher_is_logged_and_the_command_stands() -> None:
    flow = IncidentFlow(Policy(), store=MemoryStore())

    def broken(before: object, after: object) -> None:
        raise RuntimeError("metrics broke")

    flow._on_commit.append(broken)
    with capture_events() as logs:
        incident = flow.trigger(Alert(source="t", name="n", title="t", severity="P3"))
    assert flow.get(incident.id).state == "notified"
    failed = [e for e in logs if e["event"] == "incident_flow.commit_watcher_failed"]
    assert failed and failed[0]["error"] == "RuntimeError: metrics broke"


# ----------------------------------------------------------------- counts, any history

_OPS = st.lists(
    st.tuples(
        st.sampled_from(["trigger", "ack", "resolve", "reclassify", "close", "deliver", "down"]),
        st.integers(0, 4),
        st.sampled_from(["P1", "P2", "P3", "P4", "P5"]),
    ),
    max_size=25,
)


def _play(store: Any, ops: list[tuple[str, int, str]]) -> IncidentFlow:
    clock = ManualClock(T0)
    up = IncidentFlow(Policy(), store=store, notifier=RecordingNotifier(), clock=clock)
    down = IncidentFlow(Policy(), store=store, notifier=Down(), clock=clock)
    ids: dict[int, str] = {}
    for op, n, severity in ops:
        clock.advance(MINUTE)
        incident_id = ids.get(n, "inc-none")
        try:
            if op in ("trigger", "down"):
                flow = down if op == "down" else up
                alert = Alert(source="t", name="n", title="t", severity=severity, dedup_key=f"k{n}")
                ids[n] = flow.trigger(alert).id
            elif op == "ack":
                up.acknowledge(incident_id, by="a")
            elif op == "resolve":
                up.resolve(incident_id, by="a")
            elif op == "reclassify":
                up.reclassify(incident_id, severity, by="a")
            elif op == "close":
                for item in up.get(incident_id).open_action_items:
                    up.waive_action_item(incident_id, item.id, by="a", reason="r")
                up.close(incident_id, by="a")
            else:
                up.deliver_pending()
        except IncidentFlowError:
            pass  # not allowed now: refused, nothing changed
    return up


def _check(store: Any, flow: IncidentFlow) -> None:
    everything = flow.incidents()  # first: the flow's read writes its delivery outcomes
    counts: StoreCounts = store.counts()
    kinds = Counter((i.state, str(i.severity)) for i in everything if i.state != "closed")
    assert counts.incidents == StoreCounts(incidents=[(*k, n) for k, n in kinds.items()]).incidents
    assert counts.closed == sum(i.state == "closed" for i in everything)
    for state in {i.state for i in everything}:
        assert counts.count(state) == len(store.incident_ids(state))
    pending = [m for m in store.outbox_messages() if m.pending]
    assert counts.pending == len(pending)
    assert counts.oldest_pending == (pending[0].created_at if pending else None)


@given(_OPS)
def test_memory_counts_follow_any_history(ops: list[tuple[str, int, str]]) -> None:
    store = MemoryStore()
    _check(store, _play(store, ops))


@given(_OPS)
def test_sqlite_counts_follow_any_history(ops: list[tuple[str, int, str]]) -> None:
    with (
        tempfile.TemporaryDirectory() as folder,
        SQLiteStore(Path(folder) / "p.db", synchronous="OFF") as store,
    ):
        _check(store, _play(store, ops))


def test_an_older_sqlite_file_gets_the_count_indexes(tmp_path: Path) -> None:
    """A file from before the probes (no count indexes) gets them on open, with no new schema
    version; the counts are then an index scan, not a read of the table."""
    path = tmp_path / "old.db"
    SQLiteStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("DROP INDEX incidents_by_state_severity")
        db.execute("DROP INDEX outbox_pending_seq")
        version = db.execute("SELECT value FROM incident_flow_meta").fetchone()
    with SQLiteStore(path) as store:
        from incident_flow.adapters.stores._common import KINDS
        from incident_flow.adapters.stores.sqlite import _COUNT_PARAMS, _COUNTS

        explained = store._db.execute(f"EXPLAIN QUERY PLAN {_COUNTS}", _COUNT_PARAMS)
        plan = " | ".join(row[3] for row in explained)
        # The whole table's count is the b-tree's (the Count opcode), not a row-by-row scan.
        opcodes = [row[1] for row in store._db.execute(f"EXPLAIN {_COUNTS}", _COUNT_PARAMS)]
        assert opcodes.count("Count") == 1
        assert store._db.execute("SELECT value FROM incident_flow_meta").fetchone() == version
    searches = "SEARCH incidents USING COVERING INDEX incidents_by_state_severity (state=? AND"
    assert plan.count(searches) == len(KINDS), plan
    assert plan.count("USING INDEX outbox_pending_seq") == 2, plan
    assert "events" not in plan
