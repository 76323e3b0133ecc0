"""What every importer shares: the result, its report of what did not carry over, the people.

An importer reads a vendor's JSON (an export, or REST API answers) and builds incident_flow's
own values (:class:`~incident_flow.schedules.Schedule`, :class:`~incident_flow.EscalationLevel`,
:class:`~incident_flow.Person`). Whatever it cannot carry over exactly is a :class:`Finding`:
dropped (not carried over at all) or approximated (carried over as something close, said how).
Nothing is dropped silently: a field an importer does not know is a finding too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from .._core.people import IDENTITY_SOURCES, People, Person
from .._core.policy import EscalationLevel
from .._core.teams import Route, Team
from .._core.text import storable_data
from ..exceptions import IncidentFlowError
from ..schedules import Schedule, zone_named
from ._escalation import Step, levels
from ._findings import APPROXIMATED, DROPPED, Finding, plural
from ._report import to_report
from ._toml import to_toml

__all__ = [
    "Finding",
    "Imported",
    "InvalidExport",
    "Names",
    "Reader",
    "choose",
    "imported",
    "plural",
    "readable",
    "team_slug",
]

#: The most of a count that repeats something (an interval, shifts per member, loops): more
#: would be an export's mistake, and would write out that many slots or levels.
MOST = 366


class InvalidExport(IncidentFlowError, ValueError):
    """The vendor's JSON cannot be read at all (not the shape the importer expects)."""


@attrs.frozen(kw_only=True)
class Imported:
    """A vendor's schedules and escalation, as incident_flow's values, and what did not map.

    ``policy_toml()`` writes them as policy TOML (``[[people]]``, ``[[schedules]]``,
    ``[[escalation]]``, and ``[[teams]]``, ``[[routes]]``, ``default_team`` when the vendor's
    organisation has several escalations); ``report()`` says what did not carry over, field
    by field.
    """

    vendor: str
    schedules: tuple[Schedule, ...] = ()
    escalation: tuple[EscalationLevel, ...] = ()
    people: tuple[Person, ...] = ()
    #: The vendor's teams (PagerDuty: one per escalation policy; Opsgenie: one per team, and
    #: per other target of its routing rules; Grafana OnCall: one per escalation chain), each
    #: with its own levels and schedules; none without the organisation (one team).
    teams: tuple[Team, ...] = ()
    #: Which team an alert belongs to (PagerDuty: one per service; Opsgenie: per routing rule;
    #: Grafana OnCall: per integration route), in the vendor's order.
    routes: tuple[Route, ...] = ()
    #: The team of an alert no route takes (None without teams).
    default_team: str | None = None
    findings: tuple[Finding, ...] = ()
    #: What was read (``2 schedules, 1 escalation policy, 5 users``), for the report's head.
    read: str = ""

    def dropped(self) -> tuple[Finding, ...]:
        """The findings not carried over at all."""
        return tuple(f for f in self.findings if f.outcome == DROPPED)

    def policy_toml(self) -> str:
        """The imported values as policy TOML (see :func:`incident_flow.importers.to_toml`)."""
        return to_toml(self)

    def report(self) -> str:
        """The import report, in Markdown (see :func:`incident_flow.importers.to_report`)."""
        return to_report(self)


