"""The web console: the list, an incident's page, acting from it, time zones, mounting."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from typing import Any

import pytest

from incident_flow import Alert, AsyncIncidentFlow, MemoryStore
from incident_flow.testing import ManualClock

from .console_kit import alert, client, config, csrf_of, login, make_flow


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def flashes(html: str) -> list[str]:
    return re.findall(r'class="flash flash-\w+"[^>]*>([^<]*)<', html)


def close(flow: AsyncIncidentFlow, incident_id: str) -> None:
    run(flow.resolve(incident_id, by="bob"))
    for item in run(flow.get(incident_id)).open_action_items:
        run(flow.waive_action_item(incident_id, item.id, by="bob", reason="test"))
    run(flow.close(incident_id, by="bob"))


@pytest.fixture
def flow() -> AsyncIncidentFlow:
    return make_flow()


@pytest.fixture
def browser(flow: AsyncIncidentFlow) -> Any:
    with client(flow) as b:
        assert login(b).status_code == 303
        yield b


class TestTheList:
    """The incident list: open first, filtered, paginated, each row's facts."""

    def test_open_incidents_with_their_facts(self, flow: AsyncIncidentFlow, browser: Any) -> None:
        incident = run(flow.trigger(alert(1)))
        run(flow.acknowledge(incident.id, by="bob"))
        page = browser.get("/")
        assert page.status_code == 200
        assert "Checkout latency high #1" in page.text
        assert "bob" in page.text
        assert f"/incidents/{incident.id}" in page.text

    def test_closed_ones_only_when_asked(self, flow: AsyncIncidentFlow, browser: Any) -> None:
        done = run(flow.trigger(alert(1, severity="P4", title="done one")))
        close(flow, done.id)
        run(flow.trigger(alert(2, title="still open")))
        shown = browser.get("/incidents").text
        assert "still open" in shown and "done one" not in shown
        everything = browser.get("/incidents?state=all").text
        assert "done one" in everything
        closed = browser.get("/incidents?state=closed").text
        assert "done one" in closed and "still open" not in closed

    def test_filters_by_severity_source_service_and_day(
        self, flow: AsyncIncidentFlow, browser: Any
    ) -> None:
        run(flow.trigger(alert(1, title="api one", labels={"service": "api"}, severity="P3")))
        run(flow.trigger(alert(2, title="dd one", source="datadog", severity="P2")))
        assert "api one" not in browser.get("/incidents?severity=P2").text
        assert "dd one" in browser.get("/incidents?source=datadog").text
        assert "dd one" not in browser.get("/incidents?service=api").text
        assert "api one" in browser.get("/incidents?service=api").text
        assert "api one" in browser.get("/incidents?from=2026-03-27&to=2026-03-27").text
        assert "api one" not in browser.get("/incidents?from=2026-03-28").text

    def test_bad_filters_are_said(self, browser: Any) -> None:
        for query, said in (
            ("state=nope", "no state"),
            ("severity=P9", "no severity"),
            ("from=yesterday", "must be a date"),
        ):
            answer = browser.get(f"/incidents?{query}")
            assert answer.status_code == 400
            assert said in answer.text

    def test_pages_of_fifty(self, flow: AsyncIncidentFlow, browser: Any) -> None:
        for n in range(55):
            run(flow.trigger(alert(n, title=f"inc-number-{n}-end", severity="P4")))
        first = browser.get("/incidents").text
        assert first.count("inc-number-") == 50
        assert "inc-number-54-end" in first  # newest first
        more = re.search(r'href="(/incidents\?[^"]*after=[^"]*)"', first)
        assert more
        second = browser.get(more.group(1).replace("&amp;", "&")).text
        assert second.count("inc-number-") == 5
        assert "inc-number-0-end" in second
        assert "First page" in second


