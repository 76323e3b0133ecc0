"""The ``incident-flow`` command line (extra ``cli``: click and rich).

Exit codes: 0 done; 2 a usage mistake; 3 no such incident; 4 refused by the process or the
policy (the message says what is allowed now, or which standard); 5 bad input (a policy file,
an alert body, an argument); 6 the store failed.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

try:
    import click
    from rich.console import Console
    from rich.progress import track
    from rich.table import Table
    from rich.text import Text
except ImportError as exc:  # pragma: no cover - the cli extra installs them
    msg = "the incident-flow command needs its extra: pip install 'incident-flow[cli]'"
    raise SystemExit(msg) from exc

from .. import ingest
from .._flow import IncidentFlow
from .._policy import Policy
from ..adapters.folder import FolderPublisher
from ..adapters.notifiers import LogNotifier, RecordingNotifier
from ..exceptions import (
    IncidentFlowError,
    IncidentNotFound,
    InvalidCommand,
    InvalidPayload,
    InvalidPolicy,
    InvalidTransition,
    PolicyViolation,
    StorageError,
)
from ..process import to_mermaid
from ._report import DEFINITIONS, Report, build_report

__all__ = ["main"]

#: C0 and C1 control characters but tab and newline: an alert title must not move the cursor,
#: clear the screen or retitle the terminal (``\x1b]0;...``).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _clean(value: object) -> str:
    """Outside text for the terminal: control characters shown as U+FFFD, never obeyed."""
    return _CONTROL.sub("\ufffd", str(value))


class _Console(Console):
    """Prints strings with their control characters replaced (see :func:`_clean`)."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        super().print(*(_clean(o) if isinstance(o, str) else o for o in objects), **kwargs)


# Alert titles, names and notes come from outside: they are printed as text, never as rich
# markup ("[/bold]" in an alert name must neither style nor crash the output).
console = _Console(soft_wrap=True, markup=False)
EXIT_CODES = {
    IncidentNotFound: 3,
    InvalidTransition: 4,
    PolicyViolation: 4,
    InvalidPolicy: 5,
    InvalidPayload: 5,
    InvalidCommand: 5,
    StorageError: 6,
}


def _store(db: str) -> Any:
    if db.startswith(("postgresql://", "postgres://")):
        from ..adapters.postgres import PostgresStore  # noqa: PLC0415 - only when asked for

        return PostgresStore(db)
    from ..adapters.sqlite import SQLiteStore  # noqa: PLC0415

    return SQLiteStore(db)


@contextmanager
def _errors() -> Iterator[None]:
    """Turn a person's mistake into a message and an exit code, never a traceback."""
    try:
        yield
    except IncidentFlowError as exc:
        code = next((c for kind, c in EXIT_CODES.items() if isinstance(exc, kind)), 1)
        console.print(Text.assemble(("error:", "red"), _clean(f" {exc}")), highlight=False)
        sys.exit(code)


class _Context:
    def __init__(self, db: str, policy_file: str | None) -> None:
        self.db = db
        self.policy_file = policy_file

    def policy(self) -> Policy:
        return Policy.from_toml(self.policy_file) if self.policy_file else Policy.default()

    def flow(self) -> IncidentFlow:
        policy = self.policy()
        return IncidentFlow(
            policy,
            store=_store(self.db),
            notifier=LogNotifier("chat"),
            pager=LogNotifier("pager"),
            publisher=FolderPublisher(policy.postmortem_folder),
        )


pass_context = click.make_pass_decorator(_Context)


@click.group()
@click.option(
    "--db",
    envvar="INCIDENT_FLOW_DB",
    default="incident_flow.db",
    show_default=True,
    help="A SQLite file, or a postgresql:// DSN.",
)
@click.option(
    "--policy",
    "policy_file",
    envvar="INCIDENT_FLOW_POLICY",
    default=None,
    help="A policy TOML file (default: the built-in policy).",
)
@click.pass_context
def main(ctx: click.Context, db: str, policy_file: str | None) -> None:
    """incident_flow: your incident process as code."""
    # The command line is the host here: it decides what the library's logs show.
    _show_library_logs(logging.ERROR if ctx.invoked_subcommand == "demo" else logging.WARNING)
    if not console.is_terminal:
        console.width = 160  # piped into a file or a script: do not fold tables at 80
    ctx.obj = _Context(db, policy_file)


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


