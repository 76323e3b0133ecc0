"""What the tracker adapters share: the HTTP client, secrets, and sync / async faces.

Each tracker writes its calls once, as steps (``open_steps``, ``close_steps``,
``status_steps``) on the shared HTTP rules of :mod:`.._http`; its blocking class runs them
on an :class:`~incident_flow.adapters.HttpClient`, its async class awaits them on an
:class:`~incident_flow.adapters.AsyncHttpClient`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping
from typing import Any, Generic

from ..._core.steps import Steps, run, run_async
from ..._core.trackers import FollowUp, TrackerIssue
from .._http import AsyncHttpClient, ClientT, HttpClient


class TrackerAdapter(ABC, Generic[ClientT]):
    """A tracker over HTTP: its client (made when not given) knows the secrets to hide."""

    kind: str
    client_type: Callable[[], ClientT]

    def __init__(self, client: ClientT | None, *secrets: str | None) -> None:
        self._made_client = client is None
        self._http: ClientT = client if client is not None else self.client_type()
        self._http.redact.add(*secrets)

    @abstractmethod
    def headers(self) -> Mapping[str, str]:
        """The headers of every request (its credentials)."""

    def call(
        self,
        method: str,
        url: str,
        payload: Mapping[str, Any] | None = None,
        *,
        what: str,
        accept: Collection[int] = (),
        idempotent: bool = True,
    ) -> Steps[tuple[int, Any]]:
        """One request with the shared retry rules; its status and its JSON (or None).

        ``idempotent=False`` (a create, a comment): retried here only when it surely never
        arrived; otherwise the outbox retries it, flagged ``resent``, and the adapter looks
        for what the lost attempt made before making it again.
        """
        response = yield from self._http.request_steps(
            method,
            url,
            payload,
            self.headers(),
            what=f"{self.kind} {what}",
            accept=accept,
            idempotent=idempotent,
        )
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        return response.status_code, body

    @abstractmethod
    def open_steps(self, follow_up: FollowUp) -> Steps[TrackerIssue]:
        """Open (or find) the item's issue, as steps."""

    @abstractmethod
    def close_steps(self, issue: TrackerIssue, comment: str) -> Steps[TrackerIssue]:
        """Comment and close the issue, as steps."""

    @abstractmethod
    def status_steps(self, issue: TrackerIssue) -> Steps[TrackerIssue]:
        """Read the issue, as steps."""


class BlockingTracker(TrackerAdapter[HttpClient]):
    """A tracker adapter on an :class:`HttpClient`: its methods block."""

    client_type = HttpClient

    def open(self, follow_up: FollowUp) -> TrackerIssue:
        """Open the item's issue, or find the one an earlier attempt opened."""
        return run(self.open_steps(follow_up), self._http.ports)

    def close(self, issue: TrackerIssue, comment: str) -> TrackerIssue:
        """Say ``comment`` on the issue and close it (a closed one is left as it is)."""
        return run(self.close_steps(issue, comment), self._http.ports)

    def status(self, issue: TrackerIssue) -> TrackerIssue:
        """The issue as it is now."""
        return run(self.status_steps(issue), self._http.ports)

    def close_client(self) -> None:
        """Close the HTTP client this adapter made."""
        if self._made_client:
            self._http.close()


class AwaitedTracker(TrackerAdapter[AsyncHttpClient]):
    """A tracker adapter on an :class:`AsyncHttpClient`: its methods are awaited."""

    client_type = AsyncHttpClient

    async def open(self, follow_up: FollowUp) -> TrackerIssue:
        """See :meth:`BlockingTracker.open`."""
        return await run_async(self.open_steps(follow_up), self._http.ports)

    async def close(self, issue: TrackerIssue, comment: str) -> TrackerIssue:
        """See :meth:`BlockingTracker.close`."""
        return await run_async(self.close_steps(issue, comment), self._http.ports)

    async def status(self, issue: TrackerIssue) -> TrackerIssue:
        """See :meth:`BlockingTracker.status`."""
        return await run_async(self.status_steps(issue), self._http.ports)

    async def aclose(self) -> None:
        """Close the HTTP client this adapter made (a client passed in is its owner's)."""
        if self._made_client:
            await self._http.aclose()
