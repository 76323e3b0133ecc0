"""Teams under random alerts, commands and reassignments: pages and chat follow the current team.

Over random two-team policies (who each level pages, each team's channel, which services
route where) and random sequences of alerts, acknowledgements, resolutions, reopenings,
escalations and reassignments, every page goes only to people of the escalation of the
incident's team at the time, every chat message to that team's channel (the one exception is
the "Reassigned to team ..." line in the old team's thread), and a reassignment of a
critical, unresolved incident always pages the new team's first level.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incident_flow import (
    Alert,
    EscalationLevel,
    IncidentFlow,
    InvalidTransition,
    MemoryStore,
    Notification,
    Policy,
    PolicyViolation,
    RecordingNotifier,
    Route,
    Team,
)
from incident_flow.testing import ManualClock

from .conftest import T0

SERVICES = ("shop", "pay", "search")
POOLS = {"alpha": ("alice", "amy", "ann"), "beta": ("bob", "bea", "ben")}


@st.composite
def team_policies(draw: st.DrawFn) -> Policy:
    """Two teams with their own people and channels; some services route to ``alpha``."""
    teams = []
    for name, pool in POOLS.items():
        levels = [
            EscalationLevel(tuple(draw(st.lists(st.sampled_from(pool), min_size=1, unique=True))))
            for _ in range(draw(st.integers(1, 3)))
        ]
        channel = draw(st.sampled_from((f"C0{name.upper()}", None)))
        teams.append(Team(name=name, escalation=levels, chat_channel=channel))
    services = draw(st.lists(st.sampled_from(SERVICES), min_size=1, unique=True))
    return Policy(
        teams=teams,
        routes=[Route(team="alpha", match={"service": services})],
        default_team=draw(st.sampled_from(tuple(POOLS))),
    )


OPS = st.one_of(
    st.tuples(
        st.just("trigger"),
        st.sampled_from(SERVICES),
        st.sampled_from(("P1", "P2", "P4")),
        st.sampled_from(("k1", "k2", "k3")),
    ),
    st.tuples(st.just("reassign"), st.integers(0, 5), st.sampled_from(("alpha", "beta", "gamma"))),
    st.tuples(st.sampled_from(("acknowledge", "resolve", "reopen")), st.integers(0, 5)),
    st.tuples(st.just("wait"), st.integers(1, 30)),
)


def _check(
    policy: Policy,
    team: str,
    pages: list[Notification],
    said: list[Notification],
    moved_from: str | None,
) -> None:
    people = {t for level in policy.for_team(team).escalation for t in level.targets}
    channel = policy.for_team(team).chat_channel
    for page in pages:
        assert set(page.to) <= people, (page.to, team)
    for message in said:
        if moved_from is not None and message.text.startswith("Reassigned to team"):
            assert message.channel == policy.for_team(moved_from).chat_channel
        else:
            assert message.channel == channel, (message.text, team)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy=team_policies(), ops=st.lists(OPS, max_size=14))
def test_pages_and_messages_follow_the_current_team(
    policy: Policy, ops: list[tuple[object, ...]]
) -> None:
    """Every page and chat message goes to the incident's current team; a handover pages."""
    chat, pager, clock = RecordingNotifier(), RecordingNotifier(), ManualClock(T0)
    flow = IncidentFlow(policy, store=MemoryStore(), notifier=chat, pager=pager, clock=clock)
    ids: list[str] = []
    for op in ops:
        seen_chat, seen_pages = len(chat.messages), len(pager.messages)
        moved_from = None
        touched: list[str] = []
        paged_team: str | None = None
        if op[0] == "trigger":
            _, service, severity, key = op
            alert = Alert(
                source="s", name=f"{service}-{key}", title=f"{service} down",
                severity=str(severity), labels={"service": str(service)}, dedup_key=str(key),
            )  # fmt: skip
            incident = flow.trigger(alert)
            if incident.id not in ids:
                ids.append(incident.id)
            touched = [incident.id]
        elif op[0] == "wait":
            clock.advance(timedelta(minutes=int(str(op[1]))))
            touched = [i.id for i in flow.escalate_due()]
        elif ids:
            incident_id = ids[int(str(op[1])) % len(ids)]
            before = flow.get(incident_id)
            touched = [incident_id]
            try:
                if op[0] == "reassign":
                    flow.reassign(incident_id, str(op[2]), by="carol")
                    moved_from = before.team
                    if before.critical and before.state in ("notified", "runbook"):
                        paged_team = str(op[2])
                else:
                    getattr(flow, str(op[0]))(incident_id, by="carol")
            except (InvalidTransition, PolicyViolation):
                pass
        new_chat, new_pages = chat.messages[seen_chat:], pager.messages[seen_pages:]
        for incident_id in {m.incident_id for m in (*new_chat, *new_pages)}:
            team = flow.get(incident_id).team
            assert team is not None
            _check(
                policy,
                team,
                [p for p in new_pages if p.incident_id == incident_id and p.kind == "page"],
                [m for m in new_chat if m.incident_id == incident_id],
                moved_from if incident_id in touched else None,
            )
        if paged_team is not None:
            first = set(policy.for_team(paged_team).escalation[0].targets)
            pages = [p for p in new_pages if p.kind == "page"]
            assert pages and set(pages[0].to) <= first and pages[0].to
