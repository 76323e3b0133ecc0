"""Ingestion: every sample reads as a person would expect; bad bodies raise InvalidPayload only."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from incident_flow import Alert, IncidentFlow, InvalidPayload, RecordingNotifier, Severity, ingest
from incident_flow.testing import ManualClock, RecordingPublisher

from .conftest import T0

SAMPLES = Path(__file__).with_name("samples")
FIRING = {
    "datadog": "datadog_triggered.json",
    "checkly": "checkly_failure.json",
    "alertmanager": "alertmanager_firing.json",
    "grafana": "grafana_firing.json",
    "incidentio": "incidentio_firing.json",
    "pagerduty": "pagerduty_event_trigger.json",
}
RESOLVED = {
    "datadog": "datadog_recovered.json",
    "checkly": "checkly_recovery.json",
    "alertmanager": "alertmanager_resolved.json",
    "grafana": "grafana_resolved.json",
    "incidentio": "incidentio_resolved.json",
    "pagerduty": "pagerduty_event_resolve.json",
}


def body(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def data(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(body(name))
    return loaded


class TestSamples:
    """Each sample reads as the alert a person would expect."""

    def test_datadog(self) -> None:
        (alert,) = ingest.parse("datadog", body("datadog_triggered.json"))
        assert alert.source == "datadog"
        assert alert.status == "firing"
        assert alert.severity is Severity.P1  # the monitor's priority
        assert alert.name == alert.title == "Checkout API 5xx error rate above 5%"
        assert alert.dedup_key == "datadog:148275309:7716548234009876543"
        assert alert.labels["service"] == "checkout-api"
        assert alert.labels["env"] == "prod"
        assert alert.labels["monitor_id"] == "148275309"
        assert alert.started_at == datetime(2025, 6, 3, 14, 2, 11, tzinfo=UTC)
        assert alert.url == "https://app.datadoghq.com/event/jump_to?event_id=7716548234011234567"
        assert alert.description.startswith("5xx error rate for checkout-api")
        assert alert.raw["alert_id"] == "148275309"

    def test_checkly(self) -> None:
        (alert,) = ingest.parse("checkly", body("checkly_failure.json"))
        assert (alert.status, alert.severity) == ("firing", Severity.P2)
        assert alert.name == "Checkout API health"
        assert alert.title == 'Check "Checkout API health" has failed'
        assert alert.dedup_key == "checkly:2a8b7c1e-5f3d-4e9a-9b6c-0d1e2f3a4b5c"
        assert alert.description == "Request failed with status code 503"
        assert alert.labels["region"] == "us-east-1"
        assert alert.started_at == datetime(2025, 6, 3, 14, 1, 58, 412000, tzinfo=UTC)

    def test_alertmanager_group(self) -> None:
        alerts = ingest.parse("alertmanager", body("alertmanager_firing.json"))
        assert [a.dedup_key for a in alerts] == [
            "alertmanager:8f3a1c2d4e5b6a70",
            "alertmanager:1b2c3d4e5f6a7b8c",
        ]
        first = alerts[0]
        assert (first.status, first.severity, first.name) == (
            "firing",
            Severity.P1,
            "CheckoutHighErrorRate",
        )
        assert first.title == "checkout-api 5xx ratio above 5% in prod"
        assert first.labels["pod"] == "checkout-api-7d9f8b6c5-x2k4p"
        assert first.labels["runbook_url"].endswith("/high-error-rate")
        assert first.url is not None and "&g0.tab=1" in first.url  # \u0026 decoded
        assert first.started_at == datetime(2025, 6, 3, 14, 0, 42, 123000, tzinfo=UTC)

    def test_grafana(self) -> None:
        (alert,) = ingest.parse("grafana", body("grafana_firing.json"))
        assert (alert.status, alert.severity) == ("firing", Severity.P1)
        assert alert.dedup_key == "grafana:a4c2e91f0b7d3e65"
        assert alert.labels["grafana_folder"] == "Payments"
        assert alert.labels["dashboardURL"].startswith("https://grafana.example.com/d/")
        assert alert.description == "5xx ratio for checkout-api is 7.3% (threshold 5%)."

    def test_incidentio(self) -> None:
        (alert,) = ingest.parse("incidentio", body("incidentio_firing.json"))
        assert (alert.status, alert.severity) == ("firing", Severity.P1)
        assert alert.dedup_key == "incidentio:datadog-148275309-7716548234009876543"
        assert alert.labels == {
            "service": "checkout-api",
            "environment": "prod",
            "team": "payments",
            "priority": "P1",
            "source": "datadog",
        }
        assert alert.url == "https://app.datadoghq.com/monitors/148275309"

    def test_pagerduty(self) -> None:
        (alert,) = ingest.parse("pagerduty", body("pagerduty_event_trigger.json"))
        assert (alert.status, alert.severity) == ("firing", Severity.P1)
        assert alert.dedup_key == "pagerduty:incident-flow/checkout-api/INC-2025-0142"
        assert alert.title == "[P1] Checkout API 5xx error rate above 5% (prod)"
        assert alert.name == "high error rate"
        assert alert.labels["component"] == "checkout-api"
        assert alert.url == "https://incidents.example.com/incidents/INC-2025-0142"
        assert alert.started_at == datetime(2025, 6, 3, 14, 2, 11, tzinfo=UTC)

    def test_pagerduty_acknowledge_carries_no_alert(self) -> None:
        assert ingest.parse("pagerduty", body("pagerduty_event_acknowledge.json")) == []

    @pytest.mark.parametrize("source", sorted(FIRING))
    def test_firing_and_resolved_share_the_dedup_key(self, source: str) -> None:
        firing = ingest.parse(source, body(FIRING[source]))
        resolved = ingest.parse(source, body(RESOLVED[source]))
        assert [a.dedup_key for a in firing] == [a.dedup_key for a in resolved]
        assert {a.status for a in firing} == {"firing"}
        assert {a.status for a in resolved} == {"resolved"}

    def test_parity_one_outage_every_source(self) -> None:
        """Six descriptions of one outage agree: firing, and critical under the default policy."""
        from incident_flow import Policy

        policy = Policy.default()
        for source, name in FIRING.items():
            for alert in ingest.parse(source, body(name)):
                assert alert.status == "firing", source
                assert alert.severity is not None and policy.is_critical(alert.severity), source

    def test_mapping_and_bytes_and_text_read_alike(self) -> None:
        raw = body("checkly_failure.json")
        parsed = [ingest.parse("checkly", b) for b in (raw, raw.decode(), json.loads(raw))]
        assert parsed[0] == parsed[1] == parsed[2]


class TestDatadog:
    """Transitions, the default payload's title prefix, and the priority fallback."""

    @pytest.mark.parametrize(
        ("transition", "status", "severity"),
        [
            ("Triggered", "firing", Severity.P2),
            ("Re-Triggered", "firing", Severity.P2),
            ("Warn", "firing", Severity.P3),
            ("Re-Warn", "firing", Severity.P3),
            ("No Data", "firing", Severity.P3),
            ("Re-No Data", "firing", Severity.P3),
            ("Renotify", "firing", Severity.P2),
            ("Recovered", "resolved", None),
        ],
    )
    def test_transitions_without_priority(
        self, transition: str, status: str, severity: Severity | None
    ) -> None:
        payload = dict(
            data("datadog_triggered.json"), alert_transition=transition, alert_priority=""
        )
        (alert,) = ingest.parse("datadog", payload)
        assert (alert.status, alert.severity) == (status, severity)

    def test_the_default_payload_without_a_monitor_id_is_opened_on_a_fallback_key(self) -> None:
        """No id at all: refusing would drop the page; the title and group key it, said so."""
        (up,) = ingest.parse("datadog", body("datadog_default_payload.json"))
        (down,) = ingest.parse("datadog", body("datadog_default_recovered.json"))
        assert (up.status, down.status) == ("firing", "resolved")
        assert (
            up.dedup_key == down.dedup_key == "datadog:title:Checkout API 5xx error rate above 5%"
            ":scope:env:prod,service:checkout-api"
        )
        for alert in (up, down):
            assert alert.labels["incident_flow.dedup"] == "fallback"
            fix = alert.labels["incident_flow.dedup_fix"]
            assert '"alert_id": "$ALERT_ID"' in fix and '"alert_cycle_key"' in fix

    def test_a_p1_without_ids_opens_an_incident_its_recovery_finds(self) -> None:
        """The real body of issue 28 (InRes' fixture): a P1, no alert_id, no cycle key."""
        real = SAMPLES / "real" / "datadog"
        (up,) = ingest.parse(
            "datadog", (real / "inres_p1_high_tracking_triggered.json").read_bytes()
        )
        assert (up.status, up.severity, up.title) == ("firing", Severity.P1, "High tracking")
        assert up.dedup_key == "datadog:title:High tracking"
        assert up.labels["incident_flow.dedup"] == "fallback"
        pager = RecordingNotifier()
        flow = IncidentFlow(
            notifier=RecordingNotifier(), pager=pager, publisher=RecordingPublisher()
        )
        incident = flow.trigger(up)
        assert len(pager.messages) == 1  # paged, not dropped
        (down,) = ingest.parse(
            "datadog", (real / "inres_p1_high_tracking_recovered.json").read_bytes()
        )
        assert flow.trigger(down).id == incident.id
        assert "AlertRecovered" in [event.type for event in flow.history(incident.id)]

    def test_fallback_keys_keep_groups_and_hosts_apart(self) -> None:
        def key(title: str, **extra: str) -> str:
            (alert,) = ingest.parse("datadog", {"title": title, "id": "1", **extra})
            return alert.dedup_key

        # Every transition and priority prefix is dropped: one alert from trigger to recovery.
        assert (
            key("[P1] [Triggered on {host:a}] Disk full")
            == key("[P1] [Re-Triggered on {host:a}] Disk  full ")
            == key("[P1] [Recovered on {host:a}] Disk full")
            == key("[Warn on {host:a}] Disk full")
        )
        # Two groups (or two hosts) of one monitor never merge.
        assert key("[Triggered on {host:a}] Disk full") != key("[Triggered on {host:b}] Disk full")
        assert key("[Triggered] Disk full", hostname="a") != key(
            "[Triggered] Disk full", hostname="b"
        )
        assert key("[Triggered] Disk full", hostname="a") == key(
            "[Recovered] Disk full", hostname="a"
        )

    def test_aggreg_key_without_a_monitor_is_an_identity_with_its_group(self) -> None:
        def alert(scope: str, transition: str) -> Alert:
            (parsed,) = ingest.parse(
                "datadog",
                {
                    "title": f"[{transition} on {{{scope}}}] Error monitor",
                    "aggreg_key": "9bd4ac313a4d1e8fae2482df7b77628",
                },
            )
            return parsed

        up, down = alert("service:a", "Triggered"), alert("service:a", "Recovered")
        assert (
            up.dedup_key
            == down.dedup_key
            == ("datadog:aggreg:9bd4ac313a4d1e8fae2482df7b77628:scope:service:a")
        )
        assert "incident_flow.dedup" not in up.labels  # a key Datadog gave, not a guess
        assert alert("service:b", "Triggered").dedup_key != up.dedup_key

    def test_a_tag_cannot_say_the_key_is_a_fallback_or_hide_it(self) -> None:
        tags = "incident_flow.dedup:none, incident_flow.dedup_fix:nothing"
        (keyed,) = ingest.parse("datadog", dict(data("datadog_triggered.json"), tags=tags))
        assert "incident_flow.dedup" not in keyed.labels
        assert "incident_flow.dedup_fix" not in keyed.labels
        (guessed,) = ingest.parse("datadog", {"title": "[Triggered] X", "tags": tags})
        assert guessed.labels["incident_flow.dedup"] == "fallback"
        assert guessed.labels["incident_flow.dedup_fix"] != "nothing"

    def test_the_default_payload_keyed_by_its_monitor_link_and_scope(self) -> None:
        linked = "[[Monitor Status](https://app.datadoghq.com/monitors/4242?from_ts=1)]"
        firing = dict(data("datadog_default_payload.json"), body=linked)
        recovered = dict(data("datadog_default_recovered.json"), body=linked)
        (up,) = ingest.parse("datadog", firing)
        (down,) = ingest.parse("datadog", recovered)
        assert (up.status, down.status) == ("firing", "resolved")
        assert (
            up.dedup_key == down.dedup_key == ("datadog:4242:scope:env:prod,service:checkout-api")
        )
        assert up.title == "Checkout API 5xx error rate above 5%"

    @pytest.mark.parametrize(
        ("title", "severity"),
        [
            ("[Warn] Disk 91%", Severity.P3),
            ("[P2] [Warn] Disk 91%", Severity.P2),  # the monitor's priority, in the title
            ("[Warn on {host:a}] Disk 91%", Severity.P3),
        ],
    )
    def test_title_prefixes(self, title: str, severity: Severity) -> None:
        (alert,) = ingest.parse("datadog", {"title": title, "id": "1", "alert_id": "7"})
        assert (alert.status, alert.severity, alert.title) == ("firing", severity, "Disk 91%")

    def test_unknown_transition(self) -> None:
        payload = dict(data("datadog_triggered.json"), alert_transition="Exploded")
        with pytest.raises(InvalidPayload, match="'exploded' is not one of"):
            ingest.parse("datadog", payload)

    def test_no_status_anywhere(self) -> None:
        with pytest.raises(InvalidPayload, match="no alert_transition"):
            ingest.parse("datadog", {"title": "Disk 91%", "id": "1"})


