"""The team's Alerts table (the seed's "Alert | Description | Source | Runbook") in and out.

The seed keeps its catalog as a table in its process document. :func:`read_table` takes that
table as Markdown (pipe rows) or as the HTML the seed's editor wrote, and :func:`to_markdown`
writes it back from the catalog, so the document can be generated from what incidents taught.
TOML (``[[runbooks]]``, the policy file's own format) goes both ways too.

A row's **Alert** is the alert's name (or a glob: ``Checkout*``) and names the runbook;
**Source** is a link to where the alert is defined; **Runbook** is the link to the steps.
Empty rows are skipped, identical rows kept once, and two different rows for one alert refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from html.parser import HTMLParser

from .._core.policy import Policy
from .._core.runbooks import Runbook
from ..exceptions import InvalidPolicy

__all__ = ["COLUMNS", "read_table", "read_toml", "to_markdown", "to_toml"]

#: The seed's columns, in order.
COLUMNS = ("Alert", "Description", "Source", "Runbook")
_LINK = re.compile(r"^\[(?P<text>[^\]]*)\]\((?P<href>[^)\s]*)\)$")
_SEPARATOR = re.compile(r"\|?(\s*:?-+:?\s*\|)+\s*(:?-+:?\s*)?")
_SOURCE_LABEL = "Link to Source Page"
_RUNBOOK_LABEL = "Link to Runbook"


class _Cells(HTMLParser):
    """Rows of an HTML table: each cell as (text, first link's href)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[tuple[str, str | None]]] = []
        self._cell: list[str] | None = None
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell, self._href = [], None
        elif tag == "a" and self._cell is not None and self._href is None:
            self._href = dict(attrs).get("href")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self.rows:
            self.rows[-1].append((" ".join("".join(self._cell).split()), self._href))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _markdown_rows(text: str) -> list[list[tuple[str, str | None]]]:
    rows = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("|") or _SEPARATOR.fullmatch(stripped):
            continue  # not a row, or the |---| separator
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", stripped.strip("|"))]
        parsed = []
        for cell in cells:
            link = _LINK.match(cell)
            parsed.append((link["text"], link["href"]) if link else (cell, None))
        rows.append(parsed)
    return rows


def read_table(text: str, *, where: str = "the table") -> list[Runbook]:
    """The runbooks of an Alerts table (Markdown pipe rows, or the seed's HTML table).

    Raises:
        InvalidPolicy: no Alert | Description | Source | Runbook header, a row without a
            runbook link, or two different rows for one alert (every problem at once).
    """
    if "<table" in text.lower():
        parser = _Cells()
        parser.feed(text)
        rows = parser.rows
    else:
        rows = _markdown_rows(text)
    header = next((i for i, r in enumerate(rows) if [c[0] for c in r[:4]] == list(COLUMNS)), None)
    if header is None:
        raise InvalidPolicy([f"{where}: no table with the columns {' | '.join(COLUMNS)}"], where)
    problems: list[str] = []
    found: dict[str, Runbook] = {}
    for number, row in enumerate(rows[header + 1 :], start=1):
        cells = (row + [("", None)] * 4)[:4]
        (alert, _), (description, _), (source_text, source_href), (runbook_text, runbook_href) = (
            cells
        )
        if not any(c[0] or c[1] for c in cells):
            continue  # an empty row of the template
        url = runbook_href or (runbook_text if runbook_text.startswith("http") else None)
        if not alert or not url:
            problems.append(f"{where}: row {number}: needs the alert and a link to its runbook")
            continue
        runbook = Runbook(
            name=alert,
            url=url,
            alert=alert,
            description=description,
            source=None if source_href or not source_text else source_text,
            source_url=source_href,
        )
        known = found.get(alert)
        if known is not None and known != runbook:
            problems.append(f"{where}: row {number}: {alert!r} is in the table twice, differently")
            continue
        found[alert] = runbook
    if problems:
        raise InvalidPolicy(problems, where)
    return list(found.values())


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def to_markdown(runbooks: Iterable[Runbook]) -> str:
    """The Alerts table of ``runbooks``, as the seed lays it out, in Markdown."""
    lines = [f"| {' | '.join(COLUMNS)} |", "|---|---|---|---|"]
    for runbook in runbooks:
        source = runbook.source or ""
        if runbook.source_url:
            source = f"[{_cell(runbook.source or _SOURCE_LABEL)}]({runbook.source_url})"
        cells = (
            _cell(runbook.alert or runbook.name),
            _cell(runbook.description),
            source,
            f"[{_RUNBOOK_LABEL}]({runbook.url})",
        )
        lines.append(f"| {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def _string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a TOML basic string, escapes and all


def to_toml(runbooks: Iterable[Runbook]) -> str:
    """``[[runbooks]]`` tables, as a policy file takes them."""
    blocks = []
    for runbook in runbooks:
        lines = ["[[runbooks]]", f"name = {_string(runbook.name)}", f"url = {_string(runbook.url)}"]
        for key in ("alert", "source", "description", "source_url"):
            value = getattr(runbook, key)
            if value:
                lines.append(f"{key} = {_string(value)}")
        if runbook.severity is not None:
            lines.append(f"severity = {_string(str(runbook.severity))}")
        if runbook.labels:
            pairs = ", ".join(f"{_string(k)} = {_string(v)}" for k, v in runbook.labels.items())
            lines.append(f"labels = {{ {pairs} }}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def read_toml(text: str, *, where: str = "the file") -> list[Runbook]:
    """The runbooks of ``[[runbooks]]`` tables (what :func:`to_toml` writes).

    Raises:
        InvalidPolicy: not TOML, or wrong keys or values (every problem at once).
    """
    policy = Policy.from_text(text, source=where)  # the policy reads runbooks one way only
    return list(policy.runbooks)
