"""Severity, Alert, Runbook and RunbookCatalog: small values with clear errors."""

from __future__ import annotations

from datetime import datetime

import pytest

from incident_flow import Alert, Runbook, RunbookCatalog, Severity

from .conftest import T0


class TestSeverity:
    """P1..P5, parsed leniently, ordered by number."""

    def test_parses_any_case(self) -> None:
        assert Severity("P2") is Severity.P2
        assert Severity("p2") is Severity.P2
        assert Severity(" p5 ") is Severity.P5

    def test_rejects_others(self) -> None:
        with pytest.raises(ValueError, match="P6"):
            Severity("P6")

    def test_order_and_rank(self) -> None:
        assert min(Severity) is Severity.P1
        assert sorted([Severity.P3, Severity.P1, Severity.P2]) == [
            Severity.P1,
            Severity.P2,
            Severity.P3,
        ]
        assert Severity.P1.rank == 1
        assert Severity.P1.is_more_severe_than(Severity.P2)
        assert not Severity.P2.is_more_severe_than(Severity.P2)

    def test_is_a_string(self) -> None:
        assert Severity.P1 == "P1"
        assert f"{Severity.P3}" == "P3"


class TestAlert:
    """Alerts validate what they are given and default the dedup key."""

    def test_defaults(self) -> None:
        alert = Alert(source="datadog", name="DiskFull", title="Disk full")
        assert alert.dedup_key == "datadog:DiskFull"
        assert alert.status == "firing"
        assert alert.firing
        assert alert.severity is None
        assert alert.labels == {}

    def test_converts_severity_and_copies_labels(self) -> None:
        labels = {"env": "prod"}
        alert = Alert(source="s", name="n", title="t", severity="p1", labels=labels)
        labels["env"] = "staging"
        assert alert.severity is Severity.P1
        assert alert.labels == {"env": "prod"}

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("source", "", "source must be a non-empty string"),
            ("name", "  ", "name must be a non-empty string"),
            ("title", None, "title must be a non-empty string"),
            ("status", "ok", "status must be 'firing' or 'resolved'"),
            ("started_at", datetime(2025, 1, 1), "timezone-aware"),  # noqa: DTZ001
            ("dedup_key", "", "dedup_key must be a non-empty string"),
        ],
    )
    def test_bad_values_have_clear_errors(self, field: str, value: object, message: str) -> None:
        fields: dict[str, object] = {"source": "s", "name": "n", "title": "t", field: value}
        with pytest.raises(ValueError, match=message):
            Alert(**fields)  # type: ignore[arg-type]

    def test_labels_must_be_a_mapping(self) -> None:
        with pytest.raises(TypeError, match="labels"):
            Alert(source="s", name="n", title="t", labels=["a"])  # type: ignore[arg-type]

    def test_raw_is_kept_but_not_compared(self) -> None:
        a = Alert(source="s", name="n", title="t", raw={"id": 1}, started_at=T0)
        b = Alert(source="s", name="n", title="t", raw={"id": 2}, started_at=T0)
        assert a == b
        assert a.raw == {"id": 1}


class TestRunbookCatalog:
    """The catalog maps alerts to runbooks by glob, in priority order."""

    def test_first_match_wins_case_insensitively(self) -> None:
        specific = Runbook(name="checkout", url="u1", alert="CheckoutHighErrorRate")
        broad = Runbook(name="any-checkout", url="u2", alert="checkout*")
        catalog = RunbookCatalog([specific, broad])
        assert catalog.find(Alert(source="s", name="CheckoutHighErrorRate", title="t")) is specific
        assert catalog.find(Alert(source="s", name="CHECKOUTLatency", title="t")) is broad
        assert catalog.find(Alert(source="s", name="DiskFull", title="t")) is None

    def test_source_restricts_the_match(self) -> None:
        runbook = Runbook(name="dd", url="u", alert="*", source="datadog")
        assert runbook.matches(Alert(source="Datadog", name="x", title="t"))
        assert not runbook.matches(Alert(source="checkly", name="x", title="t"))

    def test_runbook_without_pattern_matches_nothing(self) -> None:
        assert not Runbook(name="manual", url="u").matches(Alert(source="s", name="n", title="t"))

    def test_names_are_unique(self) -> None:
        with pytest.raises(ValueError, match="appears twice"):
            RunbookCatalog([Runbook(name="a", url="u"), Runbook(name="a", url="v")])

    def test_entries_must_be_runbooks(self) -> None:
        with pytest.raises(TypeError, match="Runbook values"):
            RunbookCatalog([{"name": "a"}])  # type: ignore[list-item]

    def test_get_len_iter_and_with_runbooks(self) -> None:
        a = Runbook(name="a", url="u")
        catalog = RunbookCatalog([a])
        assert catalog.get("a") is a
        assert catalog.get("b") is None
        assert len(catalog) == 1
        assert list(catalog) == [a]
        a2 = Runbook(name="a", url="v")
        bigger = catalog.with_runbooks([a2, Runbook(name="b", url="w")])
        assert [r.url for r in bigger] == ["v", "w"]
        assert catalog.get("a") is a

    def test_runbook_needs_name_and_url(self) -> None:
        with pytest.raises(ValueError, match="url"):
            Runbook(name="a", url="")
