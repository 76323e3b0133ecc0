"""The learning loop closes: a runbook added in incident A is incident B's, in any process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

from incident_flow import (
    Alert,
    IncidentFlow,
    InvalidCommand,
    InvalidPolicy,
    MemoryStore,
    Policy,
    RecordingNotifier,
    Runbook,
    ingest,
)
from incident_flow._runbooks.table import read_table, read_toml, to_markdown, to_toml
from incident_flow.testing import ManualClock, RecordingPublisher

from .conftest import T0, pg_schema

SAMPLES = Path(__file__).with_name("samples")

#: One step of the scenario, run in a fresh Python process against a named store.
STEP = """
import json, sys
from incident_flow import Alert, IncidentFlow, PostgresStore, RecordingNotifier, SQLiteStore
from incident_flow.testing import RecordingPublisher

kind, where, schema, step = sys.argv[1:5]
store = SQLiteStore(where) if kind == "sqlite" else PostgresStore(where, schema=schema)
flow = IncidentFlow(store=store, notifier=RecordingNotifier(), pager=RecordingNotifier(),
                    publisher=RecordingPublisher())
alert = Alert(source="alertmanager", name="LedgerDiskFull", title="ledger disk 91%",
              severity="P3", dedup_key=f"alertmanager:{step}")
incident = flow.trigger(alert)
resolved = flow.resolve(incident.id, by="carol")
if step == "a":
    flow.add_runbook(incident.id, __import__("incident_flow").Runbook(
        name="ledger-disk", url="https://rb.example/ledger-disk"), by="alice")
done = flow.get(incident.id)
print(json.dumps({"runbook": done.runbook.name if done.runbook else None,
                  "items": [[i.kind, i.done] for i in resolved.action_items]}))
