"""Write your own notifier, then prove it with incident_flow's contract suite.

    python examples/custom_adapter.py

The notifier here appends every message as one JSON line to a file (for a log shipper, or an
audit trail). Anything with a ``send(message) -> str | None`` method is a notifier; the suite
in ``incident_flow.testing.contracts`` checks the behaviour the core relies on. This file is its
own test module: running it runs the suite against the adapter.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from incident_flow import Notification
from incident_flow.testing.contracts import NotifierContract


class JsonLinesNotifier:
    """Appends each message to ``path`` as a JSON line; a re-sent key is written once."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"JsonLinesNotifier({str(self.path)!r})"

    def send(self, message: Notification) -> str | None:
        with self._lock:
            if self.path.exists():
                seen = {json.loads(line)["key"] for line in self.path.read_text().splitlines()}
                if message.idempotency_key in seen:
                    return message.idempotency_key  # delivered before a crash: once is enough
            with self.path.open("a", encoding="utf-8") as out:
                out.write(
                    json.dumps(
                        {
                            "key": message.idempotency_key,
                            "incident": message.incident_id,
                            "kind": message.kind,
                            "severity": str(message.severity),
                            "text": message.text,
                        }
                    )
                    + "\n"
                )
        return message.idempotency_key


class TestJsonLinesNotifier(NotifierContract):
    """The adapter passes the notifier contract."""

    @pytest.fixture
    def notifier(self, tmp_path: Path) -> JsonLinesNotifier:
        return JsonLinesNotifier(tmp_path / "messages.jsonl")

    @pytest.fixture
    def received(self, notifier: JsonLinesNotifier) -> Callable[[], list[tuple[str, str]]]:
        def seen() -> list[tuple[str, str]]:
            if not notifier.path.exists():
                return []
            lines = [json.loads(line) for line in notifier.path.read_text().splitlines()]
            return [(line["incident"], line["kind"]) for line in lines]

        return seen


if __name__ == "__main__":
    # Run this file's tests with pytest, without the project's own pytest options.
    sys.exit(
        pytest.main(
            [
                __file__,
                "-q",
                "-p",
                "no:cacheprovider",
                "-o",
                "addopts=",
                "--rootdir",
                str(Path(__file__).parent),
            ]
        )
    )
