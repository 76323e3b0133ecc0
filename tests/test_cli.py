"""The incident-flow command line, driven like a person would (click's runner)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from incident_flow.cli import main

SAMPLES = Path(__file__).with_name("samples")


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The command line configures the library's logging as a host does; put it back."""
    library = logging.getLogger("incident_flow")
    handlers, level = list(library.handlers), library.level
    yield
    library.handlers[:] = handlers
    library.setLevel(level)


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> tuple[int, str]:  # noqa: A002
        result = runner.invoke(
            main, ["--db", str(tmp_path / "cli.db"), *args], input=input, catch_exceptions=False
        )
        return result.exit_code, result.output

    assert invoke("init") == (0, f"{tmp_path / 'cli.db'}: created\n")
    return invoke


class TestDemo:
    """The demo replays a day, prints timelines and the report, and runs again."""

    def test_html_report(self, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        assert run("--db", str(tmp_path / "incident-flow-demo.db"), "demo")[0] == 0
        page = tmp_path / "report.html"
        code, out = run(
            "--db", str(tmp_path / "incident-flow-demo.db"), "report", "--html", str(page)
        )
        assert code == 0 and "wrote" in out
        text = page.read_text()
        assert text.startswith("<!doctype html>") and "<script" not in text
        assert 'aria-label="Incidents per severity"' in text and "MTTR over time" in text
        # Every alert of the day came with a runbook, or had one added: no item is left open.
        assert "<h2>Open action items</h2><ul><li>none</li></ul>" in text
        chart = text.split('aria-label="MTTR over time"', 1)[1].split("</svg>", 1)[0]
        assert chart.count("<line ") == 2  # two axes
        assert ">MTTR (min)</text>" in chart and ">day the incident opened</text>" in chart

    def test_demo_twice(self, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        for _ in range(2):
            code, out = run("demo")
            assert code == 0, out
            assert "Mon 09:00 Datadog: checkout-api 5xx above 5% (P1)" in out
            assert "Datadog re-notifies: attached, nobody paged again" in out
            assert "system   AlertRepeated" in out  # narrated and now really sent
            assert "Escalated" in out and "post-mortem compliance" in out
            assert "MTTA" in out and "runbook coverage: 5/6" in out
        assert len(list((tmp_path / "postmortems").glob("*.md"))) == 4

    def test_the_demo_says_how_to_explore_what_it_left(self, run) -> None:  # type: ignore[no-untyped-def]
        code, out = run("demo")
        assert code == 0, out
        last = out.splitlines()[-4:]
        assert last == [
            (
                "demo-006 (P1) is still open: its post-mortem is a draft and its root cause is "
                "not written yet, so it cannot go to review"
            ),
            "explore what the demo left: incident-flow --db incident-flow-demo.db list",
            "  incident-flow --db incident-flow-demo.db show demo-006",
            "  incident-flow --db incident-flow-demo.db report --html report.html",
        ]
        # The story says why the P1 stays open, when it happens.
        assert "erin drafts the PagerDuty P1's post-mortem: its root cause is the payments" in out
        # And what the last lines say works as printed.
        code, out = run("--db", "incident-flow-demo.db", "list")
        assert code == 0 and "demo-006" in out and "postmortem" in out
        code, out = run("--db", "incident-flow-demo.db", "show", "demo-006")
        assert code == 0 and "PostMortemStarted" in out

    def test_after_the_demo_a_missing_database_names_it(self, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        missing = str(tmp_path / "incident_flow.db")
        code, out = run("--db", missing, "report")
        assert code == 5 and "(or try `incident-flow demo`)" in out
        assert run("demo")[0] == 0
        code, out = run("--db", missing, "report")
        assert code == 5 and f"no incident database at {missing}" in out
        assert "incident-flow demo`" not in out  # they just ran it
        assert (
            "the demo's database is incident-flow-demo.db: "
            "`incident-flow --db incident-flow-demo.db report`"
        ) in out
        code, out = run("--db", missing, "show", "demo-006")
        assert "`incident-flow --db incident-flow-demo.db show demo-006`" in out
        assert run("--db", "incident-flow-demo.db", "report")[0] == 0


class TestCommands:
    """Lifecycle commands, reads and clear errors with documented exit codes."""

    def test_lifecycle(self, run) -> None:  # type: ignore[no-untyped-def]
        code, out = run("ingest", "datadog", str(SAMPLES / "datadog_triggered.json"))
        assert code == 0, out
        incident_id = out.split(":")[0]
        assert run("ack", incident_id, "--by", "alice")[0] == 0
        assert run("note", incident_id, "rolling back", "--by", "alice")[0] == 0
        assert run("runbook", incident_id, "--by", "alice")[0] == 0
        assert run("resolve", incident_id, "--by", "alice") == (0, f"{incident_id}: resolved\n")
        code, out = run("close", incident_id, "--by", "alice")
        assert code == 4 and "post-mortem is required" in out
        assert (
            run("postmortem", "start", incident_id, "--author", "alice", "--learning", "canary")[0]
            == 0
        )
        code, out = run("postmortem", "approve", incident_id, "--reviewer", "bob")
        assert code == 4 and "still a draft" in out and "`postmortem submit`" in out
        amend = ("postmortem", "amend", incident_id, "--by", "alice", "--root-cause", "pool")
        assert run(*amend) == (0, f"{incident_id}: post-mortem amended\n")
        assert run(*amend[:5], "--impact", "checkout failed")[0] == 0
        code, out = run("postmortem", "submit", incident_id, "--by", "alice")
        assert code == 0 and "asked: nobody (no review pool)" in out
        assert run("postmortem", "approve", incident_id, "--reviewer", "bob")[0] == 0
        code, out = run("postmortem", "changes", incident_id, "--reviewer", "bob", "--text", "x")
        assert out == f"{incident_id}: changes requested by bob\n"
        assert run("postmortem", "approve", incident_id, "--reviewer", "bob")[0] == 0
        code, out = run("postmortem", "approve", incident_id, "--reviewer", "carol")
        assert code == 0 and "approved by bob, carol; published at postmortems/" in out
        code, out = run("show", incident_id)
        assert "PostMortemPublished" in out and "NoteAdded text=rolling back" in out
        code, out = run("list")
        assert incident_id in out and "runbook_update" in out
        code, out = run("report", "--format", "json")
        report = json.loads(out)
        assert report["incidents"] == 1
        assert report["open_action_items"][0]["item"] == "AI-1"
        assert "MTTA" in report["definitions"]
        assert run("reopen", incident_id, "--by", "x")[0] == 4
        assert run("waive", incident_id, "AI-1", "--by", "alice", "--reason", "dup") == (
            0,
            f"{incident_id}: AI-1 waived\n",
        )
        code, out = run("close", incident_id, "--by", "alice")
        assert code == 4 and "AI-2" in out
        assert run("waive", incident_id, "AI-2", "--by", "alice", "--reason", "dup")[0] == 0
        assert run("close", incident_id, "--by", "alice")[1].endswith("closed\n")

    def test_errors_have_exit_codes(self, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        code, out = run("ack", "nope", "--by", "alice")
        assert (code, out.strip()) == (3, "error: no incident with id 'nope'")
        code, out = run("ingest", "datadog", "-", input="{not json")
        assert code == 5 and "body is not JSON" in out
        bad = tmp_path / "policy.toml"
        bad.write_text('critical = ["P9"]\npaging = 1\n')
        code, out = run("policy", "check", str(bad))
        assert code == 5
        assert "critical[0]" in out and "paging: unknown key" in out
        code, out = run("ack", "x", "--by", " ")
        assert code in (3, 5)

    def test_policy_check_explains(self, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        good = tmp_path / "policy.toml"
        good.write_text('critical = ["P1"]\npostmortem_reviewers = 3\n')
        code, out = run("policy", "check", str(good))
        assert code == 0
        assert "valid" in out and "reviewed by 3" in out
        assert "summed up in the thread at most once per 5m" in out
        assert "every reopen pages (flap_window off)" in out
        storms = tmp_path / "storms.toml"
        storms.write_text(
            'flap_window = "10m"\nrepeat_summary_every = 0\n'
            '[[grouping]]\nname = "outage"\nmatch = { env = "prod" }\nby = ["service"]\n'
            'page_after = { firings = 3, within = "10m" }\n'
            '[page_after]\nP2 = { firings = 2, within = "5m" }\n'
        )
        code, out = run("policy", "check", str(storms))
        assert code == 0
        assert "grouping outage: env=prod by service within 10m, pages after 3 firings" in out
        assert "P2: pages after 2 firings within 5m" in out
        assert "a reopen within 10m of resolving does not page" in out
        assert "repeat (every one posted)" in out

    def test_diagram_and_recovery_ingest(self, run) -> None:  # type: ignore[no-untyped-def]
        code, out = run("diagram")
        assert out.startswith("stateDiagram-v2")
        code, out = run("ingest", "checkly", str(SAMPLES / "checkly_recovery.json"))
        assert code == 0 and "recovered, no open incident" in out
        code, out = run("report")
        assert code == 0 and "0 incidents" in out

    def test_worker_stops(self, run, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
        from incident_flow._drivers import worker

        original = worker.run_worker
        monkeypatch.setattr(
            worker, "run_worker", lambda flow, **kw: original(flow, max_iterations=1, **kw)
        )
        code, out = run("worker", "--interval", "0")
        assert code == 0 and "worker stopped: 1 turns" in out


TEAMS = """
default_team = "platform"

[[schedules]]
name = "payments-primary"
[[schedules.layers]]
name = "weeks"
members = ["alice", "dave"]
period = "1 week"
start = 2026-01-05

[[teams]]
name = "payments"
escalation = [{ targets = ["schedule:payments-primary"] }, { targets = ["bob"] }]
chat_channel = "#payments-incidents"
postmortem_review_pool = ["bob", "carol"]
postmortem_folder = "postmortems/payments"

[[teams]]
name = "platform"

[[routes]]
match = { service = ["checkout", "payments"] }
team = "payments"

[[routes]]
match = { source = "datadog", team = "payments" }
team = "payments"
"""


class TestPolicyCheckTeams:
    """policy check prints the teams and the routing table, and where an example alert goes."""

    def test_the_routing_table(self, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        (tmp_path / "teams.toml").write_text(TEAMS)
        code, out = run("policy", "check", "teams.toml")
        assert code == 0, out
        assert out.splitlines()[-6:] == [
            (
                "team payments: escalation schedule:payments-primary -> bob; post-mortems reviewed "
                "by 2 from bob, carol, saved under postmortems/payments/; chat #payments-incidents"
            ),
            (
                "team platform: escalation primary on-call -> secondary on-call -> incident "
                "commander; post-mortems reviewed by 2, saved under postmortems/; chat the "
                "configured chat channel"
            ),
            "routes (in order, the first match wins):",
            "  1. service=checkout|payments -> payments",
            "  2. source=datadog team=payments -> payments",
            "  else -> platform (the default team)",
        ]

    def test_an_example_alert_reaches_a_team(self, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        (tmp_path / "teams.toml").write_text(TEAMS)
        args = ("policy", "check", "teams.toml", "--at", "2026-12-14T10:00")
        code, out = run(*args, "--alert", "service=checkout", "--alert", "env=prod")
        assert code == 0, out
        assert out.splitlines()[-6:] == [
            "example alert: source=example name=example service=checkout env=prod",
            "  reaches team payments by route 1 (service=checkout|payments)",
            "  its chat: #payments-incidents",
            "payments pages at 2026-12-14 10:00 UTC:",
            "  level 1: dave (schedule:payments-primary)",
            "  level 2: bob",
        ]
        code, out = run(*args, "--alert", "source=datadog", "--alert", "team=payments")
        assert "  reaches team payments by route 2 (source=datadog team=payments)" in out
        code, out = run(*args, "--alert", "source=grafana", "--alert", "severity=P4")
        assert out.splitlines()[-7:] == [
            "example alert: source=grafana name=example",
            "  reaches team platform (no route matches: the default team)",
            "  its chat: the configured chat channel",
            (
                "platform pages nobody for a P4 (not critical); for a critical one, at "
                "2026-12-14 10:00 UTC:"
            ),
            "  level 1: primary on-call",
            "  level 2: secondary on-call",
            "  level 3: incident commander",
        ]

    def test_a_gap_in_the_teams_schedule(self, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        gappy = TEAMS.replace('members = ["alice", "dave"]', 'members = ["alice", ""]')
        gappy = gappy.replace('{ targets = ["bob"] }', '{ targets = ["bob", "payments-primary"] }')
        (tmp_path / "teams.toml").write_text(gappy)
        code, out = run(
            "policy",
            "check",
            "teams.toml",
            "--at",
            "2026-12-14T10:00",
            "--alert",
            "service=checkout",
        )
        assert code == 0, out
        assert out.splitlines()[-2:] == [
            "  level 1: nobody on call at schedule:payments-primary",
            "  level 2: bob (bob, payments-primary); nobody on call at payments-primary",
        ]

    def test_a_policy_without_teams(self, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        (tmp_path / "policy.toml").write_text('[[escalation]]\ntargets = ["alice"]\n')
        code, out = run("policy", "check", "policy.toml", "--alert", "service=x")
        assert code == 0, out
        assert "teams: none declared (one team: every alert is handled as above)" in out
        assert "  reaches team default (the only team)" in out
        assert "  level 1: alice" in out

    @pytest.mark.parametrize(
        ("args", "code", "message"),
        [
            (("--alert", "service"), 5, "error: --alert takes KEY=VALUE"),
            (("--alert", "=x"), 5, "error: --alert takes KEY=VALUE"),
            (("--alert", "a=1", "--alert", "a=2"), 5, "error: --alert a= is given twice"),
            (("--alert", "severity=P9"), 5, "error: --alert: Alert.severity must be one of"),
            (("--alert", "a=1", "--at", "soon"), 5, "error: --at takes an ISO 8601 time"),
            (("--at", "2026-12-14T10:00"), 2, "--at goes with --alert"),
        ],
    )
    def test_a_wrong_example_is_refused_before_anything_is_printed(  # type: ignore[no-untyped-def]
        self, run, tmp_path: Path, args: tuple[str, ...], code: int, message: str
    ) -> None:
        (tmp_path / "teams.toml").write_text(TEAMS)
        found, out = run("policy", "check", "teams.toml", *args)
        assert found == code
        assert message in out and "valid" not in out

    def test_outside_text_in_an_example_is_printed_as_text(self, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        (tmp_path / "teams.toml").write_text(TEAMS)
        code, out = run(
            "policy",
            "check",
            "teams.toml",
            "--alert",
            "service=[bold]x\x1b[2J",
            "--alert",
            "name=[/]",
        )
        assert code == 0, out
        assert "name=[/] service=[bold]x\ufffd[2J" in out and "\x1b" not in out

    def test_a_wrong_team_table_is_reported_with_its_path(self, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        (tmp_path / "teams.toml").write_text(
            TEAMS.replace('team = "payments"\n', 'team = "paymnts"\n', 1)
        )
        code, out = run("policy", "check", "teams.toml")
        assert code == 5
        assert "routes[0].team: unknown team, did you mean 'payments'?" in out


class TestOutsideTextIsText:
    """Rich markup and terminal controls in alert text are printed, never obeyed."""

    def test_markup_in_an_alert(self, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        body = json.loads((SAMPLES / "alertmanager_firing.json").read_text())
        body["alerts"] = body["alerts"][:1]
        body["alerts"][0]["labels"]["alertname"] = "[/bold][link=https://evil.example]x"
        body["alerts"][0]["annotations"]["summary"] = "[/] [bold]boom[/] \x1b]0;owned\x07\x1b[2J"
        alert = tmp_path / "alert.json"
        alert.write_text(json.dumps(body))
        code, out = run("ingest", "alertmanager", str(alert))
        assert code == 0, out
        assert "[/] [bold]boom[/]" in out and "\x1b" not in out and "\x07" not in out
        incident_id = out.split(":")[0]
        for args in (("list",), ("show", incident_id), ("report",)):
            code, out = run(*args)
            assert code == 0, (args, out)
            assert "\x1b]0;" not in out
        code, out = run("note", incident_id, "[/x] fine", "--by", "[red]mallory")
        assert code == 0
        assert "[red]mallory" in run("show", incident_id)[1]

    def test_a_markup_id_is_exit_3(self, run) -> None:  # type: ignore[no-untyped-def]
        code, out = run("show", "[/x]")
        assert code == 3 and "[/x]" in out


class TestANewcomersDay:
    """What a first day with the command line found (issue 13), each pinned."""

    def test_a_missing_database_is_not_an_empty_one(self, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        code, out = run("--db", str(tmp_path / "typo.db"), "list")
        assert code == 5 and "no incident database at" in out and "init" in out
        assert not (tmp_path / "typo.db").exists()
        assert run("init")[1].endswith("ready (it was there already)\n")

    def test_refusals_name_the_commands(self, run) -> None:  # type: ignore[no-untyped-def]
        code, out = run("ingest", "datadog", str(SAMPLES / "datadog_triggered.json"))
        incident_id = out.split(":")[0]
        code, out = run("postmortem", "publish", incident_id, "--by", "alice")
        assert code == 4
        said = "`postmortem publish` is not possible now; possible: ack, follow-up, add-runbook, "
        assert said in out
        assert ", done, " in out
        assert "acknowledge" not in out and "start_runbook" not in out
        run("resolve", incident_id, "--by", "alice", "--summary", "rolled back")
        code, out = run("close", incident_id, "--by", "alice")
        assert code == 4 and "start one with `postmortem start`" in out

    def test_ingest_says_what_each_alert_did(self, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        firing = str(SAMPLES / "alertmanager_firing.json")
        code, out = run("ingest", "alertmanager", firing)
        assert code == 0 and out.count(": opened P1") == 2
        code, out = run("ingest", "alertmanager", firing)
        assert out.count("attached, fired 2 times, nobody paged again") == 2
        code, out = run("ingest", "alertmanager", str(SAMPLES / "alertmanager_resolved.json"))
        assert out.count("recovered (the source says so)") == 2

    def test_a_second_ack_says_who_was_first(self, run) -> None:  # type: ignore[no-untyped-def]
        code, out = run("ingest", "datadog", str(SAMPLES / "datadog_triggered.json"))
        incident_id = out.split(":")[0]
        assert run("ack", incident_id, "--by", "alice")[1] == (
            f"{incident_id}: acknowledged by alice (notified)\n"
        )
        code, out = run("ack", incident_id, "--by", "bob")
        assert code == 0 and "already acknowledged by alice at " in out

    def test_an_unwritten_post_mortem_is_not_submitted(self, run) -> None:  # type: ignore[no-untyped-def]
        code, out = run("ingest", "datadog", str(SAMPLES / "datadog_triggered.json"))
        incident_id = out.split(":")[0]
        assert run("resolve", incident_id, "--by", "alice")[0] == 0
        assert run("postmortem", "start", incident_id, "--author", "alice")[0] == 0
        code, out = run("postmortem", "submit", incident_id, "--by", "alice")
        assert code == 4
        assert "its impact and root cause are not written yet" in out
        assert "`postmortem amend`" in out and "amend_postmortem" not in out

    def test_every_action_item_can_be_settled(self, run) -> None:  # type: ignore[no-untyped-def]
        code, out = run("ingest", "datadog", str(SAMPLES / "datadog_triggered.json"))
        incident_id = out.split(":")[0]
        assert run("reclassify", incident_id, "p2", "--by", "alice")[1].endswith("P2 (notified)\n")
        assert run("escalate", incident_id, "--by", "alice")[0] == 0
        assert run("resolve", incident_id, "--by", "alice", "--summary", "rolled back")[0] == 0
        start = ("postmortem", "start", incident_id, "--author", "alice")
        written = ("--impact", "5% of checkouts", "--root-cause", "a bad deploy")
        assert run(*start, *written, "--learning", "canary")[0] == 0
        assert run("postmortem", "submit", incident_id, "--by", "alice")[0] == 0
        for reviewer in ("bob", "carol"):
            assert run("postmortem", "approve", incident_id, "--reviewer", reviewer)[0] == 0
        code, out = run(
            "add-runbook", incident_id, "--name", "checkout", "--url", "https://rb/c", "--by", "al"
        )
        assert code == 0 and "runbook checkout added; 0 items open" in out
        assert run("close", incident_id, "--by", "alice") == (0, f"{incident_id}: closed\n")
        code, out = run("show", incident_id)
        assert "targets=secondary on-call" in out and "('" not in out

    def test_bad_state_version_and_help(self, run) -> None:  # type: ignore[no-untyped-def]
        code, out = run("list", "--state", "bogus")
        assert code == 2 and "'bogus' is not one of" in out
        code, out = run("--version")
        assert code == 0 and out.startswith("incident-flow, version ")
        code, out = run("--help")
        assert "INCIDENT_FLOW_DB" in out and "INCIDENT_FLOW_POLICY" in out

    def test_update_runbook(self, run) -> None:  # type: ignore[no-untyped-def]
        code, out = run("ingest", "datadog", str(SAMPLES / "datadog_triggered.json"))
        incident_id = out.split(":")[0]
        code, out = run("update-runbook", incident_id, "checkout", "--note", "p95", "--by", "al")
        assert code == 4 and "no runbook 'checkout' in the catalog (known: none yet)" in out
        assert "add it with `add-runbook`" in out
        code, out = run(
            "update-runbook",
            incident_id,
            "checkout",
            "--note",
            "p95",
            "--url",
            "https://rb/c",
            "--by",
            "al",
        )
        assert code == 0 and "runbook checkout updated" in out


class TestRunbooks:
    """incident-flow runbooks: the catalog outside any incident."""

    def test_the_catalog_from_the_command_line(self, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        code, out = run("runbooks", "import", str(SAMPLES / "seed_alerts_table.md"), "--by", "al")
        assert (code, out.split(": ", 1)[1]) == (0, "1 runbooks, 1 added or changed\n")
        assert run("runbooks", "import", str(SAMPLES / "seed_alerts_table.md"), "--by", "al")[
            1
        ].endswith("1 runbooks, 0 added or changed\n")
        code, out = run(
            "runbooks",
            "add",
            "--name",
            "disk",
            "--url",
            "https://rb/disk",
            "--alert",
            "Disk*",
            "--severity",
            "p2",
            "--label",
            "service=ledger",
            "--by",
            "bob",
            "--note",
            "new",
        )
        assert code == 0 and out.startswith("disk: added (revision ")
        assert run("runbooks", "add", "--name", "disk", "--url", "u", "--by", "b")[0] == 5
        assert (
            run("runbooks", "add", "--name", "x", "--url", "u", "--label", "oops", "--by", "b")[0]
            == 2
        )
        code, out = run(
            "runbooks",
            "update",
            "disk",
            "--url",
            "https://rb/disk2",
            "--note",
            "moved",
            "--by",
            "bob",
        )
        assert code == 0 and "disk: updated" in out
        assert run("runbooks", "update", "nope", "--note", "n", "--by", "b")[0] == 5
        code, out = run("runbooks", "show", "disk")
        assert (
            "https://rb/disk2" in out
            and "added by bob: new" in out
            and "updated by bob: moved" in out
        )
        assert run("runbooks", "show", "nope")[0] == 5
        code, out = run("runbooks", "list")
        assert code == 0 and "Disk*" in out and "Example Alert #1" in out
        code, out = run("runbooks", "export")
        assert out.startswith("| Alert | Description | Source | Runbook |")
        toml_file = tmp_path / "catalog.toml"
        code, out = run("runbooks", "export", "--format", "toml")
        toml_file.write_text(out)
        assert 'labels = { "service" = "ledger" }' in out
        code, out = run("runbooks", "import", str(toml_file), "--by", "al")
        assert code == 0 and out.endswith("2 runbooks, 0 added or changed\n")
        bad = tmp_path / "bad.md"
        bad.write_text("no table")
        assert run("runbooks", "import", str(bad), "--by", "al")[0] == 5


class TestSilences:
    """``silence add``, ``list`` and ``end``: who and why, every matcher form."""

    def test_add_list_end(self, run) -> None:  # type: ignore[no-untyped-def]
        code, out = run(
            "silence", "add", "--match", "service=checkout", "--match", "env=prod,eu",
            "--match", "team!=db", "--match", "owner=*", "--for", "2h",
            "--by", "alice", "--why", "[b]upgrade[/b]",
        )  # fmt: skip
        assert code == 0 and "silenced until" in out
        silence_id = out.split(":", 1)[0]
        code, out = run("silence", "list")
        assert code == 0 and silence_id in out
        assert "service=checkout env=prod|eu team!=db owner=*" in out
        assert "[b]upgrade[/b]" in out  # shown as typed, not as markup
        code, out = run("silence", "end", silence_id, "--by", "bob")
        assert code == 0 and f"{silence_id}: ended" in out
        assert run("silence", "list") == (0, "no silences\n")
        code, out = run("silence", "list", "--all")
        assert "ended by bob" in out
        code, out = run(
            "silence", "add", "--match", "service=x", "--until", "2999-01-01T00:00",
            "--by", "a", "--why", "b",
        )  # fmt: skip
        assert code == 0 and "2999-01-01 00:00 UTC" in out

    @pytest.mark.parametrize(
        ("args", "error"),
        [
            (("--match", "x", "--for", "1h"), "--match takes label=value"),
            (("--match", "x=1", "--for", "soon"), "--for must be a positive duration"),
            (("--match", "x=1", "--until", "tomorrow"), "--until takes an ISO 8601 time"),
            (("--match", "x=1"), "its duration or its end"),
        ],
    )
    def test_bad_input_is_refused(self, run, args: tuple[str, ...], error: str) -> None:  # type: ignore[no-untyped-def]
        code, out = run("silence", "add", *args, "--by", "a", "--why", "b")
        assert code == 5 and error in out
        assert run("silence", "list", "--all") == (0, "no silences\n")

    def test_end_an_unknown_silence(self, run) -> None:  # type: ignore[no-untyped-def]
        code, out = run("silence", "end", "sil-nope", "--by", "a")
        assert code == 5 and "no silence 'sil-nope'" in out


class TestOnCall:
    """``oncall`` and ``schedule show|hours`` read the policy's schedules."""

    def test_who_when_and_how_long(self, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        from .test_schedules import SCHEDULE_TOML

        policy = tmp_path / "policy.toml"
        policy.write_text(SCHEDULE_TOML)
        code, out = run("--policy", str(policy), "oncall", "--at", "2026-01-06T10:30+01:00")
        assert (code, out) == (0, "primary: erin until 2026-01-06 11:00 UTC, then alice\n")
        code, out = run("--policy", str(policy), "oncall", "primary", "--at", "2026-01-05T17:00")
        assert out.startswith("primary: NOBODY (a gap) until 2026-01-05 20:00 UTC, then nora")
        code, out = run(
            "--policy", str(policy), "schedule", "show", "primary",
            "--from", "2026-01-05", "--to", "2026-01-07",
        )  # fmt: skip
        assert code == 0 and "erin" in out and "NOBODY (a gap)" in out and "12.0" in out
        code, out = run(
            "--policy", str(policy), "schedule", "hours", "primary",
            "--from", "2026-01-05", "--to", "2026-02-05",
        )  # fmt: skip
        # From midnight in Berlin (the schedule's zone): 9 h before the first handoff, 4 h on
        # the first evening.
        assert code == 0 and "nora" in out and "(nobody: gaps) │  13.0" in out

    @pytest.mark.parametrize(
        ("args", "error"),
        [
            (("oncall",), "the policy has no schedules"),
            (("oncall", "nope"), "no schedule 'nope'"),
            (("oncall", "--at", "soon"), "--at takes an ISO 8601 time"),
            (
                ("schedule", "hours", "x", "--from", "2026-01-02", "--to", "2026-01-01"),
                "no schedule",
            ),
        ],
    )
    def test_bad_input(self, run, args: tuple[str, ...], error: str) -> None:  # type: ignore[no-untyped-def]
        code, out = run(*args)
        assert code == 5 and error in out

    def test_hours_need_a_period(self, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        from .test_schedules import SCHEDULE_TOML

        policy = tmp_path / "policy.toml"
        policy.write_text(SCHEDULE_TOML)
        code, out = run(
            "--policy", str(policy), "schedule", "hours", "primary",
            "--from", "2026-01-02", "--to", "2026-01-01",
        )  # fmt: skip
        assert code == 5 and "--to must come after --from" in out
        code, out = run("--policy", str(policy), "schedule", "show", "primary")
        assert code == 0 and "primary:" in out

    def test_overrides_from_the_command_line(self, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        from .test_schedules import SCHEDULE_TOML

        policy = tmp_path / "policy.toml"
        policy.write_text(SCHEDULE_TOML.replace("2026-02-01T00:00:00Z", "2999-01-01T00:00:00Z"))
        p = ("--policy", str(policy))
        code, out = run(
            *p, "schedule", "override", "primary", "--to", "2999-01-01T00:00",
            "--replace", "zed", "--by", "alice", "--why", "holiday [b]x[/b]",
        )  # fmt: skip
        assert code == 0 and "overridden until 2999-01-01 00:00 CET (2998-12-31 23:00 UTC)" in out
        override_id = out.split(":", 1)[0]
        assert run(*p, "oncall", "primary")[1].startswith("primary: zed until")
        code, out = run(*p, "schedule", "overrides")
        assert override_id in out and "replace=zed" in out and "holiday [b]x[/b]" in out
        code, out = run(*p, "schedule", "cancel-override", override_id, "--by", "alice")
        assert code == 0 and f"{override_id}: ends" in out
        assert run(*p, "schedule", "overrides") == (0, "no overrides\n")
        assert override_id in run(*p, "schedule", "overrides", "--all")[1]
        code, out = run(
            *p, "schedule", "override", "primary", "--to", "2999-01-01T00:00",
            "--layer", "nope", "--add", "x", "--by", "a", "--why", "b",
        )  # fmt: skip
        assert code == 5 and "no layer 'nope'" in out

    def test_the_page_at_a_silence_end_follows_a_run_time_override(  # type: ignore[no-untyped-def]
        self, run, tmp_path: Path
    ) -> None:
        """Issue 28 (1): released at ``silence end``, the page went to tomas, not to jin."""
        policy = tmp_path / "policy.toml"
        policy.write_text(
            '[[schedules]]\nname = "primary"\n'
            '[[schedules.layers]]\nname = "weekly"\nmembers = ["tomas"]\nstart = 2020-01-06\n'
            '[[escalation]]\ntargets = ["schedule:primary"]\nwait = "5m"\n'
        )
        p = ("--policy", str(policy))
        code, out = run(
            *p, "schedule", "override", "primary", "--to", "2999-01-01T00:00",
            "--replace", "jin", "--by", "alice", "--why", "swap",
        )  # fmt: skip
        assert code == 0, out
        assert run(*p, "oncall")[1].startswith("primary: jin until")
        code, out = run(
            *p, "silence", "add", "--match", "service=checkout-api", "--for", "2h",
            "--by", "alice", "--why", "deploy",
        )  # fmt: skip
        silence_id = out.split(":", 1)[0]
        code, out = run(*p, "ingest", "datadog", str(SAMPLES / "datadog_triggered.json"))
        assert code == 0 and f"-> triggered; silenced by {silence_id} (deploy), until " in out
        incident_id = out.split(":", 1)[0]
        assert "IncidentNotified" not in run(*p, "show", incident_id)[1]
        assert run(*p, "silence", "end", silence_id, "--by", "alice")[0] == 0
        code, out = run(*p, "show", incident_id)
        assert code == 0 and "IncidentNotified targets=jin" in out, out


class TestTheOperatorsFirstHour:
    """What a newcomer's first hour with the command line found (issue 29), each pinned."""

    def test_shared_options_after_the_command(  # type: ignore[no-untyped-def]
        self, run, tmp_path: Path
    ) -> None:
        other = tmp_path / "other.db"
        code, out = run("list", "--db", str(other))  # after the command: that store, not cli.db
        assert code == 5 and f"no incident database at {other}" in out
        assert run("init", "--db", str(other)) == (0, f"{other}: created\n")
        from .test_schedules import SCHEDULE_TOML

        policy = tmp_path / "policy.toml"
        policy.write_text(SCHEDULE_TOML.replace("2026-02-01T00:00:00Z", "2999-01-01T00:00:00Z"))
        code, out = run(  # a group's command: `schedule override ... --policy`
            "schedule", "override", "primary", "--to", "2999-01-01T00:00", "--replace", "zed",
            "--by", "alice", "--why", "swap", "--policy", str(policy), "--db", str(other),
        )  # fmt: skip
        assert code == 0 and "overridden until" in out, out
        assert run("schedule", "--policy", str(policy), "overrides", "--db", str(other))[1] != (
            "no overrides\n"
        )
        assert run("schedule", "overrides")[1] == "no overrides\n"  # cli.db has none

    def test_serve_takes_config_after_it(  # type: ignore[no-untyped-def]
        self, run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        code, out = run("serve")
        assert code == 2
        assert "`incident-flow serve --config incident-flow.toml`" in out
        assert "`incident-flow --config incident-flow.toml serve`" in out
        config = tmp_path / "incident-flow.toml"
        config.write_text('polcy_file = "x.toml"\n[slack]\nchanel = "C1"\n')
        code, out = run("serve", "--config", str(config))  # read, not "No such option"
        assert code == 5, out
        assert "slack.chanel: unknown key, did you mean 'channel'?" in out
        assert "polcy_file: unknown key, did you mean 'policy_file'?" in out
        monkeypatch.setenv("INCIDENT_FLOW_CONFIG", str(config))
        code, out = run("serve")  # the environment still stands in for it
        assert code == 5 and "did you mean 'channel'" in out

    def test_the_runbook_and_the_alert_are_shown(self, run) -> None:  # type: ignore[no-untyped-def]
        firing = json.loads((SAMPLES / "alertmanager_firing.json").read_text())
        firing["alerts"] = firing["alerts"][:1]
        code, out = run("ingest", "alertmanager", "-", input=json.dumps(firing))
        incident_id = out.split(":")[0]
        code, out = run("runbook", incident_id, "--by", "alice")
        assert (code, out) == (
            0,
            (
                f"{incident_id}: runbook; runbook CheckoutHighErrorRate: "
                "https://runbooks.example.com/checkout-api/high-error-rate\n"
            ),
        )
        code, out = run("show", incident_id)
        assert code == 0
        lines = out.splitlines()
        assert lines[1] == "  alert: alertmanager CheckoutHighErrorRate"
        assert lines[2].startswith("  link: http://prometheus.example.internal:9090/graph?")
        assert lines[3] == (
            "  description: Pod checkout-api-7d9f8b6c5-x2k4p is serving 7.3% 5xx responses "
            "over the last 5m (threshold 5%)."
        )
        assert lines[4] == (
            "  runbook: CheckoutHighErrorRate: "
            "https://runbooks.example.com/checkout-api/high-error-rate"
        )

    def test_without_a_runbook_runbook_says_what_to_do(self, run) -> None:  # type: ignore[no-untyped-def]
        code, out = run("ingest", "datadog", str(SAMPLES / "datadog_triggered.json"))
        incident_id = out.split(":")[0]
        code, out = run("runbook", incident_id, "--by", "alice")
        assert code == 0 and out.startswith(f"{incident_id}: runbook; no runbook for '")
        assert out.endswith(
            f": AI-1 raised: add one with `add-runbook {incident_id} --name NAME --url URL "
            "--by NAME`\n"
        )
        assert "  runbook: none (add one with `add-runbook" in run("show", incident_id)[1]

    def test_timelines_are_dated_in_the_policys_zone(  # type: ignore[no-untyped-def]
        self, run, tmp_path: Path
    ) -> None:
        import re
        from datetime import datetime

        policy = tmp_path / "policy.toml"
        policy.write_text('timezone = "Asia/Kolkata"\n')  # +05:30 all year: no DST to guess
        p = ("--policy", str(policy))
        out = run(*p, "ingest", "datadog", str(SAMPLES / "datadog_triggered.json"))[1]
        incident_id = out.split(":")[0]
        stamp = r"^  (\d{4}-\d\d-\d\d \d\d:\d\d) (\S+)  system   IncidentTriggered"
        local = re.search(stamp, run(*p, "show", incident_id)[1], re.M)
        utc = re.search(stamp, run(*p, "show", incident_id, "--utc")[1], re.M)
        assert local is not None and utc is not None
        assert (local.group(2), utc.group(2)) == ("IST", "UTC")
        shift = datetime.fromisoformat(local.group(1)) - datetime.fromisoformat(utc.group(1))
        assert shift.total_seconds() == 5.5 * 3600

    def test_ingest_says_a_silence_holds_it(self, run) -> None:  # type: ignore[no-untyped-def]
        code, out = run(
            "silence", "add", "--match", "service=checkout-api", "--until", "2999-01-01T00:00",
            "--by", "alice", "--why", "deploy [b]v42[/b]",
        )  # fmt: skip
        silence_id = out.split(":", 1)[0]
        code, out = run("ingest", "datadog", str(SAMPLES / "datadog_triggered.json"))
        assert code == 0 and out.endswith(
            f"-> triggered; silenced by {silence_id} (deploy [b]v42[/b]), until "
            "2999-01-01 00:00 UTC: not posted nor paged until then\n"
        )

    def test_ingest_says_grouped_and_held(self, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        policy = tmp_path / "policy.toml"
        policy.write_text(
            '[[grouping]]\nname = "outage"\nby = ["service"]\n'
            'page_after = { firings = 3, within = "10m" }\n'
        )
        p = ("--policy", str(policy))
        code, out = run(*p, "ingest", "alertmanager", str(SAMPLES / "alertmanager_firing.json"))
        assert code == 0, out
        first, second = out.splitlines()
        incident_id = first.split(":")[0]
        assert first.startswith(f"{incident_id}: opened P1 ")
        assert first.endswith("-> notified; page held until 3 firings within 10m (1 so far)")
        assert second.startswith(f"{incident_id}: grouped into {incident_id} by rule outage (2 ")
        assert second.endswith("-> notified; page held until 3 firings within 10m (2 so far)")

    def test_oncall_needs_no_database(self, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        from .test_schedules import SCHEDULE_TOML

        policy = tmp_path / "policy.toml"
        policy.write_text(SCHEDULE_TOML)
        none = ("--db", str(tmp_path / "none.db"), "--policy", str(policy))
        code, out = run(*none, "oncall", "--at", "2026-01-06T10:30+01:00")
        assert code == 0, out
        assert "primary: erin until 2026-01-06 11:00 UTC, then alice\n" in out
        assert "from the policy alone, without run-time overrides" in out
        code, out = run(*none, "schedule", "show", "primary", "--from", "2026-01-05")
        assert code == 0 and "NOBODY (a gap)" in out
        code, out = run(*none, "schedule", "hours", "primary", "--from", "2026-01-05", "--to",
                        "2026-01-07")  # fmt: skip
        assert code == 0 and "│ nora           │  19.0 │" in out
        assert not (tmp_path / "none.db").exists()
        code, out = run(*none, "schedule", "overrides")  # overrides live in the store
        assert code == 5 and "no incident database" in out

    def test_schedule_times_are_the_schedules(self, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        from .test_schedules import SCHEDULE_TOML

        policy = tmp_path / "policy.toml"
        policy.write_text(SCHEDULE_TOML)
        p = ("--policy", str(policy))
        # 08:30 in Berlin is before the first handoff (09:00); 08:30 UTC would be alice's.
        code, out = run(*p, "oncall", "primary", "--at", "2026-01-05T08:30")
        assert out == "primary: NOBODY (a gap) until 2026-01-05 08:00 UTC, then alice\n"
        code, out = run(*p, "schedule", "show", "primary", "--from", "2026-01-05T09:00",
                        "--to", "2026-01-05T17:00")  # fmt: skip
        assert code == 0 and "primary: 2026-01-05 09:00 CET to 2026-01-05 17:00 CET" in out
        assert "from (Europe/Berlin)" in out and "from (UTC)" in out
        row = (
            "│ 2026-01-05 09:00 CET │ 2026-01-05 17:00 CET │ 2026-01-05 08:00 │ "
            "2026-01-05 16:00 │ 8.0   │ alice"
        )
        assert row in out
        code, out = run(*p, "schedule", "override", "--help")
        assert "without an offset, in the schedule's time zone" in " ".join(out.split())

    def test_help_has_no_stray_backspace(self, run) -> None:  # type: ignore[no-untyped-def]
        code, out = run("--help")
        assert code == 0 and "\\b" not in out and "\b" not in out
        assert (
            "\n  Environment:\n"
            "    INCIDENT_FLOW_DB      the database, instead of --db\n"
            "    INCIDENT_FLOW_POLICY  the policy file, instead of --policy\n"
            "    INCIDENT_FLOW_CONFIG  the service configuration, instead of --config: it names\n"
        ) in out
        assert "    incident-flow serve --config incident-flow.toml\n" in out

    def test_unknown_policy_keys_say_the_close_one(  # type: ignore[no-untyped-def]
        self, run, tmp_path: Path
    ) -> None:
        bad = tmp_path / "policy.toml"
        bad.write_text(
            "postmortem_reviewer = 2\n"
            '[[escalation]]\ntargets = ["alice"]\nwiat = "5m"\n'
            '[[schedules]]\nname = "p"\n[[schedules.layers]]\nname = "l"\nmembers = ["a"]\n'
            'start = 2026-01-05\nhandof = "09:00"\n'
        )
        code, out = run("policy", "check", str(bad))
        assert code == 5
        assert (
            "postmortem_reviewer: unknown key, did you mean 'postmortem_reviewers'? (known: " in out
        )
        assert "escalation[0].wiat: unknown key, did you mean 'wait'? (known: targets, wait)" in out
        assert "schedules[0].layers[0].handof: unknown key, did you mean 'handoff'?" in out

    def test_the_version_is_the_installed_one(self, run) -> None:  # type: ignore[no-untyped-def]
        import tomllib
        from importlib import metadata

        import incident_flow

        pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
        version = pyproject["project"]["version"]
        major, minor = (int(part) for part in version.split(".")[:2])
        assert (major, minor) > (0, 2)  # 0.2 was the last release line
        assert metadata.version("incident-flow") == version == incident_flow.__version__
        assert run("--version") == (0, f"incident-flow, version {version}\n")
