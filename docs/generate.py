"""Regenerate the generated parts of the docs (the process diagram) from the code.

    python docs/generate.py

A test fails when docs/process.md's diagram differs from incident_flow.process.to_mermaid().
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from incident_flow.process import to_mermaid

PROCESS_MD = Path(__file__).with_name("process.md")


def main() -> None:
    """Rewrite the mermaid block of process.md."""
    text = PROCESS_MD.read_text(encoding="utf-8")
    new = re.sub(
        r"```mermaid\n.*?```", lambda _: f"```mermaid\n{to_mermaid()}```", text, count=1, flags=re.S
    )
    PROCESS_MD.write_text(new, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
