"""``incident-flow console hash-password``: a password hash for ``[console.users]``."""

from __future__ import annotations

import click

from ..console._passwords import hash_password

__all__ = ["console_group"]


@click.group("console")
def console_group() -> None:
    """The web console (served at /ui by `serve` when the configuration has [console])."""


@console_group.command("hash-password")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="The password (asked for, hidden, when not given; avoid it on a shared shell).",
)
def hash_password_command(password: str) -> None:
    """Print a salted scrypt hash of a password for [console.users] (never the password).

    Write it as `alice = "scrypt$16384$8$1$..."` under [console.users].
    """
    try:
        hashed = hash_password(password)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--password") from None
    click.echo(hashed)
