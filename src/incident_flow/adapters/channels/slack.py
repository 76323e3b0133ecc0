"""SlackNotifier: an incoming webhook, or ``chat.postMessage`` with a bot token (extra ``http``).

:class:`AsyncSlackNotifier` is the same logic (one copy, as steps) on an async client.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from ..._core.log import get_logger
from ..._core.messages import Notification
from ..._core.steps import Steps, run, run_async
from ..._core.text import no_controls
from ..._delivery import slack_ui as ui
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
from ._slack_rooms import RoomSteps

__all__ = [
    "API_URL",
    "AsyncSlackNotifier",
    "SlackNotifier",
    "blocks",
    "buttons",
    "escape",
    "link_target",
    "metadata",
]

API_URL = "https://slack.com/api"
#: Looking before posting again: messages per page (Slack's recommended most), pages at most
#: (10,000 messages posted since the message was decided), and how far before the decision
#: to look, for a Slack clock ahead of ours.
LOOKUP_PAGE = 200
LOOKUP_PAGES = 50
CLOCK_MARGIN = 300.0
#: Notices about who is on call (not an incident's messages): plain text, no buttons.
NOTICE_KINDS = ("handoff", "shift_reminder")
_ICONS = {
    "P1": ":rotating_light:",
    "P2": ":red_circle:",
    "P3": ":large_orange_circle:",
    "P4": ":large_yellow_circle:",
    "P5": ":white_circle:",
}
_log = get_logger("incident_flow.slack")


def escape(text: str) -> str:
    """Text for Slack's mrkdwn: ``&``, ``<`` and ``>`` escaped (and no control characters)."""
    return no_controls(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link_target(url: str | None) -> str | None:
    """``url`` as a safe Slack link target, or None when it is not a plain http(s) URL.

    An alert's URL comes from whoever can reach the receiver: a ``javascript:`` link, or one
    holding ``|`` or ``>`` to break out of ``<url|label>``, is never linked. What may appear
    in a real URL is kept, with Slack's three special characters escaped.
    """
    if not url or any(ord(c) <= 32 or ord(c) == 127 for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return escape(url).replace("|", "%7C")


def buttons(message: Notification) -> list[dict[str, Any]]:
    """The buttons that still apply to the incident as the message saw it.

    Acknowledge until somebody has; I'll lead while unresolved with a commander needed and
    nobody leading; Start runbook while notified; Resolve until resolved; Add note until
    closed; none once closed. Each carries the incident's id as its value.
    """
    state = message.state
    unresolved = state in ("notified", "runbook")
    wanted = [
        ("acknowledge", unresolved and message.acknowledged_by is None),
        ("lead", unresolved and ("commander", "") in message.roles),
        ("start_runbook", state == "notified"),
        ("resolve", unresolved),
        ("note", state != "closed"),
    ]
    out: list[dict[str, Any]] = []
    for kind, shown in wanted:
        if not shown:
            continue
        button: dict[str, Any] = {
            "type": "button",
            "action_id": ui.action_id(kind),
            "text": {"type": "plain_text", "text": ui.BUTTONS[kind]},
            "value": message.incident_id,
        }
        if kind == "acknowledge":
            button["style"] = "primary"
        out.append(button)
    return out


def blocks(message: Notification) -> list[dict[str, Any]]:
    """The Block Kit layout of an incident's message.

    Severity and title, the state and who acknowledged, the runbook and alert links, who is
    paged (on the first message), the latest thing that happened and who did it, and the
    buttons that still apply.
    """
    icon = _ICONS.get(str(message.severity), "")
    fields = [
        f"*Incident:*\n{message.incident_id}",
        f"*Severity:*\n{message.severity}",
        f"*State:*\n{message.state}",
        f"*Acknowledged by:*\n{escape(message.acknowledged_by or '-')}",
        *(
            f"*{escape(role.capitalize())}:*\n{escape((who or '-')[:100])}"
            for role, who in message.roles
        ),
    ]
    layout: list[dict[str, Any]] = [
        {
            "type": "header",
            # Names the incident and the kind of message, for bots reading the channel.
            "block_id": f"incident_flow:{message.incident_id}:{message.kind}"[:255],
            "text": {
                "type": "plain_text",
                "text": f"{icon} {message.severity} - {message.title}"[:150],
                "emoji": True,
            },
        },
        # Slack takes at most 10 fields in a section.
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields[:10]]},
    ]
    targets = ((link_target(message.runbook_url), "Runbook"), (link_target(message.url), "Alert"))
    links = [f"<{href}|{label}>" for href, label in targets if href is not None]
    if links:
        layout.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(links)}]}
        )
    if message.kind != "notify" and message.text:
        latest = f"Latest: {message.text}"[:3000]
        layout.append({"type": "context", "elements": [{"type": "plain_text", "text": latest}]})
    heading = f"[{message.severity}] {message.title} ("
    if message.kind == "notify" and message.text.startswith(heading) and message.text[-1] == ")":
        # Who is paged ("paging alice"), or why nobody is yet: the header has the title.
        said = message.text[len(heading) : -1][:3000]
        layout.append({"type": "context", "elements": [{"type": "plain_text", "text": said}]})
    actions = buttons(message)
    if actions:
        block_id = f"incident_flow:actions:{message.incident_id}"[:255]
        layout.append({"type": "actions", "block_id": block_id, "elements": actions})
    return layout