class TestChecklyAndAlertmanager:
    """Checkly's alert-type family; Alertmanager's per-alert status and severity labels."""

    @pytest.mark.parametrize(
        ("alert_type", "status", "severity"),
        [
            ("ALERT_FAILURE", "firing", Severity.P2),
            ("ALERT_FAIL", "firing", Severity.P2),
            ("ALERT_FAILURE_REMAIN", "firing", Severity.P2),
            ("ALERT_DEGRADED_FAILURE", "firing", Severity.P2),
            ("ALERT_DEGRADED", "firing", Severity.P3),
            ("ALERT_DEGRADED_REMAIN", "firing", Severity.P3),
            ("ALERT_FAILURE_DEGRADED", "firing", Severity.P3),
            ("ALERT_SSL", "firing", Severity.P4),
            ("ALERT_RECOVERY", "resolved", None),
            ("ALERT_DEGRADED_RECOVERY", "resolved", None),
        ],
    )
    def test_checkly_family(self, alert_type: str, status: str, severity: Severity | None) -> None:
        (alert,) = ingest.parse(
            "checkly", dict(data("checkly_failure.json"), alert_type=alert_type)
        )
        assert (alert.status, alert.severity) == (status, severity)
        assert alert.dedup_key.endswith(":ssl") == (alert_type == "ALERT_SSL")

    def test_checkly_no_alert_is_refused(self) -> None:
        with pytest.raises(InvalidPayload, match="'NO_ALERT' is not one of"):
            ingest.parse("checkly", dict(data("checkly_failure.json"), alert_type="NO_ALERT"))

    def test_mixed_group(self) -> None:
        group = data("alertmanager_firing.json")
        group["alerts"][1]["status"] = "resolved"
        statuses = [a.status for a in ingest.parse("alertmanager", group)]
        assert statuses == ["firing", "resolved"]

    @pytest.mark.parametrize(
        ("labels", "severity"),
        [
            ({"severity": "critical"}, Severity.P1),
            ({"severity": "error"}, Severity.P2),
            ({"severity": "high"}, Severity.P2),
            ({"severity": "major"}, Severity.P2),
            ({"severity": "warning"}, Severity.P3),
            ({"severity": "info"}, Severity.P4),
            ({"severity": "none"}, Severity.P5),
            ({"severity": "low"}, Severity.P5),
            ({"severity": "weird"}, None),
            ({}, None),
            ({"severity": "info", "priority": "P1"}, Severity.P1),
            ({"priority": "p2"}, Severity.P2),
            # The zero level, the top of many teams' scales, is our top.
            ({"priority": "P0"}, Severity.P1),
            ({"severity": "info", "priority": "SEV0"}, Severity.P1),
            ({"severity": "sev-0"}, Severity.P1),
        ],
    )
    def test_severity_labels(self, labels: dict[str, str], severity: Severity | None) -> None:
        group = data("alertmanager_firing.json")
        alert = group["alerts"][0]
        alert["labels"] = {"alertname": "X", **labels}
        assert ingest.parse("alertmanager", group)[0].severity == severity

    def test_missing_fingerprint_is_derived_stably(self) -> None:
        group = data("alertmanager_firing.json")
        for alert in group["alerts"]:
            del alert["fingerprint"]
        first = [a.dedup_key for a in ingest.parse("alertmanager", group)]
        again = [a.dedup_key for a in ingest.parse("alertmanager", group)]
        assert first == again
        assert len(set(first)) == 2

    def test_grafana_custom_payload_is_explained(self) -> None:
        with pytest.raises(InvalidPayload, match="custom webhook payload"):
            ingest.parse("grafana", {"text": "my own template"})


