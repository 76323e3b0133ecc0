"""SlackDMPager: pages a person with a Slack direct message that mentions them (extra ``http``).

A team without PagerDuty or Opsgenie still needs on-call woken up: the page goes, as a DM from
the bot, to each person the escalation level named (``Notification.to``, who the schedule had
on call), found by their Slack identity in ``Policy.people``. Acknowledgements and resolutions
are the incident thread's business: only pages are sent here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._log import get_logger
from .._messages import Notification
from .._people import People
from .._steps import Steps
from ..exceptions import DeliveryError
from ._http import AsyncHttpClient, AwaitedSend, BlockingSend, ClientT, HttpClient, deadline_for
from .slack import API_URL, _Slack, escape

__all__ = ["AsyncSlackDMPager", "SlackDMPager"]

_log = get_logger("incident_flow.slack")


class _SlackDM(_Slack[ClientT]):
    def __init__(
        self,
        *,
        token: str,
        people: People | Mapping[str, str],
        api_url: str = API_URL,
        client: ClientT | None = None,
    ) -> None:
        super().__init__(token=token, channel="(direct messages)", api_url=api_url, client=client)
        self.people = people

    def __repr__(self) -> str:
        return f"{type(self).__name__}(token='***')"

    def _user(self, name: str) -> str | None:
        if isinstance(self.people, People):
            return self.people.identity(name, "slack")
        return self.people.get(name)

    def send_steps(self, message: Notification) -> Steps[str | None]:
        """DM each person the page names; return the DMs' ``channel:ts``, comma-separated."""
        if message.kind != "page":
            return None
        users = []
        for name in message.to:
            user = self._user(name)
            if user is None:
                _log.warning("incident_flow.slack_dm_unknown", incident_id=message.incident_id)
            elif user not in users:
                users.append(user)
        if not users:
            named = ", ".join(message.to) or "nobody"
            msg = f"SlackDMPager: no Slack identity in Policy.people for {named}"
            raise DeliveryError(msg, permanent=True)
        deadline = deadline_for(message)
        receipts = []
        for user in users:
            opened = yield from self._call("conversations.open", {"users": user}, deadline=deadline)
            channel = str((opened.get("channel") or {}).get("id", ""))
            if not channel:
                msg = "Slack conversations.open: no channel in the answer"
                raise DeliveryError(msg)
            if message.resent:
                found = yield from self._dm_posted(channel, message, deadline)
                if found is not None:
                    receipts.append(found)
                    continue
            payload: dict[str, Any] = {
                "channel": channel,
                "text": f"<@{user}> {escape(message.text)}"[:40000],
                "metadata": {
                    "event_type": "incident_flow_message",
                    "event_payload": {
                        "incident_id": message.incident_id,
                        "kind": message.kind,
                        "idempotency_key": message.idempotency_key,
                    },
                },
            }
            answer = yield from self._call("chat.postMessage", payload, deadline=deadline)
            receipts.append(f"{answer.get('channel', channel)}:{answer.get('ts', '')}")
        return ",".join(receipts)

    def _dm_posted(
        self, channel: str, message: Notification, deadline: float | None
    ) -> Steps[str | None]:
        query = {"channel": channel, "limit": "50", "include_all_metadata": "true"}
        try:
            answer = yield from self._call(
                "conversations.history", None, query=query, deadline=deadline
            )
        except DeliveryError:
            return None  # not knowing is no reason to lose the page
        for posted in answer.get("messages") or []:
            meta = (posted.get("metadata") or {}).get("event_payload") or {}
            if meta.get("idempotency_key") == message.idempotency_key:
                return f"{channel}:{posted.get('ts', '')}"
        return None


class SlackDMPager(_SlackDM[HttpClient], BlockingSend):
    """A pager that DMs the people a page names, from a Slack bot.

    Args:
        token: the bot token (``xoxb-...``; scopes ``im:write`` and ``chat:write``; a secret).
        people: who is who: a ``People`` directory (``Policy.people``, their ``slack`` ids) or
            a mapping of name to Slack user id.
        api_url: the Web API base (a proxy or a test server).
        client: the HTTP client; one is made when omitted.

    A page naming nobody with a Slack identity fails for good (``DeliveryError``), so the
    timeline says the page did not reach anyone; a resent page is looked for in the DM first,
    so a retry does not page twice.
    """


class AsyncSlackDMPager(_SlackDM[AsyncHttpClient], AwaitedSend):
    """:class:`SlackDMPager` on an :class:`AsyncHttpClient`: same arguments, awaited ``send``."""
