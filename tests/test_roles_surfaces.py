"""Issue 32, roles at the surfaces: Slack's ``/incident lead`` and ``role``, the I'll lead
button, the Slack message, the served app, and the command line (assign, show, report).

Slack bodies are the real ones of ``tests/samples/actions`` (the slash command of Slack's
docs, a recorded ``block_actions`` press) with our words in them; a user named in a slash
command arrives escaped as Slack's docs write a mention, ``<@U024BE7LH|bob>`` ("Message
formatting", api.slack.com/docs/message-formatting).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner
from pytest_httpserver import HTTPServer

from incident_flow import (
    Action,
    Alert,
    IncidentFlow,
    InvalidPayload,
    Notification,
    Person,
    Policy,
    RecordingNotifier,
    Roles,
    Severity,
    ingest,
)
from incident_flow.adapters.channels.slack import blocks, buttons
from incident_flow.adapters.stores.sqlite import SQLiteStore
from incident_flow.cli import main
from incident_flow.server import async_flow, create_app, load_config
from incident_flow.testing import ManualClock

from .conftest import T0
from .inbound import SLACK_TEAM, slack_press, slack_signed
from .test_server import ENV, EXAMPLE, Served, post, wait_for
from .test_team_surfaces import slash
from .vendors import CHANNEL, FakePagerDuty, FakeSlack

#: The slash-command sample's user is ``U2147483697``; the press sample's is replaced.
PEOPLE = [
    Person(name="steve", slack="U2147483697"),
    Person(name="alice", slack="U0ALICE"),
    Person(name="bob", slack="U024BE7LH"),
]
POLICY = Policy(roles=Roles(commander_required=["P1"], page=["ic"]), people=PEOPLE)
POLICY_TOML = """
[roles]
commander_required = ["P1"]
page = ["ic"]

[[people]]
name = "steve"
slack = "U2147483697"

[[people]]
name = "alice"
slack = "U0ALICE"

