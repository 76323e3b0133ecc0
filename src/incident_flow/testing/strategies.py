"""Hypothesis strategies for incident_flow values (alerts, runbooks, policies, events).

Requires ``hypothesis`` (the ``test`` extra).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from .._alerts import Alert, AlertStatus
from .._policy import Policy
from .._runbooks import Runbook
from .._severity import Severity

__all__ = [
    "PEOPLE",
    "alerts",
    "aware_datetimes",
    "people",
    "policies",
    "runbooks",
    "severities",
    "texts",
]

#: A small cast, so that the same person acts twice and reviewers collide with authors.
PEOPLE = ("alice", "bob", "carol", "dave")

_NAMES = ("CheckoutHighErrorRate", "DiskFull", "ApiLatencyHigh", "LoginFailures", "QueueBacklog")
_SOURCES = ("datadog", "checkly", "alertmanager", "grafana", "incidentio", "pagerduty")


def severities() -> st.SearchStrategy[Severity]:
    """Any severity."""
    return st.sampled_from(list(Severity))


def people() -> st.SearchStrategy[str]:
    """Someone from :data:`PEOPLE`."""
    return st.sampled_from(PEOPLE)


def texts() -> st.SearchStrategy[str]:
    """Short printable text, never blank."""
    return st.text(
        st.characters(codec="utf-8", categories=("L", "N", "P", "Zs")), min_size=1, max_size=40
    ).filter(lambda s: s.strip() != "")


def aware_datetimes() -> st.SearchStrategy[datetime]:
    """Timezone-aware UTC datetimes in a plausible range."""
    return st.datetimes(
        min_value=datetime(2020, 1, 1),  # noqa: DTZ001 - hypothesis wants naive bounds
        max_value=datetime(2035, 1, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    )


@st.composite
def alerts(
    draw: st.DrawFn,
    *,
    dedup_keys: st.SearchStrategy[str] | None = None,
    status: st.SearchStrategy[AlertStatus] | None = None,
) -> Alert:
    """Alerts from the usual sources; ``dedup_keys`` narrows keys so that repeats happen."""
    source = draw(st.sampled_from(_SOURCES))
    name = draw(st.sampled_from(_NAMES))
    return Alert(
        source=source,
        name=name,
        title=draw(texts()),
        severity=draw(st.none() | severities()),
        dedup_key=draw(dedup_keys) if dedup_keys is not None else f"{source}:{name}",
        status=draw(status) if status is not None else "firing",
        description=draw(st.text(max_size=60)),
        labels=draw(
            st.dictionaries(st.sampled_from(["service", "env", "team"]), texts(), max_size=3)
        ),
        url=draw(st.none() | st.just("https://monitor.example/alert")),
        started_at=draw(st.none() | aware_datetimes()),
        raw=draw(st.none() | st.fixed_dictionaries({"id": st.integers()})),
    )


def runbooks(names: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[Runbook]:
    """Runbooks matching one of the usual alert names (or none)."""
    return st.builds(
        Runbook,
        name=names if names is not None else st.from_regex(r"[a-z]{3,10}", fullmatch=True),
        url=st.just("https://runbooks.example/rb"),
        alert=st.none() | st.sampled_from([*_NAMES, "*Latency*", "Disk*"]),
        severity=st.none() | severities(),
    )


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    """Policies with varied critical sets, reviewer counts and catalogs."""
    critical = draw(st.sets(severities(), max_size=3))
    required = critical | draw(st.sets(severities(), max_size=2))
    catalog = draw(st.lists(runbooks(), max_size=3, unique_by=lambda r: r.name))
    return Policy(
        critical=critical,
        postmortem_required=required,
        postmortem_reviewers=draw(st.integers(0, 3)),
        default_severity=draw(severities()),
        ack_timeout={s: timedelta(minutes=5) for s in critical},
        runbooks=catalog,
    )