@main.command()
def diagram() -> None:
    """Print the process as a Mermaid state diagram."""
    click.echo(to_mermaid(), nl=False)


@main.group("policy")
def policy_group() -> None:
    """Policy files."""


@policy_group.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
def policy_check(path: str) -> None:
    """Validate a policy file and explain what applies to each severity."""
    with _errors():
        policy = Policy.from_toml(path)
    table = Table(title=f"{path}: valid")
    for column in ("severity", "pages", "post-mortem", "ack timeout", "what it means"):
        table.add_column(column)
    for severity, text in policy.descriptions.items():
        timeout = policy.ack_timeout_for(severity)
        table.add_row(
            str(severity),
            "yes" if policy.is_critical(severity) else "no",
            "required" if policy.requires_postmortem(severity) else "optional",
            f"{timeout}" if timeout and policy.is_critical(severity) else "-",
            _clean(text),
        )
    console.print(table)
    levels = " -> ".join(", ".join(level.targets) for level in policy.escalation)
    console.print(
        f"escalation: {levels}; post-mortems reviewed by "
        f"{policy.postmortem_reviewers}, saved under {policy.postmortem_folder}/; "
        f"{len(policy.runbooks)} runbooks in the catalog"
    )


@main.command("list")
@click.option("--state", default=None, help="Only incidents in this state.")
@pass_context
def list_incidents(context: _Context, state: str | None) -> None:
    """List the incidents, oldest first."""
    with _errors():
        incidents = context.flow().incidents(state)
    table = Table()
    for column in ("id", "severity", "state", "title", "acknowledged by"):
        table.add_column(column)
    for incident in incidents:
        table.add_row(
            incident.id,
            str(incident.severity),
            incident.state,
            _clean(incident.title),
            _clean(incident.acknowledged_by or "-"),
        )
    console.print(table)


def _timeline(flow: IncidentFlow, incident_id: str) -> None:
    incident = flow.get(incident_id)
    console.print(
        Text.assemble(
            (incident.id, "bold"),
            _clean(f" {incident.severity} {incident.title} -> {incident.state}"),
        ),
        highlight=False,
    )
    for event in flow.history(incident_id):
        if event.type in ("MessageDelivered",):
            continue
        detail = ", ".join(f"{k}={v}" for k, v in _details(event).items())
        console.print(
            f"  {event.at:%a %H:%M}  {event.by or 'system':8} {event.type} {detail}",
            highlight=False,
        )
    if incident.postmortem and incident.postmortem.location:
        console.print(f"  post-mortem: {incident.postmortem.location}")


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
    )
    return {k: getattr(event, k) for k in keep if getattr(event, k, None) not in (None, "", ())}


@main.command()
@click.argument("incident_id")
@pass_context
def show(context: _Context, incident_id: str) -> None:
    """Show one incident's timeline."""
    with _errors():
        _timeline(context.flow(), incident_id)


def _command(name: str, call: Callable[..., Any], help_text: str) -> None:
    @main.command(name, help=help_text)
    @click.argument("incident_id")
    @click.option("--by", required=True, help="Who acts.")
    @pass_context
    def command(context: _Context, incident_id: str, by: str) -> None:
        with _errors():
            incident = call(context.flow(), incident_id, by)
        console.print(f"{incident.id}: {incident.state}")


_command("ack", lambda f, i, by: f.acknowledge(i, by=by), "Acknowledge an incident.")
_command("runbook", lambda f, i, by: f.start_runbook(i, by=by), "Start its runbook.")
_command("resolve", lambda f, i, by: f.resolve(i, by=by), "Resolve an incident.")
_command("reopen", lambda f, i, by: f.reopen(i, by=by), "Reopen a resolved incident.")
_command("close", lambda f, i, by: f.close(i, by=by), "Close an incident.")


@main.command()
@click.argument("incident_id")
@click.argument("text")
@click.option("--by", required=True)
@pass_context
def note(context: _Context, incident_id: str, text: str, by: str) -> None:
    """Add a status update."""
    with _errors():
        incident = context.flow().note(incident_id, text, by=by)
    console.print(f"{incident.id}: noted")


@main.command()
@click.argument("incident_id")
@click.argument("item_id")
@click.option("--by", required=True)
@click.option("--reason", required=True, help="Why it will not be done.")
@pass_context
def waive(context: _Context, incident_id: str, item_id: str, by: str, reason: str) -> None:
    """Waive an open action item, with a reason."""
    with _errors():
        context.flow().waive_action_item(incident_id, item_id, by=by, reason=reason)
    console.print(f"{incident_id}: {item_id} waived")


