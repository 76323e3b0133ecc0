"""Every in-tree adapter passes its port's contract suite; a broken store fails it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from incident_flow import FolderPublisher, LogNotifier, MemoryStore, RecordingNotifier
from incident_flow.testing import RecordingPublisher, capture_events
from incident_flow.testing.contracts import NotifierContract, PublisherContract, StoreContract


class TestMemoryStore(StoreContract):
    """MemoryStore is a real store."""

    @pytest.fixture
    def store(self) -> MemoryStore:
        return MemoryStore()


class TestRecordingNotifier(NotifierContract):
    """RecordingNotifier keeps what it delivered (deduplicated by idempotency key)."""

    @pytest.fixture
    def notifier(self) -> RecordingNotifier:
        return RecordingNotifier()

    @pytest.fixture
    def received(self, notifier: RecordingNotifier) -> Callable[[], list[tuple[str, str]]]:
        return lambda: [(m.incident_id, m.kind) for m in notifier.messages]


class TestLogNotifier(NotifierContract):
    """LogNotifier writes one log event per message."""

    @pytest.fixture
    def logs(self) -> Iterator[list[dict[str, object]]]:
        with capture_events() as captured:
            yield captured

    @pytest.fixture
    def notifier(self, logs: list[dict[str, object]]) -> LogNotifier:
        return LogNotifier()

    @pytest.fixture
    def received(self, logs: list[dict[str, object]]) -> Callable[[], list[tuple[str, str]]]:
        def seen() -> list[tuple[str, str]]:
            sent = [e for e in logs if e["event"] == "incident_flow.notify"]
            return [(str(e["incident_id"]), str(e["kind"])) for e in sent]

        return seen


class TestFolderPublisher(PublisherContract):
    """FolderPublisher writes Markdown files."""

    @pytest.fixture
    def publisher(self, tmp_path: Path) -> FolderPublisher:
        return FolderPublisher(tmp_path / "postmortems")

    @pytest.fixture
    def read(self) -> Callable[[str], str]:
        return lambda location: Path(location).read_text(encoding="utf-8")


class TestRecordingPublisher(PublisherContract):
    """RecordingPublisher keeps documents in memory."""

    @pytest.fixture
    def publisher(self) -> RecordingPublisher:
        return RecordingPublisher()

    @pytest.fixture
    def read(self, publisher: RecordingPublisher) -> Callable[[str], str]:
        return lambda location: publisher.documents[location.removeprefix("memory://")]


BROKEN = '''
import pytest
from incident_flow import MemoryStore
from incident_flow.testing.contracts import StoreContract


class CarelessStore(MemoryStore):
    """Ignores expected_version: a stale writer overwrites history."""

    def append(self, incident_id, expected_version, events, **kwargs):
        current = len(self.load(incident_id))
        events = [e for e in events if e.version > current]
        if not events:
            return
        super().append(incident_id, current, events, **kwargs)


class TestCarelessStore(StoreContract):
    @pytest.fixture
    def store(self):
        return CarelessStore()
'''


class TestTheSuiteHasTeeth:
    """A store that skips optimistic concurrency fails the contract suite."""

    def test_broken_store_fails(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile(test_broken=BROKEN)
        result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")
        outcomes = result.parseoutcomes()
        assert outcomes.get("failed", 0) >= 3, result.stdout.str()
        result.stdout.fnmatch_lines(["*test_stale_append_raises_and_changes_nothing*"])


FORGETFUL = '''
import pytest
from incident_flow import MemoryStore
from incident_flow.testing.contracts import StoreContract


class ForgetfulStore(MemoryStore):
    """Renews a claim by setting it, whatever it was: shortens claims, claims free retries."""

    def renew_claims(self, ids, *, until):
        with self._lock:
            for message_id in ids:
                if message_id in self._pending:
                    self._claims[message_id] = until


class TestForgetfulStore(StoreContract):
    @pytest.fixture
    def store(self):
        return ForgetfulStore()
'''


class TestTheSuiteChecksRenewals:
    """A store whose renewal shortens claims and takes free messages fails the suite."""

    def test_careless_renewals_fail(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile(test_forgetful=FORGETFUL)
        result = pytester.runpytest_inprocess(
            "-q", "-p", "no:cacheprovider", "-k", "renew or taken_over"
        )
        outcomes = result.parseoutcomes()
        assert outcomes.get("failed", 0) == 2, result.stdout.str()  # sync and async
        result.stdout.fnmatch_lines(["*test_a_renewal_never_shortens_frees_nor_takes_a_message*"])
