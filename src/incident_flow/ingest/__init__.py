"""Alert ingestion: real webhook bodies in, normalised :class:`~incident_flow.Alert` s out.

    from incident_flow import ingest

    ingest.verify_signature("grafana", body, headers, secret)   # raises InvalidSignature
    for alert in ingest.parse("grafana", body, headers):          # raises InvalidPayload
        flow.trigger(alert)

``parse`` never raises anything but :class:`~incident_flow.InvalidPayload` (with what was wrong
and where), whatever the bytes. Each source is a small module; a parser is just a callable
``(body, headers) -> list[Alert]``, and :func:`register` adds your own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from .._alerts import Alert
from ..exceptions import InvalidPayload, InvalidSignature
from . import alertmanager, checkly, datadog, grafana, incidentio, pagerduty
from ._common import Body
from .signatures import REPLAY_WINDOW, SIGNED_SOURCES, verify

__all__ = [
    "REPLAY_WINDOW",
    "SIGNED_SOURCES",
    "Body",
    "InvalidPayload",
    "InvalidSignature",
    "Parser",
    "parse",
    "register",
    "sources",
    "verify_signature",
]

#: A parser: the body (bytes, str or a parsed mapping) and the headers -> the alerts in it.
Parser = Callable[[Body, Any], list[Alert]]

_PARSERS: dict[str, Parser] = {
    "alertmanager": alertmanager.parse,
    "checkly": checkly.parse,
    "datadog": datadog.parse,
    "grafana": grafana.parse,
    "incidentio": incidentio.parse,
    "pagerduty": pagerduty.parse,
}


def sources() -> tuple[str, ...]:
    """The source names ``parse`` knows, sorted."""
    return tuple(sorted(_PARSERS))


def register(source: str, parser: Parser) -> None:
    """Add (or replace) the parser for ``source``."""
    if not source or not source.strip():
        msg = "a parser needs a source name"
        raise ValueError(msg)
    _PARSERS[source] = parser


def parse(source: str, body: Body, headers: Mapping[str, str] | None = None) -> list[Alert]:
    """Turn one webhook body from ``source`` into alerts.

    Args:
        source: ``datadog``, ``checkly``, ``alertmanager``, ``grafana``, ``incidentio`` or
            ``pagerduty`` (or one you registered).
        body: the raw bytes, the text, or an already parsed mapping.
        headers: the request headers, for parsers that read them.

    Returns:
        The alerts in the body (an Alertmanager group holds several; a PagerDuty
        acknowledge none).

    Raises:
        InvalidPayload: an unknown source, or a body that cannot be read (never another error).
    """
    parser = _PARSERS.get(source)
    if parser is None:
        msg = f"unknown alert source {source!r}; known: {', '.join(sources())}"
        raise InvalidPayload(msg)
    try:
        return parser(body, headers)
    except InvalidPayload:
        raise
    except RecursionError:
        msg = f"{source}: body is nested too deeply"
        raise InvalidPayload(msg) from None
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError) as exc:
        # A value the parser accepted by shape but the Alert refused (a blank name...).
        msg = f"{source}: {exc}"
        raise InvalidPayload(msg) from exc


def verify_signature(
    source: str,
    body: bytes | str,
    headers: Mapping[str, str] | None,
    secret: str | bytes,
    *,
    now: datetime | None = None,
    header: str | None = None,
    timestamp_header: str | None = None,
) -> None:
    """Check a webhook's signature; return None or raise :class:`InvalidSignature`.

    Schemes: ``slack`` (v0, timestamped), ``checkly`` (hex HMAC of the body), ``grafana``
    (hex HMAC of the body, or of ``"{ts}:{body}"`` when ``timestamp_header`` names the header
    carrying the timestamp; ``header`` overrides the signature header name, which defaults to
    either Grafana spelling), ``incidentio`` (Svix: ``webhook-id`` / ``-timestamp`` /
    ``-signature``, secret ``whsec_...``), ``pagerduty`` (``v1=`` HMACs, any may match) and
    ``incident_flow`` (what :class:`~incident_flow.WebhookNotifier` sends, timestamped).
    A signed timestamp more than five minutes from ``now`` is refused as a replay.

    Args:
        source: one of :data:`SIGNED_SOURCES`.
        body: the raw body exactly as received (never re-serialised).
        headers: the request headers (any case).
        secret: the shared signing secret.
        now: the current time (default: the system clock), for the replay window.
        header: Grafana only: the signature header's name, when not one of the defaults.
        timestamp_header: Grafana only: the header carrying the signed timestamp, when the
            contact point sets one.

    Raises:
        InvalidSignature: missing, malformed, wrong, or too old; the message says which.
    """
    options = {}
    if header:
        options["header"] = header
    if timestamp_header:
        options["timestamp_header"] = timestamp_header
    verify(source, body, headers, secret, now=now, options=options)
