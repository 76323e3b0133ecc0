"""GitPublisher: commits each post-mortem on its own branch of a local repository (real git)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path

from ..._core.text import no_controls
from ..._review.document import PostMortemDocument, ReviewStatus
from ...exceptions import DeliveryError

__all__ = ["GitPublisher"]

_ZERO = "0" * 40


class GitPublisher:
    """Commits the post-mortem as ``<folder>/<file>.md`` on the branch ``postmortem/<incident>``.

    The commit is made with git's plumbing (a private index, ``commit-tree``, a
    compare-and-swap ``update-ref``), so the repository's work tree, index and checked-out
    branch are never touched: a service can publish into the clone it runs from. The branch
    starts from ``base``; publishing again commits the new text on the same branch (nothing,
    when the text did not change). With ``remote`` the branch is pushed after each commit.

    Args:
        repository: a local git repository (a work tree or bare).
        base: the branch new post-mortem branches start from.
        branch_prefix: prefix of the per-incident branch.
        remote: a remote to push the branch to, or None.
        author: ``(name, email)`` of the commits.

    ``merge`` merges the branch into ``base`` (a merge commit, pushed with ``remote``); when
    ``base`` is the branch checked out in the repository's work tree, ``git merge`` brings the
    work tree along. ``review_status`` tells whether the branch was merged (by anyone) or
    deleted unmerged, and reads the post-mortem on it (commits pushed there revise it).

    Returns from ``publish``: ``<branch>:<path>``; from ``merge``: ``<base>:<path>``.
    """

    #: Post-mortems wait on a local branch; approvals are given by command.
    review = "branch"

    def __init__(
        self,
        repository: str | os.PathLike[str],
        *,
        base: str = "main",
        branch_prefix: str = "postmortem/",
        remote: str | None = None,
        author: tuple[str, str] = ("incident_flow", "incident-flow@localhost"),
    ) -> None:
        self.repository = Path(repository)
        self.base = base
        self.branch_prefix = branch_prefix
        self.remote = remote
        self.author = author
        self._lock = threading.Lock()
        if shutil.which("git") is None:
            msg = "GitPublisher needs the git command on PATH"
            raise RuntimeError(msg)

    def __repr__(self) -> str:
        return f"GitPublisher({str(self.repository)!r}, base={self.base!r})"

    def _git(
        self,
        *args: str,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
        code: bool = False,
        strip: bool = True,
    ) -> str:
        full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})}
        try:
            result = subprocess.run(  # noqa: S603 - git with our own arguments
                ["git", "-C", str(self.repository), *args],  # noqa: S607 - git from PATH
                input=stdin,
                capture_output=True,
                env=full_env,
                check=False,
                timeout=60,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            msg = f"git {args[0]} in {self.repository}: {exc}"
            raise DeliveryError(msg) from exc
        if check and result.returncode != 0:
            error = result.stderr.decode(errors="replace").strip().splitlines()
            detail = " / ".join(line.strip() for line in error[-3:]) or "failed"
            msg = f"git {args[0]} in {self.repository}: {detail}"
            raise DeliveryError(msg)
        if code:
            return str(result.returncode)
        out = result.stdout.decode(errors="replace")
        return out.strip() if strip else out

    def _ref(self, name: str) -> str | None:
        sha = self._git("rev-parse", "--verify", "--quiet", f"{name}^{{commit}}", check=False)
        return sha or None

    def publish(self, document: PostMortemDocument) -> str:
        """Commit the post-mortem on its branch; return ``<branch>:<path>``.

        Raises:
            DeliveryError: not a repository, no ``base`` branch, a push refused...
        """
        branch = f"{self.branch_prefix}{document.incident.id}"
        path = document.path
        with self._lock, tempfile.TemporaryDirectory(prefix="incident-flow-git-") as tmp:
            current = self._ref(f"refs/heads/{branch}")
            parent = current or self._ref(f"refs/heads/{self.base}") or self._ref(self.base)
            if parent is None:
                msg = f"git: no branch {self.base!r} in {self.repository} to start {branch} from"
                raise DeliveryError(msg)
            index = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            self._git("read-tree", parent, env=index)
            blob = self._git(
                "hash-object", "-w", "--stdin", stdin=document.render_markdown().encode()
            )
            self._git("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=index)
            tree = self._git("write-tree", env=index)
            if tree != self._git("rev-parse", f"{parent}^{{tree}}") or current is None:
                name, email = self.author
                who = {
                    "GIT_AUTHOR_NAME": name,
                    "GIT_AUTHOR_EMAIL": email,
                    "GIT_COMMITTER_NAME": name,
                    "GIT_COMMITTER_EMAIL": email,
                }
                verb = "update" if current else "add"
                title = no_controls(document.incident.title)  # a NUL cannot be an argument
                message = f"postmortem: {verb} {document.incident.id} ({title})"
                commit = self._git("commit-tree", tree, "-p", parent, "-m", message, env=who)
                # Compare-and-swap: a concurrent publisher makes this fail rather than lose work.
                self._git("update-ref", f"refs/heads/{branch}", commit, current or _ZERO)
            if self.remote:
                # Always: a push that failed last time must be retried even when the text
                # did not change since (pushing what the remote has already is a no-op).
                self._git("push", self.remote, f"refs/heads/{branch}:refs/heads/{branch}")
        return f"{branch}:{path}"

    # ----------------------------------------------------------------- review and merge

    def _merged(self, branch: str) -> bool:
        done = self._git("merge-base", "--is-ancestor", branch, self.base, check=False, code=True)
        return done == "0"

    def _base_has(self, path: str) -> bool:
        found = self._git("cat-file", "-e", f"{self.base}:{path}", check=False, code=True)
        return found == "0"

    def merge(self, document: PostMortemDocument) -> str:
        """Merge the post-mortem's branch into ``base``; return ``<base>:<path>``.

        Raises:
            DeliveryError: the branch is gone unmerged, a conflict, a push refused...
        """
        branch = f"{self.branch_prefix}{document.incident.id}"
        path = document.path
        where = f"{self.base}:{path}"
        with self._lock:
            head = self._ref(f"refs/heads/{branch}")
            if head is None:
                if self._base_has(path):
                    return where  # merged and deleted by a person
                msg = f"git: no branch {branch} to merge in {self.repository}"
                raise DeliveryError(msg, permanent=True)
            base = self._ref(f"refs/heads/{self.base}")
            if base is None:
                msg = f"git: no branch {self.base!r} in {self.repository} to merge into"
                raise DeliveryError(msg, permanent=True)
            if not self._merged(branch):
                title = no_controls(document.incident.title)
                message = f"Merge post-mortem {document.incident.id} ({title})"
                if self._checked_out(self.base):
                    self._git("merge", "--no-ff", "-m", message, branch, env=self._who())
                else:
                    tree = self._git("merge-tree", "--write-tree", base, head)
                    commit = self._git(
                        "commit-tree", tree, "-p", base, "-p", head, "-m", message, env=self._who()
                    )
                    self._git("update-ref", f"refs/heads/{self.base}", commit, base)
            if self.remote:
                self._git("push", self.remote, f"refs/heads/{self.base}:refs/heads/{self.base}")
        return where

    def _who(self) -> dict[str, str]:
        name, email = self.author
        return {
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email,
        }

    def _checked_out(self, branch: str) -> bool:
        """True when ``branch`` is checked out in the repository's own work tree."""
        if self._git("rev-parse", "--is-bare-repository", check=False) == "true":
            return False
        head = self._git("symbolic-ref", "-q", "HEAD", check=False)
        return head == f"refs/heads/{branch}"

    def review_status(self, document: PostMortemDocument) -> ReviewStatus:
        """Whether the branch is merged into ``base`` (or deleted unmerged), and its text."""
        branch = f"{self.branch_prefix}{document.incident.id}"
        path = document.path
        with self._lock:
            head = self._ref(f"refs/heads/{branch}")
            merged = self._merged(branch) if head is not None else self._base_has(path)
            text = None
            if head is not None and not merged:
                text = self._git("show", f"{head}:{path}", check=False, strip=False) or None
        return ReviewStatus(
            source="git",
            url=f"{branch}:{path}",
            merged=merged,
            location=f"{self.base}:{path}" if merged else None,
            closed=head is None and not merged,
            text=text,
        )
