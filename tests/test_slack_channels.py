"""The Slack notifiers open, invite to and archive an incident's channel (sync and async).

Against FakeSlack (tests/vendors.py), which answers ``conversations.*`` and ``auth.test`` with
the bodies of Slack's method pages. One test body runs on both classes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from incident_flow import DeliveryError, Notification, Severity
from incident_flow.adapters._http import AsyncHttpClient, HttpClient
from incident_flow.adapters.channels.slack import AsyncSlackNotifier, SlackNotifier
from incident_flow.ports import AsyncChannelOpener, ChannelOpener
from incident_flow.testing._async import Blocking, LoopThread

from .vendors import CHANNEL, SERVER_ERROR, TOKEN, FakeSlack

NAME = "inc-2026-12-07-checkout-errors"
ID = "inc-3f2a9c1d0b7e"


@pytest.fixture
def slack(httpserver: HTTPServer) -> FakeSlack:
    return FakeSlack(httpserver)


@pytest.fixture(params=["sync", "async"])
def make(request: pytest.FixtureRequest, slack: FakeSlack) -> Iterator[Callable[..., Any]]:
    """Makes a Slack notifier (a sync face over the async one under ``async``)."""
    loop = LoopThread() if request.param == "async" else None
    made: list[Any] = []

    def notifier(**settings: Any) -> Any:
        options: dict[str, Any] = {"token": TOKEN, "channel": CHANNEL, "api_url": slack.api_url}
        options.update(settings)
        if loop is None:
            made.append(SlackNotifier(client=HttpClient(sleep=lambda _: None), **options))
            return made[-1]
        client = AsyncHttpClient(sleep=_no_sleep, timeout=5)
        made.append(AsyncSlackNotifier(client=client, **options))
        return Blocking(made[-1], loop)

    if loop is None:
        yield notifier
        return
    with loop:
        yield notifier


async def _no_sleep(seconds: float) -> None:
    return None


def _opening(thread: str | None, *, resent: bool = False, **more: Any) -> Notification:
    fields: dict[str, Any] = {
        "incident_id": ID,
        "kind": "channel",
        "text": f"Incident channel #{NAME}",
        "title": "Checkout <!channel> errors",
        "severity": Severity.P1,
        "state": "notified",
        "idempotency_key": f"{ID}/4/chat/channel",
        "to": ("U0ALICE01",),
        "room": NAME,
        "thread": thread,
        "resent": resent,
        "since": datetime.fromtimestamp(1748959000, UTC),
    }
    fields.update(more)
    return Notification(**fields)


def _first(notifier: Any) -> str:
    """The incident's first message in the alerts channel: its receipt is the thread."""
    notify = attrs.evolve(_opening(None), kind="notify", text="[P1] Checkout errors", room=None)
    receipt: str = notifier.send(notify)
    return receipt


class TestOpening:
    """A channel is created once, furnished, and pointed to from the alerts thread."""

    def test_opens_invites_posts_and_points(
        self, make: Callable[..., Any], slack: FakeSlack
    ) -> None:
        notifier = make()
        thread = _first(notifier)
        receipt = notifier.incident_channel(_opening(thread))
        room = slack.named(NAME)
        assert room is not None
        assert receipt.startswith(f"{room['id']}:")
        assert room["creator"] == slack.bot_user
        assert room["purpose"]["value"].endswith(f"[incident_flow:{ID}]")
        assert "&lt;!channel&gt;" in room["purpose"]["value"]  # the title is text, not a ping
        assert slack.members[room["id"]] == [slack.bot_user, "U0ALICE01"]
        (posted,) = slack.room_messages(room["id"])
        assert receipt == f"{room['id']}:{posted['ts']}"
        actions = [b for b in posted["blocks"] if b["type"] == "actions"]
        assert [e["value"] for e in actions[0]["elements"]] == [ID] * 4  # the buttons
        (pointer,) = slack.thread(thread.partition(":")[2])
        assert pointer["text"] == f"Incident channel: <#{room['id']}>"
        assert pointer["channel"] == CHANNEL

    def test_a_resend_finds_what_it_made(self, make: Callable[..., Any], slack: FakeSlack) -> None:
        """Sent again (its answer lost), it makes no second channel, message or pointer."""
        notifier = make()
        thread = _first(notifier)
        first = notifier.incident_channel(_opening(thread))
        again = notifier.incident_channel(_opening(thread, resent=True))
        assert again == first
        assert len([c for c in slack.conversations.values() if c["name"] == NAME]) == 1
        assert len(slack.room_messages(first.partition(":")[0])) == 1
        assert len(slack.thread(thread.partition(":")[2])) == 1

    def test_a_create_whose_answer_was_lost(
        self, make: Callable[..., Any], slack: FakeSlack
    ) -> None:
        """Slack made the channel but the answer never came: the next attempt adopts it."""
        notifier = make()
        thread = _first(notifier)
        slack.lose_create.append(SERVER_ERROR)
        with pytest.raises(DeliveryError) as lost:
            notifier.incident_channel(_opening(thread))
        assert not lost.value.permanent  # retried, not fallen back
        assert slack.calls.count("conversations.create") == 1  # never repeated blindly
        room = slack.named(NAME)
        assert room is not None
        assert room["purpose"]["value"] == ""  # made, nothing more
        receipt = notifier.incident_channel(_opening(thread, resent=True))
        assert receipt.startswith(f"{room['id']}:")
        assert len(slack.conversations) == 1
        assert room["purpose"]["value"].endswith(f"[incident_flow:{ID}]")

    def test_a_failure_after_creating_is_retried(
        self, make: Callable[..., Any], slack: FakeSlack
    ) -> None:
        notifier = make()
        thread = _first(notifier)
        slack.fail_method("conversations.setPurpose", SERVER_ERROR, times=3)  # and its retries
        with pytest.raises(DeliveryError, match="setPurpose") as failed:
            notifier.incident_channel(_opening(thread))
        assert not failed.value.permanent  # the channel exists: retried, found by its name
        receipt = notifier.incident_channel(_opening(thread, resent=True))
        assert receipt.startswith(slack.named(NAME)["id"])  # type: ignore[index]
        assert len(slack.conversations) == 1


