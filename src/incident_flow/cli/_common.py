"""What every command shares: the console, the store and flow, errors as exit codes."""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
from rich.console import Console
from rich.text import Text

from .._core.policy import Policy, parse_time
from .._core.text import no_controls
from .._drivers.flow import IncidentFlow
from ..adapters.channels.notifiers import LogNotifier
from ..adapters.publishers.folder import FolderPublisher
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
from ..importers import InvalidExport
from ..server._config import ConfigError

__all__ = [
    "COMMANDS",
    "DEMO_DB",
    "Context",
    "clean",
    "console",
    "errors",
    "pass_context",
    "say",
    "stamp",
    "when",
]


def clean(value: object) -> str:
    """Outside text for the terminal: control characters shown as U+FFFD, never obeyed.

    An alert title must not move the cursor, clear the screen or retitle the terminal.
    """
    return no_controls(str(value), "\ufffd")


class _Console(Console):
    """Prints strings with their control characters replaced (see :func:`clean`)."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        super().print(*(clean(o) if isinstance(o, str) else o for o in objects), **kwargs)


# Alert titles, names and notes come from outside: they are printed as text, never as rich
# markup ("[/bold]" in an alert name must neither style nor crash the output).
console = _Console(soft_wrap=True, markup=False)


def say(text: str) -> None:
    """One line of output, never highlighted (ids, numbers and titles print as they are)."""
    console.print(text, highlight=False)


EXIT_CODES = {
    IncidentNotFound: 3,
    InvalidTransition: 4,
    PolicyViolation: 4,
    InvalidPolicy: 5,
    InvalidPayload: 5,
    InvalidCommand: 5,
    InvalidExport: 5,
    ConfigError: 5,
    StorageError: 6,
}

#: The process's triggers as the command line spells them (refusals name these, not methods).
COMMANDS = {
    "acknowledge": "ack",
    "start_runbook": "runbook",
    "resolve": "resolve",
    "reopen": "reopen",
    "reclassify": "reclassify",
    "escalate": "escalate",
    "note": "note",
    "start_postmortem": "postmortem start",
    "amend_postmortem": "postmortem amend",
    "submit_postmortem": "postmortem submit",
    "approve_postmortem": "postmortem approve",
    "request_changes": "postmortem changes",
    "publish_postmortem": "postmortem publish",
    "add_runbook": "add-runbook",
    "update_runbook": "update-runbook",
    "waive_action_item": "waive",
    "add_follow_up": "follow-up",
    "complete_action_item": "done",
    "close": "close",
}
_METHODS = re.compile(r"\b(" + "|".join(COMMANDS) + r")\b|deliver_pending\(\)")


def _for_people(exc: IncidentFlowError) -> str:
    """The error in the command line's words: its commands, not the library's methods."""
    if isinstance(exc, InvalidTransition):
        allowed = ", ".join(COMMANDS.get(t, t) for t in exc.allowed) or "nothing (it is closed)"
        return (
            f"incident {exc.incident_id} is {exc.state}: "
            f"`{COMMANDS.get(exc.trigger, exc.trigger)}` is not possible now; possible: {allowed}"
        )

    def name(match: re.Match[str]) -> str:
        word = match.group(1)
        return "`incident-flow worker`" if word is None else f"`{COMMANDS[word]}`"

    return _METHODS.sub(name, str(exc)) if isinstance(exc, PolicyViolation) else str(exc)


@contextmanager
def errors() -> Iterator[None]:
    """Turn a person's mistake into a message and an exit code, never a traceback."""
    try:
        yield
    except IncidentFlowError as exc:
        code = next((c for kind, c in EXIT_CODES.items() if isinstance(exc, kind)), 1)
        console.print(Text.assemble(("error:", "red"), " ", clean(_for_people(exc))))
        sys.exit(code)


def stamp(at: datetime, zone: ZoneInfo | None = None) -> str:
    """``2026-01-05 15:28 CET``: an instant with its date and its zone (UTC by default)."""
    local = at.astimezone(zone or UTC)
    return f"{local:%Y-%m-%d %H:%M} {local:%Z}"