class TestZeroLevels:
    """P0 / SEV0 is P1 in every source that reads a priority, and the original is kept."""

    @pytest.mark.parametrize("value", ["P0", "p0", "SEV0", "sev-0", "Sev 0", "SEV_0", "severity-0"])
    def test_every_source_reads_a_zero_level_as_p1(self, value: str) -> None:
        for source in ("alertmanager", "grafana"):
            group = data(FIRING[source])
            group["alerts"][0]["labels"]["priority"] = value
            alert = ingest.parse(source, group)[0]
            assert (alert.severity, alert.labels["priority"]) == (Severity.P1, value), source
        incidentio = data("incidentio_firing.json")
        incidentio["metadata"]["priority"] = value
        (alert,) = ingest.parse("incidentio", incidentio)
        assert (alert.severity, alert.labels["priority"]) == (Severity.P1, value)
        v2 = data("pagerduty_event_trigger.json")
        v2["payload"]["severity"] = "info"
        v2["payload"]["custom_details"]["priority"] = value
        (alert,) = ingest.parse("pagerduty", v2)
        assert (alert.severity, alert.labels["priority"]) == (Severity.P1, value)
        v1 = {"event_type": "trigger", "description": "d", "details": {"priority": value}}
        (alert,) = ingest.parse("pagerduty", v1)
        assert (alert.severity, alert.labels["priority"]) == (Severity.P1, value)
        v3 = json.loads((SAMPLES / "actions" / "pagerduty_v3_incident_triggered.json").read_text())
        v3["event"]["data"]["priority"] = {"summary": value}
        v3["event"]["data"]["urgency"] = "low"
        (alert,) = ingest.parse("pagerduty", v3)
        assert (alert.severity, alert.labels["priority"]) == (Severity.P1, value)
        datadog = dict(data("datadog_triggered.json"), alert_priority=value)
        (alert,) = ingest.parse("datadog", datadog)
        assert (alert.severity, alert.labels["alert_priority"]) == (Severity.P1, value)

    @pytest.mark.parametrize("value", ["P00", "P0.5", "SEV10", "0", "sev00", "P0 maybe"])
    def test_only_a_zero_level_is_one(self, value: str) -> None:
        group = data("alertmanager_firing.json")
        group["alerts"][0]["labels"] = {"alertname": "X", "priority": value}
        assert ingest.parse("alertmanager", group)[0].severity is None


