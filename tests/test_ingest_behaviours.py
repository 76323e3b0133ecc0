"""Datadog and Alertmanager bodies, pinned by what each field does (issue 33).

Each test names a field a sender fills and what the alert must show for it: the key that ties
a trigger to its recovery, the name, the labels, the refusal text.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from incident_flow import Alert, InvalidPayload, ingest

SAMPLES = Path(__file__).with_name("samples")


def sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SAMPLES / name).read_bytes())
    return loaded


def datadog(**fields: Any) -> Alert:
    """One Datadog alert from a minimal custom payload (Triggered) with ``fields``."""
    payload = {"alert_transition": "Triggered", "title": "Disk full", **fields}
    (alert,) = ingest.parse("datadog", payload)
    return alert


def refused(source: str, payload: Any) -> str:
    with pytest.raises(InvalidPayload) as caught:
        ingest.parse(source, payload)
    return str(caught.value)


class TestDatadogKeys:
    """The dedup key: the monitor and its cycle, its aggregation key or its group."""

    def test_the_cycle_key_alone_keys_an_alert_without_a_monitor(self) -> None:
        alert = datadog(alert_cycle_key="c-9")
        assert alert.dedup_key == "datadog:c-9"
        # A cycle key is Datadog's own identity of the alert: not a fallback, nothing to fix.
        assert "incident_flow.dedup" not in alert.labels
        assert "incident_flow.dedup_fix" not in alert.labels

    def test_the_aggregation_key_stands_in_for_a_missing_cycle_key(self) -> None:
        assert datadog(alert_id="7", aggreg_key="agg-1").dedup_key == "datadog:7:agg-1"
        both = datadog(alert_id="7", alert_cycle_key="c-9", aggreg_key="agg-1")
        assert both.dedup_key == "datadog:7:c-9"

    def test_a_blank_alert_id_falls_to_monitor_id_then_to_the_links(self) -> None:
        assert datadog(alert_id=" ", monitor_id=42).dedup_key == "datadog:42"
        link = "https://app.datadoghq.com/monitors/4242?from_ts=1"
        assert datadog(link=link).dedup_key == "datadog:4242"
        assert datadog(text_only_msg=f"see {link}").dedup_key == "datadog:4242"
        assert datadog(body=f"[[Monitor Status]({link})]").dedup_key == "datadog:4242"

    def test_the_group_comes_from_alert_scope_then_scopes_then_the_title(self) -> None:
        title = "[Triggered on {env:dev}] Disk full"
        assert datadog(alert_id="7", title=title).dedup_key == "datadog:7:scope:env:dev"
        assert (
            datadog(alert_id="7", title=title, scopes=["b:2", "a:1"]).dedup_key
            == "datadog:7:scope:a:1,b:2"
        )
        assert (
            datadog(alert_id="7", title=title, scopes="x:1", alert_scope="{b:2, a:1}").dedup_key
            == "datadog:7:scope:a:1,b:2"
        )

    def test_the_monitor_link_is_read_in_the_first_20000_characters_of_a_message(self) -> None:
        """Bounded (a hostile message cannot make the search slow): a link is read whole there."""
        link = "/monitors/4567"
        inside = "x" * (20_000 - len(link)) + link  # its last digit is character 20,000
        assert datadog(body=inside).dedup_key == "datadog:4567"
        straddling = "x" * (20_000 - len("/monitors/")) + link  # its digits begin after
        alert = datadog(body=straddling)
        assert alert.dedup_key == "datadog:title:Disk full"
        assert "monitor_id" not in alert.labels

    def test_a_title_key_names_the_host_and_the_title_with_their_spaces_collapsed(self) -> None:
        """The fallback key is read in the timeline: one space between words, as written."""
        alert = datadog(title="[Triggered]  Disk \t full ", hostname=" web  01 ")
        assert alert.dedup_key == "datadog:title:Disk full:host:web 01"
        assert datadog(title="[Recovered] Disk full", hostname="web 01").dedup_key == (
            alert.dedup_key
        )

    def test_a_group_is_kept_as_written_but_for_braces_and_spaces(self) -> None:
        assert datadog(alert_id="7", alert_scope=" {host:web-X} ").dedup_key == (
            "datadog:7:scope:host:web-X"
        )
        for title in ("[Triggered on { host:web-X }] Disk full", "[Triggered on {host:web-X}] x"):
            assert datadog(alert_id="7", title=title).dedup_key == "datadog:7:scope:host:web-X"

    def test_without_monitor_or_cycle_the_fallback_says_what_to_add(self) -> None:
        """Issue 28: never refused (the page would be lost); keyed by title, and said so."""
        alert = datadog(alert_transition="Triggered", title="Disk full")
        assert alert.dedup_key == "datadog:title:Disk full"
        assert alert.labels["incident_flow.dedup"] == "fallback"
        assert alert.labels["incident_flow.dedup_fix"] == (
            'add "alert_id": "$ALERT_ID", "alert_cycle_key": "$ALERT_CYCLE_KEY" and '
            '"alert_scope": "$ALERT_SCOPE" to the Datadog webhook\'s payload: until then its '
            "alerts are keyed by their title (see docs/ingestion.md)"
        )


class TestDatadogFields:
    """Titles, labels and refusals."""

    def test_alert_title_is_preferred_to_title_and_a_bare_title_is_kept(self) -> None:
        alert = datadog(
            alert_id="7",
            alert_transition="",
            alert_title="[Warn] Disk 91%",
            title="[P1] [Triggered] x",
        )
        assert (alert.name, alert.title, alert.severity) == ("Disk 91%", "Disk 91%", "P3")
        bare = datadog(alert_id="7", title="  Disk 91%  ")
        assert (bare.name, bare.title) == ("Disk 91%", "Disk 91%")

    def test_labels_are_the_tags_and_what_the_monitor_says_nothing_more(self) -> None:
        plain = datadog(alert_id="7")
        assert dict(plain.labels) == {"monitor_id": "7", "transition": "triggered"}
        tagged = datadog(alert_id="7", tags="team:db, url:https://x.example/a, solo")
        assert dict(tagged.labels) == {
            "team": "db",
            "url": "https://x.example/a",  # a tag's value may hold colons
            "solo": "",
            "monitor_id": "7",
            "transition": "triggered",
        }
        scoped = datadog(alert_id="7", alert_scope="env:prod")
        assert dict(scoped.labels) == {
            "monitor_id": "7",
            "alert_scope": "env:prod",
            "transition": "triggered",
        }
        titled = datadog(alert_id="7", title="[Triggered on {env:prod}] Disk full")
        assert dict(titled.labels) == {
            "monitor_id": "7",
            "scope": "env:prod",
            "transition": "triggered",
        }

    def test_refusals_name_the_source_and_the_known_transitions(self) -> None:
        known = "re-no data, re-triggered, re-warn, recovered, renotify, triggered, warn"
        assert refused("datadog", {"title": "Disk full", "alert_id": "7"}) == (
            "datadog: no alert_transition and no [Triggered]/[Recovered]-style title prefix; "
            f"known transitions: no data, {known}"
        )
        assert refused("datadog", {"alert_transition": "Boom", "title": "x", "alert_id": "7"}) == (
            f"datadog: alert_transition 'boom' is not one of no data, {known}"
        )
        assert refused("datadog", b"{not json").startswith("datadog: ")
        assert refused("datadog", {"alert_transition": 5, "title": "x"}).startswith("datadog: ")
        not_text = {"alert_transition": "Triggered", "title": ["x"], "alert_id": "7"}
        assert refused("datadog", not_text).startswith("datadog: ")


class TestDatadogSample:
    """The recommended custom payload, read field by field."""

    def test_every_field_of_the_sample(self) -> None:
        payload = sample("datadog_triggered.json")
        (alert,) = ingest.parse("datadog", payload)
        assert alert.name == alert.title == "Checkout API 5xx error rate above 5%"
        assert (alert.severity, alert.status) == ("P1", "firing")
        assert alert.dedup_key == "datadog:148275309:7716548234009876543"
        assert alert.description == payload["text_only_msg"]
        assert alert.url == payload["link"]
        assert alert.started_at == datetime(2025, 6, 3, 14, 2, 11, tzinfo=UTC)
        assert dict(alert.labels) == {
            "env": "prod",
            "monitor": "",
            "service": "checkout-api",
            "team": "payments",
            "monitor_id": "148275309",
            "event_type": "query_alert_monitor",
            "alert_metric": "trace.http.request.errors",
            "alert_scope": "env:prod,service:checkout-api",
            "transition": "triggered",
        }  # hostname is empty in the sample: no label

    def test_a_hostname_is_a_label(self) -> None:
        assert datadog(alert_id="7", hostname="db-1").labels["hostname"] == "db-1"

    def test_the_description_is_the_text_message_else_the_body_else_nothing(self) -> None:
        assert datadog(alert_id="7", text_only_msg="T", body="B").description == "T"
        assert datadog(alert_id="7", body="B").description == "B"
        assert datadog(alert_id="7").description == ""

    def test_the_start_is_date_else_last_updated_else_unknown(self) -> None:
        at = datetime(2025, 6, 3, 14, 2, 11, tzinfo=UTC)
        millis = str(int(at.timestamp() * 1000))
        later = str(int(at.timestamp() * 1000) + 60_000)
        assert datadog(alert_id="7", date=millis, last_updated=later).started_at == at
        assert datadog(alert_id="7", last_updated=millis).started_at == at
        assert datadog(alert_id="7").started_at is None


class TestAlertmanagerNames:
    """An alert without ``alertname`` takes its group's."""

    @pytest.mark.parametrize("key", ["commonLabels", "groupLabels"])
    def test_the_groups_alertname_names_an_alert_without_one(self, key: str) -> None:
        body = sample("alertmanager_firing.json")
        body["commonLabels"], body["groupLabels"] = {}, {}
        body[key] = {"alertname": "DiskFull"}
        for alert in body["alerts"]:
            alert["labels"].pop("alertname", None)
        alerts = ingest.parse("alertmanager", body)
        assert alerts and {a.name for a in alerts} == {"DiskFull"}

    @pytest.mark.parametrize("label", ["rulename", "__alert_rule_title__"])
    def test_a_rule_name_names_an_alert_nothing_else_names(self, label: str) -> None:
        (alert,) = ingest.parse("alertmanager", am_alert(labels={label: "Disk full", "a": "1"}))
        assert (alert.name, alert.title) == ("Disk full", "Disk full")

    def test_an_alert_nothing_names_is_refused_saying_where_names_come_from(self) -> None:
        assert refused("alertmanager", am_alert(labels={"a": "1"})) == (
            "alertmanager: alerts[0].labels.alertname is missing, and neither the group's "
            "labels nor a rule name or summary names the alert"
        )