class TestNotOurs:
    """A channel of that name we did not make for this incident is never used."""

    @pytest.mark.parametrize(
        "channel",
        [
            {"creator": "U0SOMEONE"},  # a person's channel
            {"creator": "U0BOT0001", "purpose": "Other [incident_flow:inc-000000000000]"},
            {"creator": "U0BOT0001", "purpose": f"[incident_flow:{ID}]", "is_ext_shared": True},
            {"creator": "U0BOT0001", "purpose": f"[incident_flow:{ID}] tail"},
            {"creator": "U0BOT0001", "created": 1000},  # no purpose, made long before
        ],
    )
    def test_a_taken_name_falls_back(
        self, make: Callable[..., Any], slack: FakeSlack, channel: dict[str, Any]
    ) -> None:
        channel = dict(channel)  # the parameter is shared by both runs
        created = channel.pop("created", None)
        taken = slack.channel(NAME, **channel)
        if created is not None:
            taken["created"] = created
        notifier = make()
        thread = _first(notifier)
        with pytest.raises(DeliveryError, match="name_taken") as refused:
            notifier.incident_channel(_opening(thread))
        assert refused.value.permanent
        assert slack.room_messages(taken["id"]) == []
        assert slack.members[taken["id"]] == [taken["creator"]]
        assert "conversations.setPurpose" not in slack.calls

    def test_found_among_many(self, make: Callable[..., Any], slack: FakeSlack) -> None:
        """conversations.list is read page after page."""
        notifier = make()
        thread = _first(notifier)
        for n in range(1500):
            slack.channel(f"other-{n}")
        slack.lose_create.append(SERVER_ERROR)
        with pytest.raises(DeliveryError):
            notifier.incident_channel(_opening(thread))
        receipt = notifier.incident_channel(_opening(thread, resent=True))
        room = slack.named(NAME)
        assert room is not None
        assert receipt.startswith(room["id"])
        assert slack.calls.count("conversations.list") == 2


