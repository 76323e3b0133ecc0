"""``incident-flow import``: a vendor's schedules and escalation as policy TOML, with a report."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..exceptions import InvalidCommand
from ..importers import VENDORS, fetch, import_vendor
from ..importers._common import plural
from ._common import Context, errors, pass_context, say

__all__ = ["import_command"]


def _documents(files: tuple[str, ...]) -> list[object]:
    documents: list[object] = []
    for name in files:
        try:
            documents.append(json.loads(Path(name).read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            msg = f"{name}: not a JSON file the vendor's API wrote ({exc})"
            raise InvalidCommand(msg) from exc
    return documents


def _overrides(pairs: tuple[str, ...]) -> dict[str, list[object]]:
    out: dict[str, list[object]] = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name.strip():
            msg = f"--overrides takes SCHEDULE=FILE.json, got {pair!r}"
            raise InvalidCommand(msg)
        out.setdefault(name.strip(), []).extend(_documents((path,)))
    return out


def _calendars(pairs: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name.strip():
            msg = f"--calendar takes SCHEDULE=FILE.ics, got {pair!r}"
            raise InvalidCommand(msg)
        try:
            out[name.strip()] = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            msg = f"{path}: cannot read the calendar ({exc})"
            raise InvalidCommand(msg) from exc
    return out


@click.command("import")
@click.argument("vendor", type=click.Choice(sorted(VENDORS)))
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--token",
    envvar="INCIDENT_FLOW_IMPORT_TOKEN",
    default=None,
    help="Fetch from the vendor's API with this read-only key (or $INCIDENT_FLOW_IMPORT_TOKEN).",
)
@click.option("--url", default=None, help="The API's base URL (Grafana OnCall; Opsgenie EU).")
@click.option("--save", default=None, help="Keep what was fetched in this JSON file.")
@click.option(
    "--allow-host",
    "allowed_hosts",
    multiple=True,
    metavar="HOST",
    help="Grafana OnCall: also fetch calendars from HOST (or HOST:PORT), over HTTPS, "
    "at public addresses (repeatable).",
)
@click.option(
    "--escalation",
    default=None,
    help="The escalation (policy, chain) to take, by name or id (PagerDuty, with several: "
    "the default team's; every policy is a team).",
)
@click.option(
    "--calendar",
    "calendars",
    multiple=True,
    help="Grafana OnCall: SCHEDULE=FILE.ics for ical schedules.",
)
@click.option(
    "--overrides",
    "override_files",
    multiple=True,
    metavar="SCHEDULE=FILE.json",
    help="PagerDuty: a GET /schedules/{id}/overrides answer, and the schedule (name or id) "
    "it was asked for (needed with several schedules; repeatable).",
)
@click.option(
    "--time-zone",
    default=None,
    metavar="ZONE",
    help="PagerDuty: the account's IANA zone, for schedules without time_zone (reported).",
)
@click.option(
    "-o", "--output", default="-", help="Where to write the policy TOML (default: stdout)."
)
@click.option(
    "--report",
    "report_file",
    default="import-report.md",
    show_default=True,
    help="Where to write the report.",
)
@pass_context
def import_command(
    context: Context,
    *,
    vendor: str,
    files: tuple[str, ...],
    token: str | None,
    url: str | None,
    save: str | None,
    allowed_hosts: tuple[str, ...],
    escalation: str | None,
    calendars: tuple[str, ...],
    override_files: tuple[str, ...],
    time_zone: str | None,
    output: str,
    report_file: str,
) -> None:
    """Import VENDOR's schedules and escalation from its REST API JSON FILES (or --token).

    Writes policy TOML ([[people]], [[schedules]], [[escalation]]; from PagerDuty with several
    escalation policies or services, [[teams]], [[routes]] and default_team too) and a report
    listing every field that did not carry over. People the --policy already has keep their names.
    """
    with errors():
        source = click.get_current_context().get_parameter_source("token")
        if files and source is click.core.ParameterSource.ENVIRONMENT:
            token = None  # files given: the key in the environment is not wanted here
        if bool(files) == bool(token):
            msg = "give the vendor's JSON FILES, or --token to fetch them (not both)"
            raise InvalidCommand(msg)
        if allowed_hosts and (files or vendor != "grafana-oncall"):
            msg = "--allow-host is for fetching Grafana OnCall's calendars (with --token)"
            raise InvalidCommand(msg)
        documents = (
            _documents(files)
            if files
            else fetch(vendor, (token or "").strip(), url=url, allowed_hosts=allowed_hosts)
        )
        if save and token:
            Path(save).write_text(json.dumps(documents, indent=1), encoding="utf-8")
        people = context.policy().people if context.policy_file or context.config_file else None
        imported = import_vendor(
            vendor,
            documents,
            people=people,
            escalation=escalation,
            calendars=_calendars(calendars) or None,
            overrides=_overrides(override_files) or None,
            time_zone=time_zone,
        )
        text = imported.policy_toml()
        if output == "-":
            click.echo(text, nl=False)
        else:
            Path(output).write_text(text, encoding="utf-8")
        Path(report_file).write_text(imported.report(), encoding="utf-8")
        dropped, close = len(imported.dropped()), len(imported.findings) - len(imported.dropped())
        summary = (
            f"imported {plural(len(imported.schedules), 'schedule')}, "
            f"{plural(len(imported.escalation), 'escalation level')}, "
            f"{plural(len(imported.people), 'new person', 'new people')}"
            + (
                f", {plural(len(imported.teams), 'team')}, "
                f"{plural(len(imported.routes), 'route')}; "
                if imported.teams
                else "; "
            )
            + f"{plural(dropped, 'field')} not carried over, {close} approximated: "
            f"see {report_file}"
        )
        click.echo(summary, err=True) if output == "-" else say(summary)
