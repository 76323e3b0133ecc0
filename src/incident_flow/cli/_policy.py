"""``incident-flow policy check``: what a policy file means, and where an alert would go."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from rich.table import Table

from .._core.alerts import Alert
from .._core.policy import Policy
from ..exceptions import InvalidCommand
from ._common import clean, console, errors, say, stamp, when
from ._teams import level_lines

__all__ = ["policy_group"]

#: Keys of ``--alert`` that are the alert's own fields; every other key is a label.
_FIELDS = ("source", "name", "severity")


def example_alert(pairs: tuple[str, ...]) -> Alert:
    """The alert ``--alert KEY=VALUE`` pairs describe (``source``, ``name``, ``severity``, labels).

    Raises:
        InvalidCommand: a pair without ``=`` or a key, a key given twice, a wrong severity.
    """
    given: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            msg = f"--alert takes KEY=VALUE (a label, or source, name, severity), got {pair!r}"
            raise InvalidCommand(msg)
        if key in given:
            msg = f"--alert {key}= is given twice"
            raise InvalidCommand(msg)
        given[key] = value
    fields = {key: given.pop(key) for key in _FIELDS if key in given}
    source = fields.get("source") or "example"
    name = fields.get("name") or "example"
    try:
        return Alert(
            source=source,
            name=name,
            title=name,
            severity=fields.get("severity") or None,
            labels=given,
        )
    except ValueError as exc:
        raise InvalidCommand(f"--alert: {exc}") from None


def _reach(policy: Policy, alert: Alert, at: datetime) -> None:
    """Which team ``alert`` reaches, by which route, and who that team pages at ``at``."""
    labels = " ".join(f"{k}={v}" for k, v in alert.labels.items())
    say(f"example alert: source={alert.source} name={alert.name} {labels}".rstrip())
    found = policy.route_for(alert)
    team = policy.team_for(alert)
    if found is None:
        why = "no route matches: the default team" if policy.routes else "the only team"
        say(f"  reaches team {team.name} ({why})")
    else:
        index, route = found
        matched = " ".join(str(m) for m in route.match)
        say(f"  reaches team {team.name} by route {index + 1} ({matched})")
    say(f"  its chat: {team.chat_channel or 'the configured chat channel'}")
    seen = policy.for_team(team.name)
    severity = alert.severity
    if severity is not None and not policy.is_critical(severity):
        say(
            f"{team.name} pages nobody for a {severity} (not critical); for a critical one, at "
            f"{stamp(at)}:"
        )
    else:
        say(f"{team.name} pages at {stamp(at)}:")
    for line in level_lines(seen, at):
        say(line)


@click.group("policy")
def policy_group() -> None:
    """Policy files."""


@policy_group.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option(
    "--alert",
    "pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="An example alert: a label, or its source, name or severity (repeat for more). "
    "Says which team it reaches and who that team pages.",
)
@click.option(
    "--at", default=None, help="With --alert: when (ISO 8601; UTC without an offset); default now."
)
def policy_check(path: str, pairs: tuple[str, ...], at: str | None) -> None:
    """Validate a policy file and explain what applies to each severity, and to each team."""
    if at is not None and not pairs:
        raise click.UsageError("--at goes with --alert (when the example alert fires)")
    with errors():
        policy = Policy.from_toml(path)
        alert = example_alert(pairs) if pairs else None
        instant = datetime.now(UTC) if at is None else when(at, "--at")
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
            clean(text),
        )
    console.print(table)
    levels = " -> ".join(", ".join(level.targets) for level in policy.escalation)
    console.print(
        f"escalation: {levels}; post-mortems reviewed by "
        f"{policy.postmortem_reviewers}, saved under {policy.postmortem_folder}/; "
        f"{len(policy.runbooks)} runbooks in the catalog"
    )
    for line in policy.storm_lines():
        console.print(clean(line))
    say(policy.roles.describe())
    for team in policy.teams:
        if team.roles is not None:
            say(f"team {team.name} {team.roles.describe()}")
    for line in policy.routing_lines():
        say(line)
    if policy.incident_channels is not None:
        say(policy.incident_channels.describe())
    if alert is not None:
        _reach(policy, alert, instant)
