"""ingest.actions: what vendors really send about our incidents becomes Actions, nothing else.

Every body here is a real one from ``samples/actions`` (origins in its README), used as sent
or pointed at one of our incidents the way the vendor would (``inbound.py``).
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incident_flow import Action, Alert, InvalidPayload, Severity, ingest

from .inbound import ACTIONS, github, opsgenie, pagerduty, sample, slack_press, slack_submit
from .test_ingest import JSON, _mutate

OURS = "inc-3f2a9c1d0b7e"
TITLE = f"[P1] Checkout 5xx [{OURS}]"  # what our PagerDutyPager sends as the summary


def one(source: str, body: Any, headers: dict[str, str] | None = None) -> Action:
    (action,) = ingest.actions(source, body, headers)
    return action


class TestPagerDuty:
    """Webhooks v3: each event type as PagerDuty sends it, about a page we sent."""

    def test_acknowledged(self) -> None:
        body, headers = pagerduty("acknowledged", TITLE, webhook_id="wh-42")
        action = one("pagerduty", body, headers)
        assert (action.kind, action.incident, action.by) == ("acknowledge", OURS, "PJ0LVEB")
        assert action.by_name == "PIG 208"
        assert action.at == datetime(2021, 6, 4, 13, 55, 30, 394000, tzinfo=UTC)
        assert action.delivery_id == "pagerduty:wh-42"  # X-Webhook-Id: the same on retries

    def test_without_the_header_the_event_id_names_the_delivery(self) -> None:
        body, _ = pagerduty("acknowledged", TITLE)
        assert one("pagerduty", body).delivery_id == "pagerduty:01BZYK8N47N5JG55J1EEEHPEJI"

    @pytest.mark.parametrize(
        ("event", "kind", "text"),
        [
            ("resolved", "resolve", ""),
            ("reopened", "reopen", ""),
            (
                "unacknowledged",
                "note",
                "PagerDuty un-acknowledged it (its acknowledgement timed out)",
            ),
            ("escalated", "note", "PagerDuty escalated it: assigned to Harsh Santwani"),
            ("reassigned", "note", "PagerDuty reassigned it: assigned to Test User"),
            ("delegated", "note", "PagerDuty delegated it to another escalation policy: APIs-ep"),
        ],
    )
    def test_each_event_type(self, event: str, kind: str, text: str) -> None:
        body, headers = pagerduty(event, TITLE)
        action = one("pagerduty", body, headers)
        assert (action.kind, action.incident, action.text) == (kind, OURS, text)

    def test_a_note_is_found_through_its_incident_reference(self) -> None:
        body, headers = pagerduty("annotated", TITLE, content="failing over the db")
        action = one("pagerduty", body, headers)
        assert (action.kind, action.incident, action.text) == ("note", OURS, "failing over the db")

    def test_a_priority_that_is_a_severity_reclassifies(self) -> None:
        body, headers = pagerduty("priority_updated", TITLE, priority="P2")
        action = one("pagerduty", body, headers)
        assert (action.kind, action.severity) == ("reclassify", Severity.P2)

    def test_another_priority_scheme_is_a_note(self) -> None:
        body, headers = pagerduty("priority_updated", TITLE, priority="SEV-1")
        action = one("pagerduty", body, headers)
        assert (action.kind, action.text) == ("note", "PagerDuty priority changed to SEV-1")

    def test_the_vendors_own_example_names_the_pagerduty_incident_key(self) -> None:
        action = one("pagerduty", sample("pagerduty_v3_doc_incident_priority_updated.json"))
        assert action.incident == "pagerduty:d3640fbd41094207a1c11e58e46b1662"
        assert (action.kind, action.severity, action.by) == ("reclassify", Severity.P1, "PLH1HKV")

    def test_an_incident_opened_in_pagerduty_is_named_by_its_id(self) -> None:
        action = one("pagerduty", sample("pagerduty_v3_incident_acknowledged.json"))
        assert action.incident == "pagerduty:PQ1K5C8"  # the dedup key its alert opened here

    def test_triggered_is_an_alert_not_an_action(self) -> None:
        raw = sample("pagerduty_v3_incident_triggered.json")
        assert ingest.actions("pagerduty", raw) == []
        (alert,) = ingest.parse("pagerduty", raw)
        assert (alert.title, alert.dedup_key, alert.status) == (
            "Test Incident 3",
            "pagerduty:PFQZPSY",
            "firing",
        )
        assert alert.severity is Severity.P2  # urgency high, no priority
        assert alert.labels["service"] == "pig208"

    def test_its_resolution_is_the_alerts_recovery(self) -> None:
        (alert,) = ingest.parse("pagerduty", sample("pagerduty_v3_incident_resolved.json"))
        assert (alert.dedup_key, alert.status) == ("pagerduty:PCPZE64", "resolved")

    def test_our_own_page_coming_back_is_no_alert(self) -> None:
        body, _ = pagerduty("triggered", TITLE)
        assert ingest.parse("pagerduty", body) == []
        body, _ = pagerduty("resolved", TITLE)
        assert ingest.parse("pagerduty", body) == []

    def test_other_resources_and_events_give_nothing(self) -> None:
        body = copy.deepcopy(sample("pagerduty_v3_incident_acknowledged.json"))
        body["event"]["resource_type"] = "service"
        assert ingest.actions("pagerduty", body) == []
        body["event"].update(resource_type="incident", event_type="incident.conference_bridge")
        assert ingest.actions("pagerduty", body) == []
        assert ingest.parse("pagerduty", body) == []

    def test_a_blank_note_or_a_system_agent(self) -> None:
        body, _ = pagerduty("annotated", TITLE, content="  ")
        assert ingest.actions("pagerduty", body) == []
        raw = json.loads(pagerduty("resolved", TITLE)[0])
        raw["event"]["agent"] = None
        assert one("pagerduty", raw).by == "pagerduty"  # PagerDuty itself (an auto-resolve)


class TestOpsgenie:
    """Outgoing webhooks: the alias we gave the alert names our incident."""

    @pytest.mark.parametrize(
        ("name", "kind", "text"),
        [
            ("acknowledge", "acknowledge", ""),
            ("close", "resolve", ""),
            ("addnote", "note", "note to test alert"),
            ("unacknowledge", "note", "Opsgenie un-acknowledged it"),
        ],
    )
    def test_each_action_as_sent(self, name: str, kind: str, text: str) -> None:
        raw = sample(f"opsgenie_{name}.json")
        action = one("opsgenie", raw)
        assert (action.kind, action.incident, action.text) == (kind, "aliastest", text)
        assert (action.by, action.by_aliases) == (
            "fili@ifountain.com",
            ("daed1180-0ce8-438b-8f8e-57e1a5920a2d",),
        )
        stamp = raw["alert"]["updatedAt"]
        assert action.delivery_id == f"opsgenie:{raw['alert']['alertId']}:{raw['action']}:{stamp}"
        assert action.at is not None and action.at.year == 2015  # nanoseconds read as such

    def test_a_person_escalating_is_an_escalation(self) -> None:
        raw = sample("opsgenie_acknowledge.json")
        for spelling in ("EscalateToNext", "EscalateNext"):
            assert one("opsgenie", {**raw, "action": spelling}).kind == "escalate"

    @pytest.mark.parametrize("name", ["create", "escalate"])
    def test_creations_and_opsgenies_own_escalations_give_nothing(self, name: str) -> None:
        assert ingest.actions("opsgenie", sample(f"opsgenie_{name}.json")) == []

    def test_our_own_request_echoing_back_gives_nothing(self) -> None:
        raw = {**sample("opsgenie_acknowledge.json"), "source": {"name": "incident_flow"}}
        assert ingest.actions("opsgenie", raw) == []

    def test_an_alert_without_alias_or_a_blank_note(self) -> None:
        raw = copy.deepcopy(sample("opsgenie_acknowledge.json"))
        del raw["alert"]["alias"]
        assert ingest.actions("opsgenie", raw) == []
        assert ingest.actions("opsgenie", opsgenie("AddNote", OURS, user="a", updated_ns=1)) != []
        blank = json.loads(opsgenie("AddNote", OURS, user="a", updated_ns=1))
        blank["alert"]["note"] = " "
        assert ingest.actions("opsgenie", blank) == []


class TestSlack:
    """Our buttons, our forms and /incident; everything else in the workspace is not ours."""

    def test_a_press_of_our_button(self) -> None:
        form, _ = slack_press("acknowledge", OURS, user="U024BE7LH", trigger="t-1")
        action = one("slack", form)
        assert (action.kind, action.incident, action.by) == ("acknowledge", OURS, "U024BE7LH")
        assert action.by_name == "sd0a90bkva4s_user"
        assert action.delivery_id == "slack:t-1:0"

    def test_the_real_body_as_sent_is_another_apps_button(self) -> None:
        assert ingest.actions("slack", sample("slack_block_actions.json")) == []
        assert ingest.actions("slack", sample("slack_block_actions_no_value.json")) == []
        assert ingest.actions("slack", sample("slack_view_submission.json")) == []

    @pytest.mark.parametrize("kind", ["resolve", "note"])
    def test_pressing_resolve_or_note_opens_a_form_and_is_no_action_yet(self, kind: str) -> None:
        form, _ = slack_press(kind, OURS, user="U1", trigger="t-2")
        assert ingest.actions("slack", form) == []

    def test_a_submitted_form(self) -> None:
        form, _ = slack_submit("resolve", OURS, " rolled back ", user="U1", view="V9")
        action = one("slack", form)
        assert (action.kind, action.incident, action.text) == ("resolve", OURS, "rolled back")
        assert action.delivery_id == "slack:view:V9"

    def test_a_button_without_an_incident_is_refused(self) -> None:
        form, _ = slack_press("acknowledge", " ", user="U1", trigger="t")
        with pytest.raises(InvalidPayload, match="must name the incident"):
            ingest.actions("slack", form)

    @pytest.mark.parametrize(
        ("text", "kind", "rest", "severity"),
        [
            (f"ack {OURS}", "acknowledge", "", None),
            (f"resolve {OURS} rolled back the deploy", "resolve", "rolled back the deploy", None),
            (f"note {OURS} db failing over", "note", "db failing over", None),
            (f"sev {OURS} p2", "reclassify", "", Severity.P2),
            (f"runbook {OURS}", "start_runbook", "", None),
            (f"ESCALATE {OURS}", "escalate", "", None),
        ],
    )
    def test_slash_commands(
        self, text: str, kind: str, rest: str, severity: Severity | None
    ) -> None:
        fields = {**sample("slack_slash_command_fields.json"), "command": "/incident", "text": text}
        action = one("slack", urlencode(fields))
        assert (action.kind, action.incident, action.text) == (kind, OURS, rest)
        assert action.severity is severity
        assert action.by == "U00FAKEUSER2"
        assert action.delivery_id == f"slack:{fields['trigger_id']}"

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("", "usage: /incident"),
            ("dance inc-1", "usage: /incident"),
            ("sev inc-1 SEV-1", "severity must be P1..P5"),
            ("note inc-1", "a note needs its text"),
        ],
    )
    def test_a_mistyped_command_gets_the_usage(self, text: str, message: str) -> None:
        raw = sample_text().replace("text=94070", f"text={text}")
        with pytest.raises(InvalidPayload, match=message):
            ingest.actions("slack", raw.replace("command=/weather", "command=/incident"))

    def test_not_a_slack_request(self) -> None:
        for body in (b"", b"\xff\xfe", b"payload=[1]", b"{not json"):
            with pytest.raises(InvalidPayload, match="slack: "):
                ingest.actions("slack", body)
        assert ingest.actions("slack", {"type": "shortcut"}) == []


def sample_text() -> str:
    """Slack's documented slash-command body (a /weather command: another app's)."""
    return (ACTIONS / "slack_slash_command.txt").read_text(encoding="utf-8").strip()


class TestGitHub:
    """Reviews and merges of the pull requests GitHubPublisher opened."""

    @pytest.mark.parametrize(
        ("event", "name", "kind", "text"),
        [
            ("pull_request_review", "pull_request_review_approved", "approve_postmortem", ""),
            (
                "pull_request_review",
                "pull_request_review_changes_requested",
                "request_changes",
                "test2",
            ),
            # The dismissed review's author loses the approval; who dismissed it is said.
            (
                "pull_request_review",
                "pull_request_review_dismissed",
                "dismiss_review",
                "by carol-gh",
            ),
            (
                "pull_request",
                "pull_request_closed_merged",
                "postmortem_merged",
                "https://github.com/acme/runbooks/pull/318",
            ),
            ("pull_request", "pull_request_closed_unmerged", "postmortem_closed", ""),
        ],
    )
    def test_each_delivery(self, event: str, name: str, kind: str, text: str) -> None:
        body, headers = github(event, name, OURS, login="carol-gh", delivery="d-7")
        action = one("github", body, headers)
        assert (action.kind, action.incident, action.by, action.text) == (
            kind,
            OURS,
            "carol-gh",
            text,
        )
        review = json.loads(body).get("review")
        # A review's (and a merge's) delivery is what a poll of it gives too: one delivery.
        expected = {
            "approve_postmortem": f"github:review:{review and review['id']}:approved",
            "request_changes": f"github:review:{review and review['id']}:changes_requested",
            "dismiss_review": f"github:review:{review and review['id']}:dismissed",
            "postmortem_merged": "github:merged:https://github.com/acme/runbooks/pull/318",
            "postmortem_closed": "github:closed:https://github.com/acme/runbooks/pull/318:"
            + str(json.loads(body)["pull_request"]["closed_at"]),
        }.get(kind, "github:d-7")
        assert action.delivery_id == expected
        assert action.review_url == "https://github.com/acme/runbooks/pull/318"
        assert action.at is not None

    def test_pushed_commits_ask_for_a_read_and_other_events_give_nothing(self) -> None:
        body, headers = github(
            "pull_request", "pull_request_synchronize", OURS, login="alice-gh", delivery="d-8"
        )
        pushed = one("github", body, headers)
        assert (pushed.kind, pushed.incident, pushed.by) == ("postmortem_revised", OURS, "alice-gh")
        # Named by the commit pushed to, which the signature covers: the same body sent again
        # under another X-GitHub-Delivery is the same delivery (applied once).
        after = json.loads(body)["after"]
        assert pushed.delivery_id == f"github:pushed:{pushed.review_url}:{after}"
        again = one("github", body, {**headers, "X-GitHub-Delivery": "replayed"})
        assert again.delivery_id == pushed.delivery_id
        for event, name in (
            ("pull_request", "pull_request_reopened"),
            ("pull_request_review", "pull_request_review_commented"),
        ):
            body, headers = github(event, name, OURS, login="alice-gh", delivery="d-9")
            assert ingest.actions("github", body, headers) == []

    def test_the_marker_in_the_body_names_the_incident_whatever_the_branch(self) -> None:
        raw = copy.deepcopy(sample("github_pull_request_review_approved.json"))
        raw["pull_request"]["body"] = f"Post-mortem\n\n<!-- incident_flow:incident={OURS} -->"
        action = one("github", raw, {"X-GitHub-Event": "pull_request_review"})
        assert action.incident == OURS
        assert action.delivery_id == f"github:review:{raw['review']['id']}:approved"

    def test_other_pull_requests_and_events_give_nothing(self) -> None:
        raw = sample("github_pull_request_review_approved.json")
        assert ingest.actions("github", raw, {"X-GitHub-Event": "pull_request_review"}) == []
        assert ingest.actions("github", raw, {"X-GitHub-Event": "ping"}) == []
        body, headers = github(
            "pull_request_review", "pull_request_review_approved", OURS, login="x", delivery="d"
        )
        commented = json.loads(body)
        commented["review"]["state"] = "commented"
        assert ingest.actions("github", commented, headers) == []
        reopened = json.loads(
            github("pull_request", "pull_request_closed_merged", OURS, login="x", delivery="d")[0]
        )
        reopened["action"] = "reopened"
        assert ingest.actions("github", reopened, {"X-GitHub-Event": "pull_request"}) == []

    def test_the_event_header_is_needed(self) -> None:
        with pytest.raises(InvalidPayload, match="X-GitHub-Event"):
            ingest.actions("github", sample("github_pull_request_closed_merged.json"))


class TestIncidentIoAlerts:
    """incident.io's outgoing alert webhooks are alerts; its other webhooks are not."""

    def test_alert_created(self) -> None:
        raw = sample("incidentio_alert_created.json")
        (alert,) = ingest.parse("incidentio", raw)
        assert (alert.dedup_key, alert.status) == ("incidentio:4293868629", "firing")
        assert alert.title == "*errors.withMessage: PG::Error failed to connect"
        assert alert.labels == {"service": "Payments Team"}
        assert alert.url == "https://www.my-alerting-platform.com/alerts/my-alert-123"

    def test_alert_resolved_and_other_webhooks(self) -> None:
        raw = sample("incidentio_alert_created.json")
        payload = raw["public_alert.alert_created_v1"]
        resolved = {
            "event_type": "public_alert.alert_resolved_v1",
            "public_alert.alert_resolved_v1": {**payload, "status": "resolved"},
        }
        (alert,) = ingest.parse("incidentio", resolved)
        assert alert.status == "resolved" and alert.dedup_key == "incidentio:4293868629"
        private = {
            "event_type": "private_alert.alert_created_v1",
            "private_alert.alert_created_v1": {"id": "x"},
        }
        assert ingest.parse("incidentio", private) == []
        untitled = {**raw, "public_alert.alert_created_v1": {**payload, "title": " "}}
        with pytest.raises(InvalidPayload, match="title is empty"):
            ingest.parse("incidentio", untitled)