class TestTheIncidentPage:
    """One incident: alert, runbook, post-mortem, items, grouping, the timeline, in a zone."""

    def test_everything_about_it(self, flow: AsyncIncidentFlow, browser: Any) -> None:
        incident = run(flow.trigger(alert(1, severity="P1")))
        run(flow.note(incident.id, "db failover started", by="alice"))
        page = browser.get(f"/incidents/{incident.id}").text
        assert 'href="https://grafana.example.com/d/abc"' in page
        assert "p99 over 2s" in page
        assert "Note added" in page and "db failover started" in page
        assert "Message delivered" in page  # the deliveries, with their outcome
        assert "CET" in page  # the policy's zone (Europe/Paris in March before the switch)

    def test_the_viewers_zone(self, flow: AsyncIncidentFlow, browser: Any) -> None:
        incident = run(flow.trigger(alert(1)))
        page = browser.get(f"/incidents/{incident.id}?tz=America/New_York")
        assert "EDT" in page.text
        assert "America/New_York" in str(browser.cookies.get("if_tz"))
        assert "EDT" in browser.get(f"/incidents/{incident.id}").text  # remembered
        assert "EDT" in browser.get(f"/incidents/{incident.id}?tz=Nowhere/Land").text  # kept

    def test_an_unknown_incident_is_404(self, browser: Any) -> None:
        answer = browser.get("/incidents/inc-nope")
        assert answer.status_code == 404

    def test_a_link_that_is_not_http_is_not_a_link(
        self, flow: AsyncIncidentFlow, browser: Any
    ) -> None:
        incident = run(flow.trigger(alert(1, url="javascript:alert(1)")))
        page = browser.get(f"/incidents/{incident.id}").text
        assert 'href="javascript' not in page
        assert "(not a web link)" in page


class TestActing:
    """The commands from the page: the flow's, by the person, refusals said."""

    def post(self, browser: Any, incident_id: str, command: str, **fields: str) -> Any:
        page = browser.get(f"/incidents/{incident_id}")
        return browser.post(
            f"/incidents/{incident_id}/{command}", data={"csrf": csrf_of(page.text), **fields}
        )

    def test_follow_an_incident_to_resolved(self, flow: AsyncIncidentFlow, browser: Any) -> None:
        incident = run(flow.trigger(alert(1, severity="P1")))
        for command, fields, said in (
            ("acknowledge", {}, "acknowledged by alice"),
            ("start_runbook", {}, "runbook started"),
            ("note", {"text": "rolled back"}, "note added"),
            ("reclassify", {"severity": "P2"}, "now P2"),
            ("resolve", {"summary": "rollback"}, "resolved"),
        ):
            answer = self.post(browser, incident.id, command, **fields)
            assert answer.status_code == 303
            assert answer.headers["location"] == f"/incidents/{incident.id}"
            shown = flashes(browser.get(f"/incidents/{incident.id}").text)
            assert any(said in text for text in shown), (command, shown)
        events = run(flow.history(incident.id))
        by = {e.type: e.by for e in events}
        assert by["IncidentAcknowledged"] == "alice"
        assert by["IncidentResolved"] == "alice"
        assert run(flow.get(incident.id)).state == "resolved"

    def test_acknowledged_already(self, flow: AsyncIncidentFlow, browser: Any) -> None:
        incident = run(flow.trigger(alert(1, severity="P1")))
        run(flow.acknowledge(incident.id, by="bob"))
        self.post(browser, incident.id, "acknowledge")
        shown = flashes(browser.get(f"/incidents/{incident.id}").text)
        assert shown == ["already acknowledged by bob"]
        assert run(flow.get(incident.id)).acknowledged_by == "bob"

    def test_escalate_now(self, flow: AsyncIncidentFlow, browser: Any) -> None:
        incident = run(flow.trigger(alert(1, severity="P1")))
        self.post(browser, incident.id, "escalate")
        assert run(flow.get(incident.id)).escalation_level == 1

    def test_a_refusal_says_what_is_possible_now(
        self, flow: AsyncIncidentFlow, browser: Any
    ) -> None:
        incident = run(flow.trigger(alert(1)))
        page = browser.get(f"/incidents/{incident.id}")
        run(flow.resolve(incident.id, by="bob"))
        answer = browser.post(
            f"/incidents/{incident.id}/start_runbook", data={"csrf": csrf_of(page.text)}
        )
        assert answer.status_code == 303
        shown = flashes(browser.get(f"/incidents/{incident.id}").text)
        assert any("cannot start_runbook; allowed now:" in text for text in shown)
        assert run(flow.get(incident.id)).state == "resolved"

    def test_missing_fields_and_unknown_commands(
        self, flow: AsyncIncidentFlow, browser: Any
    ) -> None:
        incident = run(flow.trigger(alert(1)))
        before = run(flow.get(incident.id)).version
        self.post(browser, incident.id, "note", text="   ")
        self.post(browser, incident.id, "reclassify", severity="P9")
        self.post(browser, incident.id, "explode")
        shown = browser.get(f"/incidents/{incident.id}").text
        assert "no command" in shown
        assert run(flow.get(incident.id)).version == before

    def test_only_the_commands_possible_now_are_offered(
        self, flow: AsyncIncidentFlow, browser: Any
    ) -> None:
        incident = run(flow.trigger(alert(1, severity="P4")))
        close(flow, incident.id)
        page = browser.get(f"/incidents/{incident.id}").text
        assert "/acknowledge" not in page and "Nothing can be done here now" in page


