"""OpsgeniePager: pages through the Opsgenie Alert API (extra ``http``).

Atlassian ends Opsgenie support on 2027-04-05; this adapter stays thin on purpose.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

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

__all__ = ["API_URL", "AsyncOpsgeniePager", "OpsgeniePager"]

API_URL = "https://api.opsgenie.com"


class _Opsgenie(VendorAdapter[ClientT]):
    """The OpsgeniePager logic both classes share: settings and the send steps."""

    def __init__(self, api_key: str, *, url: str = API_URL, client: ClientT | None = None) -> None:
        if not api_key or not api_key.strip():
            msg = f"{type(self).__name__} needs an API key"
            raise ValueError(msg)
        check_secret("api_key", api_key)
        self._api_key = api_key
        self.url = url.rstrip("/")
        super().__init__(client, api_key)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(api_key='***', url={self.url!r})"

    def send_steps(self, message: Notification) -> Steps[str | None]:
        """Create, acknowledge or close the alert, as steps; return Opsgenie's request id."""
        if message.origin == "opsgenie" and message.kind in ("page", "ack", "resolve"):
            return None  # a person did this in Opsgenie: it is there already (no echo)
        headers = {"Authorization": f"GenieKey {self._api_key}"}
        alias = quote(message.incident_id, safe="")
        if message.kind == "page":
            url = f"{self.url}/v2/alerts"
            body: dict[str, Any] = {
                "message": f"[{message.severity}] {message.title}"[:130],
                "alias": message.incident_id,
                "description": message.text[:15000],
                "priority": str(message.severity),
                "source": "incident_flow",
                "tags": ["incident_flow", str(message.severity)],
                "details": {
                    k: v
                    for k, v in (
                        ("incident_id", message.incident_id),
                        ("state", message.state),
                        ("runbook", message.runbook_url),
                        ("alert", message.url),
                    )
                    if v
                },
            }
            what = "Opsgenie create alert"
        elif message.kind in ("ack", "resolve"):
            action = "acknowledge" if message.kind == "ack" else "close"
            url = f"{self.url}/v2/alerts/{alias}/{action}?identifierType=alias"
            body = {"source": "incident_flow", "note": message.text[:25000]}
            if message.by:
                body["user"] = message.by
            what = f"Opsgenie {action} alert"
        else:
            return None
        response = yield from self._http.request_steps(
            "POST", url, body, headers, what=what, deadline=deadline_for(message)
        )
        try:
            answer = response.json()
        except ValueError:
            return None
        request_id = answer.get("requestId") if isinstance(answer, dict) else None
        return str(request_id) if request_id else None


class OpsgeniePager(_Opsgenie[HttpClient], BlockingSend):
    """Mirrors an incident into one Opsgenie alert, aliased by the incident id.

    A page creates the alert (``alias`` = the incident id, so Opsgenie only bumps the count of
    an open alert instead of paging anew; ``priority`` P1..P5 is native), an acknowledgement
    acknowledges it and a resolution closes it. Chat kinds, and what a person did in Opsgenie
    itself (``origin == "opsgenie"``), are accepted without a request.
    Opsgenie answers 202 and processes asynchronously; the receipt is its ``requestId``.

    Args:
        api_key: the integration's API key (sent as ``GenieKey``; never shown).
        url: the API base (``https://api.eu.opsgenie.com`` in the EU, a proxy, a test server).
        client: the HTTP client (timeouts, retries); one is made when omitted.
    """


class AsyncOpsgeniePager(_Opsgenie[AsyncHttpClient], AwaitedSend):
    """:class:`OpsgeniePager` on an :class:`AsyncHttpClient`: same arguments, awaited ``send``."""
