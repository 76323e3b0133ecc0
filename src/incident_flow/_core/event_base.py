"""The base of every event (:mod:`.events` has them all): version, time, who, type."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import ClassVar

import attrs

__all__ = ["Event"]


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class Event:
    """Base of every event; subclasses add what happened."""

    type: ClassVar[str] = "Event"
    #: The process trigger this event records when it changes the state, else None.
    trigger: ClassVar[str | None] = None

    version: int
    at: datetime
    by: str | None = None

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.type = cls.__name__
