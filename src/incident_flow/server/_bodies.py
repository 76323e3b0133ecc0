"""What the service's routes read from a request: bearer tokens, JSON bodies, times, Slack forms."""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from .._core.log import get_logger
from .._core.policy import parse_duration, parse_time
from .._core.storms import Silence
from .._delivery import slack_ui
from ..exceptions import (
    InvalidPayload,
)
from ..ingest import slack_oncall_question
from ..ingest._actions.slack import TeamRequest
from ..ingest._actions.slack import team_request as slack_team_request

T = TypeVar("T")

if TYPE_CHECKING:
    from starlette.requests import Request


_log = get_logger("incident_flow.server")
#: Seconds /readyz waits for the store before it says not ready.
READY_WITHIN = 0.5
#: Seconds a sender is asked to wait before retrying a request the store could not take.
RETRY_AFTER = 5
#: Seconds the stop waits for the worker's turn and the deliveries in flight, then cancels.
STOP_WITHIN = 5.0
#: Seconds the stop waits for the store's pool to close.
CLOSE_WITHIN = 1.0
_JSON = ("application/json",)
_FORM = ("application/x-www-form-urlencoded",)


__all__ = [
    "Refused",
    "bearer_matches",
    "duration_field",
    "field_of",
    "is_slash_command",
    "json_object",
    "oncall_question",
    "silence_json",
    "team_request",
    "time_field",
]


class Refused(Exception):
    """A request refused with an HTTP status and an error said to the caller."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


def bearer_matches(request: Request, token: str) -> bool:
    """Whether the request says ``Authorization: Bearer <token>`` (compared in constant time)."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        value.strip().encode(), str(token).encode()
    )


def oncall_question(body: bytes, command: str) -> str | None:
    """The schedule ``/incident oncall [SCHEDULE]`` asks about ("" for all), else None."""
    try:
        return slack_oncall_question(body, command=command)
    except InvalidPayload:
        return None


def team_request(body: bytes, command: str) -> TeamRequest | str | None:
    """What ``/incident team ID TEAM`` asks; its usage when mistyped; None for anything else."""
    try:
        return slack_team_request(body, command=command)
    except InvalidPayload as exc:
        return str(exc) if is_slash_command(body) else None


def is_slash_command(body: bytes) -> bool:
    """True for a slash command's body (form fields with ``command``)."""
    try:
        return "command" in slack_ui.decode(body)
    except (ValueError, UnicodeDecodeError):
        return False


def silence_json(silence: Silence) -> dict[str, Any]:
    """A silence as the API shows it."""
    return {
        "id": silence.id,
        "matchers": [str(m) for m in silence.matchers],
        "starts_at": silence.starts_at.isoformat(),
        "ends_at": silence.until.isoformat(),
        "by": silence.by,
        "why": silence.why,
        "ended_by": silence.ended_by,
        "team": silence.team,
    }


def json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise Refused(400, "the body must be a JSON object")
    return data


def field_of(data: Mapping[str, Any], name: str, kind: type[T]) -> T:
    value = data.get(name)
    if not isinstance(value, kind):
        raise Refused(400, f"{name}: required, a {kind.__name__}")
    return value


def duration_field(value: object) -> timedelta | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise Refused(400, f"duration: {exc}") from None


def time_field(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_time(str(value))
    except ValueError as exc:
        raise Refused(400, str(exc)) from None
