"""The console's on-call, silences, runbooks, report and process pages, in process.

Through Starlette's test client on a real flow (memory store, a manual clock): each page
renders what the flow says, each form runs the flow's command with ``by=`` the person and
shows its refusal as the flow words it, and outside text is escaped everywhere.
"""

from __future__ import annotations

import asyncio
import html
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import attrs
import pytest

from incident_flow import AsyncIncidentFlow, MemoryStore, RecordingNotifier, Runbook
from incident_flow._core.policy import EscalationLevel
from incident_flow.console._app import Refused
from incident_flow.console._silences import matchers
from incident_flow.schedules import Layer, Period, Schedule, Schedules
from incident_flow.testing import ManualClock, RecordingPublisher

from .console_kit import alert, client, csrf_of, login, policy

NOW = datetime(2027, 3, 10, 15, 0, tzinfo=UTC)  # a Wednesday; Chicago's DST starts on the 14th
HOSTILE = '<script>alert("x")</script>'


def schedules() -> Schedules:
    daily = Layer(
        name="daily",
        members=["alice", "bob"],
        period=Period("day"),
        handoff=time(2, 30),
        start=date(2027, 1, 4),
    )
    return Schedules([Schedule(name="primary", timezone="America/Chicago", layers=[daily])])


def make_flow(**changes: Any) -> tuple[AsyncIncidentFlow, ManualClock]:
    clock = ManualClock(NOW)
    fields: dict[str, Any] = {
        "schedules": schedules(),
        "escalation": (
            EscalationLevel(targets=("schedule:primary",)),
            EscalationLevel(("nobody-here",)),
        ),
        "runbooks": [
            Runbook(name="latency", url="https://rb.example.com/latency", alert="HighLatency"),
            Runbook(name="bad-link", url="javascript:alert(1)", alert="Other", source_url="data:x"),
        ],
    }
    seen = attrs.evolve(policy(), **(fields | changes))
    flow = AsyncIncidentFlow(
        seen,
        store=MemoryStore(),
        notifier=RecordingNotifier(),
        pager=RecordingNotifier(),
        publisher=RecordingPublisher(),
        clock=clock,
    )
    return flow, clock


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def flow() -> AsyncIncidentFlow:
    return make_flow()[0]


@pytest.fixture
def browser(flow: AsyncIncidentFlow) -> Any:
    with client(flow) as tc:
        assert login(tc).status_code == 303
        yield tc


def post(tc: Any, page: str, action: str, **fields: str) -> Any:
    form = tc.get(page)
    assert form.status_code == 200, form.text
    return tc.post(action, data={"csrf": csrf_of(form.text), **fields})


def flash(tc: Any, response: Any) -> str:
    assert response.status_code == 303, response.text
    page = tc.get(response.headers["location"].removeprefix("https://testserver"))
    found = re.search(r'<div class="flash[^"]*"[^>]*>(.*?)</div>', page.text, re.S)
    assert found, "no message shown"
    return html.unescape(found.group(1))


class TestOnCallBoard:
    """Who is on call now per schedule and per escalation level."""

    def test_now_until_next_and_levels(self, browser: Any) -> None:
        page = browser.get("/oncall?tz=America/Chicago")
        assert page.status_code == 200
        text = page.text
        assert 'href="/oncall/primary"' in text
        # 2027-03-10 09:00 CST: alice's turn since 02:30 (turn 65 from Jan 4, odd: bob? see below)
        now = schedules().on_call("primary", NOW)
        assert f"<td>{now[0]}</td>" in text
        assert "2027-03-11 02:30:00 CST" in text
        assert "nobody-here" in text  # level 2 targets a name, taken as written
        assert "Overrides in force or coming" in text and "None." in text

    def test_no_schedules(self) -> None:
        flow, _ = make_flow(schedules=Schedules(), escalation=(EscalationLevel(("ops",)),))
        with client(flow) as tc:
            login(tc)
            text = tc.get("/oncall").text
        assert "The policy has no schedules" in text


