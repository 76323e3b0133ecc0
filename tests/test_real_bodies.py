"""What other people's real webhook bodies become (``samples/real``; origins in its README).

Each body's expectation is written from the body itself (and the collectors' notes), not from
what the parser happened to return: the status, the name, the severity, or the refusal and
why. The dedup tests hold the one property that matters most: a recovery carries its own
trigger's key, and two different alerts never share one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from incident_flow import Alert, InvalidPayload, Severity, ingest

REAL = Path(__file__).with_name("samples") / "real"
P1, P2, P3, P4 = Severity.P1, Severity.P2, Severity.P3, Severity.P4

#: (source, file) -> [(status, name, severity), ...] for every alert in the body, in order.
ALERTS: dict[tuple[str, str], list[tuple[str, str, Severity | None]]] = {
    # Datadog: keep's captured bodies (monitor_id, scopes), nudgebee's, relay's default payload.
    ("datadog", "keep_error_monitor_grafana_legacy_triggered"): [("firing", "Error monitor", P2)],
    ("datadog", "keep_error_monitor_grafana_legacy_recovered"): [
        ("resolved", "Error monitor", None)
    ],
    ("datadog", "keep_error_monitor_keep_api_triggered"): [("firing", "Error monitor", P2)],
    ("datadog", "keep_error_monitor_keep_api_recovered"): [("resolved", "Error monitor", None)],
    ("datadog", "keep_operationalerror_grafana_legacy_triggered"): [
        ("firing", "OperationalError DB", P2)
    ],
    ("datadog", "keep_operationalerror_grafana_legacy_recovered"): [
        ("resolved", "OperationalError DB", None)
    ],
    ("datadog", "keep_operationalerror_improvedocs_triggered"): [
        ("firing", "OperationalError DB", P2)
    ],
    # "[P2] [Warn] ..." and "[P2] [Recovered] ...": the monitor's priority is in the title.
    ("datadog", "keep_p2_unauthorized_access_warn"): [
        ("firing", "Unauthorized access to API keep-api", P2)
    ],
    ("datadog", "keep_p2_unauthorized_access_recovered"): [
        ("resolved", "Unauthorized access to API", P2)
    ],
    ("datadog", "keep_p2_unauthorized_access_triggered"): [
        ("firing", "Unauthorized access to API keep-api", P2)
    ],
    ("datadog", "keep_db_weird_triggered"): [("firing", "Somethine weird in DB", P2)],
    ("datadog", "nudgebee_p2_error_tracking_triggered"): [
        ("firing", "[New issue] New issue to review", P2)
    ],
    ("datadog", "nudgebee_p2_error_tracking_recovered"): [
        ("resolved", "[] New issue to review", P2)
    ],
    # The default payload: the status from the title, the monitor from the links in the body.
    ("datadog", "relay_default_payload_test_triggered"): [
        ("firing", "[TEST] Host Cluster Alert", P2)
    ],
    # InRes' template: no alert_id, no cycle key; a P1 must still open (on a fallback key).
    ("datadog", "inres_p1_high_tracking_triggered"): [("firing", "High tracking", P1)],
    ("datadog", "inres_p1_high_tracking_recovered"): [("resolved", "High tracking", P1)],
    # The same template as captured: the monitor's link in the message keys it.
    ("datadog", "inres_docs_high_tracking_triggered"): [("firing", "High tracking", P1)],
    # Checkly: keep's lowercase template, srebot's UPPERCASE one.
    ("checkly", "keep_api_check_1_recovery"): [("resolved", "API Check #1", None)],
    ("checkly", "srebot_fail50_failure_uppercase"): [("firing", "fail50", P2)],
    ("checkly", "srebot_get_books_failure_uppercase"): [("firing", "GET /books", P2)],
    # PagerDuty: Events API v2 and v1, from PagerDuty's docs.
    ("pagerduty", "docs_v2_trigger"): [("firing", "deploy", P4)],
    ("pagerduty", "docs_v2_resolve"): [("resolved", "dedupkeyhere", None)],
    ("pagerduty", "docs_v1_trigger"): [
        ("firing", "FAILURE for production/HTTP on machine srv01.acme.com", None)
    ],
    ("pagerduty", "docs_v1_resolve"): [("resolved", "srv01/HTTP", None)],
    # Grafana unified alerting (zulip's, grafana/alerting's own).
    ("grafana", "zulip_alert-9_firing"): [("firing", "Test alert", None)],
    ("grafana", "zulip_alert-9_resolved"): [("resolved", "Test alert", None)],
    ("grafana", "zulip_alert-9_multiple_3_firing"): [
        ("firing", "Test alert", None),
        ("firing", "Test alert", None),
        ("firing", "Second webhook test", None),
    ],
    # The group says firing; its alerts say otherwise, and each alert's own status counts.
    ("grafana", "zulip_alert-9_mixed_firing_resolved"): [
        ("resolved", "Test alert", None),
        ("resolved", "Test alert", None),
        ("firing", "Second webhook test", None),
    ],
    ("grafana", "zulip_alert_new_multiple"): [
        ("firing", "High memory usage", None),
        ("firing", "High CPU usage", None),
    ],
    # No labels.alertname: the group's labels name it.
    ("grafana", "zulip_alert_no_alertname_v11"): [("firing", "Memory (copy)", None)],
    ("grafana", "grafana-alerting_default_payload_one_alert"): [("firing", "alert1", None)],
    # Alertmanager: zulip's, alerta's, grafana/oncall's, kubesphere's, prometheus-msteams'.
    ("alertmanager", "zulip_alert_2_firing"): [
        ("firing", "High CPU Temperature", P1),
        ("firing", "High CPU Temperature", P1),
    ],
    ("alertmanager", "zulip_single_alert_no_url"): [("firing", "High CPU Temperature", P1)],
    ("alertmanager", "zulip_single_alert_resolved"): [("resolved", "High CPU Temperature", P1)],
    ("alertmanager", "alerta_v4_thing_dead"): [("firing", "thing_dead", P1)],
    ("alertmanager", "oncall_instancedown_3_alerts_title_annotation"): [
        ("firing", "InstanceDown", P1)
    ]
    * 3,
    # No per-alert status: the group's.
    ("alertmanager", "prometheus-msteams_prom_post_request"): [("firing", "high_memory_load", P3)],
    ("alertmanager", "notification-manager_cputhrottling_9_alerts"): [
        ("firing", "CPUThrottlingHigh", P3)
    ]
    * 9,
    ("alertmanager", "notification-manager_kubepodnotready"): [
        ("firing", "KubePodNotReady", P1),
        ("firing", "KubePodNotReady", P1),
    ],
    # "Warning" spelled with a capital, a relative generatorURL.
    ("alertmanager", "ericsson_resolved_relative_generatorurl"): [("resolved", "Deployment", P3)],
    # incident.io: the HTTP alert source and the public alert webhook.
    ("incidentio", "docs_alert_event_http_createhttp_firing"): [
        ("firing", "*errors.withMessage: PG::Error failed to connect", None)
    ],
    ("incidentio", "docs_webhook_public_alert_alert_created_v1"): [
        ("firing", "*errors.withMessage: PG::Error failed to connect", None)
    ],
}

#: Bodies that open nothing, and say so by returning no alert.
NOTHING = [
    ("grafana", "zulip_alert_v8_test_notification"),  # the contact point's Test button
    ("grafana", "keep_grafana12_test_notification_relative_generatorurl"),
    ("pagerduty", "docs_v1_acknowledge"),  # an acknowledgement is not an alert
    ("pagerduty", "docs_v2_acknowledge"),
    ("incidentio", "docs_webhook_private_incident_action_created_v1"),  # not about an alert
    ("incidentio", "docs_webhook_public_incident_follow_up_updated_v2"),
]

#: Bodies refused, and the reason the refusal must give.
REFUSED = {
    ("grafana", "zulip_legacy_alert_test_notification"): "legacy alerting body",
    ("grafana", "zulip_legacy_alert_ok"): "legacy alerting body",
    ("grafana", "zulip_legacy_no_data_alert_v7"): "legacy alerting body",
    ("grafana", "alerta_legacy_alerting_zeta_cpu"): "legacy alerting body",
    ("grafana", "alerta_legacy_ok_zeta_cpu"): "legacy alerting body",
    ("grafana", "alerta_legacy_grafana6_battery_tags_severity"): "legacy alerting body",
    ("pagerduty", "docs_change_event"): "change event",
    ("pagerduty", "go_pagerduty_change_event"): "change event",
    # Checkly's docs example templates: nothing says what happened or to which check.
    ("checkly", "docs_rendered_check_is_down"): r"alert_type is missing.*\{\{ALERT_TYPE\}\}",
    ("checkly", "docs_rendered_ssl_expiry"): r"alert_type is missing.*\{\{ALERT_TYPE\}\}",
}

#: A trigger and its own recovery (source, trigger file, alert index, recovery file, index).
PAIRS = [
    ("datadog", "keep_error_monitor_grafana_legacy_triggered", 0,
     "keep_error_monitor_grafana_legacy_recovered", 0),
    ("datadog", "keep_error_monitor_keep_api_triggered", 0,
     "keep_error_monitor_keep_api_recovered", 0),
    ("datadog", "keep_operationalerror_grafana_legacy_triggered", 0,
     "keep_operationalerror_grafana_legacy_recovered", 0),
    # The titles differ ("... keep-api" and "... "): the monitor and scope link them.
    ("datadog", "keep_p2_unauthorized_access_warn", 0,
     "keep_p2_unauthorized_access_recovered", 0),
    # No id at all: the title without its "[P1] [Triggered]" prefix links them.
    ("datadog", "inres_p1_high_tracking_triggered", 0,
     "inres_p1_high_tracking_recovered", 0),
    # The summary differs between them: the fingerprint links them.
    ("grafana", "zulip_alert-9_firing", 0, "zulip_alert-9_resolved", 0),
    ("grafana", "zulip_alert-9_multiple_3_firing", 0,
     "zulip_alert-9_mixed_firing_resolved", 0),
    ("grafana", "zulip_alert-9_multiple_3_firing", 1,
     "zulip_alert-9_mixed_firing_resolved", 1),
    ("alertmanager", "zulip_alert_2_firing", 0, "zulip_single_alert_resolved", 0),
]  # fmt: skip


def parsed(source: str, name: str) -> list[Alert]:
    return ingest.parse(source, (REAL / source / f"{name}.json").read_bytes())


def test_every_real_body_has_an_expectation() -> None:
    on_disk = {(p.parent.name, p.stem) for p in REAL.glob("*/*.json")}
    stated = {*ALERTS, *NOTHING, *REFUSED}
    assert on_disk == stated
    assert len(on_disk) >= 40
    assert {source for source, _ in on_disk} == set(ingest.sources())


def _ids(cases: object) -> list[str]:
    return [f"{source}/{name}" for source, name in cases]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("source", "name"), sorted(ALERTS), ids=_ids(sorted(ALERTS)))
def test_what_each_body_becomes(source: str, name: str) -> None:
    alerts = parsed(source, name)
    assert [(a.status, a.name, a.severity) for a in alerts] == ALERTS[source, name]
    assert all(a.source == source and a.dedup_key.startswith(f"{source}:") for a in alerts)


@pytest.mark.parametrize(("source", "name"), NOTHING, ids=_ids(NOTHING))
def test_bodies_that_open_nothing(source: str, name: str) -> None:
    assert parsed(source, name) == []


@pytest.mark.parametrize(("source", "name"), sorted(REFUSED), ids=_ids(sorted(REFUSED)))
def test_bodies_refused_with_their_reason(source: str, name: str) -> None:
    with pytest.raises(InvalidPayload, match=REFUSED[source, name]):
        parsed(source, name)


@pytest.mark.parametrize(("source", "trigger", "i", "recovery", "j"), PAIRS)
def test_each_recovery_carries_its_own_triggers_key(
    source: str, trigger: str, i: int, recovery: str, j: int
) -> None:
    up, down = parsed(source, trigger)[i], parsed(source, recovery)[j]
    assert (up.status, down.status) == ("firing", "resolved")
    assert up.dedup_key == down.dedup_key


def _identity(alert: Alert) -> tuple[str, ...]:
    """What makes two alerts one, read from the raw body (never from the key under test)."""
    raw = alert.raw
    if alert.source == "datadog":
        scope = ",".join(sorted(s.strip() for s in str(raw.get("scopes") or "").split(",")))
        title = str(raw.get("title", ""))
        on = title.split(" on ", 1)[1].split("]", 1)[0] if " on " in title else ""
        return (str(raw.get("monitor_id") or alert.labels.get("monitor_id")), scope or on)
    if alert.source in ("grafana", "alertmanager"):
        return (str(raw.get("fingerprint") or sorted(raw.get("labels", {}).items())),)
    return (alert.dedup_key,)


def test_no_two_different_alerts_share_a_key() -> None:
    """Across every firing and resolved alert of a source: one key, one alert."""
    for source in ingest.sources():
        owners: dict[str, set[tuple[str, ...]]] = {}
        for src, name in ALERTS:
            if src != source:
                continue
            for alert in parsed(src, name):
                owners.setdefault(alert.dedup_key, set()).add(_identity(alert))
        shared = {key: who for key, who in owners.items() if len(who) > 1}
        assert shared == {}, f"{source}: one key for different alerts: {shared}"


def test_one_incidentio_alert_by_either_path_is_one_alert() -> None:
    """The HTTP alert source and the public alert webhook name the same alert alike."""
    (http,) = parsed("incidentio", "docs_alert_event_http_createhttp_firing")
    (hook,) = parsed("incidentio", "docs_webhook_public_alert_alert_created_v1")
    assert http.dedup_key == hook.dedup_key == "incidentio:4293868629"


def test_only_a_body_without_any_id_is_keyed_by_its_title_and_says_so() -> None:
    """The fallback is marked (the service's answer and the docs say how to add the ids)."""
    for source, name in ALERTS:
        if source != "datadog":
            continue
        for alert in parsed(source, name):
            guessed = alert.labels.get("incident_flow.dedup") == "fallback"
            assert guessed == name.startswith("inres_p1_"), name
            assert guessed == alert.dedup_key.startswith("datadog:title:"), name
    (docs,) = parsed("datadog", "inres_docs_high_tracking_triggered")
    assert docs.dedup_key == "datadog:221164084"  # its message links the monitor


def test_same_title_different_group_never_merges() -> None:
    """Datadog's multi-alert monitors: one title, groups of their own."""
    legacy = parsed("datadog", "keep_operationalerror_grafana_legacy_triggered")[0]
    docs = parsed("datadog", "keep_operationalerror_improvedocs_triggered")[0]
    assert legacy.title == docs.title and legacy.dedup_key != docs.dedup_key
    one = parsed("datadog", "keep_error_monitor_grafana_legacy_triggered")[0]
    other = parsed("datadog", "keep_error_monitor_keep_api_triggered")[0]
    assert one.title == other.title and one.dedup_key != other.dedup_key
    # Two monitors with the same scope string are two alerts too.
    assert one.labels["scope"] == legacy.labels["scope"] and one.dedup_key != legacy.dedup_key
