"""Webhook signature checks for the sources that sign, and for our own WebhookNotifier.

Slack (v0), Checkly, Grafana, incident.io (Svix), PagerDuty (v1), GitHub (``sha256=``),
Opsgenie (a shared token header: Opsgenie does not sign) and ``incident_flow``.

Every comparison is constant-time (``hmac.compare_digest``); where the scheme signs a
timestamp, a request more than five minutes away from now is refused as a possible replay.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from ..exceptions import InvalidSignature

__all__ = ["OPSGENIE_HEADER", "REPLAY_WINDOW", "SIGNED_SOURCES", "verify"]

#: How far a signed timestamp may be from now.
REPLAY_WINDOW = timedelta(minutes=5)
GRAFANA_HEADERS = ("X-Grafana-Alerting-Signature", "X-Grafana-Alert-Signature")
#: The custom header an Opsgenie webhook integration is set up to send the shared token in.
OPSGENIE_HEADER = "X-Incident-Flow-Token"


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    wanted = name.lower()
    for key, value in headers.items():
        if str(key).lower() == wanted:
            return str(value)
    return None


def _required(headers: Mapping[str, str] | None, source: str, name: str) -> str:
    value = _header(headers, name)
    if value is None or not value.strip():
        msg = f"{source}: missing signature header {name}"
        raise InvalidSignature(msg)
    return value.strip()


def _hex_hmac(secret: bytes, message: bytes) -> str:
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _fresh(source: str, timestamp: str, now: datetime) -> None:
    try:
        sent = datetime.fromtimestamp(int(timestamp.strip()), UTC)
    except (ValueError, OverflowError, OSError):
        msg = f"{source}: signature timestamp {timestamp!r} is not unix seconds"
        raise InvalidSignature(msg) from None
    if abs(now - sent) > REPLAY_WINDOW:
        msg = (
            f"{source}: signature timestamp is {abs(now - sent).total_seconds():.0f} s away "
            f"from now (more than {REPLAY_WINDOW.total_seconds():.0f} s): refused as a replay"
        )
        raise InvalidSignature(msg)


def _same(candidate: str, expected: str) -> bool:
    # Bytes, not str: compare_digest refuses non-ASCII text, and a header may hold anything.
    return hmac.compare_digest(candidate.encode("utf-8", "surrogatepass"), expected.encode())


def _any_match(source: str, candidates: list[str], expected: str) -> None:
    ok = False
    for candidate in candidates:
        # No early exit: every candidate is compared, in constant time each.
        ok |= _same(candidate.strip().lower(), expected)
    if not ok:
        msg = f"{source}: signature does not match the body"
        raise InvalidSignature(msg)


def _timestamped(
    source: str,
    headers: Mapping[str, str] | None,
    secret: bytes,
    now: datetime,
    *,
    timestamp_header: str,
    signature_header: str,
    prefix: str,
    signed: Callable[[bytes], bytes],
) -> None:
    """A hex HMAC over bytes that include a timestamp header (Slack, incident_flow)."""
    timestamp = _required(headers, source, timestamp_header)
    signature = _required(headers, source, signature_header)
    _fresh(source, timestamp, now)
    if not signature.startswith(prefix):
        msg = f"{source}: {signature_header} must start with {prefix}"
        raise InvalidSignature(msg)
    expected = prefix + _hex_hmac(secret, signed(timestamp.encode()))
    _any_match(source, [signature], expected)


def _slack(
    body: bytes,
    headers: Mapping[str, str] | None,
    secret: bytes,
    now: datetime,
    options: Mapping[str, str],
) -> None:
    _timestamped(
        "slack",
        headers,
        secret,
        now,
        timestamp_header="X-Slack-Request-Timestamp",
        signature_header="X-Slack-Signature",
        prefix="v0=",
        signed=lambda ts: b"v0:" + ts + b":" + body,
    )


def _checkly(
    body: bytes,
    headers: Mapping[str, str] | None,
    secret: bytes,
    now: datetime,
    options: Mapping[str, str],
) -> None:
    signature = _required(headers, "checkly", "x-checkly-signature")
    _any_match("checkly", [signature], _hex_hmac(secret, body))


def _grafana(
    body: bytes,
    headers: Mapping[str, str] | None,
    secret: bytes,
    now: datetime,
    options: Mapping[str, str],
) -> None:
    names = (options["header"],) if "header" in options else GRAFANA_HEADERS
    signature = next((v for n in names if (v := _header(headers, n))), None)
    if signature is None:
        msg = f"grafana: missing signature header ({' or '.join(names)})"
        raise InvalidSignature(msg)
    signed = body
    timestamp_header = options.get("timestamp_header")
    if timestamp_header:
        timestamp = _required(headers, "grafana", timestamp_header)
        _fresh("grafana", timestamp, now)
        signed = timestamp.encode() + b":" + body
    _any_match("grafana", [signature], _hex_hmac(secret, signed))


def _incidentio(
    body: bytes,
    headers: Mapping[str, str] | None,
    secret: bytes,
    now: datetime,
    options: Mapping[str, str],
) -> None:
    message_id = _required(headers, "incidentio", "webhook-id")
    timestamp = _required(headers, "incidentio", "webhook-timestamp")
    signatures = _required(headers, "incidentio", "webhook-signature")
    _fresh("incidentio", timestamp, now)
    text = secret.decode("utf-8", "replace")
    try:
        key = base64.b64decode(text.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        msg = "incidentio: the secret is not a whsec_<base64> signing secret"
        raise InvalidSignature(msg) from None
    signed = f"{message_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    candidates = [part.split(",", 1)[1] for part in signatures.split() if part.startswith("v1,")]
    ok = False
    for candidate in candidates:
        ok |= _same(candidate, expected)
    if not ok:
        msg = "incidentio: no v1 signature matches the body"
        raise InvalidSignature(msg)


def _pagerduty(
    body: bytes,
    headers: Mapping[str, str] | None,
    secret: bytes,
    now: datetime,
    options: Mapping[str, str],
) -> None:
    header = _required(headers, "pagerduty", "X-PagerDuty-Signature")
    candidates = [p.strip()[3:] for p in header.split(",") if p.strip().startswith("v1=")]
    if not candidates:
        msg = "pagerduty: X-PagerDuty-Signature has no v1= signature"
        raise InvalidSignature(msg)
    _any_match("pagerduty", candidates, _hex_hmac(secret, body))


def _github(
    body: bytes,
    headers: Mapping[str, str] | None,
    secret: bytes,
    now: datetime,
    options: Mapping[str, str],
) -> None:
    _sha256_header("github", "X-Hub-Signature-256", body, headers, secret)


def _jira(
    body: bytes,
    headers: Mapping[str, str] | None,
    secret: bytes,
    now: datetime,
    options: Mapping[str, str],
) -> None:
    # Jira Cloud's admin webhooks with a secret (2024): X-Hub-Signature: sha256=<hex HMAC>.
    _sha256_header("jira", "X-Hub-Signature", body, headers, secret)


def _sha256_header(
    source: str, name: str, body: bytes, headers: Mapping[str, str] | None, secret: bytes
) -> None:
    """``name: sha256=<hex HMAC of the body>``, as GitHub and Jira Cloud sign."""
    header = _required(headers, source, name)
    if not header.startswith("sha256="):
        msg = f"{source}: {name} must start with sha256="
        raise InvalidSignature(msg)
    _any_match(source, [header[len("sha256=") :]], _hex_hmac(secret, body))


def _opsgenie(
    body: bytes,
    headers: Mapping[str, str] | None,
    secret: bytes,
    now: datetime,
    options: Mapping[str, str],
) -> None:
    # Opsgenie's webhook integration signs nothing; it sends the custom headers it is given.
    # The integration is set up with one header holding a shared token, checked here. Other
    # sources that sign nothing (Alertmanager, Datadog) use the same scheme under their name.
    name = options.get("header", OPSGENIE_HEADER)
    source = options.get("source", "opsgenie")
    token = (_header(headers, name) or "").strip()
    if not token:
        msg = f"{source}: the shared token header {name} is missing"
        raise InvalidSignature(msg)
    token = token.removeprefix("Bearer ").strip() if name.lower() == "authorization" else token
    if not hmac.compare_digest(token.encode("utf-8", "surrogatepass"), secret):
        msg = f"{source}: the {name} header does not hold the shared token"
        raise InvalidSignature(msg)


def _incident_flow(
    body: bytes,
    headers: Mapping[str, str] | None,
    secret: bytes,
    now: datetime,
    options: Mapping[str, str],
) -> None:
    _timestamped(
        "incident_flow",
        headers,
        secret,
        now,
        timestamp_header="X-Incident-Flow-Timestamp",
        signature_header="X-Incident-Flow-Signature",
        prefix="v1=",
        signed=lambda ts: ts + b"." + body,
    )


_Verifier = Callable[[bytes, "Mapping[str, str] | None", bytes, datetime, Mapping[str, str]], None]
_VERIFIERS: dict[str, _Verifier] = {
    "slack": _slack,
    "checkly": _checkly,
    "github": _github,
    "grafana": _grafana,
    "incident_flow": _incident_flow,
    "incidentio": _incidentio,
    "jira": _jira,
    "opsgenie": _opsgenie,
    "pagerduty": _pagerduty,
}
#: The sources whose requests can be verified.
SIGNED_SOURCES = tuple(sorted(_VERIFIERS))


def verify(
    source: str,
    body: bytes | str,
    headers: Mapping[str, str] | None,
    secret: str | bytes,
    *,
    now: datetime | None = None,
    options: Mapping[str, str] | None = None,
) -> None:
    """Check one request's signature; see :func:`incident_flow.ingest.verify_signature`."""
    verifier = _VERIFIERS.get(source)
    if verifier is None:
        msg = f"{source!r} has no signature scheme here; these do: {', '.join(SIGNED_SOURCES)}"
        raise InvalidSignature(msg)
    if not secret:
        msg = f"{source}: no secret configured to check the signature with"
        raise InvalidSignature(msg)
    if not isinstance(body, (str, bytes, bytearray, memoryview)):
        msg = f"{source}: the raw body (bytes or text) is needed to check a signature"
        raise InvalidSignature(msg)
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    when = now if now is not None else datetime.now(UTC)
    if when.utcoffset() is None:
        when = when.replace(tzinfo=UTC)  # a naive "now" is taken as UTC, as the timestamps are
    verifier(raw, headers, key, when, options or {})
