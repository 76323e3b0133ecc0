"""Steps: I/O written once, run by a blocking or an awaiting driver (the sans-I/O pattern).

Logic that talks to the outside world (the flow's load -> decide -> append -> deliver loop,
the HTTP retry rules) is written as a generator that *yields* each call it needs as data
(``yield from call("store", "append", ...)``) and receives the answer back. It never performs
I/O itself, so it is the same code under both drivers:

- :func:`run` performs each call by calling the port's method (the sync drivers);
- :func:`run_async` performs it and awaits the answer when the port's method returns an
  awaitable (the async drivers), so an in-memory port that never blocks can be used as is.

An exception a call raises is thrown back into the generator at its ``yield``, exactly as if
the generator had called the port itself.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator, Mapping
from typing import Any, TypeVar

__all__ = ["Call", "Steps", "call", "run", "run_async"]

T = TypeVar("T")

#: One call a step needs: (port name, method name, positional args, keyword args).
Call = tuple[str, str, tuple[Any, ...], dict[str, Any]]
#: A generator of calls that returns a ``T``.
Steps = Generator[Call, Any, T]


def call(port: str, method: str, *args: Any, **kwargs: Any) -> Steps[Any]:
    """Yield one call to ``port.method(*args, **kwargs)`` and return its answer."""
    return (yield (port, method, args, kwargs))


def run(steps: Steps[T], ports: Mapping[str, object] | Callable[[str], object]) -> T:
    """Drive ``steps`` to its result, performing each call on ``ports`` (blocking)."""
    resolve = ports if callable(ports) else ports.__getitem__
    try:
        request = next(steps)
        while True:
            port, method, args, kwargs = request
            try:
                answer = getattr(resolve(port), method)(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - handed to the steps, which decide
                request = steps.throw(exc)
            else:
                request = steps.send(answer)
    except StopIteration as done:
        result: T = done.value
        return result
    finally:
        steps.close()


async def run_async(steps: Steps[T], ports: Mapping[str, object] | Callable[[str], object]) -> T:
    """Drive ``steps`` to its result, awaiting each call whose port method returns an awaitable."""
    resolve = ports if callable(ports) else ports.__getitem__
    try:
        request = next(steps)
        while True:
            port, method, args, kwargs = request
            try:
                answer = getattr(resolve(port), method)(*args, **kwargs)
                if inspect.isawaitable(answer):
                    answer = await answer
            except Exception as exc:  # noqa: BLE001 - handed to the steps, which decide
                request = steps.throw(exc)
            else:
                request = steps.send(answer)
    except StopIteration as done:
        result: T = done.value
        return result
    finally:
        steps.close()
