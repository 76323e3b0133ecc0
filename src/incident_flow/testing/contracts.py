"""Contract suites: the behaviour every store, notifier and publisher must share.

Subclass one in your test module and provide its fixture; every test then runs against your
adapter::

    from incident_flow.testing.contracts import StoreContract

    class TestMyStore(StoreContract):
        @pytest.fixture
        def store(self, tmp_path):
            return MyStore(tmp_path / "events.db")

Requires ``pytest`` (the ``test`` extra).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

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
from .._runbooks.catalog import RunbookRevision
from ..adapters.stores.threaded import as_async_notifier, as_async_publisher, as_async_store
from ..exceptions import ConcurrencyError, IncidentFlowError
from ..ports import (
    AsyncEventStore,
    AsyncNotifier,
    AsyncPostMortemPublisher,
    EventStore,
    Notifier,
    PostMortemPublisher,
    ReviewedPublisher,
    StoreCounts,
)
from ._async import DRIVERS, Blocking, LoopThread, _loop, as_driven, flow_for
from ._doubles import ManualClock, RecordingPublisher

__all__ = [
    "NotifierContract",
    "PublisherContract",
    "ReviewedPublisherContract",
    "StoreContract",
    "sample_history",
    "storm_histories",
]

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

    clock = ManualClock(T0)
    store = MemoryStore()
    publisher = _OnABranch()
    flow = IncidentFlow(
        Policy(),
        store=store,
        notifier=_FailOnce(),
        pager=RecordingNotifier(),
        publisher=publisher,
        clock=clock,
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
    flow.close(inc.id, by="alice")
    flow.apply(attrs.evolve(note, delivery_id="pagerduty:d2"))
    return flow.history(inc.id)


def storm_histories() -> list[list[ev.Event]]:
    """Streams of a storm (a real flow made them): every storm event type at least once.

    An alert silenced with the group it starts and another alert that joined it, opened at
    the silence's end with its page held, paged on its next firing; and a silenced alert that
    recovered during its silence (dismissed).
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
    return [flow.history(inc.id), flow.history(dismissed.id)]


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


