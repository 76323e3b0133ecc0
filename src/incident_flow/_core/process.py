"""The incident process declared as data, and the one shared ``transitions`` Machine built from it.

The tables below are the single source of truth for states and triggers. :func:`build` checks
the definition (one initial state, every state reachable, every non-final state can still reach
``closed``, nothing leaves ``closed``) and builds ONE Machine with no models attached (no
``add_model``: it scans a list, breaks on slotted classes and silently drops value-equal models).
The transition table every command consults is compiled from that Machine's own events when it is
built, and the diagram is rendered from it, so neither can drift from the definition; the tests
fire the Machine itself for every (state, trigger) pair and check the table agrees.
``transitions``' own errors never leave this module.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable, Mapping, Sequence

import attrs
from transitions import Machine, MachineError

from ..exceptions import InvalidTransition

__all__ = [
    "FINAL_STATE",
    "INITIAL_STATE",
    "IN_PLACE",
    "OPEN_STATES",
    "PROCESS",
    "STATES",
    "TRANSITIONS",
    "Process",
    "ProcessDefinitionError",
    "State",
    "Step",
    "build",
]


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


class State(enum.StrEnum):
    """The states of an incident, in process order."""

    TRIGGERED = "triggered"
    CLASSIFIED = "classified"
    NOTIFIED = "notified"
    RUNBOOK = "runbook"
    RESOLVED = "resolved"
    POSTMORTEM = "postmortem"
    RUNBOOK_UPDATE = "runbook_update"
    CLOSED = "closed"


@attrs.frozen
class Step:
    """One row of the process table: ``trigger`` from ``sources`` to ``dest``.

    ``dest`` None means the trigger records something without changing the state.
    """

    trigger: str
    sources: tuple[str, ...] = attrs.field(converter=_strings)
    dest: str | None
    rule: str = ""
    #: Fired by the system (the alert source, the timer), never by a person's command.
    system: bool = False


STATES: tuple[str, ...] = tuple(s.value for s in State)
INITIAL_STATE = State.TRIGGERED.value
FINAL_STATE = State.CLOSED.value
#: From ``notified`` until ``closed`` (not after): where the in-place events are allowed.
OPEN_STATES: tuple[str, ...] = ("notified", "runbook", "resolved", "postmortem", "runbook_update")
_UNRESOLVED = ("notified", "runbook")

TRANSITIONS: tuple[Step, ...] = (
    Step(
        "classify",
        ["triggered"],
        "classified",
        "severity from the alert, the catalog, or policy.default_severity",
    ),
    Step(
        "notify",
        ["classified"],
        "notified",
        "Slack for every incident; page on-call when the severity is critical",
    ),
    Step(
        "start_runbook",
        ["notified"],
        "runbook",
        "the catalog's runbook or an explicit one; none found records an 'add runbook' item",
    ),
    Step(
        "resolve",
        ["notified", "runbook"],
        "resolved",
        "never blocked; resolving with no runbook at all records an 'add runbook' item",
    ),
    Step("reopen", ["resolved"], "runbook", "the same alert fired again before close"),
    Step(
        "dismiss",
        ["triggered"],
        "closed",
        "a silenced alert recovered before its silence ended: recorded, never posted or paged",
        system=True,
    ),
    Step(
        "start_postmortem",
        ["resolved"],
        "postmortem",
        "required when the incident was ever of a post-mortem severity; optional otherwise",
    ),
    Step(
        "publish_postmortem",
        ["postmortem"],
        "runbook_update",
        "merged (or saved) under policy.postmortem_folder with policy.postmortem_reviewers "
        "distinct approvals; merge = auto merges once approved, a person may ask for it",
    ),
    Step(
        "close",
        ["resolved"],
        "closed",
        "no post-mortem required and every action item done or waived",
    ),
    Step(
        "close",
        ["runbook_update"],
        "closed",
        "post-mortem saved and every action item done or waived",
    ),
)

IN_PLACE: tuple[Step, ...] = (
    Step("note", OPEN_STATES, None, "a status update for the timeline and the Slack thread"),
    Step("acknowledge", OPEN_STATES, None, "the first acknowledgement stops escalation"),
    Step(
        "reclassify",
        OPEN_STATES,
        None,
        "an upgrade to critical pages at once (while unresolved) and requires a post-mortem; "
        "a downgrade never drops an obligation",
    ),
    Step(
        "reassign",
        OPEN_STATES,
        None,
        "to another team of the policy; a critical, unresolved incident pages its first level",
    ),
    Step(
        "assign_role",
        OPEN_STATES,
        None,
        "a person of the policy takes one of its roles (a hand-over when someone holds it)",
    ),
    Step(
        "remind_commander",
        _UNRESOLVED,
        None,
        "nobody leads a severity that needs a commander: the chat is reminded after "
        "policy.roles.remind_after, the commander rotation paged after page_after",
        system=True,
    ),
    Step("add_runbook", OPEN_STATES, None, "settles the 'add runbook' action items"),
    Step("update_runbook", OPEN_STATES, None, "settles the runbook's 'update runbook' items"),
    Step("waive_action_item", OPEN_STATES, None, "an action item waived with a reason"),
    Step("add_follow_up", OPEN_STATES, None, "a follow-up item a person names (with an owner)"),
    Step(
        "complete_action_item",
        OPEN_STATES,
        None,
        "an action item done (by command, or its tracker issue closed)",
    ),
    Step(
        "alert_repeated",
        ("triggered", *OPEN_STATES),
        None,
        "the alert (or one grouped with it) fired again: no new page; a held page goes out "
        "once the paging threshold is reached; a silenced one waits for its silence to end",
        system=True,
    ),
    Step(
        "alert_recovered",
        ("triggered", *OPEN_STATES),
        None,
        "the source says it recovered",
        system=True,
    ),
    Step(
        "amend_postmortem",
        ["postmortem"],
        None,
        "the author changes the draft (under review on a pull request: commits there)",
    ),
    Step(
        "submit_postmortem",
        ["postmortem"],
        None,
        "opens the pull request (or branch) and asks policy.postmortem_reviewers people, "
        "never the author; refused while a section policy.postmortem_required_sections "
        "lists is unwritten",
    ),
    Step(
        "approve_postmortem",
        ["postmortem"],
        None,
        "once submitted; on a pull request its reviews approve; twice counts once",
    ),
    Step(
        "request_changes",
        ["postmortem"],
        None,
        "the reviewer's approval no longer counts until they approve again",
    ),
    Step(
        "revise_postmortem",
        ["postmortem"],
        None,
        "commits pushed to its branch update the stored document",
        system=True,
    ),
    Step(
        "postmortem_merged",
        ["postmortem"],
        None,
        "on the base branch: publishes it once the approvals are there too",
        system=True,
    ),
    Step(
        "postmortem_closed",
        ["postmortem"],
        None,
        "closed unmerged: said in the thread and the timeline; the obligation stays",
        system=True,
    ),
    Step(
        "escalate",
        _UNRESOLVED,
        None,
        "no acknowledgement within policy.ack_timeout re-pages the next level; "
        "a responder may ask for the next level at once",
    ),
    Step(
        "remind",
        ["resolved", "postmortem", "runbook_update"],
        None,
        "an overdue post-mortem or open action items are reminded in the thread",
        system=True,
    ),
)


class ProcessDefinitionError(ValueError):
    """The process tables are inconsistent (a programming error, caught when built)."""


def validate(
    states: Sequence[str], initial: str | Sequence[str], final: str, steps: Iterable[Step]
) -> None:
    """Check a process definition; raise :class:`ProcessDefinitionError` listing every problem."""
    steps = tuple(steps)
    problems: list[str] = []
    initials = [initial] if isinstance(initial, str) else list(initial)
    if len(initials) != 1:
        problems.append(f"exactly one initial state is needed, got {initials}")
    known = set(states)
    for step in steps:
        named = (*step.sources, *(() if step.dest is None else (step.dest,)))
        problems.extend(f"{step.trigger}: unknown state {s!r}" for s in named if s not in known)
        if final in step.sources:
            problems.append(f"{step.trigger}: leaves the final state {final!r}")
    edges: dict[str, set[str]] = {s: set() for s in states}
    for step in steps:
        if step.dest is not None:
            for source in step.sources:
                edges.setdefault(source, set()).add(step.dest)
    if initials and initials[0] in known:
        reached = _reachable(initials[0], edges)
        problems.extend(f"state {s!r} is unreachable" for s in states if s not in reached)
    problems.extend(
        f"state {s!r} cannot reach {final!r}"
        for s in states
        if s != final and final not in _reachable(s, edges)
    )
    if problems:
        raise ProcessDefinitionError("; ".join(problems))


def _reachable(start: str, edges: Mapping[str, set[str]]) -> set[str]:
    seen = {start}
    queue = deque([start])
    while queue:
        for nxt in edges.get(queue.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


class _Cursor:
    """The only 'model' the shared Machine ever sees: a state, for the length of one fire."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


