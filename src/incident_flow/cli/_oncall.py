"""``incident-flow oncall`` and ``incident-flow schedule show|hours``: who is on call, and when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import click
from rich.table import Table

from ..exceptions import InvalidCommand
from ..schedules._book import Schedules, Shift, describe
from ..schedules._book import hours as hours_of
from ..schedules._clock import instant
from ._common import Context, clean, console, errors, pass_context, say, stamp
from ._teams import check_team, level_lines

__all__ = ["oncall", "schedule_group"]

#: What the options' help says of a time without an offset.
_LOCAL = "ISO 8601; without an offset, in the schedule's time zone"


def _zone(book: Schedules, name: str) -> ZoneInfo:
    """The time zone of ``name``: its version in force now (else its latest one)."""
    version = book.version_at(name, datetime.now(UTC))
    if version is None:
        version = [v for v in book.versions if v.name == name][-1]
    return version.zone


def _parse(text: str | None, option: str) -> datetime | None:
    """An option's ISO 8601 time as written (None: now); without an offset, it is naive.

    Raises:
        InvalidCommand: not such a time (the message names the option).
    """
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        msg = f"{option} takes an ISO 8601 time like 2026-12-06T18:00+01:00, got {text!r}"
        raise InvalidCommand(msg) from None


def _in(at: datetime | None, zone: ZoneInfo) -> datetime:
    """The instant of a parsed time (None: now).

    One without an offset is wall time in ``zone``, as in the policy file and by its DST rules.
    """
    if at is None:
        return datetime.now(UTC)
    return at if at.utcoffset() is not None else instant(at, zone)


def _when(text: str | None, option: str, zone: ZoneInfo) -> datetime:
    """An option's time (see :func:`_parse` and :func:`_in`)."""
    return _in(_parse(text, option), zone)


def _names(book: Schedules, name: str | None) -> list[str]:
    if name is None:
        if not book.names:
            msg = "the policy has no schedules ([[schedules]])"
            raise InvalidCommand(msg)
        return list(book.names)
    if name not in book:
        msg = f"no schedule {name!r} (known: {', '.join(book.names) or 'none'})"
        raise InvalidCommand(msg)
    return [name]


class _Answers:
    """Who is on call, as the flow answers with a store, else from the policy alone.

    With a store: its record of past shifts and its run-time overrides count. Without one (no
    --db file): a schedule question needs no incident database.
    """

    def __init__(self, context: Context, book: Schedules) -> None:
        self.book = book
        self.flow: Any = context.flow() if context.has_store() else None
        if self.flow is None:
            click.echo(
                f"(no incident database at {context.db}: from the policy alone, "
                "without run-time overrides)",
                err=True,
            )

    def on_call(self, name: str, at: datetime) -> tuple[str, ...]:
        if self.flow is not None:
            people: tuple[str, ...] = self.flow.on_call(name, at)
            return people
        return self.book.on_call(name, at)

    def shifts(self, name: str, start: datetime, end: datetime) -> list[Shift]:
        if self.flow is not None:
            found: list[Shift] = self.flow.shifts(name, start, end)
            return found
        return self.book.shifts(name, start, end)


def _people(people: tuple[str, ...]) -> str:
    return clean(", ".join(people)) if people else "NOBODY (a gap)"


@click.command("oncall")
@click.argument("schedule", required=False)
@click.option("--at", "at", default=None, help=f"When ({_LOCAL}); default now.")
@click.option("--team", default=None, help="Who each escalation level of this team pages.")
@pass_context
def oncall(context: Context, schedule: str | None, at: str | None, team: str | None) -> None:
    """Who is on call now (or --at a time), and until when; --team: who that team pages.

    Needs only the policy; with an incident database (--db, --config), its recorded shifts
    and run-time overrides count too.
    """
    with errors():
        written = _parse(at, "--at")
        if team is not None:
            if schedule is not None:
                msg = "--team says who a team's levels page: give it without a schedule"
                raise InvalidCommand(msg)
            _team_pages(context, team, written)
            return
        book = context.policy().schedules
        names = _names(book, schedule)
        answers = _Answers(context, book)  # the store's record first, where there is one
        for name in names:
            when = _in(written, _zone(book, name))
            ahead = answers.shifts(name, when, when + timedelta(days=60))
            say(clean(describe(name, answers.on_call(name, when), ahead)))


