"""TwilioSmsPager: pages a person by text message through Twilio's Messages API (extra ``http``).

``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with ``To``, ``From`` and ``Body``
(form-encoded, HTTP basic auth with the account SID and auth token), answered ``201`` with the
message resource (its ``sid``). Each person the page names (``Notification.to``) is texted at
their ``phone`` in ``Policy.people``. Twilio takes no idempotency key for messages: the body
carries the page's reference, and a resent page is first looked for among the messages sent
to that number today, so a retry does not text twice.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from ..._core.messages import Notification
from ..._core.people import People
from ..._core.steps import Steps
from ..._core.text import no_controls
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

__all__ = ["API_URL", "AsyncTwilioSmsPager", "TwilioSmsPager"]

API_URL = "https://api.twilio.com"


class _Twilio(VendorAdapter[ClientT]):
    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        people: People | Mapping[str, str],
        api_url: str = API_URL,
        client: ClientT | None = None,
        fallback: Sequence[str] = (),
    ) -> None:
        check_secret("auth_token", auth_token)
        basic = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self.account_sid = account_sid
        self.from_number = from_number
        self.people = people
        self.fallback = tuple(fallback)
        self.api_url = api_url.rstrip("/")
        self._auth = f"Basic {basic}"
        super().__init__(client, auth_token, basic)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(account_sid={self.account_sid!r}, auth_token='***')"

    def _phone(self, name: str) -> str | None:
        if isinstance(self.people, People):
            return self.people.identity(name, "phone")
        return self.people.get(name)

    @property
    def _messages_url(self) -> str:
        return f"{self.api_url}/2010-04-01/Accounts/{quote(self.account_sid)}/Messages.json"

    def send_steps(self, message: Notification) -> Steps[str | None]:
        """Text each person the page names; return the messages' sids, comma-separated."""
        if message.kind != "page":
            return None
        phones = [p for p in dict.fromkeys(self._phone(n) for n in message.to) if p]
        if not phones:  # nobody the page names is reachable: the fallback people
            phones = [p for p in dict.fromkeys(self._phone(n) for n in self.fallback) if p]
        if not phones:
            named = ", ".join(message.to) or "nobody"
            msg = f"TwilioSmsPager: no phone number in Policy.people for {named}"
            raise DeliveryError(msg, permanent=True)
        deadline = deadline_for(message)
        reference = f"[ref {message.idempotency_key}]"
        body = f"{no_controls(message.text)[:1400]} {reference}"
        headers = {"Authorization": self._auth, "Content-Type": "application/x-www-form-urlencoded"}
        sids = []
        for phone in phones:
            if message.resent:
                found = yield from self._already_sent(phone, reference, deadline)
                if found is not None:
                    sids.append(found)
                    continue
            form = urlencode({"To": phone, "From": self.from_number, "Body": body}).encode()
            response = yield from self._http.request_steps(
                "POST",
                self._messages_url,
                form,
                headers,
                what="Twilio Messages",
                idempotent=False,  # a retried create would text twice
                deadline=deadline,
            )
            answer = _json(response)
            sids.append(str(answer.get("sid", "")))
        return ",".join(sids)

    def _already_sent(
        self, phone: str, reference: str, deadline: float | None
    ) -> Steps[str | None]:
        today = datetime.now(UTC).date().isoformat()
        query = urlencode({"To": phone, "From": self.from_number, "DateSent>": today})
        try:
            response = yield from self._http.request_steps(
                "GET",
                f"{self._messages_url}?{query}",
                None,
                {"Authorization": self._auth},
                what="Twilio Messages lookup",
                deadline=deadline,
            )
        except DeliveryError:
            return None  # not knowing is no reason to lose the page
        for sent in _json(response).get("messages") or []:
            if isinstance(sent, dict) and reference in str(sent.get("body", "")):
                return str(sent.get("sid", ""))
        return None


def _json(response: Any) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        msg = "Twilio: the answer is not a JSON object"
        raise DeliveryError(msg)
    return answer


class TwilioSmsPager(_Twilio[HttpClient], BlockingSend):
    """A pager that texts the people a page names, through Twilio.

    Args:
        account_sid: the account (``AC...``).
        auth_token: the auth token (a secret: never shown, kept out of every error).
        from_number: the Twilio number texts come from (E.164).
        people: who is who: a ``People`` directory (``Policy.people``, their ``phone``) or a
            mapping of name to phone number.
        api_url: the API base (a proxy or a test server).
        client: the HTTP client; one is made when omitted.
        fallback: who is texted when nobody the page names has a phone number (a page to the
            escalation level's targets as written, such as ``primary on-call``).

    Only pages are texted; a page reaching nobody (no phone number, no fallback) fails for good
    (``DeliveryError``), so the timeline says it reached no one.
    """


class AsyncTwilioSmsPager(_Twilio[AsyncHttpClient], AwaitedSend):
    """:class:`TwilioSmsPager` on an :class:`AsyncHttpClient`: same arguments, awaited ``send``."""
