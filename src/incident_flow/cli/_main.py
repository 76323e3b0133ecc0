"""The ``incident-flow`` command line (extra ``cli``: click and rich).

Exit codes: 0 done; 2 a usage mistake; 3 no such incident; 4 refused by the process or the
policy (the message says what is allowed now, or which standard); 5 bad input (a policy file,
an alert body, an argument); 6 the store failed.
"""

from __future__ import annotations

import itertools
import json
import logging
import shlex
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

try:
    import click
    from rich.progress import track
    from rich.table import Table
    from rich.text import Text
except ImportError as exc:  # pragma: no cover - the cli extra installs them
    msg = "the incident-flow command needs its extra: pip install 'incident-flow[cli]'"
    raise SystemExit(msg) from exc

from .. import ingest
from .._core.process import STATES
from .._delivery.pauses import held_by_pause
from .._drivers.flow import IncidentFlow
from ..adapters.channels.notifiers import RecordingNotifier
from ..adapters.publishers.folder import FolderPublisher
from ..exceptions import IncidentNotFound
from ..process import to_mermaid
from . import _incident
from ._common import (
    DEMO_DB,
    Context,
    clean,
    console,
    errors,
    is_dsn,
    open_store,
    pass_context,
    say,
    stamp,
)
from ._console import console_group
from ._import import import_command
from ._oncall import oncall, schedule_group
from ._policy import policy_group
from ._report import DEFINITIONS, Report, build_report
from ._runbooks import runbooks
from ._serve import config_group, serve
from ._silences import silence_group
from ._teams import TEAM_OPTION, check_team, print_by_team, reassign, team_of

__all__ = ["main"]


_DB_HELP = "A SQLite file, or a postgresql:// DSN. Create it with `init` (or `demo`)."
_POLICY_HELP = "A policy TOML file (default: the built-in policy)."
_CONFIG_HELP = "A service configuration file: its store, policy and channels (Slack, the pager...)."


#: The top-level help: "\b" (a backspace) keeps click from re-wrapping the paragraph after it.
_HELP = """incident_flow: your incident process as code.

--db, --policy and --config go before the command or after it:

\b
  incident-flow --config incident-flow.toml serve
  incident-flow serve --config incident-flow.toml

\b
Environment:
  INCIDENT_FLOW_DB      the database, instead of --db
  INCIDENT_FLOW_POLICY  the policy file, instead of --policy
  INCIDENT_FLOW_CONFIG  the service configuration, instead of --config: it names
                        the store, the policy and the channels (an ack typed here
                        is posted in Slack and mirrored to the pager)

Exit codes: 0 done; 2 a usage mistake; 3 no such incident; 4 refused by the process or the
policy (it says what is possible now, or which standard); 5 bad input; 6 the store failed.
"""