class Process:
    """The shared Machine and what is derived from it (allowed triggers, the diagram)."""

    def __init__(self, machine: Machine, steps: Sequence[Step]) -> None:
        self._machine = machine
        self._events = machine.events
        self.steps = tuple(steps)
        allowed: dict[str, set[str]] = {s: set() for s in machine.states}
        self._dest: dict[tuple[str, str], str] = {}
        for name, event in machine.events.items():
            for source, transitions in event.transitions.items():
                allowed[source].add(name)
                self._dest[source, name] = transitions[0].dest or source
        system = {s.trigger for s in steps if s.system}
        self._allowed = {state: tuple(sorted(names - system)) for state, names in allowed.items()}
        self.pairs = frozenset(
            (state, trigger) for state, names in allowed.items() for trigger in names
        )

    def allowed(self, state: str) -> tuple[str, ...]:
        """The triggers a person may fire in ``state``, sorted (system triggers left out)."""
        return self._allowed.get(state, ())

    def next_state(self, state: str, trigger: str) -> str:
        """The state ``trigger`` leads to from ``state`` (for replaying recorded events).

        Raises:
            InvalidTransition: the recorded trigger is not in the process (a corrupt stream).
        """
        return self.fire(state, trigger)

    def fire(self, state: str, trigger: str, *, incident_id: str = "") -> str:
        """Return the state ``trigger`` leads to from ``state``.

        This is the hot path of every command, so it reads the transition table compiled from
        the Machine when it was built (a dict lookup) instead of running the Machine's
        callback pipeline; :meth:`fire_on_machine` runs the Machine itself, and the tests check
        that both agree on every (state, trigger) pair.

        Raises:
            InvalidTransition: the process has no such trigger from ``state``.
        """
        dest = self._dest.get((state, trigger))
        if dest is None:
            raise InvalidTransition(incident_id, state, trigger, self.allowed(state))
        return dest

    def fire_on_machine(self, state: str, trigger: str, *, incident_id: str = "") -> str:
        """Fire ``trigger`` from ``state`` on the shared Machine itself; return the new state.

        Raises:
            InvalidTransition: the Machine refuses the trigger from ``state``.
        """
        cursor = _Cursor(state)
        try:
            self._events[trigger].trigger(cursor)
        except (KeyError, MachineError, ValueError) as exc:
            raise InvalidTransition(incident_id, state, trigger, self.allowed(state)) from exc
        return cursor.state

    def to_mermaid(self) -> str:
        """Render the Machine as a Mermaid ``stateDiagram-v2``."""
        lines = ["stateDiagram-v2", f"    [*] --> {self._machine.initial}"]
        in_place: dict[str, list[str]] = {}
        for name, event in self._machine.events.items():
            for source, transitions in event.transitions.items():
                for transition in transitions:
                    if transition.dest is None:
                        in_place.setdefault(source, []).append(name)
                    else:
                        lines.append(f"    {source} --> {transition.dest}: {name}")
        lines.append(f"    {FINAL_STATE} --> [*]")
        for state in self._machine.states:
            if state in in_place:
                lines.append(f"    note right of {state}")
                lines.append(f"        in place: {', '.join(in_place[state])}")
                lines.append("    end note")
        return "\n".join(lines) + "\n"


def build(
    states: Sequence[str] = STATES,
    initial: str = INITIAL_STATE,
    final: str = FINAL_STATE,
    steps: Sequence[Step] = TRANSITIONS + IN_PLACE,
) -> Process:
    """Validate a process definition and build its one shared Machine."""
    validate(states, initial, final, steps)
    machine = Machine(
        model=None,
        states=list(states),
        initial=initial,
        transitions=[
            {"trigger": s.trigger, "source": list(s.sources), "dest": s.dest} for s in steps
        ],
        auto_transitions=False,
        send_event=False,
    )
    return Process(machine, steps)


#: The process every IncidentFlow shares.
PROCESS = build()
