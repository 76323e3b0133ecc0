"""Delivery outcomes kept in memory until the next append: one transaction per command.

After a command's own sends (the library's calls deliver before they return), how they went
is decided at once: the cache, the command's answer and ``get`` show it. But an outcome that
decides nothing else (``MessageDelivered``/``DeliveryFailed`` and the settled outbox rows, no
new message, no change of state) is not written in a transaction of its own: it rides on this
flow's next append (the incident's next command, or another incident's) in the same
transaction, or is flushed on its own by a read of the flow (``get``, ``history``,
``incidents``), ``deliver_pending`` (so a worker turn), a claim renewal (``ClaimKeeper``,
every third of a hold), ``drain``, the interpreter's exit (sync flow), or when more than
:data:`MOST` incidents wait. docs/reliability.md says what a kill costs: the message is sent
again under its idempotency key after its claim ends, and the receiver keeps one.

Who writes them: the command holding the incident's lock (its next command, which decided on
them), or a flusher that takes the lock without waiting (an incident a command is working on
is left to that command). So an unflushed outcome is written once, by one writer.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from .._core.incident import Incident
from .._core.steps import Steps, T, call
from .._response.decide import Decision, Outcome, decide_outcomes
from ..exceptions import ConcurrencyError
from ..ports import StreamAppend
from .loop import Loop, _log, _outcomes_only

#: More incidents than this waiting with unflushed outcomes: they are written at once.
MOST = 64


@attrs.frozen
class Unflushed:
    """One incident's outcomes decided and not written: the append, and what it was made of."""

    append: StreamAppend
    outcomes: tuple[Outcome, ...]

    @property
    def top(self) -> int:
        """The version the incident has once they are written (the cache's)."""
        return self.append.snapshot.version


def merged(first: StreamAppend, then: StreamAppend) -> StreamAppend:
    """One append of an incident made of two in a row (``then`` decided on ``first``'s result).

    A message in both is upserted once, as ``then`` has it (decided on ``first``'s).
    """
    later = {m.id for m in then.outbox}
    return StreamAppend(
        incident_id=then.incident_id,
        expected_version=first.expected_version,
        events=(*first.events, *then.events),
        snapshot=then.snapshot,
        outbox=(*(m for m in first.outbox if m.id not in later), *then.outbox),
        claimed_until=then.claimed_until,  # claims only new messages: the outcomes have none
        durable=first.durable or then.durable,
    )