class TestWhatRealSendersLeaveOut:
    """The fallbacks real bodies need (issue 16), on the samples with the field taken out."""

    def test_datadog_groups_of_one_monitor_never_share_a_key(self) -> None:
        def on(scope: str, transition: str) -> str:
            payload = dict(
                data("datadog_triggered.json"),
                alert_scope=scope,
                alert_transition=transition,
                alert_title=f"[{transition} on {{{scope}}}] Error monitor",
            )
            del payload["alert_cycle_key"], payload["aggreg_key"]
            (alert,) = ingest.parse("datadog", payload)
            return alert.dedup_key

        assert on("service:a", "Triggered") != on("service:b", "Triggered")
        assert on("service:a", "Triggered") == on("service:a", "Recovered")
        # The same group, its tags in another order: the same alert.
        assert on("env:prod,service:a", "Triggered") == on("service:a, env:prod", "Recovered")

    def test_datadog_scopes_list_and_a_simple_monitor(self) -> None:
        payload = {"title": "[Triggered] Disk full", "monitor_id": 9, "scopes": ["host:b", "env:x"]}
        (alert,) = ingest.parse("datadog", payload)
        assert alert.dedup_key == "datadog:9:scope:env:x,host:b"
        (simple,) = ingest.parse("datadog", {"title": "[Triggered] Disk full", "alert_id": "9"})
        assert simple.dedup_key == "datadog:9"

    def test_grafana_alertname_from_the_group_then_the_rule_or_summary(self) -> None:
        group = data("grafana_firing.json")
        for alert in group["alerts"]:
            del alert["labels"]["alertname"]
        group["commonLabels"] = {"alertname": "FromCommon"}
        assert {a.name for a in ingest.parse("grafana", group)} == {"FromCommon"}
        group["commonLabels"] = {}
        group["groupLabels"] = {}
        for alert in group["alerts"]:
            alert["annotations"]["summary"] = "Checkout errors"
        assert {a.name for a in ingest.parse("grafana", group)} == {"Checkout errors"}
        for alert in group["alerts"]:
            alert["annotations"] = {}
        with pytest.raises(InvalidPayload, match="alertname is missing"):
            ingest.parse("grafana", group)

    def test_grafana_relative_generator_url_is_joined(self) -> None:
        group = data("grafana_firing.json")
        group["externalURL"] = "https://grafana.example.com/sub/"
        for alert in group["alerts"]:
            alert["generatorURL"] = "/alerting/grafana/abc/view"
        (alert, *_) = ingest.parse("grafana", group)
        assert alert.url == "https://grafana.example.com/sub/alerting/grafana/abc/view"

    def test_grafana_legacy_and_test_notifications(self) -> None:
        legacy = {"ruleName": "CPU", "ruleId": 1, "state": "alerting", "evalMatches": []}
        with pytest.raises(InvalidPayload, match="legacy alerting body"):
            ingest.parse("grafana", legacy)
        group = data("grafana_firing.json")
        group["alerts"] = [
            dict(group["alerts"][0], labels={"alertname": "TestAlert", "instance": "Grafana"})
        ]
        assert ingest.parse("grafana", group) == []

    def test_alertmanager_message_annotation_and_the_groups_status(self) -> None:
        group = data("alertmanager_firing.json")
        for alert in group["alerts"]:
            alert["annotations"] = {"message": "Pod crash-looping"}
            del alert["status"]
        alerts = ingest.parse("alertmanager", group)
        assert {(a.title, a.description, a.status) for a in alerts} == {
            ("Pod crash-looping", "Pod crash-looping", "firing")
        }

    def test_checkly_uppercase_template_and_a_check_without_id(self) -> None:
        upper = {k.upper(): v for k, v in data("checkly_failure.json").items()}
        (alert,) = ingest.parse("checkly", upper)
        (lower,) = ingest.parse("checkly", data("checkly_failure.json"))
        assert (alert.dedup_key, alert.status, alert.name) == (
            lower.dedup_key,
            lower.status,
            lower.name,
        )
        no_id = dict(data("checkly_failure.json"))
        del no_id["check_id"]
        (named,) = ingest.parse("checkly", no_id)
        assert named.dedup_key == f"checkly:name:{lower.name}"

    def test_pagerduty_events_v1_and_change_events(self) -> None:
        trigger = {
            "service_key": "abc",
            "event_type": "trigger",
            "incident_key": "k1",
            "description": "Disk full on db-1",
            "details": {"severity": "critical"},
        }
        (up,) = ingest.parse("pagerduty", trigger)
        (down,) = ingest.parse(
            "pagerduty", {"service_key": "abc", "event_type": "resolve", "incident_key": "k1"}
        )
        assert (up.status, up.severity, up.title) == ("firing", Severity.P1, "Disk full on db-1")
        assert (down.status, down.dedup_key) == ("resolved", up.dedup_key)
        assert ingest.parse("pagerduty", dict(trigger, event_type="acknowledge")) == []
        with pytest.raises(InvalidPayload, match="v1 resolve needs its incident_key"):
            ingest.parse("pagerduty", {"service_key": "abc", "event_type": "resolve"})
        change = {"routing_key": "r", "payload": {"summary": "deployed 4.2", "source": "ci"}}
        with pytest.raises(InvalidPayload, match="change event"):
            ingest.parse("pagerduty", change)