class TestSchedulePage:
    """The week (SVG) and month (table) calendars, the shift record, and the DST notes."""

    def test_dst_week(self, browser: Any) -> None:
        text = browser.get("/oncall/primary?day=2027-03-14&tz=America/Chicago").text
        assert "<svg" in text and 'class="calendar"' in text
        assert "Sun 14 Mar: 23-hour day: the clocks go forward (UTC-06:00 -&gt; UTC-05:00)" in text
        assert "02:30 does not exist on 2027-03-14 in America/Chicago" in text
        assert "2027-03-14 03:00 CDT" in text
        assert text.count("<tr") >= 8  # the shift record

    def test_month(self, browser: Any) -> None:
        text = browser.get("/oncall/primary?view=month&day=2027-11-20&tz=America/Chicago").text
        assert 'class="month"' in text and "November 2027" in text
        assert 'title="25-hour day: the clocks go back' in text and "25 h" in text

    def test_refusals(self, browser: Any) -> None:
        assert browser.get("/oncall/nope").status_code == 404
        assert "known: primary" in browser.get("/oncall/nope").text
        assert browser.get("/oncall/primary?view=year").status_code == 400
        assert browser.get("/oncall/primary?day=tomorrow").status_code == 400
        assert browser.get("/oncall/primary?day=0001-01-01").status_code == 400
        far = browser.get("/oncall/primary?day=2900-01-01")
        assert far.status_code == 400 and "at most 10 years from today" in far.text
        assert browser.get("/oncall/primary?day=2037-01-01").status_code == 200

    def test_create_and_cancel_an_override(self, browser: Any, flow: AsyncIncidentFlow) -> None:
        said = flash(
            browser,
            post(
                browser,
                "/oncall/primary",
                "/oncall/primary/override",
                mode="replace",
                people="bob",
                start="2027-03-10T10:00",
                end="2027-03-10T18:00",
                layer="",
                why=HOSTILE,
            ),
        )
        assert said.startswith("override ovr-") and "bob instead until 2027-03-10 18:00 CET" in said
        (made,) = run(flow.overrides())
        assert made.by == "alice" and made.why == HOSTILE and made.schedule == "primary"
        page = browser.get("/oncall/primary?day=2027-03-10").text
        assert HOSTILE not in page and "&lt;script&gt;" in page
        assert run(flow.on_call("primary", NOW)) == ("bob",)
        said = flash(browser, post(browser, "/oncall", f"/oncall/overrides/{made.id}/cancel"))
        assert said == f"override {made.id} ended"
        assert run(flow.overrides()) == []

    def test_add_remove_and_layer_texts(self, browser: Any, flow: AsyncIncidentFlow) -> None:
        for mode, people in (("add", "carol"), ("remove", "alice")):
            said = flash(
                browser,
                post(
                    browser,
                    "/oncall/primary",
                    "/oncall/primary/override",
                    mode=mode,
                    people=people,
                    end="2027-03-11T10:00+01:00",
                    layer="daily",
                    why="cover",
                ),
            )
            assert ("carol added" if mode == "add" else "alice removed") in said
        assert {o.layer for o in run(flow.overrides())} == {"daily"}

    def test_hostile_schedule_names(self, browser: Any) -> None:
        page = browser.get("/oncall/%3Cscript%3Ex%3C%2Fscript%3E")
        assert page.status_code == 404 and "<script>x" not in page.text
        answer = post(
            browser,
            "/oncall/primary",
            "/oncall/%0D%0ASet-Cookie:%20x=1/override",
            mode="add",
            people="bob",
            end="2027-03-11T10:00",
            why="w",
        )
        assert answer.status_code == 303
        assert "\r" not in answer.headers["location"] and "\n" not in answer.headers["location"]
        assert not any(c.startswith("x=") for c in answer.headers.get_list("set-cookie"))

    def test_override_refusals_say_what_is_wrong(self, browser: Any) -> None:
        def try_it(**fields: str) -> str:
            base = {"mode": "replace", "people": "bob", "end": "2027-03-10T18:00", "why": "w"}
            return flash(
                browser,
                post(browser, "/oncall/primary", "/oncall/primary/override", **(base | fields)),
            )

        assert try_it(mode="swap") == "mode is one of replace, add, remove"
        assert "end must be a time like" in try_it(end="soon")
        assert try_it(why="") == "the form needs why"
        assert "layer" in try_it(layer="nope")  # the flow's own refusal
        assert "must end after it starts" in try_it(end="2020-01-01T00:00")


