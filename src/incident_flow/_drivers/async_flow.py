"""AsyncIncidentFlow: the asyncio driver of the same process (the steps of :mod:`._driver`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from .._core import commands as cmd
from .._core.alerts import Alert
from .._core.clock import SystemClock
from .._core.events import Event
from .._core.incident import Incident
from .._core.log import get_logger
from .._core.policy import Policy
from .._core.runbooks import Runbook, checked_runbook
from .._core.severity import Severity
from .._core.steps import Steps, T, run_async
from .._core.storms import LabelMatcher, Silence
from .._responders.actions import Action
from .._runbooks.catalog import Catalog, RunbookRevision
from ..adapters.channels.notifiers import LogNotifier
from ..adapters.publishers.folder import FolderPublisher
from ..adapters.stores.memory import MemoryStore
from ..adapters.stores.threaded import as_async_notifier, as_async_publisher, as_async_store
from ..adapters.trackers.threaded import as_async_tracker
from ..ports import (
    AsyncEventStore,
    AsyncNotifier,
    AsyncPostMortemPublisher,
    AsyncTracker,
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
from .locks import AsyncKeyedLocks
from .steps_trackers import checked_tracker

__all__ = ["AsyncIncidentFlow"]

_log = get_logger("incident_flow")


class AsyncIncidentFlow(FlowCore):
    """:class:`~incident_flow.IncidentFlow` for asyncio code: the same commands and reads, awaited.

    It runs the very same steps as the sync flow (decide, append with the outbox, deliver,
    record) and differs only in how a port is called: an async port (``AsyncPostgresStore``,
    ``AsyncSlackNotifier``...) is awaited; a sync port that never blocks (``MemoryStore``,
    ``RecordingNotifier``, ``LogNotifier``, ``RecordingPublisher``: ``nonblocking = True``) is
    called inline; any other sync port (``SQLiteStore``, ``GitPublisher``, your own) runs on a
    worker thread (:mod:`incident_flow.adapters.stores.threaded`). Nothing blocks the event loop.

    Several tasks may run commands at once; a stale write is retried on the reloaded
    incident, as in the sync flow.

    Args:
        policy: the standards (default :meth:`Policy.default`).
        store: the event store, async or sync (default :class:`MemoryStore`).
        notifier: the chat channel (default :class:`LogNotifier`).
        pager: the pager (default :class:`LogNotifier` on channel ``pager``).
        publisher: where post-mortems go (default ``FolderPublisher.for_policy(policy)``: the
            policy's ``postmortem_folder``, each team's own; on a worker thread).
        clock: where time comes from (default the system clock, UTC).
        lease: how long a sender holds a message it is delivering before others may retry it.
        new_id: makes incident ids (default ``inc-`` and 12 hex digits).
        tracker: the team's issue tracker, async or sync (see :class:`IncidentFlow`).
    """

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        store: AsyncEventStore | EventStore | None = None,
        notifier: AsyncNotifier | Notifier | None = None,
        pager: AsyncNotifier | Notifier | None = None,
        publisher: AsyncPostMortemPublisher | PostMortemPublisher | None = None,
        clock: Clock | None = None,
        lease: timedelta = timedelta(minutes=1),
        new_id: Callable[[], str] = new_incident_id,
        tracker: AsyncTracker | Tracker | None = None,
    ) -> None:
        policy = policy if policy is not None else Policy.default()
        super().__init__(policy, clock if clock is not None else SystemClock(), lease, new_id)
        self._locks = AsyncKeyedLocks()
        checked = checked_tracker(policy, tracker)
        self.tracker = None if checked is None else as_async_tracker(checked)
        self._in_flight: set[asyncio.Future[Any]] = set()
        self.store = store if store is not None else MemoryStore()
        self.notifier = notifier if notifier is not None else LogNotifier()
        self.pager = pager if pager is not None else LogNotifier("pager")
        self.publisher = publisher if publisher is not None else FolderPublisher.for_policy(policy)

    # A port set later is adapted like one given to the constructor.

    @property
    def store(self) -> AsyncEventStore | EventStore:
        """The event store, as this flow calls it (async, inline or on a worker thread)."""
        return self._store

    @store.setter
    def store(self, store: AsyncEventStore | EventStore) -> None:
        self._store = as_async_store(store)

    @property
    def notifier(self) -> AsyncNotifier | Notifier:
        """The chat channel, as this flow calls it."""
        return self._notifier

    @notifier.setter
    def notifier(self, notifier: AsyncNotifier | Notifier) -> None:
        self._notifier = as_async_notifier(notifier)

    @property
    def pager(self) -> AsyncNotifier | Notifier:
        """The pager, as this flow calls it."""
        return self._pager

    @pager.setter
    def pager(self, pager: AsyncNotifier | Notifier) -> None:
        self._pager = as_async_notifier(pager)

    @property
    def publisher(self) -> AsyncPostMortemPublisher | PostMortemPublisher:
        """Where post-mortems go, as this flow calls it."""
        return self._publisher

    @publisher.setter
    def publisher(self, publisher: AsyncPostMortemPublisher | PostMortemPublisher) -> None:
        self._publisher = as_async_publisher(publisher)

    def __repr__(self) -> str:
        return (
            f"AsyncIncidentFlow(store={self.store!r}, notifier={self.notifier!r}, "
            f"pager={self.pager!r}, publisher={self.publisher!r})"
        )

    # ----------------------------------------------------------------- commands

    async def trigger(self, alert: Alert) -> Incident:
        """Route an alert: open an incident or attach it (see :meth:`IncidentFlow.trigger`)."""
        return await self._drive(self._trigger(alert))

    async def trigger_all(self, alerts: Sequence[Alert]) -> list[Incident | None]:
        """Route one body's alerts in few transactions (see :meth:`IncidentFlow.trigger_all`)."""
        return await self._drive(self._trigger_all(alerts))

    async def reclassify(self, incident_id: str, severity: Severity | str, *, by: str) -> Incident:
        """Change the severity; an upgrade to critical pages at once while unresolved."""
        return await self._run(incident_id, cmd.Reclassify(by=by, severity=severity))

    async def acknowledge(self, incident_id: str, *, by: str) -> Incident:
        """Acknowledge the incident (mirrored to the pager when it was paged)."""
        return await self._run(incident_id, cmd.Acknowledge(by=by))

    async def start_runbook(
        self, incident_id: str, *, by: str, runbook: Runbook | None = None
    ) -> Incident:
        """Start working a runbook: ``runbook``, or the catalog's; none found raises an item."""
        return await self._run(incident_id, cmd.StartRunbook(by=by, runbook=runbook))

    async def resolve(self, incident_id: str, *, by: str, summary: str = "") -> Incident:
        """Resolve the incident; never blocked by the process."""
        return await self._run(incident_id, cmd.Resolve(by=by, summary=summary))

    async def reopen(self, incident_id: str, *, by: str) -> Incident:
        """Reopen a resolved incident (a critical one is paged again)."""
        return await self._run(incident_id, self._reopen_command(by))

    async def start_postmortem(
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
        return await self._run(incident_id, command)

    async def amend_postmortem(
        self,
        incident_id: str,
        *,
        by: str,
        impact: str | None = None,
        root_cause: str | None = None,
        learnings: Iterable[str] | None = None,
    ) -> Incident:
        """Change the draft (see :meth:`IncidentFlow.amend_postmortem`)."""
        command = cmd.AmendPostmortem(
            by=by, impact=impact, root_cause=root_cause, learnings=learnings
        )
        return await self._run(incident_id, command)

    async def submit_postmortem(self, incident_id: str, *, by: str) -> Incident:
        """Submit the draft for review (see :meth:`IncidentFlow.submit_postmortem`)."""
        return await self._run(incident_id, self._submit_command(by))

    async def approve_postmortem(self, incident_id: str, *, reviewer: str) -> Incident:
        """Approve the submitted post-mortem (see :meth:`IncidentFlow.approve_postmortem`)."""
        return await self._run(incident_id, cmd.ApprovePostmortem(by=reviewer))

    async def request_postmortem_changes(
        self, incident_id: str, *, reviewer: str, text: str = ""
    ) -> Incident:
        """Ask for changes (see :meth:`IncidentFlow.request_postmortem_changes`)."""
        return await self._run(incident_id, cmd.RequestPostmortemChanges(by=reviewer, text=text))

    async def publish_postmortem(self, incident_id: str, *, by: str) -> Incident:
        """Merge (or save) the approved post-mortem now (see ``IncidentFlow``)."""
        return await self._run(incident_id, cmd.PublishPostmortem(by=by))

    async def poll_reviews(self, *, limit: int = 100) -> list[Incident]:
        """Read the post-mortems' pull requests (see :meth:`IncidentFlow.poll_reviews`)."""
        return await self._drive(self._poll_reviews(limit))

    async def add_runbook(self, incident_id: str, runbook: Runbook, *, by: str) -> Incident:
        """Record a missing runbook as written; settles the 'add runbook' items."""
        return await self._run(incident_id, cmd.AddRunbook(by=by, runbook=runbook))

    async def update_runbook(
        self, incident_id: str, name: str, *, by: str, note: str, url: str | None = None
    ) -> Incident:
        """Record a runbook update (see :meth:`IncidentFlow.update_runbook`)."""
        return await self._run(incident_id, cmd.UpdateRunbook(by=by, name=name, note=note, url=url))

    async def waive_action_item(
        self, incident_id: str, item_id: str, *, by: str, reason: str
    ) -> Incident:
        """Waive an open action item, with a reason."""
        command = cmd.WaiveActionItem(by=by, item_id=item_id, reason=reason)
        return await self._run(incident_id, command)

    async def add_follow_up(
        self, incident_id: str, title: str, *, by: str, owner: str | None = None
    ) -> Incident:
        """Record a follow-up item (see :meth:`IncidentFlow.add_follow_up`)."""
        return await self._run(incident_id, cmd.AddFollowUp(by=by, title=title, owner=owner))

    async def complete_action_item(
        self, incident_id: str, item_id: str, *, by: str, note: str = ""
    ) -> Incident:
        """Mark an open action item done; its tracker issue, if any, is closed."""
        command = cmd.CompleteActionItem(by=by, item_id=item_id, note=note)
        return await self._run(incident_id, command)

    async def poll_follow_ups(self, *, limit: int = 100) -> list[Incident]:
        """Read the items' tracker issues (see :meth:`IncidentFlow.poll_follow_ups`)."""
        return await self._drive(self._poll_follow_ups(limit))

    async def close(self, incident_id: str, *, by: str) -> Incident:
        """Close the incident: needs the post-mortem (if required) and no open action items."""
        return await self._run(incident_id, cmd.Close(by=by))

    async def note(self, incident_id: str, text: str, *, by: str) -> Incident:
        """Add a status update to the timeline and the Slack thread."""
        return await self._run(incident_id, cmd.Note(by=by, text=text))

    async def reassign(self, incident_id: str, team: str, *, by: str) -> Incident:
        """Hand the incident to team ``team`` of the policy; the timeline and the chat say so.

        Its chat moves to the new team's channel; a critical, unresolved incident pages the
        new team's first level, and its escalation starts over with that team's levels.

        Raises:
            InvalidCommand: ``team`` is not a team's name.
            PolicyViolation: the policy has no such team, or the incident is already its.
            InvalidTransition: the incident is closed (or not opened yet: silenced).
        """
        return await self._run(incident_id, cmd.Reassign(by=by, team=team))

    async def assign(self, incident_id: str, role: str, person: str, *, by: str) -> Incident:
        """``person`` takes ``role`` (see :meth:`IncidentFlow.assign`)."""
        return await self._run(incident_id, cmd.AssignRole(by=by, role=role, person=person))

    async def escalate(self, incident_id: str, *, by: str) -> Incident:
        """Page the next escalation level now (see :meth:`IncidentFlow.escalate`)."""
        return await self._run(incident_id, cmd.Escalate(by=by))

    async def apply(self, action: Action) -> Incident:
        """Apply a vendor action (see :meth:`IncidentFlow.apply`)."""
        return await self._drive(self._apply(action))

    async def escalate_due(self, *, limit: int = 100) -> list[Incident]:
        """Page the next escalation level where due (see :meth:`IncidentFlow.escalate_due`)."""
        return await self._drive(self._escalate_due(limit))

    async def remind_due(self, *, limit: int = 100) -> list[Incident]:
        """Remind overdue post-mortems and action items (see :meth:`IncidentFlow.remind_due`)."""
        return await self._drive(self._remind_due(limit))

    async def deliver_pending(self, *, limit: int = 100, batches: int | None = None) -> int:
        """Deliver every due outbox message (see :meth:`IncidentFlow.deliver_pending`)."""
        return await self._drive(self._deliver_pending(limit, batches))

    # ----------------------------------------------------------------- the runbook catalog

    async def runbooks(self) -> Catalog:
        """The runbook catalog now (see :meth:`IncidentFlow.runbooks`)."""
        return await self._read(self._refresh_catalog())

    async def save_runbook(
        self, runbook: Runbook, *, by: str, note: str = "", incident_id: str | None = None
    ) -> RunbookRevision:
        """Add or replace a catalog runbook (see :meth:`IncidentFlow.save_runbook`)."""
        return await self._drive(
            self._save_runbook(*checked_runbook(runbook, by), note, incident_id)
        )

    # ----------------------------------------------------------------- silences

    async def silence(
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
        """Silence matching alerts for a while (see :meth:`IncidentFlow.silence`)."""
        return await self._drive(
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

    async def end_silence(self, silence_id: str, *, by: str) -> Silence:
        """End a silence now (see :meth:`IncidentFlow.end_silence`)."""
        return await self._drive(self._end_silence(silence_id, by))

    async def silences(self, *, active: bool = True) -> list[Silence]:
        """The silences not over yet, or all (see :meth:`IncidentFlow.silences`)."""
        return await self._read(self._silences(self._now() if active else None))

    # ----------------------------------------------------------------- who is on call

    async def on_call(self, schedule: str, at: datetime | None = None) -> tuple[str, ...]:
        """Who is (or was) on call (see :meth:`IncidentFlow.on_call`)."""
        return await self._read(self._who(schedule, self._now() if at is None else at))

    async def shifts(self, schedule: str, start: datetime, end: datetime) -> list[Shift]:
        """The shifts of a period (see :meth:`IncidentFlow.shifts`)."""
        return await self._read(self._schedule_shifts(schedule, start, end))

    async def override(
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
        """Change who is on call for a while (see :meth:`IncidentFlow.override`)."""
        return await self._drive(
            self._override(
                schedule, start=start, end=end, replace=replace, add=add, remove=remove,
                layer=layer, by=by, why=why,
            )
        )  # fmt: skip

    async def overrides(self, *, active: bool = True) -> list[Override]:
        """The run-time overrides (see :meth:`IncidentFlow.overrides`)."""
        return await self._read(self._list_overrides(active))

    async def cancel_override(self, override_id: str, *, by: str) -> Override:
        """End an override now (see :meth:`IncidentFlow.cancel_override`)."""
        return await self._drive(self._cancel_override(override_id, by))

    async def notify_oncall(self) -> int:
        """Say handoffs and shift reminders (see :meth:`IncidentFlow.notify_oncall`)."""
        return await self._drive(self._notify_oncall())

    async def record_shifts(self) -> int:
        """Keep the shifts that ended (see :meth:`IncidentFlow.record_shifts`)."""
        return await self._drive(self._record_shifts())

    # ----------------------------------------------------------------- reads

    async def get(self, incident_id: str) -> Incident:
        """Return the incident as its stored events make it (IncidentNotFound if none)."""
        return await self._read(self._flushed_first(self._load(incident_id), (incident_id,)))

    async def history(self, incident_id: str) -> list[Event]:
        """Return the incident's events, oldest first (IncidentNotFound if none)."""
        return await self._read(self._flushed_first(self._history(incident_id), (incident_id,)))

    async def incidents(self, state: str | None = None) -> list[Incident]:
        """Return the incidents (in ``state`` when given), oldest first."""
        return await self._read(self._flushed_first(self._incidents(state)))

    async def incident_page(
        self, filters: IncidentFilter, *, cursor: str | None = None, limit: int = 50
    ) -> IncidentPage:
        """A page of the incidents ``filters`` matches (see :meth:`IncidentFlow.incident_page`)."""
        return await self._read(self._flushed_first(self._incident_page(filters, cursor, limit)))

    # ----------------------------------------------------------------- delivering later

    def deliver_in_background(self, on: bool = True) -> None:
        """Let commands return once committed and deliver right after, on this loop.

        What a service wants (``incident-flow serve`` does it): a webhook is answered as soon
        as its decisions are durable, and the page and the chat message go out after, in the
        background of the same process (pages first). Nothing is lost if the process dies
        in between: the messages are in the outbox, claimed for a lease, and another sender
        (or this one, restarted) delivers them. :meth:`drain` waits for these deliveries.
        Off (the default), a command returns after delivery was attempted, as in the sync
        flow.
        """
        self._later = self._deliver_later if on else None

    def _deliver_later(self, steps: Steps[int]) -> None:
        task = asyncio.ensure_future(run_async(steps, self._port))
        self._in_flight.add(task)
        task.add_done_callback(self._delivered_later)

    def _delivered_later(self, task: asyncio.Future[Any]) -> None:
        self._in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.error(
                "incident_flow.background_delivery_failed",
                error=f"{type(task.exception()).__name__}: {task.exception()}",
            )

    # ----------------------------------------------------------------- shutting down

    async def drain(self) -> None:
        """Wait until every command whose caller was cancelled has finished its work.

        Call it before a service shuts its loop down, so that no command stops between its
        commit and its deliveries (they would be retried after their lease, but late).
        """
        while self._in_flight:
            await asyncio.wait(set(self._in_flight))
        await self._read(self._flush())  # the delivery outcomes still waiting, written

    # ----------------------------------------------------------------- internals

    async def _drive(self, steps: Steps[T]) -> T:
        """Run steps that change things, to their end even when the caller is cancelled.

        A command committed to the store must also deliver and record what it queued: a
        caller's timeout (``asyncio.timeout``, a web framework dropping a request) cancels
        its wait, not the command. ``drain()`` waits for such commands.
        """
        task = asyncio.ensure_future(run_async(steps, self._port))
        waiting = asyncio.shield(task)
        self._in_flight.add(task)
        task.add_done_callback(lambda done: self._finished(done, waiting))
        return await waiting

    def _finished(self, task: asyncio.Future[Any], waiting: asyncio.Future[Any]) -> None:
        self._in_flight.discard(task)
        if task.cancelled() or task.exception() is None:
            return
        if waiting.cancelled():  # nobody is left to raise it to
            _log.error(
                "incident_flow.command_failed_after_cancel",
                error=f"{type(task.exception()).__name__}: {task.exception()}",
            )

    async def _read(self, steps: Steps[T]) -> T:
        return await run_async(steps, self._port)

    async def _run(self, incident_id: str, command: cmd.Command) -> Incident:
        return await self._drive(self._command(incident_id, command))
