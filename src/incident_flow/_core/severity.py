"""Severity: P1 (most severe) to P5."""

from __future__ import annotations

import enum

__all__ = ["Severity"]


class Severity(enum.StrEnum):
    """How bad an incident is, ``P1`` (most severe) to ``P5``.

    ``Severity("P2")`` and ``Severity("p2")`` both work. Severities sort by their number, so the
    most severe of several is ``min(severities)``. Which severities are *critical* (paged,
    post-mortem required) is the :class:`~incident_flow.Policy`'s decision, not the enum's.
    """

    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"
    P5 = "P5"

    @classmethod
    def _missing_(cls, value: object) -> Severity | None:
        if isinstance(value, str):
            upper = value.strip().upper()
            if upper in cls.__members__:
                return cls.__members__[upper]
        return None

    @property
    def rank(self) -> int:
        """The number: 1 for P1 (most severe) to 5 for P5."""
        return int(self.value[1])

    def is_more_severe_than(self, other: Severity) -> bool:
        """Return True when this severity is strictly more severe than ``other``."""
        return self.rank < other.rank
