"""Text from alerts is data, never markup: Slack, GitHub, the post-mortem and the terminal.

Datadog and Alertmanager do not sign their requests: anyone who can reach the receiver writes
an alert's name, title and URL. Each test here failed before the fix it pins.
"""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest
from pytest_httpserver import HTTPServer

from incident_flow import (
    Alert,
    FolderPublisher,
    GitHubPublisher,
    GitPublisher,
    IncidentFlow,
    Policy,
    RecordingNotifier,
    SlackNotifier,
)
from incident_flow._core.text import (
    markdown_block,
    markdown_inline,
    markdown_unblock,
    quiet_mentions,
)
from incident_flow.adapters._http import HttpClient
from incident_flow.adapters.channels.slack import link_target
from incident_flow.cli._common import clean
from incident_flow.testing import ManualClock

from .conftest import T0
from .test_git_publisher import git
from .vendors import CHANNEL, GITHUB_TOKEN, TOKEN, FakeGitHub, FakeSlack, Sleeps

HOSTILE = Alert(
    source="alertmanager",
    name="<!channel> [/bold]",
    title="Checkout <!here> & <https://evil.example|click> @bob #12\n## Root cause\nfake\x00",
    severity="P1",
    url="https://evil.example/x|<!channel>",
)


def _on_slack(httpserver: HTTPServer) -> tuple[FakeSlack, HttpClient, IncidentFlow]:
    """A flow posting to a fake Slack (close the client before reading what was posted)."""
    slack = FakeSlack(httpserver)
    http = HttpClient(sleep=Sleeps(), timeout=5)
    flow = IncidentFlow(
        notifier=SlackNotifier(token=TOKEN, channel=CHANNEL, api_url=slack.api_url, client=http),
        pager=RecordingNotifier(),
        publisher=FolderPublisher(str(httpserver.port)),
    )
    return slack, http, flow


