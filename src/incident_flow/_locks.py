"""Per-key locks: one flow runs one command at a time per incident (and per alert dedup key).

Without them, callers of ONE flow racing on one incident (an alert storm re-sending one
alert, a Slack channel clicking at once) would each decide on the same version and all but one
would lose the append; past the retry budget they would see ConcurrencyError, and an alert
could be dropped. Queueing them in the process costs nothing and leaves optimistic
concurrency for what it is for: other processes. A lock lives while someone holds or awaits it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

__all__ = ["AsyncKeyedLocks", "KeyedLocks"]


class KeyedLocks:
    """Re-entrant thread locks by key (a channel that calls back into the flow may re-enter)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.RLock, list[int]]] = {}

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        """Hold ``key``'s lock for the block."""
        with self._guard:
            lock, users = self._locks.setdefault(key, (threading.RLock(), [0]))
            users[0] += 1
        try:
            with lock:
                yield
        finally:
            with self._guard:
                users[0] -= 1
                if not users[0]:
                    del self._locks[key]

    def __len__(self) -> int:
        return len(self._locks)


class AsyncKeyedLocks:
    """asyncio locks by key, for the tasks of one event loop."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Hold ``key``'s lock for the block."""
        lock, users = self._locks.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._locks[key]

    def __len__(self) -> int:
        return len(self._locks)
