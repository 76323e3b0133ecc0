"""Group commit for the asyncio stores: appends that arrive together share one transaction.

An append that finds no commit running starts one at once (no added wait); the appends that
arrive while it runs wait for it, then go together in the next one (``append_each``: each in a
savepoint of its own, so each fails alone). Under load, one flush of the disk serves many
commands; a lone command pays nothing.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence

from ...ports import StreamAppend

__all__ = ["GroupCommit"]

Group = Sequence[StreamAppend]
Waiting = tuple[Group, "asyncio.Future[Exception | None]"]


class GroupCommit:
    """Gathers the appends of concurrent callers and commits them together.

    Args:
        commit: runs one transaction for the groups it is given (``append_each``) and says,
            for each group in order, None (kept) or its error; it is handed a function that
            takes the waiting groups when called, so that a commit queued behind other work
            (a store thread) takes every group that arrived meanwhile.
    """

    def __init__(
        self,
        commit: Callable[[Callable[[], list[Waiting]]], Awaitable[list[Exception | None]]],
    ) -> None:
        self._commit = commit
        self._waiting: list[Waiting] = []
        self._guard = threading.Lock()  # the taking may run on a store thread
        self._running: asyncio.Task[None] | None = None
        #: Transactions committed, and groups they kept or refused: how much was shared.
        self.commits = 0
        self.groups = 0

    async def append(self, group: Group) -> None:
        """Keep ``group`` atomically with the others waiting; raise its own error only."""
        done: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()
        with self._guard:
            self._waiting.append((group, done))
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(self._flush())
        error = await done
        if error is not None:
            raise error

    def _take(self) -> list[Waiting]:
        with self._guard:
            taken, self._waiting = self._waiting, []
        return taken

    async def _flush(self) -> None:
        while True:
            taken: list[Waiting] = []

            def take(taken: list[Waiting] = taken) -> list[Waiting]:
                taken.extend(self._take())
                return taken

            try:
                results = await self._commit(take)
            except Exception as exc:  # noqa: BLE001 - the transaction failed: each caller is told
                if not taken:  # it failed before taking any: those waiting are told, not retried
                    take()
                results = [exc] * len(taken)
            if taken:
                self.commits += 1
                self.groups += len(taken)
            for (_, done), result in zip(taken, results, strict=True):
                if not done.done():
                    done.set_result(result)
            with self._guard:
                if not self._waiting:
                    return