[[people]]
name = "bob"
slack = "U024BE7LH"
"""


def p1(key: str = "k1") -> Alert:
    return Alert(source="s", name="Down", title="Checkout <down>", severity="P1", dedup_key=key)


def one(text: str) -> Action:
    (found,) = ingest.actions("slack", slash(text))
    return found


class TestSlashCommands:
    """``/incident lead ID [@person]`` and ``/incident role ID ROLE [@person]`` read as actions."""

    def test_lead_without_a_person_is_the_one_who_typed_it(self) -> None:
        action = one("lead inc-1")
        assert (action.kind, action.incident, action.by) == ("assign_role", "inc-1", "U2147483697")
        assert (action.role, action.assignee) == ("commander", None)
        assert action.delivery_id is not None

    @pytest.mark.parametrize(
        ("text", "role", "who"),
        [
            ("lead inc-1 <@U024BE7LH|bob>", "commander", "U024BE7LH"),
            ("lead inc-1 <@U024BE7LH>", "commander", "U024BE7LH"),
            ("LEAD inc-1 @alice", "commander", "alice"),
            ("role inc-1 Scribe <@U0ALICE|alice>", "Scribe", "U0ALICE"),
            ("role inc-1 communications carol", "communications", "carol"),
        ],
    )
    def test_a_person_by_mention_or_name(self, text: str, role: str, who: str) -> None:
        action = one(text)
        assert (action.role, action.assignee) == (role, who)

    @pytest.mark.parametrize(
        ("text", "says"),
        [
            ("lead", "usage: /incident"),
            ("role inc-1", "/incident role needs the role"),
            ("lead inc-1 alice bob", "name one person"),
            ("lead inc-1 <!channel>", "'<!channel>' is not a person"),
            ("lead inc-1 <#C024BE7LR|general>", "is not a person"),
            ("role inc-1 scribe <@U1|a>extra", "is not a person"),
            ("lead inc-1 @" + "x" * 81, "is not a person"),
        ],
    )
    def test_mistakes_answer_with_the_usage(self, text: str, says: str) -> None:
        with pytest.raises(InvalidPayload, match=says):
            ingest.actions("slack", slash(text))

    def test_the_usage_names_the_new_words(self) -> None:
        with pytest.raises(InvalidPayload, match=r"lead ID \[@person\] \| role ID ROLE"):
            ingest.actions("slack", slash("dance inc-1"))


class TestTheButton:
    """I'll lead: shown while a needed commander is missing and unresolved; its press leads."""

    def note(self, state: str, roles: tuple[tuple[str, str], ...]) -> Notification:
        return Notification(
            incident_id="inc-1", kind="notify", text="", title="t", severity=Severity.P1,
            state=state, idempotency_key="k", roles=roles,
        )  # fmt: skip

    @pytest.mark.parametrize(
        ("state", "roles", "shown"),
        [
            ("notified", (("commander", ""),), True),
            ("runbook", (("commander", ""), ("scribe", "bob")), True),
            ("notified", (("commander", "alice"),), False),
            ("resolved", (("commander", ""),), False),
            ("notified", (), False),
        ],
    )
    def test_when_it_is_shown(self, state: str, roles: Any, shown: bool) -> None:
        kinds = [b["action_id"] for b in buttons(self.note(state, roles))]
        assert ("incident_flow:lead" in kinds) is shown

    def test_the_message_names_the_roles_as_text(self) -> None:
        layout = blocks(self.note("notified", (("commander", ""), ("scribe", "<!here> & co"))))
        fields = [f["text"] for f in layout[1]["fields"]]
        assert "*Commander:*\n-" in fields
        assert "*Scribe:*\n&lt;!here&gt; &amp; co" in fields
        long = blocks(self.note("notified", (("commander", "y" * 300),)))[1]["fields"]
        assert long[-1]["text"] == "*Commander:*\n" + "y" * 100
        many = tuple((f"role-{i}", "x") for i in range(12))
        assert len(blocks(self.note("notified", many))[1]["fields"]) == 10  # Slack's limit

    def test_a_press_reads_as_assign_commander(self) -> None:
        form, _ = slack_press("lead", "inc-1", user="U0ALICE", trigger="t-lead")
        (action,) = ingest.actions("slack", form)
        assert (action.kind, action.role, action.assignee, action.by) == (
            "assign_role", "commander", None, "U0ALICE",
        )  # fmt: skip

    def test_the_first_message_offers_it_and_updates_show_the_commander(self) -> None:
        chat = RecordingNotifier()
        flow = IncidentFlow(POLICY, notifier=chat, pager=RecordingNotifier(), clock=ManualClock(T0))
        incident_id = flow.trigger(p1()).id
        (first,) = chat.of(incident_id, "notify")
        assert first.roles == (("commander", ""),)
        flow.assign(incident_id, "commander", "alice", by="alice")
        assert chat.of(incident_id, "update")[-1].roles == (("commander", "alice"),)
        low = flow.trigger(attrs.evolve(p1("k2"), severity="P3"))
        assert chat.of(low.id, "notify")[0].roles == ()


class TestApplied:
    """Slack identities become the policy's people; strangers and retries change nothing."""

    def setup_method(self) -> None:
        self.clock = ManualClock(T0)
        self.flow = IncidentFlow(
            POLICY, notifier=RecordingNotifier(), pager=RecordingNotifier(), clock=self.clock
        )
        self.id = self.flow.trigger(p1()).id

    def apply(self, text: str, trigger: str, user: str = "U2147483697") -> Any:
        raw = slash(text).replace(b"user_id=U2147483697", f"user_id={user}".encode())
        raw = raw.replace(b"trigger_id=13345224609", f"trigger_id={trigger}".encode())
        (action,) = ingest.actions("slack", raw)
        return self.flow.apply(action)

    def test_lead_and_hand_over_by_slack(self) -> None:
        led = self.apply(f"lead {self.id}", "t1")
        assert dict(led.roles) == {"commander": "steve"}
        handed = self.apply(f"lead {self.id} <@U024BE7LH|bob>", "t2")
        assert dict(handed.roles) == {"commander": "bob"}
        assert handed.role_changes[-1].previous == "steve"
        assert handed.role_changes[-1].by == "steve"
        scribe = self.apply(f"role {self.id} scribe @alice", "t3")
        assert scribe.roles["scribe"] == "alice"
        assert self.apply(f"role {self.id} scribe @alice", "t3").version == scribe.version  # retry
        assert self.apply(f"role {self.id} scribe @alice", "t4").version == scribe.version  # same

    def test_a_press_twice_leads_once(self) -> None:
        for trigger in ("p1", "p2"):
            form, _ = slack_press("lead", self.id, user="U0ALICE", trigger=trigger)
            (action,) = ingest.actions("slack", form)
            self.flow.apply(action)
        history = self.flow.history(self.id)
        assert [e.type for e in history].count("RoleAssigned") == 1
        assert self.flow.get(self.id).roles["commander"] == "alice"

    @pytest.mark.parametrize(
        ("text", "user", "reason"),
        [
            ("lead {id}", "U0EVIL", "slack:U0EVIL is not a person of the policy"),
            ("lead {id} <@U0EVIL|mallory>", "U2147483697", "'U0EVIL' is not a person"),
            ("role {id} pilot", "U2147483697", "no role 'pilot'"),
            ("lead {id} @here", "U2147483697", "'here' is not a person"),
        ],
    )
    def test_strangers_and_mistakes_are_recorded_as_ignored(
        self, text: str, user: str, reason: str
    ) -> None:
        after = self.apply(text.format(id=self.id), "t9", user=user)
        last = self.flow.history(self.id)[-1]
        assert last.type == "ActionIgnored" and reason in last.reason  # type: ignore[attr-defined]
        assert "commander" not in after.roles

    def test_a_closed_incident_ignores_it(self) -> None:
        low = self.flow.trigger(attrs.evolve(p1("k5"), severity="P4"))
        self.flow.resolve(low.id, by="alice")
        self.flow.waive_action_item(low.id, "AI-1", by="alice", reason="known")
        self.flow.close(low.id, by="alice")
        self.apply(f"lead {low.id}", "t7")
        assert self.flow.history(low.id)[-1].type == "ActionIgnored"