class TestSilences:
    """List, create (matchers as on the command line) and end, with the flow's refusals."""

    def test_create_list_end(self, browser: Any, flow: AsyncIncidentFlow) -> None:
        said = flash(
            browser,
            post(
                browser,
                "/silences",
                "/silences",
                matchers="service=checkout env=prod,eu region!=us team=*",
                duration="2h",
                why=HOSTILE,
            ),
        )
        assert said.startswith("silence sil-") and "until 2027-03-10 18:00 CET" in said
        (made,) = run(flow.silences())
        assert made.by == "alice"
        text = browser.get("/silences").text
        assert "in force" in text and HOSTILE not in text and "service=checkout" in text
        said = flash(browser, post(browser, "/silences", f"/silences/{made.id}/end"))
        assert said == f"silence {made.id} ended"
        assert run(flow.silences()) == []
        everything = browser.get("/silences?all=1").text
        assert "ended by alice" in everything

    def test_until_and_later_start(self, browser: Any, flow: AsyncIncidentFlow) -> None:
        flash(
            browser,
            post(
                browser,
                "/silences",
                "/silences",
                matchers="service=db",
                until="2027-03-11T08:00",
                start="2027-03-11T06:00",
                why="maintenance",
            ),
        )
        assert "starts later" in browser.get("/silences").text

    def test_refusals(self, browser: Any) -> None:
        def try_it(**fields: str) -> str:
            base = {"matchers": "service=x", "duration": "1h", "why": "w"}
            return flash(browser, post(browser, "/silences", "/silences", **(base | fields)))

        assert "each matcher is label=value" in try_it(matchers="service")
        assert try_it(matchers="   ") == "the form needs matchers"
        with pytest.raises(Refused, match="at least one matcher"):
            matchers("")
        assert try_it(duration="forever").startswith("for how long:")
        assert "end" in try_it(duration="")  # the flow's refusal: no end given
        assert "sil-0" in flash(browser, post(browser, "/silences", "/silences/sil-0/end"))


