"""People: one person and the names the vendors know them by (``Policy.people``).

What a responder does in PagerDuty, Opsgenie, Slack or GitHub arrives with that vendor's
identity (a Slack user id ``U024BE7LH``, a PagerDuty user id ``PXPGF42`` or an email, an
Opsgenie username, a GitHub login). The directory maps each to one person, so MTTA, approvals
and the timeline name the same person whatever tool they used. An identity nobody claims is
kept as the vendor's (``slack:U024BE7LH``), never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping

import attrs

__all__ = ["IDENTITY_SOURCES", "People", "Person"]

#: The vendors a person can have identities at (besides ``email``, which any may carry).
IDENTITY_SOURCES = ("slack", "pagerduty", "opsgenie", "github")


def _ids(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    items = (value,) if isinstance(value, str) else tuple(value)
    for item in items:
        if not isinstance(item, str) or not item.strip():
            msg = f"an identity must be a non-empty string, got {item!r}"
            raise ValueError(msg)
    return tuple(item.strip() for item in items)


_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def _phones(value: str | Iterable[str] | None) -> tuple[str, ...]:
    phones = _ids(value)
    for phone in phones:
        if not _E164.match(phone):
            msg = f"a phone number is written in E.164 form like +14155550100, got {phone!r}"
            raise ValueError(msg)
    return phones


def _name(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        msg = f"Person.name must be a non-empty string, got {value!r}"
        raise ValueError(msg)


@attrs.frozen(kw_only=True)
class Person:
    """A responder and their identities at each vendor.

    Attributes:
        name: how the incident's timeline names them (``alice``).
        email: their email addresses (PagerDuty and Opsgenie often identify people by email).
        slack: Slack user ids (``U024BE7LH``).
        pagerduty: PagerDuty user ids (``PXPGF42``) or emails.
        opsgenie: Opsgenie usernames (an email) or user ids.
        github: GitHub logins.
        phone: phone numbers in E.164 form (``+14155550100``), for a pager that calls or texts.
    """

    name: str = attrs.field(validator=_name)
    email: tuple[str, ...] = attrs.field(default=(), converter=_ids)
    slack: tuple[str, ...] = attrs.field(default=(), converter=_ids)
    pagerduty: tuple[str, ...] = attrs.field(default=(), converter=_ids)
    opsgenie: tuple[str, ...] = attrs.field(default=(), converter=_ids)
    github: tuple[str, ...] = attrs.field(default=(), converter=_ids)
    phone: tuple[str, ...] = attrs.field(default=(), converter=_phones)

    def identities(self, source: str) -> tuple[str, ...]:
        """The names ``source`` may know this person by (its own ids, then the emails)."""
        own: tuple[str, ...] = getattr(self, source, ()) if source in IDENTITY_SOURCES else ()
        return (*own, *self.email)


def _people(value: Iterable[Person] | People) -> tuple[Person, ...]:
    if isinstance(value, People):
        return value.people
    people = tuple(value)
    for person in people:
        if not isinstance(person, Person):
            msg = f"People takes Person values, got {type(person).__name__}"
            raise TypeError(msg)
    return people


@attrs.frozen
class People:
    """The directory: who each vendor identity is.

    Identities compare case-insensitively (emails and logins are not case-sensitive; Slack and
    PagerDuty ids are upper case anyway). Built once with the policy, so a lookup is one dict
    access.
    """

    people: tuple[Person, ...] = attrs.field(default=(), converter=_people)
    _index: Mapping[tuple[str, str], str] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        index: dict[tuple[str, str], str] = {}
        for person in self.people:
            for source in IDENTITY_SOURCES:
                for identity in person.identities(source):
                    index.setdefault((source, identity.casefold()), person.name)
        object.__setattr__(self, "_index", index)

    def __iter__(self) -> Iterator[Person]:
        return iter(self.people)

    def __len__(self) -> int:
        return len(self.people)

    def identity(self, name: str, source: str) -> str | None:
        """The first id ``source`` knows the person ``name`` by (their GitHub login), or None."""
        key = name.strip().casefold()
        for person in self.people:
            if person.name.casefold() == key:
                own: tuple[str, ...] = getattr(person, source, ())
                return own[0] if own else None
        return None

    def find(self, source: str, identity: str) -> str | None:
        """The name of the person ``source`` knows as ``identity``, or None."""
        return self._index.get((source, identity.strip().casefold()))

    def name(self, source: str, identity: str, *also: str | None) -> str:
        """Who acted: the person's name, else the vendor's identity as ``source:identity``.

        ``also`` are other identities the vendor gave for the same actor (an email beside a
        user id); the first one that names a person wins.
        """
        for candidate in (identity, *also):
            if candidate:
                found = self.find(source, candidate)
                if found is not None:
                    return found
        return f"{source}:{identity.strip()}"
