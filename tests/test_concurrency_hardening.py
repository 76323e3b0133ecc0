"""Threads sharing one flow, and sends bounded by their claim (issue 13's concurrency items)."""

from __future__ import annotations

import sys
import threading
import time
from datetime import timedelta

import attrs
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from incident_flow import Alert, IncidentFlow, PagerDutyPager, RecordingNotifier
from incident_flow._drivers import loop as driver
from incident_flow.adapters._http import HttpClient
from incident_flow.testing import RecordingPublisher

from .vendors import ROUTING_KEY


class TestOneFlowManyThreads:
    """The incident cache holds under threads: no command that committed raises."""

    def test_eight_threads_trigger_through_one_flow(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(driver, "_CACHE_SIZE", 4)  # eviction on nearly every command
        previous = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)  # threads switch between any two bytecodes: races show
        chat = RecordingNotifier()
        flow = IncidentFlow(
            notifier=chat, pager=RecordingNotifier(), publisher=RecordingPublisher()
        )
        errors: list[BaseException] = []
        start = threading.Barrier(8)

        def fire(worker: int) -> None:
            start.wait()
            for n in range(60):
                try:
                    incident = flow.trigger(
                        Alert(source="s", name=f"n{worker}-{n}", title="t", severity="P4")
                    )
                    flow.note(incident.id, "seen", by="alice")
                except Exception as exc:  # noqa: BLE001 - collected and asserted below
                    errors.append(exc)

        threads = [threading.Thread(target=fire, args=(w,)) for w in range(8)]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                thread.join()
        finally:
            sys.setswitchinterval(previous)
        assert errors == []
        assert len([m for m in chat.messages if m.kind == "notify"]) == 480
        assert len(flow._cache) <= 4

    def test_the_cache_itself_under_eight_threads(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Its eviction raced: KeyError and "dictionary changed size" for committed commands."""
        monkeypatch.setattr(driver, "_CACHE_SIZE", 4)
        flow = IncidentFlow(notifier=RecordingNotifier(), publisher=RecordingPublisher())
        base = flow.trigger(Alert(source="s", name="n", title="t", severity="P4"))
        errors: list[BaseException] = []

        def remember(worker: int) -> None:
            for n in range(5000):
                try:
                    flow._remember(attrs.evolve(base, id=f"inc-{worker}-{n}"))
                except Exception as exc:  # noqa: BLE001 - collected and asserted below
                    errors.append(exc)

        previous = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)
        try:
            threads = [threading.Thread(target=remember, args=(w,)) for w in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            sys.setswitchinterval(previous)
        assert errors == []
        assert len(flow._cache) <= 4


class TestSendsWithinTheirClaim:
    """A delivery that keeps failing stops retrying before its claim ends."""

    def test_a_slow_failing_pager_gives_up_inside_the_lease(self, httpserver: HTTPServer) -> None:
        calls: list[float] = []

        def slow_error(request: Request) -> Response:
            calls.append(time.monotonic())
            time.sleep(0.2)
            return Response("busy", status=503)

        httpserver.expect_request("/v2/enqueue", method="POST").respond_with_handler(slow_error)
        http = HttpClient(timeout=5, retries=20, backoff=0.1)  # unbounded, this is ~2 minutes
        flow = IncidentFlow(
            notifier=RecordingNotifier(),
            pager=PagerDutyPager(ROUTING_KEY, url=httpserver.url_for("/v2/enqueue"), client=http),
            publisher=RecordingPublisher(),
            lease=timedelta(seconds=1.5),
        )
        began = time.monotonic()
        incident = flow.trigger(Alert(source="s", name="n", title="t", severity="P1"))
        took = time.monotonic() - began
        http.close()
        assert took < 1.5, f"the send ran past its lease: {took:.2f} s"
        assert len(calls) >= 2  # it did retry while it could
        failed = [e for e in flow.history(incident.id) if e.type == "DeliveryFailed"]
        assert failed and "claim" in failed[0].error  # type: ignore[attr-defined]


def test_a_message_handed_to_a_sender_keeps_every_field() -> None:
    """Notification.to_send copies each field (it is built by hand, for speed)."""
    import attrs as _attrs

    from incident_flow import Notification, Severity

    values = {
        f.name: (f"v-{f.name}" if f.type in ("str", "str | None") else f.default)
        for f in _attrs.fields(Notification)
    }
    values.update(severity=Severity.P2, resent=True, send_within=1.5)
    message = Notification(**values)
    assert message.to_send(resent=True, send_within=1.5) == message
