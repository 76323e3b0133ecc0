"""Escalation levels from vendors' rules: loops unrolled, levels paged at the same time merged."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from .._core.policy import EscalationLevel

__all__ = ["Step", "levels"]

#: One vendor step: who is paged, and how long before the next step (None: the last).
Step = tuple[list[str], timedelta | None]


def levels(
    steps: Sequence[Step], *, repeats: int = 0, between: timedelta | None = None
) -> tuple[EscalationLevel, ...]:
    """The escalation levels of ``steps``, the whole chain paged ``repeats`` more times.

    Steps with nobody to page lend their wait to the step before (or are dropped first); a step
    with no wait before the next is merged with it (both are paged together). incident_flow's
    ``escalation_repeats`` repeats only the last level, so a vendor's loop over the whole chain
    is written out: its levels again, ``between`` after the chain's last (None: that step's
    own wait, as PagerDuty's loops do).
    """
    merged: list[tuple[list[str], timedelta]] = []
    pending: list[str] = []
    for targets, given in steps:
        pending += [t for t in targets if t not in pending]
        wait = given or timedelta(0)
        if not pending:
            if merged:
                merged[-1] = (merged[-1][0], merged[-1][1] + wait)
            continue
        if wait > timedelta(0):
            merged.append((pending, wait))
            pending = []
    if pending:
        merged.append((pending, timedelta(0)))
    if not merged:
        return ()
    out: list[EscalationLevel] = []
    for cycle in range(repeats + 1):
        for index, (targets, wait) in enumerate(merged):
            last = index == len(merged) - 1
            if last and cycle == repeats:
                out.append(EscalationLevel(tuple(targets)))
                continue
            gap = (between if between is not None else wait) if last else wait
            out.append(EscalationLevel(tuple(targets), gap if gap > timedelta(0) else None))
    return tuple(out)
