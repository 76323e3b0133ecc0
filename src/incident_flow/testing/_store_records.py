"""What a store keeps beside the streams: shifts, overrides, silences, counts.

Part of :class:`incident_flow.testing.contracts.StoreContract`; run through it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import attrs
import pytest

from .._core import events as ev
from .._core.incident import fold
from .._core.severity import Severity
from ..ports import (
    EventStore,
    StoreCounts,
)
from ._contract_data import T0, _Drivers, _message, _note, _opened, sample_history


class StoreRecordsContract(_Drivers):
    """What a store keeps beside the streams: shifts, overrides, silences, counts."""

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
        """Silences (a team's too) come back oldest first; an ended one replaces itself."""
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
            team="payments",
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
