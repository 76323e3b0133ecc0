"""On call, as steps: shift records and handoff notices, run-time overrides, who is on call.

The schedules themselves are :mod:`incident_flow.schedules` (pure); the decisions that page
are :mod:`incident_flow._oncall.decide`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import attrs

from .._core.messages import Notification
from .._core.policy import Policy
from .._core.severity import Severity
from .._core.steps import Steps, call
from ..exceptions import (
    InvalidCommand,
)
from ..schedules import Override, Schedules, Shift
from ..schedules._book import notices
from .loop import _FIRST_RECORD, _OVERRIDES_KEPT, Loop, _Decided, _log, _pages, _utc


class OnCallSteps(Loop):
    """On call, as steps: shift records and handoff notices, run-time overrides, who is on call."""

    def _keeps_shifts(self) -> bool:
        return self._store_can("keeps_shifts", "record_shifts")

    def _record_shifts(self) -> Steps[int]:
        """Keep each schedule's shifts that ended since the last kept one, as they were."""
        if not self._keeps_shifts():
            return 0
        now = self._now()
        book = self.policy.schedules
        kept = 0
        for name in book.names:
            since = yield from call("store", "shifts_recorded_until", name)
            if since is None:
                # Nothing kept yet: the shifts that ended in the last 35 days (the first one,
                # cut short by that arbitrary start, is left out).
                found = book.shifts(name, now - _FIRST_RECORD, now)[1:]
            else:
                found = book.shifts(name, since, now)
            ended = [shift for shift in found if shift.end < now]
            if ended:
                yield from call("store", "record_shifts", ended)
                kept += len(ended)
        return kept

    def _who(self, name: str, at: datetime) -> Steps[tuple[str, ...]]:
        """Who was on call at ``at``: the kept record when it covers ``at``, else the policy."""
        at = _utc(at)
        book = yield from self._schedules(name)
        if self._keeps_shifts():
            found: list[Shift] = yield from call(
                "store", "recorded_shifts", name, at, at + timedelta(seconds=1)
            )
            for shift in found:
                if shift.start <= at < shift.end:
                    return shift.people
        return book.on_call(name, at)

    def _schedule_shifts(self, name: str, start: datetime, end: datetime) -> Steps[list[Shift]]:
        """The shifts of a period: as kept where the record reaches, then as the policy says."""
        start, end = _utc(start), _utc(end)
        book = yield from self._schedules(name)
        kept: list[Shift] = []
        if self._keeps_shifts():
            kept = yield from call("store", "recorded_shifts", name, start, end)
        if not kept:
            return book.shifts(name, start, end)
        shifts = [attrs.evolve(s, start=max(s.start, start), end=min(s.end, end)) for s in kept]
        if shifts[0].start > start:
            shifts = book.shifts(name, start, shifts[0].start) + shifts
        if shifts[-1].end < end:
            later = book.shifts(name, shifts[-1].end, end)
            if later and later[0].people == shifts[-1].people:
                shifts[-1] = attrs.evolve(shifts[-1], end=later[0].end)
                later = later[1:]
            shifts += later
        return shifts

    def _with_overrides(self) -> Steps[Policy]:
        yield from self._refresh_overrides()
        return self._policy()

    def _schedules(self, name: str) -> Steps[Schedules]:
        """The schedules as decisions see them (run-time overrides in), having ``name``."""
        book = self.policy.schedules
        if name not in book:
            msg = f"no schedule {name!r} (known: {', '.join(book.names) or 'none'})"
            raise InvalidCommand(msg)
        return (yield from self._with_overrides()).schedules

    def _notify_oncall(self) -> Steps[int]:
        """Say the handoffs since the last turn, and the shift reminders now due, in the chat.

        Sent straight to the chat notifier (no incident's outbox holds them), each with a key
        of its own and marked as possibly sent already, so a notifier that can look (Slack)
        posts it once; one that fails is logged and not retried: a notice, not a page.
        """
        policy = self.policy
        now = self._now()
        since, self._notices_since = self._notices_since or now, now
        if not (policy.oncall_notices or policy.shift_reminder) or not policy.schedules.names:
            return 0
        book = (yield from self._with_overrides()).schedules
        sent = 0
        for name in book.names:
            for key, text in notices(book, name, since, now, policy.shift_reminder):
                if key.startswith("handoff/") and not policy.oncall_notices:
                    continue
                notice = Notification(
                    incident_id=f"schedule:{name}",
                    kind="handoff" if key.startswith("handoff/") else "shift_reminder",
                    text=text,
                    title=f"on call in {name}",
                    severity=Severity.P5,
                    state="notice",
                    idempotency_key=key,
                    resent=True,  # look before posting: another worker may have said it
                    since=since,  # ...at the handoff at the earliest, which is in this window
                )
                try:
                    yield from call("notifier", "send", notice)
                except Exception as exc:  # noqa: BLE001 - a notice never stops the worker
                    _log.warning("incident_flow.notice_failed", key=key, error=str(exc))
                    continue
                sent += 1
        return sent

    def _keeps_overrides(self) -> bool:
        return self._store_can("keeps_overrides", "save_override")

    def _refresh_overrides(self) -> Steps[tuple[Override, ...]]:
        """Re-read the run-time overrides in force (only when the policy has schedules)."""
        if not self.policy.schedules.names:
            return ()
        now = self._now()
        if self._keeps_overrides():
            found: list[Override] = yield from call(
                "store", "overrides", active_after=now - _OVERRIDES_KEPT
            )
        else:
            found = [o for o in self._kept_overrides.values() if o.end > now - _OVERRIDES_KEPT]
        fresh = tuple(found)
        if fresh != self._overrides:
            self._overrides = fresh
        return self._overrides

    def _on_fresh_overrides(self, decide_it: Callable[[Policy], _Decided]) -> Steps[_Decided]:
        """``decide_it(policy)``; when it pages, made on the run-time overrides in the store.

        Whom a page goes to is the only thing the overrides change in a decision, so they are
        read for the decisions that page, whichever path they come by (a new alert, a
        release at a silence's end, a reopen, an escalation), and on every store: a flow made
        for one command (the command line) has read none before. Decided again when they
        differ from those the first decision saw.
        """
        seen = self._overrides
        decided = decide_it(self._policy())
        pages = any(map(_pages, decided if isinstance(decided, list) else [decided]))
        if pages and (yield from self._refresh_overrides()) != seen:
            decided = decide_it(self._policy())
        return decided

    def _override(
        self,
        schedule: str,
        *,
        start: datetime | None,
        end: datetime,
        replace: Sequence[str] | None,
        add: Sequence[str],
        remove: Sequence[str],
        layer: str | None,
        by: str,
        why: str,
    ) -> Steps[Override]:
        book = self.policy.schedules
        now = self._now()
        version = book.version_at(schedule, now) if schedule in book else None
        if version is None:
            msg = f"no schedule {schedule!r} in force (known: {', '.join(book.names) or 'none'})"
            raise InvalidCommand(msg)
        if layer is not None and layer not in {x.name for x in version.layers}:
            names = ", ".join(x.name for x in version.layers)
            msg = f"no layer {layer!r} in schedule {schedule!r} (has: {names})"
            raise InvalidCommand(msg)
        if not by.strip() or not why.strip():
            msg = "an override says who made it and why (by=, why=)"
            raise InvalidCommand(msg)
        if replace is None and not add and not remove:
            msg = "an override changes something: give replace, add or remove"
            raise InvalidCommand(msg)
        begin = now if start is None else _utc(start)
        try:
            override = Override(
                start=begin,
                end=_utc(end),
                layer=layer,
                add=tuple(add),
                remove=tuple(remove),
                replace=None if replace is None else tuple(replace),
                by=by,
                why=why,
                id=f"ovr-{uuid.uuid4().hex[:12]}",
                schedule=schedule,
            )
        except ValueError as exc:
            raise InvalidCommand(f"override: {exc}") from None
        if override.end <= now:
            msg = f"an override ending at {override.end:%Y-%m-%d %H:%M} UTC is over already"
            raise InvalidCommand(msg)
        yield from self._save_override(override)
        yield from self._refresh_overrides()
        _log.info("incident_flow.override_added", override_id=override.id, schedule=schedule)
        return override

    def _save_override(self, override: Override) -> Steps[None]:
        if self._keeps_overrides():
            yield from call("store", "save_override", override)
        else:
            self._kept_overrides[str(override.id)] = override

    def _list_overrides(self, active: bool) -> Steps[list[Override]]:
        after = self._now() if active else None
        if self._keeps_overrides():
            found: list[Override] = yield from call("store", "overrides", active_after=after)
            return found
        kept = sorted(self._kept_overrides.values(), key=lambda o: (o.start, str(o.id)))
        return kept if after is None else [o for o in kept if o.end > after]

    def _cancel_override(self, override_id: str, by: str) -> Steps[Override]:
        known = {o.id: o for o in (yield from self._list_overrides(active=False))}
        override = known.get(override_id)
        if override is None:
            msg = f"no override {override_id!r}"
            raise InvalidCommand(msg)
        now = self._now()
        if override.end > now:
            # Cut short, not deleted: who was on call until now stays as it was.
            cut = max(now, override.start + timedelta(microseconds=1))
            why = f"{override.why} (cancelled by {by})"
            override = attrs.evolve(override, end=cut, why=why)
            yield from self._save_override(override)
            yield from self._refresh_overrides()
        return override
