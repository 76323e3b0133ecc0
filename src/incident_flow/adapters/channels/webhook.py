"""WebhookNotifier: posts a versioned JSON event to any URL, HMAC-signed (extra ``http``)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable

from ..._core.messages import Notification
from ..._core.steps import Steps
from .._http import (
    AsyncHttpClient,
    AwaitedSend,
    BlockingSend,
    ClientT,
    HttpClient,
    VendorAdapter,
    check_secret,
    deadline_for,
)

__all__ = ["EVENT_VERSION", "AsyncWebhookNotifier", "WebhookNotifier", "signature"]

#: The version of the event body; a change that breaks a receiver bumps it.
EVENT_VERSION = "1"


def signature(secret: str | bytes, timestamp: str, body: bytes) -> str:
    """``v1=`` + hex HMAC-SHA256 of ``"{timestamp}.{body}"`` (what receivers recompute)."""
    key = secret.encode() if isinstance(secret, str) else secret
    mac = hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={mac}"


class _Webhook(VendorAdapter[ClientT]):
    """The WebhookNotifier logic both classes share: settings and the send steps."""

    def __init__(
        self,
        url: str,
        *,
        secret: str | None = None,
        client: ClientT | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            msg = f"{type(self).__name__} needs an http(s) URL, got {url[:8]!r}..."
            raise ValueError(msg)
        check_secret("url", url)
        check_secret("secret", secret)
        self._url = url
        self._secret = secret
        self._clock = clock
        super().__init__(client, url, secret)

    def __repr__(self) -> str:
        signed = ", secret='***'" if self._secret else ""
        return f"{type(self).__name__}(url='***'{signed})"

    def send_steps(self, message: Notification) -> Steps[str | None]:
        """Post the event, as steps; return None (a webhook has no receipt to keep)."""
        timestamp = str(int(self._clock()))
        event = {
            "version": EVENT_VERSION,
            "type": f"incident_flow.{message.kind}",
            "id": message.idempotency_key,
            "incident_id": message.incident_id,
            "kind": message.kind,
            "text": message.text,
            "title": message.title,
            "severity": str(message.severity),
            "state": message.state,
            "by": message.by,
            "url": message.url,
            "runbook_url": message.runbook_url,
            "acknowledged_by": message.acknowledged_by,
            "sent_at": int(timestamp),
        }
        body = json.dumps(event, separators=(",", ":")).encode()
        headers = {
            "X-Incident-Flow-Id": message.idempotency_key,
            "X-Incident-Flow-Timestamp": timestamp,
        }
        if self._secret:
            headers["X-Incident-Flow-Signature"] = signature(self._secret, timestamp, body)
        yield from self._http.request_steps(
            "POST", self._url, body, headers, what="webhook", deadline=deadline_for(message)
        )
        return None


class WebhookNotifier(_Webhook[HttpClient], BlockingSend):
    """Posts each message as a JSON event to ``url``.

    The body: ``{"version": "1", "type": "incident_flow.<kind>", "id": <idempotency key>,
    "incident_id", "kind", "text", "title", "severity", "state", "by", "url", "runbook_url",
    "acknowledged_by", "sent_at"}``. Headers: ``X-Incident-Flow-Id`` (the idempotency key, the
    same on every retry: dedup on it), ``X-Incident-Flow-Timestamp`` (unix seconds) and, with a
    ``secret``, ``X-Incident-Flow-Signature: v1=<hex HMAC-SHA256(secret, "{ts}.{body}")>``;
    ``incident_flow.ingest.verify_signature("incident_flow", ...)`` checks it. There is no
    receipt to keep: ``send`` returns None.

    Args:
        url: where to post (a secret when it carries a token: never shown).
        secret: the signing secret, or None for unsigned events.
        client: the HTTP client (timeouts, retries); one is made when omitted.
        clock: unix seconds for the timestamp (tests pass a fixed one).
    """


class AsyncWebhookNotifier(_Webhook[AsyncHttpClient], AwaitedSend):
    """:class:`WebhookNotifier` on an :class:`AsyncHttpClient`: same arguments, awaited ``send``."""
