"""Policy: the seed's standards by default, and TOML files that report every problem."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from incident_flow import InvalidPolicy, Policy, Runbook, Severity


class TestDefaultPolicy:
    """Policy.default() encodes the seed process."""

    def test_critical_and_postmortem_severities(self) -> None:
        policy = Policy.default()
        assert policy.critical == {Severity.P1, Severity.P2}
        assert policy.postmortem_required == {Severity.P1, Severity.P2}
        assert [s for s in Severity if policy.is_critical(s)] == [Severity.P1, Severity.P2]
        assert not policy.requires_postmortem(Severity.P3)

    def test_reviewers_folder_default_severity(self) -> None:
        policy = Policy.default()
        assert policy.postmortem_reviewers == 2
        assert policy.postmortem_folder == "postmortems"
        assert policy.default_severity is Severity.P3

    def test_ack_timeouts_and_descriptions(self) -> None:
        policy = Policy.default()
        assert policy.ack_timeout_for(Severity.P1) == timedelta(minutes=5)
        assert policy.ack_timeout_for(Severity.P2) == timedelta(minutes=15)
        assert policy.ack_timeout_for(Severity.P4) is None
        assert set(policy.descriptions) == set(Severity)
        assert all(text for text in policy.descriptions.values())

    def test_catalog_starts_empty(self) -> None:
        assert len(Policy.default().runbooks) == 0

    def test_constructor_converts(self) -> None:
        policy = Policy(
            critical=["P1"],
            default_severity="p4",
            runbooks=[Runbook(name="a", url="u")],
            descriptions={"P1": "fire"},
        )
        assert policy.critical == {Severity.P1}
        assert policy.default_severity is Severity.P4
        assert policy.runbooks.get("a") is not None
        assert policy.descriptions[Severity.P1] == "fire"
        assert policy.descriptions[Severity.P2]  # the others keep their defaults

    def test_negative_reviewers_refused(self) -> None:
        with pytest.raises(ValueError, match="postmortem_reviewers"):
            Policy(postmortem_reviewers=-1)


GOOD = """
critical = ["P1"]
postmortem_required = ["P1", "P2"]
postmortem_reviewers = 3
postmortem_folder = "docs/postmortems"
default_severity = "P4"

[ack_timeout]
P1 = "2m"
P2 = 600

[descriptions]
P1 = "Checkout or payments down"

[[runbooks]]
name = "checkout-errors"
url = "https://runbooks.example/checkout"
alert = "Checkout*"
source = "datadog"
severity = "P2"
description = "Checkout returns 5xx"
"""


class TestPolicyFromToml:
    """from_toml reads every key and reports every problem with its path."""

    def test_reads_a_full_file(self, tmp_path: Path) -> None:
        path = tmp_path / "policy.toml"
        path.write_text(GOOD)
        policy = Policy.from_toml(path)
        assert policy.critical == {Severity.P1}
        assert policy.postmortem_required == {Severity.P1, Severity.P2}
        assert policy.postmortem_reviewers == 3
        assert policy.postmortem_folder == "docs/postmortems"
        assert policy.default_severity is Severity.P4
        assert policy.ack_timeout == {
            Severity.P1: timedelta(minutes=2),
            Severity.P2: timedelta(seconds=600),
        }
        assert policy.descriptions[Severity.P1] == "Checkout or payments down"
        runbook = policy.runbooks.get("checkout-errors")
        assert runbook is not None
        assert runbook.severity is Severity.P2
        assert runbook.source == "datadog"

    def test_empty_file_is_the_default(self, tmp_path: Path) -> None:
        path = tmp_path / "policy.toml"
        path.write_text("")
        assert Policy.from_toml(path) == Policy.default()

    def test_every_problem_is_reported_with_its_path(self, tmp_path: Path) -> None:
        path = tmp_path / "policy.toml"
        path.write_text(
            """
critical = ["P1", "P7"]
postmortem_reviewers = "two"
postmortem_folder = ""
default_severity = "high"
paging = true

[ack_timeout]
P1 = "soon"
P9 = "5m"

[descriptions]
P1 = 5

[[runbooks]]
url = "https://x"
colour = "red"

[[runbooks]]
name = "a"
url = "https://a"
severity = "urgent"

[[runbooks]]
name = "b"
url = "https://b"