store.close()
"""


def step(kind: str, where: str, schema: str, name: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", STEP, kind, where, schema, name],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


class TestAcrossProcesses:
    """Incident A raises the item, a runbook is added; B, elsewhere, starts with it."""

    def _scenario(self, kind: str, where: str, schema: str = "") -> None:
        first = step(kind, where, schema, "a")
        assert first["items"] == [["add_runbook", False]]  # A had no runbook
        assert first["runbook"] == "ledger-disk"  # and got one
        second = step(kind, where, schema, "b")  # another process, the same alert
        assert second == {"runbook": "ledger-disk", "items": []}

    def test_on_sqlite(self, tmp_path: Path) -> None:
        self._scenario("sqlite", str(tmp_path / "incidents.db"))

    def test_on_postgres(self, postgres_dsn: str) -> None:
        with pg_schema(postgres_dsn) as schema:
            self._scenario("postgres", postgres_dsn, schema)

    def test_from_the_command_line(self, tmp_path: Path) -> None:
        db = str(tmp_path / "cli.db")

        def cli(*args: str) -> str:
            done = subprocess.run(
                [sys.executable, "-m", "incident_flow.cli", "--db", db, *args],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            return done.stdout

        body = json.loads((SAMPLES / "alertmanager_firing.json").read_text())
        body["alerts"] = body["alerts"][:1]
        del body["alerts"][0]["annotations"]["runbook_url"]
        alert_file = tmp_path / "a.json"
        alert_file.write_text(json.dumps(body))
        cli("init")
        first = cli("ingest", "alertmanager", str(alert_file)).split(":")[0]
        cli("resolve", first, "--by", "carol")
        cli(
            "runbooks",
            "add",
            "--name",
            "checkout-5xx",
            "--url",
            "https://rb/c5",
            "--alert",
            "CheckoutHighErrorRate",
            "--by",
            "alice",
        )
        body["alerts"][0]["fingerprint"] = "another"
        alert_file.write_text(json.dumps(body))
        second = cli("ingest", "alertmanager", str(alert_file)).split(":")[0]
        cli("resolve", second, "--by", "carol")
        shown = cli("show", second)
        assert "runbook=" not in shown or "checkout-5xx" in shown
        assert "ActionItemRaised" not in shown  # the second incident owes no runbook
        assert "checkout-5xx" in cli("runbooks", "show", "checkout-5xx")


class TestTheAlertsOwnLink:
    """An alert that carries its runbook link gets that runbook and no action item."""

    def test_alertmanager_runbook_url(self) -> None:
        flow = IncidentFlow(
            notifier=RecordingNotifier(), pager=RecordingNotifier(), publisher=RecordingPublisher()
        )
        (alert, _) = ingest.parse(
            "alertmanager", (SAMPLES / "alertmanager_firing.json").read_bytes()
        )
        assert alert.runbook_url == "https://runbooks.example.com/checkout-api/high-error-rate"
        incident = flow.trigger(alert)
        assert incident.runbook is not None and incident.runbook.url == alert.runbook_url
        resolved = flow.resolve(incident.id, by="alice")
        assert resolved.action_items == ()

    def test_the_link_comes_before_the_catalog_and_can_join_it(self) -> None:
        catalog_runbook = Runbook(name="checkout", url="https://rb/old", alert="Checkout*")
        flow = IncidentFlow(Policy(runbooks=[catalog_runbook]), notifier=RecordingNotifier())
        alert = Alert(
            source="grafana", name="CheckoutHighErrorRate", title="t", runbook_url="https://rb/new"
        )
        incident = flow.trigger(alert)
        assert incident.runbook is not None and incident.runbook.url == "https://rb/new"
        revision = flow.save_runbook(incident.runbook, by="alice", incident_id=incident.id)
        assert (revision.change, revision.incident_id) == ("added", incident.id)
        again = flow.trigger(attrs.evolve(alert, dedup_key="other", runbook_url=None))
        assert again.runbook is not None and again.runbook.name == "CheckoutHighErrorRate"


class TestRevisions:
    """Every change says who, when, what, and which incident and learning it came from."""

    def test_an_update_from_a_learning(self) -> None:
        runbook = Runbook(name="checkout", url="https://rb/c", alert="Checkout*")
        flow = IncidentFlow(
            Policy(runbooks=[runbook], postmortem_reviewers=0),
            store=MemoryStore(),
            notifier=RecordingNotifier(),
            pager=RecordingNotifier(),
            publisher=RecordingPublisher(),
            clock=ManualClock(T0),
        )
        incident = flow.trigger(Alert(source="s", name="CheckoutDown", title="t", severity="P1"))
        flow.start_runbook(incident.id, by="alice")
        flow.resolve(incident.id, by="alice")
        flow.start_postmortem(
            incident.id,
            author="alice",
            impact="checkout failed",
            root_cause="a bad deploy",
            learnings=["alert on p95"],
        )
        flow.submit_postmortem(incident.id, by="alice")  # no reviewers needed: saved at once
        flow.update_runbook(incident.id, "checkout", by="bob", note="added the p95 check")
        (revision,) = flow.runbooks().history("checkout")
        assert (revision.change, revision.by, revision.incident_id) == (
            "updated",
            "bob",
            incident.id,
        )
        assert revision.note == "added the p95 check"
        assert revision.learning == "Update runbook checkout: alert on p95"
        assert revision.at == T0

    def test_bad_input(self) -> None:
        flow = IncidentFlow(notifier=RecordingNotifier())
        with pytest.raises(InvalidCommand, match="takes a Runbook"):
            flow.save_runbook("checkout", by="alice")  # type: ignore[arg-type]
        with pytest.raises(InvalidCommand, match="say who changes the catalog"):
            flow.save_runbook(Runbook(name="a", url="u"), by=" ")


class TestTheTeamsTable:
    """The seed's Alerts table in and out: the same rows."""

    def test_the_seed_table_round_trips(self) -> None:
        seed = (SAMPLES / "seed_alerts_table.md").read_text(encoding="utf-8")
        imported = read_table(seed)
        # The seed's template has three identical example rows: one runbook, the same row.
        assert [(r.name, r.description, r.source_url, r.url) for r in imported] == [
            (
                "Example Alert #1",
                "Describe the alert in 1 to 2 sentences",
                "google.com",
                "google.com",
            )
        ]
        exported = to_markdown(imported)
        assert exported.splitlines()[0] == "| Alert | Description | Source | Runbook |"
        assert read_table(exported) == imported
        assert read_toml(to_toml(imported)) == imported

    def test_markdown_rows_and_problems(self) -> None:
        table = (
            "| Alert | Description | Source | Runbook |\n|---|---|---|---|\n"
            "| Checkout* | 5xx \\| errors | datadog | [steps](https://rb/c) |\n"
            "| Disk | | | https://rb/d |\n|  |  |  |  |\n"
        )
        checkout, disk = read_table(table)
        assert (checkout.alert, checkout.description, checkout.source) == (
            "Checkout*",
            "5xx | errors",
            "datadog",
        )
        assert disk.url == "https://rb/d"
        assert read_table(to_markdown([checkout, disk])) == [checkout, disk]
        with pytest.raises(InvalidPolicy) as caught:
            read_table(table + "| Disk | other | | https://rb/x |\n| Lonely | | | |\n")
        assert list(caught.value.problems) == [
            "the table: row 4: 'Disk' is in the table twice, differently",
            "the table: row 5: needs the alert and a link to its runbook",
        ]
        with pytest.raises(InvalidPolicy, match="no table with the columns"):
            read_table("# nothing here")

    def test_toml_keeps_everything(self) -> None:
        runbook = Runbook(
            name='a "quoted" name',
            url="https://rb/a",
            alert="A*",
            source="datadog",
            severity="P2",
            description="line\nbreak",
            labels={"service": "checkout"},
            source_url="https://app.datadoghq.com/monitors/1",
        )
        assert read_toml(to_toml([runbook])) == [runbook]
        with pytest.raises(InvalidPolicy, match=r"runbooks\[0\]\.labels: must be a table"):
            read_toml('[[runbooks]]\nname = "a"\nurl = "u"\nlabels = { n = 1 }\n')