@main.group()
def postmortem() -> None:
    """Post-mortems: start, approve, publish."""


@postmortem.command("start")
@click.argument("incident_id")
@click.option("--author", required=True)
@click.option("--root-cause", default="")
@click.option("--learning", "learnings", multiple=True)
@pass_context
def postmortem_start(
    context: _Context, incident_id: str, author: str, root_cause: str, learnings: tuple[str, ...]
) -> None:
    """Start the post-mortem."""
    with _errors():
        context.flow().start_postmortem(
            incident_id, author=author, root_cause=root_cause, learnings=learnings
        )
    console.print(f"{incident_id}: post-mortem started")


@postmortem.command("approve")
@click.argument("incident_id")
@click.option("--reviewer", required=True)
@pass_context
def postmortem_approve(context: _Context, incident_id: str, reviewer: str) -> None:
    """Approve the post-mortem."""
    with _errors():
        incident = context.flow().approve_postmortem(incident_id, reviewer=reviewer)
    approvals = incident.postmortem.approvals if incident.postmortem else ()
    console.print(f"{incident_id}: approved by {', '.join(approvals)}")


@postmortem.command("publish")
@click.argument("incident_id")
@click.option("--by", required=True)
@pass_context
def postmortem_publish(context: _Context, incident_id: str, by: str) -> None:
    """Publish the approved post-mortem."""
    with _errors():
        incident = context.flow().publish_postmortem(incident_id, by=by)
    location = incident.postmortem.location if incident.postmortem else None
    console.print(f"{incident_id}: published at {location}")


@main.command("ingest")
@click.argument("source")
@click.argument("file", type=click.File("rb"))
@pass_context
def ingest_command(context: _Context, source: str, file: Any) -> None:
    """Parse an alert body (FILE or - for stdin) from SOURCE and trigger it."""
    with _errors():
        alerts = ingest.parse(source, file.read())
        flow = context.flow()
        for alert in alerts:
            try:
                incident = flow.trigger(alert)
            except IncidentNotFound:
                console.print(f"{alert.dedup_key}: recovered, no open incident")
                continue
            console.print(
                f"{incident.id}: {incident.severity} {incident.title} -> {incident.state}",
                highlight=False,
            )


@main.command()
@click.option("--interval", default=5.0, show_default=True, help="Seconds between turns.")
@pass_context
def worker(context: _Context, interval: float) -> None:
    """Deliver pending messages, escalate and remind, until SIGTERM or Ctrl-C."""
    from .._worker import run_worker  # noqa: PLC0415

    with _errors():
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
@pass_context
def report(context: _Context, fmt: str, html_file: str | None) -> None:
    """MTTA and MTTR per severity, post-mortem compliance, runbook coverage, open items."""
    with _errors():
        flow = context.flow()
        pairs = [(i, flow.history(i.id)) for i in flow.incidents()]
        result = build_report(pairs)
    if html_file:
        from ._report_html import render_html  # noqa: PLC0415

        Path(html_file).write_text(render_html(result, pairs), encoding="utf-8")
        console.print(f"wrote {html_file}")
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        _print_report(result)


@main.command()
@click.option("--db", "demo_db", default="incident-flow-demo.db", show_default=True)
def demo(demo_db: str) -> None:
    """Replay a realistic day of alerts through the whole process, then print the report."""
    from ..testing._doubles import ManualClock  # noqa: PLC0415
    from ._demo import DEMO_POLICY, DEMO_START, demo_steps  # noqa: PLC0415

    for suffix in ("", "-wal", "-shm"):
        Path(demo_db + suffix).unlink(missing_ok=True)
    clock = ManualClock(DEMO_START)
    numbers = itertools.count(1)
    chat, pager = RecordingNotifier(), RecordingNotifier()
    with _errors():
        flow = IncidentFlow(
            DEMO_POLICY,
            store=_store(demo_db),
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
            _timeline(flow, incident.id)
        console.rule("report")
        _print_report(build_report([(i, flow.history(i.id)) for i in flow.incidents()]))
    console.print(
        f"{len(chat.messages)} Slack messages and {len(pager.messages)} pages "
        f"recorded; store: {demo_db}; post-mortems in {DEMO_POLICY.postmortem_folder}/"
    )


if __name__ == "__main__":  # pragma: no cover
    main()
