"""The flow a configuration describes: its store, chat, pager and publisher, sync or async."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._core.messages import Notification
from .._drivers.async_flow import AsyncIncidentFlow
from .._drivers.flow import IncidentFlow
from ..adapters.channels.notifiers import LogNotifier
from ..adapters.publishers.folder import FolderPublisher
from ._config import ServiceConfig

__all__ = ["AsyncFanOutPager", "FanOutPager", "async_flow", "store_for", "sync_flow"]

#: Seconds the service's PostgreSQL pool waits for a connection before a request fails (503).
POOL_TIMEOUT = 3.0
#: ``[slack]`` keys about Slack's requests to us, not about posting.
_NOT_FOR_THE_NOTIFIER = ("signing_secret", "dm_pager", "team_id", "api_app_id", "command")


class FanOutPager:
    """Pages through every configured pager (PagerDuty and Opsgenie both, say).

    Each pager keeps its own idempotency by the message's key; the first failure is raised
    after all were tried, so the outbox retries the message (the ones that succeeded dedupe).
    """

    def __init__(self, *pagers: Any) -> None:
        self.pagers = pagers

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(repr(p) for p in self.pagers)})"

    def send(self, message: Notification) -> str | None:
        """Send through each pager; return the receipts joined."""
        receipts: list[str] = []
        failure: Exception | None = None
        for pager in self.pagers:
            try:
                receipt = pager.send(message)
            except Exception as exc:  # noqa: BLE001 - tried all, then the first one is raised
                failure = failure or exc
            else:
                if receipt:
                    receipts.append(str(receipt))
        if failure is not None:
            raise failure
        return ",".join(receipts) or None


class AsyncFanOutPager(FanOutPager):
    """:class:`FanOutPager` for the async flow: each pager awaited in turn."""

    async def send(self, message: Notification) -> str | None:  # type: ignore[override]
        """Send through each pager; return the receipts joined."""
        receipts: list[str] = []
        failure: Exception | None = None
        for pager in self.pagers:
            try:
                receipt = await pager.send(message)
            except Exception as exc:  # noqa: BLE001 - tried all, then the first one is raised
                failure = failure or exc
            else:
                if receipt:
                    receipts.append(str(receipt))
        if failure is not None:
            raise failure
        return ",".join(receipts) or None


def store_for(config: ServiceConfig) -> Any:
    """The (sync) store the configuration names, its tables created."""
    return _store(config, asynchronous=False)


def _store(config: ServiceConfig, *, asynchronous: bool) -> Any:
    if config.store.startswith(("postgresql://", "postgres://")):
        if asynchronous:
            from ..adapters.stores.postgres_async import AsyncPostgresStore  # noqa: PLC0415

            # A service waits a few seconds for a connection, not 30: a webhook the store
            # cannot take is answered 503 soon, and its sender retries.
            return AsyncPostgresStore(config.store, schema=config.schema, timeout=POOL_TIMEOUT)
        from ..adapters.stores.postgres import PostgresStore  # noqa: PLC0415

        return PostgresStore(config.store, schema=config.schema)
    from ..adapters.stores.sqlite import SQLiteStore  # noqa: PLC0415

    Path(config.store).parent.mkdir(parents=True, exist_ok=True)
    return SQLiteStore(config.store)


def _channels(config: ServiceConfig, *, asynchronous: bool) -> tuple[Any, Any]:
    """The chat notifier and the pager the configuration names (log-only when none)."""
    from .. import adapters  # noqa: PLC0415 - the HTTP adapters need httpx: only when asked

    chat: Any = LogNotifier("chat")
    if config.slack:
        slack_cls = adapters.AsyncSlackNotifier if asynchronous else adapters.SlackNotifier
        slack = {k: v for k, v in config.slack.items() if k not in _NOT_FOR_THE_NOTIFIER}
        settings: dict[str, Any] = {k: str(v) for k, v in slack.items()}
        chat = slack_cls(**settings)
    elif config.webhook:
        hook_cls = adapters.AsyncWebhookNotifier if asynchronous else adapters.WebhookNotifier
        secret = config.webhook.get("secret")
        chat = hook_cls(str(config.webhook["url"]), secret=str(secret) if secret else None)
    pagers: list[Any] = []
    if config.pagerduty:
        pd_cls = adapters.AsyncPagerDutyPager if asynchronous else adapters.PagerDutyPager
        pd = config.pagerduty
        pd_url: dict[str, Any] = {"url": str(pd["url"])} if pd.get("url") else {}
        pagers.append(pd_cls(str(pd["routing_key"]), **pd_url))
    if config.opsgenie:
        og_cls = adapters.AsyncOpsgeniePager if asynchronous else adapters.OpsgeniePager
        og = config.opsgenie
        og_url: dict[str, Any] = {"url": str(og["url"])} if og.get("url") else {}
        pagers.append(og_cls(str(og["api_key"]), **og_url))
    if config.slack and config.slack.get("dm_pager"):
        dm_cls = adapters.AsyncSlackDMPager if asynchronous else adapters.SlackDMPager
        from ..adapters.channels.slack import API_URL as SLACK_API  # noqa: PLC0415

        token = str(config.slack["token"])
        slack_api = str(config.slack.get("api_url") or SLACK_API)
        pagers.append(dm_cls(token=token, people=config.policy.people, api_url=slack_api))
    if config.twilio:
        from ..adapters.channels.twilio import API_URL as TWILIO_API  # noqa: PLC0415

        tw_cls = adapters.AsyncTwilioSmsPager if asynchronous else adapters.TwilioSmsPager
        tw = config.twilio
        pagers.append(
            tw_cls(
                account_sid=str(tw["account_sid"]),
                auth_token=str(tw["auth_token"]),
                from_number=str(tw["from_number"]),
                people=config.policy.people,
                api_url=str(tw.get("api_url") or TWILIO_API),
            )
        )
    if not pagers:
        return chat, LogNotifier("pager")
    if len(pagers) == 1:
        return chat, pagers[0]
    return chat, (AsyncFanOutPager if asynchronous else FanOutPager)(*pagers)


def _publisher(config: ServiceConfig) -> Any:
    settings = config.publisher
    kind = settings.get("kind", "folder")
    if kind == "git":
        from ..adapters.publishers.git import GitPublisher  # noqa: PLC0415

        return GitPublisher(
            settings["repository"],
            base=settings.get("base", "main"),
            remote=settings.get("remote") or None,
        )
    if kind == "github":
        from ..adapters.publishers.github import API_URL, GitHubPublisher  # noqa: PLC0415

        return GitHubPublisher(
            str(settings["repository"]),
            str(settings["token"]),
            base=settings.get("base", "main"),
            api_url=settings.get("api_url", API_URL),
        )
    return FolderPublisher.for_policy(config.policy, settings.get("folder") or None)


def _tracker(config: ServiceConfig, *, asynchronous: bool) -> Any:
    settings = config.tracker
    if settings is None:
        return None
    if settings.get("kind") == "jira":
        from ..adapters.trackers.jira import AsyncJiraTracker, JiraTracker  # noqa: PLC0415

        jira = AsyncJiraTracker if asynchronous else JiraTracker
        return jira(str(settings["site"]), str(settings["email"]), str(settings["api_token"]))
    from ..adapters.trackers.github import API_URL, AsyncGitHubTracker, GitHubTracker  # noqa: PLC0415

    github = AsyncGitHubTracker if asynchronous else GitHubTracker
    return github(str(settings["token"]), api_url=settings.get("api_url", API_URL))


def _ports(config: ServiceConfig, overrides: dict[str, Any], *, asynchronous: bool) -> Any:
    chat, pager = _channels(config, asynchronous=asynchronous)
    ports: dict[str, Any] = {
        "store": _store(config, asynchronous=asynchronous),
        "notifier": chat,
        "pager": pager,
        "publisher": _publisher(config),
        "tracker": _tracker(config, asynchronous=asynchronous),
    }
    ports.update(overrides)
    return ports


def sync_flow(config: ServiceConfig, **overrides: Any) -> IncidentFlow:
    """An :class:`IncidentFlow` on the configured store and channels (what the CLI runs)."""
    return IncidentFlow(config.policy, **_ports(config, overrides, asynchronous=False))


def async_flow(config: ServiceConfig, **overrides: Any) -> AsyncIncidentFlow:
    """An :class:`AsyncIncidentFlow` on the configured store and channels (what serve runs).

    An :class:`~incident_flow.AsyncPostgresStore` must be opened (``await store.open()``)
    before use; :func:`~incident_flow.server.create_app`'s lifespan does it.
    """
    return AsyncIncidentFlow(config.policy, **_ports(config, overrides, asynchronous=True))
