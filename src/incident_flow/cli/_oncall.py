"""``incident-flow oncall`` and ``incident-flow schedule show|hours``: who is on call, and when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click
from rich.table import Table

from ..exceptions import InvalidCommand
from ..schedules._book import describe
from ..schedules._book import hours as hours_of
from ._common import Context, clean, console, errors, pass_context, say

__all__ = ["oncall", "schedule_group"]


def _when(text: str | None, option: str) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        msg = f"{option} takes an ISO 8601 time like 2026-12-06T18:00+01:00, got {text!r}"
        raise InvalidCommand(msg) from None
    return at if at.utcoffset() is not None else at.replace(tzinfo=UTC)


def _names(context: Context, name: str | None) -> list[str]:
    schedules = context.policy().schedules
    if name is None:
        if not schedules.names:
            msg = "the policy has no schedules ([[schedules]])"
            raise InvalidCommand(msg)
        return list(schedules.names)
    if name not in schedules:
        msg = f"no schedule {name!r} (known: {', '.join(schedules.names) or 'none'})"
        raise InvalidCommand(msg)
    return [name]


def _people(people: tuple[str, ...]) -> str:
    return clean(", ".join(people)) if people else "NOBODY (a gap)"


@click.command("oncall")
@click.argument("schedule", required=False)
@click.option("--at", "at", default=None, help="When (ISO 8601; UTC if no zone); default now.")
@pass_context
def oncall(context: Context, schedule: str | None, at: str | None) -> None:
    """Who is on call now (or --at a time), and until when."""
    with errors():
        when = _when(at, "--at")
        names = _names(context, schedule)
        flow = context.flow()  # the past as the store recorded it, the rest by the policy
        for name in names:
            ahead = flow.shifts(name, when, when + timedelta(days=60))
            say(clean(describe(name, flow.on_call(name, when), ahead)))


@click.group("schedule")
def schedule_group() -> None:
    """Schedules: their shifts, and the hours each person was on call."""


@schedule_group.command("show")
@click.argument("schedule")
@click.option("--from", "start", default=None, help="Start (ISO 8601); default now.")
@click.option("--to", "end", default=None, help="End (ISO 8601); default 14 days later.")
@pass_context
def show(context: Context, schedule: str, start: str | None, end: str | None) -> None:
    """The shifts of a schedule in a period (gaps included)."""
    with errors():
        (name,) = _names(context, schedule)
        begin = _when(start, "--from")
        finish = _when(end, "--to") if end else begin + timedelta(days=14)
        shifts = context.flow().shifts(name, begin, finish)
    table = Table(title=f"{clean(name)}: {begin:%Y-%m-%d %H:%M} to {finish:%Y-%m-%d %H:%M} UTC")
    for column in ("from (UTC)", "to (UTC)", "hours", "on call"):
        table.add_column(column)
    for shift in shifts:
        table.add_row(
            f"{shift.start:%Y-%m-%d %H:%M}",
            f"{shift.end:%Y-%m-%d %H:%M}",
            f"{shift.length.total_seconds() / 3600:.1f}",
            _people(shift.people),
        )
    console.print(table)


@schedule_group.command("hours")
@click.argument("schedule")
@click.option("--from", "start", required=True, help="Start (ISO 8601).")
@click.option("--to", "end", required=True, help="End (ISO 8601).")
@pass_context
def hours(context: Context, schedule: str, start: str, end: str) -> None:
    """Hours on call per person over a period (fairness, payroll)."""
    with errors():
        (name,) = _names(context, schedule)
        begin, finish = _when(start, "--from"), _when(end, "--to")
        if finish <= begin:
            msg = "--to must come after --from"
            raise InvalidCommand(msg)
        shifts = context.flow().shifts(name, begin, finish)
        totals = hours_of(shifts)
        gaps = sum((s.length for s in shifts if s.gap), timedelta(0))
    table = Table(title=f"{clean(name)}: hours on call")
    table.add_column("person")
    table.add_column("hours", justify="right")
    for person, total in sorted(totals.items(), key=lambda item: (-item[1], item[0])):
        table.add_row(clean(person), f"{total.total_seconds() / 3600:.1f}")
    table.add_row("(nobody: gaps)", f"{gaps.total_seconds() / 3600:.1f}")
    console.print(table)
