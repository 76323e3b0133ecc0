"""SlackDMPager: pages a person with a Slack direct message that mentions them (extra ``http``).

A team without PagerDuty or Opsgenie still needs on-call woken up: the page goes, as a DM from
the bot, to each person the escalation level named (``Notification.to``, who the schedule had
on call), found by their Slack identity in ``Policy.people``. Acknowledgements and resolutions
are the incident thread's business: only pages are sent here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..._core.messages import Notification
from ..._core.people import People
from ..._core.steps import Steps
from ...exceptions import DeliveryError
from .._http import AsyncHttpClient, AwaitedSend, BlockingSend, ClientT, HttpClient, deadline_for
from .slack import API_URL, _Slack, escape, metadata

__all__ = ["AsyncSlackDMPager", "SlackDMPager"]


class _SlackDM(_Slack[ClientT]):
    def __init__(
        self,
        *,
        token: str,
        people: People | Mapping[str, str],
        api_url: str = API_URL,
        client: ClientT | None = None,
        fallback: Sequence[str] = (),
    ) -> None:
        super().__init__(token=token, channel="(direct messages)", api_url=api_url, client=client)
        self.people = people
        self.fallback = tuple(fallback)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(token='***')"

    def _user(self, name: str) -> str | None:
        if isinstance(self.people, People):
            return self.people.identity(name, "slack")
        return self.people.get(name)

    def _reachable(self, names: Sequence[str]) -> list[str]:
        """The Slack user ids of these people (each once; those without one left out)."""
        return [u for u in dict.fromkeys(self._user(n) for n in names) if u]

    def send_steps(self, message: Notification) -> Steps[str | None]:
        """DM each person the page names; return the DMs' ``channel:ts``, comma-separated."""
        if message.kind != "page":
            return None
        # Nobody the page names has a Slack identity: the fallback people.
        users = self._reachable(message.to) or self._reachable(self.fallback)
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
                found = yield from self._already_posted(message, None, deadline, channel)
                if found is not None:
                    receipts.append(found)
                    continue
            payload: dict[str, Any] = {
                "channel": channel,
                "text": f"<@{user}> {escape(message.text)}"[:40000],
                "metadata": metadata(message),
            }
            answer = yield from self._call("chat.postMessage", payload, deadline=deadline)
            receipts.append(f"{answer.get('channel', channel)}:{answer.get('ts', '')}")
        return ",".join(receipts)


class SlackDMPager(_SlackDM[HttpClient], BlockingSend):
    """A pager that DMs the people a page names, from a Slack bot.

    Args:
        token: the bot token (``xoxb-...``; scopes ``im:write`` and ``chat:write``; a secret).
        people: who is who: a ``People`` directory (``Policy.people``, their ``slack`` ids) or
            a mapping of name to Slack user id.
        api_url: the Web API base (a proxy or a test server).
        client: the HTTP client; one is made when omitted.
        fallback: who is DMed when nobody the page names has a Slack identity (a page to
            the escalation level's targets as written, such as ``primary on-call``).

    A page reaching nobody (no Slack identity, no fallback) fails for good (``DeliveryError``),
    so the timeline says the page did not reach anyone; a resent page is looked for in the DM
    first, so a retry does not page twice.
    """


class AsyncSlackDMPager(_SlackDM[AsyncHttpClient], AwaitedSend):
    """:class:`SlackDMPager` on an :class:`AsyncHttpClient`: same arguments, awaited ``send``."""
