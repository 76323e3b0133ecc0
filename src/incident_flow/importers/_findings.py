"""What did not carry over from a vendor's export: findings, their outcomes, counted words.

Shared by the importers, the import report and the TOML writer (none of which imports another
for them).
"""

from __future__ import annotations

import attrs

__all__ = ["APPROXIMATED", "DROPPED", "Finding", "plural"]

DROPPED = "dropped"
APPROXIMATED = "approximated"


@attrs.frozen
class Finding:
    """One field that did not carry over exactly.

    Attributes:
        where: the field's place in the vendor's JSON, with names (``schedules[0] "Ops"
            .rotations[1] "nights".participants[2]``).
        value: the field's value, shortened.
        outcome: ``dropped`` (not carried over) or ``approximated`` (carried over as said).
        why: what incident_flow did, and why.
    """

    where: str
    value: str
    outcome: str
    why: str


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 schedule``, ``2 schedules`` (``many``: the plural when not ``word`` + s)."""
    return f"{count} {word if count == 1 else many or word + 's'}"
