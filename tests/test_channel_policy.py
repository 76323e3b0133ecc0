"""A channel per incident as policy: severities, the name pattern, archive; names from titles."""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from incident_flow import IncidentChannels, InvalidPolicy, Policy, Severity, Team
from incident_flow._core.rooms import (
    MAX_NAME,
    NOT_OPENED,
    channel_name,
    incident_channels,
    name_problem,
    read_receipt,
    slug,
)
from incident_flow.cli import main

#: Slack's rules for a channel's name, as we keep them (lowercase letters, digits, - and _).
VALID = re.compile(r"[a-z0-9][a-z0-9_-]{0,79}")
AT = datetime(2026, 12, 7, 23, 59, tzinfo=UTC)


def _name(title: str, pattern: str = "inc-{date}-{slug}", **more: object) -> str:
    fields: dict = {  # type: ignore[type-arg]
        "incident_id": "inc-3f2a9c1d0b7e",
        "title": title,
        "opened_at": AT,
        "severity": Severity.P1,
        **more,
    }
    return channel_name(pattern, **fields)


class TestNames:
    """Any title makes a valid Slack channel name; the date and id are never cut."""

    def test_the_default_pattern(self) -> None:
        assert _name("Checkout errors") == "inc-2026-12-07-checkout-errors"

    @pytest.mark.parametrize(
        ("title", "expected"),
        [
            ("<!channel> @here *DB* down", "inc-2026-12-07-channel-here-db-down"),
            ("<https://evil.example|click> me", "inc-2026-12-07-https-evil-example-click-me"),
            ("🔥🔥 Café façade 🔥", "inc-2026-12-07-cafe-facade"),
            ("\u202eetad\u202c rtl \x00 \x1b[31m", "inc-2026-12-07-etad-rtl-31m"),
            ("../../general", "inc-2026-12-07-general"),
            ("🔥", "inc-2026-12-07-incident"),
            ("", "inc-2026-12-07-incident"),
            ("UPPER_lower--mixed", "inc-2026-12-07-upper_lower-mixed"),
        ],
    )
    def test_hostile_titles_become_plain_names(self, title: str, expected: str) -> None:
        assert _name(title) == expected
        assert VALID.fullmatch(expected)

    def test_a_long_title_is_cut_not_the_date_or_id(self) -> None:
        name = _name("x" * 500, "{date}-{slug}-{id}")
        assert len(name) == MAX_NAME
        assert name.startswith("2026-12-07-xxx")
        assert name.endswith("-inc-3f2a9c1d0b7e")

    def test_every_field(self) -> None:
        name = _name("A", "{severity}_{team}_{id}_{slug}", team="Payments Team")
        assert name == "p1_payments-team_inc-3f2a9c1d0b7e_a"
        assert _name("A", "{team}-{slug}") == "team-a"  # no team: the word

    @given(st.text(max_size=400), st.sampled_from(["inc-{date}-{slug}", "{slug}", "x_{id}-{slug}"]))
    def test_any_title_gives_a_valid_name(self, title: str, pattern: str) -> None:
        name = _name(title, pattern)
        assert VALID.fullmatch(name), name
        assert len(name) <= MAX_NAME

    def test_slug_limits(self) -> None:
        assert slug("a b c", 3) == "a-b"
        assert slug("--a--") == "a"


class TestPatterns:
    """A pattern that cannot make Slack names is refused with the reason."""

    @pytest.mark.parametrize(
        ("pattern", "says"),
        [
            ("", "non-empty"),
            (3, "non-empty"),
            ("inc-{when}", "names {when}"),
            ("inc-{date:%Y}-{slug}", "without a format"),
            ("inc-{slug!r}", "without a format"),
            ("Inc-{slug}", "lowercase"),
            ("inc {slug}", "lowercase"),
            ("inc-{date}", "needs {slug} or {id}"),
            ("inc-{slug", "not a name pattern"),
            ("x" * 70 + "{slug}", "too little"),
        ],
    )
    def test_refused(self, pattern: object, says: str) -> None:
        problem = name_problem(pattern)
        assert problem is not None
        assert says in problem
        with pytest.raises(ValueError, match=r"IncidentChannels\.name"):
            IncidentChannels(name=pattern)  # type: ignore[arg-type]

    def test_accepted(self) -> None:
        for pattern in ("inc-{date}-{slug}", "{id}", "ir_{severity}-{team}-{slug}"):
            assert name_problem(pattern) is None

    def test_values(self) -> None:
        value = IncidentChannels(severities=["P1", "P2"], archive_on_close=True)
        assert value.wants(Severity.P2)
        assert not value.wants(Severity.P3)
        assert IncidentChannels(severities="P3").severities == {Severity.P3}
        assert value.describe() == (
            "incident channels: P1, P2 get #inc-{date}-{slug}; archived on close"
        )
        assert IncidentChannels(severities=()).describe().startswith("incident channels: no")
        with pytest.raises(TypeError, match="archive_on_close"):
            IncidentChannels(archive_on_close="yes")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="P9"):
            IncidentChannels(severities=["P9"])
        assert incident_channels({"severities": ["P2"]}) == IncidentChannels(severities=["P2"])
        assert incident_channels(None) is None
        with pytest.raises(TypeError, match="IncidentChannels"):
            incident_channels(["P1"])
        with pytest.raises(ValueError, match="unknown key 'colour'"):
            Team(name="web", incident_channels={"colour": "red"})


