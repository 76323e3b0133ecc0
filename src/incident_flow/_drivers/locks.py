"""Per-key locks: one flow runs one command at a time per incident (and per alert dedup key).

Without them, callers of ONE flow racing on one incident (an alert storm re-sending one
alert, a Slack channel clicking at once) would each decide on the same version and all but one
would lose the append; past the retry budget they would see ConcurrencyError, and an alert
could be dropped. Queueing them in the process costs little and leaves optimistic concurrency
for what it is for: other processes. A lock lives while someone holds or awaits it.

The shared steps take them: ``yield from call("locks", "acquire", key)`` (blocking for the sync
driver, awaited for the async one), then ``locks.release(key)`` directly, in a ``finally``.
Order: an alert's key before its incident's; nothing takes them the other way round.
"""

from __future__ import annotations

import asyncio
import threading

__all__ = ["AsyncKeyedLocks", "KeyedLocks"]


class KeyedLocks:
    """Re-entrant thread locks by key (a channel that calls back into the flow may re-enter)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.RLock, list[int]]] = {}

    def acquire(self, key: str) -> None:
        """Wait for ``key``'s lock and take it."""
        with self._guard:
            lock, users = self._locks.setdefault(key, (threading.RLock(), [0]))
            users[0] += 1
        lock.acquire()

    def try_acquire(self, key: str) -> bool:
        """Take ``key``'s lock if no other thread holds it (this one may, again); never wait."""
        with self._guard:
            lock, users = self._locks.setdefault(key, (threading.RLock(), [0]))
            if not lock.acquire(blocking=False):
                if not users[0]:
                    del self._locks[key]  # pragma: no cover - only a holder keeps it taken
                return False
            users[0] += 1
            return True

    def release(self, key: str) -> None:
        """Give ``key``'s lock back (by the thread that took it)."""
        with self._guard:
            lock, users = self._locks[key]
            users[0] -= 1
            if not users[0]:
                del self._locks[key]
        lock.release()

    def __len__(self) -> int:
        return len(self._locks)


class AsyncKeyedLocks:
    """asyncio locks by key, for the tasks of one event loop (not re-entrant)."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}

    async def acquire(self, key: str) -> None:
        """Wait for ``key``'s lock and take it (a cancelled wait takes nothing)."""
        lock, users = self._locks.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            await lock.acquire()
        except BaseException:
            self._forget(key, users)
            raise

    def try_acquire(self, key: str) -> bool:
        """Take ``key``'s lock if nobody holds or awaits it (this task neither); never wait."""
        if key in self._locks:
            return False
        lock = asyncio.Lock()
        taking = lock.acquire()
        try:
            taking.send(None)  # a free lock is taken without awaiting anything
        except StopIteration:
            self._locks[key] = (lock, [1])
            return True
        taking.close()  # pragma: no cover - a new lock is free
        return False  # pragma: no cover

    def release(self, key: str) -> None:
        """Give ``key``'s lock back."""
        lock, users = self._locks[key]
        self._forget(key, users)
        lock.release()

    def _forget(self, key: str, users: list[int]) -> None:
        users[0] -= 1
        if not users[0]:
            del self._locks[key]

    def __len__(self) -> int:
        return len(self._locks)
