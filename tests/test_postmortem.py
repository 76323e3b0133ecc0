"""The post-mortem document and the folder publisher."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from incident_flow import DeliveryError, FolderPublisher, PostMortemDocument
from incident_flow._core.incident import fold
from incident_flow._core.text import no_controls
from incident_flow._review.document import Sections, read_sections
from incident_flow.testing.contracts import sample_history


@pytest.fixture
def document() -> PostMortemDocument:
    history = sample_history()
    return PostMortemDocument(fold(None, history), history, "postmortems")


class TestDocument:
    """The Markdown has every section a reviewer expects."""

    def test_sections(self, document: PostMortemDocument) -> None:
        text = document.render_markdown()
        for heading in (
            "# Post-mortem: Checkout errors",
            "## Impact",
            "## Root cause",
            "## Timeline",
            "## Learnings",
            "## Action items",
            "## Reviewers",
        ):
            assert heading in text
        assert "- **Severity:** P2" in text
        assert "5% of checkouts failed" in text
        assert "a bad deploy" in text
        assert "- alert on p95" in text
        assert "- [x] AI-1: Add a runbook" in text
        assert "(waived: the canary exists already)" in text
        assert "| alice | Acknowledged |" in text
        assert "Page delivered" in text
        assert "- **Runbook:** [checkout](https://rb.example/checkout)" in text

    def test_stable_file_name_and_path(self, document: PostMortemDocument) -> None:
        incident = document.incident
        assert document.filename == f"2025-03-04-{incident.id}-checkout-errors.md"
        assert document.path == f"postmortems/{document.filename}"

    def test_placeholders_when_nothing_written(self, document: PostMortemDocument) -> None:
        history = document.events[:3]
        bare = PostMortemDocument(fold(None, history), history, "pm/")
        text = bare.render_markdown()
        assert "_To be written._" in text
        assert "_None recorded._" in text and "_None._" in text and "_None yet._" in text
        assert bare.path.startswith("pm/")


class TestFolderPublisher:
    """Writes atomically, replaces on republish, reports failures as DeliveryError."""

    def test_writes_and_replaces(self, tmp_path: Path, document: PostMortemDocument) -> None:
        publisher = FolderPublisher(tmp_path / "out")
        first = publisher.publish(document)
        assert Path(first).read_text() == document.render_markdown()
        assert publisher.publish(document) == first
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [document.filename]
        assert repr(publisher) == f"FolderPublisher('{tmp_path / 'out'}')"

    def test_folder_is_a_file(self, tmp_path: Path, document: PostMortemDocument) -> None:
        blocker = tmp_path / "out"
        blocker.write_text("not a folder")
        with pytest.raises(DeliveryError, match="cannot write post-mortem"):
            FolderPublisher(blocker).publish(document)
        assert blocker.read_text() == "not a folder"


class TestSectionsReadBack:
    """What the document says is what is read back from it (a pushed commit's text)."""

    @settings(
        max_examples=300,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],  # read, never changed
    )
    @given(
        impact=st.text(max_size=80),
        root_cause=st.text(max_size=80),
        learnings=st.lists(
            st.text(min_size=1, max_size=30).filter(lambda s: no_controls(s).split()), max_size=3
        ),
    )
    def test_render_then_read_is_stable(
        self, document: PostMortemDocument, impact: str, root_cause: str, learnings: list[str]
    ) -> None:
        # The placeholders a section shows when nothing was written read back as nothing.
        placeholders = ("_To be written._", "_None recorded._")
        assume(no_controls(impact).strip() not in placeholders)
        assume(no_controls(root_cause).strip() not in placeholders)
        pm = document.incident.postmortem
        assert pm is not None
        changed = attrs.evolve(
            document,
            incident=attrs.evolve(
                document.incident,
                postmortem=attrs.evolve(
                    pm, impact=impact, root_cause=root_cause, learnings=tuple(learnings)
                ),
            ),
        )
        read = read_sections(changed.render_markdown())
        assert read is not None
        # Nothing of the author's text is lost: only what Markdown cannot keep (controls,
        # runs of spaces in a list item, the surrounding blank lines) is normalised.
        assert read.impact == no_controls(impact).replace("\r", "").strip()
        assert read.root_cause == no_controls(root_cause).replace("\r", "").strip()
        assert read.learnings == tuple(" ".join(no_controls(x).split()) for x in learnings)

    def test_a_document_without_its_sections_reads_as_none(self) -> None:
        assert read_sections("# Post-mortem\n\n## Impact\n\nx\n") is None
        read = read_sections(
            "## Impact\n\n_To be written._\n## Root cause\n\nr\n## Learnings\n\n- a\n* b\n"
        )
        assert read == Sections("", "r", ("a", "b"))