class TestReceipts:
    """What opening answered: a channel and its message, or why not."""

    def test_read(self) -> None:
        assert read_receipt("C0123:1700000000.0001") == ("C0123", "C0123:1700000000.0001")
        assert read_receipt(f"{NOT_OPENED}name_taken") == "name_taken"
        assert read_receipt(NOT_OPENED) == "not opened"
        assert read_receipt(None) == "the chat gave no channel"
        assert read_receipt(":x") == "the chat gave no channel"


class TestPolicyFile:
    """``[incident_channels]`` and a team's own, every problem with its path."""

    def test_read(self) -> None:
        policy = Policy.from_text(
            """
            default_team = "web"

            [incident_channels]
            severities = ["P1", "P2"]
            name = "ir-{id}"
            archive_on_close = true

            [[teams]]
            name = "payments"
            incident_channels = { severities = ["P1", "P2", "P3"] }

            [[teams]]
            name = "web"
            """
        )
        assert policy.incident_channels == IncidentChannels(
            severities=["P1", "P2"], name="ir-{id}", archive_on_close=True
        )
        payments = policy.for_team("payments").incident_channels
        assert payments is not None
        assert payments.severities == {Severity.P1, Severity.P2, Severity.P3}
        assert payments.name == "inc-{date}-{slug}"  # a team's table is whole: its defaults
        assert policy.for_team("web").incident_channels == policy.incident_channels
        assert policy.team("web").incident_channels == policy.incident_channels

    def test_problems_have_paths(self) -> None:
        with pytest.raises(InvalidPolicy) as caught:
            Policy.from_text(
                """
                [incident_channels]
                severities = ["P7"]
                name = "INC-{slug}"
                archive_on_close = "yes"
                colour = "red"

                [[teams]]
                name = "payments"
                incident_channels = "all"
                """
            )
        text = str(caught.value)
        for path in (
            "incident_channels.colour",
            "incident_channels.severities[0]",
            "incident_channels.name",
            "incident_channels.archive_on_close",
            "teams[0].incident_channels: must be a table",
        ):
            assert path in text

    def test_team_value(self) -> None:
        team = Team(name="payments", incident_channels={"severities": ["P2"]})
        assert team.incident_channels == IncidentChannels(severities=["P2"])

    def test_policy_files_of_0_2_read_as_before(self) -> None:
        """The policies the docs and the example service show read unchanged: no channels."""
        root = Path(__file__).parent.parent
        text = (root / "docs" / "policy.md").read_text(encoding="utf-8")
        blocks = re.findall(r"```toml[^\n]*\n(.*?)```", text, re.DOTALL)
        read = []
        for block in blocks:
            try:
                read.append(Policy.from_text(block))
            except InvalidPolicy:
                continue  # a fragment (a team's table alone), not a whole policy
        service = tomllib.loads((root / "examples" / "incident-flow.toml").read_text("utf-8"))
        read.append(Policy.from_mapping(service["policy"]))
        assert len(read) >= 3
        assert all(policy.incident_channels is None for policy in read)
        assert Policy().incident_channels is None


def test_policy_check_says_it(tmp_path: Path) -> None:
    """``incident-flow policy check`` says which incidents get a channel, and how."""
    path = tmp_path / "policy.toml"
    path.write_text('[incident_channels]\nseverities = ["P1", "P2"]\narchive_on_close = true\n')
    result = CliRunner().invoke(main, ["policy", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert "incident channels: P1, P2 get #inc-{date}-{slug}; archived on close" in result.output
    path.write_text('[incident_channels]\nname = "{date}"\n')
    result = CliRunner().invoke(main, ["policy", "check", str(path)])
    assert result.exit_code == 5
    assert "incident_channels.name" in result.output