class TestRefusals:
    """What Slack refuses is said; a refusal to create is permanent (the thread is used)."""

    @pytest.mark.parametrize("error", ["restricted_action", "missing_scope", "invalid_auth"])
    def test_refused(self, make: Callable[..., Any], slack: FakeSlack, error: str) -> None:
        notifier = make()
        thread = _first(notifier)
        slack.fail_next(Response(f'{{"ok": false, "error": "{error}"}}', status=200))
        with pytest.raises(DeliveryError, match=error) as refused:
            notifier.incident_channel(_opening(thread))
        assert refused.value.permanent
        assert slack.conversations == {}

    def test_a_webhook_or_nothing_to_name(self, make: Callable[..., Any], slack: FakeSlack) -> None:
        hook = make(token=None, channel=None, webhook_url=slack.webhook_url)
        with pytest.raises(DeliveryError, match="bot token") as refused:
            hook.incident_channel(_opening(None))
        assert refused.value.permanent
        with pytest.raises(DeliveryError, match="no incident channel named"):
            make().incident_channel(_opening(None, room=None))
        with pytest.raises(DeliveryError, match="no incident channel step 'rename'"):
            make().incident_channel(_opening(None, kind="rename"))

    def test_no_thread_points_from_the_channel(
        self, make: Callable[..., Any], slack: FakeSlack
    ) -> None:
        """Without the alerts thread (not known), the pointer goes to the alerts channel."""
        notifier = make()
        receipt = notifier.incident_channel(_opening(None))
        assert receipt.startswith(slack.named(NAME)["id"])  # type: ignore[index]
        assert [m["text"] for m in slack.top_level() if m["channel"] == CHANNEL] == [
            f"Incident channel: <#{receipt.partition(':')[0]}>"
        ]

    def test_a_lost_pointer_does_not_reopen(
        self, make: Callable[..., Any], slack: FakeSlack
    ) -> None:
        """The channel is open with its message: a pointer Slack refuses is only logged."""
        notifier = make()
        receipt = notifier.incident_channel(_opening("C0NOTHERE:1748959335.001200"))
        room = slack.named(NAME)
        assert room is not None
        assert receipt.startswith(f"{room['id']}:")
        assert [m["channel"] for m in slack.messages] == [room["id"]]


class TestInviteAndArchive:
    """Invitations skip who cannot come; archiving twice is once."""

    def test_invite(self, make: Callable[..., Any], slack: FakeSlack) -> None:
        notifier = make()
        room = slack.channel(NAME, creator=slack.bot_user)["id"]
        users = ("U0BOB0002", "U0NOBODY9", slack.bot_user, "U0BOB0002", "U0CAROL03")
        invite = _opening(None, kind="invite", room=room, to=users)
        assert notifier.incident_channel(invite) == room
        assert slack.members[room] == [slack.bot_user, "U0BOB0002", "U0CAROL03"]

    def test_invite_failing_is_retried(self, make: Callable[..., Any], slack: FakeSlack) -> None:
        notifier = make()
        room = slack.channel(NAME, creator=slack.bot_user)["id"]
        slack.fail_next(SERVER_ERROR, times=5)
        with pytest.raises(DeliveryError) as failed:
            notifier.incident_channel(_opening(None, kind="invite", room=room))
        assert not failed.value.permanent

    def test_archive(self, make: Callable[..., Any], slack: FakeSlack) -> None:
        notifier = make()
        room = slack.channel(NAME, creator=slack.bot_user)["id"]
        archive = _opening(None, kind="archive", room=room)
        assert notifier.incident_channel(archive) == room
        assert notifier.incident_channel(archive) == room  # already archived: fine
        assert slack.conversations[room]["is_archived"]
        with pytest.raises(DeliveryError, match="channel_not_found"):
            notifier.incident_channel(attrs.evolve(archive, room="C0GONE"))


class TestPorts:
    """Both Slack classes are channel openers; the recording double too."""

    def test_protocols(self) -> None:
        sync = SlackNotifier(token=TOKEN, channel=CHANNEL)
        assert isinstance(sync, ChannelOpener)
        assert isinstance(AsyncSlackNotifier(token=TOKEN, channel=CHANNEL), AsyncChannelOpener)


class TestLookups:
    """``name_taken`` by a channel Slack does not list, and a create answer without an id."""

    def test_an_archived_channel_of_that_name(
        self, make: Callable[..., Any], slack: FakeSlack
    ) -> None:
        """Slack keeps archived names taken; never ours to reopen: the thread is used."""
        old = slack.channel(NAME, creator=slack.bot_user, purpose=f"[incident_flow:{ID}]")
        old["is_archived"] = True
        notifier = make()
        with pytest.raises(DeliveryError, match="name_taken") as refused:
            notifier.incident_channel(_opening(_first(notifier)))
        assert refused.value.permanent
        assert slack.calls.count("auth.test") == 1
        with pytest.raises(DeliveryError, match="name_taken"):
            notifier.incident_channel(_opening(None, resent=True))
        assert slack.calls.count("auth.test") == 1  # asked once per notifier

    def test_an_answer_without_a_channel(self, make: Callable[..., Any], slack: FakeSlack) -> None:
        slack.fail_method(
            "conversations.create", Response('{"ok": true, "channel": {}}', status=200)
        )
        with pytest.raises(DeliveryError, match="names no channel") as odd:
            make().incident_channel(_opening(None))
        assert not odd.value.permanent