class _Slack(VendorAdapter[ClientT], RoomSteps):
    """The Slack logic both classes share: settings and the send steps."""

    def __init__(
        self,
        *,
        webhook_url: str | None = None,
        token: str | None = None,
        channel: str | None = None,
        api_url: str = API_URL,
        client: ClientT | None = None,
    ) -> None:
        if bool(webhook_url) == bool(token):
            msg = (
                f"{type(self).__name__} needs either webhook_url or token (with channel), not both"
            )
            raise ValueError(msg)
        if token and not channel:
            msg = f"{type(self).__name__} with a token needs the channel to post to"
            raise ValueError(msg)
        check_secret("webhook_url", webhook_url)
        check_secret("token", token)
        self._webhook_url = webhook_url
        self._token = token
        self.channel = channel
        self.api_url = api_url.rstrip("/")
        self._bot_user: str | None = None  # our bot's Slack user id, once asked
        super().__init__(client, webhook_url, token)

    def __repr__(self) -> str:
        mode = (
            "webhook_url='***'" if self._webhook_url else f"token='***', channel={self.channel!r}"
        )
        return f"{type(self).__name__}({mode})"

    def send_steps(self, message: Notification) -> Steps[str | None]:
        """Post the message, as steps; return ``channel:ts`` with a token, None with a webhook."""
        deadline = deadline_for(message)  # the look-up, the post and the edit, all within it
        if self._webhook_url:
            hook: dict[str, Any] = {"text": self._text(message), "blocks": blocks(message)}
            yield from self._http.request_steps(
                "POST",
                self._webhook_url,
                hook,
                what="Slack incoming webhook",
                idempotent=False,
                deadline=deadline,
            )
            return None
        if message.kind in NOTICE_KINDS:
            return (yield from self._notice(message, deadline))
        parent = _parse_thread(message.thread) if message.kind != "notify" else None
        # The incident's team's channel when the policy names one, else the configured one.
        channel = message.channel or self.channel
        # In the incident's own channel, later messages are posted in it, not as replies.
        if parent is not None and message.room is not None and parent[0] == message.room:
            receipt = yield from self._post_once(message, parent[0], None, deadline, layout=False)
        else:
            thread_ts = parent[1] if parent is not None else None
            where = parent[0] if parent is not None else str(channel)
            receipt = yield from self._post_once(
                message, where, thread_ts, deadline, layout=parent is None
            )
        if parent is not None:
            yield from self._edit_parent(parent, message, deadline)
        return receipt

    def _post_once(
        self,
        message: Notification,
        channel: str,
        thread_ts: str | None,
        deadline: float | None,
        *,
        layout: bool,
        mrkdwn: str | None = None,
    ) -> Steps[str]:
        """Post ``message`` in ``channel`` (in ``thread_ts``'s thread); ``channel:ts``.

        A message that may have been posted already (``resent``) is looked for first, by
        its idempotency key; ``layout``: with its blocks and buttons. ``mrkdwn``: our own
        text, sent as it is (a ``<#C123>`` link), instead of the message's text escaped.
        """
        if message.resent:
            # An earlier attempt may have been posted without us learning so: look first.
            parent = (channel, thread_ts) if thread_ts else None
            posted = yield from self._already_posted(message, parent, deadline, channel)
            if posted is not None:
                return posted
        payload: dict[str, Any] = {
            "channel": channel,
            "text": self._text(message) if mrkdwn is None else mrkdwn,
            "unfurl_links": False,
            "metadata": metadata(message),
        }
        if layout:
            payload["blocks"] = blocks(message)
        if thread_ts:
            payload["thread_ts"] = thread_ts
        answer = yield from self._call("chat.postMessage", payload, deadline=deadline)
        return f"{answer.get('channel', channel)}:{answer.get('ts', '')}"

    def _notice(self, message: Notification, deadline: float | None) -> Steps[str | None]:
        """A notice about who is on call: plain text in the channel, once."""
        if message.resent:
            posted = yield from self._already_posted(message, None, deadline)
            if posted is not None:
                return posted
        payload = {
            "channel": self.channel,
            "text": escape(message.text)[:40000],
            "unfurl_links": False,
            "metadata": metadata(message),
        }
        answer = yield from self._call("chat.postMessage", payload, deadline=deadline)
        return f"{answer.get('channel', self.channel)}:{answer.get('ts', '')}"

    def open_form_steps(self, body: bytes | str | Mapping[str, Any]) -> Steps[bool]:
        """Open our Resolve or Add note form if ``body`` is a press of that button, as steps.

        Returns True when it opened one (answer Slack 200 and wait for the submission, which
        ``ingest.actions("slack", ...)`` reads), False when the request is anything else.
        """
        try:
            data = ui.decode(body)
        except ValueError:
            return False
        pressed = data.get("actions") if data.get("type") == "block_actions" else None
        first = pressed[0] if isinstance(pressed, list) and pressed else None
        if not isinstance(first, dict):
            return False
        kind = str(first.get("action_id", "")).removeprefix(ui.PREFIX)
        incident_id, trigger_id = first.get("value"), data.get("trigger_id")
        if kind not in ui.FORMS or not isinstance(incident_id, str) or not trigger_id:
            return False
        if not self._token:
            msg = f"{type(self).__name__}: opening a form needs a bot token (views.open)"
            raise DeliveryError(msg, permanent=True)
        title = _message_title(data)
        view = ui.form_view(kind, incident_id, title)
        yield from self._call("views.open", {"trigger_id": trigger_id, "view": view})
        return True

    def _already_posted(
        self,
        message: Notification,
        parent: tuple[str, str] | None,
        deadline: float | None,
        channel: str | None = None,
    ) -> Steps[str | None]:
        """The receipt of this message if Slack has it (found by its metadata), else None.

        Looked for in ``parent``'s thread, else in ``channel`` (default the notifier's): every
        message posted since the message was decided (``oldest``, less a margin for clocks
        that disagree), page after page (``next_cursor``), so a busy channel cannot hide it
        behind newer posts.
        """
        channel = parent[0] if parent else (channel or str(self.channel))
        query = {"channel": channel, "limit": str(LOOKUP_PAGE), "include_all_metadata": "true"}
        method = "conversations.history"
        if parent is not None:
            method, query["ts"] = "conversations.replies", parent[1]
        if message.since is not None:
            query["oldest"] = f"{message.since.timestamp() - CLOCK_MARGIN:.6f}"
        for _ in range(LOOKUP_PAGES):
            try:
                answer = yield from self._call(method, None, query=query, deadline=deadline)
            except DeliveryError as exc:
                # Not knowing is no reason to lose the message: post it (maybe twice).
                _log.warning(
                    "incident_flow.slack_lookup_failed",
                    incident_id=message.incident_id,
                    error=str(exc),
                )
                return None
            for posted in answer.get("messages") or []:
                meta = (posted.get("metadata") or {}).get("event_payload") or {}
                if meta.get("idempotency_key") == message.idempotency_key:
                    return f"{channel}:{posted.get('ts', '')}"
            cursor = (answer.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
            query["cursor"] = str(cursor)
        return None  # more than LOOKUP_PAGES pages since it was decided: post (maybe twice)

    def _edit_parent(
        self, parent: tuple[str, str], message: Notification, deadline: float | None
    ) -> Steps[None]:
        # The reply is already posted: a failed edit must not fail (and re-send) the reply.
        try:
            yield from self._call(
                "chat.update",
                {
                    "channel": parent[0],
                    "ts": parent[1],
                    "text": escape(
                        f"[{message.severity}] {message.title} ({message.state}"
                        + (f", fired {message.fired} times)" if message.fired > 1 else ")")
                    ),
                    "blocks": blocks(message),
                },
                deadline=deadline,
            )
        except DeliveryError as exc:
            _log.warning(
                "incident_flow.slack_update_failed", incident_id=message.incident_id, error=str(exc)
            )

    def _call(
        self,
        method: str,
        payload: dict[str, Any] | None,
        *,
        query: dict[str, str] | None = None,
        deadline: float | None = None,
    ) -> Steps[dict[str, Any]]:
        url = f"{self.api_url}/{method}"
        if query is not None:
            url += "?" + urlencode(query)
        response = yield from self._http.request_steps(
            "POST" if payload is not None else "GET",
            url,
            payload,
            {
                "Authorization": f"Bearer {self._token}",
                "Content-Type": "application/json; charset=utf-8",
            },
            what=f"Slack {method}",
            # A post (or a channel) Slack may have made must not be asked for again blindly:
            # a lost answer is a failed attempt, and the next one looks before it asks.
            idempotent=method not in ("chat.postMessage", "conversations.create"),
            deadline=deadline,
        )
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            msg = f"Slack {method}: the answer is not a JSON object"
            raise DeliveryError(msg)
        if not answer.get("ok"):
            error = str(answer.get("error", "unknown_error"))
            retry = 30.0 if error in ("ratelimited", "rate_limited") else None
            msg = self._http.redact(f"Slack {method}: {error}")
            raise DeliveryError(msg, retry_after=retry, permanent=retry is None)
        return answer

    @staticmethod
    def _text(message: Notification) -> str:
        # Slack reads a message's text as mrkdwn: "<!channel>" in an alert's name would ping
        # the whole channel. Everything we send as text is escaped, so it stays text.
        # A first message's text is "[P1] <title> (paging alice)" already: said once.
        return escape(message.text)[:40000]


class SlackNotifier(_Slack[HttpClient], BlockingSend):
    """Posts an incident's messages to Slack.

    With a bot ``token`` and a ``channel``: the first message (``notify``) is posted with
    ``chat.postMessage`` and its ``channel:ts`` returned as the receipt; every later message
    goes into that message's thread, and the first message is edited (``chat.update``) to show
    the current state. A message whose ``channel`` is set (the incident's team's chat
    channel) is posted there instead of ``channel``, and looked for there before a re-send.
    With an incoming ``webhook_url``: every message is posted to the webhook's channel
    (webhooks return no ``ts``: no receipt, no thread, no edit; a team's channel is not
    reachable through it).

    Slack answers HTTP 200 with ``{"ok": false}`` on errors; that is a failed delivery with
    Slack's error code. A 429 is retried after its ``Retry-After``.

    Args:
        webhook_url: an incoming webhook (a secret: never shown).
        token: a bot token (``xoxb-...``; a secret: never shown).
        channel: the channel id, with ``token``.
        api_url: the Web API base (a proxy or a test server).
        client: the HTTP client (timeouts, retries); one is made when omitted.
    """

    def open_form(self, body: bytes | str | Mapping[str, Any]) -> bool:
        """If ``body`` is a press of our Resolve or Add note button, open its form.

        Slack wants the form opened within 3 seconds of the press (its ``trigger_id``
        expires). The submission comes back as a ``view_submission`` that
        ``ingest.actions("slack", ...)`` turns into the resolve or note.

        Returns:
            True when a form was opened; False when ``body`` is any other request.

        Raises:
            DeliveryError: Slack refused (or this notifier has no bot token).
        """
        return run(self.open_form_steps(body), self._http.ports)

    def incident_channel(self, message: Notification) -> str | None:
        """Open the incident's own channel, invite to it, or archive it (``message.kind``).

        ``channel``: ``conversations.create`` with the name in ``message.room`` (a
        ``name_taken`` is ours only when our bot made it for this incident), its purpose
        naming the incident, ``conversations.invite`` for each Slack user in ``message.to``,
        the incident's message with its buttons posted there, and a pointer
        (``<#channel>``) in the alerts thread; returns ``CHANNEL:TS``. ``invite``: invites
        ``message.to`` to the channel ``message.room``; ``archive``: archives it.
        Scopes: ``channels:manage``, ``channels:read`` and ``chat:write`` (the channels it
        makes are public ones).

        Raises:
            DeliveryError: Slack refused (permanent: a channel of that name not ours, a
                missing scope) or did not answer (retried).
        """
        steps = self.incident_channel_steps(message, deadline_for(message))
        return run(steps, self._http.ports)


class AsyncSlackNotifier(_Slack[AsyncHttpClient], AwaitedSend):
    """:class:`SlackNotifier` on an :class:`AsyncHttpClient`: same arguments, awaited ``send``."""

    async def open_form(self, body: bytes | str | Mapping[str, Any]) -> bool:
        """If ``body`` is a press of our Resolve or Add note button, open its form (awaited)."""
        return await run_async(self.open_form_steps(body), self._http.ports)

    async def incident_channel(self, message: Notification) -> str | None:
        """:meth:`SlackNotifier.incident_channel`, awaited."""
        steps = self.incident_channel_steps(message, deadline_for(message))
        return await run_async(steps, self._http.ports)


def metadata(message: Notification) -> dict[str, Any]:
    """Message metadata naming the incident and the message on Slack's side too.

    It is how a resent message is found before it is posted again.
    """
    return {
        "event_type": "incident_flow_message",
        "event_payload": {
            "incident_id": message.incident_id,
            "kind": message.kind,
            "idempotency_key": message.idempotency_key,
        },
    }


def _parse_thread(thread: str | None) -> tuple[str, str] | None:
    if not thread or ":" not in thread:
        return None
    channel, _, ts = thread.partition(":")
    return (channel, ts) if channel and ts else None


def _message_title(data: Mapping[str, Any]) -> str:
    """The pressed message's text (its fallback ``text``), for the form's context line."""
    message = data.get("message")
    text = message.get("text") if isinstance(message, dict) else None
    return str(text)[:200] if text else ""
