"""IncidentFlow: the synchronous driver. Load -> decide -> append (+ outbox) -> deliver."""

from __future__ import annotations

import atexit
import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial

from .._core import commands as cmd
from .._core.alerts import Alert
from .._core.clock import SystemClock
from .._core.events import Event
from .._core.incident import Incident
from .._core.policy import Policy
from .._core.runbooks import Runbook, checked_runbook
from .._core.severity import Severity
from .._core.steps import Steps, T, run
from .._core.storms import LabelMatcher, Silence
from .._responders.actions import Action
from .._runbooks.catalog import Catalog, RunbookRevision
from ..adapters.channels.notifiers import LogNotifier
from ..adapters.publishers.folder import FolderPublisher
from ..adapters.stores.memory import MemoryStore
from ..ports import (
    Clock,
    EventStore,
    IncidentFilter,
    IncidentPage,
    Notifier,
    PostMortemPublisher,
    Tracker,
)
from ..schedules import Override, Shift
from .flowcore import FlowCore, new_incident_id
from .locks import KeyedLocks
from .steps_trackers import checked_tracker

__all__ = ["IncidentFlow"]


class IncidentFlow(FlowCore):
    """Runs the incident process over a store, a chat notifier, a pager and a publisher.

    Every command loads the incident, decides (the machine and the policy), appends the new
    events together with the outbox messages they cause, then delivers those messages before
    it returns. A refused command raises and changes nothing. A stale write
    (:class:`~incident_flow.ConcurrencyError`) is retried once on the reloaded incident.

    Args:
        policy: the standards (default :meth:`Policy.default`).
        store: the event store (default :class:`MemoryStore`).
        notifier: the chat channel, Slack (default :class:`LogNotifier`).
        pager: the pager (default :class:`LogNotifier` on channel ``pager``).
        publisher: where post-mortems go (default ``FolderPublisher.for_policy(policy)``: the
            policy's ``postmortem_folder``, each team's own).
        clock: where time comes from (default the system clock, UTC).
        lease: how long a sender holds a message it is delivering before others may retry it.
        new_id: makes incident ids (default ``inc-`` and 12 hex digits).
        tracker: the team's issue tracker, where the policy's ``[tracker]`` opens action items
            (optional; see ``docs/trackers.md``).
    """

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        store: EventStore | None = None,
        notifier: Notifier | None = None,
        pager: Notifier | None = None,
        publisher: PostMortemPublisher | None = None,
        clock: Clock | None = None,
        lease: timedelta = timedelta(minutes=1),
        new_id: Callable[[], str] = new_incident_id,
        tracker: Tracker | None = None,
    ) -> None:
        policy = policy if policy is not None else Policy.default()
        super().__init__(policy, clock if clock is not None else SystemClock(), lease, new_id)
        self._locks = KeyedLocks()
        self._exit_hook = False  # _flush_at_exit is registered with atexit
        self.tracker: Tracker | None = checked_tracker(policy, tracker)
        self.store: EventStore = store if store is not None else MemoryStore()
        self.notifier: Notifier = notifier if notifier is not None else LogNotifier("chat")
        self.pager: Notifier = pager if pager is not None else LogNotifier("pager")
        self.publisher: PostMortemPublisher = (
            publisher if publisher is not None else FolderPublisher.for_policy(self.policy)
        )

    def __repr__(self) -> str:
        return (
            f"IncidentFlow(store={self.store!r}, notifier={self.notifier!r}, "
            f"pager={self.pager!r}, publisher={self.publisher!r})"
        )

    # ----------------------------------------------------------------- commands

    def trigger(self, alert: Alert) -> Incident:
        """Route an alert: open an incident, or attach it to the open one with its dedup key.

        A firing alert with a new key opens an incident (triggered -> classified -> notified:
        Slack, and a page when critical). A firing alert whose key matches an incident that
        still accepts alerts is recorded on it (no new incident, no new page) and reopens it
        when it was resolved. A resolved alert is recorded on its incident.

        Raises:
            IncidentNotFound: a resolved alert matched no open incident (nothing is recorded).
            InvalidCommand: ``alert`` is not an :class:`Alert`.
        """
        return self._in_transaction(self._trigger(alert))

    def trigger_all(self, alerts: Sequence[Alert]) -> list[Incident | None]:
        """Route the alerts of one webhook body in a few transactions, not one per alert.

        The same outcome as :meth:`trigger` on each alert in turn: the repeats and recoveries
        of open incidents decided together (every incident in one transaction where the store
        has ``append_all``), new ungrouped alerts opened together, a new group's alerts joining
        its incident together. Each answer is the alert's incident,
        or None for a recovery with no open incident (where ``trigger`` raises).
        """
        return self._in_transaction(self._trigger_all(alerts))

    def reclassify(self, incident_id: str, severity: Severity | str, *, by: str) -> Incident:
        """Change the severity; an upgrade to critical pages at once while unresolved."""
        return self._run(incident_id, cmd.Reclassify(by=by, severity=severity))

    def acknowledge(self, incident_id: str, *, by: str) -> Incident:
        """Acknowledge the incident (mirrored to the pager when it was paged)."""
        return self._run(incident_id, cmd.Acknowledge(by=by))

    def start_runbook(
        self, incident_id: str, *, by: str, runbook: Runbook | None = None
    ) -> Incident:
        """Start working a runbook: ``runbook``, or the catalog's; none found raises an item."""
        return self._run(incident_id, cmd.StartRunbook(by=by, runbook=runbook))

    def resolve(self, incident_id: str, *, by: str, summary: str = "") -> Incident:
        """Resolve the incident; never blocked by the process."""
        return self._run(incident_id, cmd.Resolve(by=by, summary=summary))

    def reopen(self, incident_id: str, *, by: str) -> Incident:
        """Reopen a resolved incident (a critical one is paged again)."""
        return self._run(incident_id, self._reopen_command(by))

    def start_postmortem(
        self,
        incident_id: str,
        *,
        author: str,
        impact: str = "",
        root_cause: str = "",
        learnings: Iterable[str] = (),
    ) -> Incident:
        """Start the post-mortem; each learning becomes an 'update runbook' item on publish."""
        command = cmd.StartPostmortem(
            by=author, impact=impact, root_cause=root_cause, learnings=learnings
        )
        return self._run(incident_id, command)

    def amend_postmortem(
        self,
        incident_id: str,
        *,
        by: str,
        impact: str | None = None,
        root_cause: str | None = None,
        learnings: Iterable[str] | None = None,
    ) -> Incident:
        """Change the draft; a section left None keeps what it says.

        Also while it is reviewed by command (no pull request): on a local branch the new text
        is committed there. Under review on a pull request, push the change there instead
        (refused here): pushed commits update the stored post-mortem.
        """
        command = cmd.AmendPostmortem(
            by=by, impact=impact, root_cause=root_cause, learnings=learnings
        )
        return self._run(incident_id, command)

    def submit_postmortem(self, incident_id: str, *, by: str) -> Incident:
        """Submit the draft for review: the pull request or branch opens at once.

        The publisher opens its pull request (GitHub) or branch (git), and
        ``policy.postmortem_reviewers`` people of ``policy.postmortem_review_pool`` are asked
        to review, never the author.

        A post-mortem whose pull request was closed unmerged is submitted again the same way.

        Raises:
            PolicyViolation: a section ``policy.postmortem_required_sections`` lists (by default
                the impact and the root cause) is unwritten; the message names them.
        """
        return self._run(incident_id, self._submit_command(by))

    def approve_postmortem(self, incident_id: str, *, reviewer: str) -> Incident:
        """Approve the submitted post-mortem (not by its author; twice counts once).

        On a pull request, its reviews approve (``apply`` of the webhook, or ``poll_reviews``)
        and this is refused. The last approval needed merges it (``policy.postmortem_merge``
        ``auto``) or says it is ready to merge (``manual``).
        """
        return self._run(incident_id, cmd.ApprovePostmortem(by=reviewer))

    def request_postmortem_changes(
        self, incident_id: str, *, reviewer: str, text: str = ""
    ) -> Incident:
        """Ask for changes: the reviewer's approval stops counting until they approve again."""
        return self._run(incident_id, cmd.RequestPostmortemChanges(by=reviewer, text=text))

    def publish_postmortem(self, incident_id: str, *, by: str) -> Incident:
        """Merge (or save, without a branch) the approved post-mortem now.

        Published means merged with ``policy.postmortem_reviewers`` approvals: then its
        learnings become 'update runbook' items and the incident moves to the runbook
        updates. The publisher has merged it when this returns, unless it failed: then the
        delivery stays pending and ``deliver_pending()`` retries it. With ``merge = "auto"``
        the last approval does this by itself.
        """
        return self._run(incident_id, cmd.PublishPostmortem(by=by))

    def poll_reviews(self, *, limit: int = 100) -> list[Incident]:
        """Read each post-mortem's pull request (or branch) and apply what webhooks missed.

        Reviews (an approval, changes requested, a dismissal), commits pushed (the sections
        they changed), the merge and a close without merging: each is applied as its webhook
        would have been, once. ``run_worker`` calls this every ``review_poll_every``.

        Returns:
            The incidents the poll changed.
        """
        return self._drive(self._poll_reviews(limit))

    def add_runbook(self, incident_id: str, runbook: Runbook, *, by: str) -> Incident:
        """Record a missing runbook as written; settles the 'add runbook' items."""
        return self._run(incident_id, cmd.AddRunbook(by=by, runbook=runbook))

    def update_runbook(
        self, incident_id: str, name: str, *, by: str, note: str, url: str | None = None
    ) -> Incident:
        """Record a runbook update from the learnings; settles that runbook's update items.

        The catalog's revision names the incident and the learnings it settles. A name the
        catalog does not know is refused (naming the known ones), unless ``url`` is given:
        then the runbook is added first.
        """
        return self._run(incident_id, cmd.UpdateRunbook(by=by, name=name, note=note, url=url))

    def waive_action_item(
        self, incident_id: str, item_id: str, *, by: str, reason: str
    ) -> Incident:
        """Waive an open action item, with a reason."""
        return self._run(incident_id, cmd.WaiveActionItem(by=by, item_id=item_id, reason=reason))

    def add_follow_up(
        self, incident_id: str, title: str, *, by: str, owner: str | None = None
    ) -> Incident:
        """Record a follow-up item (``AI-n``, kind ``follow_up``), owed before the incident closes.

        Opened in the team's tracker when the policy's ``[tracker]`` exports follow-ups.
        """
        return self._run(incident_id, cmd.AddFollowUp(by=by, title=title, owner=owner))

    def complete_action_item(
        self, incident_id: str, item_id: str, *, by: str, note: str = ""
    ) -> Incident:
        """Mark an open action item done; its tracker issue, if any, is closed."""
        command = cmd.CompleteActionItem(by=by, item_id=item_id, note=note)
        return self._run(incident_id, command)

    def poll_follow_ups(self, *, limit: int = 100) -> list[Incident]:
        """Read the open items' tracker issues; one closed there settles its item here.

        What the tracker's webhook would have done, once (``run_worker`` calls it with the
        reviews' poll). Returns the incidents it changed.
        """
        return self._drive(self._poll_follow_ups(limit))

    def close(self, incident_id: str, *, by: str) -> Incident:
        """Close the incident: needs the post-mortem (if required) and no open action items."""
        return self._run(incident_id, cmd.Close(by=by))

    def note(self, incident_id: str, text: str, *, by: str) -> Incident:
        """Add a status update to the timeline and the Slack thread."""
        return self._run(incident_id, cmd.Note(by=by, text=text))

    def reassign(self, incident_id: str, team: str, *, by: str) -> Incident:
        """Hand the incident to team ``team`` of the policy; the timeline and the chat say so.

        Its chat moves to the new team's channel; a critical, unresolved incident pages the
        new team's first level, and its escalation starts over with that team's levels.

        Raises:
            InvalidCommand: ``team`` is not a team's name.
            PolicyViolation: the policy has no such team, or the incident is already its.
            InvalidTransition: the incident is closed (or not opened yet: silenced).
        """
        return self._run(incident_id, cmd.Reassign(by=by, team=team))

    def assign(self, incident_id: str, role: str, person: str, *, by: str) -> Incident:
        """``person`` takes ``role`` (``commander``, ``scribe``...); a hand-over is recorded.

        The role is one of ``policy.roles.names`` (any case, slugged); the person one of
        ``Policy.people`` when the policy names people. Assigning the person who holds it
        already changes nothing. A commander stops the commander reminder.

        Raises:
            InvalidCommand: a blank role or person.
            PolicyViolation: ``unknown_role`` or ``unknown_person``.
            InvalidTransition: the incident is closed (or not opened yet: silenced).
        """
        return self._run(incident_id, cmd.AssignRole(by=by, role=role, person=person))

    def escalate(self, incident_id: str, *, by: str) -> Incident:
        """Page the next escalation level now (a paged incident, unresolved, not at the last)."""
        return self._run(incident_id, cmd.Escalate(by=by))

    def apply(self, action: Action) -> Incident:
        """Apply what a responder did in a vendor's tool (``incident_flow.ingest.actions``).

        ``action.by`` is mapped to a person through ``Policy.people`` (an unknown identity is
        recorded as ``vendor:id``). A delivery already applied, or an action whose effect the
        incident already has (the echo of an acknowledgement we mirrored to the pager), changes
        nothing. An action the process or the policy refuses now (a resolve after close) is
        recorded as ``ActionIgnored`` with the reason and does not raise, so the webhook can
        answer 2xx and the vendor stops retrying. What it mirrors is not sent back to the
        vendor it came from.

        Returns:
            The incident after the action (unchanged when it was a repeat, an echo or ignored).

        Raises:
            IncidentNotFound: the action names no incident of ours.
            InvalidCommand: ``action`` is not an :class:`Action`.
        """
        return self._in_transaction(self._apply(action))

    def escalate_due(self, *, limit: int = 100) -> list[Incident]:
        """Page the next escalation level of every incident whose ack timeout has passed.

        The timers are data (each incident's ``escalation_due_at``, indexed by the store), so
        they survive restarts and are the same on every replica; several processes may call
        this at once and each level is paged once (a loser of the race finds the timer moved
        on). An acknowledgement or a resolution stops an incident's escalation.

        Returns:
            The incidents that escalated in this call.
        """
        return self._drive(self._escalate_due(limit))

    def remind_due(self, *, limit: int = 100) -> list[Incident]:
        """Remind every incident whose post-mortem or action items are overdue.

        A reminder goes to the incident's chat thread when a required post-mortem is still
        unpublished ``policy.postmortem_due`` business days after resolution, or action items
        are open ``policy.action_items_due`` business days after the post-mortem, then every
        ``policy.remind_every`` business days until settled. Timers survive restarts, like
        escalation's.

        Returns:
            The incidents reminded in this call.
        """
        return self._drive(self._remind_due(limit))

    def deliver_pending(self, *, limit: int = 100, batches: int | None = None) -> int:
        """Deliver every due outbox message (retries included); return how many were delivered.

        Safe to call from several processes at once: each message is claimed with a lease.

        Args:
            limit: messages claimed at a time.
            batches: stop after this many claims (a worker takes one per turn, so that a
                flood of messages never holds up escalations); None: until nothing is due.
        """
        return self._drive(self._deliver_pending(limit, batches))

    # ----------------------------------------------------------------- the runbook catalog

    def runbooks(self) -> Catalog:
        """The runbook catalog now: the policy's runbooks and every revision the store kept.

        ``.runbooks`` is the catalog the incidents use; ``.history(name)`` says who changed a
        runbook, when, in which incident and from which learning.
        """
        return self._drive(self._refresh_catalog())

    def save_runbook(
        self, runbook: Runbook, *, by: str, note: str = "", incident_id: str | None = None
    ) -> RunbookRevision:
        """Add a runbook to the catalog, or replace the one of its name; return the revision.

        Outside an incident (the team's table, a new alert); every replica's next incident of
        a matching alert uses it. ``incident_id`` names the incident it came from, if any.

        Raises:
            InvalidCommand: ``runbook`` is not a :class:`Runbook` or ``by`` is blank.
        """
        return self._drive(self._save_runbook(*checked_runbook(runbook, by), note, incident_id))

    # ----------------------------------------------------------------- reads

    def silence(
        self,
        matchers: Mapping[str, object] | Sequence[LabelMatcher],
        *,
        by: str,
        why: str,
        duration: timedelta | None = None,
        ends_at: datetime | None = None,
        starts_at: datetime | None = None,
        team: str | None = None,
    ) -> Silence:
        """Silence the alerts ``matchers`` match, from ``starts_at`` (now) for ``duration``.

        ``matchers`` is a label table (``{"service": "checkout", "env": ["prod"]}``, ``"*"``
        for any value, ``"!x"`` for not x; ``source``, ``name`` and ``severity`` read the
        alert itself). A matching alert with no open incident is recorded on an incident of
        its own that posts and pages nothing; still firing when the silence ends, it opens as
        usual (run by :meth:`escalate_due`); recovered before, it is dismissed.

        ``team``: silence only the alerts the policy routes to that team
        (:meth:`Policy.team_name_for <incident_flow.Policy.team_name_for>`); None (the
        default) silences every team's, as before teams.

        Raises:
            InvalidCommand: no matchers, no reason, no end (or both ``duration`` and
                ``ends_at``), an end in the past, or a team the policy does not have.
        """
        return self._drive(
            self._silence(
                matchers,
                by=by,
                why=why,
                ends_at=ends_at,
                duration=duration,
                starts_at=starts_at,
                team=team,
            )
        )

    def end_silence(self, silence_id: str, *, by: str) -> Silence:
        """End a silence now; the alerts it held that still fire open at once.

        Raises:
            InvalidCommand: no such silence.
        """
        return self._drive(self._end_silence(silence_id, by))

    def silences(self, *, active: bool = True) -> list[Silence]:
        """The silences not over yet (all of them, ended ones too, with ``active=False``)."""
        return self._drive(self._silences(self._now() if active else None))

    def on_call(self, schedule: str, at: datetime | None = None) -> tuple[str, ...]:
        """Who is (or was, at ``at``) on call in ``schedule``: nobody is an empty tuple.

        The past comes from the store's record of the shifts as they happened (where it has
        one, see :meth:`record_shifts`), not from today's policy.

        Raises:
            InvalidCommand: no such schedule, or a naive ``at``.
        """
        return self._drive(self._who(schedule, self._now() if at is None else at))

    def shifts(self, schedule: str, start: datetime, end: datetime) -> list[Shift]:
        """The shifts of ``schedule`` in a period (gaps included), the past as recorded.

        Raises:
            InvalidCommand: no such schedule, or naive times.
        """
        return self._drive(self._schedule_shifts(schedule, start, end))

    def override(
        self,
        schedule: str,
        *,
        end: datetime,
        by: str,
        why: str,
        start: datetime | None = None,
        replace: Sequence[str] | None = None,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
        layer: str | None = None,
    ) -> Override:
        """Change who is on call in ``schedule`` from ``start`` (now) to ``end``, at run time.

        ``replace`` is who is on call instead, ``add`` and ``remove`` change the people; with
        ``layer``, that layer's slot (its priority still applies). Kept by the store (every
        replica pages by it) with who and why; the next page reads it.

        Raises:
            InvalidCommand: no such schedule or layer, nothing to change, no reason, or an end
                that is past or before the start.
        """
        return self._drive(
            self._override(
                schedule, start=start, end=end, replace=replace, add=add, remove=remove,
                layer=layer, by=by, why=why,
            )
        )  # fmt: skip

    def overrides(self, *, active: bool = True) -> list[Override]:
        """The run-time overrides not over yet (all of them with ``active=False``)."""
        return self._drive(self._list_overrides(active))

    def cancel_override(self, override_id: str, *, by: str) -> Override:
        """End an override now (it is cut short, so the past keeps it).

        Raises:
            InvalidCommand: no such override.
        """
        return self._drive(self._cancel_override(override_id, by))

    def notify_oncall(self) -> int:
        """Say handoffs and due shift reminders in the chat (the worker runs it); how many.

        Only with ``Policy.oncall_notices`` or ``Policy.shift_reminder``; the first call says
        none of the past.
        """
        return self._drive(self._notify_oncall())

    def record_shifts(self) -> int:
        """Keep the shifts that ended since the last kept ones (the worker runs it); how many."""
        return self._drive(self._record_shifts())

    def get(self, incident_id: str) -> Incident:
        """Return the incident as its stored events make it.

        Raises:
            IncidentNotFound: no incident has this id.
        """
        return self._drive(self._flushed_first(self._load(incident_id), (incident_id,)))

    def history(self, incident_id: str) -> list[Event]:
        """Return the incident's events, oldest first.

        Raises:
            IncidentNotFound: no incident has this id.
        """
        return self._drive(self._flushed_first(self._history(incident_id), (incident_id,)))

    def incidents(self, state: str | None = None) -> list[Incident]:
        """Return the incidents (in ``state`` when given), oldest first."""
        return self._drive(self._flushed_first(self._incidents(state)))

    def incident_page(
        self, filters: IncidentFilter, *, cursor: str | None = None, limit: int = 50
    ) -> IncidentPage:
        """A page of the incidents ``filters`` matches: the ones not closed first, then closed.

        The newest opened first in each. From the store's index (``ports.IncidentQuery``) when
        it has one, loading only the page's incidents; else every incident of the states asked
        is loaded and filtered. Pass the page's ``next_cursor`` back for the next page.

        Raises:
            InvalidCommand: a limit outside 1..500, or a cursor this list did not make.
        """
        return self._drive(self._flushed_first(self._incident_page(filters, cursor, limit)))

    # ----------------------------------------------------------------- internals

    def _waiting(self, some: bool) -> None:
        """Outcomes wait to be written: written at the interpreter's exit if still waiting."""
        if some != self._exit_hook:
            self._exit_hook = some
            (atexit.register if some else atexit.unregister)(self._flush_at_exit)

    def _flush_at_exit(self) -> None:
        """Write the outcomes still waiting (a script's last command); a failure is dropped.

        Not written, their messages are sent again after their claims end, under the same
        idempotency keys (docs/reliability.md).
        """
        with contextlib.suppress(Exception):
            self._drive(self._flush())

    def _drive(self, steps: Steps[T]) -> T:
        # getattr(self, name) is what _port does, without a Python call per port call.
        return run(steps, partial(getattr, self))

    def _in_transaction(self, steps: Steps[T]) -> T:
        """Run a command's steps in the store's unit of work, where it has one.

        ``ports.CommandTransaction``: the command's reads and its decision's append share one
        transaction (PostgreSQL). A store without it runs each call as before.
        """
        unit = getattr(self.store, "transaction", None)
        if unit is None:
            return self._drive(steps)
        with unit():
            return self._drive(steps)

    def _run(self, incident_id: str, command: cmd.Command) -> Incident:
        return self._in_transaction(self._command(incident_id, command))
