"""Every example runs, so none can rot."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES_DIR = Path(__file__).parents[1] / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.py"))


def run_python(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run our interpreter on ``args`` in ``folder``; it must exit 0."""
    result = subprocess.run(
        [sys.executable, *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_example_runs(example: Path, tmp_path: Path) -> None:
    """The example exits 0 in a clean folder and says what happened."""
    result = run_python(tmp_path, str(example))
    assert result.stdout.strip()


def test_quickstart_walks_the_whole_process(tmp_path: Path) -> None:
    """The quickstart closes a P1 with a saved post-mortem."""
    result = run_python(tmp_path, str(EXAMPLES_DIR / "quickstart.py"))
    assert "is closed" in result.stdout
    assert "[page]" in result.stdout
    (saved,) = (tmp_path / "postmortems").glob("*.md")
    assert "## Reviewers\n\n- bob (approved)\n- carol (approved)" in saved.read_text()


def test_there_are_examples() -> None:
    assert EXAMPLES


def test_readme_example_runs(tmp_path: Path) -> None:
    """The README's ten-line example works as printed."""
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    run_python(tmp_path, "-c", code)
    assert list((tmp_path / "postmortems").glob("*.md"))


def test_slack_bot_verifies_and_processes_once(tmp_path: Path) -> None:
    """Commands, buttons and forms act as the mapped person; a retry once; a forgery refused."""
    result = run_python(tmp_path, str(EXAMPLES_DIR / "slack_bot.py"))
    lines = result.stdout.splitlines()
    assert lines[0].startswith("ack") and lines[0].endswith("is notified")
    assert lines[1].startswith("retried ack") and lines[1].endswith("is notified")
    assert lines[2].strip() == "runbook button   -> 200"
    assert lines[3].endswith("is runbook")
    assert "Refused: no incident here is named 'inc-nope'" in lines[4]
    assert lines[5].strip() == "resolve form     -> 200"
    assert lines[6].startswith("forged") and "401" in lines[6]
    assert "usage: /incident ack ID" in lines[7]
    assert lines[8].endswith("resolved, acknowledged by alice, 1 note(s)")
    # It is the asyncio bot: Bolt's AsyncApp over AsyncIncidentFlow, nothing sync left behind.
    source = (EXAMPLES_DIR / "slack_bot.py").read_text()
    for name in ("AsyncApp(", "AsyncIncidentFlow(", "AsyncSQLiteStore.open(", "asyncio.run("):
        assert name in source, name
    assert not re.search(r"(?<![\w.])(App|IncidentFlow|SQLiteStore)\(|\.dispatch\(", source)