class TestBadInput:
    """Anything unreadable raises InvalidPayload saying what and where."""

    @pytest.mark.parametrize(
        ("source", "payload", "message"),
        [
            ("nagios", b"{}", "unknown alert source 'nagios'; known: alertmanager, checkly"),
            ("datadog", b'{"title": ', "body is not JSON"),
            ("datadog", b"\xff\xfe{}", "body is not UTF-8"),
            ("datadog", b"[" * 100000 + b"]" * 100000, "nested too deeply"),
            ("datadog", b"[1, 2]", "the body must be a JSON object, got a list"),
            ("checkly", b'{"alert_type": "ALERT_FAILURE"}', "neither check_id nor check_name"),
            ("checkly", b'{"alert_type": ["x"]}', "alert_type must be a string, got a list"),
            ("alertmanager", b'{"alerts": {}}', "alerts must be a list, got an object"),
            ("alertmanager", b'{"alerts": []}', "alerts is empty"),
            ("alertmanager", b'{"alerts": [5]}', "alerts[0] must be a JSON object"),
            (
                "alertmanager",
                b'{"alerts": [{"status": "firing", "labels": {}}]}',
                "alerts[0].labels.alertname is missing",
            ),
            (
                "alertmanager",
                b'{"alerts": [{"status": "pending", "labels": {"alertname": "x"}}]}',
                "alerts[0].status must be firing or resolved",
            ),
            (
                "alertmanager",
                (
                    b'{"alerts": [{"status": "firing", "labels": {"alertname": "x"}, '
                    b'"startsAt": "soon"}]}'
                ),
                "alerts[0].startsAt is not a time",
            ),
            ("incidentio", b'{"title": "t", "status": "firing"}', "deduplication_key is missing"),
            (
                "pagerduty",
                b'{"event_action": "trigger", "payload": {"summary": "s", "severity": "urgent"}}',
                "payload.severity must be one of",
            ),
            ("pagerduty", b'{"event_action": "resolve"}', "needs its dedup_key"),
            ("pagerduty", b'{"event_action": "explode"}', "event_action must be"),
        ],
    )
    def test_errors(self, source: str, payload: bytes, message: str) -> None:
        with pytest.raises(InvalidPayload, match=re.escape(message)):
            ingest.parse(source, payload)

    def test_body_of_the_wrong_type(self) -> None:
        with pytest.raises(InvalidPayload, match="body must be bytes, str or a mapping"):
            ingest.parse("datadog", 42)  # type: ignore[arg-type]

    def test_too_large(self) -> None:
        with pytest.raises(InvalidPayload, match="larger than"):
            ingest.parse("datadog", b" " * (6 * 1024 * 1024))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=25,
)


