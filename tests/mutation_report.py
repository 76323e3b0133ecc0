"""The mutation run's report: kill rate per module, over the mutants that are not equivalent.

    HYPOTHESIS_PROFILE=mutation mutmut run --max-children 2
    python tests/mutation_report.py [--survivors] [--target 95]

Reads what ``mutmut run`` left in ``mutants/`` (one ``.meta`` file per mutated module, with the
exit code of each mutant's tests) and ``tests/mutation_equivalents.txt`` (the mutants no input
can tell from the code, one per line with the reason). Prints a Markdown table: mutants,
killed (a test failed, timed out or crashed), equivalent, survived (the tests passed, or no test
reached it), not run, and the kill rate over killed + survived. ``--survivors`` lists the
survivors by name (``mutmut show NAME`` shows one). Exits 1 when a module that ran completely
is under the target rate, or when an equivalent listed is no longer a survivor (the code
changed under it: look again), so the file cannot go stale silently.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KILLED = {1, 3, 24, -24, 36, 37, 152, 255, -9, -11}  # a failure, a timeout, a crash


def equivalents(path: Path) -> dict[str, str]:
    """``{mutant name: reason}`` from the equivalents file (``#`` starts a comment)."""
    found: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        name, _, reason = text.partition(" ")
        found[name] = reason.strip()
    return found


def results(mutants: Path) -> dict[str, dict[str, int | None]]:
    """``{module path: {mutant name: exit code or None}}`` from a run's ``.meta`` files."""
    by_module: dict[str, dict[str, int | None]] = {}
    for meta in sorted((mutants / "src").rglob("*.meta")):
        codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
        if codes:
            by_module[str(meta.relative_to(mutants / "src"))[: -len(".meta")]] = codes
    return by_module


def tally(codes: dict[str, int | None], known: dict[str, str]) -> tuple[dict[str, int], list[str]]:
    """One module's counts (killed, equivalent, survived, not run) and its survivors' names."""
    row: dict[str, int] = defaultdict(int)
    survivors: list[str] = []
    for name, code in codes.items():
        if code is None:
            row["not run"] += 1
        elif code in KILLED:
            row["killed"] += 1
        elif name in known:
            row["equivalent"] += 1
        else:  # passed, reached by no test, "suspicious" or "skipped": not a kill
            row["survived"] += 1
            survivors.append(name)
    return row, survivors


def main() -> int:
    """Print the table (and the survivors); 1 when under target or the equivalents are stale."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=Path, default=ROOT / "mutants")
    parser.add_argument("--equivalents", type=Path, default=ROOT / "tests/mutation_equivalents.txt")
    parser.add_argument("--target", type=float, default=95.0)
    parser.add_argument("--survivors", action="store_true", help="list the survivors by name")
    args = parser.parse_args()
    known = equivalents(args.equivalents)
    runs = results(args.mutants)
    if not runs:
        print(f"no results in {args.mutants}: run `mutmut run` first", file=sys.stderr)
        return 2
    print("| module | mutants | killed | equivalent | survived | not run | kill rate |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    total: dict[str, int] = defaultdict(int)
    survivors: list[str] = []
    stale = [name for name in known if not any(name in codes for codes in runs.values())]
    under: list[str] = []
    for module, codes in runs.items():
        row, lost = tally(codes, known)
        survivors += lost
        stale += [n for n, c in codes.items() if n in known and c in KILLED]
        judged = row["killed"] + row["survived"]
        rate = 100 * row["killed"] / judged if judged else 0.0
        if row["not run"] == 0 and judged and rate < args.target:
            under.append(module)
        print(
            f"| `{module}` | {len(codes)} | {row['killed']} | {row['equivalent']} |"
            f" {row['survived']} | {row['not run']} | {rate:.1f} % |"
        )
        total["mutants"] += len(codes)
        for key, value in row.items():
            total[key] += value
    judged = total["killed"] + total["survived"]
    print(
        f"| **all** | {total['mutants']} | {total['killed']} | {total['equivalent']} |"
        f" {total['survived']} | {total['not run']} |"
        f" {100 * total['killed'] / max(1, judged):.1f} % |"
    )
    if args.survivors:
        print("\nsurvivors:", *survivors, sep="\n  ")
    if stale:
        print("\nlisted as equivalent but killed or gone (look again):", *stale, sep="\n  ")
    if under:
        print(f"\nunder {args.target:g} %:", *under, sep="\n  ")
    return 1 if stale or under else 0


if __name__ == "__main__":
    sys.exit(main())
