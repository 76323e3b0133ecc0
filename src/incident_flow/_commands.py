"""Commands: what a person, a bot or the system asks of an incident (input to the decision step)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

import attrs

from ._alerts import Alert
from ._runbooks import Runbook
from ._severity import Severity

__all__ = [
    "Acknowledge",
    "AddRunbook",
    "ApprovePostmortem",
    "Close",
    "Command",
    "Note",
    "PublishPostmortem",
    "Reclassify",
    "RecordAlert",
    "Reopen",
    "Resolve",
    "StartPostmortem",
    "StartRunbook",
    "UpdateRunbook",
    "WaiveActionItem",
]


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class Command:
    """Base of the commands; ``trigger`` names the process trigger it fires."""

    trigger: ClassVar[str] = ""
    by: str | None = None


@attrs.frozen(kw_only=True)
class Reclassify(Command):
    """Change the severity."""

    trigger: ClassVar[str] = "reclassify"
    severity: Severity


@attrs.frozen(kw_only=True)
class Acknowledge(Command):
    """A responder takes the incident."""

    trigger: ClassVar[str] = "acknowledge"


@attrs.frozen(kw_only=True)
class StartRunbook(Command):
    """Work the catalog's runbook, or ``runbook`` when given."""

    trigger: ClassVar[str] = "start_runbook"
    runbook: Runbook | None = None


@attrs.frozen(kw_only=True)
class Resolve(Command):
    """The incident is resolved."""

    trigger: ClassVar[str] = "resolve"
    summary: str = ""


@attrs.frozen(kw_only=True)
class Reopen(Command):
    """A resolved incident is back."""

    trigger: ClassVar[str] = "reopen"


@attrs.frozen(kw_only=True)
class StartPostmortem(Command):
    """Start the post-mortem (``by`` is the author)."""

    trigger: ClassVar[str] = "start_postmortem"
    impact: str = ""
    root_cause: str = ""
    learnings: tuple[str, ...] = attrs.field(default=(), converter=_strings)


@attrs.frozen(kw_only=True)
class ApprovePostmortem(Command):
    """A reviewer (``by``) approves the post-mortem."""

    trigger: ClassVar[str] = "approve_postmortem"


@attrs.frozen(kw_only=True)
class PublishPostmortem(Command):
    """Publish the approved post-mortem."""

    trigger: ClassVar[str] = "publish_postmortem"


@attrs.frozen(kw_only=True)
class AddRunbook(Command):
    """A missing runbook was written."""

    trigger: ClassVar[str] = "add_runbook"
    runbook: Runbook


@attrs.frozen(kw_only=True)
class UpdateRunbook(Command):
    """A runbook was updated from the learnings."""

    trigger: ClassVar[str] = "update_runbook"
    name: str
    note: str


@attrs.frozen(kw_only=True)
class WaiveActionItem(Command):
    """An action item will not be done, for a reason."""

    trigger: ClassVar[str] = "waive_action_item"
    item_id: str
    reason: str


@attrs.frozen(kw_only=True)
class Close(Command):
    """Close the incident for good."""

    trigger: ClassVar[str] = "close"


@attrs.frozen(kw_only=True)
class Note(Command):
    """A status update."""

    trigger: ClassVar[str] = "note"
    text: str


@attrs.frozen(kw_only=True)
class RecordAlert(Command):
    """The incident's alert fired again or recovered (from the source; ``by`` is None)."""

    trigger: ClassVar[str] = "alert_repeated"
    alert: Alert

    @property
    def fired_trigger(self) -> str:
        """``alert_repeated`` for a firing alert, ``alert_recovered`` for a recovery."""
        return "alert_repeated" if self.alert.firing else "alert_recovered"