def _only_invalid_payload(source: str, payload: Any) -> None:
    try:
        alerts = ingest.parse(source, payload)
    except InvalidPayload:
        return
    assert all(isinstance(a, Alert) for a in alerts)


def _mutate(value: Any, path: list[Any], replacement: Any) -> Any:
    if not path or not isinstance(value, (dict, list)) or not value:
        return replacement
    if isinstance(value, dict):
        key = list(value)[path[0] % len(value)]
        return {**value, key: _mutate(value[key], path[1:], replacement)}
    index = path[0] % len(value)
    return [*value[:index], _mutate(value[index], path[1:], replacement), *value[index + 1 :]]


class TestFuzz:
    """For any JSON, any mutation of a real sample and any bytes: InvalidPayload or alerts."""

    @pytest.mark.parametrize("source", sorted(FIRING))
    @given(payload=JSON)
    def test_arbitrary_json(self, source: str, payload: Any) -> None:
        _only_invalid_payload(source, json.dumps(payload).encode())

    @pytest.mark.parametrize("source", sorted(FIRING))
    @given(path=st.lists(st.integers(0, 50), max_size=4), replacement=JSON, drop=st.booleans())
    def test_mutated_samples(
        self, source: str, path: list[int], replacement: Any, drop: bool
    ) -> None:
        sample = data(FIRING[source])
        mutated = _mutate(sample, path, replacement)
        if drop and isinstance(mutated, dict) and mutated:
            mutated.pop(list(mutated)[path[0] % len(mutated) if path else 0])
        _only_invalid_payload(source, mutated)

    @pytest.mark.parametrize("source", sorted(FIRING))
    @given(raw=st.binary(max_size=300))
    def test_arbitrary_bytes(self, source: str, raw: bytes) -> None:
        _only_invalid_payload(source, raw)

    @pytest.mark.parametrize("source", sorted(FIRING))
    @given(cut=st.integers(0, 4000))
    def test_truncated_samples(self, source: str, cut: int) -> None:
        raw = body(FIRING[source])
        _only_invalid_payload(source, raw[: cut % max(len(raw), 1)])


