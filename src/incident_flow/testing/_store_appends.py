"""Appends and reads: the stream's versions, dedup keys, groups, catalogs, races.

Part of :class:`incident_flow.testing.contracts.StoreContract`; run through it.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import attrs
import pytest

from .._core import events as ev
from .._core.incident import fold
from .._runbooks.catalog import RunbookRevision
from ..adapters.stores.threaded import as_async_store
from ..exceptions import ConcurrencyError, IncidentFlowError
from ..ports import (
    AsyncEventStore,
    EventStore,
)
from ._async import _loop, as_driven, is_async_port
from ._contract_data import (
    _RUNBOOK,
    T0,
    _Drivers,
    _maybe,
    _message,
    _note,
    _opened,
    _renamed,
    _taking_over,
    sample_history,
    storm_histories,
)


class StoreAppendContract(_Drivers):
    """Appends and reads: the stream's versions, dedup keys, groups, catalogs, races."""

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

    def test_awkward_text_in_events_and_messages_comes_back_as_written(
        self, port: EventStore
    ) -> None:
        """Quotes, backslashes, escapes, control characters and emoji survive the store."""
        events, incident = _opened("i1")
        awkward = 'a "quoted" \\ back\\slash, \\u0000 and \x00 \n\t \u2028 \U0001f525 é {"x": [1]}'
        more, after = _note(incident, awkward)
        message = attrs.evolve(_message("i1", 1), last_error=awkward)
        port.append("i1", 0, events, snapshot=incident)
        port.append("i1", 3, more, snapshot=after, outbox=[message])
        assert port.load("i1", 3) == more
        assert port.claim_due(T0, lease=timedelta(seconds=30)) == [message]

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

    def test_appends_arriving_together_each_fail_alone(
        self, store: EventStore | AsyncEventStore, driver: str, request: pytest.FixtureRequest
    ) -> None:
        """Appends of concurrent callers: the good ones kept, a stale or bad one refused alone.

        Under ``async`` they are awaited together (a store with group commit shares one
        transaction among them); under ``sync``, a store with ``append_each``
        (``ports.GroupAppend``) is handed them as one group commit.
        """
        import asyncio  # noqa: PLC0415

        from ..ports import StreamAppend  # noqa: PLC0415

        events, incident = _opened("inc-s", "key-s")
        port: Any = as_driven(store, "sync", as_async_store, request)
        port.append("inc-s", 0, events, snapshot=incident)
        more, later = _note(incident)
        port.append("inc-s", 3, more, snapshot=later)  # now at 4: a writer of 3 is stale
        groups: list[list[StreamAppend]] = []
        for n in range(4):
            new_events, new = _opened(f"inc-{n}", f"key-{n}")
            groups.append(
                [StreamAppend(incident_id=f"inc-{n}", expected_version=0, events=new_events,
                              snapshot=new)]
            )  # fmt: skip
        stale = StreamAppend(incident_id="inc-s", expected_version=3, events=more, snapshot=later)
        bad = StreamAppend(incident_id="inc-s", expected_version=3, events=events, snapshot=later)
        taken_events, taken = _opened("inc-t", "key-0")  # key-0 is taken in the same commit
        groups[2:2] = [
            [stale],
            [bad],
            [StreamAppend(incident_id="inc-t", expected_version=0, events=taken_events,
                          snapshot=taken)],
        ]  # fmt: skip
        junk = attrs.evolve(groups[0][0], incident_id="inc-junk", snapshot="not an incident")  # type: ignore[arg-type]
        groups.append([junk])
        if driver == "async":
            face: Any = store if is_async_port(store) else as_async_store(store)

            async def together() -> list[object]:
                async def one(group: list[StreamAppend]) -> None:
                    if len(group) == 1 and not hasattr(face, "append_all"):
                        a = group[0]
                        await _maybe(face.append(a.incident_id, a.expected_version, a.events,
                                                 snapshot=a.snapshot))  # fmt: skip
                    else:
                        await _maybe(face.append_all(group))

                return await asyncio.gather(*(one(g) for g in groups), return_exceptions=True)

            shared = getattr(face, "group_commit", None)
            before = (0, 0) if shared is None else (shared.groups, shared.commits)
            results = _loop(request).run(together())
            if shared is not None:  # all of them in one transaction
                assert (shared.groups - before[0], shared.commits - before[1]) == (len(groups), 1)
        elif hasattr(port, "append_each"):
            results = port.append_each(groups)
        else:
            pytest.skip("this store has no group commit under the sync driver (ports.GroupAppend)")
        assert [type(r).__name__ for r in results[:-1]] == [
            "NoneType", "NoneType", "ConcurrencyError", "ValueError", "ConcurrencyError",
            "NoneType", "NoneType",
        ]  # fmt: skip
        assert isinstance(results[-1], Exception)  # a snapshot that is no Incident
        assert port.load("inc-junk") == []
        for n in range(4):
            assert port.load(f"inc-{n}") == groups[n + 3 if n >= 2 else n][0].events
        assert port.load("inc-s") == [*events, *more] and port.load("inc-t") == []
        assert port.find_by_dedup_key("key-0") == "inc-0"

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
