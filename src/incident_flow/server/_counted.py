"""A channel wrapped so that the service's metrics count its deliveries and failures."""

from __future__ import annotations

import inspect
from typing import Any

from .._core.messages import Notification
from ._metrics import ServiceMetrics

__all__ = ["Counted"]


class Counted:
    """A channel whose deliveries and failures the metrics count."""

    def __init__(self, port: Any, channel: str, metrics: ServiceMetrics) -> None:
        self.port = port
        self.channel = channel
        self.metrics = metrics

    def __repr__(self) -> str:
        return repr(self.port)

    async def send(self, message: Notification) -> str | None:
        try:
            answer = self.port.send(message)
            if inspect.isawaitable(answer):
                answer = await answer
        except Exception:
            self.metrics.failures.labels(self.channel).inc()
            raise
        self.metrics.delivered(self.channel, message.kind)
        receipt: str | None = answer
        return receipt