class TestIntoTheFlow:
    """Parsed alerts drive IncidentFlow: repeats attach, recoveries are recorded, not opened."""

    @pytest.mark.parametrize("source", sorted(FIRING))
    def test_fire_repeat_recover(self, source: str) -> None:
        pager = RecordingNotifier()
        flow = IncidentFlow(
            notifier=RecordingNotifier(),
            pager=pager,
            publisher=RecordingPublisher(),
            clock=ManualClock(T0),
        )
        firing = ingest.parse(source, body(FIRING[source]))
        opened = [flow.trigger(a) for a in firing]
        again = [flow.trigger(a) for a in firing]
        assert [i.id for i in again] == [i.id for i in opened]
        assert len(pager.messages) == len(firing)  # one page per alert, none for repeats
        for alert in ingest.parse(source, body(RESOLVED[source])):
            recovered = flow.trigger(alert)
            assert flow.history(recovered.id)[-2].type == "AlertRecovered"
        assert len(flow.incidents()) == len(firing)

    def test_a_recovery_without_an_incident_opens_nothing(self) -> None:
        flow = IncidentFlow(
            notifier=RecordingNotifier(), pager=RecordingNotifier(), publisher=RecordingPublisher()
        )
        (alert,) = ingest.parse("checkly", body("checkly_recovery.json"))
        with pytest.raises(Exception, match="no open incident"):
            flow.trigger(alert)
        assert flow.incidents() == []


def test_sources_and_register() -> None:
    assert ingest.sources() == (
        "alertmanager",
        "checkly",
        "datadog",
        "grafana",
        "incidentio",
        "pagerduty",
    )

    def custom(payload: Any, headers: Any) -> list[Alert]:
        return [Alert(source="custom", name="n", title="t")]

    ingest.register("custom", custom)
    try:
        assert ingest.parse("custom", b"")[0].source == "custom"
    finally:
        ingest._PARSERS.pop("custom")
    with pytest.raises(ValueError, match="source name"):
        ingest.register(" ", custom)


def test_a_parser_bug_still_surfaces_as_invalid_payload() -> None:
    def broken(payload: Any, headers: Any) -> list[Alert]:
        return [attrs.evolve(Alert(source="x", name="n", title="t"), name="")]

    ingest.register("broken", broken)
    try:
        with pytest.raises(InvalidPayload, match=r"broken: Alert\.name must be a non-empty"):
            ingest.parse("broken", b"{}")
    finally:
        ingest._PARSERS.pop("broken")
