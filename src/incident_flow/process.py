"""The incident process: its states, its triggers and its diagram.

>>> from incident_flow.process import to_mermaid
>>> print(to_mermaid())  # doctest: +ELLIPSIS
stateDiagram-v2
...
"""

from __future__ import annotations

from ._core.process import (
    FINAL_STATE,
    IN_PLACE,
    INITIAL_STATE,
    OPEN_STATES,
    PROCESS,
    STATES,
    TRANSITIONS,
    State,
    Step,
)

__all__ = [
    "FINAL_STATE",
    "INITIAL_STATE",
    "IN_PLACE",
    "OPEN_STATES",
    "STATES",
    "TRANSITIONS",
    "State",
    "Step",
    "allowed_triggers",
    "to_mermaid",
]


def to_mermaid() -> str:
    """Return the process as a Mermaid ``stateDiagram-v2``, rendered from the shared Machine."""
    return PROCESS.to_mermaid()


def allowed_triggers(state: str) -> tuple[str, ...]:
    """Return the triggers the process allows in ``state`` (sorted; empty for ``closed``)."""
    return PROCESS.allowed(state)