class TestStoresWithoutTheQuery:
    """A store without IncidentQuery is listed the slow way, with the same answers."""

    def test_the_list_still_works(self) -> None:
        class Plain(MemoryStore):
            queries_incidents = False

        store = Plain()
        flow = make_flow(store)
        flow.store = store
        assert not flow._store_can("queries_incidents", "incident_page")
        run(flow.trigger(Alert(source="x", name="n", title="plain one", dedup_key="k")))
        with client(flow) as b:
            login(b)
            assert "plain one" in b.get("/").text


def test_the_clock_ends_sessions() -> None:
    flow = make_flow()
    with client(flow) as b:
        login(b)
        assert b.get("/").status_code == 200
        clock = flow.clock
        assert isinstance(clock, ManualClock)
        clock.advance(timedelta(hours=13))
        assert b.get("/").status_code == 303


class TestWhatThePageShows:
    """The post-mortem review, silences, failed deliveries, the runbook started."""

    def test_the_postmortem_review(self, flow: AsyncIncidentFlow, browser: Any) -> None:
        incident = run(flow.trigger(alert(1, severity="P1")))
        run(flow.resolve(incident.id, by="bob"))
        run(
            flow.start_postmortem(
                incident.id, author="bob", impact="checkout down", root_cause="a bad deploy"
            )
        )
        run(flow.submit_postmortem(incident.id, by="bob"))
        run(flow.approve_postmortem(incident.id, reviewer="alice"))
        page = browser.get(f"/incidents/{incident.id}").text
        assert "Post-mortem" in page and "Author</dt><dd>bob" in page
        assert "Approvals</dt><dd>alice" in page
        assert "Post mortem approved" in page

    def test_a_silence_that_applied(self, flow: AsyncIncidentFlow, browser: Any) -> None:
        run(
            flow.silence(
                {"service": "checkout"},
                by="alice",
                why="maintenance window",
                duration=timedelta(hours=1),
            )
        )
        incident = run(flow.trigger(alert(1)))
        assert incident.silence_id is not None
        page = browser.get(f"/incidents/{incident.id}").text
        assert "Grouping and silences" in page and "maintenance window" in page

    def test_a_failed_delivery_says_when_it_is_tried_again(self, browser: Any) -> None:
        from incident_flow import RecordingNotifier

        class Down(RecordingNotifier):
            def send(self, message: Any) -> str | None:
                raise RuntimeError("slack is down")

        flow = browser.app.state.console.flow
        flow.notifier = Down()
        incident = run(flow.trigger(alert(7)))
        page = browser.get(f"/incidents/{incident.id}").text
        assert 'class="outcome-failed"' in page and "slack is down" in page

    def test_the_alerts_own_runbook(self, flow: AsyncIncidentFlow, browser: Any) -> None:
        incident = run(flow.trigger(alert(1, runbook_url="https://runbooks.example.com/lat")))
        page = browser.get(f"/incidents/{incident.id}")
        answer = browser.post(
            f"/incidents/{incident.id}/start_runbook", data={"csrf": csrf_of(page.text)}
        )
        assert answer.status_code == 303
        shown = browser.get(f"/incidents/{incident.id}").text
        assert "runbook started: " in shown
        assert 'href="https://runbooks.example.com/lat"' in shown


