"""FolderPublisher: writes post-mortems as Markdown files into a folder."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..._review.document import PostMortemDocument
from ...exceptions import DeliveryError

if TYPE_CHECKING:
    from ..._core.policy import Policy

__all__ = ["FolderPublisher"]


class FolderPublisher:
    """Saves each post-mortem as ``<folder>/<date>-<id>-<slug>.md``.

    The write is atomic (a temporary file renamed into place), so a reader never sees half a
    post-mortem, and publishing the same incident again replaces its file.

    Args:
        folder: where to write; created when missing. The default publisher of an
            :class:`~incident_flow.IncidentFlow` is :meth:`for_policy` (the policy's
            ``postmortem_folder``, and each team's own).
        team_folders: a team's own folder by the team's name: the post-mortem of an incident
            of that team (its current team, after a reassignment) is written there instead.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        team_folders: Mapping[str, str | os.PathLike[str]] | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.team_folders = {name: Path(f) for name, f in (team_folders or {}).items()}

    @classmethod
    def for_policy(
        cls, policy: Policy, folder: str | os.PathLike[str] | None = None
    ) -> FolderPublisher:
        """The publisher a policy's post-mortems are saved by: each team's folder, else one.

        ``folder`` (None: the policy's ``postmortem_folder``) takes the post-mortems of the
        teams that name no ``postmortem_folder`` of their own, and of incidents opened before
        the policy had teams.
        """
        own = {t.name: t.postmortem_folder for t in policy.teams if t.postmortem_folder}
        return cls(policy.postmortem_folder if folder is None else folder, team_folders=own)

    def __repr__(self) -> str:
        teams = f", team_folders={ {k: str(v) for k, v in self.team_folders.items()}!r}"
        return f"FolderPublisher({str(self.folder)!r}{teams if self.team_folders else ''})"

    def folder_for(self, document: PostMortemDocument) -> Path:
        """The folder ``document`` is written to: its incident's team's, else :attr:`folder`."""
        team = document.incident.team
        return self.team_folders.get(team, self.folder) if team is not None else self.folder

    def publish(self, document: PostMortemDocument) -> str:
        """Write the Markdown into :meth:`folder_for` the document and return the file's path.

        Raises:
            DeliveryError: the folder or the file cannot be written.
        """
        folder = self.folder_for(document)
        target = folder / document.filename
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".pm-", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(document.render_markdown())
                    handle.flush()
                    os.fsync(handle.fileno())
                Path(tmp).replace(target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            msg = f"cannot write post-mortem {target}: {exc.strerror or exc}"
            raise DeliveryError(msg) from exc
        return str(target)
