"""Issue 34, fourth part: grouping rules and silences scoped to a team; each team's folder.

A ``[[grouping]]`` rule or a silence may name a ``team``: it then applies only to the alerts
the policy routes to that team, and one without a team applies to every alert as before. An
unknown team is refused where it is written (the policy file, ``flow.silence``, the command
line, the API) and nothing changes. The default folder publisher saves each incident's
post-mortem under its (current) team's ``postmortem_folder``.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import attrs
import httpx
import pytest
from click.testing import CliRunner
from pytest_httpserver import HTTPServer

from incident_flow import (
    Alert,
    AsyncIncidentFlow,
    EscalationLevel,
    FolderPublisher,
    GitPublisher,
    GroupingRule,
    IncidentFlow,
    InvalidCommand,
    InvalidPolicy,
    MemoryStore,
    PageAfter,
    Policy,
    RecordingNotifier,
    Route,
    Silence,
    Team,
)
from incident_flow._core.storms import group_key, matching_silence
from incident_flow.adapters.stores._common import decode_silence, encode_silence
from incident_flow.adapters.stores.sqlite import SQLiteStore
from incident_flow.cli import main
from incident_flow.server import async_flow, create_app, load_config
from incident_flow.server._metrics import ServiceMetrics
from incident_flow.testing import ManualClock
from incident_flow.testing._async import LoopThread

from .conftest import T0
from .test_server import ENV, EXAMPLE, Served, fire
from .vendors import CHANNEL, FakePagerDuty, FakeSlack

SHOP, PAY = "C0SHOP0001", "C0PAY00001"


def two_teams(**changes: object) -> Policy:
    """shop (alice; #shop; its own folder) owns service=checkout; payments (bob) the rest."""
    fields: dict[str, object] = {
        "teams": (
            Team(
                name="shop",
                escalation=[EscalationLevel(("alice",))],
                chat_channel=SHOP,
                postmortem_reviewers=1,
                postmortem_review_pool=("dave",),
                postmortem_folder="shop/postmortems",
            ),
            Team(
                name="payments",
                escalation=[EscalationLevel(("bob",))],
                chat_channel=PAY,
                postmortem_reviewers=1,
                postmortem_review_pool=("zoe",),
            ),
        ),
        "routes": (Route(team="shop", match={"service": "checkout"}),),
        "default_team": "payments",
    }
    fields.update(changes)
    return Policy(**fields)  # type: ignore[arg-type]


def alert(service: str, key: str, env: str = "prod", severity: str = "P1") -> Alert:
    return Alert(
        source="s", name=f"{service}-down", title=f"{service} down", severity=severity,
        labels={"service": service, "env": env}, dedup_key=key,
    )  # fmt: skip


def make_flow(
    policy: Policy, store: object | None = None
) -> tuple[IncidentFlow, RecordingNotifier, RecordingNotifier, ManualClock]:
    chat, pager, clock = RecordingNotifier(), RecordingNotifier(), ManualClock(T0)
    flow = IncidentFlow(
        policy, store=store or MemoryStore(), notifier=chat, pager=pager, clock=clock
    )  # type: ignore[arg-type]
    return flow, chat, pager, clock


HOUR = timedelta(hours=1)

TEAMS_FILE = """
default_team = "payments"

[[teams]]
name = "shop"
escalation = [{ targets = ["alice"] }]

[[teams]]
name = "payments"
escalation = [{ targets = ["bob"] }]

[[routes]]
match = { service = "checkout" }
team = "shop"
"""


class TestScopesInThePolicy:
    """A rule's ``team`` is read, shown, checked against the teams, and kept per team's view."""

    def test_a_rule_names_its_team_in_the_file_and_in_policy_check(self) -> None:
        text = TEAMS_FILE + '[[grouping]]\nname = "shop-outage"\nby = ["env"]\nteam = "shop"\n'
        policy = Policy.from_text(text)
        assert policy.grouping[0].team == "shop"
        assert "grouping shop-outage: every alert by env within 10m (team shop only)" in (
            policy.storm_lines()
        )

    def test_an_unknown_team_is_refused_with_its_path_and_the_known_ones(self) -> None:
        text = TEAMS_FILE + '[[grouping]]\nname = "x"\nby = ["env"]\nteam = "shoop"\n'
        with pytest.raises(InvalidPolicy) as caught:
            Policy.from_text(text)
        assert caught.value.problems == (
            "grouping[0].team: 'shoop': unknown team, did you mean 'shop'? (known: shop, payments)",
        )

    @pytest.mark.parametrize(
        "team", ['"<b>shop</b>"', '"shop\\u001b[31m"', "3", '""', '"@here"', '"a b"']
    )
    def test_a_team_that_is_no_name_is_refused(self, team: str) -> None:
        text = TEAMS_FILE + f'[[grouping]]\nname = "x"\nby = ["env"]\nteam = {team}\n'
        with pytest.raises(InvalidPolicy) as caught:
            Policy.from_text(text)
        (problem,) = caught.value.problems
        assert problem.startswith("grouping[0].team: must be a team's name")

    @pytest.mark.parametrize(
        ("grouping", "problem"),
        [
            ("grouping = 3", "grouping: must be an array of tables ([[grouping]])"),
            ("grouping = [3]", "grouping[0]: must be a table, got 3"),
        ],
    )
    def test_a_grouping_that_is_no_table_is_said_once(self, grouping: str, problem: str) -> None:
        with pytest.raises(InvalidPolicy) as caught:
            Policy.from_text(grouping + "\n" + TEAMS_FILE)
        assert caught.value.problems == (problem,)

    def test_without_teams_the_one_team_is_default(self) -> None:
        rule = '[[grouping]]\nname = "x"\nby = ["env"]\nteam = "{}"\n'
        assert Policy.from_text(rule.format("default")).grouping[0].team == "default"
        with pytest.raises(InvalidPolicy, match=r"grouping\[0\].team: 'shop': unknown team"):
            Policy.from_text(rule.format("shop"))

    def test_the_constructor_refuses_an_unknown_team_too(self) -> None:
        with pytest.raises(ValueError, match=r"grouping\[0\].team: 'nope': unknown team"):
            two_teams(grouping=[GroupingRule(name="x", by=["env"], team="nope")])
        with pytest.raises(ValueError, match="must be a team's name"):
            GroupingRule(name="x", by=["env"], team="<script>")

    def test_a_teams_view_keeps_its_own_rules_and_everyones(self) -> None:
        mine = GroupingRule(name="mine", by=["env"], team="shop")
        theirs = GroupingRule(name="theirs", by=["env"], team="payments")
        every = GroupingRule(name="every", by=["service"])
        policy = two_teams(grouping=[mine, theirs, every])
        assert policy.for_team("shop").grouping == (mine, every)
        assert policy.for_team("payments").grouping == (theirs, every)

    def test_a_02_rule_applies_to_every_team(self) -> None:
        rule = Policy.from_text('[[grouping]]\nname = "x"\nby = ["env"]\n').grouping[0]
        assert rule.team is None
        assert rule.key(alert("checkout", "k"), "shop") == rule.key(alert("checkout", "k"))

    def test_team_name_for_is_the_team_for(self) -> None:
        policy = two_teams()
        for service in ("checkout", "billing"):
            a = alert(service, "k")
            assert policy.team_name_for(a) == policy.team_for(a).name
        assert Policy().team_name_for(alert("checkout", "k")) == "default"


class TestScopedValues:
    """The pure values: a scoped rule or silence applies to its team's alerts only."""

    def test_a_scoped_rule_keys_only_its_teams_alerts(self) -> None:
        rule = GroupingRule(name="outage", by=["env"], team="shop")
        a = alert("checkout", "k")
        assert rule.key(a, "shop") == "group:outage:env=prod"
        assert rule.key(a, "payments") is None
        assert rule.key(a) is None  # no team given: a team's rule does not apply
        assert group_key([rule], a, "payments") is None

    def test_a_scoped_silence_matches_only_its_teams_alerts(self) -> None:
        silence = Silence(
            id="sil-1", matchers={"env": "prod"}, starts_at=T0, ends_at=T0 + HOUR,
            by="alice", why="upgrade", created_at=T0, team="shop",
        )  # fmt: skip
        a = alert("checkout", "k")
        assert silence.matches(a, "shop")
        assert not silence.matches(a, "payments")
        assert not silence.matches(a)
        assert matching_silence([silence], a, T0, "payments") is None
        assert "team shop: env=prod" in silence.describe()
        unscoped = attrs.evolve(silence, team=None)
        assert unscoped.matches(a) and unscoped.matches(a, "payments")
        assert "team" not in unscoped.describe()

    def test_a_silence_refuses_a_team_that_is_no_name(self) -> None:
        """The refusal names what was refused: the silence's (or the rule's) team."""
        with pytest.raises(ValueError, match=r"^Silence\.team must be a team's name"):
            Silence(
                id="sil-1", matchers={"env": "prod"}, starts_at=T0, ends_at=T0 + HOUR,
                by="alice", why="upgrade", created_at=T0, team="shop\n@channel",
            )  # fmt: skip
        with pytest.raises(ValueError, match=r"^GroupingRule\.team must be a team's name"):
            GroupingRule(name="outage", team=" ")

    def test_a_silence_stored_before_teams_reads_as_every_teams(self) -> None:
        silence = Silence(
            id="sil-1", matchers={"env": "prod"}, starts_at=T0, ends_at=T0 + HOUR,
            by="alice", why="upgrade", created_at=T0, team="shop",
        )  # fmt: skip
        data = json.loads(encode_silence(silence))
        assert data["team"] == "shop"
        assert decode_silence(encode_silence(silence)) == silence
        del data["team"]  # as a 0.2 store wrote it
        assert decode_silence(json.dumps(data)) == attrs.evolve(silence, team=None)


class TestScopedGrouping:
    """A team's rule groups that team's alerts; other teams' alerts open their own."""

    def test_only_the_teams_alerts_are_grouped(self) -> None:
        rule = GroupingRule(name="shop-outage", by=["env"], team="shop")
        flow, _, pager, _ = make_flow(two_teams(grouping=[rule]))
        first = flow.trigger(alert("checkout", "k1"))
        second = flow.trigger(alert("checkout", "k2"))
        other = flow.trigger(alert("billing", "k3"))
        more = flow.trigger(alert("billing", "k4"))
        assert second.id == first.id and first.team == "shop"
        assert len({first.id, other.id, more.id}) == 3
        assert (other.team, more.team) == ("payments", "payments")
        flow.deliver_pending()
        assert [p.to for p in pager.of(other.id, "page")] == [("bob",)]

    def test_one_body_of_several_teams_alerts_is_grouped_the_same(self) -> None:
        rule = GroupingRule(name="pay-outage", by=["env"], team="payments")
        flow, _, _, _ = make_flow(two_teams(grouping=[rule]))
        body = [alert("checkout", "k1"), alert("billing", "k2"), alert("checkout", "k3")]
        body += [alert("refunds", "k4")]
        found = flow.trigger_all(body)
        ids = [i.id for i in found if i is not None]
        assert ids[1] == ids[3] and len(set(ids)) == 3
        assert [i.team for i in found if i is not None] == ["shop", "payments", "shop", "payments"]

    def test_a_joining_alert_is_said_and_its_held_page_released_as_the_teams(self) -> None:
        """The group's summary goes to shop's channel; the page it releases to shop's on-call."""
        rule = GroupingRule(
            name="shop-outage", by=["env"], team="shop", page_after=PageAfter(2, HOUR)
        )
        policy = two_teams(grouping=[rule], repeat_summary_every=timedelta(0))
        flow, chat, pager, _ = make_flow(policy)
        first = flow.trigger(alert("checkout", "k1"))
        assert not first.paged and first.team == "shop"
        second = flow.trigger(alert("checkout", "k2"))
        flow.deliver_pending()
        assert second.id == first.id and second.paged
        assert [p.to for p in pager.of(first.id, "page")] == [("alice",)]
        updates = [(m.channel, m.text) for m in chat.of(first.id, "update")]
        assert updates[0] == (
            SHOP,
            "2 alerts grouped by shop-outage, 2 firings; latest: checkout down",
        )
        assert {channel for channel, _ in updates} == {SHOP}

    def test_a_rule_for_every_team_groups_across_teams_as_before(self) -> None:
        rule = GroupingRule(name="outage", by=["env"])
        flow, _, _, _ = make_flow(two_teams(grouping=[rule]))
        first = flow.trigger(alert("checkout", "k1"))
        second = flow.trigger(alert("billing", "k2"))
        assert first.id == second.id and second.team == "shop"

    def test_two_teams_rules_with_the_same_labels_keep_apart(self) -> None:
        rules = [
            GroupingRule(name="shop-outage", by=["env"], team="shop"),
            GroupingRule(name="pay-outage", by=["env"], team="payments"),
        ]
        flow, _, _, _ = make_flow(two_teams(grouping=rules))
        ids = [flow.trigger(alert(s, f"k{n}")).id for n, s in enumerate(["checkout", "x"] * 2)]
        assert ids[0] == ids[2] and ids[1] == ids[3] and ids[0] != ids[1]


class TestScopedSilences:
    """A team's silence holds that team's alerts; others page as usual."""

    def test_only_the_teams_alerts_are_silenced(self) -> None:
        flow, chat, pager, _ = make_flow(two_teams())
        silence = flow.silence({"env": "prod"}, by="bob", why="db upgrade", duration=HOUR,
                               team="payments")  # fmt: skip
        assert silence.team == "payments"
        held = flow.trigger(alert("billing", "k1"))
        live = flow.trigger(alert("checkout", "k2"))
        flow.deliver_pending()
        assert held.silenced and held.team == "payments"
        assert not live.silenced and [p.to for p in pager.of(live.id, "page")] == [("alice",)]
        assert chat.of(held.id) == [] and pager.of(held.id) == []

    def test_a_silence_without_a_team_holds_every_team_as_before(self) -> None:
        flow, _, _, _ = make_flow(two_teams())
        flow.silence({"env": "prod"}, by="bob", why="maintenance", duration=HOUR)
        assert flow.trigger(alert("billing", "k1")).silenced
        assert flow.trigger(alert("checkout", "k2")).silenced

    def test_another_teams_silence_does_not_keep_it_waiting_at_the_end(self) -> None:
        flow, _, pager, clock = make_flow(two_teams())
        flow.silence({"env": "prod"}, by="bob", why="one hour", duration=HOUR, team="payments")
        flow.silence({"env": "prod"}, by="al", why="three hours", duration=3 * HOUR, team="shop")
        held = flow.trigger(alert("billing", "k1"))
        assert held.silenced
        clock.advance(HOUR + timedelta(seconds=1))
        flow.escalate_due()
        flow.deliver_pending()
        opened = flow.get(held.id)
        assert not opened.silenced and opened.state == "notified"
        assert [p.to for p in pager.of(held.id, "page")] == [("bob",)]

    def test_its_own_teams_longer_silence_keeps_it_waiting(self) -> None:
        flow, _, _, clock = make_flow(two_teams())
        flow.silence({"env": "prod"}, by="bob", why="one hour", duration=HOUR, team="payments")
        longer = flow.silence({"env": "prod"}, by="bob", why="more", duration=3 * HOUR,
                              team="payments")  # fmt: skip
        held = flow.trigger(alert("billing", "k1"))
        clock.advance(HOUR + timedelta(seconds=1))
        flow.escalate_due()
        assert flow.get(held.id).silenced and flow.get(held.id).silence_id == longer.id

    def test_its_teams_silence_made_later_keeps_it_waiting_at_the_first_ones_end(self) -> None:
        """A longer silence of the incident's team, made after it fired, takes it over."""
        flow, chat, pager, clock = make_flow(two_teams())
        flow.silence({"env": "prod"}, by="bob", why="one hour", duration=HOUR, team="payments")
        held = flow.trigger(alert("billing", "k1"))
        longer = flow.silence({"env": "prod"}, by="bob", why="three hours", duration=3 * HOUR,
                              team="payments")  # fmt: skip
        clock.advance(HOUR + timedelta(seconds=1))
        flow.escalate_due()
        flow.deliver_pending()
        waiting = flow.get(held.id)
        assert waiting.silenced and waiting.silence_id == longer.id
        assert waiting.silenced_until == T0 + 3 * HOUR
        assert chat.of(held.id) == [] and pager.of(held.id) == []

    def test_released_it_is_posted_and_paged_as_its_teams(self) -> None:
        """At its silence's end a shop incident pages shop's on-call, in shop's channel."""
        flow, chat, pager, clock = make_flow(two_teams())
        flow.silence({"env": "prod"}, by="al", why="deploy", duration=HOUR, team="shop")
        held = flow.trigger(alert("checkout", "k1"))
        assert held.silenced and held.team == "shop"
        clock.advance(HOUR)
        flow.escalate_due()
        flow.deliver_pending()
        assert flow.get(held.id).state == "notified"
        assert [p.to for p in pager.of(held.id, "page")] == [("alice",)]
        assert [(m.kind, m.channel) for m in chat.of(held.id)] == [("notify", SHOP)]

    @pytest.mark.parametrize(
        ("team", "shown"),
        [
            ("shoop", "'shoop': unknown team, did you mean 'shop'?"),
            ("<b>x</b>", "'<b>x</b>': unknown team"),
            ("x\x1b[2J\x00", "'x[2J': unknown team"),
        ],
    )
    def test_an_unknown_team_is_refused_and_nothing_is_kept(self, team: str, shown: str) -> None:
        flow, _, _, _ = make_flow(two_teams())
        with pytest.raises(InvalidCommand) as caught:
            flow.silence({"env": "prod"}, by="bob", why="w", duration=HOUR, team=team)
        assert shown in str(caught.value) and "(known: shop, payments)" in str(caught.value)
        assert "\x1b" not in str(caught.value) and flow.silences(active=False) == []

    def test_without_teams_only_default_is_a_team(self) -> None:
        flow, _, _, _ = make_flow(Policy())
        kept = flow.silence({"env": "prod"}, by="bob", why="w", duration=HOUR, team="default")
        assert flow.trigger(alert("checkout", "k1")).silence_id == kept.id
        with pytest.raises(InvalidCommand, match="known: default"):
            flow.silence({"env": "prod"}, by="bob", why="w", duration=HOUR, team="shop")

    def test_a_store_keeps_the_team_for_the_next_process(self, tmp_path: Path) -> None:
        first, _, _, _ = make_flow(two_teams(), SQLiteStore(tmp_path / "s.db"))
        made = first.silence({"env": "prod"}, by="bob", why="w", duration=HOUR, team="payments")
        again, _, _, _ = make_flow(two_teams(), SQLiteStore(tmp_path / "s.db"))
        assert again.silences() == [made]
        assert again.trigger(alert("billing", "k1")).silenced
        assert not again.trigger(alert("checkout", "k2")).silenced

    def test_the_async_flow_takes_a_team_too(self) -> None:
        clock = ManualClock(T0)
        flow = AsyncIncidentFlow(two_teams(), store=MemoryStore(), notifier=RecordingNotifier(),
                                 pager=RecordingNotifier(), clock=clock)  # fmt: skip
        with LoopThread() as loop:
            made = loop.run(
                flow.silence({"env": "prod"}, by="b", why="w", duration=HOUR, team="shop")
            )
            held = loop.run(flow.trigger(alert("checkout", "k1")))
            live = loop.run(flow.trigger(alert("billing", "k2")))
            with pytest.raises(InvalidCommand, match="unknown team"):
                loop.run(flow.silence({"env": "prod"}, by="b", why="w", duration=HOUR, team="x"))
        assert made.team == "shop" and held.silenced and not live.silenced


class TestTheTeamsFolder:
    """The default folder publisher saves under the incident's current team's folder."""

    @staticmethod
    def publish(flow: IncidentFlow, incident_id: str, reviewer: str) -> str:
        flow.resolve(incident_id, by="alice")
        flow.start_postmortem(incident_id, author="alice", impact="x", root_cause="y")
        flow.submit_postmortem(incident_id, by="alice")
        done = flow.approve_postmortem(incident_id, reviewer=reviewer)
        assert done.postmortem is not None and done.postmortem.location is not None
        return done.postmortem.location

    def test_two_teams_save_in_their_own_folders(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.chdir(tmp_path)
        flow, _, _, _ = make_flow(two_teams())
        assert flow.publisher.team_folders == {"shop": Path("shop/postmortems")}  # type: ignore[attr-defined]
        shop = flow.trigger(alert("checkout", "k1"))
        pay = flow.trigger(alert("billing", "k2"))
        shop_file = Path(self.publish(flow, shop.id, "dave"))
        pay_file = Path(self.publish(flow, pay.id, "zoe"))
        assert shop_file.parent == Path("shop/postmortems") and shop_file.is_file()
        assert pay_file.parent == Path("postmortems") and pay_file.is_file()
        assert "checkout down" in shop_file.read_text()

    def test_a_reassigned_incident_saves_in_its_new_teams_folder(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.chdir(tmp_path)
        flow, _, _, _ = make_flow(two_teams())
        pay = flow.trigger(alert("billing", "k1"))
        flow.reassign(pay.id, "shop", by="bob")
        assert Path(self.publish(flow, pay.id, "dave")).parent == Path("shop/postmortems")

    def test_an_explicit_folder_is_the_rest_and_repr_says_the_teams(self, tmp_path: Path) -> None:
        publisher = FolderPublisher.for_policy(two_teams(), tmp_path / "all")
        assert publisher.folder == tmp_path / "all"
        assert "shop/postmortems" in repr(publisher)
        assert repr(FolderPublisher.for_policy(Policy())) == "FolderPublisher('postmortems')"

    def test_an_incident_without_a_team_saves_in_the_folder(self, tmp_path: Path) -> None:
        flow, _, _, _ = make_flow(Policy())
        flow.publisher = FolderPublisher(tmp_path / "pm", team_folders={"shop": tmp_path / "x"})
        incident = flow.trigger(alert("checkout", "k1"))
        flow.resolve(incident.id, by="alice")
        flow.start_postmortem(incident.id, author="alice", impact="x", root_cause="y")
        flow.submit_postmortem(incident.id, by="alice")
        flow.approve_postmortem(incident.id, reviewer="bob")
        done = flow.approve_postmortem(incident.id, reviewer="carol")
        assert done.postmortem is not None and done.postmortem.location is not None
        assert Path(done.postmortem.location).parent == tmp_path / "pm"

    def test_the_git_publisher_commits_under_the_teams_folder(self, tmp_path: Path) -> None:
        repo = tmp_path / "repo"
        repo.mkdir()
        run = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
        subprocess.run([*run, "init", "-q", "-b", "main"], check=True)
        (repo / "README.md").write_text("x\n")
        subprocess.run([*run, "add", "."], check=True)
        subprocess.run([*run, "commit", "-q", "-m", "init"], check=True)
        flow, _, _, _ = make_flow(two_teams())
        flow.publisher = GitPublisher(repo)
        shop = flow.trigger(alert("checkout", "k1"))
        location = self.publish(flow, shop.id, "dave")
        assert location.startswith("main:shop/postmortems/") and location.endswith(".md")


# -------------------------------------------------------------------- the command line


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    """``incident-flow --db ... --policy teams.toml ARGS``: its exit code and output."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "teams.toml").write_text(TEAMS_FILE)
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str]:
        chosen = ["--db", str(tmp_path / "cli.db"), "--policy", str(tmp_path / "teams.toml")]
        result = runner.invoke(main, [*chosen, *args], catch_exceptions=False)
        return result.exit_code, result.output

    assert invoke("init")[0] == 0
    return invoke


class TestCommandLine:
    """``silence add --team``, ``silence list`` naming each silence's team."""

    def test_add_and_list_with_a_team(self, cli: object) -> None:
        invoke = cli
        code, out = invoke(  # type: ignore[operator]
            "silence", "add", "--match", "env=prod", "--for", "2h", "--by", "bob", "--why", "db",
            "--team", "payments",
        )  # fmt: skip
        assert code == 0 and "(team payments only)" in out, out
        code, out = invoke("silence", "add", "--match", "env=prod", "--for", "1h",  # type: ignore[operator]
                           "--by", "bob", "--why", "all")  # fmt: skip
        assert code == 0 and "only" not in out
        code, out = invoke("silence", "list")  # type: ignore[operator]
        assert code == 0 and "payments" in out and "every team" in out
        code, out = invoke("silence", "list", "--team", "shop")  # type: ignore[operator]
        assert code == 0 and "payments" not in out and "every team" in out
        code, out = invoke("silence", "list", "--team", "payments")  # type: ignore[operator]
        assert code == 0 and "payments" in out and "every team" in out
        code, out = invoke("silence", "list", "--team", "nope")  # type: ignore[operator]
        assert code == 5 and "--team 'nope': unknown team" in out

    def test_an_unknown_team_is_an_error_and_nothing_is_kept(self, cli: object) -> None:
        invoke = cli
        code, out = invoke(  # type: ignore[operator]
            "silence", "add", "--match", "env=prod", "--for", "2h", "--by", "bob", "--why", "db",
            "--team", "[red]pay",
        )  # fmt: skip
        assert code != 0 and "'[red]pay': unknown team" in out and "known: shop, payments" in out
        assert invoke("silence", "list")[1].strip() == "no silences"  # type: ignore[operator]

    def test_report_html_of_one_team_and_by_team(self, cli: object, tmp_path: Path) -> None:
        invoke = cli
        flow, _, _, _ = make_flow(Policy.from_text(TEAMS_FILE), SQLiteStore(tmp_path / "cli.db"))
        flow.trigger(alert("checkout", "k1"))
        flow.trigger(alert("billing", "k2"))
        code, _ = invoke("report", "--html", "all.html")  # type: ignore[operator]
        page = (tmp_path / "all.html").read_text()
        assert code == 0 and "<h2>By team</h2>" in page
        assert "<td>shop</td><td>1</td>" in page and "<td>payments</td><td>1</td>" in page
        code, _ = invoke("report", "--html", "shop.html", "--team", "shop")  # type: ignore[operator]
        page = (tmp_path / "shop.html").read_text()
        assert code == 0 and "<h1>Incident report: team shop</h1>" in page
        assert "<p>1 incidents.</p>" in page and "<td>payments</td>" not in page


# -------------------------------------------------------------------- the service


@pytest.fixture
def served(tmp_path: Path, httpserver: HTTPServer) -> Iterator[Served]:
    """The service on the two teams' policy (checkout-api is shop's), with its API on."""
    slack, pagerduty = FakeSlack(httpserver), FakePagerDuty(httpserver)
    text = EXAMPLE.read_text().replace(
        'channel = "C08K3M5N7PQ"', f'channel = "{CHANNEL}"\napi_url = "{slack.api_url}"'
    )
    text = text.replace(
        'routing_key = "${PAGERDUTY_ROUTING_KEY}"',
        f'routing_key = "${{PAGERDUTY_ROUTING_KEY}}"\nurl = "{pagerduty.url}"',
    )
    text = text.replace(
        "max_body = 1048576", 'max_body = 1048576\napi_token = "${INCIDENT_FLOW_API_TOKEN}"'
    )
    path = tmp_path / "incident-flow.toml"
    path.write_text(text)
    policy = Policy.from_text(TEAMS_FILE.replace('"checkout" }', '["checkout", "checkout-api"] }'))
    config = attrs.evolve(
        load_config(path, environ=ENV), store=str(tmp_path / "x.db"), policy=policy
    )
    with Served(create_app(async_flow(config), config, worker=False)) as server:
        yield server


API = {"Authorization": "Bearer api-token-1"}


class TestTheService:
    """``/api/silences`` takes a team; ``/metrics`` counts alerts by the team they reach."""

    def test_a_silence_for_one_team_over_the_api(self, served: Served) -> None:
        api = f"{served.url}/api/silences"
        body = {"matchers": {"env": "prod"}, "duration": "2h", "by": "bob", "why": "db"}
        made = httpx.post(api, json={**body, "team": "payments"}, headers=API, timeout=10)
        assert made.status_code == 201, made.text
        assert made.json()["team"] == "payments"
        every = httpx.post(api, json=body, headers=API, timeout=10).json()
        assert every["team"] is None
        listed = httpx.get(api, headers=API, timeout=10).json()["silences"]
        assert [s["team"] for s in listed] == ["payments", None]

    @pytest.mark.parametrize(
        ("team", "error"),
        [
            ("shoop", "'shoop': unknown team, did you mean 'shop'?"),
            ("<script>alert(1)</script>", "unknown team"),
            (["shop"], "team: a team's name"),
            (3, "team: a team's name"),
        ],
    )
    def test_a_wrong_team_is_400_and_nothing_is_kept(
        self, served: Served, team: object, error: str
    ) -> None:
        api = f"{served.url}/api/silences"
        body = {"matchers": {"env": "prod"}, "duration": "2h", "by": "bob", "why": "db"}
        refused = httpx.post(api, json={**body, "team": team}, headers=API, timeout=10)
        assert refused.status_code == 400 and error in refused.json()["error"], refused.text
        assert refused.headers["content-type"].startswith("application/json")
        assert httpx.get(api, headers=API, timeout=10).json()["silences"] == []
        unproven = httpx.post(api, json={**body, "team": "shop"}, timeout=10)
        assert unproven.status_code == 401

    def test_alerts_are_counted_by_the_team_they_reach(self, served: Served) -> None:
        assert fire(served).status_code == 202
        text = httpx.get(f"{served.url}/metrics", timeout=10).text
        assert 'incident_flow_alerts_total{source="alertmanager",team="shop"} 2.0' in text
        assert 'team="payments"' not in text.split("incident_flow_alerts_total", 2)[1][:200]

    def test_the_alert_counter_is_bounded_and_unchanged_without_teams(self) -> None:
        metrics = ServiceMetrics(("shop", "payments"), "payments")
        metrics.received("grafana", ["shop", "gone", 'x"}', "shop", "payments"])
        text = metrics.text().decode()
        assert 'incident_flow_alerts_total{source="grafana",team="shop"} 2.0' in text
        assert 'incident_flow_alerts_total{source="grafana",team="other"} 2.0' in text
        assert 'incident_flow_alerts_total{source="grafana",team="payments"} 1.0' in text
        alone = ServiceMetrics()
        alone.received("grafana", ["default", "default"])
        assert 'incident_flow_alerts_total{source="grafana"} 2.0' in alone.text().decode()