class TestTheReport:
    """Coverage by source, runbooks most used, and those never updated since they were used."""

    def test_runbook_figures(self) -> None:
        from datetime import timedelta

        from incident_flow import Action
        from incident_flow.cli._report import build_report

        checkout = Runbook(name="checkout", url="https://rb/c", alert="Checkout*")
        clock = ManualClock(T0)
        flow = IncidentFlow(
            Policy(runbooks=[checkout]),
            notifier=RecordingNotifier(),
            pager=RecordingNotifier(),
            publisher=RecordingPublisher(),
            clock=clock,
        )
        first = flow.trigger(Alert(source="datadog", name="CheckoutDown", title="t", severity="P1"))
        clock.advance(120)
        flow.apply(
            Action(
                source="pagerduty",
                kind="acknowledge",
                incident=first.id,
                by="PX",
                at=T0 + timedelta(seconds=30),
            )
        )
        flow.trigger(Alert(source="grafana", name="CheckoutSlow", title="t", severity="P3"))
        flow.trigger(Alert(source="grafana", name="DiskFull", title="t", severity="P3"))
        pairs = [(i, flow.history(i.id)) for i in flow.incidents()]
        report = build_report(pairs, flow.runbooks())
        assert report.coverage_by_source == {
            "datadog": {"with": 1, "without": 0},
            "grafana": {"with": 1, "without": 1},
        }
        assert report.runbooks_used == (("checkout", 2),)
        assert report.not_updated_since_used == ("checkout",)
        assert report.by_severity["P1"]["mtta_minutes"] == 0.5  # PagerDuty's ack time
        clock.advance(60)
        flow.save_runbook(checkout, by="alice", note="reviewed after the incidents")
        later = build_report(pairs, flow.runbooks())
        assert later.not_updated_since_used == ()
        assert later.to_dict()["runbook_coverage"]["most_used"] == [
            {"runbook": "checkout", "incidents": 2}
        ]


def test_two_readers_fold_the_same_revisions_once() -> None:
    """Tasks or threads that fetched the same revisions leave each in the catalog once."""
    from incident_flow import Catalog, RunbookRevision

    revision = RunbookRevision(
        key="k", runbook=Runbook(name="a", url="u"), change="added", at=T0, by="x", number=4
    )
    once = Catalog().extended([revision])
    assert once.extended([revision]) is once and once.version == 4
    assert once.history("a") == [revision] and once.get("a") == revision.runbook


def test_a_new_policy_set_on_the_flow_is_the_catalogs_base() -> None:
    flow = IncidentFlow(notifier=RecordingNotifier())
    flow.policy = Policy(runbooks=[Runbook(name="disk", url="https://rb/d", alert="Disk*")])
    incident = flow.trigger(Alert(source="s", name="DiskFull", title="t"))
    assert incident.runbook is not None and incident.runbook.name == "disk"
