"""Regenerate the generated parts of the docs (the process and layer diagrams) from the code.

    python docs/generate.py           # rewrite what is stale
    python docs/generate.py --check   # exit 1, naming the stale files, without writing (CI)

tests/test_process.py also fails when docs/process.md's diagram differs from
incident_flow.process.to_mermaid(); docs/architecture.md's layer diagram is drawn from the
import contracts in pyproject.toml, which `lint-imports` enforces.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

from incident_flow.process import to_mermaid

PROCESS_MD = Path(__file__).with_name("process.md")
ARCHITECTURE_MD = Path(__file__).with_name("architecture.md")
PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def layers_mermaid() -> str:
    """The layers contract as a top-down diagram: each layer a box, siblings side by side.

    ``a | b``: independent siblings (neither imports the other); ``a : b``: siblings that may.
    """
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    contract = next(c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers")
    lines = ["flowchart TB"]
    for number, layer in enumerate(contract["layers"]):
        independent = "|" in layer
        names = [n.strip().removeprefix("incident_flow.") for n in re.split(r"[:|]", layer)]
        joint = " | " if independent else " · "
        lines.append(f'    L{number}["{joint.join(names)}"]')
    lines.extend(f"    L{n} --> L{n + 1}" for n in range(len(contract["layers"]) - 1))
    return "\n".join(lines) + "\n"


def generated() -> dict[Path, str]:
    """Each generated page and the text it should have."""
    text = PROCESS_MD.read_text(encoding="utf-8")
    new = re.sub(
        r"```mermaid\n.*?```", lambda _: f"```mermaid\n{to_mermaid()}```", text, count=1, flags=re.S
    )
    pages = {PROCESS_MD: new}
    if ARCHITECTURE_MD.exists() and PYPROJECT.exists():  # a copy of docs/ alone has no contracts
        architecture = ARCHITECTURE_MD.read_text(encoding="utf-8")
        pages[ARCHITECTURE_MD] = re.sub(
            r"```mermaid\n.*?```",
            lambda _: f"```mermaid\n{layers_mermaid()}```",
            architecture,
            count=1,
            flags=re.S,
        )
    return pages


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
