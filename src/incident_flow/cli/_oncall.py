"""``incident-flow oncall`` and ``incident-flow schedule show|hours``: who is on call, and when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click
from rich.table import Table

from ..exceptions import InvalidCommand
from ..schedules._book import describe
from ..schedules._book import hours as hours_of
from ._common import Context, clean, console, errors, pass_context, say, when

__all__ = ["oncall", "schedule_group"]


def _when(text: str | None, option: str) -> datetime:
    return datetime.now(UTC) if text is None else when(text, option)


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


@schedule_group.command("override")
@click.argument("schedule")
@click.option("--from", "start", default=None, help="Start (ISO 8601); default now.")
@click.option("--to", "end", required=True, help="End (ISO 8601).")
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
        made = context.flow().override(
            schedule,
            start=None if start is None else _when(start, "--from"),
            end=_when(end, "--to"),
            replace=list(replace) or None,
            add=add,
            remove=remove,
            layer=layer,
            by=by,
            why=why,
        )
    say(f"{made.id}: {clean(schedule)} overridden until {made.end:%Y-%m-%d %H:%M} UTC")


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
    for column in ("id", "schedule", "layer", "from", "to", "change", "by", "why"):
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
    say(f"{cut.id}: ends {cut.end:%Y-%m-%d %H:%M} UTC")