class OutcomeSteps(Loop):
    """Outcomes decided now and written with the next append (or flushed), as steps."""

    if TYPE_CHECKING:  # the delivery steps', which subclass these

        def _record(self, incident_id: str, outcomes: list[Outcome]) -> Steps[int]: ...

    def _defers(self) -> bool:
        """Whether outcomes wait for the next append: a store that says ``light_appends``.

        A store that says nothing (``MemoryStore``: nothing to save) records them at once.
        """
        return bool(getattr(self._port("store"), "light_appends", False)) and self._appends_all()

    def _defer(self, sent: dict[str, list[Outcome]]) -> dict[str, list[Outcome]]:
        """Decide the outcomes and keep those that decide nothing else; return the others.

        Returned (to be recorded now, as before): an incident not in the cache, a failed
        send (its retry is due soon, for any sender), or outcomes that queue a message or
        move the incident (a publisher's answer).
        """
        now = self._now()
        policy = self._policy()
        rest: dict[str, list[Outcome]] = {}
        for incident_id, outcomes in sent.items():
            incident = self._cache.get(incident_id)
            if incident is None or any(o.error is not None for o in outcomes):
                # A failure is written at once: any sender may retry it when it is due.
                rest[incident_id] = outcomes
                continue
            decision = decide_outcomes(incident, outcomes, now, policy)
            if not decision.events or not _outcomes_only(decision):
                rest[incident_id] = outcomes
                continue
            append = StreamAppend(
                incident_id=incident_id,
                expected_version=incident.version,
                events=decision.events,
                snapshot=decision.incident,
                outbox=decision.outbox,
                claimed_until=now + self._claim_span(),
                durable=False,
            )
            with self._unflushed_lock:
                known = self._unflushed.get(incident_id)
                if known is not None and known.top != incident.version:  # pragma: no cover
                    rest[incident_id] = outcomes  # the cache left them behind: record now
                    continue
                if known is not None:
                    kept = Unflushed(merged(known.append, append), (*known.outcomes, *outcomes))
                else:
                    kept = Unflushed(append, tuple(outcomes))
                self._unflushed[incident_id] = kept
            self._remember(decision.incident)
            self._committed(incident, decision.incident)
        with self._unflushed_lock:
            self._waiting(bool(self._unflushed))
        return rest

    def _waiting(self, some: bool) -> None:
        """Told (under the lock) whether outcomes wait now: the sync flow's exit hook."""

    def _take(
        self, own: Collection[str], others: Collection[str] | None
    ) -> tuple[list[Unflushed], list[str]]:
        """Take the unflushed outcomes to write; return them and the locks taken for them.

        ``own``: incidents whose lock the caller holds (taken as they are). ``others``: more
        incidents (None: all), each taken only if its lock is free (taken without waiting:
        the command holding it writes them itself); the caller releases those locks.
        """
        taken: list[Unflushed] = []
        locked: list[str] = []
        with self._unflushed_lock:
            for incident_id in list(self._unflushed):
                if incident_id not in own:
                    if others is not None and incident_id not in others:
                        continue
                    if not self._locks.try_acquire(incident_id):
                        continue
                    locked.append(incident_id)
                taken.append(self._unflushed.pop(incident_id))
            self._waiting(bool(self._unflushed))
        return taken, locked

    def _put_back(self, taken: Sequence[Unflushed]) -> None:
        """Keep outcomes whose write failed (not a conflict) for the next append or flush."""
        with self._unflushed_lock:
            for one in taken:
                incident_id = one.append.incident_id
                newer = self._unflushed.get(incident_id)
                if newer is None:
                    self._unflushed[incident_id] = one
                elif newer.append.expected_version == one.top:  # pragma: no cover - a race
                    self._unflushed[incident_id] = Unflushed(
                        merged(one.append, newer.append), (*one.outcomes, *newer.outcomes)
                    )
                else:  # pragma: no cover - a race: lost, sent again (see the module's doc)
                    self._forget(incident_id)
            self._waiting(bool(self._unflushed))

    def _release_all(self, locked: Sequence[str]) -> None:
        for incident_id in locked:
            self._locks.release(incident_id)

    def _fold(
        self,
        before: Incident | None,
        decision: Decision,
        now: datetime,
        *,
        light: bool,
        alone: bool,
    ) -> Steps[bool]:
        """A command's decision appended with the unflushed outcomes; False: not written.

        ``alone`` (it changes the runbook catalog, written beside it): the incident's own
        outcomes are written first, and the caller appends the decision as usual.
        """
        incident = decision.incident
        if alone:
            yield from self._flush((), own=(incident.id,))
            return False
        own = self._append_of(before, decision, now, durable=not light)
        return (yield from self._append_with_outcomes([own]))

    def _append_with_outcomes(self, appends: Sequence[StreamAppend]) -> Steps[bool]:
        """``appends`` and the unflushed outcomes in one transaction; False: none waited.

        An incident's own outcomes and its new append become one append (the new one was
        decided on them). Refused (ConcurrencyError: another process appended to one of the
        incidents), the outcomes are written on their own first (each re-decided if it must)
        and ``appends`` tried alone, their own refusal raised.
        """
        taken, locked = self._take({a.incident_id for a in appends}, None)
        try:
            if not taken:
                return False
            mine = {one.append.incident_id: one for one in taken}
            batch = [one.append for one in taken]
            for append in appends:
                one = mine.get(append.incident_id)
                if one is not None and one.top == append.expected_version:
                    batch[batch.index(one.append)] = merged(one.append, append)
                else:
                    batch.append(append)
            try:
                yield from call("store", "append_all", batch)
            except ConcurrencyError:
                pass
            except BaseException:
                self._put_back(taken)
                raise
            else:
                return True
            yield from self._write_each(taken)
            yield from call("store", "append_all", list(appends))
            return True
        finally:
            self._release_all(locked)

    def _flush(
        self, others: Collection[str] | None = None, *, own: Collection[str] = ()
    ) -> Steps[int]:
        """Write the unflushed outcomes now, in one transaction; return how many incidents'.

        ``own``: incidents whose lock the caller holds; ``others`` (None: every other one)
        are written unless a command holds their incident (it writes them with its append).
        """
        if not self._unflushed:
            return 0
        taken, locked = self._take(own, others)
        try:
            if not taken:
                return 0
            try:
                yield from call("store", "append_all", [one.append for one in taken])
            except ConcurrencyError:
                yield from self._write_each(taken)
            except BaseException:
                self._put_back(taken)
                raise
            return len(taken)
        finally:
            self._release_all(locked)

    def _write_each(self, taken: Sequence[Unflushed]) -> Steps[None]:
        """Each incident's outcomes on its own; refused, re-decided on the stored incident."""
        for one in taken:
            incident_id = one.append.incident_id
            try:
                yield from call("store", "append_all", [one.append])
                continue
            except ConcurrencyError:
                _log.debug("incident_flow.delivery_record_retried", incident_id=incident_id)
            except Exception as exc:  # noqa: BLE001 - the messages' own command is committed
                _log.error(
                    "incident_flow.delivery_not_recorded",
                    incident_id=incident_id,
                    messages=[o.message.id for o in one.outcomes],
                    error=f"{type(exc).__name__}: {exc}",
                )
                self._forget(incident_id)
                continue
            self._forget(incident_id)  # decided on a version another writer has passed
            yield from self._record(incident_id, list(one.outcomes))

    def _flushed_first(self, steps: Steps[T], ids: Collection[str] | None = None) -> Steps[T]:
        """``steps`` (a read) once the unflushed outcomes (of ``ids``, or all) are written."""
        yield from self._flush(ids)
        return (yield from steps)