class TestTheEntryPoint:
    """actions() has parse()'s manners: one error type, a clear message."""

    def test_unknown_source(self) -> None:
        with pytest.raises(InvalidPayload, match="unknown action source 'linear'; known: github"):
            ingest.actions("linear", b"{}")
        assert ingest.ACTION_SOURCES == ("github", "jira", "opsgenie", "pagerduty", "slack")

    def test_an_action_value_that_does_not_hold(self) -> None:
        with pytest.raises(ValueError, match=r"Action\.kind must be one of"):
            Action(source="slack", kind="dance", incident="i", by="u")
        with pytest.raises(ValueError, match="needs its severity"):
            Action(source="slack", kind="reclassify", incident="i", by="u")
        with pytest.raises(ValueError, match=r"Action\.by must be a non-empty string"):
            Action(source="slack", kind="note", incident="i", by=" ")
        with pytest.raises(ValueError, match="must be a timezone-aware datetime"):
            Action(source="slack", kind="note", incident="i", by="u", at=datetime(2026, 1, 1))  # noqa: DTZ001

    def test_a_press_without_trigger_id_names_no_delivery(self) -> None:
        raw = copy.deepcopy(sample("slack_block_actions.json"))
        del raw["trigger_id"], raw["actions"][0]["action_ts"]
        raw["actions"][0].update(action_id="incident_flow:acknowledge", value=OURS)
        assert one("slack", raw).delivery_id is None  # never one shared by two presses