# ------------------------------------------------------------------------------ served


@pytest.fixture
def served(tmp_path: Path, httpserver: HTTPServer) -> Iterator[tuple[Served, str]]:
    """The service on the roles policy, its store holding one P1 nobody leads."""
    slack = FakeSlack(httpserver)
    pagerduty = FakePagerDuty(httpserver)
    path = tmp_path / "incident-flow.toml"
    text = EXAMPLE.read_text().replace(
        'channel = "C08K3M5N7PQ"', f'channel = "{CHANNEL}"\napi_url = "{slack.api_url}"'
    )
    text = text.replace(
        'routing_key = "${PAGERDUTY_ROUTING_KEY}"',
        f'routing_key = "${{PAGERDUTY_ROUTING_KEY}}"\nurl = "{pagerduty.url}"',
    )
    path.write_text(text)
    store = SQLiteStore(tmp_path / "x.db")
    flow = IncidentFlow(POLICY, store=store, notifier=RecordingNotifier(), clock=ManualClock(T0))
    incident_id = flow.trigger(p1()).id
    store.close()
    config = attrs.evolve(
        load_config(path, environ=ENV), store=str(tmp_path / "x.db"), policy=POLICY
    )
    with Served(create_app(async_flow(config), config, worker=False)) as server:
        yield server, incident_id


def roles_in(tmp_path: Path, incident_id: str) -> dict[str, str]:
    store = SQLiteStore(tmp_path / "x.db")
    try:
        return dict(IncidentFlow(POLICY, store=store).get(incident_id).roles)
    finally:
        store.close()


class TestServed:
    """Through the app: signed, from our workspace, or refused before anything is read."""

    def test_lead_by_slash_command(self, served: tuple[Served, str], tmp_path: Path) -> None:
        server, incident_id = served
        form = slash(f"lead {incident_id} <@U024BE7LH|bob>")
        assert post(server, "/slack/commands", form, **slack_signed(form)).status_code == 200
        wait_for(lambda: roles_in(tmp_path, incident_id) == {"commander": "bob"}, "bob leads")

    def test_the_button(self, served: tuple[Served, str], tmp_path: Path) -> None:
        server, incident_id = served
        form, headers = slack_press("lead", incident_id, user="U0ALICE", trigger="t-b")
        assert post(server, "/slack/interactivity", form, **headers).status_code == 200
        wait_for(lambda: roles_in(tmp_path, incident_id) == {"commander": "alice"}, "alice leads")

    def test_another_workspace_or_a_bad_signature_is_401(
        self, served: tuple[Served, str], tmp_path: Path
    ) -> None:
        server, incident_id = served
        evil = slash(f"lead {incident_id}", team="T0EVIL")
        assert post(server, "/slack/commands", evil, **slack_signed(evil)).status_code == 401
        form = slash(f"lead {incident_id}")
        headers = slack_signed(form)
        headers["X-Slack-Signature"] = "v0=" + "0" * 64
        assert post(server, "/slack/commands", form, **headers).status_code == 401
        assert roles_in(tmp_path, incident_id) == {}

    def test_a_mistake_is_answered_privately(self, served: tuple[Served, str]) -> None:
        server, incident_id = served
        form = slash(f"lead {incident_id} <!channel>")
        answer = post(server, "/slack/commands", form, **slack_signed(form))
        assert answer.status_code == 200
        assert answer.json()["response_type"] == "ephemeral"
        assert "&lt;!channel&gt;" in answer.json()["text"]
        assert SLACK_TEAM  # our workspace is the one the sample was moved to


