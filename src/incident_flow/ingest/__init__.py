"""Ingestion: real webhook bodies in, normalised alerts and responders' actions out.

    from incident_flow import ingest

    ingest.verify_signature("grafana", body, headers, secret)   # raises InvalidSignature
    for alert in ingest.parse("grafana", body, headers):          # raises InvalidPayload
        flow.trigger(alert)

    ingest.verify_signature("pagerduty", body, headers, secret)
    for action in ingest.actions("pagerduty", body, headers):    # what responders did there
        flow.apply(action)

``parse`` and ``actions`` never raise anything but :class:`~incident_flow.InvalidPayload` (with
what was wrong and where), whatever the bytes. Each source is a small module; a parser is just
a callable ``(body, headers) -> list[Alert]``, and :func:`register` adds your own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from .._core.alerts import Alert
from .._responders.actions import Action
from ..exceptions import InvalidPayload, InvalidSignature
from . import alertmanager, checkly, datadog, grafana, incidentio, pagerduty
from ._actions import github as github_actions
from ._actions import jira as jira_actions
from ._actions import opsgenie as opsgenie_actions
from ._actions import pagerduty as pagerduty_actions
from ._actions import slack as slack_actions
from ._common import Body
from .signatures import REPLAY_WINDOW, SIGNED_SOURCES, verify

__all__ = [
    "ACTION_SOURCES",
    "REPLAY_WINDOW",
    "SIGNED_SOURCES",
    "Body",
    "InvalidPayload",
    "InvalidSignature",
    "Parser",
    "actions",
    "parse",
    "register",
    "slack_oncall_question",
    "slack_workspace",
    "sources",
    "verify_signature",
]

T = TypeVar("T")

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


#: An action parser: the body and the headers -> the actions in it.
ActionParser = Callable[[Body, Any], list[Action]]

_ACTION_PARSERS: dict[str, ActionParser] = {
    "github": github_actions.parse,
    "jira": jira_actions.parse,
    "opsgenie": opsgenie_actions.parse,
    "pagerduty": pagerduty_actions.parse,
    "slack": slack_actions.parse,
}
#: The vendors ``actions`` reads.
ACTION_SOURCES = tuple(sorted(_ACTION_PARSERS))


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
    return _guarded(source, parser, body, headers)


def actions(
    source: str,
    body: Body,
    headers: Mapping[str, str] | None = None,
    *,
    command: str = slack_actions.COMMAND,
) -> list[Action]:
    """Turn one webhook body from a vendor into what responders did there.

    Args:
        source: ``pagerduty`` (webhooks v3), ``opsgenie`` (outgoing webhooks), ``slack``
            (interactivity payloads and slash commands), ``github`` (pull request reviews
            and merges, follow-up issues closed; needs the headers for ``X-GitHub-Event``)
            or ``jira`` (follow-up issues moved to done).
        body: the raw bytes, the text, or an already parsed mapping.
        headers: the request headers.
        command: Slack only: the slash command that is ours (Slack sends all of an app's
            commands to one URL; any other gives no action).

    Returns:
        The actions in the body; none when it is about something that is not one of our
        incidents (another PagerDuty service, a pull request we did not open, a button of
        another app, another slash command) or is not a responder's act (``/incident
        oncall`` asks a question: :func:`slack_oncall_question`).

    Raises:
        InvalidPayload: an unknown source, or a body that cannot be read (never another error).
    """
    parser = _ACTION_PARSERS.get(source)
    if parser is None:
        msg = f"unknown action source {source!r}; known: {', '.join(ACTION_SOURCES)}"
        raise InvalidPayload(msg)
    if source == "slack" and parser is slack_actions.parse:
        return _guarded(source, partial(slack_actions.parse, command=command), body, headers)
    return _guarded(source, parser, body, headers)


def slack_oncall_question(body: Body, *, command: str = slack_actions.COMMAND) -> str | None:
    """The schedule ``/incident oncall [SCHEDULE]`` asks about: ``""`` for all, None if not asked.

    The question changes nothing, so :func:`actions` gives no action for it; answer it with
    ``policy.schedules.describe(name, now)`` for each schedule (what the service does).

    Raises:
        InvalidPayload: not a Slack request.
    """
    try:
        return slack_actions.oncall_question(body, command=command)
    except InvalidPayload:
        raise
    except (TypeError, ValueError, AttributeError) as exc:
        msg = f"slack: {exc}"
        raise InvalidPayload(msg) from exc


def slack_workspace(body: Body) -> tuple[str | None, str | None]:
    """The workspace (``team_id``) and app (``api_app_id``) a Slack request comes from.

    Check them against your own before acting: Slack signs requests of every workspace the
    app is installed in with the same secret.

    Raises:
        InvalidPayload: not a Slack request.
    """
    try:
        return slack_actions.workspace(body)
    except InvalidPayload:
        raise
    except (TypeError, ValueError, AttributeError) as exc:
        msg = f"slack: {exc}"
        raise InvalidPayload(msg) from exc


def _guarded(
    source: str, parser: Callable[[Body, Any], list[T]], body: Body, headers: Any
) -> list[T]:
    """Run a parser; whatever goes wrong inside it is an InvalidPayload naming the source."""
    try:
        return parser(body, headers)
    except InvalidPayload:
        raise
    except RecursionError:
        msg = f"{source}: body is nested too deeply"
        raise InvalidPayload(msg) from None
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError) as exc:
        # A value the parser accepted by shape but the Alert or Action refused (a blank name).
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
    ``-signature``, secret ``whsec_...``), ``pagerduty`` (``v1=`` HMACs, any may match),
    ``github`` (``X-Hub-Signature-256: sha256=`` hex HMAC of the body), ``opsgenie``
    (Opsgenie signs nothing: the webhook integration sends a custom header holding a shared
    token, ``X-Incident-Flow-Token`` unless ``header`` names another; ``Authorization`` may
    hold ``Bearer <token>``) and ``incident_flow`` (what
    :class:`~incident_flow.WebhookNotifier` sends, timestamped).
    A signed timestamp more than five minutes from ``now`` is refused as a replay.

    Args:
        source: one of :data:`SIGNED_SOURCES`.
        body: the raw body exactly as received (never re-serialised).
        headers: the request headers (any case).
        secret: the shared signing secret.
        now: the current time (default: the system clock), for the replay window.
        header: Grafana and Opsgenie: the header's name, when not the default.
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
