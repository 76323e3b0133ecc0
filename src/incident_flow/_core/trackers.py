"""Follow-ups in the team's tracker, as values: where they go, what is sent, what comes back.

Pure: the policy's ``[tracker]`` table (:class:`TrackerPolicy`), the follow-up a tracker is
asked to open (:class:`FollowUp`) and the issue it answers with (:class:`TrackerIssue`), and
the markers that name an item in a tracker (a hidden comment in a GitHub issue's body, labels
on a Jira issue). The adapters are in ``incident_flow.adapters.trackers``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import attrs

from .severity import Severity
from .text import unknown_key

__all__ = [
    "EXPORTABLE_KINDS",
    "TRACKER_KINDS",
    "AsyncTracker",
    "FollowUp",
    "Tracker",
    "TrackerIssue",
    "TrackerPolicy",
    "find_marker",
    "item_label",
    "marker",
    "read_tracker",
]

#: The trackers follow-ups can go to.
TRACKER_KINDS = ("github", "jira")
#: The action item kinds that can be exported (all of them by default).
EXPORTABLE_KINDS = ("follow_up", "update_runbook", "add_runbook")
#: The label every exported issue carries (GitHub and Jira).
LABEL = "incident-flow"
_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_PROJECT = re.compile(r"^[A-Z][A-Z0-9_]{0,49}$")
_MARKER = re.compile(r"<!--\s*incident_flow:item=([^\s>/]{1,128})/([^\s>/]{1,64})\s*-->")
_LABEL_CHARS = re.compile(r"[^A-Za-z0-9_.-]")


def _kinds(value: Iterable[str]) -> tuple[str, ...]:
    kinds = tuple(value)
    for kind in kinds:
        if kind not in EXPORTABLE_KINDS:
            msg = f"tracker items: {kind!r} is not an item kind ({', '.join(EXPORTABLE_KINDS)})"
            raise ValueError(msg)
    return kinds


def _labels(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _where(instance: TrackerPolicy, attribute: Any, value: Any) -> None:
    pattern, what = (_REPO, "owner/name") if instance.kind == "github" else (_PROJECT, "OPS")
    if not isinstance(value, str) or not pattern.match(value):
        msg = f"a {instance.kind} tracker needs {what}, got {value!r}"
        raise ValueError(msg)


def _kind(instance: Any, attribute: Any, value: Any) -> None:
    if value not in TRACKER_KINDS:
        msg = f"tracker kind must be one of {', '.join(TRACKER_KINDS)}, got {value!r}"
        raise ValueError(msg)


@attrs.frozen(kw_only=True)
class TrackerPolicy:
    """Whether and where action items are opened as issues (the policy's ``[tracker]``).

    Attributes:
        kind: ``github`` (GitHub Issues) or ``jira`` (Jira Cloud).
        where: the GitHub repository (``owner/name``) or the Jira project key (``OPS``).
        items: which item kinds are exported (default all: ``follow_up``, ``update_runbook``,
            ``add_runbook``).
        labels: more labels put on every issue (``incident-flow`` always is).
        issue_type: the Jira issue type of new issues (default ``Task``).
    """

    kind: str = attrs.field(validator=_kind)
    where: str = attrs.field(validator=_where)
    items: tuple[str, ...] = attrs.field(default=EXPORTABLE_KINDS, converter=_kinds)
    labels: tuple[str, ...] = attrs.field(default=(), converter=_labels)
    issue_type: str = "Task"

    def exports(self, kind: str) -> bool:
        """Whether items of ``kind`` are opened in the tracker."""
        return kind in self.items


@attrs.frozen(kw_only=True)
class FollowUp:
    """What a tracker is asked to open: one action item of one incident.

    Attributes:
        incident_id, item_id: whose item it is (the tracker carries both: see :func:`marker`).
        kind: the item's kind; title: its description (outside text: escaped by the adapter).
        owner: who is to do it, if named.
        where: the repository or project (from the policy).
        incident_title, severity, state: the incident as it is when sent.
        link: where the incident is read (the alert's link), if known.
        labels: the policy's labels (``incident-flow`` is added by the adapter).
        issue_type: the Jira issue type.
        resent: an earlier attempt may have created it already: look before creating.
        since: when the export was decided (no earlier issue can be it).
    """

    incident_id: str
    item_id: str
    kind: str
    title: str
    where: str
    incident_title: str
    severity: Severity
    state: str
    owner: str | None = None
    link: str | None = None
    labels: tuple[str, ...] = ()
    issue_type: str = "Task"
    resent: bool = False
    since: datetime | None = None


@attrs.frozen(kw_only=True)
class TrackerIssue:
    """An issue in a tracker: its ``key`` (``acme/ops#12``, ``OPS-7``), ``url`` and state.

    ``closed`` once it is closed (GitHub) or in a done status (Jira); ``closed_by`` is the
    tracker's identity of who closed it, when it says.
    """

    key: str
    url: str
    closed: bool = False
    closed_by: str | None = None


def tracker_value(value: TrackerPolicy | Mapping[str, Any] | None) -> TrackerPolicy | None:
    """``Policy.tracker`` from a :class:`TrackerPolicy`, a table like the file's, or None."""
    if value is None or isinstance(value, TrackerPolicy):
        return value
    problems: list[str] = []
    found = read_tracker("tracker", value, lambda path, text: problems.append(f"{path}: {text}"))
    if problems:
        raise ValueError("; ".join(problems))
    return found  # type: ignore[no-any-return]  # read_tracker gives a TrackerPolicy here


def marker(incident_id: str, item_id: str) -> str:
    """The hidden comment in an exported issue's body that names its item (GitHub)."""
    return f"<!-- incident_flow:item={incident_id}/{item_id} -->"


def find_marker(text: str) -> tuple[str, str] | None:
    """The (incident id, item id) a body's marker names, or None."""
    found = _MARKER.search(text or "")
    return (found.group(1), found.group(2)) if found else None


def _label_part(text: str) -> str:
    return _LABEL_CHARS.sub("-", text)


def incident_label(incident_id: str) -> str:
    """The label naming the incident an exported issue belongs to (Jira)."""
    return f"{LABEL}-{_label_part(incident_id)}"


def item_label(incident_id: str, item_id: str) -> str:
    """The label naming one item (Jira): searched for before an export is created again."""
    return f"{incident_label(incident_id)}--{_label_part(item_id)}"


def incident_from_labels(labels: Iterable[str]) -> str | None:
    """The incident an issue's labels name (its ``incident-flow-<id>`` label), or None."""
    named = [
        label.removeprefix(f"{LABEL}-")
        for label in labels
        if isinstance(label, str) and label.startswith(f"{LABEL}-") and "--" not in label
    ]
    return named[0] if len(named) == 1 and named[0] else None


_KEYS = ("kind", "repo", "project", "items", "labels", "issue_type")


def read_tracker(path: str, value: object, problem: Callable[[str, str], None]) -> Any:
    """The policy's ``[tracker]`` table as a :class:`TrackerPolicy`, or None (problems said)."""
    if not isinstance(value, Mapping):
        problem(path, f"must be a table, got {value!r}")
        return None
    for key in value:
        if key not in _KEYS:
            problem(f"{path}.{key}", unknown_key(key, _KEYS))
    kind = value.get("kind")
    where_key = "repo" if kind == "github" else "project"
    other = "project" if kind == "github" else "repo"
    if kind in TRACKER_KINDS and other in value:
        problem(f"{path}.{other}", f"a {kind} tracker takes {where_key}, not {other}")
    try:
        return TrackerPolicy(
            kind=str(kind) if kind is not None else "",
            where=str(value.get(where_key) or ""),
            items=_list(value.get("items", EXPORTABLE_KINDS)),
            labels=_list(value.get("labels", ())),
            issue_type=str(value.get("issue_type", "Task")),
        )
    except (TypeError, ValueError) as exc:
        problem(path, str(exc))
        return None


def _list(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        msg = f"must be a list of strings, got {value!r}"
        raise TypeError(msg)
    if not all(isinstance(v, str) and v.strip() for v in value):
        msg = f"must be a list of non-blank strings, got {value!r}"
        raise TypeError(msg)
    return tuple(value)


# The ports (re-exported by incident_flow.ports, where the other ports are).


@runtime_checkable
class Tracker(Protocol):
    """The team's issue tracker, where action items are followed up (optional).

    ``IncidentFlow(tracker=...)``: with one, and a policy ``[tracker]`` that exports an
    item's kind, the item is opened there, settling it here closes it there, and closing it
    there settles it here (a webhook, or ``poll_follow_ups``). Without one, items stay in the
    store. The core relies on: ``open`` creates one issue per item even when called again for
    it (``follow_up.resent``: look for it first, by the item's marker); ``close`` of a closed
    issue is not an error; ``status`` reads the issue as it is now. Failures raise
    :class:`~incident_flow.DeliveryError` (retried by the outbox).
    """

    #: ``github`` or ``jira``: it must be the policy's ``[tracker] kind``.
    kind: str

    def open(self, follow_up: FollowUp) -> TrackerIssue:
        """Open the item's issue (or find the one an earlier attempt opened); return it."""
        ...

    def close(self, issue: TrackerIssue, comment: str) -> TrackerIssue:
        """Say ``comment`` on the issue and close it (done); a closed one is left as it is."""
        ...

    def status(self, issue: TrackerIssue) -> TrackerIssue:
        """The issue as it is now (``closed``, ``closed_by``)."""
        ...


@runtime_checkable
class AsyncTracker(Protocol):
    """:class:`Tracker` for :class:`~incident_flow.AsyncIncidentFlow`: awaitable methods."""

    kind: str

    async def open(self, follow_up: FollowUp) -> TrackerIssue:
        """See :meth:`Tracker.open`."""
        ...

    async def close(self, issue: TrackerIssue, comment: str) -> TrackerIssue:
        """See :meth:`Tracker.close`."""
        ...

    async def status(self, issue: TrackerIssue) -> TrackerIssue:
        """See :meth:`Tracker.status`."""
        ...