[[runbooks]]
name = "b"
url = "https://b2"
"""
        )
        with pytest.raises(InvalidPolicy) as info:
            Policy.from_toml(path)
        problems = info.value.problems
        expected = [
            "paging: unknown key",
            "critical[1]: must be one of P1..P5, got 'P7'",
            "postmortem_reviewers: must be a whole number >= 0, got 'two'",
            "postmortem_folder: must be a non-empty string",
            "default_severity: must be one of P1..P5, got 'high'",
            "ack_timeout.P1: must be a positive duration",
            "ack_timeout.P9: must be one of P1..P5",
            "descriptions.P1: must be a string",
            "runbooks[0].colour: unknown key",
            "runbooks[0].name: missing",
            "runbooks[1].severity: must be one of P1..P5, got 'urgent'",
            "runbooks[3].name: 'b' is already used",
        ]
        for text in expected:
            assert any(p.startswith(text) for p in problems), (text, problems)
        assert len(problems) == len(expected)
        assert str(path) in str(info.value)
        assert "12 problem(s)" in str(info.value)

    def test_not_toml(self, tmp_path: Path) -> None:
        path = tmp_path / "policy.toml"
        path.write_text("critical = [")
        with pytest.raises(InvalidPolicy, match="not valid TOML"):
            Policy.from_toml(path)

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(InvalidPolicy, match="cannot read"):
            Policy.from_toml(tmp_path / "nope.toml")

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            ({"critical": "P1"}, "critical: must be a list"),
            ({"ack_timeout": 5}, "ack_timeout: must be a table"),
            ({"runbooks": {"name": "a"}}, "runbooks: must be an array of tables"),
            ({"runbooks": ["a"]}, "runbooks[0]: must be a table"),
            ({"runbooks": [{"name": "a", "url": 3}]}, "runbooks[0].url: must be a non-empty"),
            (
                {"runbooks": [{"name": "a", "url": "u", "alert": 3}]},
                "runbooks[0].alert: must be a string",
            ),
            ({"ack_timeout": {"P1": -5}}, "ack_timeout.P1: must be a positive duration"),
            ({"ack_timeout": {"P1": True}}, "ack_timeout.P1: must be a positive duration"),
        ],
    )
    def test_shapes(self, data: dict[str, object], message: str) -> None:
        with pytest.raises(InvalidPolicy) as info:
            Policy.from_mapping(data)
        assert any(p.startswith(message) for p in info.value.problems), info.value.problems

    @pytest.mark.parametrize(
        ("text", "seconds"), [("90s", 90), ("5m", 300), ("1.5h", 5400), ("1d", 86400), ("45", 45)]
    )
    def test_durations(self, text: str, seconds: int) -> None:
        policy = Policy.from_mapping({"ack_timeout": {"P1": text}})
        assert policy.ack_timeout[Severity.P1] == timedelta(seconds=seconds)


class TestPostmortemReview:
    """Who reviews a post-mortem and who merges it, from TOML."""

    def test_pool_order_and_merge_from_toml(self) -> None:
        policy = Policy.from_text(
            'postmortem_review_pool = ["bob", " carol "]\n'
            'postmortem_review_order = "rotation"\n'
            'postmortem_merge = "manual"\n'
        )
        assert policy.postmortem_review_pool == ("bob", "carol")
        assert policy.postmortem_review_order == "rotation"
        assert policy.postmortem_merge == "manual"
        assert set(policy.postmortem_reviewers_for("inc-1", "alice")) == {"bob", "carol"}
        assert policy.postmortem_reviewers_for("inc-1", "Bob") == ("carol",)

    def test_wrong_values_are_reported_with_their_paths(self) -> None:
        with pytest.raises(InvalidPolicy) as info:
            Policy.from_text(
                'postmortem_review_pool = "bob"\n'
                'postmortem_review_order = "random"\n'
                'postmortem_merge = "yes"\n'
            )
        text = str(info.value)
        assert "postmortem_review_pool: must be a list of non-empty names" in text
        assert "postmortem_review_order: must be one of list, rotation" in text
        assert "postmortem_merge: must be one of auto, manual" in text

    def test_required_sections_from_toml(self) -> None:
        assert Policy().postmortem_required_sections == ("impact", "root_cause")
        policy = Policy.from_text('postmortem_required_sections = ["learnings", "impact"]\n')
        assert policy.postmortem_required_sections == ("learnings", "impact")
        none = Policy.from_text("postmortem_required_sections = []\n")
        assert none.postmortem_required_sections == ()
        with pytest.raises(InvalidPolicy) as info:
            Policy.from_text(
                'postmortem_required_sections = ["impact", "cause"]\npostmortem_folder = "pm"\n'
            )
        assert (
            "postmortem_required_sections[1]: must be one of impact, root_cause, learnings, "
            "got 'cause'"
        ) in str(info.value)
        with pytest.raises(InvalidPolicy, match="postmortem_required_sections: must be a list"):
            Policy.from_text("postmortem_required_sections = true\n")
        with pytest.raises(ValueError, match="'summary' is not a section"):
            Policy(postmortem_required_sections=["impact", "summary"])
        with pytest.raises(ValueError, match="must be a list of sections"):
            Policy(postmortem_required_sections="impact")  # type: ignore[arg-type]

    def test_the_constructor_checks_too(self) -> None:
        for bad in ({"postmortem_review_pool": "bob"}, {"postmortem_review_pool": [""]}):
            with pytest.raises(ValueError, match="postmortem_review_pool"):
                Policy(**bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="postmortem_merge"):
            Policy(postmortem_merge="sometimes")
