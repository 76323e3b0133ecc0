"""A channel per incident on Slack: created, responders invited, archived (one copy, as steps).

:class:`RoomSteps` is mixed into the Slack notifiers (``SlackNotifier.incident_channel``).
Opening is idempotent across retries and replicas without a second channel:

- the name is decided once, with the incident (``ChannelRequested``), so every attempt of
  every replica asks Slack for the same name;
- ``conversations.create`` is never retried blindly inside one attempt (a lost answer is a
  failed attempt); an attempt that meets ``name_taken`` looks the channel up by name
  (``conversations.list``) and takes it as its own only when our bot created it (its
  ``creator`` is the ``auth.test`` user) in this workspace (not shared from another one),
  and its purpose names this incident, or it has no purpose yet and was created since the
  message was decided (the answer to our own create was lost before the purpose was set);
- any other channel of that name (a person's, another incident's, a shared one) is not
  ours: nothing is posted there, the incident stays in its thread and says so;
- the incident's message in the channel and the pointer in the alerts thread carry the
  message's idempotency key in their metadata and are looked for before a re-post.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from ..._core.log import get_logger
from ..._core.messages import Notification
from ..._core.steps import Steps
from ..._core.text import no_controls
from ...exceptions import DeliveryError

__all__ = ["MARKER", "RoomSteps"]

#: Names the incident in a channel's purpose: ``[incident_flow:inc-...]``.
MARKER = "[incident_flow:{id}]"
#: Looking a channel up by name: channels per page (Slack's most), pages at most.
LIST_PAGE = 1000
LIST_PAGES = 20
#: How far before the decision a channel with no purpose yet may have been created by us.
CREATED_MARGIN = 300.0
#: Invitation refusals that change nothing (already there, or the bot itself).
_INVITED = ("already_in_channel", "cant_invite_self")
#: A Slack channel id (public ``C...``, private ``G...``).
_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{2,30}")
_log = get_logger("incident_flow.slack")


class RoomSteps:
    """The incident channel's steps, for a Slack notifier with a bot token."""

    if TYPE_CHECKING:
        _token: str | None
        channel: str | None
        _bot_user: str | None

        def _call(
            self,
            method: str,
            payload: dict[str, Any] | None,
            *,
            query: dict[str, str] | None = None,
            deadline: float | None = None,
        ) -> Steps[dict[str, Any]]: ...

        def _post_once(
            self,
            message: Notification,
            channel: str,
            thread_ts: str | None,
            deadline: float | None,
            *,
            layout: bool,
            mrkdwn: str | None = None,
        ) -> Steps[str]: ...

    def incident_channel_steps(
        self, message: Notification, deadline: float | None = None
    ) -> Steps[str | None]:
        """Open (kind ``channel``), invite to (``invite``) or archive (``archive``), as steps.

        Opening returns ``CHANNEL:TS``: the channel's id and the incident's message there.
        A refusal to create it raises a permanent :class:`DeliveryError` (the flow then
        keeps the incident in its thread); a failure after it was created is a failed
        attempt, retried (and the channel found again, not created twice).
        """
        if not self._token:
            msg = f"{type(self).__name__}: an incident channel needs a bot token"
            raise DeliveryError(msg, permanent=True)
        room = message.room
        if not room:
            msg = f"{type(self).__name__}: no incident channel named in the message"
            raise DeliveryError(msg, permanent=True)
        if message.kind == "channel":
            return (yield from self._open_room(message, room, deadline))
        if message.kind == "invite":
            yield from self._invite(room, message.to, message.incident_id, deadline)
            return room
        if message.kind == "archive":
            try:
                yield from self._call("conversations.archive", {"channel": room}, deadline=deadline)
            except DeliveryError as exc:
                if _code(exc) != "already_archived":
                    raise
            return room
        msg = f"{type(self).__name__}: no incident channel step {message.kind!r}"
        raise DeliveryError(msg, permanent=True)

    def _open_room(self, message: Notification, name: str, deadline: float | None) -> Steps[str]:
        try:
            created = yield from self._call(
                "conversations.create", {"name": name, "is_private": False}, deadline=deadline
            )
            room = str((created.get("channel") or {}).get("id") or "")
        except DeliveryError as exc:
            if _code(exc) != "name_taken":
                raise  # refused (permanent: the thread is used) or not answered (retried)
            room = (yield from self._ours(name, message, deadline)) or ""
            if not room:
                msg = f"Slack conversations.create: name_taken (#{name} is not this incident's)"
                raise DeliveryError(msg, permanent=True) from None
        if not room:
            msg = "Slack conversations.create: the answer names no channel"
            raise DeliveryError(msg)
        try:
            return (yield from self._furnish(message, room, deadline))
        except DeliveryError as exc:
            # The channel exists: try again (it is found by name), never fall back now.
            raise DeliveryError(str(exc), retry_after=exc.retry_after, status=exc.status) from exc

    def _furnish(self, message: Notification, room: str, deadline: float | None) -> Steps[str]:
        """Purpose, invitations, the incident's message in the channel, the thread's pointer."""
        title = _escape(message.title[:150])
        purpose = f"{message.severity} {title} " + MARKER.format(id=message.incident_id)
        yield from self._call(
            "conversations.setPurpose", {"channel": room, "purpose": purpose[-250:]},
            deadline=deadline,
        )  # fmt: skip
        yield from self._invite(room, message.to, message.incident_id, deadline)
        first = attrs.evolve(
            message,
            kind="notify",
            text=f"[{message.severity}] {message.title}",
            idempotency_key=f"{message.idempotency_key}#room",
            thread=None,
        )
        posted = yield from self._post_once(first, room, None, deadline, layout=True)
        pointer = attrs.evolve(
            message,
            kind="update",
            text=f"Incident channel: #{message.room}",
            idempotency_key=f"{message.idempotency_key}#pointer",
        )
        # A link to the channel: its id is Slack's answer, checked before it is written raw.
        link = f"Incident channel: <#{room}>" if _CHANNEL_ID.fullmatch(room) else None
        where, _, ts = (message.thread or "").partition(":")
        try:
            yield from self._post_once(
                pointer, where or str(self.channel), ts or None, deadline, layout=False,
                mrkdwn=link,
            )  # fmt: skip
            if where and ts:
                yield from self._signpost((where, ts), message, room, deadline)
        except DeliveryError as exc:
            # The channel is open with its message: a missing pointer must not re-open it.
            _log.warning(
                "incident_flow.slack_pointer_failed",
                incident_id=message.incident_id,
                error=str(exc),
            )
        return f"{room}:{posted.partition(':')[2]}"

    def _signpost(
        self, parent: tuple[str, str], message: Notification, room: str, deadline: float | None
    ) -> Steps[None]:
        """The incident's first message in the alerts channel becomes a pointer to its channel.

        Its state and buttons are not kept up to date there any more (the message in the
        incident's channel is): it says where the incident continues instead.
        """
        to = f"<#{room}>" if _CHANNEL_ID.fullmatch(room) else f"#{message.room}"
        header = f"{message.severity} - {no_controls(message.title)}"[:150]
        text = _escape(f"[{message.severity}] {message.title} (continues in #{message.room})")
        yield from self._call(
            "chat.update",
            {
                "channel": parent[0],
                "ts": parent[1],
                "text": text,
                "blocks": [
                    {"type": "header", "text": {"type": "plain_text", "text": header}},
                    {
                        "type": "context",
                        "elements": [
                            {
                                "type": "mrkdwn",
                                "text": f"{_escape(message.incident_id)} continues in {to}",
                            }
                        ],
                    },
                ],
            },
            deadline=deadline,
        )

    def _invite(
        self, room: str, users: Sequence[str], incident_id: str, deadline: float | None
    ) -> Steps[None]:
        """Invite each user; one refused (unknown, deactivated) does not stop the others."""
        for user in users:
            try:
                yield from self._call(
                    "conversations.invite", {"channel": room, "users": user}, deadline=deadline
                )
            except DeliveryError as exc:
                code = _code(exc)
                if code in _INVITED:
                    continue
                if not exc.permanent:
                    raise
                _log.warning(
                    "incident_flow.slack_invite_refused",
                    incident_id=incident_id,
                    user=user,
                    error=code,
                )

    def _ours(self, name: str, message: Notification, deadline: float | None) -> Steps[str | None]:
        """The id of the channel called ``name`` when it is this incident's, else None."""
        bot = yield from self._bot(deadline)
        query = {
            "types": "public_channel",  # the channels we make are public ones
            "exclude_archived": "true",
            "limit": str(LIST_PAGE),
        }
        for _ in range(LIST_PAGES):
            answer = yield from self._call(
                "conversations.list", None, query=query, deadline=deadline
            )
            for channel in answer.get("channels") or []:
                if isinstance(channel, dict) and channel.get("name") == name:
                    return str(channel.get("id")) if _mine(channel, bot, message) else None
            cursor = (answer.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
            query["cursor"] = str(cursor)
        return None

    def _bot(self, deadline: float | None) -> Steps[str]:
        """Our bot's user id (``auth.test``), asked once."""
        if self._bot_user is None:
            answer = yield from self._call("auth.test", {}, deadline=deadline)
            self._bot_user = str(answer.get("user_id") or "")
        return self._bot_user


def _mine(channel: dict[str, Any], bot: str, message: Notification) -> bool:
    """Whether a channel with the incident's name is the one this incident created."""
    if not bot or channel.get("creator") != bot:
        return False
    if channel.get("is_ext_shared") or channel.get("is_shared") or channel.get("is_org_shared"):
        return False  # another workspace has a say in it: never ours
    purpose = str((channel.get("purpose") or {}).get("value") or "")
    if purpose:
        return purpose.endswith(MARKER.format(id=message.incident_id))
    since = message.since.timestamp() - CREATED_MARGIN if message.since is not None else 0.0
    created = channel.get("created")
    return isinstance(created, int | float) and created >= since


def _escape(text: str) -> str:
    """Outside text for Slack's mrkdwn (as ``slack.escape``): ``& < >`` escaped, no controls."""
    return no_controls(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _code(exc: DeliveryError) -> str:
    """Slack's error code in a failed call's message (``Slack method: code``)."""
    return str(exc).rpartition(": ")[2].strip()
