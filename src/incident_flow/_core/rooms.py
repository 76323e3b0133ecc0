"""A channel per incident, as policy: which severities get one, its name, archive on close.

:class:`IncidentChannels` is the policy's value (``Policy.incident_channels``, a team's own in
``Team.incident_channels``); :func:`channel_name` makes a channel's name from its pattern, and
:func:`read_receipt` reads what opening one answered. The decisions that open, invite to and
archive the channel are :mod:`.rooms_decide`; Slack does it (``SlackNotifier``).

Slack's rules for a channel's name (https://api.slack.com/methods/conversations.create):
lowercase, without spaces or periods, at most 80 characters; we keep to letters, digits,
``-`` and ``_``. An incident's title is outside text: it is normalised into a slug (accents
folded, everything else a ``-``), never trusted as a name.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import attrs

from .severity import Severity

__all__ = [
    "DEFAULT_NAME",
    "NAME_FIELDS",
    "NOT_OPENED",
    "ROOM_KINDS",
    "IncidentChannels",
    "channel_name",
    "incident_channels",
    "name_problem",
    "read_receipt",
    "slug",
]

#: The default name pattern: ``inc-2026-12-07-checkout-errors``.
DEFAULT_NAME = "inc-{date}-{slug}"
#: What a pattern may name: the incident's creation date (``2026-12-07``), its title as a
#: slug, its id, its severity (``p1``) and its team.
NAME_FIELDS = ("date", "slug", "id", "severity", "team")
#: Slack's longest channel name.
MAX_NAME = 80
#: The chat messages about the incident's own channel: open it, invite to it, archive it.
ROOM_KINDS = ("channel", "invite", "archive")
#: The receipt of a channel that was not opened: ``not-opened:`` and why (the thread is used).
NOT_OPENED = "not-opened:"
_NOT_NAME = re.compile(r"[^a-z0-9_-]+")
_DASHES = re.compile(r"-{2,}")


def slug(text: str, limit: int = MAX_NAME) -> str:
    """``text`` as a channel-name part: lowercase ASCII letters, digits, ``-`` and ``_``.

    Accents are folded (``Café`` -> ``cafe``), every other run of characters (spaces,
    markup, emoji, control and direction characters) is one ``-``; at most ``limit``
    characters, never starting or ending with ``-``.
    """
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    cut = _DASHES.sub("-", _NOT_NAME.sub("-", folded)).strip("-_")
    return cut[:limit].rstrip("-_")


def name_problem(pattern: object) -> str | None:  # noqa: PLR0911 - one answer per rule
    """Why ``pattern`` cannot name incident channels, or None when it can."""
    if not isinstance(pattern, str) or not pattern.strip():
        return f"must be a non-empty name pattern like {DEFAULT_NAME!r}, got {pattern!r}"
    try:
        parts = list(string.Formatter().parse(pattern))
    except ValueError as exc:
        return f"{pattern!r} is not a name pattern ({exc})"
    fields = [field for _, field, _, _ in parts if field is not None]
    unknown = [f for f in fields if f not in NAME_FIELDS]
    if unknown:
        known = ", ".join("{" + f + "}" for f in NAME_FIELDS)
        return f"{pattern!r} names {{{unknown[0]}}}; a pattern may use {known}"
    if any(spec or conv for _, field, spec, conv in parts if field is not None):
        return f"{pattern!r}: write each field as {{name}}, without a format"
    literal = "".join(text for text, *_ in parts)
    if _NOT_NAME.search(literal):
        return (
            f"{pattern!r}: outside its fields a channel name has only lowercase letters, "
            "digits, - and _ (Slack's rules)"
        )
    if "slug" not in fields and "id" not in fields:
        return f"{pattern!r} needs {{slug}} or {{id}}: two incidents would want one name"
    if len(literal) > MAX_NAME - 20:
        return f"{pattern!r}: its fixed text leaves too little of Slack's {MAX_NAME} characters"
    return None


def _pattern(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    problem = name_problem(value)
    if problem is not None:
        raise ValueError(f"IncidentChannels.{attribute.name} {problem}")


def _severities(value: Iterable[Severity | str]) -> frozenset[Severity]:
    if isinstance(value, str | Severity):
        value = (value,)
    return frozenset(Severity(s) for s in value)


def _flag(instance: object, attribute: attrs.Attribute[bool], value: object) -> None:
    if not isinstance(value, bool):
        msg = f"IncidentChannels.{attribute.name} must be True or False, got {value!r}"
        raise TypeError(msg)


@attrs.frozen(kw_only=True)
class IncidentChannels:
    """Which incidents get a channel of their own, what it is called, what happens at close.

    Attributes:
        severities: the severities that open a channel (default P1); an incident
            reclassified to one of them opens its channel then. Empty: none do.
        name: the channel's name pattern (default ``inc-{date}-{slug}``): ``{date}`` the
            day it opened (``2026-12-07``, UTC), ``{slug}`` its title made a name,
            ``{id}`` its id, ``{severity}`` (``p1``) and ``{team}``. Needs ``{slug}`` or
            ``{id}``; its fixed text keeps to Slack's rules (lowercase letters, digits, -
            and _); the result is cut to Slack's 80 characters.
        archive_on_close: archive the channel when the incident closes (default False).
    """

    severities: frozenset[Severity] = attrs.field(
        default=frozenset({Severity.P1}), converter=_severities
    )
    name: str = attrs.field(default=DEFAULT_NAME, validator=_pattern)
    archive_on_close: bool = attrs.field(default=False, validator=_flag)

    def wants(self, severity: Severity) -> bool:
        """Whether an incident of ``severity`` gets a channel."""
        return severity in self.severities

    def describe(self) -> str:
        """One line: which severities, the pattern, archive or not (``policy check``)."""
        which = ", ".join(sorted(str(s) for s in self.severities)) or "no severity"
        close = "archived" if self.archive_on_close else "kept"
        return f"incident channels: {which} get #{self.name}; {close} on close"

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> IncidentChannels:
        """From a policy file's table (``severities``, ``name``, ``archive_on_close``).

        Raises:
            ValueError: a key it does not know, or a wrong value.
        """
        known = [field.name for field in attrs.fields(cls)]
        unknown = [key for key in data if key not in known]
        if unknown:
            msg = f"incident_channels: unknown key {unknown[0]!r} (known: {', '.join(known)})"
            raise ValueError(msg)
        return cls(**dict(data))


def incident_channels(value: object) -> IncidentChannels | None:
    """A policy's or team's ``incident_channels``: a value, a mapping of its fields, or None."""
    if value is None or isinstance(value, IncidentChannels):
        return value
    if isinstance(value, Mapping):
        return IncidentChannels.from_mapping(value)
    msg = f"incident_channels takes an IncidentChannels (or its fields), got {value!r}"
    raise TypeError(msg)


def channel_name(
    pattern: str,
    *,
    incident_id: str,
    title: str,
    opened_at: datetime,
    severity: Severity,
    team: str | None = None,
) -> str:
    """The channel's name for an incident: ``pattern`` filled in, within Slack's rules.

    Every field is made a name part (:func:`slug`); the title gets what is left of the 80
    characters once the rest is written, so a long title never cuts the date or the id.
    """
    values = {
        "date": opened_at.strftime("%Y-%m-%d"),
        "id": slug(incident_id),
        "severity": slug(str(severity)),
        "team": slug(team or "") or "team",
    }
    fixed = pattern.replace("{slug}", "")
    room = MAX_NAME - len(fixed.format(**values))
    values["slug"] = slug(title, max(room, 1)) or "incident"
    name = _DASHES.sub("-", pattern.format(**values)).strip("-_")
    return name[:MAX_NAME].rstrip("-_") or slug(incident_id)


def read_receipt(receipt: str | None) -> tuple[str, str] | str:
    """What opening a channel answered: ``(channel id, message)``, or why it was not opened.

    The opener answers ``CHANNEL:TS`` (its id and the incident's message there); the flow
    records :data:`NOT_OPENED` and the reason when the chat could not open one.
    """
    if receipt is None or not receipt:
        return "the chat gave no channel"
    if receipt.startswith(NOT_OPENED):
        return receipt.removeprefix(NOT_OPENED) or "not opened"
    channel, _, _ = receipt.partition(":")
    return (channel, receipt) if channel else "the chat gave no channel"
