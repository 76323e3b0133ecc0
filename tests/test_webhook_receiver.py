"""The example webhook receiver over real HTTP on 127.0.0.1, with a SQLite store."""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from incident_flow import IncidentFlow, RecordingNotifier, SQLiteStore
from incident_flow.testing import RecordingPublisher

SAMPLES = Path(__file__).with_name("samples")
SECRET = "grafana-signing-secret"  # noqa: S105 - a test key


def load_example() -> ModuleType:
    path = Path(__file__).parents[1] / "examples" / "webhook_receiver.py"
    spec = importlib.util.spec_from_file_location("webhook_receiver", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Server:
    def __init__(self, tmp_path: Path) -> None:
        module = load_example()
        self.store = SQLiteStore(tmp_path / "incidents.db")
        self.pager = RecordingNotifier()
        self.flow = IncidentFlow(
            store=self.store,
            notifier=RecordingNotifier(),
            pager=self.pager,
            publisher=RecordingPublisher(),
        )
        # The unsigned samples are posted without proof: those sources are insecure on purpose.
        unsigned = frozenset({"alertmanager", "datadog", "checkly", "incidentio", "pagerduty"})
        self.receiver = module.Receiver(self.flow, {"grafana": SECRET}, insecure=unsigned)
        self.http = module.make_server(self.receiver, client_timeout=0.5)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def post(
        self, path: str, body: bytes, headers: dict[str, str] | None = None, method: str = "POST"
    ) -> tuple[int, Any]:
        request = urllib.request.Request(  # noqa: S310 - our own http://127.0.0.1 server
            self.url + path,
            data=body if method == "POST" else None,
            method=method,
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.store.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path)
    yield running
    running.close()


def sign(body: bytes) -> dict[str, str]:
    return {
        "X-Grafana-Alert-Signature": hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    }


class TestReceiver:
    """2xx for what was taken, 4xx for what a retry cannot fix, 5xx for what it can."""

    def test_firing_repeat_and_recovery(self, server: Server) -> None:
        body = (SAMPLES / "alertmanager_firing.json").read_bytes()
        status, answer = server.post("/webhooks/alertmanager", body)
        assert status == 202
        assert [i["state"] for i in answer["incidents"]] == ["notified", "notified"]
        assert server.post("/webhooks/alertmanager", body)[0] == 202
        assert len(server.flow.incidents()) == 2
        assert len(server.pager.messages) == 2  # the repeat paged nobody
        resolved = (SAMPLES / "alertmanager_resolved.json").read_bytes()
        assert server.post("/webhooks/alertmanager", resolved)[0] == 202
        for incident in server.flow.incidents():
            assert "AlertRecovered" in [e.type for e in server.flow.history(incident.id)]

    def test_every_sample_is_accepted(self, server: Server) -> None:
        for name, source in [
            ("datadog_triggered.json", "datadog"),
            ("checkly_failure.json", "checkly"),
            ("incidentio_firing.json", "incidentio"),
            ("pagerduty_event_trigger.json", "pagerduty"),
        ]:
            status, answer = server.post(f"/webhooks/{source}", (SAMPLES / name).read_bytes())
            assert status == 202, answer
            assert answer["incidents"][0]["severity"] in ("P1", "P2")

    def test_signed_source(self, server: Server) -> None:
        body = (SAMPLES / "grafana_firing.json").read_bytes()
        assert server.post("/webhooks/grafana", body)[0] == 401
        status, answer = server.post("/webhooks/grafana", body, {"X-Grafana-Alert-Signature": "00"})
        assert (status, answer["error"]) == (401, "grafana: signature does not match the body")
        assert server.post("/webhooks/grafana", body, sign(body))[0] == 202
        assert len(server.flow.incidents()) == 1

    def test_closed_by_default_a_source_without_a_secret_refuses(self, server: Server) -> None:
        server.receiver.insecure = frozenset()
        body = (SAMPLES / "alertmanager_firing.json").read_bytes()
        status, answer = server.post("/webhooks/alertmanager", body)
        assert status == 401 and "no secret is set" in answer["error"]
        server.receiver.secrets["alertmanager"] = "am-token"
        assert server.post("/webhooks/alertmanager", body)[0] == 401
        wrong = server.post("/webhooks/alertmanager", body, {"X-Incident-Flow-Token": "x"})
        assert wrong[0] == 401 and wrong[1]["error"].startswith("alertmanager:")
        assert server.flow.incidents() == []
        right = {"X-Incident-Flow-Token": "am-token"}
        assert server.post("/webhooks/alertmanager", body, right)[0] == 202

    def test_recovery_of_nothing_is_accepted_and_ignored(self, server: Server) -> None:
        status, answer = server.post(
            "/webhooks/checkly", (SAMPLES / "checkly_recovery.json").read_bytes()
        )
        assert status == 202
        assert answer["ignored"] == ["checkly:2a8b7c1e-5f3d-4e9a-9b6c-0d1e2f3a4b5c"]
        assert server.flow.incidents() == []

    @pytest.mark.parametrize(
        ("path", "body", "status"),
        [
            ("/webhooks/datadog", b"{not json", 400),
            ("/webhooks/datadog", b"\xff\xfe", 400),
            ("/webhooks/checkly", b'{"alert_type": "ALERT_FAILURE"}', 400),
            ("/webhooks/nagios", b"{}", 404),
            ("/elsewhere", b"{}", 404),
        ],
    )
    def test_bad_requests_are_4xx(
        self, server: Server, path: str, body: bytes, status: int
    ) -> None:
        code, answer = server.post(path, body)
        assert code == status
        assert answer["error"]
        assert server.flow.incidents() == []

    def test_get_is_refused(self, server: Server) -> None:
        assert server.post("/webhooks/datadog", b"", method="GET")[0] == 405

    def test_store_down_is_503(self, server: Server) -> None:
        server.store.close()
        body = (SAMPLES / "checkly_failure.json").read_bytes()
        status, answer = server.post("/webhooks/checkly", body)
        assert (status, answer["error"]) == (503, "store unavailable, retry later")

    def test_a_bug_is_500(self, server: Server) -> None:
        def explode(*args: Any) -> Any:
            raise RuntimeError("boom")

        server.receiver.handle = explode
        assert server.post("/webhooks/checkly", b"{}")[0] == 500


def raw(server: Server, request: bytes, *, wait: float = 5.0) -> bytes:
    """Send raw bytes, return everything the server answers before it closes (or ``wait``)."""
    import socket

    port = server.http.server_address[1]
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as conn:
        conn.sendall(request)
        chunks = []
        try:
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
    return b"".join(chunks)


class TestHostileRequests:
    """Lengths that lie, and clients that stall: a clear 4xx or a closed socket, never a hang."""

    @pytest.mark.parametrize(
        ("length", "status"),
        [("-1", b"400"), ("abc", b"400"), ("1e9", b"400"), ("99999999999", b"413"), (None, b"411")],
    )
    def test_bad_content_length(self, server: Server, length: str | None, status: bytes) -> None:
        header = f"Content-Length: {length}\r\n" if length is not None else ""
        request = f"POST /webhooks/checkly HTTP/1.1\r\nHost: x\r\n{header}\r\n{{}}".encode()
        answer = raw(server, request)
        assert answer.startswith(b"HTTP/1.0 " + status), answer[:80]
        assert server.flow.incidents() == []

    def test_a_stalled_client_is_dropped_and_others_are_served(self, server: Server) -> None:
        import time

        began = time.monotonic()
        # Promises 100 bytes, sends 2, then stalls: dropped after the client timeout.
        stalled = raw(server, b"POST /webhooks/checkly HTTP/1.1\r\nContent-Length: 100\r\n\r\n{}")
        assert stalled == b"" and time.monotonic() - began < 4
        body = (SAMPLES / "checkly_failure.json").read_bytes()
        assert server.post("/webhooks/checkly", body)[0] == 202

    def test_headers_never_finished(self, server: Server) -> None:
        assert raw(server, b"POST /webhooks/checkly HTTP/1.1\r\nHost") == b""
