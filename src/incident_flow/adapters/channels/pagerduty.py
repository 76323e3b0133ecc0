"""PagerDutyPager: pages through the PagerDuty Events API v2 (extra ``http``)."""

from __future__ import annotations

from typing import Any

from ..._core.messages import Notification
from ..._core.severity import Severity
from ..._core.steps import Steps
from ...exceptions import DeliveryError
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

__all__ = ["EVENTS_URL", "SEVERITIES", "AsyncPagerDutyPager", "PagerDutyPager", "summary"]

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
#: P1..P5 -> PagerDuty's four severities (P4 and P5 collapse into info).
SEVERITIES = {
    Severity.P1: "critical",
    Severity.P2: "error",
    Severity.P3: "warning",
    Severity.P4: "info",
    Severity.P5: "info",
}
_ACTIONS = {"page": "trigger", "ack": "acknowledge", "resolve": "resolve"}
_SUMMARY_MAX = 1024


def summary(message: Notification) -> str:
    """The page's summary: ``[P1] title [inc-id]``, at most 1024 characters.

    The incident's id in brackets at the end is how a PagerDuty webhook (v3), which names
    PagerDuty's incident and its title but not always the dedup key we sent, finds our
    incident again; the title is cut to keep it.
    """
    reference = f" [{message.incident_id}]"
    head = f"[{message.severity}] {message.title}"
    return head[: _SUMMARY_MAX - len(reference)] + reference


class _PagerDuty(VendorAdapter[ClientT]):
    """The PagerDutyPager logic both classes share: settings and the send steps."""

    def __init__(
        self,
        routing_key: str,
        *,
        url: str = EVENTS_URL,
        source: str = "incident_flow",
        client: ClientT | None = None,
    ) -> None:
        if not routing_key or not routing_key.strip():
            msg = f"{type(self).__name__} needs a routing key"
            raise ValueError(msg)
        check_secret("routing_key", routing_key)
        self._routing_key = routing_key
        self.url = url
        self.source = source
        super().__init__(client, routing_key)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(routing_key='***', url={self.url!r})"

    def send_steps(self, message: Notification) -> Steps[str | None]:
        """Send the page, acknowledgement or resolution, as steps; return the dedup key."""
        action = _ACTIONS.get(message.kind)
        if action is None:
            return None
        if message.origin == "pagerduty":
            # A person did this in PagerDuty: it is there already; sending it back would
            # only echo (and PagerDuty's webhook about the echo would come back to us).
            return message.incident_id
        event: dict[str, Any] = {
            "routing_key": self._routing_key,
            "event_action": action,
            "dedup_key": message.incident_id,
        }
        if action == "trigger":
            event["payload"] = {
                "summary": summary(message),
                "source": self.source,
                "severity": SEVERITIES[message.severity],
                "custom_details": {
                    "incident_id": message.incident_id,
                    "priority": str(message.severity),
                    "state": message.state,
                    "text": message.text,
                },
            }
            event["client"] = "incident_flow"
            links = [
                {"href": href, "text": text}
                for href, text in ((message.runbook_url, "Runbook"), (message.url, "Alert"))
                if href
            ]
            if links:
                event["links"] = links
        response = yield from self._http.request_steps(
            "POST", self.url, event, what=f"PagerDuty {action}", deadline=deadline_for(message)
        )
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if isinstance(answer, dict) and answer.get("status") not in (None, "success"):
            detail = "; ".join(str(e) for e in answer.get("errors", [])) or answer.get("message")
            msg = self._http.redact(f"PagerDuty {action}: {answer.get('status')}: {detail}")
            raise DeliveryError(msg, permanent=True)
        key = answer.get("dedup_key") if isinstance(answer, dict) else None
        return str(key) if key else message.incident_id


class PagerDutyPager(_PagerDuty[HttpClient], BlockingSend):
    """Mirrors an incident into one PagerDuty alert.

    A page triggers it (``dedup_key`` = the incident id, so a re-sent page, an escalation or a
    reopen updates the same alert instead of paging anew while it is open; the summary ends
    with the incident id in brackets, so PagerDuty's webhooks lead back to it), an
    acknowledgement acknowledges it and a resolution resolves it. What a person did in
    PagerDuty itself (``origin == "pagerduty"``) is not sent back. Chat kinds (``notify``,
    ``update``) are not for a pager and are accepted without a request (receipt None); the
    receipt of the others is the alert's dedup key.

    Args:
        routing_key: the integration's routing key (the credential; never shown).
        url: the Events API endpoint (a proxy, a regional endpoint, a test server).
        source: ``payload.source`` of the triggers.
        client: the HTTP client (timeouts, retries); one is made when omitted.
    """


class AsyncPagerDutyPager(_PagerDuty[AsyncHttpClient], AwaitedSend):
    """:class:`PagerDutyPager` on an :class:`AsyncHttpClient`: same arguments, awaited ``send``."""
