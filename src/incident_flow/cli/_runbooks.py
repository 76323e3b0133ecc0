"""``incident-flow runbooks``: the living catalog, outside any incident."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import click
from rich.table import Table

from .._core.runbooks import Runbook
from .._core.severity import Severity
from .._runbooks.table import read_table, read_toml, to_markdown, to_toml
from ..exceptions import InvalidCommand
from ._common import Context, clean, console, errors, pass_context, say

__all__ = ["runbooks"]


@click.group()
def runbooks() -> None:
    """The runbook catalog: list, show, add, update, import, export."""


@runbooks.command("list")
@pass_context
def list_runbooks(context: Context) -> None:
    """Every runbook, with the alerts it answers and its last change."""
    with errors():
        catalog = context.flow().runbooks()
    table = Table()
    for column in ("name", "alert", "source", "severity", "url", "revisions"):
        table.add_column(column)
    for runbook in catalog.runbooks:
        table.add_row(
            clean(runbook.name),
            clean(runbook.alert or "-"),
            clean(runbook.source or "-"),
            str(runbook.severity or "-"),
            clean(runbook.url),
            str(len(catalog.history(runbook.name))),
        )
    console.print(table)


@runbooks.command("show")
@click.argument("name")
@pass_context
def show_runbook(context: Context, name: str) -> None:
    """One runbook and every change to it: who, when, from which incident and learning."""
    with errors():
        catalog = context.flow().runbooks()
        runbook = catalog.get(name)
        if runbook is None:
            known = ", ".join(r.name for r in catalog.runbooks) or "none yet"
            msg = f"no runbook {name!r} in the catalog (known: {known})"
            raise InvalidCommand(msg)
    say(f"{runbook.name}: {runbook.url}")
    say(f"  alert {runbook.alert or '-'}, source {runbook.source or '-'}")
    if runbook.description:
        say(f"  {runbook.description}")
    for revision in catalog.history(name):
        origin = f" in {revision.incident_id}" if revision.incident_id else ""
        learning = f" (learning: {revision.learning})" if revision.learning else ""
        note = f": {revision.note}" if revision.note else ""
        say(
            f"  #{revision.number} {revision.at:%Y-%m-%d %H:%M} {revision.change} by "
            f"{revision.by}{origin}{note}{learning}"
        )


def _labels(values: tuple[str, ...]) -> dict[str, str]:
    labels = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key.strip():
            msg = f"a label selector is key=value, got {value!r}"
            raise click.BadParameter(msg, param_hint="--label")
        labels[key.strip()] = text.strip()
    return labels


_SEVERITY = click.Choice([str(s) for s in Severity], case_sensitive=False)


@runbooks.command("add")
@click.option("--name", required=True)
@click.option("--url", required=True, help="Where its steps live.")
@click.option(
    "--alert", default=None, help="A glob on the alert names it answers (default: the name)."
)
@click.option("--source", default=None, help="Only alerts from this source (datadog...).")
@click.option("--severity", type=_SEVERITY, default=None, help="For alerts that carry none.")
@click.option("--description", default="", help="What the alert means.")
@click.option("--label", "labels", multiple=True, help="A label selector, key=value (repeatable).")
@click.option("--by", required=True, help="Who adds it.")
@click.option("--note", default="", help="Why.")
@pass_context
def add_runbook(  # noqa: PLR0917 - one option each, as click passes them
    context: Context,
    name: str,
    url: str,
    alert: str | None,
    source: str | None,
    severity: str | None,
    description: str,
    labels: tuple[str, ...],
    by: str,
    note: str,
) -> None:
    """Add a runbook; the next incident of a matching alert, in any process, uses it."""
    with errors():
        flow = context.flow()
        if flow.runbooks().get(name) is not None:
            msg = f"runbook {name!r} exists already: change it with `runbooks update {name}`"
            raise InvalidCommand(msg)
        runbook = Runbook(
            name=name,
            url=url,
            alert=alert or name,
            source=source,
            severity=severity,
            description=description,
            labels=_labels(labels),
        )
        revision = flow.save_runbook(runbook, by=by, note=note)
    say(f"{name}: added (revision {revision.number})")


@runbooks.command("update")
@click.argument("name")
@click.option("--url", default=None)
@click.option("--alert", default=None)
@click.option("--description", default=None)
@click.option("--by", required=True, help="Who changes it.")
@click.option("--note", required=True, help="What changed, and why.")
@pass_context
def update_runbook(  # noqa: PLR0917 - one option each, as click passes them
    context: Context,
    name: str,
    url: str | None,
    alert: str | None,
    description: str | None,
    by: str,
    note: str,
) -> None:
    """Change a runbook (its note is kept in its history)."""
    with errors():
        flow = context.flow()
        runbook = flow.runbooks().get(name)
        if runbook is None:
            msg = f"no runbook {name!r} in the catalog: add it with `runbooks add`"
            raise InvalidCommand(msg)
        changes: dict[str, Any] = {"url": url, "alert": alert, "description": description}
        updated = attrs.evolve(runbook, **{k: v for k, v in changes.items() if v is not None})
        revision = flow.save_runbook(updated, by=by, note=note)
    say(f"{name}: updated (revision {revision.number})")


@runbooks.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--by", required=True, help="Who imports it.")
@pass_context
def import_runbooks(context: Context, file: str, by: str) -> None:
    """Read a team's Alerts table (Markdown, or the seed's HTML) or a TOML file into the catalog.

    Runbooks already there with the same values are left as they are.
    """
    text = Path(file).read_text(encoding="utf-8")
    with errors():
        found = (
            read_toml(text, where=file) if file.endswith(".toml") else read_table(text, where=file)
        )
        flow = context.flow()
        catalog = flow.runbooks()
        changed = [r for r in found if catalog.get(r.name) != r]
        for runbook in changed:
            flow.save_runbook(runbook, by=by, note=f"imported from {Path(file).name}")
    say(f"{file}: {len(found)} runbooks, {len(changed)} added or changed")


@runbooks.command("export")
@click.option("--format", "fmt", type=click.Choice(["md", "toml"]), default="md", show_default=True)
@pass_context
def export_runbooks(context: Context, fmt: str) -> None:
    """Write the catalog as the team's Alerts table (Markdown) or as TOML, to stdout."""
    with errors():
        catalog = context.flow().runbooks()
    text = to_toml(catalog.runbooks) if fmt == "toml" else to_markdown(catalog.runbooks)
    click.echo(text, nl=False)