SOURCES = {
    "pagerduty": ("pagerduty_v3_incident_annotated.json", {}),
    "opsgenie": ("opsgenie_addnote.json", {}),
    "slack": ("slack_view_submission.json", {}),
    "github": (
        "github_pull_request_review_approved.json",
        {"X-GitHub-Event": "pull_request_review"},
    ),
}


def _only_invalid_payload(source: str, payload: Any, headers: dict[str, str]) -> None:
    try:
        found = ingest.actions(source, payload, headers)
    except InvalidPayload:
        return
    assert all(isinstance(a, Action) for a in found)


class TestFuzz:
    """For any JSON, any mutation of a real body and any bytes: InvalidPayload or actions."""

    @pytest.mark.parametrize("source", sorted(SOURCES))
    @given(payload=JSON)
    def test_arbitrary_json(self, source: str, payload: Any) -> None:
        _only_invalid_payload(source, json.dumps(payload).encode(), SOURCES[source][1])

    @pytest.mark.parametrize("source", sorted(SOURCES))
    @given(path=st.lists(st.integers(0, 50), max_size=5), replacement=JSON)
    def test_mutated_real_bodies(self, source: str, path: list[int], replacement: Any) -> None:
        name, headers = SOURCES[source]
        _only_invalid_payload(source, _mutate(sample(name), path, replacement), headers)

    @pytest.mark.parametrize("source", sorted(SOURCES))
    @given(raw=st.binary(max_size=300))
    def test_arbitrary_bytes(self, source: str, raw: bytes) -> None:
        _only_invalid_payload(source, raw, SOURCES[source][1])


def test_the_alert_parsers_still_refuse_what_they_cannot_read() -> None:
    """A v3 body without data, or an incident.io envelope without its object, is refused."""
    with pytest.raises(InvalidPayload, match=r"pagerduty: event\.data is missing"):
        ingest.parse("pagerduty", {"event": {"event_type": "incident.triggered"}})
    with pytest.raises(InvalidPayload):
        ingest.parse("incidentio", {"event_type": "public_alert.alert_created_v1"})
    assert isinstance(ingest.parse("pagerduty", pagerduty("triggered", "Disk full")[0])[0], Alert)
