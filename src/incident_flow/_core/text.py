"""Outside text kept as text: Markdown, GitHub mentions and control characters.

An alert's title, a person's name, a note: whoever can reach a receiver can write them (Datadog
and Alertmanager do not sign). In a post-mortem they must not add a section or an "Approved by"
line; on GitHub they must not notify anyone or cross-reference an issue; nowhere may they carry
a NUL or a terminal escape.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

__all__ = [
    "markdown_block",
    "markdown_inline",
    "markdown_plain",
    "markdown_unblock",
    "no_controls",
    "quiet_mentions",
    "storable",
    "storable_data",
    "team_name_problem",
    "unknown_key",
]

#: Control characters but tab and newline (NUL, escapes, C1 controls, lone carriage returns),
#: and the bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069):
#: an alert title holding U+202E would show the rest of a Slack line or a terminal row
#: reversed ("Trojan Source", CVE-2021-42574). The marks (U+200E, U+200F) stay: they only
#: nudge neutral characters, and right-to-left writing needs them.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
#: What Markdown (CommonMark and GitHub's) reads as syntax inside a line.
_INLINE = re.compile(r"([\\`*_\[\]<>#|~])")
#: A line that would start a heading, a quote, a list, a table row or a fence.
_LINE_START = re.compile(r"^(\s*)([#>|=\\]|[-+*](?=\s|$)|\d+[.)](?=\s|$)|`{3,}|~{3,})", re.M)
#: ``@name`` and ``#123``: GitHub notifies the one and cross-references the other.
_MENTION = re.compile(r"([@#])(?=[\w-])")


#: A lone surrogate (``"\\ud800"`` in JSON) encodes to no UTF-8, and PostgreSQL takes no NUL.
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """``text`` that every store can hold: lone surrogates as U+FFFD, NUL removed."""
    if text.isascii():  # the usual text (a flag CPython keeps): only a NUL to look for
        if "\x00" not in text:
            return text
    elif not _UNSTORABLE.search(text):
        return text
    return _UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", text)


def storable_data(value: object) -> object:
    """Parsed JSON with :func:`storable` applied to every string, keys included."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable(str(k)): storable_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable_data(v) for v in value]
    return value


def no_controls(text: str, replacement: str = "") -> str:
    """``text`` without control characters (tab and newline kept), or with each replaced.

    Bidirectional overrides, embeddings and isolates count as control characters here.
    """
    return _CONTROL.sub(replacement, text) if _CONTROL.search(text) else text


def markdown_inline(text: str) -> str:
    """One line of plain text for Markdown: on one line, every syntax character escaped."""
    one_line = " ".join(no_controls(text).split())
    return _INLINE.sub(_backslashed, one_line) if _INLINE.search(one_line) else one_line


def _backslashed(match: re.Match[str]) -> str:
    return "\\" + match.group(1)


def markdown_block(text: str) -> str:
    """Free text written by a person, kept as they wrote it, but unable to start a section.

    Emphasis and links stay; a line that would open a heading, a quote, a list, a table or a
    code fence is escaped, so the text cannot add a "Root cause" section or a reviewer.
    """
    lines = no_controls(text).replace("\r", "")
    return _LINE_START.sub(_escape_start, lines)


def _escape_start(match: re.Match[str]) -> str:
    indent, mark = match.group(1), match.group(2)
    if mark[0].isdigit():  # "1." opens a list; "1\." does not
        return f"{indent}{mark[:-1]}\\{mark[-1]}"
    return f"{indent}\\{mark}"


_ESCAPED_INLINE = re.compile(r"\\([\\`*_\[\]<>#|~])")
_ESCAPED_START = re.compile(r"^(\s*)(\d*)\\([#>|=.)\\]|[-+*](?=\s|$)|`{3,}|~{3,})", re.M)


def markdown_plain(text: str) -> str:
    """The plain text of a line :func:`markdown_inline` escaped (its backslashes removed)."""
    return _ESCAPED_INLINE.sub(r"\1", text) if "\\" in text else text


def markdown_unblock(text: str) -> str:
    """Free text as the person wrote it, from :func:`markdown_block`'s escaped form."""
    return _ESCAPED_START.sub(r"\1\2\3", text) if "\\" in text else text


def quiet_mentions(text: str) -> str:
    """``@someone`` and ``#12`` broken with a zero-width space: shown, never notifying."""
    return _MENTION.sub("\\1\u200b", no_controls(text))


def unknown_key(key: object, known: Iterable[str], what: str = "key") -> str:
    """The problem text for an unknown key, with the closest known one when there is one.

    ``unknown key, did you mean 'postmortem_reviewers'? (known: critical, ...)``: a typo is
    named with its fix, before the list of every key.
    """
    names = list(known)
    close = difflib.get_close_matches(str(key), names, n=1)
    hint = f", did you mean {close[0]!r}?" if close else ""
    return f"unknown {what}{hint} (known: {', '.join(names)})"


#: A team's name: a slug (letters, digits, ``_ . -``), safe in a command, a chat command and a
#: metric's label as it is.
TEAM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}")


def team_name_problem(value: object) -> str | None:
    """Why ``value`` is not a team's name, or None when it is one."""
    if isinstance(value, str) and TEAM_NAME.fullmatch(value):
        return None
    return f"must be a team's name (letters, digits, _ . -; like 'payments'), got {value!r}"
