"""GitPublisher against a real git repository in a temporary folder."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest

from incident_flow import (
    Alert,
    DeliveryError,
    GitPublisher,
    IncidentFlow,
    PostMortemDocument,
    RecordingNotifier,
)
from incident_flow._core.incident import fold
from incident_flow.testing import ManualClock
from incident_flow.testing.contracts import ReviewedPublisherContract, sample_history

from .conftest import T0


def git(repo: Path, *args: str) -> str:
    command = ["git", "-C", str(repo), *args]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "runbooks"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("# Runbooks\n")
    (path / "postmortems").mkdir()
    (path / "postmortems" / ".keep").write_text("")
    git(path, "add", ".")
    git(path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init")
    return path


@pytest.fixture
def document() -> PostMortemDocument:
    history = sample_history()
    return PostMortemDocument(fold(None, history), history, "postmortems")


class TestGitPublisherContract(ReviewedPublisherContract):
    """GitPublisher passes the publisher contract and the reviewed publisher's."""

    @pytest.fixture
    def publisher(self, repo: Path) -> GitPublisher:
        return GitPublisher(repo)

    @pytest.fixture
    def read(self, repo: Path) -> Callable[[str], str]:
        return lambda location: git(repo, "show", location) + "\n"


class TestGitPublisher:
    """A branch per incident, commits only on change, the work tree never touched."""

    def test_commits_on_a_branch_without_touching_the_work_tree(
        self, repo: Path, document: PostMortemDocument
    ) -> None:
        (repo / "README.md").write_text("# Runbooks\nlocal edit in progress\n")
        location = GitPublisher(repo).publish(document)
        branch = f"postmortem/{document.incident.id}"
        assert location == f"{branch}:{document.path}"
        assert git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "main"
        assert git(repo, "status", "--porcelain") == "M README.md"
        assert git(repo, "log", "--format=%s", branch).splitlines() == [
            f"postmortem: add {document.incident.id} (Checkout errors)",
            "init",
        ]
        assert git(repo, "log", "-1", "--format=%an <%ae>", branch) == (
            "incident_flow <incident-flow@localhost>"
        )
        files = git(repo, "ls-tree", "-r", "--name-only", branch).splitlines()
        assert document.path in files and "README.md" in files

    def test_republishing_updates_the_same_branch(
        self, repo: Path, document: PostMortemDocument
    ) -> None:
        publisher = GitPublisher(repo)
        publisher.publish(document)
        publisher.publish(document)  # same text: no new commit
        branch = f"postmortem/{document.incident.id}"
        assert git(repo, "rev-list", "--count", branch) == "2"
        pm = document.incident.postmortem
        assert pm is not None
        revised = attrs.evolve(pm, root_cause="a bad deploy, and no canary")
        incident = attrs.evolve(document.incident, postmortem=revised)
        publisher.publish(attrs.evolve(document, incident=incident))
        assert git(repo, "rev-list", "--count", branch) == "3"
        assert "and no canary" in git(repo, "show", f"{branch}:{document.path}")

    def test_pushes_to_a_remote(
        self, repo: Path, tmp_path: Path, document: PostMortemDocument
    ) -> None:
        remote = tmp_path / "origin.git"
        subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)  # noqa: S607
        git(repo, "remote", "add", "origin", str(remote))
        GitPublisher(repo, remote="origin").publish(document)
        pushed = git(remote, "branch", "--list")
        assert f"postmortem/{document.incident.id}" in pushed

    def test_errors_are_delivery_errors(self, tmp_path: Path, document: PostMortemDocument) -> None:
        with pytest.raises(DeliveryError, match="git"):
            GitPublisher(tmp_path / "nope").publish(document)
        empty = tmp_path / "empty"
        empty.mkdir()
        git(empty, "init", "-q", "-b", "main")
        with pytest.raises(DeliveryError, match="no branch 'main'"):
            GitPublisher(empty).publish(document)

    def test_the_flow_publishes_into_git(self, repo: Path) -> None:
        flow = IncidentFlow(
            notifier=RecordingNotifier(),
            pager=RecordingNotifier(),
            publisher=GitPublisher(repo),
            clock=ManualClock(T0),
        )
        incident = flow.trigger(Alert(source="s", name="n", title="Disk full", severity="P2"))
        flow.resolve(incident.id, by="alice")
        flow.start_postmortem(
            incident.id, author="alice", impact="ledger down", root_cause="logs not rotated"
        )
        flow.submit_postmortem(incident.id, by="alice")
        flow.approve_postmortem(incident.id, reviewer="bob")
        published = flow.approve_postmortem(incident.id, reviewer="carol")
        assert published.postmortem is not None
        location = published.postmortem.location
        assert location is not None and location.startswith("main:postmortems/")  # merged
        assert "logs not rotated" in git(repo, "show", location)
        assert repr(GitPublisher(repo)).startswith("GitPublisher(")