class StoreContract(_Drivers):
    """What every :class:`~incident_flow.ports.EventStore` must do. Provide a ``store`` fixture."""

    @pytest.fixture
    def store(self) -> EventStore:
        """The store under test, sync or async; override in the subclass."""
        raise NotImplementedError  # pragma: no cover

    @pytest.fixture
    def port(
        self, store: EventStore | AsyncEventStore, driver: str, request: pytest.FixtureRequest
    ) -> EventStore:
        """``store`` as the ``driver`` calls it, behind a sync face for the test bodies."""
        driven: EventStore = as_driven(store, driver, as_async_store, request)
        return driven

    def _catalog(self, port: EventStore) -> Any:
        if not hasattr(port, "runbook_revisions"):
            pytest.skip("this store keeps no runbook catalog (ports.RunbookLog is optional)")
        return port

    def test_runbook_revisions_are_kept_once_and_numbered(self, port: EventStore) -> None:
        """A revision's key is kept once; revisions come back numbered, oldest first."""
        catalog = self._catalog(port)
        first = RunbookRevision(
            key="catalog/1", runbook=_RUNBOOK, change="added", at=T0, by="alice", note="new"
        )
        second = attrs.evolve(first, key="catalog/2", change="updated", learning="alert on p95")
        catalog.record_runbook(first)
        catalog.record_runbook(first)  # written twice: kept once
        catalog.record_runbook(second)
        kept = catalog.runbook_revisions()
        assert [r.key for r in kept] == ["catalog/1", "catalog/2"]
        assert 0 < kept[0].number < kept[1].number  # increasing (a database may skip some)
        assert kept[1] == attrs.evolve(second, number=kept[1].number)
        assert catalog.runbook_revisions(kept[0].number) == [kept[1]]
        assert catalog.runbook_revisions(kept[1].number) == []

    def test_revisions_in_an_append_share_its_fate(self, port: EventStore) -> None:
        """Revisions written with an append are kept with it, and not when it is refused."""
        catalog = self._catalog(port)
        events, incident = _opened("inc-rb", "k-rb")
        revision = RunbookRevision(
            key="inc-rb/3", runbook=_RUNBOOK, change="added", at=T0, by="a", incident_id="inc-rb"
        )
        port.append("inc-rb", 0, events, snapshot=incident, runbooks=[revision])  # type: ignore[call-arg]
        stale = attrs.evolve(revision, key="inc-rb/9")
        with pytest.raises(ConcurrencyError):
            port.append("inc-rb", 0, events, snapshot=incident, runbooks=[stale])  # type: ignore[call-arg]
        assert [r.key for r in catalog.runbook_revisions()] == ["inc-rb/3"]

    def test_appended_events_load_back_equal_and_in_order(self, port: EventStore) -> None:
        """A stream holding every event type loads back equal, oldest first."""
        history = sample_history()
        incident = fold(None, history)
        port.append(incident.id, 0, history, snapshot=incident)
        loaded = port.load(incident.id)
        assert loaded == history
        kinds = {type(e) for e in history}
        for storm in storm_histories():
            folded = fold(None, storm)
            port.append(folded.id, 0, storm, snapshot=folded)
            assert port.load(folded.id) == storm
            kinds |= {type(e) for e in storm}
        assert kinds == set(ev.EVENT_TYPES.values())
        # Alert.raw is left out of equality: check the audit copy survives on its own.
        raws = [(e.alert.raw, e.alert.labels) for e in loaded if hasattr(e, "alert")]
        assert raws == [(e.alert.raw, e.alert.labels) for e in history if hasattr(e, "alert")]
        assert raws[0][0] == {"id": 1, "nested": [1.5, None, "x"]}

    def test_grouped_alerts_route_to_their_incident(self, port: EventStore) -> None:
        """A grouped alert's key and the group's key find the incident, as long as it takes them."""
        storm = storm_histories()[0][:4]  # triggered, group started, silenced, one joined
        incident = fold(None, storm)
        assert incident.group is not None
        port.append(incident.id, 0, storm, snapshot=incident)
        for key in (incident.dedup_key, "checkout-latency", incident.group):
            assert port.find_by_dedup_key(key) == incident.id
        # Another incident may not take a live group key...
        other = _taking_over(storm, "inc-other", timedelta(0))
        with pytest.raises(ConcurrencyError):
            port.append("inc-other", 0, other, snapshot=fold(None, other))
        assert port.find_by_dedup_key(incident.group) == incident.id
        # ...but takes it over once it expired; the old incident keeps its alerts' keys.
        later = _taking_over(storm, "inc-later", timedelta(minutes=11))
        port.append("inc-later", 0, later, snapshot=fold(None, later))
        assert port.find_by_dedup_key(incident.group) == "inc-later"
        assert port.find_by_dedup_key("checkout-latency") == incident.id
        # A dismissed (closed) incident routes nothing any more.
        closing = storm_histories()[1]
        assert port.find_by_dedup_key("disk") is None
        port.append(
            "x-disk",
            0,
            _renamed(closing[:2], "x-disk"),
            snapshot=fold(None, _renamed(closing[:2], "x-disk")),
        )
        assert port.find_by_dedup_key("disk") == "x-disk"

    def test_append_all_keeps_all_or_nothing(self, port: EventStore) -> None:
        """Several incidents in one append: all kept, or none when one of them is refused."""
        if not hasattr(port, "append_all"):
            pytest.skip("this store appends one incident at a time (ports.BatchAppend)")
        from ..ports import StreamAppend  # noqa: PLC0415

        batch: Any = port
        a_events, a = _opened("inc-a", "key-a")
        b_events, b = _opened("inc-b", "key-b")
        message = _message("inc-a", 1)
        batch.append_all(
            [
                StreamAppend(
                    incident_id="inc-a",
                    expected_version=0,
                    events=a_events,
                    snapshot=a,
                    outbox=[message],
                    claimed_until=T0 + timedelta(minutes=1),
                ),
                StreamAppend(incident_id="inc-b", expected_version=0, events=b_events, snapshot=b),
            ]
        )
        assert port.load("inc-a") == a_events and port.load("inc-b") == b_events
        assert port.find_by_dedup_key("key-b") == "inc-b"
        assert port.claim_due(T0, lease=timedelta(minutes=1)) == []  # claimed by the writer
        more_a, later_a = _note(a)
        c_events, c = _opened("inc-c", "key-c")
        stale = [
            StreamAppend(incident_id="inc-a", expected_version=3, events=more_a, snapshot=later_a),
            StreamAppend(incident_id="inc-c", expected_version=0, events=c_events, snapshot=c),
            StreamAppend(incident_id="inc-b", expected_version=0, events=b_events, snapshot=b),
        ]
        with pytest.raises(ConcurrencyError):
            batch.append_all(stale)  # inc-b exists: nothing of the batch is kept
        assert port.load("inc-a") == a_events and port.load("inc-c") == []
        assert port.find_by_dedup_key("key-c") is None
        twice = [
            StreamAppend(
                incident_id="inc-d",
                expected_version=0,
                events=_renamed(c_events, "inc-d"),
                snapshot=fold(None, _renamed(c_events, "inc-d")),
            ),
            StreamAppend(incident_id="inc-c", expected_version=0, events=c_events, snapshot=c),
        ]
        with pytest.raises(ConcurrencyError):
            batch.append_all(twice)  # two new incidents taking one dedup key
        assert port.load("inc-c") == [] and port.load("inc-d") == []
        batch.append_all([])  # nothing to do

    def test_a_light_append_is_kept_and_guarded_like_any_other(self, port: EventStore) -> None:
        """A light append (``durable=False``) is atomic and versioned like any other.

        It is read back at once and refused when stale: only its flush may be skipped.
        """
        if not hasattr(port, "append_all"):
            pytest.skip("this store appends one incident at a time (ports.BatchAppend)")
        from ..ports import StreamAppend  # noqa: PLC0415

        batch: Any = port
        events, incident = _opened("inc-l", "key-l")
        port.append("inc-l", 0, events, snapshot=incident)
        more, later = _note(incident)
        light = StreamAppend(
            incident_id="inc-l", expected_version=3, events=more, snapshot=later, durable=False
        )
        batch.append_all([light])
        assert port.load("inc-l") == [*events, *more]
        with pytest.raises(ConcurrencyError):
            batch.append_all([light])  # the same version again: stale
        assert port.load("inc-l") == [*events, *more]

    def test_shifts_are_kept_once_and_read_back_by_period(self, port: EventStore) -> None:
        """Shifts are kept once per (schedule, start), read by overlap, oldest first."""
        if not hasattr(port, "record_shifts"):
            pytest.skip("this store keeps no record of shifts (ports.ShiftLog is optional)")
        from ..schedules import Shift  # noqa: PLC0415

        log: Any = port
        hour = timedelta(hours=1)
        first = Shift("primary", T0, T0 + 8 * hour, ("alice",))
        gap = Shift("primary", T0 + 8 * hour, T0 + 9 * hour, ())
        second = Shift("primary", T0 + 9 * hour, T0 + 17 * hour, ("bob", "carol"))
        other = Shift("secondary", T0, T0 + 24 * hour, ("dan",))
        assert log.shifts_recorded_until("primary") is None
        log.record_shifts([first, gap])
        log.record_shifts([gap, second, other, attrs.evolve(first, people=("mallory",))])
        log.record_shifts([])
        assert log.recorded_shifts("primary", T0, T0 + 24 * hour) == [first, gap, second]
        assert log.recorded_shifts("primary", T0 + 8 * hour, T0 + 9 * hour) == [gap]
        assert log.recorded_shifts("primary", T0 + 30 * hour, T0 + 31 * hour) == []
        assert log.shifts_recorded_until("primary") == T0 + 17 * hour
        assert log.shifts_recorded_until("secondary") == T0 + 24 * hour

    def test_overrides_are_kept_and_replaced_by_id(self, port: EventStore) -> None:
        """Run-time overrides come back by start; a cut-short one replaces itself."""
        if not hasattr(port, "save_override"):
            pytest.skip("this store keeps no run-time overrides (ports.OverrideLog is optional)")
        from ..schedules import Override  # noqa: PLC0415

        log: Any = port
        hour = timedelta(hours=1)
        swap = Override(
            start=T0 + hour, end=T0 + 5 * hour, replace=["dan"], by="carol", why="swap",
            id="ovr-1", schedule="primary",
        )  # fmt: skip
        extra = Override(
            start=T0, end=T0 + 2 * hour, layer="weekly", add=["erin"], remove=["bob"],
            id="ovr-2", schedule="secondary",
        )  # fmt: skip
        log.save_override(swap)
        log.save_override(extra)
        assert log.overrides() == [extra, swap]
        cut = attrs.evolve(swap, end=T0 + 2 * hour, why="swap (cancelled by carol)")
        log.save_override(cut)
        assert log.overrides() == [extra, cut]
        assert log.overrides(active_after=T0 + 2 * hour) == []
        assert log.overrides(active_after=T0 + hour) == [extra, cut]

    def test_silences_are_kept_and_replaced_by_id(self, port: EventStore) -> None:
        """Silences come back oldest first; an ended one replaces itself; ``active_at`` filters."""
        if not hasattr(port, "save_silence"):
            pytest.skip("this store keeps no silences (ports.SilenceLog is optional)")
        from .._core.storms import Silence  # noqa: PLC0415

        first = Silence(
            id="sil-1",
            matchers={"service": "checkout"},
            starts_at=T0,
            ends_at=T0 + timedelta(hours=1),
            by="alice",
            why="upgrade",
            created_at=T0,
        )
        second = attrs.evolve(
            first,
            id="sil-2",
            matchers={"env": ["prod", "eu"], "team": "!db"},
            created_at=T0 + timedelta(seconds=1),
        )
        silences: Any = port
        silences.save_silence(second)
        silences.save_silence(first)
        assert silences.silences() == [first, second]
        ended = attrs.evolve(first, ended_at=T0 + timedelta(minutes=5), ended_by="bob")
        silences.save_silence(ended)
        assert silences.silences() == [ended, second]
        assert silences.silences(active_at=T0 + timedelta(minutes=10)) == [second]
        assert silences.silences(active_at=T0 + timedelta(hours=1)) == []

    def test_load_after_version_returns_only_later_events(self, port: EventStore) -> None:
        """load(id, after_version=n) returns the events above n, and none at the end."""
        events, incident = _opened("i1")
        port.append("i1", 0, events, snapshot=incident)
        assert [e.version for e in port.load("i1", 1)] == [2, 3]
        assert port.load("i1", 3) == []

    def test_unknown_incident_loads_nothing(self, port: EventStore) -> None:
        """An id never appended to has no events."""
        assert port.load("nope") == []

    def test_stale_append_raises_and_changes_nothing(self, port: EventStore) -> None:
        """An append with a stale expected version raises ConcurrencyError; nothing is stored."""
        events, incident = _opened("i1")
        port.append("i1", 0, events, snapshot=incident)
        more, after = _note(incident)
        port.append("i1", 3, more, snapshot=after)
        stale, stale_after = _note(incident, "stale")
        message = _message("i1", 9)
        with pytest.raises(ConcurrencyError):
            port.append("i1", 3, stale, snapshot=stale_after, outbox=[message])
        assert [e.version for e in port.load("i1")] == [1, 2, 3, 4]
        assert port.claim_due(T0 + timedelta(hours=1), lease=timedelta(minutes=1)) == []

    def test_second_new_stream_with_same_id_is_a_conflict(self, port: EventStore) -> None:
        """Two writers creating the same incident: the second gets ConcurrencyError."""
        events, incident = _opened("i1")
        port.append("i1", 0, events, snapshot=incident)
        with pytest.raises(ConcurrencyError):
            port.append("i1", 0, events, snapshot=incident)

    def test_versions_must_continue_the_stream(self, port: EventStore) -> None:
        """Events whose versions do not follow expected_version are refused, nothing stored."""
        events, incident = _opened("i1")
        with pytest.raises((ValueError, IncidentFlowError)):
            port.append("i1", 0, events[1:], snapshot=incident)
        with pytest.raises((ValueError, IncidentFlowError)):
            port.append("i1", 0, [events[0], events[2]], snapshot=incident)
        assert port.load("i1") == []
        port.append("i1", 0, events, snapshot=incident)
        more, after = _note(incident)
        with pytest.raises((ValueError, IncidentFlowError)):
            port.append("i1", 2, more, snapshot=after)
        assert [e.version for e in port.load("i1")] == [1, 2, 3]

    def test_dedup_key_finds_the_incident_accepting_alerts(self, port: EventStore) -> None:
        """The dedup index points at the incident that accepts the key, and only while it does."""
        events, incident = _opened("i1", key="k1")
        port.append("i1", 0, events, snapshot=incident)
        assert port.find_by_dedup_key("k1") == "i1"
        assert port.find_by_dedup_key("other") is None
        closing = [
            ev.IncidentResolved(version=4, at=T0, by="a"),
            ev.IncidentClosed(version=5, at=T0, by="a"),
        ]
        port.append("i1", 3, closing, snapshot=fold(incident, closing))
        assert port.find_by_dedup_key("k1") is None

    def test_the_key_is_released_when_the_postmortem_starts(self, port: EventStore) -> None:
        """Once the incident stops accepting alerts, the key is free for a new incident."""
        events, incident = _opened("i1", key="k1")
        port.append("i1", 0, events, snapshot=incident)
        onward = [
            ev.IncidentResolved(version=4, at=T0, by="a"),
            ev.PostMortemStarted(version=5, at=T0, by="a", author="a"),
        ]
        after = fold(incident, onward)
        assert after.state == "postmortem"
        port.append("i1", 3, onward, snapshot=after)
        assert port.find_by_dedup_key("k1") is None
        other_events, other = _opened("i2", key="k1")
        port.append("i2", 0, other_events, snapshot=other)
        assert port.find_by_dedup_key("k1") == "i2"

    def test_one_incident_per_dedup_key(self, port: EventStore) -> None:
        """A second incident accepting the same key loses the race; after close it may open."""
        events, incident = _opened("i1", key="k1")
        port.append("i1", 0, events, snapshot=incident)
        other_events, other = _opened("i2", key="k1")
        with pytest.raises(ConcurrencyError):
            port.append("i2", 0, other_events, snapshot=other)
        assert port.load("i2") == []
        closing = [
            ev.IncidentResolved(version=4, at=T0, by="a"),
            ev.IncidentClosed(version=5, at=T0, by="a"),
        ]
        port.append("i1", 3, closing, snapshot=fold(incident, closing))
        port.append("i2", 0, other_events, snapshot=other)
        assert port.find_by_dedup_key("k1") == "i2"

    def test_incident_ids_oldest_first_and_by_state(self, port: EventStore) -> None:
        """incident_ids lists in creation order and filters by the snapshot's state."""
        for n in range(3):
            events, incident = _opened(f"i{n}", key=f"k{n}")
            port.append(f"i{n}", 0, events, snapshot=incident)
        events = [ev.IncidentResolved(version=4, at=T0, by="a")]
        port.append("i1", 3, events, snapshot=fold(_opened("i1", key="k1")[1], events))
        assert port.incident_ids() == ["i0", "i1", "i2"]
        assert port.incident_ids("notified") == ["i0", "i2"]
        assert port.incident_ids("resolved") == ["i1"]
        assert port.incident_ids("closed") == []

    def _stats(self, port: EventStore) -> Any:
        if not hasattr(port, "counts"):
            pytest.skip("this store counts nothing itself (ports.StoreStats is optional)")
        return port

    def test_counts_agree_with_the_listing_and_the_outbox(self, port: EventStore) -> None:
        """counts(): incidents by state and severity as incident_ids says; the pending outbox."""
        stats = self._stats(port)
        stats.ping()
        assert stats.counts() == StoreCounts()
        minute = timedelta(minutes=1)
        first, second = _message("i0", 1), _message("i0", 2, at=T0 + minute)
        for n in range(3):
            events, incident = _opened(f"i{n}", key=f"k{n}")
            outbox = [first, second] if n == 0 else [_message(f"i{n}", 1, at=T0 + 2 * minute)]
            port.append(f"i{n}", 0, events, snapshot=incident, outbox=outbox)
        opened = _opened("i1", key="k1")[1]
        upgraded: list[ev.Event] = [
            ev.SeverityChanged(
                version=4, at=T0, by="a", old=Severity.P3, new=Severity.P1, critical=True,
                postmortem_required=True,
            ),
        ]  # fmt: skip
        port.append("i1", 3, upgraded, snapshot=fold(opened, upgraded))
        resolved: list[ev.Event] = [ev.IncidentResolved(version=4, at=T0, by="a")]
        port.append("i2", 3, resolved, snapshot=fold(_opened("i2", key="k2")[1], resolved))
        history = sample_history()
        closed = fold(None, history)  # at P2
        port.append(closed.id, 0, history, snapshot=closed)
        counts = stats.counts()
        assert counts.incidents == (
            ("notified", "P1", 1),
            ("notified", "P3", 1),
            ("resolved", "P3", 1),
        )
        assert counts.closed == 1  # by number only
        for state in ("triggered", "notified", "runbook", "resolved", "postmortem", "closed"):
            assert counts.count(state) == len(port.incident_ids(state)), state
        assert counts.count() == len(port.incident_ids()) == 4
        assert (counts.pending, counts.oldest_pending) == (4, T0)
        # The first one delivered, the second one failed once (kept where it was queued).
        done = attrs.evolve(first, attempts=1, delivered_at=T0)
        failed = attrs.evolve(second, attempts=1, last_error="x", next_attempt_at=T0 + minute)
        notes, noted = _note(fold(opened, upgraded))
        port.append("i1", 4, notes, snapshot=noted, outbox=[done, failed])
        assert (stats.counts().pending, stats.counts().oldest_pending) == (3, T0 + minute)
        if hasattr(port, "outbox_messages"):
            left = [m for m in port.outbox_messages() if m.pending]
            assert stats.counts().pending == len(left)
        due = port.claim_due(T0 + timedelta(days=1), lease=minute)
        assert len(due) == 3
        settled = [attrs.evolve(m, attempts=m.attempts + 1, delivered_at=T0) for m in due]
        more, last = _note(noted)
        port.append("i1", noted.version, more, snapshot=last, outbox=settled)
        assert stats.counts() == attrs.evolve(counts, pending=0, oldest_pending=None)
        stats.ping()

    def test_outbox_messages_are_claimed_when_due(self, port: EventStore) -> None:
        """A message is claimable once next_attempt_at has come, and only then."""
        events, incident = _opened("i1")
        later = _message("i1", 2, next_attempt_at=T0 + timedelta(minutes=5))
        port.append("i1", 0, events, snapshot=incident, outbox=[_message("i1", 1), later])
        lease = timedelta(seconds=30)
        assert [m.id for m in port.claim_due(T0, lease=lease)] == ["i1/1/chat/update"]
        assert port.claim_due(T0 + timedelta(seconds=10), lease=lease) == []
        due = port.claim_due(T0 + timedelta(minutes=5), lease=lease)
        # The first one's lease ran out meanwhile: it is due again, oldest first.
        assert [m.id for m in due] == ["i1/1/chat/update", "i1/2/chat/update"]
        assert due[1] == later

    def test_a_claim_holds_until_its_lease_expires(self, port: EventStore) -> None:
        """A claimed message is not handed out again until the lease runs out."""
        events, incident = _opened("i1")
        port.append("i1", 0, events, snapshot=incident, outbox=[_message("i1", 1)])
        lease = timedelta(seconds=30)
        assert len(port.claim_due(T0, lease=lease)) == 1
        assert port.claim_due(T0 + timedelta(seconds=29), lease=lease) == []
        assert len(port.claim_due(T0 + timedelta(seconds=31), lease=lease)) == 1

    def test_a_lapsed_claim_is_handed_out_as_reclaimed(self, port: EventStore) -> None:
        """A message whose sender's lease ran out unrecorded comes back flagged reclaimed."""
        events, incident = _opened("i1")
        port.append(
            "i1",
            0,
            events,
            snapshot=incident,
            outbox=[_message("i1", 1), _message("i1", 2)],
            claimed_until=T0 + timedelta(seconds=30),
        )
        assert port.claim_due(T0, lease=timedelta(seconds=30)) == []
        later = port.claim_due(T0 + timedelta(minutes=1), lease=timedelta(seconds=30))
        assert [(m.id, m.reclaimed) for m in later] == [
            ("i1/1/chat/update", True),
            ("i1/2/chat/update", True),
        ]
        fresh, _ = _opened("i2", key="k2")
        port.append("i2", 0, fresh, snapshot=fold(None, fresh), outbox=[_message("i2", 1)])
        (new,) = port.claim_due(T0, lease=timedelta(seconds=30), ids=["i2/1/chat/update"])
        assert not new.reclaimed

    def _renewing(self, port: EventStore) -> Any:
        if not getattr(port, "renews_claims", hasattr(port, "renew_claims")):
            pytest.skip("this store renews no claims (ports.ClaimRenewal is optional)")
        return port

    def test_a_renewed_claim_holds_until_its_renewal_runs_out(self, port: EventStore) -> None:
        """renew_claims moves a live sender's claim on; unrenewed, it lapses a hold later."""
        renewing = self._renewing(port)
        events, incident = _opened("i1")
        hold = timedelta(seconds=3)
        port.append(
            "i1", 0, events, snapshot=incident, outbox=[_message("i1", 1)], claimed_until=T0 + hold
        )
        renewing.renew_claims(["i1/1/chat/update"], until=T0 + timedelta(seconds=5))
        assert port.claim_due(T0 + timedelta(seconds=4), lease=hold) == []
        # Its sender died: nobody renews it, and it is taken over, flagged as maybe sent.
        later = port.claim_due(T0 + timedelta(seconds=5), lease=hold)
        assert [(m.id, m.reclaimed) for m in later] == [("i1/1/chat/update", True)]

    def test_a_renewal_never_shortens_frees_nor_takes_a_message(self, port: EventStore) -> None:
        """Only claimed, pending messages are renewed, and never to an earlier time."""
        renewing = self._renewing(port)
        events, incident = _opened("i1")
        retry = _message("i1", 2, attempts=1)  # a failed attempt's retry: not claimed
        port.append(
            "i1",
            0,
            events,
            snapshot=incident,
            outbox=[_message("i1", 1), retry],
            claimed_until=T0 + timedelta(seconds=30),
        )
        renewing.renew_claims(
            ["i1/1/chat/update", retry.id, "nobody/1/chat/update"], until=T0 + timedelta(seconds=3)
        )
        renewing.renew_claims([], until=T0 + timedelta(hours=1))
        # The retry stays free; the claim keeps its 30 s (not cut to 3).
        assert [m.id for m in port.claim_due(T0, lease=timedelta(days=1))] == [retry.id]
        assert port.claim_due(T0 + timedelta(seconds=29), lease=timedelta(seconds=3)) == []
        (claimed,) = port.claim_due(T0 + timedelta(seconds=31), lease=timedelta(seconds=3))
        done = ev.MessageDelivered(
            version=4, at=T0, message_id=claimed.id, channel="chat", kind="update", attempts=1
        )
        settled = attrs.evolve(claimed, attempts=1, delivered_at=T0)
        port.append("i1", 3, [done], snapshot=fold(incident, [done]), outbox=[settled])
        renewing.renew_claims([claimed.id], until=T0 + timedelta(days=2))
        # Delivered, it is not brought back by a renewal.
        assert [m.id for m in port.claim_due(T0 + timedelta(days=3), lease=timedelta(1))] == [
            retry.id
        ]

    def _killed_after_commit(
        self, driver: str, request: pytest.FixtureRequest, store: Any, clock: ManualClock
    ) -> tuple[Any, Any, Any]:
        """A renewing flow (a worker's) that commits a P1 and dies before it sends anything.

        Returns the flow, its chat and its pager.
        """
        chat, pager = _recorders()
        flow = flow_for(driver, request, store=store, notifier=chat, pager=pager, clock=clock)
        flow._hold = timedelta(seconds=3)  # what a ClaimKeeper sets while it runs
        flow._later = lambda steps: None  # the sends were to follow: the process is killed
        flow.trigger(_ALERT)
        assert (chat.messages, pager.messages) == ([], [])
        return flow, chat, pager

    def test_a_dead_senders_page_is_taken_over_in_seconds(
        self, store: EventStore | AsyncEventStore, driver: str, request: pytest.FixtureRequest
    ) -> None:
        """A renewing sender killed before its sends: its page goes once its hold lapses.

        The next process's delivery turn takes it over seconds later, not a 60 s lease later.
        """
        clock = ManualClock(T0)
        self._renewing(as_driven(store, driver, as_async_store, request))
        self._killed_after_commit(driver, request, store, clock)
        chat, pager = _recorders()
        restarted = flow_for(driver, request, store=store, notifier=chat, pager=pager, clock=clock)
        clock.advance(timedelta(seconds=2))  # still held: its sender may be alive
        assert restarted.deliver_pending() == 0
        clock.advance(timedelta(seconds=2))  # 4 s after the kill: the hold lapsed
        assert restarted.deliver_pending() == 2
        assert [(m.kind, m.title) for m in pager.messages] == [("page", _ALERT.title)]
        assert [m.kind for m in chat.messages] == ["notify"]
        assert restarted.deliver_pending() == 0
        (inc,) = restarted.incidents()
        assert restarted.get(inc.id).paged

    def test_a_live_senders_renewed_claims_are_not_taken_over(
        self, store: EventStore | AsyncEventStore, driver: str, request: pytest.FixtureRequest
    ) -> None:
        """While the sender renews its claims, another process's turn leaves its messages."""
        from .._drivers.worker import AsyncClaimKeeper, ClaimKeeper  # noqa: PLC0415

        clock = ManualClock(T0)
        self._renewing(as_driven(store, driver, as_async_store, request))
        sender, _, _ = self._killed_after_commit(driver, request, store, clock)
        target = getattr(sender, "target", sender)
        keeper: Any = (
            ClaimKeeper(target)
            if driver == "sync"
            else Blocking(AsyncClaimKeeper(target), _loop(request))
        )
        chat, pager = _recorders()
        other = flow_for(driver, request, store=store, notifier=chat, pager=pager, clock=clock)
        for _ in range(5):  # 10 s of renewals, one every 2 s (each for 3 s)
            clock.advance(timedelta(seconds=2))
            assert keeper.renew() == 2
            assert other.deliver_pending() == 0
        # The sender dies: its last renewal runs out, and the other process sends them.
        clock.advance(timedelta(seconds=3))
        assert other.deliver_pending() == 2
        assert (len(pager.messages), len(chat.messages)) == (1, 1)

    def test_without_renewals_a_claim_keeps_its_whole_lease(
        self, store: EventStore | AsyncEventStore, driver: str, request: pytest.FixtureRequest
    ) -> None:
        """A flow that runs no keeper claims for its lease, as before: no early takeover."""
        clock = ManualClock(T0)
        chat, pager = _recorders()
        flow = flow_for(driver, request, store=store, notifier=chat, pager=pager, clock=clock)
        flow._later = lambda steps: None
        flow.trigger(_ALERT)
        clock.advance(timedelta(seconds=30))
        assert flow.deliver_pending() == 0
        clock.advance(timedelta(seconds=31))
        assert flow.deliver_pending() == 2
        assert (len(pager.messages), len(chat.messages)) == (1, 1)

    def test_delivered_messages_are_never_claimed_again(self, port: EventStore) -> None:
        """Upserting a message with delivered_at settles it."""
        events, incident = _opened("i1")
        message = _message("i1", 1)
        port.append("i1", 0, events, snapshot=incident, outbox=[message])
        (claimed,) = port.claim_due(T0, lease=timedelta(seconds=30))
        done = ev.MessageDelivered(
            version=4, at=T0, message_id=message.id, channel="chat", kind="update", attempts=1
        )
        settled = attrs.evolve(claimed, attempts=1, delivered_at=T0)
        port.append("i1", 3, [done], snapshot=fold(incident, [done]), outbox=[settled])
        assert port.claim_due(T0 + timedelta(days=1), lease=timedelta(seconds=30)) == []

    def test_messages_can_be_inserted_already_claimed(self, port: EventStore) -> None:
        """append(claimed_until=...) leases the new messages to the writer; retries stay free."""
        events, incident = _opened("i1")
        retry = _message("i1", 2, attempts=1)
        port.append(
            "i1",
            0,
            events,
            snapshot=incident,
            outbox=[_message("i1", 1), retry],
            claimed_until=T0 + timedelta(seconds=30),
        )
        lease = timedelta(seconds=30)
        assert [m.id for m in port.claim_due(T0, lease=lease)] == [retry.id]
        assert port.claim_due(T0 + timedelta(seconds=29), lease=lease) == []
        later = port.claim_due(T0 + timedelta(seconds=31), lease=lease)
        assert [m.id for m in later] == ["i1/1/chat/update", retry.id]

    def test_a_late_failure_never_undelivers(self, port: EventStore) -> None:
        """A slow sender's failure, recorded after another delivered it, changes nothing."""
        events, incident = _opened("i1")
        message = _message("i1", 1)
        port.append("i1", 0, events, snapshot=incident, outbox=[message])
        delivered = attrs.evolve(message, attempts=1, delivered_at=T0)
        failed = attrs.evolve(
            message, attempts=1, last_error="timeout", next_attempt_at=T0 + timedelta(seconds=5)
        )
        more, after = _note(incident)
        port.append("i1", 3, more, snapshot=after, outbox=[delivered])
        later, last = _note(after, "late")
        port.append("i1", 4, later, snapshot=last, outbox=[failed])
        assert port.claim_due(T0 + timedelta(days=1), lease=timedelta(seconds=30)) == []

    def test_claim_honours_ids_and_limit(self, port: EventStore) -> None:
        """claim_due(ids=...) claims only those; limit caps the batch, oldest first."""
        events, incident = _opened("i1")
        messages = [_message("i1", n) for n in range(5)]
        port.append("i1", 0, events, snapshot=incident, outbox=messages)
        lease = timedelta(seconds=30)
        picked = port.claim_due(T0, lease=lease, ids=[messages[3].id])
        assert [m.id for m in picked] == [messages[3].id]
        assert [m.id for m in port.claim_due(T0, lease=lease, limit=2)] == [
            messages[0].id,
            messages[1].id,
        ]

    def test_escalation_timers_are_indexed(self, port: EventStore) -> None:
        """due_incidents lists incidents whose timer ran out, most overdue first, until stopped."""
        for n, minutes in ((1, 10), (2, 5), (3, 60)):
            alert = Alert(source="test", name="n", title="t", dedup_key=f"k{n}")
            events: list[ev.Event] = [
                ev.IncidentTriggered(
                    version=1, at=T0, incident_id=f"i{n}", alert=alert, title="t", dedup_key=f"k{n}"
                ),
                ev.IncidentClassified(
                    version=2,
                    at=T0,
                    severity=Severity.P1,
                    source="alert",
                    critical=True,
                    postmortem_required=True,
                ),
                ev.IncidentNotified(
                    version=3, at=T0, paged=True, escalate_at=T0 + timedelta(minutes=minutes)
                ),
            ]
            port.append(f"i{n}", 0, events, snapshot=fold(None, events))
        assert port.due_incidents(T0) == []
        assert port.due_incidents(T0 + timedelta(minutes=10)) == ["i2", "i1"]
        assert port.due_incidents(T0 + timedelta(hours=2), limit=1) == ["i2"]
        incident = fold(None, port.load("i2"))
        ack = [ev.IncidentAcknowledged(version=4, at=T0, by="alice")]
        port.append("i2", 3, ack, snapshot=fold(incident, ack))
        assert port.due_incidents(T0 + timedelta(hours=2)) == ["i1", "i3"]

    def test_racing_claims_never_share_a_message(self, port: EventStore) -> None:
        """Senders claiming at once get disjoint messages that together cover all due ones."""
        events, incident = _opened("i1")
        messages = [_message("i1", n) for n in range(40)]
        port.append("i1", 0, events, snapshot=incident, outbox=messages)
        claimed: list[str] = []
        barrier = threading.Barrier(4)

        def claim() -> None:
            barrier.wait()
            for _ in range(20):
                batch = port.claim_due(T0, lease=timedelta(minutes=1), limit=3)
                claimed.extend(m.id for m in batch)

        threads = [threading.Thread(target=claim) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(claimed) == sorted(m.id for m in messages)

    def test_racing_writers_one_wins(self, port: EventStore) -> None:
        """Of several threads appending at the same version, exactly one succeeds."""
        events, incident = _opened("i1")
        port.append("i1", 0, events, snapshot=incident)
        results: list[str] = []
        barrier = threading.Barrier(4)

        def write(n: int) -> None:
            more, after = _note(incident, f"writer {n}")
            barrier.wait()
            try:
                port.append("i1", 3, more, snapshot=after)
                results.append("ok")
            except ConcurrencyError:
                results.append("conflict")

        threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == ["conflict", "conflict", "conflict", "ok"]
        assert [e.version for e in port.load("i1")] == [1, 2, 3, 4]

    def test_a_flow_over_this_store_replays_to_the_live_incident(
        self,
        store: EventStore | AsyncEventStore,
        port: EventStore,
        driver: str,
        request: pytest.FixtureRequest,
    ) -> None:
        """A whole P1 lifecycle through the flow: a fresh flow reads back the same Incident."""
        clock = ManualClock(T0)
        flow = flow_for(driver, request, store=store, publisher=RecordingPublisher(), clock=clock)
        inc = flow.trigger(_ALERT)
        flow.acknowledge(inc.id, by="alice")
        flow.resolve(inc.id, by="alice")
        live = flow.get(inc.id)
        reader = flow_for(driver, request, store=store, clock=clock)
        assert reader.get(inc.id) == live
        assert fold(None, port.load(inc.id)) == live


class NotifierContract(_Drivers):
    """What every :class:`~incident_flow.ports.Notifier` must do.

    Provide ``notifier`` and ``received``: a callable returning what the receiver has seen, in
    order, as ``(incident_id, kind)`` pairs (read from your local test server, your log
    capture...). Set ``kinds`` to the kinds the notifier delivers: a pager takes ``page``,
    ``ack`` and ``resolve`` and must accept the chat kinds without sending anything.
    """

    kinds: ClassVar[tuple[str, ...]] = ("notify", "update", "page", "ack", "resolve")
    ALL_KINDS: ClassVar[tuple[str, ...]] = ("notify", "update", "page", "ack", "resolve")

    @pytest.fixture
    def notifier(self) -> Notifier:
        """The notifier under test, sync or async; override in the subclass."""
        raise NotImplementedError  # pragma: no cover

    @pytest.fixture
    def port(
        self, notifier: Notifier | AsyncNotifier, driver: str, request: pytest.FixtureRequest
    ) -> Notifier:
        """``notifier`` as the ``driver`` calls it, behind a sync face for the test bodies."""
        driven: Notifier = as_driven(notifier, driver, as_async_notifier, request)
        return driven

    @pytest.fixture
    def received(self) -> Callable[[], list[tuple[str, str]]]:
        """What the receiver saw, as (incident_id, kind); override in the subclass."""
        raise NotImplementedError  # pragma: no cover

    @staticmethod
    def message(kind: str, n: int = 1, incident_id: str = "inc-contract") -> Notification:
        """A notification of ``kind`` for the tests."""
        return Notification(
            incident_id=incident_id,
            kind=kind,
            text=f"{kind} #{n}: checkout errors",
            title="Checkout errors",
            severity=Severity.P1,
            state="notified",
            idempotency_key=f"{incident_id}/{n}/{kind}",
            by="alice",
            url="https://monitor.example/a",
            runbook_url="https://rb.example/r",
        )

    def test_every_kind_it_takes_is_delivered(
        self, port: Notifier, received: Callable[[], list[tuple[str, str]]]
    ) -> None:
        """Each kind it takes reaches the receiver, in order; the others are accepted quietly."""
        for n, kind in enumerate(self.ALL_KINDS):
            receipt = port.send(self.message(kind, n))
            assert receipt is None or isinstance(receipt, str)
        assert received() == [("inc-contract", kind) for kind in self.kinds]

    def test_a_resend_with_the_same_key_does_not_fail(
        self, port: Notifier, received: Callable[[], list[tuple[str, str]]]
    ) -> None:
        """Re-sending after a crash (same idempotency key) succeeds and reaches the receiver."""
        kind = self.kinds[0]
        port.send(self.message(kind))
        port.send(self.message(kind))
        assert set(received()) == {("inc-contract", kind)}

    def test_satisfies_the_port(self, notifier: Notifier | AsyncNotifier) -> None:
        """It is a Notifier (or AsyncNotifier) structurally; its repr is printable."""
        assert isinstance(notifier, Notifier | AsyncNotifier)
        assert repr(notifier)

    def test_a_flow_delivers_through_it(
        self,
        notifier: Notifier | AsyncNotifier,
        received: Callable[[], list[tuple[str, str]]],
        driver: str,
        request: pytest.FixtureRequest,
    ) -> None:
        """Used as chat and pager, a P1 reaches it as one notify and one page (what it takes)."""
        flow = flow_for(
            driver,
            request,
            notifier=notifier,
            pager=notifier,
            publisher=RecordingPublisher(),
            clock=ManualClock(T0),
        )
        incident = flow.trigger(_ALERT)
        kinds = sorted(kind for seen, kind in received() if seen == incident.id)
        assert kinds == sorted(k for k in ("notify", "page") if k in self.kinds)


class PublisherContract(_Drivers):
    """What every :class:`~incident_flow.ports.PostMortemPublisher` must do.

    Provide ``publisher`` and ``read``: a callable returning the text saved at a location.
    """

    @pytest.fixture
    def publisher(self) -> PostMortemPublisher:
        """The publisher under test, sync or async; override in the subclass."""
        raise NotImplementedError  # pragma: no cover

    @pytest.fixture
    def port(
        self,
        publisher: PostMortemPublisher | AsyncPostMortemPublisher,
        driver: str,
        request: pytest.FixtureRequest,
    ) -> PostMortemPublisher:
        """``publisher`` as the ``driver`` calls it, behind a sync face for the test bodies."""
        driven: PostMortemPublisher = as_driven(publisher, driver, as_async_publisher, request)
        return driven

    @pytest.fixture
    def read(self) -> Callable[[str], str]:
        """Reads what the publisher saved at a location; override in the subclass."""
        raise NotImplementedError  # pragma: no cover

    @pytest.fixture
    def document(self) -> PostMortemDocument:
        """A published post-mortem of a real P1 lifecycle."""
        history = sample_history()
        return PostMortemDocument(fold(None, history), history, "postmortems")

    def test_publish_saves_the_markdown(
        self,
        port: PostMortemPublisher,
        read: Callable[[str], str],
        document: PostMortemDocument,
    ) -> None:
        """The saved text is the rendered post-mortem, with title, reviewers and actions."""
        location = port.publish(document)
        assert isinstance(location, str)
        assert location
        text = read(location)
        assert text == document.render_markdown()
        assert "# Post-mortem: Checkout errors" in text
        assert "- bob" in text and "- carol" in text

    def test_publishing_again_updates_rather_than_duplicates(
        self,
        port: PostMortemPublisher,
        read: Callable[[str], str],
        document: PostMortemDocument,
    ) -> None:
        """A second publish of the same incident returns the same location."""
        first = port.publish(document)
        second = port.publish(document)
        assert first == second
        assert read(second) == document.render_markdown()


class ReviewedPublisherContract(PublisherContract):
    """What a :class:`~incident_flow.ports.ReviewedPublisher` must do besides publishing.

    Provide ``publisher``, ``read`` and ``read_merged`` (the text at a location ``merge``
    returned; ``read`` by default).
    """

    @pytest.fixture
    def read_merged(self, read: Callable[[str], str]) -> Callable[[str], str]:
        """Reads the post-mortem where ``merge`` put it; override when it differs."""
        return read

    def test_it_says_where_it_is_reviewed(self, port: ReviewedPublisher) -> None:
        """``review`` is ``pull_request`` or ``branch``."""
        assert port.review in ("pull_request", "branch")

    def test_submitted_it_is_under_review_with_its_text(
        self, port: ReviewedPublisher, document: PostMortemDocument
    ) -> None:
        """After ``publish``: not merged, not closed, the branch holds the rendered text."""
        port.publish(document)
        status = port.review_status(document)
        assert isinstance(status, ReviewStatus)
        assert not status.merged and not status.closed and status.location is None
        assert status.text == document.render_markdown()

    def test_merge_puts_it_on_the_base_branch_once(
        self,
        port: ReviewedPublisher,
        read_merged: Callable[[str], str],
        document: PostMortemDocument,
    ) -> None:
        """``merge`` returns where it is now; merging a merged one returns the same place."""
        port.publish(document)
        location = port.merge(document)
        assert read_merged(location) == document.render_markdown()
        status = port.review_status(document)
        assert status.merged and not status.closed and status.location == location
        assert port.merge(document) == location