class TestRunbooksReportProcess:
    """The catalog with coverage, the report's charts, the process diagram."""

    def test_runbooks(self, browser: Any, flow: AsyncIncidentFlow) -> None:
        run(flow.trigger(alert(1, title=HOSTILE)))
        run(flow.trigger(alert(2, name="Unknown", source="grafana")))
        text = browser.get("/runbooks").text
        assert '<th scope="row">alertmanager</th><td>1</td><td>0</td>' in text
        assert '<th scope="row">grafana</th><td>0</td><td>1</td>' in text
        assert 'href="https://rb.example.com/latency"' in text
        assert 'href="javascript:' not in text and 'href="data:' not in text
        assert "latency" in text.split("Not updated since used")[1].split("Used most")[0]

    def test_report(self, browser: Any, flow: AsyncIncidentFlow) -> None:
        opened = run(flow.trigger(alert(1)))
        run(flow.acknowledge(opened.id, by="alice"))
        run(flow.resolve(opened.id, by="alice"))
        text = browser.get("/report?weeks=4").text
        assert text.count("<svg") == 3 and "MTTR (min) per week and severity" in text
        assert "<strong>4 weeks</strong>" in text
        assert browser.get("/report?weeks=0").status_code == 400
        assert browser.get("/report?weeks=x").status_code == 400
        empty = make_flow()[0]
        with client(empty) as tc:
            login(tc)
            text = tc.get("/report?weeks=1").text
        assert "No incident in this span" in text and "No MTTA yet" in text

    def test_a_span_and_a_bound(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from incident_flow.console import _insights

        flow, clock = make_flow()
        clock.set(NOW - timedelta(weeks=30))
        run(flow.trigger(alert(99, name="Old", source="datadog")))
        clock.set(NOW)
        for n in range(5):
            run(flow.trigger(alert(n)))
        with client(flow) as browser:
            login(browser)
            self.spans(browser, monkeypatch, _insights)

    def spans(self, browser: Any, monkeypatch: pytest.MonkeyPatch, _insights: Any) -> None:
        text = browser.get("/runbooks?weeks=4").text
        assert "datadog" not in text  # opened before the span
        assert "datadog" in browser.get("/runbooks").text  # the last 52 weeks
        assert browser.get("/runbooks?weeks=521").status_code == 400
        monkeypatch.setattr(_insights, "MAX_INCIDENTS", 3)
        monkeypatch.setattr(_insights, "_PAGE", 2)
        text = browser.get("/runbooks").text
        assert "Only the first 3 incidents" in text and "<td>3</td>" in text
        assert "Only the first 3 incidents" in browser.get("/report").text

    def test_process(self, browser: Any) -> None:
        text = browser.get("/process?state=resolved").text
        assert (
            'class="process"' in text and "start_postmortem" in text and "stateDiagram-v2" in text
        )
        assert browser.get("/process?state=nowhere").status_code == 400
        assert "<svg" in browser.get("/process").text

    def test_navigation_names_every_page(self, browser: Any) -> None:
        text = browser.get("/process").text
        for label in ("Incidents", "On call", "Silences", "Runbooks", "Report", "Process"):
            assert f">{label}</a>" in text
        assert 'href="/process" aria-current="page"' in text


class TestClosed:
    """Every page of these rooms asks who is looking; every form proves it and a person."""

    PAGES = ("/oncall", "/oncall/primary", "/silences", "/runbooks", "/report", "/process")
    FORMS = (
        "/oncall/primary/override",
        "/oncall/overrides/x/cancel",
        "/silences",
        "/silences/x/end",
    )

    def test_nobody(self, flow: AsyncIncidentFlow) -> None:
        with client(flow) as tc:
            for page in self.PAGES:
                answer = tc.get(page)
                assert answer.status_code == 303 and "/login" in answer.headers["location"]
            for form in self.FORMS:
                assert tc.post(form, data={"csrf": "x"}).status_code in (401, 403)
        assert run(flow.silences()) == [] and run(flow.overrides()) == []

    def test_no_csrf_and_not_a_person(self, flow: AsyncIncidentFlow) -> None:
        with client(flow) as tc:
            login(tc)
            for form in self.FORMS:
                assert tc.post(form, data={"csrf": "forged", "matchers": "a=b"}).status_code == 403
        with client(flow) as tc:
            login(tc, "mallory")
            answer = post(tc, "/silences", "/silences", matchers="a=b", duration="1h", why="w")
            assert answer.status_code == 403 and "may look, not act" in answer.text
        assert run(flow.silences()) == [] and run(flow.overrides()) == []


def test_local_time_with_offset_is_kept() -> None:
    from zoneinfo import ZoneInfo

    from incident_flow.console._oncall import local_time

    at = local_time("2027-03-14T02:30", ZoneInfo("America/Chicago"), "x")
    assert at == datetime(2027, 3, 14, 8, tzinfo=UTC)  # the jump, as the schedules decide
    assert local_time("2027-03-14T02:30+00:00", ZoneInfo("America/Chicago"), "x").hour == 2


class TestFollowUp:
    """The post-mortem, its review, the action items and the close, from the incident's page."""

    def test_post_mortem_to_close(self) -> None:
        flow, _ = make_flow(postmortem_reviewers=1)
        incident = run(flow.trigger(alert(1, title=HOSTILE)))
        run(flow.acknowledge(incident.id, by="alice"))
        run(flow.resolve(incident.id, by="alice"))
        here = f"/incidents/{incident.id}"
        follow = f"{here}/followup"
        with client(flow) as tc:
            login(tc)
            page = tc.get(here).text
            assert "Start post-mortem" in page and ">Close</button>" in page
            said = flash(tc, post(tc, here, f"{follow}/close"))
            assert "post-mortem" in said  # required: the flow's refusal, as it words it
            assert flash(tc, post(tc, here, f"{follow}/start_postmortem")).startswith(
                "post-mortem started"
            )
            said = flash(tc, post(tc, here, f"{follow}/submit_postmortem"))
            assert "impact" in said  # sections unwritten: refused, nothing changed
            said = flash(
                tc,
                post(
                    tc,
                    here,
                    f"{follow}/amend_postmortem",
                    impact=HOSTILE,
                    root_cause="a deploy",
                    learnings="canary deploys\n\n  alert sooner  ",
                ),
            )
            assert said == "post-mortem draft saved"
            assert run(flow.get(incident.id)).postmortem.learnings == (
                "canary deploys",
                "alert sooner",
            )
            page = tc.get(here).text
            assert HOSTILE not in page and "Submit for review" in page
            said = flash(tc, post(tc, here, f"{follow}/submit_postmortem"))
            assert said.startswith("post-mortem submitted for review")
            said = flash(tc, post(tc, here, f"{follow}/approve_postmortem"))
            assert "alice" in said  # the author may not approve: the flow says so
            assert "no command 'nope'" in flash(tc, post(tc, here, f"{follow}/nope"))
        with client(flow) as tc:
            login(tc, "bob")
            said = flash(tc, post(tc, here, f"{follow}/approve_postmortem"))
            assert said.startswith("approved by bob")
            if run(flow.get(incident.id)).state == "postmortem":
                said = flash(tc, post(tc, here, f"{follow}/publish_postmortem"))
                assert "post-mortem" in said
            for item in run(flow.get(incident.id)).open_action_items:
                said = flash(
                    tc, post(tc, here, f"{follow}/waive_action_item", item=item.id, reason="later")
                )
                assert said == f"{item.id} waived"
            assert flash(tc, post(tc, here, f"{follow}/close")) == "closed"
        assert run(flow.get(incident.id)).state == "closed"

    def test_publish_by_hand(self) -> None:
        flow, _ = make_flow(postmortem_reviewers=1, postmortem_merge="manual")
        incident = run(flow.trigger(alert(1)))
        run(flow.resolve(incident.id, by="alice"))
        run(flow.start_postmortem(incident.id, author="alice", impact="i", root_cause="r"))
        run(flow.submit_postmortem(incident.id, by="alice"))
        run(flow.approve_postmortem(incident.id, reviewer="bob"))
        with client(flow) as tc:
            login(tc)
            here = f"/incidents/{incident.id}"
            assert ">Publish</button>" in tc.get(here).text
            said = flash(tc, post(tc, here, f"{here}/followup/publish_postmortem"))
        assert said.startswith("post-mortem published") and "(runbook_update)" in said
