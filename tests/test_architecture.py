"""The layers hold: no import cycle anywhere in the package, and the contracts are the ones drawn.

`lint-imports` (run by .ci/run) checks the contracts of `[tool.importlinter]` in pyproject.toml;
this file checks what a layers contract cannot see (a cycle inside one room, or between two
siblings of a layer) and that the contracts cover every room.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "incident_flow"


def _graph() -> grimp.ImportGraph:
    return grimp.build_graph("incident_flow", exclude_type_checking_imports=True, cache_dir=None)


def _cycles(imports: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(imports):
        if root in index:
            continue
        work = [(root, iter(sorted(imports[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(imports.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_back() -> None:
    graph = _graph()
    imports = {
        module: {m for m in graph.find_modules_directly_imported_by(module) if m in graph.modules}
        for module in graph.modules
        if module.startswith("incident_flow")
    }
    # A package's __init__ importing its own modules is how a package exports: not a cycle
    # unless one of those modules imports the package back.
    assert _cycles(imports) == []


def test_every_room_is_in_the_layers_contract() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["type"] == "layers")["layers"]
    named = {name.strip() for layer in layers for name in re.split(r"[:|]", layer)}
    rooms = {
        f"incident_flow.{p.name}"
        for p in PACKAGE.iterdir()
        if (p.is_dir() and (p / "__init__.py").exists())
    }
    rooms |= {"incident_flow.ports", "incident_flow.exceptions"}
    assert rooms <= named, f"rooms outside the layers contract: {sorted(rooms - named)}"


def test_the_core_is_forbidden_the_io_libraries() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    forbidden = next(c for c in contracts if c["type"] == "forbidden")
    assert "incident_flow._core" in forbidden["source_modules"]
    for library in ("httpx", "psycopg", "sqlite3", "starlette", "click"):
        assert library in forbidden["forbidden_modules"]