def short(value: object, limit: int = 120) -> str:
    """``value`` as one short line of text (JSON-ish), for a finding."""
    text = value if isinstance(value, str) else repr(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Reader:
    """Collects findings while an importer walks a vendor's JSON, and reads its values safely.

    Each getter names the place of what it reads, so a missing or wrong field is a clear
    :class:`InvalidExport` naming it (``schedule_layers[1].rotation_turn_length_seconds: missing``).
    """

    def __init__(self) -> None:
        self.findings: list[Finding] = []

    def drop(self, where: str, value: object, why: str) -> None:
        """Report a field not carried over."""
        self.findings.append(Finding(where, short(value), DROPPED, why))

    def approximate(self, where: str, value: object, why: str) -> None:
        """Report a field carried over as something close (``why`` says what)."""
        self.findings.append(Finding(where, short(value), APPROXIMATED, why))

    def unknown(
        self,
        where: str,
        table: Mapping[str, Any],
        known: Iterable[str],
        ignored: Iterable[str] = (),
    ) -> None:
        """Report each key of ``table`` neither read (``known``) nor meaningless (``ignored``)."""
        skip = {*known, *ignored}
        for key, value in table.items():
            if key not in skip and value not in (None, [], {}, ""):
                self.drop(f"{where}.{key}", value, "not a field incident_flow knows")

    def profiles(self, where: str, users: Iterable[object], known: Iterable[str]) -> None:
        """Report once each field of the vendor's user records that people do not carry."""
        skip = set(known)
        # Each field's distinct values, in the order met (every user's time zone, not the first's).
        seen: dict[str, dict[str, None]] = {}
        for user in users:
            if not isinstance(user, Mapping):
                self.drop(f"{where}[*]", user, "not a user record")
                continue
            for key, value in user.items():
                if key not in skip and value not in (None, [], {}, ""):
                    seen.setdefault(key, {})[short(value, 60)] = None
        for key, values in sorted(seen.items()):
            why = "people are imported with their name, email and ids only"
            shown = ", ".join(values)
            self.drop(
                f"{where}[*].{key}",
                shown if len(values) == 1 else f"{len(values)} values: {shown}",
                why,
            )

    @staticmethod
    def table(where: str, value: object) -> Mapping[str, Any]:
        """``value`` as a JSON object, or a clear error."""
        if not isinstance(value, Mapping):
            msg = f"{where}: must be a JSON object, got {short(value, 60)}"
            raise InvalidExport(msg)
        return value

    @staticmethod
    def array(where: str, value: object) -> Sequence[Any]:
        """``value`` as a JSON array (None: empty), or a clear error."""
        if value is None:
            return []
        if not isinstance(value, list):
            msg = f"{where}: must be a JSON array, got {short(value, 60)}"
            raise InvalidExport(msg)
        return value

    @staticmethod
    def text(where: str, table: Mapping[str, Any], key: str, default: str | None = None) -> str:
        """The string ``table[key]``, or a clear error."""
        value = table.get(key, default)
        if not isinstance(value, str) or not value.strip():
            msg = f"{where}.{key}: must be a non-empty string, got {short(value, 60)}"
            raise InvalidExport(msg)
        return value.strip()

    @staticmethod
    def number(
        where: str,
        table: Mapping[str, Any],
        key: str,
        default: int | None = None,
        *,
        most: int = 10**9,
    ) -> int:
        """The whole number ``table[key]`` (0 to ``most``), or a clear error."""
        value = table.get(key, default)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= most:
            msg = f"{where}.{key}: must be a whole number from 0 to {most}, got {short(value, 60)}"
            raise InvalidExport(msg)
        return value

    def spans(self, where: str, value: object, start: datetime, end: datetime | None) -> bool:
        """Whether ``start`` .. ``end`` is a span; if not (ends before it starts), say so."""
        if end is None or end > start:
            return True
        self.drop(
            where, value, f"ends ({end:%Y-%m-%d %H:%M} UTC) when or before it starts: not imported"
        )
        return False

    @staticmethod
    def label(value: object) -> str:
        """A vendor reference's name: its ``name``/``summary`` when it is an object."""
        if isinstance(value, Mapping):
            return str(value.get("name") or value.get("summary") or value.get("id") or value)
        return str(value)

    @staticmethod
    def zone_of(where: str, name: object) -> ZoneInfo:
        """The IANA time zone ``name`` (at ``where``), or a clear error."""
        try:
            return zone_named(name)
        except ValueError as exc:
            raise InvalidExport(f"{where}: {exc}") from exc

    @staticmethod
    def instant(where: str, table: Mapping[str, Any], key: str) -> datetime:
        """The ISO 8601 instant ``table[key]`` (with an offset or ``Z``), in UTC."""
        value = table.get(key)
        try:
            at = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            at = None
        if not isinstance(value, str) or at is None or at.utcoffset() is None:
            msg = f"{where}.{key}: must be an ISO 8601 time with an offset, got {short(value, 60)}"
            raise InvalidExport(msg)
        return at.astimezone(UTC)


_SLUG = re.compile(r"[^a-z0-9._-]+")


def team_slug(name: str, taken: set[str]) -> str:
    """A team's name for the vendor's ``name``: lower case, ``-`` between words, unique.

    Always a team's name (``TEAM_NAME``): nothing but ``a-z0-9._-``, starting with a letter
    or digit, at most 59 characters; ``team`` when nothing of ``name`` is left; a name taken
    gets ``-2``, ``-3``... (``taken`` is updated).
    """
    base = _SLUG.sub("-", name.lower()).strip("-._")[:56].strip("-._") or "team"
    slug, count = base, 1
    while slug in taken:
        count += 1
        slug = f"{base}-{count}"
    taken.add(slug)
    return slug


_HANDLE = re.compile(r"[^a-z0-9._-]+")


class Names:
    """Gives each vendor user one person's name, reusing the names a policy already has.

    A user already claimed by ``known`` (by this vendor's id or an email) keeps that person's
    name; a new one is named by the part of their email before ``@`` (or their username, or
    their id), made unique (``alice``, ``alice-2``).
    """

    def __init__(self, vendor: str, known: People | None = None) -> None:
        self.vendor = vendor
        self.known = known or People()
        self.people: dict[str, Person] = {}
        self._by_id: dict[str, str] = {}
        #: Names a new person must not take: the schedules' (a target ``ops`` would page the
        #: schedule ``ops``, not the person).
        self.reserved: set[str] = set()

    def name(
        self,
        user_id: str,
        *,
        email: str | None = None,
        username: str | None = None,
        label: str | None = None,
    ) -> str:
        """The person's name for the vendor's user ``user_id`` (recorded for ``[[people]]``)."""
        user_id = user_id.strip()
        if not user_id:
            msg = f"a {self.vendor} user without an id (email {email!r}, username {username!r})"
            raise InvalidExport(msg)
        if user_id in self._by_id:
            return self._by_id[user_id]
        email, username, label = (_identity(v) for v in (email, username, label))
        # A vendor without its own identities in the directory (Grafana) is matched by email.
        source = self.vendor if self.vendor in IDENTITY_SOURCES else IDENTITY_SOURCES[0]
        claimed = (
            (self.vendor in IDENTITY_SOURCES and self.known.find(source, user_id))
            or (self.known.find(source, email) if email else None)
            or self._met(email)
        )
        if claimed is not None:
            name = claimed
        else:
            base = (email or username or label or user_id).split("@")[0].lower()
            base = _HANDLE.sub("-", base).strip("-") or "user"
            name, count = base, 1
            taken = {p.name for p in self.known} | set(self.people) | self.reserved
            while name in taken:
                count += 1
                name = f"{base}-{count}"
            ids = [user_id] + ([username] if username and username not in (user_id, email) else [])
            own = {self.vendor: ids} if self.vendor in IDENTITY_SOURCES else {}
            self.people[name] = Person(name=name, email=[email] if email else [], **own)
        self._by_id[user_id] = name
        return name

    def _met(self, email: str | None) -> str | None:
        """The person this import already met with ``email`` (a user named by another id).

        Opsgenie names a user by id in one place and by username (the email) in another: one
        person, not ``alice`` and ``alice-2`` with the same email (an invalid policy).
        """
        if not email:
            return None
        wanted = email.casefold()
        return next(
            (p.name for p in self.people.values() if wanted in (e.casefold() for e in p.email)),
            None,
        )

    def new_people(self) -> tuple[Person, ...]:
        """The people met that the known directory did not have, in the order met."""
        return tuple(self.people.values())


def imported(
    vendor: str,
    names: Names,
    reader: Reader,
    *,
    schedules: Sequence[Schedule],
    steps: Sequence[Step],
    repeats: int = 0,
    read: str,
) -> Imported:
    """The result of an import: its values, the people met and every finding."""
    return Imported(
        vendor=vendor,
        schedules=tuple(schedules),
        escalation=levels(steps, repeats=repeats),
        people=names.new_people(),
        findings=tuple(reader.findings),
        read=read,
    )


def readable(documents: Iterable[object]) -> list[object]:
    """The documents with every string storable and writable.

    A lone surrogate, which JSON can carry (an escaped D800), becomes U+FFFD; NUL is removed.
    """
    return [storable_data(d) for d in documents]


def _identity(value: object) -> str | None:
    """A vendor's email, username or label if it is a non-empty string (else None)."""
    return value.strip() if isinstance(value, str) and value.strip() else None


def choose(
    reader: Reader, items: Sequence[Mapping[str, Any]], wanted: str | None, what: str
) -> Mapping[str, Any] | None:
    """The one of ``items`` named or with the id ``wanted`` (default: the first).

    The others are reported: a policy has one escalation.

    Raises:
        InvalidExport: none is ``wanted``.
    """
    if not items:
        return None
    chosen = items[0]
    if wanted is not None:
        matches = [i for i in items if wanted in (i.get("name"), i.get("id"))]
        if not matches:
            names = ", ".join(str(i.get("name")) for i in items)
            msg = f"none of the {what} is named or with the id {wanted!r} (found: {names})"
            raise InvalidExport(msg)
        chosen = matches[0]
    for index, other in enumerate(items):
        if other is not chosen:
            reader.drop(
                f'{what}[{index}] "{other.get("name")}"',
                other.get("name"),
                "a policy has one escalation: import again choosing this one to take it",
            )
    return chosen
