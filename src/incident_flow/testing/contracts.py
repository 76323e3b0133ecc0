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

from collections.abc import Callable
from typing import ClassVar

import pytest

from .._core.incident import fold
from .._core.messages import Notification
from .._core.severity import Severity
from .._review.document import PostMortemDocument, ReviewStatus
from ..adapters.stores.threaded import as_async_notifier, as_async_publisher, as_async_store
from ..ports import (
    AsyncEventStore,
    AsyncNotifier,
    AsyncPostMortemPublisher,
    EventStore,
    Notifier,
    PostMortemPublisher,
    ReviewedPublisher,
)
from ._async import as_driven, flow_for
from ._doubles import ManualClock, RecordingPublisher

__all__ = [
    "NotifierContract",
    "PublisherContract",
    "ReviewedPublisherContract",
    "StoreContract",
    "sample_history",
    "storm_histories",
]

from ._contract_data import _ALERT, T0, _Drivers, sample_history, storm_histories
from ._store_appends import StoreAppendContract
from ._store_outbox import StoreOutboxContract
from ._store_queries import StoreQueryContract
from ._store_records import StoreRecordsContract


class StoreContract(
    StoreAppendContract, StoreRecordsContract, StoreOutboxContract, StoreQueryContract
):
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
