"""Every public name, at every public import path, as it was before the layout of issue 30.

`public_api.json` was taken from the tree before any module moved: for each public module (no
underscore in its dotted path) the names of its `__all__`. A name may be added (add it to the
file in the same change), never lost: users' code, bots and scripts import these.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from pathlib import Path

import pytest

import incident_flow

PINNED: dict[str, list[str]] = json.loads(
    (Path(__file__).parent / "public_api.json").read_text(encoding="utf-8")
)


def _public_modules() -> list[str]:
    found = ["incident_flow"]
    found.extend(
        info.name
        for info in pkgutil.walk_packages(incident_flow.__path__, "incident_flow.")
        if not any(part.startswith("_") for part in info.name.split(".")[1:])
    )
    return found


@pytest.mark.parametrize("module_name", sorted(PINNED))
def test_every_pinned_name_still_imports_from_its_module(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = set(getattr(module, "__all__", ()))
    for name in PINNED[module_name]:
        assert name in exported, f"{module_name}.{name} left __all__"
        assert getattr(module, name, None) is not None, f"{module_name}.{name} is gone"


def test_no_public_module_is_unpinned() -> None:
    """A new public module is a promise: pin its names here in the same change."""
    unpinned = set(_public_modules()) - set(PINNED) - {"incident_flow.cli.demo_data"}
    assert not unpinned, f"public modules not in public_api.json: {sorted(unpinned)}"


def test_a_name_is_the_same_object_wherever_it_is_exported() -> None:
    """`incident_flow.SQLiteStore is incident_flow.adapters.sqlite.SQLiteStore`, and so on."""
    seen: dict[str, tuple[str, object]] = {}
    for module_name in sorted(PINNED):
        module = importlib.import_module(module_name)
        for name in PINNED[module_name]:
            value = getattr(module, name)
            if not isinstance(value, type):
                continue
            first = seen.setdefault(name, (module_name, value))
            assert first[1] is value, f"{name}: {first[0]} and {module_name} differ"
