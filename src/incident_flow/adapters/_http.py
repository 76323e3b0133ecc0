"""The HTTP layer every vendor adapter shares (httpx, extra ``http``).

Timeouts; retries with exponential backoff and jitter for 5xx answers and network errors;
``Retry-After`` honoured on 429 (waited out here when short, handed to the outbox as
``DeliveryError.retry_after`` when long); no retry on a 4xx that will never succeed, reported
with the vendor's error text. Secrets given to the client never appear in an error message.

The rules are written once, as steps (:mod:`.._steps`): :class:`HttpClient` runs them blocking
on ``httpx.Client``, :class:`AsyncHttpClient` awaits them on ``httpx.AsyncClient``, and each
vendor adapter composes them into its own send steps, run the same way by its sync and its
async class (:class:`VendorAdapter`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

from .._core.messages import Notification
from .._core.steps import Steps, call, run, run_async
from ..exceptions import DeliveryError

if TYPE_CHECKING:
    import httpx

__all__ = [
    "AsyncHttpClient",
    "AwaitedSend",
    "BlockingSend",
    "HttpClient",
    "Redactor",
    "VendorAdapter",
    "check_secret",
    "httpx_module",
]

_MAX_ERROR_TEXT = 300


def httpx_module() -> Any:
    """httpx, or an ImportError naming the extra to install."""
    try:
        import httpx  # noqa: PLC0415 - an optional extra, imported when an adapter is built
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        msg = "this adapter needs httpx: pip install 'incident-flow[http]'"
        raise ImportError(msg) from exc
    return httpx


def check_secret(name: str, value: str | None) -> None:
    """Refuse a secret with whitespace or control characters (a token read with its newline).

    Raises:
        ValueError: naming the setting, never showing the value.
    """
    if value is not None and (value != value.strip() or any(ord(c) < 32 for c in value)):
        msg = f"{name} has whitespace or control characters around or in it (a trailing newline?)"
        raise ValueError(msg)


class Redactor:
    """Replaces every secret it knows with ``***`` in a text.

    Every secret an adapter's redactor learns is also hidden from the log lines of the HTTP
    libraries we call (``_LIBRARY_LOGS``): httpx logs each request's URL at INFO, and a Slack
    webhook URL or a ``?token=`` is a secret.
    """

    def __init__(self, secrets: Sequence[str | None], *, share: bool = True) -> None:
        self._secrets: list[str] = []
        self._share = share
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        """Also hide these (and the escaped forms an error message may show them in)."""
        known = set(self._secrets)
        for secret in secrets:
            if secret and len(secret) >= 4:
                known.update({secret, repr(secret)[1:-1], secret.strip()})
        self._secrets = sorted((s for s in known if len(s) >= 4), key=len, reverse=True)
        if self._share:
            _LIBRARY_LOGS.add(*secrets)

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


_LIBRARY_LOGS = Redactor((), share=False)
#: The loggers of the HTTP stack under our adapters (httpx logs "HTTP Request: POST <url>").
_HTTP_LOGGERS = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.connection_pool",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
)


class _RedactRecords(logging.Filter):
    """Rewrites a log record of the HTTP stack with our secrets hidden, before any handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _LIBRARY_LOGS:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record: leave it to its handler
            return True
        clean = _LIBRARY_LOGS(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


for _name in _HTTP_LOGGERS:
    logging.getLogger(_name).addFilter(_RedactRecords())


class _HttpRules:
    """The retry rules above, written once as steps (see :mod:`.._steps`).

    :meth:`request_steps` yields each ``http.request(...)`` and ``time.sleep(seconds)`` it needs
    as a call on :attr:`ports`; :class:`HttpClient` performs them blocking, :class:`AsyncHttpClient`
    awaits them. The vendor adapters compose it into their own send steps.
    """

    def __init__(  # noqa: PLR0917 - private: the subclasses pass their settings on in order
        self,
        client: object,
        sleep: Callable[[float], object],
        secrets: Sequence[str | None],
        retries: int,
        backoff: float,
        max_inline_wait: float,
        timeout: float,
    ) -> None:
        self.redact = Redactor(secrets)
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_inline_wait = max_inline_wait
        self._httpx = httpx_module()
        #: What the steps call: ``http`` is the httpx client, ``time.sleep`` waits.
        self.ports: Mapping[str, object] = {"http": client, "time": SimpleNamespace(sleep=sleep)}

    def request_steps(
        self,
        method: str,
        url: str,
        payload: Mapping[str, Any] | bytes | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        what: str,
        accept: Collection[int] = (),
        idempotent: bool = True,
        deadline: float | None = None,
    ) -> Steps[httpx.Response]:
        """:meth:`HttpClient.request` as steps, to run on :attr:`ports`.

        ``deadline`` (a :func:`time.monotonic` time, see :func:`deadline_for`) bounds the whole
        delivery, retries included: no request starts, and no retry is waited for, past it,
        and a request's timeout is cut to what is left. The message's claim ends then, and
        another sender may take it: sending on would send it twice at once.
        """
        hx = self._httpx
        sent = dict(headers or {})
        body: dict[str, Any] = {}
        if isinstance(payload, bytes):
            sent.setdefault("Content-Type", "application/json")
            body["content"] = payload
        elif payload is not None:
            body["json"] = dict(payload)
        attempt = 0
        while True:
            if deadline is not None:
                body["timeout"] = min(self.timeout, _left(deadline, what))
            try:
                response: httpx.Response = yield from call(
                    "http", "request", method, url, headers=sent, **body
                )
            except hx.HTTPError as exc:
                never_sent = isinstance(exc, (hx.ConnectError, hx.ConnectTimeout))
                if attempt < self.retries and (idempotent or never_sent):
                    yield from self._wait(attempt, deadline, what)
                    attempt += 1
                    continue
                msg = self.redact(f"{what}: {type(exc).__name__}: {exc}")
                raise DeliveryError(msg) from None
            status = response.status_code
            if status < 300 or status in accept:
                return response
            if status == 429:
                delay = _retry_after(response)
                if delay is not None and delay <= self.max_inline_wait and attempt < self.retries:
                    _before(deadline, delay, what)
                    yield from call("time", "sleep", delay)
                    attempt += 1
                    continue
                msg = self.redact(f"{what}: rate limited (429): {_text(response)}")
                raise DeliveryError(
                    msg, retry_after=delay if delay is not None else 30.0, status=status
                )
            if status >= 500 and attempt < self.retries and idempotent:
                yield from self._wait(attempt, deadline, what)
                attempt += 1
                continue
            msg = self.redact(f"{what}: HTTP {status}: {_text(response)}")
            raise DeliveryError(msg, permanent=400 <= status < 500, status=status)

    def _wait(self, attempt: int, deadline: float | None, what: str) -> Steps[None]:
        delay = self.backoff * 2**attempt
        jitter = random.uniform(0, delay / 2)  # noqa: S311 - jitter, not a secret
        _before(deadline, delay + jitter, what)
        yield from call("time", "sleep", delay + jitter)


def deadline_for(message: Notification) -> float | None:
    """The :func:`time.monotonic` time by which ``message``'s delivery must be over, if any."""
    if message.send_within is None:
        return None
    return time.monotonic() + message.send_within


def _left(deadline: float, what: str) -> float:
    """Seconds left before ``deadline``; none left is a failed attempt, retried later."""
    left = deadline - time.monotonic()
    if left <= 0:
        msg = f"{what}: not sent: its claim ends now (left for the next delivery attempt)"
        raise DeliveryError(msg)
    return left


def _before(deadline: float | None, delay: float, what: str) -> None:
    """Refuse to wait ``delay`` seconds for a retry that would start past ``deadline``."""
    if deadline is not None and time.monotonic() + delay >= deadline:
        msg = f"{what}: not retried: its claim would end first (left for the next attempt)"
        raise DeliveryError(msg, retry_after=delay)


class HttpClient(_HttpRules):
    """POSTs JSON with the retry rules above.

    Args:
        secrets: values to keep out of every error message (tokens, keys, webhook URLs).
        timeout: seconds for connect and read.
        retries: extra tries within one delivery attempt for 5xx and network errors.
        backoff: the first wait, doubled each retry, with up to 50 % jitter.
        max_inline_wait: a 429 asking for at most this many seconds is waited out here;
            longer ones go back to the outbox as ``retry_after``.
        transport: an httpx transport (tests may pass one; default: the network).
        sleep: how to wait (tests pass a fake).
    """

    def __init__(
        self,
        *,
        secrets: Sequence[str | None] = (),
        timeout: float = 10.0,
        retries: int = 2,
        backoff: float = 0.5,
        max_inline_wait: float = 5.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client: httpx.Client = httpx_module().Client(timeout=timeout, transport=transport)
        super().__init__(self._client, sleep, secrets, retries, backoff, max_inline_wait, timeout)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def post(
        self,
        url: str,
        payload: Mapping[str, Any] | bytes,
        headers: Mapping[str, str] | None = None,
        *,
        what: str,
        idempotent: bool = True,
    ) -> httpx.Response:
        """POST ``payload`` as JSON; return a 2xx response or raise :class:`DeliveryError`.

        Args:
            url: the endpoint.
            payload: the JSON body, or its exact bytes (when they are signed).
            headers: extra headers (authorisation...).
            what: names the call in errors (``Slack chat.postMessage``).
            idempotent: see :meth:`request`.
        """
        return self.request("POST", url, payload, headers, what=what, idempotent=idempotent)

    def request(
        self,
        method: str,
        url: str,
        payload: Mapping[str, Any] | bytes | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        what: str,
        accept: Collection[int] = (),
        idempotent: bool = True,
    ) -> httpx.Response:
        """Send one request with the retry rules; return a 2xx (or an ``accept``-ed) response.

        Args:
            method: ``GET``, ``POST``, ``PUT``...
            url: the endpoint.
            payload: a JSON body, its exact bytes, or None.
            headers: extra headers.
            what: names the call in errors.
            accept: non-2xx statuses the caller handles itself (a 404 that means "not yet").
            idempotent: whether sending it twice is harmless (the receiver dedups). When not,
                it is retried here only when it surely never arrived (no connection); a
                timeout or a 5xx goes back to the outbox, whose next attempt is flagged
                ``resent`` so the adapter can look before sending again.

        Raises:
            DeliveryError: the request failed; ``retry_after`` and ``permanent`` say what next.
        """
        steps = self.request_steps(
            method, url, payload, headers, what=what, accept=accept, idempotent=idempotent
        )
        return run(steps, self.ports)


class AsyncHttpClient(_HttpRules):
    """:class:`HttpClient` on ``httpx.AsyncClient``: the same rules, awaited.

    Takes the same arguments, except that ``transport`` is an ``httpx.AsyncBaseTransport``
    and ``sleep`` is awaited (default :func:`asyncio.sleep`). Use it as an async context
    manager, or call :meth:`aclose`.
    """

    def __init__(
        self,
        *,
        secrets: Sequence[str | None] = (),
        timeout: float = 10.0,
        retries: int = 2,
        backoff: float = 0.5,
        max_inline_wait: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._client: httpx.AsyncClient = httpx_module().AsyncClient(
            timeout=timeout, transport=transport
        )
        super().__init__(self._client, sleep, secrets, retries, backoff, max_inline_wait, timeout)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def post(
        self,
        url: str,
        payload: Mapping[str, Any] | bytes,
        headers: Mapping[str, str] | None = None,
        *,
        what: str,
        idempotent: bool = True,
    ) -> httpx.Response:
        """See :meth:`HttpClient.post`."""
        return await self.request("POST", url, payload, headers, what=what, idempotent=idempotent)

    async def request(
        self,
        method: str,
        url: str,
        payload: Mapping[str, Any] | bytes | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        what: str,
        accept: Collection[int] = (),
        idempotent: bool = True,
    ) -> httpx.Response:
        """See :meth:`HttpClient.request`."""
        steps = self.request_steps(
            method, url, payload, headers, what=what, accept=accept, idempotent=idempotent
        )
        return await run_async(steps, self.ports)


ClientT = TypeVar("ClientT", bound=_HttpRules)


class VendorAdapter(ABC, Generic[ClientT]):
    """What every vendor adapter shares: its HTTP client (made when not given) and secrets.

    A vendor writes its logic once, as :meth:`send_steps`, on a subclass generic in the
    client; its sync class adds :class:`BlockingSend`, its async class :class:`AwaitedSend`.
    """

    client_type: Callable[[], ClientT]

    def __init__(self, client: ClientT | None, *secrets: str | None) -> None:
        self._made_client = client is None
        self._http: ClientT = client if client is not None else self.client_type()
        self._http.redact.add(*secrets)

    @abstractmethod
    def send_steps(self, message: Notification) -> Steps[str | None]:
        """Deliver one message, as steps on the client's :attr:`~_HttpRules.ports`."""


class BlockingSend(VendorAdapter[HttpClient]):
    """A vendor adapter on an :class:`HttpClient`: ``send`` blocks."""

    client_type = HttpClient

    def send(self, message: Notification) -> str | None:
        """Deliver one message; return its receipt (see the class) or None."""
        return run(self.send_steps(message), self._http.ports)


class AwaitedSend(VendorAdapter[AsyncHttpClient]):
    """A vendor adapter on an :class:`AsyncHttpClient`: ``send`` is awaited; :meth:`aclose`."""

    client_type = AsyncHttpClient

    async def send(self, message: Notification) -> str | None:
        """Deliver one message; return its receipt (see the class) or None."""
        return await run_async(self.send_steps(message), self._http.ports)

    async def aclose(self) -> None:
        """Close the HTTP client this adapter made (a client passed in is its owner's to close)."""
        if self._made_client:
            await self._http.aclose()


_MAX_RETRY_AFTER = 24 * 3600.0


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds from a ``Retry-After`` header (a number or an HTTP date), within 0 s to a day."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = (when - datetime.now(UTC)).total_seconds() if when.tzinfo else 0.0
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER)


def _text(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:_MAX_ERROR_TEXT] or response.reason_phrase
