"""The process: one shared Machine built from data, validated, rendered, and its table honoured."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from incident_flow import InvalidTransition
from incident_flow._core.process import (
    IN_PLACE,
    PROCESS,
    STATES,
    TRANSITIONS,
    ProcessDefinitionError,
    Step,
    build,
)
from incident_flow.process import allowed_triggers, to_mermaid

ALL_TRIGGERS = sorted({s.trigger for s in TRANSITIONS + IN_PLACE})


class TestDefinition:
    """The tables are checked when the Machine is built."""

    def test_states_in_process_order(self) -> None:
        assert STATES == (
            "triggered",
            "classified",
            "notified",
            "runbook",
            "resolved",
            "postmortem",
            "runbook_update",
            "closed",
        )

    def test_design_table_rows(self) -> None:
        rows = {(s.trigger, src, s.dest) for s in TRANSITIONS for src in s.sources}
        assert rows == {
            ("classify", "triggered", "classified"),
            ("notify", "classified", "notified"),
            ("start_runbook", "notified", "runbook"),
            ("resolve", "notified", "resolved"),
            ("resolve", "runbook", "resolved"),
            ("reopen", "resolved", "runbook"),
            ("start_postmortem", "resolved", "postmortem"),
            ("publish_postmortem", "postmortem", "runbook_update"),
            ("close", "resolved", "closed"),
            ("close", "runbook_update", "closed"),
            # 0.2: a silenced alert that recovered before its silence ended.
            ("dismiss", "triggered", "closed"),
        }

    def test_nothing_leaves_closed(self) -> None:
        assert allowed_triggers("closed") == ()

    def test_in_place_events_are_open_states_only(self) -> None:
        for step in IN_PLACE:
            assert step.dest is None
            assert "closed" not in step.sources
            # Only the alert's own repeats and recovery reach a silenced (triggered) incident.
            if step.trigger not in ("alert_repeated", "alert_recovered"):
                assert "triggered" not in step.sources

    @pytest.mark.parametrize(
        ("steps", "message"),
        [
            ([Step("go", ["a"], "z"), Step("loop", ["b"], "b")], "'b' is unreachable"),
            ([Step("go", ["a"], "b"), Step("back", ["b"], "a")], "'a' cannot reach 'z'"),
            ([Step("go", ["a"], "z"), Step("again", ["z"], "a")], "leaves the final state"),
            ([Step("go", ["a"], "q")], "unknown state 'q'"),
        ],
    )
    def test_broken_definitions_are_refused(self, steps: list[Step], message: str) -> None:
        with pytest.raises(ProcessDefinitionError, match=message):
            build(states=("a", "b", "z"), initial="a", final="z", steps=steps)

    def test_exactly_one_initial_state(self) -> None:
        from incident_flow._core.process import validate

        with pytest.raises(ProcessDefinitionError, match="exactly one initial state"):
            validate(("a", "z"), ["a", "z"], "z", [Step("go", ["a"], "z")])

    def test_a_valid_small_process_builds(self) -> None:
        process = build(states=("a", "z"), initial="a", final="z", steps=[Step("go", ["a"], "z")])
        assert process.fire("a", "go") == "z"


class TestMachine:
    """The compiled table and the shared transitions Machine agree on every pair."""

    @pytest.mark.parametrize("state", STATES)
    @pytest.mark.parametrize("trigger", [*ALL_TRIGGERS, "nonsense"])
    def test_table_agrees_with_the_machine(self, state: str, trigger: str) -> None:
        try:
            expected = PROCESS.fire_on_machine(state, trigger)
        except InvalidTransition:
            with pytest.raises(InvalidTransition):
                PROCESS.fire(state, trigger)
            assert (state, trigger) not in PROCESS.pairs
        else:
            assert PROCESS.fire(state, trigger) == expected
            assert (state, trigger) in PROCESS.pairs

    def test_refusal_explains_itself(self) -> None:
        with pytest.raises(InvalidTransition) as info:
            PROCESS.fire("resolved", "start_runbook", incident_id="inc-1")
        error = info.value
        assert (error.incident_id, error.state, error.trigger) == (
            "inc-1",
            "resolved",
            "start_runbook",
        )
        assert "reopen" in error.allowed and "close" in error.allowed
        assert "allowed now:" in str(error)

    def test_one_machine_with_no_models(self) -> None:
        assert PROCESS._machine.models == []


class TestMermaid:
    """to_mermaid renders every state and edge; the docs embed exactly that output."""

    def test_every_edge_and_state(self) -> None:
        text = to_mermaid()
        assert text.startswith("stateDiagram-v2\n")
        assert "[*] --> triggered" in text
        assert "closed --> [*]" in text
        for step in TRANSITIONS:
            for source in step.sources:
                assert f"{source} --> {step.dest}: {step.trigger}" in text
        for state in STATES:
            assert re.search(rf"\b{state}\b", text)
        notes = dict(re.findall(r"note right of (\w+)\n\s+in place: ([^\n]+)", text))
        for step in IN_PLACE:
            for source in step.sources:
                assert step.trigger in notes[source].split(", ")

    def test_docs_diagram_is_generated(self) -> None:
        docs = Path(__file__).parents[1] / "docs" / "process.md"
        block = re.search(r"```mermaid\n(.*?)```", docs.read_text(), re.S)
        assert block is not None
        assert block.group(1) == to_mermaid(), "run: python docs/generate.py"