class TestWhoIsLooking:
    """A login that is nobody's person may look, not act; the login page's own cases."""

    def test_a_login_that_is_no_person(self, flow: AsyncIncidentFlow) -> None:
        incident = run(flow.trigger(alert(1)))
        with client(flow) as b:
            login(b, "mallory")
            page = b.get(f"/incidents/{incident.id}").text
            assert "(view only)" in page and "may look, not act" in page
            assert "/acknowledge" not in page
            token = csrf_of(page)  # the logout form's
            answer = b.post(f"/incidents/{incident.id}/acknowledge", data={"csrf": token})
        assert answer.status_code == 403
        assert run(flow.get(incident.id)).acknowledged_at is None

    def test_no_login_page_behind_a_proxy_only(self, flow: AsyncIncidentFlow) -> None:
        with client(flow, config(users={}, secret=None)) as b:
            assert b.get("/login").status_code == 404
            assert b.post("/login", data={"name": "alice"}).status_code == 404

    def test_the_login_page_of_someone_logged_in(self, flow: AsyncIncidentFlow) -> None:
        with client(flow) as b:
            login(b)
            assert "alice" in b.get("/login").text
            assert b.get("/login", headers={"X-Forwarded-User": "x"}).status_code == 200

    def test_unreadable_forms(self, flow: AsyncIncidentFlow) -> None:
        incident = run(flow.trigger(alert(1)))
        with client(flow) as b:
            login(b)
            url = f"/incidents/{incident.id}/note"
            kind = {"content-type": "application/x-www-form-urlencoded"}
            assert b.post(url, content=b"\xff\xfe=\xff", headers=kind).status_code == 400
            many = "&".join(f"f{n}=1" for n in range(60)).encode()
            assert b.post(url, content=many, headers=kind).status_code == 400


class TestPieces:
    """The small functions the templates and the wrappers use."""

    def test_when_and_ago(self) -> None:
        from incident_flow.console._create import _ago, _when

        from .console_kit import START

        assert _when(None, "UTC") == "-"
        assert _ago(None, START) == "-"
        assert _when(START, "Europe/Paris") == "2026-03-27 10:00:00 CET"
        assert _ago(START - timedelta(minutes=5), START) == "5m"
        assert _ago(START - timedelta(hours=2, minutes=5), START) == "2h 5m"
        assert _ago(START - timedelta(days=3, hours=1), START) == "3d 1h"
        assert _ago(START + timedelta(minutes=5), START) == "0m"

    @pytest.mark.parametrize(
        ("asked", "kept"),
        [
            ("/incidents/x", "/incidents/x"),
            ("//evil.example/x", "/"),
            ("https://evil.example/", "/"),
            ("/\\evil.example", "/"),
            ("/a\nLocation: x", "/"),
            ("/\t/evil.example", "/"),
            ("/ok?x=1 2", "/ok?x=1 2"),
        ],
    )
    def test_redirects_stay_inside(self, asked: str, kept: str) -> None:
        from incident_flow.console._app import _inside

        assert _inside(asked) == kept

    def test_person_of(self) -> None:
        from incident_flow.console._auth import person_of

        from .console_kit import policy

        assert person_of(policy(), "ALICE@example.com") == "alice"
        assert person_of(policy(), "Bob") == "bob"
        assert person_of(policy(), "  ") is None
        assert person_of(policy(), "eve") is None

    def test_the_timeline_words(self) -> None:
        from incident_flow.console._timeline import _text, _words

        assert _words("IncidentAcknowledged") == "Incident acknowledged"
        zone = __import__("zoneinfo").ZoneInfo("UTC")
        assert _text(True, zone) == "yes" and _text(False, zone) == "no"
        assert _text(("a", "b"), zone) == "a, b"


