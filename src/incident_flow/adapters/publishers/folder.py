"""FolderPublisher: writes post-mortems as Markdown files into a folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..._review.document import PostMortemDocument
from ...exceptions import DeliveryError

__all__ = ["FolderPublisher"]


class FolderPublisher:
    """Saves each post-mortem as ``<folder>/<date>-<id>-<slug>.md``.

    The write is atomic (a temporary file renamed into place), so a reader never sees half a
    post-mortem, and publishing the same incident again replaces its file.

    Args:
        folder: where to write; created when missing. The default publisher of an
            :class:`~incident_flow.IncidentFlow` is ``FolderPublisher(policy.postmortem_folder)``.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def __repr__(self) -> str:
        return f"FolderPublisher({str(self.folder)!r})"

    def publish(self, document: PostMortemDocument) -> str:
        """Write the Markdown and return the file's path.

        Raises:
            DeliveryError: the folder or the file cannot be written.
        """
        target = self.folder / document.filename
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".pm-", suffix=".tmp")
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