class TestSlack:
    """&, < and > are escaped; only plain http(s) URLs become links."""

    def test_the_channel_is_never_pinged(self, httpserver: HTTPServer) -> None:
        slack, http, flow = _on_slack(httpserver)
        incident = flow.trigger(HOSTILE)
        flow.note(incident.id, "<!everyone> look", by="<@U1>")
        http.close()
        posted = json.dumps([m["text"] for m in slack.messages] + [e["text"] for e in slack.edits])
        for raw in ("<!channel>", "<!here>", "<!everyone>", "<@U1>", "<https://evil"):
            assert raw not in posted
        assert "&lt;!here&gt;" in posted and "&amp;" in posted
        assert "\\u0000" not in posted  # no NUL reaches Slack
        links, paging = [b for b in slack.messages[0]["blocks"] if b["type"] == "context"]
        assert paging["elements"] == [{"type": "plain_text", "text": "paging primary on-call"}]
        # Its URL held "|" and "<!channel>": one link still, that breaks out of nothing.
        assert links["elements"][0]["text"] == "<https://evil.example/x%7C&lt;!channel&gt;|Alert>"

    def test_a_bidi_override_cannot_reverse_what_people_read(self, httpserver: HTTPServer) -> None:
        """U+202E in a title would show "resolved" for "devloser": Slack never gets it."""
        slack, http, flow = _on_slack(httpserver)
        spoof = "Checkout down \u202edevloser\u202c \u2067isolated\u2069 \u200fmark"
        flow.trigger(attrs.evolve(HOSTILE, title=spoof))
        http.close()
        posted = "".join(m["text"] for m in slack.messages)
        assert "Checkout down devloser isolated \u200fmark" in posted
        assert not any(c in posted for c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2069")
        assert clean("a\u202eb\u2066c") == "a\ufffdb\ufffdc"

    @pytest.mark.parametrize(
        ("url", "target"),
        [
            (
                "https://app.datadoghq.com/monitors/1?a=1&b=2",
                "https://app.datadoghq.com/monitors/1?a=1&amp;b=2",
            ),
            ("http://grafana.local:3000/d/x", "http://grafana.local:3000/d/x"),
            ("javascript:alert(1)", None),
            ("https://x.example/a b", None),
            ("https://x.example/a|b", "https://x.example/a%7Cb"),
            ("https://x.example/<b>", "https://x.example/&lt;b&gt;"),
            ("//x.example", None),
            ("https://", None),
            ("", None),
            (None, None),
        ],
    )
    def test_link_targets(self, url: str | None, target: str | None) -> None:
        assert link_target(url) == target


class TestGitHub:
    """An @-mention or #reference in alert text notifies nobody from a pull request."""

    def test_title_body_and_commit_are_quiet(self, httpserver: HTTPServer, tmp_path: Path) -> None:
        github = FakeGitHub(httpserver)
        http = HttpClient(sleep=lambda _: None)
        publisher = GitHubPublisher(
            "acme/runbooks", GITHUB_TOKEN, api_url=github.api_url, client=http
        )
        flow = IncidentFlow(
            Policy(postmortem_reviewers=0),
            notifier=RecordingNotifier(),
            pager=RecordingNotifier(),
            publisher=publisher,
            clock=ManualClock(T0),
        )
        incident = flow.trigger(HOSTILE)
        flow.resolve(incident.id, by="alice")
        flow.start_postmortem(
            incident.id, author="alice", impact="checkout failed", root_cause="a bad deploy"
        )
        flow.submit_postmortem(incident.id, by="alice")  # no approvals needed: merged at once
        http.close()
        (pull,) = github.pulls
        for text in (pull["title"], pull["body"], *github.commit_messages):
            assert "@bob" not in text and "#12" not in text
            assert "@\u200bbob" in text
            assert "\x00" not in text


class TestPostMortem:
    """No title, name or note adds a section or a reviewer to the reviewed document."""

    def test_one_of_each_section_and_no_nul(self, tmp_path: Path) -> None:
        flow = IncidentFlow(
            Policy(postmortem_reviewers=1),
            notifier=RecordingNotifier(),
            pager=RecordingNotifier(),
            publisher=FolderPublisher(tmp_path),
            clock=ManualClock(T0),
        )
        incident = flow.trigger(HOSTILE)
        flow.note(incident.id, "ok\n## Reviewers\n- carol", by="mallory\n- **Approved by:** dave")
        flow.resolve(incident.id, by="alice", summary="| fake | row |")
        flow.start_postmortem(
            incident.id,
            author="mallory\n## Root cause\nnot me",
            impact="Checkout down.\n## Reviewers\n- erin",
            root_cause="1. a bad *deploy*",
            learnings=["## Timeline"],
        )
        flow.submit_postmortem(incident.id, by="mallory")
        flow.approve_postmortem(incident.id, reviewer="bob")
        (path,) = tmp_path.glob("*.md")
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for heading in ("## Impact", "## Root cause", "## Timeline", "## Reviewers"):
            assert lines.count(heading) == 1, heading
        assert [line for line in lines if line.startswith("- ") and "Approved" in line] == []
        reviewers = lines[lines.index("## Reviewers") + 2 :]
        assert reviewers == ["- bob (approved)"]
        assert "\x00" not in text
        assert "a bad *deploy*" in text  # the author's own emphasis stays

    def test_helpers(self) -> None:
        assert markdown_inline("a\nb\r\n# c | d [e](f) <g>") == "a b \\# c \\| d \\[e\\](f) \\<g\\>"
        assert markdown_block("keep *this*\n> no\n- no\n+ no\n10. no\n```") == (
            "keep *this*\n\\> no\n\\- no\n\\+ no\n10\\. no\n\\```"
        )
        assert quiet_mentions("@team #42 a@b") == "@\u200bteam #\u200b42 a@\u200bb"

    @pytest.mark.parametrize("text", ["-", "+", "*", "1.", "2)", "a\n-", "-\nb", "  -", "- x"])
    def test_a_bare_list_mark_reads_back_as_written(self, text: str) -> None:
        # A line of a lone "-" is an empty list item: escaped, and read back without its
        # backslash even when it ends the text (a section's text is read back stripped).
        escaped = markdown_block(text)
        assert escaped != text
        assert markdown_unblock(escaped) == text
        assert markdown_unblock(escaped.strip()) == text.strip()


class TestGitPublisher:
    """A NUL in a title reaches no git argument."""

    def test_a_nul_title_is_committed(self, tmp_path: Path) -> None:
        repo = tmp_path / "repo"
        repo.mkdir()
        git(repo, "init", "-q", "-b", "main")
        git(
            repo,
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@x",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "init",
        )
        flow = IncidentFlow(
            Policy(postmortem_reviewers=0),
            notifier=RecordingNotifier(),
            pager=RecordingNotifier(),
            publisher=GitPublisher(repo),
            clock=ManualClock(T0),
        )
        incident = flow.trigger(attrs.evolve(HOSTILE, title="nul\x00title"))
        flow.resolve(incident.id, by="alice")
        flow.start_postmortem(
            incident.id, author="alice", impact="checkout failed", root_cause="a bad deploy"
        )
        done = flow.submit_postmortem(incident.id, by="alice")  # nobody to wait for: merged
        assert done.postmortem is not None and done.postmortem.location is not None
        log = git(repo, "log", "--all", "--format=%s")
        assert "nultitle" in log


class TestWhatNoStoreCanHold:
    """A lone surrogate or a NUL is normalised at the edge, the same for every store."""

    BODY = (
        b'{"status": "firing", "alerts": [{"status": "firing", '
        b'"labels": {"alertname": "Disk\\ud800Full", "team\\u0000": "ops\\u0000"}, '
        b'"annotations": {"summary": "lone \\udc00 surrogate and a \\u0000 NUL"}, '
        b'"fingerprint": "fp\\u0000\\ud800"}]}'
    )

    def _stores(self, tmp_path: Path, postgres_dsn: str) -> list[object]:
        from incident_flow import MemoryStore, PostgresStore, SQLiteStore

        return [
            MemoryStore(),
            SQLiteStore(tmp_path / "x.db"),
            PostgresStore(postgres_dsn, schema=f"t_nul_{tmp_path.name[-8:].replace('-', '_')}"),
        ]

    def test_parsed_and_stored_alike(self, tmp_path: Path, postgres_dsn: str) -> None:
        import psycopg

        from incident_flow import ingest

        (alert,) = ingest.parse("alertmanager", self.BODY)
        assert alert.name == "Disk\ufffdFull"
        assert alert.dedup_key == "alertmanager:fp\ufffd"
        assert alert.labels == {"alertname": "Disk\ufffdFull", "team": "ops"}
        assert alert.title == "lone \ufffd surrogate and a  NUL"
        stored = []
        for store in self._stores(tmp_path, postgres_dsn):
            flow = IncidentFlow(
                store=store, notifier=RecordingNotifier(), pager=RecordingNotifier()
            )  # type: ignore[arg-type]
            incident = flow.trigger(alert)
            assert flow.trigger(alert).id == incident.id  # its dedup key finds it again
            reloaded = IncidentFlow(store=store, notifier=RecordingNotifier()).get(incident.id)  # type: ignore[arg-type]
            stored.append((reloaded.title, reloaded.dedup_key, dict(reloaded.alert.labels)))
            schema = getattr(store, "schema", None)
            close = getattr(store, "close", None)
            if close is not None:
                close()
            if schema:
                with psycopg.connect(postgres_dsn, autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        assert stored[0] == stored[1] == stored[2]

    def test_an_alert_made_in_python_too(self) -> None:
        alert = Alert(source="s", name="a\x00b", title="t\ud800", dedup_key="k\x00")
        assert (alert.name, alert.title, alert.dedup_key) == ("ab", "t\ufffd", "k")
        with pytest.raises(ValueError, match="one of P1, P2, P3, P4, P5 or None, got 'critical'"):
            Alert(source="s", name="n", title="t", severity="critical")