class TestTheFlowsPage:
    """``incident_page`` on both flows: its arguments checked, a store without the port scanned."""

    def test_refusals(self) -> None:
        from incident_flow import IncidentFlow, InvalidCommand
        from incident_flow.ports import IncidentFilter

        class Plain(MemoryStore):
            queries_incidents = False

        flow = IncidentFlow(store=Plain())
        with pytest.raises(InvalidCommand, match="IncidentFilter"):
            flow.incident_page({"states": ()})  # type: ignore[arg-type]
        with pytest.raises(InvalidCommand, match="1 to 500"):
            flow.incident_page(IncidentFilter(), limit=0)
        for cursor in ("nope", "0:nope", "7:", "x:1"):
            with pytest.raises(InvalidCommand, match="not a cursor"):
                flow.incident_page(IncidentFilter(), cursor=cursor)

    def test_the_scan_pages(self) -> None:
        from incident_flow import IncidentFlow
        from incident_flow.ports import IncidentFilter

        class Plain(MemoryStore):
            queries_incidents = False

        flow = IncidentFlow(store=Plain())
        made = [flow.trigger(alert(n, severity="P4")).id for n in range(5)]
        first = flow.incident_page(IncidentFilter(states=("notified",)), limit=2)
        assert list(first.ids) == made[:-3:-1] and first.next_cursor == "0:2"
        rest = flow.incident_page(IncidentFilter(states=("notified",)), cursor="0:2", limit=5)
        assert list(rest.ids) == made[2::-1] and rest.next_cursor is None
        assert [i.id for i in rest.incidents] == list(rest.ids)


class TestOpenFirst:
    """Every incident listed: those not closed first, then the closed ones, newest first in each."""

    @pytest.mark.parametrize("indexed", [True, False])
    def test_across_pages(self, indexed: bool) -> None:
        from incident_flow import IncidentFlow
        from incident_flow.ports import IncidentFilter

        class Plain(MemoryStore):
            queries_incidents = indexed

        flow = IncidentFlow(store=Plain())
        made = []
        for n in range(6):
            incident = flow.trigger(alert(n, severity="P4"))
            if n % 2 == 0:
                flow.resolve(incident.id, by="bob")
                for item in flow.get(incident.id).open_action_items:
                    flow.waive_action_item(incident.id, item.id, by="bob", reason="test")
                flow.close(incident.id, by="bob")
            made.append(incident.id)
        expected = [made[5], made[3], made[1], made[4], made[2], made[0]]
        for limit in (1, 2, 3, 4, 6, 10):
            seen: list[str] = []
            cursor = None
            for _ in range(10):
                page = flow.incident_page(IncidentFilter(), cursor=cursor, limit=limit)
                assert len(page.ids) <= limit and (page.ids or not seen)
                seen.extend(page.ids)
                cursor = page.next_cursor
                if cursor is None:
                    break
            assert seen == expected, limit
        only_open = flow.incident_page(IncidentFilter(states=("notified",)), limit=3)
        assert list(only_open.ids) == expected[:3] and only_open.next_cursor is None


class TestLiveRefresh:
    """The first page of the list asks the script to refresh it; later pages and 0 do not."""

    def test_the_first_page_only(self, flow: AsyncIncidentFlow, browser: Any) -> None:
        for n in range(52):
            run(flow.trigger(alert(n, severity="P4")))
        first = browser.get("/incidents").text
        assert 'data-refresh="15"' in first
        assert '<script src="/static/console.js" defer></script>' in first
        more = re.search(r'href="(/incidents\?[^"]*after=[^"]*)"', first)
        assert more
        assert "data-refresh" not in browser.get(more.group(1).replace("&amp;", "&")).text

    def test_off(self, flow: AsyncIncidentFlow) -> None:
        with client(flow, config(refresh=timedelta(0))) as b:
            login(b)
            assert "data-refresh" not in b.get("/incidents").text

    def test_the_script_evaluates_nothing(self) -> None:
        from pathlib import Path

        import incident_flow.console as package

        script = (Path(package.__file__).parent / "static" / "console.js").read_text()
        for word in ("eval(", "innerHTML", "Function(", "document.write"):
            assert word not in script


def test_the_team_column_with_teams() -> None:
    import attrs as _attrs

    from incident_flow import Route, Team

    flow = make_flow()
    flow.policy = _attrs.evolve(
        flow.policy,
        teams=[Team(name="payments"), Team(name="platform")],
        routes=[Route(team="payments", match={"service": "checkout"})],
        default_team="platform",
    )
    run(flow.trigger(alert(1)))
    run(flow.trigger(alert(2, labels={"service": "search"})))
    with client(flow) as b:
        login(b)
        page = b.get("/incidents").text
    assert '<th scope="col">Team</th>' in page
    assert "<td>payments</td>" in page and "<td>platform</td>" in page
