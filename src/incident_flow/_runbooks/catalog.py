"""The living runbook catalog: revisions in the store, read by every incident and replica.

The seed's loop is alert -> runbook -> post-mortem -> add missing runbooks / update runbooks
from learnings. The policy's ``runbooks`` are where the catalog starts; every change after that
is a :class:`RunbookRevision` kept by the store (who, when, what, from which incident and which
learning), so a runbook added during incident A is the runbook of incident B, in any process.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Literal

import attrs

from .._core.runbooks import Runbook, RunbookCatalog

__all__ = ["CHANGES", "Catalog", "RunbookRevision"]

#: What a revision did to its runbook.
CHANGES = ("added", "updated")
Change = Literal["added", "updated"]


def _change(instance: object, attribute: object, value: object) -> None:
    if value not in CHANGES:
        msg = f"RunbookRevision.change must be one of {', '.join(CHANGES)}, got {value!r}"
        raise ValueError(msg)


@attrs.frozen(kw_only=True)
class RunbookRevision:
    """One change to the catalog.

    Attributes:
        key: unique and stable (``<incident>/<event version>`` for a change made in an
            incident, else a fresh id), so writing it twice keeps one.
        runbook: the runbook as it is after the change.
        change: ``added`` or ``updated``.
        at: when.
        by: who.
        note: what changed and why (an update's note).
        incident_id: the incident it was made in, if any.
        learning: the post-mortem learning it settles, if any.
        number: its place in the catalog's history (increasing), given by the store.
    """

    key: str
    runbook: Runbook
    change: Change = attrs.field(validator=_change)
    at: datetime
    by: str
    note: str = ""
    incident_id: str | None = None
    learning: str | None = None
    number: int = 0


@attrs.frozen
class Catalog:
    """The catalog as its revisions made it, over the policy's own runbooks.

    Attributes:
        base: the policy's runbooks (where the catalog starts).
        revisions: every revision, oldest first.
    """

    base: RunbookCatalog = attrs.field(factory=RunbookCatalog)
    revisions: tuple[RunbookRevision, ...] = ()
    runbooks: RunbookCatalog = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(
            self, "runbooks", self.base.with_runbooks(r.runbook for r in self.revisions)
        )

    @property
    def version(self) -> int:
        """The number of the last revision (0: none yet)."""
        return self.revisions[-1].number if self.revisions else 0

    def extended(self, revisions: Iterable[RunbookRevision]) -> Catalog:
        """This catalog with later revisions folded in (ones it has already are left out).

        Two readers that fetched the same new revisions may both fold them in: the second
        changes nothing.
        """
        version = self.version
        more = tuple(r for r in revisions if r.number > version)
        if not more:
            return self
        # Folded onto this catalog's runbooks, not rebuilt from every revision: a catalog
        # that keeps learning must not cost more each time it learns.
        extended = Catalog(self.base)
        object.__setattr__(extended, "revisions", self.revisions + more)
        object.__setattr__(
            extended, "runbooks", self.runbooks.with_runbooks(r.runbook for r in more)
        )
        return extended

    def history(self, name: str) -> Sequence[RunbookRevision]:
        """The revisions of one runbook, oldest first."""
        return [r for r in self.revisions if r.runbook.name == name]

    def get(self, name: str) -> Runbook | None:
        """The runbook named ``name``, or None."""
        return self.runbooks.get(name)
