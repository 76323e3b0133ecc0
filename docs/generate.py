"""Regenerate the generated parts of the docs (the process diagram) from the code.

    python docs/generate.py           # rewrite what is stale
    python docs/generate.py --check   # exit 1, naming the stale files, without writing (CI)

tests/test_process.py also fails when docs/process.md's diagram differs from
incident_flow.process.to_mermaid().
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from incident_flow.process import to_mermaid

PROCESS_MD = Path(__file__).with_name("process.md")


def generated() -> dict[Path, str]:
    """Each generated page and the text it should have."""
    text = PROCESS_MD.read_text(encoding="utf-8")
    new = re.sub(
        r"```mermaid\n.*?```", lambda _: f"```mermaid\n{to_mermaid()}```", text, count=1, flags=re.S
    )
    return {PROCESS_MD: new}


def main(argv: list[str] | None = None) -> int:
    """Rewrite the stale pages, or with ``--check`` only name them; 1 when any was stale."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    check = parser.parse_args(argv).check
    pages = generated()
    stale = [path for path, text in pages.items() if path.read_text("utf-8") != text]
    for path in stale:
        if check:
            print(f"{path}: stale, run: python docs/generate.py", file=sys.stderr)
        else:
            path.write_text(pages[path], encoding="utf-8")
            print(f"{path}: regenerated")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
