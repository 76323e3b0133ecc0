"""What the contract suites share: sample histories, messages, and both drivers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from .._core import events as ev
from .._core.alerts import Alert
from .._core.incident import Incident, fold
from .._core.messages import Notification, OutboxMessage
from .._core.policy import Policy
from .._core.runbooks import Runbook
from .._core.severity import Severity
from .._drivers.flow import IncidentFlow
from .._responders.actions import Action
from .._review.document import PostMortemDocument, ReviewStatus
from ..ports import Notifier
from ._async import DRIVERS, LoopThread
from ._doubles import ManualClock, RecordingPublisher

T0 = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
_ALERT = Alert(
    source="datadog",
    name="CheckoutHighErrorRate",
    title="Checkout errors",
    severity=Severity.P1,
    labels={"service": "checkout"},
    raw={"id": 1, "nested": [1.5, None, "x"]},
)
_RUNBOOK = Runbook(
    name="checkout", url="https://rb.example/checkout", alert="Checkout*", labels={"env": "prod"}
)


def sample_history() -> list[ev.Event]:
    """A stream holding every event type at least once (a real flow produced it)."""
    from ..adapters.channels.notifiers import RecordingNotifier  # noqa: PLC0415
    from ..adapters.stores.memory import MemoryStore  # noqa: PLC0415 - keep the adapter out of import time

    class _FailOnce(RecordingNotifier):
        failed = False

        def send(self, message: Notification) -> str | None:
            if not self.failed:
                self.failed = True
                raise RuntimeError("receiver down")
            return super().send(message)

    class _OnABranch(RecordingPublisher):
        """Keeps it "on a branch" a reviewer may edit, and merges it."""

        review = "branch"

        def merge(self, document: PostMortemDocument) -> str:
            return f"memory://main/{document.path}"

        def review_status(self, document: PostMortemDocument) -> ReviewStatus:
            return ReviewStatus(source="git", text=self.documents.get(document.path))

    from ..adapters.trackers.memory import MemoryTracker  # noqa: PLC0415

    clock = ManualClock(T0)
    store = MemoryStore()
    publisher = _OnABranch()
    flow = IncidentFlow(
        Policy(tracker={"kind": "github", "repo": "acme/ops", "items": ["follow_up"]}),
        store=store,
        notifier=_FailOnce(),
        pager=RecordingNotifier(),
        publisher=publisher,
        clock=clock,
        tracker=MemoryTracker(),
    )
    inc = flow.trigger(_ALERT)
    clock.advance(60)
    flow.deliver_pending()
    clock.advance(timedelta(minutes=5))
    flow.escalate_due()  # nobody acknowledged: the secondary is paged
    flow.trigger(_ALERT)  # repeated
    flow.reclassify(inc.id, "P2", by="alice")
    flow.acknowledge(inc.id, by="alice")
    flow.start_runbook(inc.id, by="alice")
    flow.note(inc.id, "rolling back", by="alice")
    # A responder's note in PagerDuty is applied; a late one after close is ignored.
    note = Action(source="pagerduty", kind="note", incident=inc.id, by="PX1", text="db failover")
    flow.apply(attrs.evolve(note, delivery_id="pagerduty:d1"))
    flow.resolve(inc.id, by="alice", summary="rolled back")
    flow.reopen(inc.id, by="bob")
    flow.trigger(attrs.evolve(_ALERT, status="resolved"))
    flow.resolve(inc.id, by="bob")
    clock.advance(timedelta(days=8))
    flow.remind_due()  # the post-mortem is overdue: the thread is reminded
    flow.start_postmortem(
        inc.id,
        author="alice",
        impact="5% of checkouts failed",
        root_cause="a bad deploy",
        learnings=["alert on p95", "canary the deploy"],
    )
    flow.amend_postmortem(inc.id, by="alice", root_cause="a bad deploy of 4.2")
    flow.submit_postmortem(inc.id, by="alice")  # on its branch
    (path,) = publisher.documents
    closed = Action(
        source="github",
        kind="postmortem_closed",
        incident=inc.id,
        by="octocat",
        review_url=f"memory://{path}",  # the pull request the review recorded
    )
    flow.apply(closed)  # closed unmerged: submitted again
    flow.submit_postmortem(inc.id, by="alice")
    flow.approve_postmortem(inc.id, reviewer="bob")
    flow.request_postmortem_changes(inc.id, reviewer="bob", text="which deploy?")
    publisher.documents[path] = publisher.documents[path].replace("4.2", "4.2.1")
    flow.poll_reviews()  # a commit on the branch revised it
    flow.approve_postmortem(inc.id, reviewer="bob")
    flow.approve_postmortem(inc.id, reviewer="carol")  # merged at once: published
    flow.waive_action_item(inc.id, "AI-2", by="alice", reason="the canary exists already")
    flow.add_runbook(
        inc.id,
        Runbook(name="checkout", url="https://rb.example/checkout", alert="Checkout*"),
        by="alice",
    )
    flow.update_runbook(inc.id, "checkout", by="alice", note="added the p95 check")
    follow_up = flow.add_follow_up(inc.id, "page on p95", by="alice", owner="bob")  # exported
    flow.complete_action_item(inc.id, follow_up.action_items[-1].id, by="bob")
    flow.close(inc.id, by="alice")
    flow.apply(attrs.evolve(note, delivery_id="pagerduty:d2"))
    return flow.history(inc.id)


def storm_histories() -> list[list[ev.Event]]:
    """Streams of a storm (a real flow made them): every storm event type at least once.

    An alert silenced with the group it starts and another alert that joined it, opened at
    the silence's end with its page held, paged on its next firing; and a silenced alert that
    recovered during its silence (dismissed). Then an incident of a two-team policy
    handed from one team to the other (and paged there). Last, two P1s of a policy that
    gives them a channel of their own: one opened, one a chat that cannot open any.
    """
    from .._core.storms import GroupingRule, PageAfter  # noqa: PLC0415
    from ..adapters.channels.notifiers import RecordingNotifier  # noqa: PLC0415
    from ..adapters.stores.memory import MemoryStore  # noqa: PLC0415

    clock = ManualClock(T0)
    store = MemoryStore()
    rule = GroupingRule(name="outage", by=["service"], page_after=PageAfter(2, timedelta(hours=2)))
    flow = IncidentFlow(
        Policy(grouping=(rule,)),
        store=store,
        notifier=RecordingNotifier(),
        pager=RecordingNotifier(),
        clock=clock,
    )
    flow.silence({"service": "checkout"}, by="alice", why="upgrade", duration=timedelta(hours=1))
    inc = flow.trigger(_ALERT)
    flow.trigger(attrs.evolve(_ALERT, name="CheckoutLatency", dedup_key="checkout-latency"))
    lone = attrs.evolve(_ALERT, name="Disk", dedup_key="disk", labels={})
    flow.silence({"name": "Disk"}, by="alice", why="resize", duration=timedelta(hours=1))
    flow.trigger(lone)
    dismissed = flow.trigger(attrs.evolve(lone, status="resolved"))
    clock.advance(timedelta(hours=1))
    flow.escalate_due()  # the silence is over: it opens, its page held
    flow.trigger(_ALERT)  # the second firing: the page goes out
    return [
        flow.history(inc.id),
        flow.history(dismissed.id),
        _handover(),
        _lead(),
        *_channels(),
    ]


def _handover() -> list[ev.Event]:
    """An incident of team ``checkout`` reassigned to team ``payments``, which is paged."""
    from .._core.policy_values import EscalationLevel  # noqa: PLC0415
    from .._core.teams import Route, Team  # noqa: PLC0415
    from ..adapters.channels.notifiers import RecordingNotifier  # noqa: PLC0415
    from ..adapters.stores.memory import MemoryStore  # noqa: PLC0415

    policy = Policy(
        teams=(
            Team(name="checkout", escalation=[EscalationLevel(("alice",))], chat_channel="C-SHOP"),
            Team(name="payments", escalation=[EscalationLevel(("bob",))], chat_channel="C-PAY"),
        ),
        routes=(Route(team="checkout", match={"service": "checkout"}),),
        default_team="payments",
    )
    flow = IncidentFlow(
        policy,
        store=MemoryStore(),
        notifier=RecordingNotifier(),
        pager=RecordingNotifier(),
        clock=ManualClock(T0 + timedelta(days=1)),
    )
    inc = flow.trigger(attrs.evolve(_ALERT, name="CheckoutDown", dedup_key="checkout-down"))
    flow.reassign(inc.id, "payments", by="alice")
    return flow.history(inc.id)


def _lead() -> list[ev.Event]:
    """A P1 nobody leads: reminded, its commander rotation paged, then led and handed over."""
    from .._core.people import Person  # noqa: PLC0415
    from .._core.roles import Roles  # noqa: PLC0415
    from ..adapters.channels.notifiers import RecordingNotifier  # noqa: PLC0415
    from ..adapters.stores.memory import MemoryStore  # noqa: PLC0415

    policy = Policy(
        roles=Roles(commander_required=[Severity.P1], page=["ic-rotation"]),
        people=[Person(name="alice"), Person(name="bob")],
    )
    clock = ManualClock(T0 + timedelta(days=2))
    flow = IncidentFlow(
        policy,
        store=MemoryStore(),
        notifier=RecordingNotifier(),
        pager=RecordingNotifier(),
        clock=clock,
    )
    inc = flow.trigger(attrs.evolve(_ALERT, name="CheckoutLeaderless", dedup_key="leaderless"))
    for _ in range(2):
        clock.advance(timedelta(minutes=10))
        flow.remind_due()  # reminded in the chat, then the rotation paged
    flow.assign(inc.id, "commander", "alice", by="alice")
    flow.assign(inc.id, "commander", "bob", by="alice")  # handed over
    return flow.history(inc.id)


def _channels() -> list[list[ev.Event]]:
    """A P1 whose channel opens (and is archived on close), and one whose cannot."""
    from .._core.rooms import IncidentChannels  # noqa: PLC0415
    from ..adapters.channels.notifiers import LogNotifier, RecordingNotifier  # noqa: PLC0415
    from ..adapters.stores.memory import MemoryStore  # noqa: PLC0415

    policy = Policy(incident_channels=IncidentChannels(archive_on_close=True))
    histories = []
    notifiers: tuple[Notifier, ...] = (RecordingNotifier(), LogNotifier())
    for n, notifier in enumerate(notifiers):
        flow = IncidentFlow(
            policy,
            store=MemoryStore(),
            notifier=notifier,
            pager=RecordingNotifier(),
            clock=ManualClock(T0 + timedelta(days=2)),
        )
        inc = flow.trigger(attrs.evolve(_ALERT, dedup_key=f"checkout-room-{n}"))
        histories.append(flow.history(inc.id))
    return histories


def _renamed(events: list[ev.Event], incident_id: str) -> list[ev.Event]:
    first = events[0]
    assert isinstance(first, ev.IncidentTriggered)
    return [attrs.evolve(first, incident_id=incident_id), *events[1:]]


def _taking_over(storm: list[ev.Event], incident_id: str, after: timedelta) -> list[ev.Event]:
    """``storm``'s first three events (triggered, group started, silenced), another alert's."""
    first, started, silenced = storm[0], storm[1], storm[2]
    assert isinstance(first, ev.IncidentTriggered)
    assert isinstance(started, ev.GroupStarted)
    alert = attrs.evolve(first.alert, dedup_key=f"{incident_id}-key")
    return [
        attrs.evolve(
            first,
            incident_id=incident_id,
            alert=alert,
            dedup_key=alert.dedup_key,
            at=first.at + after,
        ),
        attrs.evolve(started, at=started.at + after, until=started.until + after),
        attrs.evolve(silenced, at=silenced.at + after),
    ]


def _message(incident_id: str, n: int, at: datetime = T0, **changes: Any) -> OutboxMessage:
    fields: dict[str, Any] = {
        "id": f"{incident_id}/{n}/chat/update",
        "incident_id": incident_id,
        "channel": "chat",
        "kind": "update",
        "created_at": at,
        "next_attempt_at": at,
        "notification": Notification(
            incident_id=incident_id,
            kind="update",
            text=f"update {n}",
            title="t",
            severity=Severity.P3,
            state="notified",
            idempotency_key=f"{incident_id}/{n}",
        ),
    }
    fields.update(changes)
    return OutboxMessage(**fields)


def _recorders() -> tuple[Any, Any]:
    """A recording chat and pager."""
    from ..adapters.channels.notifiers import RecordingNotifier  # noqa: PLC0415

    return RecordingNotifier(), RecordingNotifier()


def _opened(incident_id: str, key: str = "k", at: datetime = T0) -> tuple[list[ev.Event], Incident]:
    alert = Alert(source="test", name="n", title="t", dedup_key=key)
    events: list[ev.Event] = [
        ev.IncidentTriggered(
            version=1, at=at, incident_id=incident_id, alert=alert, title="t", dedup_key=key
        ),
        ev.IncidentClassified(
            version=2,
            at=at,
            severity=Severity.P3,
            source="default",
            critical=False,
            postmortem_required=False,
        ),
        ev.IncidentNotified(version=3, at=at, paged=False),
    ]
    return events, fold(None, events)


def _note(incident: Incident, text: str = "x") -> tuple[list[ev.Event], Incident]:
    events: list[ev.Event] = [
        ev.NoteAdded(version=incident.version + 1, at=incident.updated_at, by="a", text=text)
    ]
    return events, fold(incident, events)


class _Drivers:
    """Every test body runs under both drivers: ``driver`` is ``sync`` or ``async``."""

    @pytest.fixture(params=DRIVERS)
    def driver(self, request: pytest.FixtureRequest) -> str:
        """The driver the test runs under."""
        return str(request.param)

    @pytest.fixture
    def loop(self) -> Iterator[LoopThread]:
        """The event loop async ports and flows run on (debug mode); override to share one."""
        with LoopThread(debug=True) as loop:
            yield loop


async def _maybe(answer: object) -> object:
    """Await ``answer`` when it is awaitable (an inline sync store answers at once)."""
    import inspect  # noqa: PLC0415

    return await answer if inspect.isawaitable(answer) else answer