def _team_pages(context: Context, team: str, written: datetime | None) -> None:
    """Who each level of ``team`` pages at ``written`` (now), run-time overrides counted."""
    policy = context.policy()
    check_team(policy, team)
    if context.has_store():
        flow = context.flow()
        policy = flow._drive(flow._with_overrides())  # the overrides in the store count
    when = written if written is not None and written.utcoffset() is not None else None
    if when is None:
        when = datetime.now(UTC) if written is None else written.replace(tzinfo=UTC)
    seen = policy.for_team(team)
    chat = policy.team(team).chat_channel or "the configured chat channel"
    say(clean(f"{team} pages at {stamp(when)} (its chat: {chat}):"))
    for line in level_lines(seen, when):
        say(clean(line))


@click.group("schedule")
def schedule_group() -> None:
    """Schedules: their shifts, the hours each person was on call, overrides.

    A time without an offset (--from 2026-12-08T09:00) is in the schedule's time zone, as in
    the policy file.
    """


def _local(at: datetime, zone: ZoneInfo) -> str:
    """``2026-12-08 12:00 CET (2026-12-08 11:00 UTC)``: the schedule's wall time, and UTC."""
    if str(zone) == "UTC":
        return stamp(at, zone)
    return f"{stamp(at, zone)} ({at.astimezone(UTC):%Y-%m-%d %H:%M} UTC)"


@schedule_group.command("show")
@click.argument("schedule")
@click.option("--from", "start", default=None, help=f"Start ({_LOCAL}); default now.")
@click.option("--to", "end", default=None, help=f"End ({_LOCAL}); default 14 days later.")
@pass_context
def show(context: Context, schedule: str, start: str | None, end: str | None) -> None:
    """The shifts of a schedule in a period (gaps included), in its zone and in UTC.

    Needs only the policy; with an incident database, its record and overrides count too.
    """
    with errors():
        book = context.policy().schedules
        (name,) = _names(book, schedule)
        zone = _zone(book, name)
        begin = _when(start, "--from", zone)
        finish = _when(end, "--to", zone) if end else begin + timedelta(days=14)
        shifts = _Answers(context, book).shifts(name, begin, finish)
    local = str(zone) != "UTC"
    title = f"{clean(name)}: {stamp(begin, zone)} to {stamp(finish, zone)}"
    table = Table(title=title + (f" ({zone})" if local else ""))
    columns = ("from (UTC)", "to (UTC)", "hours", "on call")
    for column in (f"from ({zone})", f"to ({zone})", *columns) if local else columns:
        table.add_column(column)
    for shift in shifts:
        cells = (stamp(shift.start, zone), stamp(shift.end, zone)) if local else ()
        table.add_row(
            *cells,
            f"{shift.start.astimezone(UTC):%Y-%m-%d %H:%M}",
            f"{shift.end.astimezone(UTC):%Y-%m-%d %H:%M}",
            f"{shift.length.total_seconds() / 3600:.1f}",
            _people(shift.people),
        )
    console.print(table)


