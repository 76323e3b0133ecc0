"""``incident-flow silence``: time-boxed silences by label, with who and why."""

from __future__ import annotations

import click
from rich.table import Table

from .._core.policy import parse_duration
from .._core.storms import Silence
from ..exceptions import InvalidCommand
from ._common import Context, clean, console, errors, pass_context, say, when
from ._teams import check_team

__all__ = ["silence_group"]


def _matchers(pairs: tuple[str, ...]) -> dict[str, object]:
    """``service=checkout``, ``env=prod,eu`` (any of), ``team=*`` (present), ``team!=db``."""
    out: dict[str, object] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            msg = f"--match takes label=value (or label!=value, label=a,b, label=*), got {pair!r}"
            raise InvalidCommand(msg)
        name = name.strip()
        if name.endswith("!"):
            out[name[:-1]] = f"!{value}"
        elif "," in value:
            out[name] = [v for v in value.split(",") if v]
        else:
            out[name] = value
    return out


@click.group("silence")
def silence_group() -> None:
    """Silences: alerts they match are recorded, neither posted nor paged, until they end."""


@silence_group.command("add")
@click.option(
    "--match",
    "pairs",
    multiple=True,
    required=True,
    help="label=value (also label=a,b  label=*  label!=value); repeat for more.",
)
@click.option("--for", "duration", default=None, help="How long: 30m, 2h, 1d.")
@click.option("--until", "until", default=None, help="Until when (ISO 8601; UTC if no zone).")
@click.option("--by", required=True, help="Who silences.")
@click.option("--why", required=True, help="Why (a maintenance, a known issue).")
@click.option(
    "--team", default=None, help="Only the alerts routed to this team (default: every team's)."
)
@pass_context
def add(
    context: Context,
    *,
    pairs: tuple[str, ...],
    duration: str | None,
    until: str | None,
    by: str,
    why: str,
    team: str | None,
) -> None:
    """Silence matching alerts for a while."""
    with errors():
        try:
            length = None if duration is None else parse_duration(duration)
        except ValueError as exc:
            raise InvalidCommand(f"--for {exc}") from None
        silence = context.flow().silence(
            _matchers(pairs),
            by=by,
            why=why,
            duration=length,
            ends_at=None if until is None else when(until, "--until"),
            team=team,
        )
    scope = f" (team {silence.team} only)" if silence.team else ""
    say(f"{silence.id}: silenced until {silence.until:%Y-%m-%d %H:%M} UTC{scope}")


@silence_group.command("list")
@click.option("--all", "everything", is_flag=True, help="Ended silences too.")
@click.option(
    "--team", default=None, help="Only those that hold this team's alerts (its own, every team's)."
)
@pass_context
def list_silences(context: Context, everything: bool, team: str | None) -> None:
    """The silences in force (or all of them)."""
    with errors():
        flow = context.flow()
        if team is not None:
            check_team(flow.policy, team)
        found = flow.silences(active=not everything)
        found = [s for s in found if team is None or s.team in (None, team)]
    if not found:
        say("no silences")
        return
    table = Table()
    for column in ("id", "team", "matches", "from", "until", "by", "why"):
        table.add_column(column)
    for silence in found:
        table.add_row(*_row(silence))
    console.print(table)


def _row(silence: Silence) -> tuple[str, ...]:
    ended = f" (ended by {silence.ended_by})" if silence.ended_by else ""
    return (
        silence.id,
        silence.team or "every team",
        clean(" ".join(str(m) for m in silence.matchers)),
        f"{silence.starts_at:%Y-%m-%d %H:%M}",
        f"{silence.until:%Y-%m-%d %H:%M}{ended}",
        clean(silence.by),
        clean(silence.why),
    )


@silence_group.command("end")
@click.argument("silence_id")
@click.option("--by", required=True, help="Who ends it.")
@pass_context
def end(context: Context, silence_id: str, by: str) -> None:
    """End a silence now: the alerts it held that still fire open at once."""
    with errors():
        silence = context.flow().end_silence(silence_id, by=by)
    say(f"{silence.id}: ended at {silence.until:%Y-%m-%d %H:%M} UTC")