# ------------------------------------------------------------------------------ command line


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "roles.toml").write_text(POLICY_TOML)
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str]:
        result = runner.invoke(
            main,
            ["--db", str(tmp_path / "cli.db"), "--policy", str(tmp_path / "roles.toml"), *args],
            catch_exceptions=False,
        )
        return result.exit_code, result.output

    assert invoke("init")[0] == 0
    clock = ManualClock(T0)
    store = SQLiteStore(tmp_path / "cli.db")
    flow = IncidentFlow(Policy.from_text(POLICY_TOML), store=store, notifier=RecordingNotifier(),
                        pager=RecordingNotifier(), clock=clock)  # fmt: skip
    invoke.id = flow.trigger(p1()).id  # type: ignore[attr-defined]
    clock.advance(timedelta(minutes=10))
    flow.remind_due()
    store.close()
    return invoke


class TestCommandLine:
    """``assign`` says what it did; ``show`` and ``report`` say who led."""

    def test_assign_hand_over_and_again(self, cli: Any) -> None:
        incident_id = cli.id
        assert cli("assign", incident_id, "Commander", "alice", "--by", "steve") == (
            0, f"{incident_id}: commander is alice\n",
        )  # fmt: skip
        assert cli("assign", incident_id, "commander", "BOB", "--by", "alice") == (
            0, f"{incident_id}: commander is bob (handed over from alice)\n",
        )  # fmt: skip
        assert cli("assign", incident_id, "commander", "bob", "--by", "alice") == (
            0, f"{incident_id}: commander is bob already\n",
        )  # fmt: skip

    def test_refusals_exit_4_and_say_why(self, cli: Any) -> None:
        code, out = cli("assign", cli.id, "pilot", "alice", "--by", "steve")
        assert code == 4 and "no role 'pilot'" in out
        code, out = cli("assign", cli.id, "commander", "<b>mallory</b>", "--by", "steve")
        assert code == 4 and "'<b>mallory</b>' is not a person of the policy" in out
        code, out = cli("assign", cli.id, "commander", "\x1b[2Jmallory", "--by", "steve")
        assert code == 5 and "one line of text" in out and "\x1b" not in out

    def test_show_and_report(self, cli: Any) -> None:
        cli("assign", cli.id, "commander", "alice", "--by", "steve")
        cli("assign", cli.id, "scribe", "bob", "--by", "alice")
        code, out = cli("show", cli.id, "--utc")
        assert code == 0
        assert "CommanderReminded step=remind" in out
        assert "steve    RoleAssigned role=commander, person=alice" in out
        assert "alice    RoleAssigned role=scribe, person=bob" in out
        code, out = cli("report", "--format", "json")
        roles = json.loads(out)["roles"]
        assert roles["commander_needed"] == 1 and roles["without_commander"] == []
        assert roles["handovers"] == 0 and roles["time_to_commander_minutes"] > 0
        code, out = cli("report")
        assert "roles: 1 incident(s) needed a commander; without one: none; time to " in out
        code, _ = cli("report", "--html", "report.html")
        page = Path("report.html").read_text()
        assert (
            code == 0
            and "<h2>Roles</h2><p>1 incidents needed a commander; without one: none" in page
        )

    def test_policy_check_says_the_rule(self, cli: Any, tmp_path: Path) -> None:
        code, out = cli("policy", "check", str(tmp_path / "roles.toml"))
        assert code == 0
        assert (
            "roles: commander, communications, scribe; P1 need a commander: reminded after "
            "10m, then ic paged 10m later"
        ) in out
        teams = tmp_path / "teams.toml"
        teams.write_text(
            'default_team = "web"\n[[teams]]\nname = "pay"\n[teams.roles]\nnames = ["lead"]\n'
            '[[teams]]\nname = "web"'
        )
        code, out = cli("policy", "check", str(teams))
        assert code == 0, out
        assert "team pay roles: lead; no severity needs a commander" in out
        assert "team web roles" not in out