@schedule_group.command("hours")
@click.argument("schedule")
@click.option("--from", "start", required=True, help=f"Start ({_LOCAL}).")
@click.option("--to", "end", required=True, help=f"End ({_LOCAL}).")
@pass_context
def hours(context: Context, schedule: str, start: str, end: str) -> None:
    """Hours on call per person over a period (fairness, payroll).

    Needs only the policy; with an incident database, its record and overrides count too.
    """
    with errors():
        book = context.policy().schedules
        (name,) = _names(book, schedule)
        zone = _zone(book, name)
        begin, finish = _when(start, "--from", zone), _when(end, "--to", zone)
        if finish <= begin:
            msg = "--to must come after --from"
            raise InvalidCommand(msg)
        shifts = _Answers(context, book).shifts(name, begin, finish)
        totals = hours_of(shifts)
        gaps = sum((s.length for s in shifts if s.gap), timedelta(0))
    table = Table(
        title=f"{clean(name)}: hours on call, {stamp(begin, zone)} to {stamp(finish, zone)}"
    )
    table.add_column("person")
    table.add_column("hours", justify="right")
    for person, total in sorted(totals.items(), key=lambda item: (-item[1], item[0])):
        table.add_row(clean(person), f"{total.total_seconds() / 3600:.1f}")
    table.add_row("(nobody: gaps)", f"{gaps.total_seconds() / 3600:.1f}")
    console.print(table)


@schedule_group.command("override")
@click.argument("schedule")
@click.option("--from", "start", default=None, help=f"Start ({_LOCAL}); default now.")
@click.option("--to", "end", required=True, help=f"End ({_LOCAL}).")
@click.option("--replace", "replace", multiple=True, help="Who is on call instead (repeat).")
@click.option("--add", "add", multiple=True, help="Who is added (repeat).")
@click.option("--remove", "remove", multiple=True, help="Who is taken off (repeat).")
@click.option("--layer", default=None, help="Only this layer (its priority still applies).")
@click.option("--by", required=True, help="Who makes the change.")
@click.option("--why", required=True, help="Why (a swap, a holiday).")
@pass_context
def override(
    context: Context,
    *,
    schedule: str,
    start: str | None,
    end: str,
    replace: tuple[str, ...],
    add: tuple[str, ...],
    remove: tuple[str, ...],
    layer: str | None,
    by: str,
    why: str,
) -> None:
    """Change who is on call for a while (kept in the store; every replica pages by it)."""
    with errors():
        book = context.policy().schedules
        (name,) = _names(book, schedule)
        zone = _zone(book, name)
        made = context.flow().override(
            name,
            start=None if start is None else _when(start, "--from", zone),
            end=_when(end, "--to", zone),
            replace=list(replace) or None,
            add=add,
            remove=remove,
            layer=layer,
            by=by,
            why=why,
        )
    say(f"{made.id}: {clean(schedule)} overridden until {_local(made.end, zone)}")


@schedule_group.command("overrides")
@click.option("--all", "everything", is_flag=True, help="Ended ones too.")
@pass_context
def list_overrides(context: Context, everything: bool) -> None:
    """The run-time overrides in force (or all of them)."""
    with errors():
        found = context.flow().overrides(active=not everything)
    if not found:
        say("no overrides")
        return
    table = Table()
    for column in ("id", "schedule", "layer", "from (UTC)", "to (UTC)", "change", "by", "why"):
        table.add_column(column)
    for o in found:
        change = (
            " ".join([f"replace={','.join(o.replace)}"] if o.replace is not None else [])
            + "".join(f" +{p}" for p in o.add)
            + "".join(f" -{p}" for p in o.remove)
        )
        table.add_row(
            str(o.id), clean(o.schedule or ""), clean(o.layer or "(all)"),
            f"{o.start:%Y-%m-%d %H:%M}", f"{o.end:%Y-%m-%d %H:%M}", clean(change.strip()),
            clean(o.by or ""), clean(o.why or ""),
        )  # fmt: skip
    console.print(table)


@schedule_group.command("cancel-override")
@click.argument("override_id")
@click.option("--by", required=True, help="Who cancels it.")
@pass_context
def cancel_override(context: Context, override_id: str, by: str) -> None:
    """End an override now (it stays in the past as it was)."""
    with errors():
        cut = context.flow().cancel_override(override_id, by=by)
        book = context.policy().schedules
        known = cut.schedule if cut.schedule in book else None
        zone = ZoneInfo("UTC") if known is None else _zone(book, known)
    say(f"{cut.id}: ends {_local(cut.end, zone)}")
