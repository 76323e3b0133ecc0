"""Every schedule and its versions: who is on call at an instant, and the shifts of a period."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import attrs

from ._model import Override, Schedule

__all__ = ["Schedules", "Shift"]

_BEGINNING = datetime.min.replace(tzinfo=UTC)


@attrs.frozen
class Shift:
    """Who was (or will be) on call, from ``start`` to ``end``; nobody: a gap."""

    schedule: str
    start: datetime
    end: datetime
    people: tuple[str, ...]

    @property
    def gap(self) -> bool:
        """True when nobody is on call."""
        return not self.people

    @property
    def length(self) -> timedelta:
        """How long it lasts."""
        return self.end - self.start


def _who(people: tuple[str, ...]) -> str:
    return ", ".join(people) if people else "NOBODY (a gap)"


def _versions(value: Iterable[Schedule]) -> tuple[Schedule, ...]:
    return tuple(sorted(value, key=lambda s: (s.name, s.effective_from or _BEGINNING)))


@attrs.frozen
class Schedules:
    """The schedules of a policy, each with its versions (an edit is a new version).

    A version applies from its ``effective_from`` until the next one's: an edit never changes
    who was on call before it takes effect.
    """

    versions: tuple[Schedule, ...] = attrs.field(default=(), converter=_versions)

    def with_overrides(self, overrides: Sequence[Override]) -> Schedules:
        """These schedules with overrides made at run time (each for its ``schedule``)."""
        if not overrides:
            return self
        return Schedules(
            attrs.evolve(
                version,
                overrides=(
                    *version.overrides,
                    *(o for o in overrides if o.schedule == version.name),
                ),
            )
            for version in self.versions
        )

    @property
    def names(self) -> tuple[str, ...]:
        """The schedules' names, in order."""
        return tuple(dict.fromkeys(s.name for s in self.versions))

    def __contains__(self, name: object) -> bool:
        return any(s.name == name for s in self.versions)

    def _spans(self, name: str) -> list[tuple[datetime, datetime | None, Schedule]]:
        mine = [s for s in self.versions if s.name == name]
        if not mine:
            msg = f"no schedule {name!r} (known: {', '.join(self.names) or 'none'})"
            raise KeyError(msg)
        spans = []
        for index, version in enumerate(mine):
            start = version.effective_from or _BEGINNING
            following = mine[index + 1].effective_from if index + 1 < len(mine) else None
            spans.append((start, following, version))
        return spans

    def version_at(self, name: str, at: datetime) -> Schedule | None:
        """The version of ``name`` in effect at ``at`` (None before the first).

        Raises:
            KeyError: no such schedule.
        """
        for start, end, version in self._spans(name):
            if start <= at and (end is None or at < end):
                return version
        return None

    def on_call(self, name: str, at: datetime) -> tuple[str, ...]:
        """Who is on call in ``name`` at ``at`` (nobody: an empty tuple).

        Raises:
            KeyError: no such schedule.
        """
        at = at.astimezone(UTC)
        version = self.version_at(name, at)
        return () if version is None else version.on_call(at)

    def shifts(self, name: str, start: datetime, end: datetime) -> list[Shift]:
        """The shifts of ``name`` from ``start`` to ``end``: contiguous, gaps included.

        Raises:
            KeyError: no such schedule.
        """
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        if end <= start:
            return []
        points = {start, end}
        for span_start, span_end, version in self._spans(name):
            lower = max(start, span_start)
            upper = end if span_end is None else min(end, span_end)
            if lower >= upper:
                continue
            points.update((lower, upper))
            points.update(version.changes(lower, upper))
        edges = sorted(p for p in points if start <= p <= end)
        shifts: list[Shift] = []
        for begin, finish in pairwise(edges):
            people = self.on_call(name, begin)
            if shifts and shifts[-1].people == people:
                shifts[-1] = attrs.evolve(shifts[-1], end=finish)
            else:
                shifts.append(Shift(name, begin, finish, people))
        return shifts

    def describe(self, name: str, at: datetime) -> str:
        """One line: who is on call in ``name`` at ``at``, until when, and who is next.

        Raises:
            KeyError: no such schedule.
        """
        at = at.astimezone(UTC)
        return describe(
            name, self.on_call(name, at), self.shifts(name, at, at + timedelta(days=60))
        )

    def hours(self, name: str, start: datetime, end: datetime) -> dict[str, timedelta]:
        """How long each person was on call in ``name`` over the period (fairness, payroll)."""
        return hours(self.shifts(name, start, end))


def hours(shifts: Iterable[Shift]) -> dict[str, timedelta]:
    """How long each person was on call over these shifts."""
    out: dict[str, timedelta] = {}
    for shift in shifts:
        for person in shift.people:
            out[person] = out.get(person, timedelta(0)) + shift.length
    return out


def describe(name: str, people: tuple[str, ...], ahead: list[Shift]) -> str:
    """One line: ``primary: alice until 2026-01-06 11:00 UTC, then bob``."""
    until = f" until {ahead[0].end:%Y-%m-%d %H:%M} UTC" if ahead else ""
    then = f", then {_who(ahead[1].people)}" if len(ahead) > 1 else ""
    return f"{name}: {_who(people)}{until}{then}"


def notices(
    book: Schedules, name: str, since: datetime, now: datetime, remind: timedelta
) -> list[tuple[str, str]]:
    """The handoffs of ``name`` in (since, now], and the reminders due then, as (key, text).

    A handoff's key is ``handoff/<schedule>/<start>``; a reminder's ``shift/<schedule>/<start>``
    (for the shift starting ``remind`` after the reminder is due). ``remind`` 0: no reminders.
    """
    out: list[tuple[str, str]] = []
    if now <= since:
        return out
    around = book.shifts(name, since - timedelta(seconds=1), now + timedelta(seconds=1))
    for before, after in pairwise(around):
        if since < after.start <= now:
            # Its real end (the shift above is cut at now): looked up only at a handoff.
            whole = book.shifts(name, after.start, after.start + timedelta(days=60))
            until = f" until {whole[0].end:%Y-%m-%d %H:%M} UTC" if len(whole) > 1 else ""
            out.append(
                (
                    f"handoff/{name}/{after.start.isoformat()}",
                    f"On call in {name}: {_who(after.people)}{until} (after {_who(before.people)})",
                )
            )
    if remind > timedelta(0):
        ahead = book.shifts(name, since + remind, now + remind + timedelta(seconds=1))
        out.extend(
            (f"shift/{name}/{shift.start.isoformat()}", _reminder(name, shift))
            for shift in ahead[1:]
            if since + remind < shift.start <= now + remind and shift.people
        )
    return out


def _reminder(name: str, shift: Shift) -> str:
    start = f"{shift.start:%Y-%m-%d %H:%M} UTC"
    return f"Reminder: {_who(shift.people)} on call in {name} from {start}"
