"""Closing a store within a bound, whether its close is sync or async, with a timeout or not."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

__all__ = ["close_within", "maybe"]


async def close_within(store: Any, within: float) -> None:
    """Close the store, waiting ``within`` seconds at most (a pool whose server is away)."""
    closing = store.close(timeout=within) if _takes_timeout(store.close) else store.close()
    async with asyncio.timeout(within + 0.5):
        await maybe(closing)


def _takes_timeout(method: Any) -> bool:
    try:
        return "timeout" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False


async def maybe(value: Any) -> Any:
    """``value`` awaited when it is awaitable (a sync or an async port's answer)."""
    return await value if inspect.isawaitable(value) else value
