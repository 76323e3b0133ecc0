"""Running async ports and flows from sync test bodies, so one suite covers both drivers."""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, Self, TypeVar

__all__ = ["Blocking", "LoopThread"]

T = TypeVar("T")
O = TypeVar("O")  # noqa: E741 - the wrapped object's type


class LoopThread:
    """An event loop running on its own daemon thread, for sync code that drives async code.

    ``run(awaitable)`` blocks the calling thread until the awaitable is done on the loop and
    returns its result (or raises its exception). Any number of threads may call it at once,
    which is how a test makes async callers race. One loop for a whole test keeps loop-bound
    resources (an ``httpx.AsyncClient``, a psycopg pool) usable across calls.

    Args:
        debug: run the loop in asyncio's debug mode (slow callbacks are logged).
        slow_callback: with ``debug``, the seconds a callback may hold the loop before asyncio
            logs it as slow (a blocking call inside async code).
    """

    def __init__(self, *, debug: bool = False, slow_callback: float = 0.1) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.set_debug(debug)
        self.loop.slow_callback_duration = slow_callback
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="incident_flow-loop", daemon=True
        )
        self._thread.start()

    def run(self, awaitable: Awaitable[T]) -> T:
        """Run ``awaitable`` on the loop and wait for its result.

        Raises:
            RuntimeError: called on the loop's own thread (it would wait for itself forever).
        """
        if threading.get_ident() == self._thread.ident and inspect.iscoroutine(awaitable):
            awaitable.close()  # refused below: never to be awaited
        self._not_on_the_loop("run")

        async def wrapped() -> T:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result()

    def close(self) -> None:
        """Stop the loop and its thread, after cancelling what still runs on it."""
        if self.loop.is_closed():
            return
        self._not_on_the_loop("close")

        async def cancel_rest() -> None:
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.loop.shutdown_asyncgens()
            # Not shutdown_default_executor(): a sync channel stuck on a worker thread would
            # hang it; loop.close() shuts the executor down without waiting.

        asyncio.run_coroutine_threadsafe(cancel_rest(), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()

    def _not_on_the_loop(self, what: str) -> None:
        if threading.get_ident() == self._thread.ident:
            msg = (
                f"LoopThread.{what}() called on the loop's own thread (from a port the flow "
                "calls inline?): it would wait for itself"
            )
            raise RuntimeError(msg)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Blocking(Generic[O]):
    """A sync view of an async object: a method whose call returns an awaitable is run to its end.

    ``Blocking(AsyncIncidentFlow(...), loop).acknowledge(i, by="a")`` returns the incident, as
    ``IncidentFlow.acknowledge`` does; attributes and sync methods pass through unchanged. The
    contract suites use it to run one test body against both drivers.
    """

    def __init__(self, target: O, loop: LoopThread) -> None:
        object.__setattr__(self, "target", target)
        object.__setattr__(self, "_loop", loop)

    def __setattr__(self, name: str, value: object) -> None:
        setattr(self.target, name, value)

    def __repr__(self) -> str:
        return f"Blocking({self.target!r})"

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.target, name)
        if not callable(value) or inspect.isclass(value):
            # A port of an async flow (its store...) gets a sync face too.
            return Blocking(value, self._loop) if is_async_port(value) else value

        @functools.wraps(value)
        def blocking(*args: Any, **kwargs: Any) -> Any:
            if inspect.iscoroutinefunction(value):
                return self._loop.run(_call(value, args, kwargs))
            result = value(*args, **kwargs)
            return self._loop.run(result) if inspect.isawaitable(result) else result

        return blocking


async def _call(
    function: Callable[..., Coroutine[Any, Any, T]], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> T:
    # The coroutine is created on the loop's thread, so that it sees the loop as running.
    return await function(*args, **kwargs)


#: The two drivers every contract test body runs under.
DRIVERS = ("sync", "async")


def is_async_port(port: object) -> bool:
    """Whether ``port``'s port method (append, send, publish or close) is a coroutine function."""
    return any(
        inspect.iscoroutinefunction(getattr(port, name, None))
        for name in ("append", "send", "publish", "close")
    )


def _loop(request: Any) -> LoopThread:
    loop: LoopThread = request.getfixturevalue("loop")
    return loop


def as_driven(port: Any, driver: str, to_async: Callable[[Any], Any], request: Any) -> Any:
    """``port`` as ``driver`` calls it, with a sync face for a test body.

    Under ``sync`` a sync port is itself (an async one is run on the test's loop); under
    ``async`` the port is what AsyncIncidentFlow makes of it (``to_async``: inline, threaded or
    awaited), run on the test's loop.
    """
    if driver == "sync":
        return Blocking(port, _loop(request)) if is_async_port(port) else port
    return Blocking(to_async(port), _loop(request))


def flow_for(driver: str, request: Any, *args: Any, **ports: Any) -> Any:
    """An ``IncidentFlow`` (``sync``) or a sync face of an ``AsyncIncidentFlow`` (``async``).

    ``args`` and ``ports`` are IncidentFlow's arguments (the policy, the ports...); under
    ``sync``, an async port is given a sync face on the test's loop; under ``async``,
    AsyncIncidentFlow takes them as they are.
    """
    from .._drivers.async_flow import AsyncIncidentFlow  # noqa: PLC0415 - the flows import the adapters
    from .._drivers.flow import IncidentFlow  # noqa: PLC0415

    if driver == "sync":
        synced: dict[str, Any] = {
            name: Blocking(port, _loop(request)) if is_async_port(port) else port
            for name, port in ports.items()
        }
        return IncidentFlow(*args, **synced)
    return Blocking(AsyncIncidentFlow(*args, **ports), _loop(request))