@click.group(help=_HELP)
@click.version_option(package_name="incident-flow", prog_name="incident-flow")
@click.option(
    "--db",
    envvar="INCIDENT_FLOW_DB",
    show_envvar=True,
    default="incident_flow.db",
    show_default=True,
    help=_DB_HELP,
)
@click.option(
    "--policy",
    "policy_file",
    envvar="INCIDENT_FLOW_POLICY",
    show_envvar=True,
    default=None,
    help=_POLICY_HELP,
)
@click.option(
    "--config",
    "config_file",
    envvar="INCIDENT_FLOW_CONFIG",
    show_envvar=True,
    default=None,
    help=_CONFIG_HELP,
)
@click.pass_context
def main(ctx: click.Context, db: str, policy_file: str | None, config_file: str | None) -> None:
    """incident_flow: your incident process as code (the help is ``_HELP``)."""
    # The command line is the host here: it decides what the library's logs show.
    _show_library_logs(logging.ERROR if ctx.invoked_subcommand == "demo" else logging.WARNING)
    if not console.is_terminal:
        console.width = 160  # piped into a file or a script: do not fold tables at 80
    ctx.obj = Context(db, policy_file, config_file)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The command line's one handler for the library's log events (failures, on stderr)."""


def _show_library_logs(level: int) -> None:
    library = logging.getLogger("incident_flow")
    library.setLevel(level)
    for handler in [h for h in library.handlers if isinstance(h, _StderrHandler)]:
        library.removeHandler(handler)  # a second invocation in one process: one handler
    handler = _StderrHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    library.addHandler(handler)


for _command in _incident.COMMANDS:
    main.add_command(_command)
main.add_command(runbooks)
main.add_command(policy_group)
main.add_command(config_group)
main.add_command(serve)
main.add_command(silence_group)
main.add_command(oncall)
main.add_command(schedule_group)
main.add_command(import_command)
main.add_command(console_group)
main.add_command(reassign)


@main.command()
@pass_context
def init(context: Context) -> None:
    """Create the incident database (--db, or the store --config names) if not there yet."""
    if context.config_file:
        from ..server._config import _redact_dsn  # noqa: PLC0415
        from ..server._wiring import store_for  # noqa: PLC0415

        config = context.config()
        existed = is_dsn(config.store) or Path(config.store).exists()
        with errors():
            store_for(config).close()
        where = _redact_dsn(config.store)
    else:
        existed = is_dsn(context.db) or Path(context.db).exists()
        with errors():
            open_store(context.db, create=True).close()
        where = context.db
    say(f"{where}: {'ready (it was there already)' if existed else 'created'}")


@main.command()
def diagram() -> None:
    """Print the process as a Mermaid state diagram."""
    click.echo(to_mermaid(), nl=False)


@main.command("list")
@click.option(
    "--state", default=None, type=click.Choice(STATES), help="Only incidents in this state."
)
@TEAM_OPTION
@pass_context
def list_incidents(context: Context, state: str | None, team: str | None) -> None:
    """List the incidents, oldest first (or only one team's)."""
    with errors():
        flow = context.flow()
        incidents = flow.incidents(state)
        if team is not None:
            check_team(flow.policy, team)
            incidents = [i for i in incidents if team_of(flow.policy, i) == team]
    table = Table()
    for column in ("id", "severity", "state", "title", "acknowledged by"):
        table.add_column(column)
    for incident in incidents:
        table.add_row(
            incident.id,
            str(incident.severity),
            incident.state,
            clean(incident.title),
            clean(incident.acknowledged_by or "-"),
        )
    console.print(table)


def _timeline(flow: IncidentFlow, incident_id: str, zone: ZoneInfo) -> None:
    """An incident: its alert, link, description and runbook, then its events, dated."""
    incident = flow.get(incident_id)
    console.print(
        Text.assemble(
            (incident.id, "bold"),
            clean(f" {incident.severity} {incident.title} -> {incident.state}"),
        ),
        highlight=False,
    )
    alert = incident.alert
    say(f"  alert: {alert.source} {alert.name}")
    if alert.url:
        say(f"  link: {alert.url}")
    if alert.description.strip():
        say("  description: " + "\n    ".join(alert.description.strip().splitlines()))
    runbook = incident.runbook
    if runbook is not None:
        say(f"  runbook: {runbook.name}: {runbook.url}")
    else:
        say(f"  runbook: none (add one with `add-runbook {incident.id} --name ... --url ...`)")
    for event in flow.history(incident_id):
        if event.type in ("MessageDelivered",):
            continue
        if event.type == "DeliveryFailed":
            say(f"  {stamp(event.at, zone)}  {'system':8} {_delivery_failed(event, zone)}")
            continue
        detail = ", ".join(f"{k}={v}" for k, v in _details(event).items())
        say(f"  {stamp(event.at, zone)}  {event.by or 'system':8} {event.type} {detail}")
    if incident.postmortem and incident.postmortem.location:
        console.print(f"  post-mortem: {incident.postmortem.location}")


def _delivery_failed(event: Any, zone: ZoneInfo) -> str:
    """A failed attempt, or a message held because its channel is paused: which, and until when."""
    local = event.next_attempt_at.astimezone(zone)
    retry = f"{local:%H:%M:%S %Z}"
    if held_by_pause(event.channel, event.error):
        why = clean(event.error.partition(" after: ")[2])
        return (
            f"DeliveryHeld channel={event.channel}, kind={event.kind}, not tried: "
            f"{event.channel} is paused until {retry} after: {why}"
        )
    return (
        f"DeliveryFailed channel={event.channel}, kind={event.kind}, "
        f"attempt={event.attempts}, error={clean(event.error)}, next attempt {retry}"
    )


def _details(event: Any) -> dict[str, Any]:
    keep = (
        "severity",
        "new",
        "level",
        "targets",
        "text",
        "summary",
        "item_id",
        "reason",
        "reviewer",
        "kind",
        "error",
        "role",
        "person",
        "previous",
        "step",
    )
    found = {k: getattr(event, k) for k in keep if getattr(event, k, None) not in (None, "", ())}
    return {k: ", ".join(v) if isinstance(v, tuple) else v for k, v in found.items()}


@main.command()
@click.argument("incident_id")
@click.option("--utc", is_flag=True, help="Times in UTC (default: the policy's timezone).")
@pass_context
def show(context: Context, incident_id: str, utc: bool) -> None:
    """Show one incident: its alert, link, description, runbook and timeline.

    Times are dated, in the policy's `timezone` (or UTC with --utc).
    """
    with errors():
        flow = context.flow()
        _timeline(flow, incident_id, ZoneInfo("UTC" if utc else flow.policy.timezone))


@main.command("ingest")
@click.argument("source")
@click.argument("file", type=click.File("rb"))
@pass_context
def ingest_command(context: Context, source: str, file: Any) -> None:
    """Parse an alert body (FILE or - for stdin) from SOURCE and trigger it.

    Each alert's line says what it did: opened, attached, grouped, reopened or recovered, and
    whether a silence or a paging threshold holds it.
    """
    with errors():
        alerts = ingest.parse(source, file.read())
        flow = context.flow()
        zone = ZoneInfo(flow.policy.timezone)
        for alert in alerts:
            known = flow.store.find_by_dedup_key(alert.dedup_key)
            before = flow.get(known).state if known is not None else None
            try:
                incident = flow.trigger(alert)
            except IncidentNotFound:
                say(f"{alert.dedup_key}: recovered, no open incident (nothing to do)")
                continue
            line = f"{incident.id}: {_what_happened(alert, before, incident)}"
            say(line + "".join(f"; {note}" for note in _held(flow, incident, zone)))


def _what_happened(alert: Any, before: str | None, incident: Any) -> str:
    """Opened, attached (a repeat), grouped, reopened or recovered, in one line for ``ingest``."""
    title = f"{incident.severity} {incident.title} -> {incident.state}"
    if before is None and incident.dedup_key != alert.dedup_key:
        alerts = 1 + len(incident.members)
        return (
            f"grouped into {incident.id} by rule {incident.group_rule} ({alerts} alerts): {title}"
        )
    if before is None:
        return f"opened {title}"
    if not alert.firing:
        return f"recovered (the source says so) {title}"
    if before == "resolved":
        return f"reopened {title}"
    return f"attached, fired {incident.alert_count} times, nobody paged again: {title}"


def _held(flow: IncidentFlow, incident: Any, zone: ZoneInfo) -> list[str]:
    """What keeps the incident from posting or paging now: its silence, its paging threshold."""
    notes = []
    if incident.silenced and incident.silenced_until is not None:
        silence = next(
            (s for s in flow.silences(active=False) if s.id == incident.silence_id), None
        )
        why = f" ({silence.why})" if silence is not None else ""
        notes.append(
            f"silenced by {incident.silence_id}{why}, until "
            f"{stamp(incident.silenced_until, zone)}: not posted nor paged until then"
        )
    if incident.page_hold is not None and incident.critical and not incident.paged:
        notes.append(f"page held until {incident.page_hold} ({len(incident.firings)} so far)")
    return notes


@main.command()
@click.option("--interval", default=5.0, show_default=True, help="Seconds between turns.")
@pass_context
def worker(context: Context, interval: float) -> None:
    """Deliver pending messages, escalate and remind, until SIGTERM or Ctrl-C."""
    from .._drivers.worker import run_worker  # noqa: PLC0415

    with errors():
        stats = run_worker(context.flow(), interval=timedelta(seconds=interval))
    console.print(
        f"worker stopped: {stats.iterations} turns, {stats.delivered} delivered, "
        f"{stats.escalated} escalated, {stats.reminded} reminded"
    )


def _minutes(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _print_report(report: Report) -> None:
    table = Table(title=f"{report.incidents} incidents")
    for column in ("severity", "incidents", "open", "MTTA (min)", "MTTR (min)"):
        table.add_column(column)
    for severity, row in report.by_severity.items():
        table.add_row(
            severity,
            str(row["incidents"]),
            str(row["open"]),
            _minutes(row["mtta_minutes"]),
            _minutes(row["mttr_minutes"]),
        )
    console.print(table)
    print_by_team(report)
    for name, text in DEFINITIONS.items():
        console.print(f"  {name}: {text}", style="dim")
    missing = ", ".join(report.noncompliant) or "none"
    console.print(
        f"post-mortem compliance: closed incidents missing a reviewed post-mortem: {missing}"
    )
    console.print(
        f"runbook coverage: {report.with_runbook}/{report.incidents} had a runbook; "
        f"{report.runbooks_added} runbook(s) added"
    )
    sources = ", ".join(
        f"{source} {row['with']}/{row['with'] + row['without']}"
        for source, row in report.coverage_by_source.items()
    )
    say(f"  by source: {sources or '-'}")
    used = ", ".join(f"{name} ({count})" for name, count in report.runbooks_used[:5])
    say(f"  most used: {used or '-'}")
    stale = ", ".join(report.not_updated_since_used) or "none"
    say(f"  not updated since incidents used them: {stale}")
    if report.roles:
        roles = report.roles
        leaderless = ", ".join(roles["without_commander"]) or "none"
        console.print(
            f"roles: {roles['commander_needed']} incident(s) needed a commander; without one: "
            f"{leaderless}; time to commander {_minutes(roles['time_to_commander_minutes'])} "
            f"min; {roles['handovers']} hand-over(s)"
        )
    console.print(f"open action items: {len(report.open_action_items)}")
    for incident_id, item, text in report.open_action_items:
        console.print(f"  {incident_id} {item}: {text}", highlight=False)


@main.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write a self-contained HTML page with charts.",
)
@TEAM_OPTION
@pass_context
def report(context: Context, fmt: str, html_file: str | None, team: str | None) -> None:
    """MTTA and MTTR per severity (and per team), post-mortem compliance, runbooks, items."""
    with errors():
        flow = context.flow()
        policy = flow.policy
        if team is not None:
            check_team(policy, team)
        chosen = [i for i in flow.incidents() if team in (None, team_of(policy, i))]
        pairs = [(i, flow.history(i.id)) for i in chosen]
        teams = ((team,) if team else policy.team_names) if policy.teams else ()
        result = build_report(pairs, flow.runbooks(), teams, lambda i: team_of(policy, i))
    if html_file:
        from ._report_html import render_html  # noqa: PLC0415

        Path(html_file).write_text(render_html(result, pairs, team=team), encoding="utf-8")
        console.print(f"wrote {html_file}")
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        _print_report(result)


@main.command()
@click.option("--db", "demo_db", default=DEMO_DB, show_default=True)
def demo(demo_db: str) -> None:
    """Replay a realistic day of alerts through the whole process, then print the report."""
    from ..testing._doubles import ManualClock  # noqa: PLC0415
    from ._demo import DEMO_POLICY, DEMO_START, demo_steps, still_open  # noqa: PLC0415

    for suffix in ("", "-wal", "-shm"):
        Path(demo_db + suffix).unlink(missing_ok=True)
    clock = ManualClock(DEMO_START)
    numbers = itertools.count(1)
    chat, pager = RecordingNotifier(), RecordingNotifier()
    with errors():
        flow = IncidentFlow(
            DEMO_POLICY,
            store=open_store(demo_db, create=True),
            notifier=chat,
            pager=pager,
            publisher=FolderPublisher(DEMO_POLICY.postmortem_folder),
            clock=clock,
            new_id=lambda: f"demo-{next(numbers):03d}",  # the same files on every run
        )
        ids: dict[str, str] = {}
        steps = list(demo_steps())
        for offset, what, action in track(steps, description="replaying the day", console=console):
            clock.set(DEMO_START + offset)
            action(flow, ids)
            console.print(
                Text.assemble((f"{clock.now():%a %H:%M}", "dim"), f" {what}"), highlight=False
            )
        console.rule("timelines")
        for incident in flow.incidents():
            _timeline(flow, incident.id, ZoneInfo(DEMO_POLICY.timezone))
        console.rule("report")
        _print_report(build_report([(i, flow.history(i.id)) for i in flow.incidents()]))
        left = still_open(flow)
    console.print(
        f"{len(chat.messages)} Slack messages and {len(pager.messages)} pages "
        f"recorded; store: {demo_db}; post-mortems in {DEMO_POLICY.postmortem_folder}/"
    )
    for line in left:
        say(line)
    db = shlex.quote(demo_db)
    say(f"explore what the demo left: incident-flow --db {db} list")
    if left:
        say(f"  incident-flow --db {db} show {left[0].split(' ', 1)[0]}")
    say(f"  incident-flow --db {db} report --html report.html")


#: The options every command takes after its name too, and the Context attribute each sets.
_SHARED = (
    ("--db", "db", _DB_HELP),
    ("--policy", "policy_file", _POLICY_HELP),
    ("--config", "config_file", _CONFIG_HELP),
)
#: Commands that read none of them (``demo`` has a --db of its own; the checks take a PATH).
_WITHOUT_SHARED = frozenset({"demo", "diagram", "policy", "config"})


def _set_shared(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """``serve --config x.toml``: an option given after the command, as if given before it."""
    context = ctx.find_object(Context)
    if value is not None and context is not None and param.name is not None:
        setattr(context, param.name.removeprefix("after_"), value)


def _accept_shared_options(group: click.Group) -> None:
    """Let every command (groups' too, at every depth) take --db, --policy and --config."""
    for name, command in group.commands.items():
        if name in _WITHOUT_SHARED:
            continue
        for flag, attribute, text in _SHARED:
            command.params.append(
                click.Option(
                    [flag, f"after_{attribute}"],
                    default=None,
                    expose_value=False,
                    callback=_set_shared,
                    help=f"{text} Here or before the command.",
                )
            )
        if isinstance(command, click.Group):
            _accept_shared_options(command)


_accept_shared_options(main)


if __name__ == "__main__":  # pragma: no cover
    main()
