"""Hypothesis strategies for incident_flow values (alerts, runbooks, policies, events).

Requires ``hypothesis`` (the ``test`` extra).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from .._core.alerts import Alert, AlertStatus
from .._core.people import Person
from .._core.policy import Policy
from .._core.runbooks import Runbook
from .._core.severity import Severity
from .._responders.actions import ACTION_KINDS, ACTION_SOURCES, Action

__all__ = [
    "PEOPLE",
    "STAFF",
    "actions",
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

#: :data:`PEOPLE` with an identity at every vendor (``Policy(people=STAFF)``): alice is
#: ``U-alice`` in Slack, ``P-alice`` in PagerDuty, ``alice@example.com`` in Opsgenie and
#: ``alice-gh`` on GitHub.
STAFF = tuple(
    Person(
        name=name,
        slack=f"U-{name}",
        pagerduty=f"P-{name}",
        opsgenie=f"{name}@example.com",
        github=f"{name}-gh",
    )
    for name in PEOPLE
)
_IDENTITY = {
    "slack": "U-{}",
    "pagerduty": "P-{}",
    "opsgenie": "{}@example.com",
    "github": "{}-gh",
    "jira": "jira-{}",
}

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


@st.composite
def actions(
    draw: st.DrawFn,
    incident: str | st.SearchStrategy[str],
    *,
    deliveries: int = 6,
    at: st.SearchStrategy[datetime | None] | None = None,
) -> Action:
    """What a responder did in a vendor's tool, for ``incident``.

    The actor is one of :data:`STAFF` by their identity at the vendor, or a stranger
    (``U-zoe``) the policy does not know. Delivery ids come from a pool of ``deliveries``
    (so retries happen), or are None.
    """
    source = draw(st.sampled_from(ACTION_SOURCES))
    kind = draw(st.sampled_from(ACTION_KINDS))
    who = draw(st.sampled_from((*PEOPLE, "zoe")))
    delivery = draw(st.none() | st.integers(1, deliveries).map(lambda n: f"{source}:d{n}"))
    return Action(
        source=source,
        kind=kind,
        incident=incident if isinstance(incident, str) else draw(incident),
        by=_IDENTITY[source].format(who),
        at=draw(at if at is not None else st.none()),
        text=draw(st.just("") | texts()),
        severity=draw(severities()) if kind == "reclassify" else None,
        delivery_id=delivery,
        role=draw(st.sampled_from(("commander", "scribe", "pilot")))
        if kind == "assign_role"
        else None,
        assignee=draw(st.none() | st.sampled_from((*PEOPLE, "zoe")).map(_IDENTITY[source].format))
        if kind == "assign_role"
        else None,
    )
