"""A channel wrapped so that the service's metrics count its deliveries and failures."""

from __future__ import annotations

import inspect
from typing import Any

from .._core.messages import Notification
from ._metrics import ServiceMetrics

__all__ = ["Counted", "counted"]


def counted(port: Any, channel: str, metrics: ServiceMetrics) -> Counted:
    """``port`` counted; a chat notifier that opens incident channels keeps doing so."""
    kind = CountedRooms if hasattr(port, "incident_channel") else Counted
    return kind(port, channel, metrics)


class Counted:
    """A channel whose deliveries and failures the metrics count."""

    def __init__(self, port: Any, channel: str, metrics: ServiceMetrics) -> None:
        self.port = port
        self.channel = channel
        self.metrics = metrics

    def __repr__(self) -> str:
        return repr(self.port)

    async def send(self, message: Notification) -> str | None:
        return await self._count(self.port.send, message)

    async def _count(self, method: Any, message: Notification) -> str | None:
        try:
            answer = method(message)
            if inspect.isawaitable(answer):
                answer = await answer
        except Exception:
            self.metrics.failures.labels(self.channel).inc()
            raise
        self.metrics.delivered(self.channel, message.kind)
        receipt: str | None = answer
        return receipt


class CountedRooms(Counted):
    """A counted chat notifier that opens, invites to and archives incident channels.

    The flow asks the notifier for ``incident_channel`` and, without it, keeps every
    incident in its thread: the wrapper must not hide it.
    """

    async def incident_channel(self, message: Notification) -> str | None:
        """The notifier's ``incident_channel``, counted as a delivery of its kind."""
        return await self._count(self.port.incident_channel, message)
