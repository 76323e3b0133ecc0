"""The mutation report's arithmetic: equivalents are left out, stale ones and low rates fail."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from . import mutation_report

M = "incident_flow.m.x_f__mutmut_"


def run(tmp_path: Path, codes: dict[str, int | None], equivalent: str, *flags: str) -> int:
    meta = tmp_path / "mutants/src/incident_flow/m.py.meta"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({"exit_code_by_key": codes}), encoding="utf-8")
    (tmp_path / "eq.txt").write_text(f"# a comment\n\n{equivalent}\n", encoding="utf-8")
    argv = ["report", "--mutants", str(tmp_path / "mutants"), "--equivalents"]
    sys.argv = [*argv, str(tmp_path / "eq.txt"), *flags]
    return mutation_report.main()


def test_the_rate_counts_kills_over_kills_and_survivors_without_the_equivalents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", [])
    codes: dict[str, int | None] = {f"{M}{i}": 1 for i in range(19)}
    codes |= {f"{M}19": 0, f"{M}20": 0, f"{M}21": 36, f"{M}22": 33}
    assert run(tmp_path, codes, f"{M}20 only `not ok` reads it", "--survivors") == 1
    out = capsys.readouterr().out
    assert "| `incident_flow/m.py` | 23 | 20 | 1 | 2 | 0 | 90.9 % |" in out
    assert f"survivors:\n  {M}19\n  {M}22" in out
    assert "under 95 %:\n  incident_flow/m.py" in out


def test_a_listed_equivalent_that_is_killed_is_stale_and_fails_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", [])
    assert run(tmp_path, {f"{M}1": 1, f"{M}2": None}, f"{M}1 reason") == 1
    assert f"look again):\n  {M}1" in capsys.readouterr().out


def test_a_module_not_yet_run_through_is_not_judged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", [])
    assert run(tmp_path, {f"{M}1": 0, f"{M}2": None}, "") == 0
    assert "| `incident_flow/m.py` | 2 | 0 | 0 | 1 | 1 | 0.0 % |" in capsys.readouterr().out
