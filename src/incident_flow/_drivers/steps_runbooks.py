"""Runbooks, as steps: the catalog re-read from the store, revisions saved from learnings.

What a runbook command decides is :mod:`incident_flow._runbooks.decide`.
"""

from __future__ import annotations

import uuid

import attrs

from .._core import commands as cmd
from .._core.runbooks import Runbook
from .._core.steps import Steps, call
from .._runbooks.catalog import Catalog, RunbookRevision
from .loop import Loop


class RunbookSteps(Loop):
    """Runbooks, as steps: the catalog re-read from the store, revisions saved from learnings."""

    def _reads_the_catalog(self, incident_id: str, command: cmd.Command) -> bool:
        """Whether the decision may consult the catalog (then it is re-read first).

        Adding or updating a runbook always does; starting the runbook or resolving only while
        the incident has none (else the catalog is not asked): one read fewer on most commands.
        """
        if command.trigger in ("add_runbook", "update_runbook"):
            return True
        if command.trigger not in ("start_runbook", "resolve"):
            return False
        cached = self._cache.get(incident_id)
        return cached is None or cached.runbook is None

    def _keeps_runbooks(self) -> bool:
        return self._store_can("keeps_runbooks", "runbook_revisions")

    def _refresh_catalog(self) -> Steps[Catalog]:
        """Fold in the catalog revisions other writers (and replicas) kept since we last read."""
        if self._keeps_runbooks():
            newer = yield from call("store", "runbook_revisions", self._catalog.version)
            if newer:
                self._catalog = self._catalog.extended(newer)
        return self._catalog

    def _save_runbook(
        self, runbook: Runbook, by: str, note: str, incident_id: str | None
    ) -> Steps[RunbookRevision]:
        catalog = yield from self._refresh_catalog()
        revision = RunbookRevision(
            key=f"catalog/{uuid.uuid4().hex}",
            runbook=runbook,
            change="updated" if catalog.get(runbook.name) is not None else "added",
            at=self._now(),
            by=by,
            note=note,
            incident_id=incident_id,
        )
        if self._keeps_runbooks():
            yield from call("store", "record_runbook", revision)
            catalog = yield from self._refresh_catalog()
        else:
            revision = attrs.evolve(revision, number=catalog.version + 1)
            self._catalog = catalog = catalog.extended([revision])
        return catalog.history(runbook.name)[-1]