def when(text: str, option: str) -> datetime:
    """An option's ISO 8601 time (UTC when it has no offset).

    Raises:
        InvalidCommand: not such a time (the message names the option).
    """
    try:
        return parse_time(text)
    except ValueError:
        msg = f"{option} takes an ISO 8601 time like 2026-12-06T18:00+01:00, got {text!r}"
        raise InvalidCommand(msg) from None


def is_dsn(db: str) -> bool:
    """True when ``db`` names a PostgreSQL database rather than a SQLite file."""
    return db.startswith(("postgresql://", "postgres://"))


#: Where ``incident-flow demo`` leaves its store (in the current directory).
DEMO_DB = "incident-flow-demo.db"


def _command_words() -> str:
    """The command being run as typed after the program's name, with its text arguments.

    ``report``, ``show demo-006``, ``postmortem start demo-006``...; ``list`` outside a
    command. Options are left out (a person adds them back).
    """
    context = click.get_current_context(silent=True)
    if context is None:
        return "list"
    words = context.command_path.split(" ")[1:]
    for param in context.command.params:
        value = context.params.get(param.name or "")
        if isinstance(param, click.Argument) and isinstance(value, str):
            words.append(shlex.quote(value))
    return " ".join(words) or "list"


def open_store(db: str, *, create: bool = False) -> Any:
    """The store ``db`` names; a SQLite file must exist unless ``create``.

    Raises:
        InvalidCommand: the SQLite file is missing (a typo must not read as "no incidents").
    """
    if is_dsn(db):
        from ..adapters.stores.postgres import PostgresStore  # noqa: PLC0415 - only when asked for

        return PostgresStore(db)
    if not create and not Path(db).exists():
        msg = f"no incident database at {db}: create one with `incident-flow --db {db} init`"
        if Path(DEMO_DB).is_file() and Path(db).resolve() != Path(DEMO_DB).resolve():
            # They ran the demo here: its store is the one to open, not a new demo.
            msg += (
                f", or name another with --db / INCIDENT_FLOW_DB; the demo's database is "
                f"{DEMO_DB}: `incident-flow --db {DEMO_DB} {_command_words()}`"
            )
        else:
            msg += " (or try `incident-flow demo`), or name another with --db / INCIDENT_FLOW_DB"
        raise InvalidCommand(msg)
    from ..adapters.stores.sqlite import SQLiteStore  # noqa: PLC0415

    return SQLiteStore(db)


class Context:
    """The options every command shares: the database and the policy."""

    def __init__(self, db: str, policy_file: str | None, config_file: str | None = None) -> None:
        self.db = db
        self.policy_file = policy_file
        self.config_file = config_file

    def config(self) -> Any:
        """The service configuration (``--config``); its problems end the command."""
        from ..server._config import load_config  # noqa: PLC0415

        assert self.config_file is not None  # noqa: S101 - asked only with --config
        with errors():
            return load_config(self.config_file)

    def policy(self) -> Policy:
        """The configuration's or the policy file's standards, or the built-in ones."""
        if self.config_file:
            policy: Policy = self.config().policy
            return policy
        return Policy.from_toml(self.policy_file) if self.policy_file else Policy.default()

    def has_store(self) -> bool:
        """Whether there is an incident database to read: --config's, a DSN, or a --db file."""
        return bool(self.config_file) or is_dsn(self.db) or Path(self.db).exists()

    def flow(self) -> IncidentFlow:
        """A flow on the configured store and channels, else on --db with log-only channels.

        The delivery outcomes its commands leave waiting for a next append are written when
        the CLI command ends (not at the interpreter's exit: one process may run several).
        """
        if self.config_file:
            from ..server._wiring import sync_flow  # noqa: PLC0415

            flow = sync_flow(self.config())
        else:
            policy = self.policy()
            flow = IncidentFlow(
                policy,
                store=open_store(self.db),
                notifier=LogNotifier("chat"),
                pager=LogNotifier("pager"),
                publisher=FolderPublisher.for_policy(policy),
            )
        running = click.get_current_context(silent=True)
        if running is not None:
            running.call_on_close(flow._flush_at_exit)
        return flow


pass_context = click.make_pass_decorator(Context)