def am_alert(
    labels: dict[str, str],
    annotations: dict[str, str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """An Alertmanager group of one firing alert, with no group labels."""
    alert = {"status": "firing", "labels": labels, "annotations": annotations or {}, **fields}
    return {"status": "firing", "alerts": [alert]}


class TestAlertmanagerAlerts:
    """Titles, a derived fingerprint and the generator's URL."""

    def test_the_title_is_summary_then_title_then_message_then_the_name(self) -> None:
        def title(annotations: dict[str, str]) -> tuple[str, str]:
            (alert,) = ingest.parse("alertmanager", am_alert({"alertname": "A"}, annotations))
            return alert.title, alert.description

        assert title({"summary": "S", "title": "T", "message": "M"}) == ("S", "M")
        assert title({"title": "T", "message": "M"}) == ("T", "M")
        assert title({"message": " M "}) == ("M", "M")
        assert title({}) == ("A", "")

    def test_without_a_fingerprint_the_key_is_the_sorted_labels_hashed(self) -> None:
        (alert,) = ingest.parse("alertmanager", am_alert({"b": "2", "alertname": "A"}))
        canonical = "alertname=A\x1fb=2"
        digest = hashlib.sha256(canonical.encode()).hexdigest()[:16]
        assert alert.dedup_key == f"alertmanager:{digest}"
        (again,) = ingest.parse("alertmanager", am_alert({"alertname": "A", "b": "2"}))
        assert again.dedup_key == alert.dedup_key  # however the labels are ordered

    @pytest.mark.parametrize(
        ("external", "generator", "expected"),
        [
            (
                "http://am.example:9093",
                "/graph?g0.expr=up",
                "http://am.example:9093/graph?g0.expr=up",
            ),
            ("https://x.example/prom/", "/graph", "https://x.example/prom/graph"),
            ("http://x.example/prom", "graph", "http://x.example/prom/graph"),
            ("http://x.example/X", "/graph", "http://x.example/X/graph"),
            ("http://x.example", "X/graph", "http://x.example/X/graph"),
            ("", "/graph", "/graph"),  # nothing to join with: left as sent
            ("am.example", "/graph", "/graph"),  # not a URL
            ("http://am.example", "https://prom.example/graph", "https://prom.example/graph"),
        ],
    )
    def test_a_relative_generator_url_is_joined_with_the_external_url(
        self, external: str, generator: str, expected: str
    ) -> None:
        body = am_alert({"alertname": "A"}, generatorURL=generator)
        body["externalURL"] = external
        (alert,) = ingest.parse("alertmanager", body)
        assert alert.url == expected

    def test_the_runbook_is_a_label_or_annotation_runbook_url_else_runbook(self) -> None:
        def runbook(labels: dict[str, str], annotations: dict[str, str]) -> str | None:
            body = am_alert({"alertname": "A", **labels}, annotations)
            (alert,) = ingest.parse("alertmanager", body)
            return alert.runbook_url

        assert runbook({"runbook_url": "https://r/1"}, {"runbook": "https://r/2"}) == "https://r/1"
        assert runbook({}, {"runbook_url": "https://r/1", "runbook": "https://r/2"}) == (
            "https://r/1"
        )
        assert runbook({}, {"runbook": "https://r/2"}) == "https://r/2"
        assert runbook({}, {}) is None

    def test_refusals_name_the_source(self) -> None:
        assert refused("alertmanager", b"{not json").startswith("alertmanager: ")
        assert refused("alertmanager", {"alerts": "x"}).startswith("alertmanager: ")
        assert refused("alertmanager", {"alerts": []}) == "alertmanager: alerts is empty"
