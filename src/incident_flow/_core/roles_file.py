"""The policy file's ``[roles]`` (and a team's ``[teams.roles]``), read by the Reader.

```toml
[roles]
names = ["commander", "communications", "scribe"]
commander_required = ["P1"]
remind_after = "10m"          # no commander that long: the chat is reminded
page_after = "10m"            # that long after the reminder: the rotation is paged
page = ["schedule:commanders"]
```

A team's ``[teams.roles]`` starts from the policy's ``[roles]``: the keys it leaves out are
the policy's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .roles import Roles, role_slug
from .text import unknown_key

if TYPE_CHECKING:
    from .policy_file import Reader

#: The keys of ``[roles]``.
ROLES_KEYS = ("names", "commander_required", "remind_after", "page_after", "page")


def read_roles(
    reader: Reader, path: str, value: object, base: Mapping[str, Any] | None = None
) -> Roles | None:
    """``[roles]`` at ``path`` (over ``base``, the policy's own table, for a team's).

    Every problem goes to ``reader`` with its path; None when there was one.
    """
    table = reader.table(path, value)
    if table is None:
        return None
    problems = len(reader.problems)
    for key in table:
        if key not in ROLES_KEYS:
            reader.problem(f"{path}.{key}", unknown_key(key, ROLES_KEYS))
    merged = {**(base or {}), **table}
    fields: dict[str, Any] = {}
    if "names" in merged:
        fields["names"] = _names(reader, f"{path}.names", merged["names"])
    if "commander_required" in merged:
        where = f"{path}.commander_required"
        fields["commander_required"] = reader.severity_list(where, merged["commander_required"])
    for key in ("remind_after", "page_after"):
        if key in merged:
            fields[key] = reader.duration(f"{path}.{key}", merged[key])
    if "page" in merged:
        page = merged["page"]
        fields["page"] = reader.name_list(f"{path}.page", [page] if isinstance(page, str) else page)
    if len(reader.problems) > problems:
        return None
    try:
        return Roles(**fields)
    except ValueError as exc:
        reader.problem(path, str(exc).removeprefix("Roles."))
        return None


def _names(reader: Reader, path: str, value: object) -> list[str] | None:
    if not isinstance(value, list) or not value:
        reader.problem(path, f"must be a non-empty list of role names, got {value!r}")
        return None
    out: list[str] = []
    for index, name in enumerate(value):
        try:
            slug = role_slug(name)
        except ValueError as exc:
            reader.problem(f"{path}[{index}]", str(exc))
            continue
        if slug in out:
            reader.problem(f"{path}[{index}]", f"{slug!r} is declared twice")
            continue
        out.append(slug)
    return out
