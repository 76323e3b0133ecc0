"""Slack: our buttons (``block_actions``), our forms (``view_submission``) and ``/incident``.

Slack posts interactivity as a form with one ``payload=`` field of JSON, and slash commands as
form fields. Our buttons carry the incident's id as their ``value`` and our forms in
``private_metadata``; everything else in the workspace is not ours and gives no actions. The
press of Resolve or Add note gives none either: it opens a form
(:meth:`SlackNotifier.open_form`), whose submission is the action. Every interaction has its
own ``trigger_id``; a form's ``view.id`` is submitted once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from ..._core.severity import Severity
from ..._delivery import slack_ui as ui
from ..._responders.actions import Action
from ...exceptions import InvalidPayload
from .._common import Body, priority

__all__ = [
    "COMMAND",
    "COMMAND_USAGE",
    "SOURCE",
    "TeamRequest",
    "oncall_question",
    "parse",
    "team_request",
    "workspace",
]

SOURCE = "slack"
#: The slash command that is ours unless the configuration names another.
COMMAND = "/incident"
#: The ``/incident`` words -> the action kind.
_VERBS = {
    "ack": "acknowledge",
    "acknowledge": "acknowledge",
    "runbook": "start_runbook",
    "resolve": "resolve",
    "note": "note",
    "escalate": "escalate",
    "reopen": "reopen",
    "sev": "reclassify",
    "severity": "reclassify",
    "lead": "assign_role",
    "role": "assign_role",
}
COMMAND_USAGE = (
    "usage: /incident ack ID | runbook ID | resolve ID [summary] | note ID text | "
    "escalate ID | reopen ID | sev ID P1..P5 | lead ID [@person] | role ID ROLE [@person] | "
    "team ID TEAM | oncall [SCHEDULE]"
)
#: Buttons that are an action at once (the others open a form).
_AT_ONCE = ("acknowledge", "start_runbook", "lead")
#: A person named in ``/incident lead``: Slack's escaped mention ``<@U024BE7LH|bob>`` (or
#: ``<@U024BE7LH>``), else a name as typed (``@bob``, ``bob``).
_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^<>]*)?>")
_TYPED = re.compile(r"@?([\w.\-]{1,80})")


def _decoded(body: Body) -> Mapping[str, Any]:
    if not isinstance(body, (str, Mapping, bytes, bytearray, memoryview)):
        # bytes(an int) would allocate that many bytes: a body is text, bytes or a mapping.
        msg = f"{SOURCE}: not a Slack request: a {type(body).__name__}, not a body"
        raise InvalidPayload(msg)
    try:
        return ui.decode(body if isinstance(body, (str, Mapping)) else bytes(body))
    except (ValueError, UnicodeDecodeError) as exc:
        msg = f"{SOURCE}: not a Slack request: {exc}"
        raise InvalidPayload(msg) from None


def parse(body: Body, headers: Any = None, *, command: str = COMMAND) -> list[Action]:
    """The actions in one Slack request (none for requests that are not about our incidents).

    Slack sends every slash command of an app to one URL: only ``command`` is ours, any other
    gives no action. ``/incident oncall`` asks a question rather than acting: no action
    either (:func:`oncall_question` reads it).

    Raises:
        InvalidPayload: not a Slack request, or an ``/incident`` command that does not read
            (the message is the usage, for the person who typed it).
    """
    data = _decoded(body)
    kind = data.get("type")
    if kind == "block_actions":
        return _pressed(data)
    if kind == "view_submission":
        return _submitted(data)
    if "command" in data:
        if str(data.get("command") or "").strip().lower() != command.lower():
            return []
        if _asks_oncall(data) is not None or _first_word(data) == "team":
            return []
        return _command(data, command)
    return []


def _first_word(data: Mapping[str, Any]) -> str:
    words = str(data.get("text") or "").split(maxsplit=1)
    return words[0].lower() if words else ""


@attrs.frozen
class TeamRequest:
    """``/incident team ID TEAM``: hand incident ``incident`` to ``team``, asked by ``user``."""

    incident: str
    team: str
    user: str


def team_request(body: Body, *, command: str = COMMAND) -> TeamRequest | None:
    """What ``/incident team ID TEAM`` asks (None: another command, or not ours).

    The words are taken as typed (the team is checked against the policy by whoever acts).

    Raises:
        InvalidPayload: not a Slack request, or ``/incident team`` without an id and a team, or
            without the user who typed it (the message is the usage).
    """
    data = _decoded(body)
    if str(data.get("command") or "").strip().lower() != command.lower():
        return None
    if _first_word(data) != "team":
        return None
    words = str(data.get("text") or "").split()
    if len(words) != 3:
        raise InvalidPayload(f"/incident team needs an incident id and a team; {_usage(command)}")
    user = data.get("user_id")
    if not user:
        msg = f"{SOURCE}: user_id is missing"
        raise InvalidPayload(msg)
    return TeamRequest(incident=words[1], team=words[2], user=str(user))


def _asks_oncall(data: Mapping[str, Any]) -> str | None:
    words = str(data.get("text") or "").split()
    if not words or words[0].lower() != "oncall":
        return None
    return words[1] if len(words) > 1 else ""


def oncall_question(body: Body, *, command: str = COMMAND) -> str | None:
    """The schedule ``/incident oncall [SCHEDULE]`` asks about ("" for all), else None.

    Raises:
        InvalidPayload: not a Slack request.
    """
    data = _decoded(body)
    if str(data.get("command") or "").strip().lower() != command.lower():
        return None
    return _asks_oncall(data)


def workspace(body: Body) -> tuple[str | None, str | None]:
    """The workspace (``team_id``) and the app (``api_app_id``) a Slack request comes from.

    Slash commands and events carry ``team_id``; interactivity payloads ``team.id`` (or,
    for an organisation-wide app, the user's ``team_id``).

    Raises:
        InvalidPayload: not a Slack request.
    """
    data = _decoded(body)
    team = data.get("team")
    found = team.get("id") if isinstance(team, Mapping) else data.get("team_id")
    if not found and isinstance(data.get("user"), Mapping):
        found = data["user"].get("team_id")
    app = data.get("api_app_id")
    return (str(found) if found else None), (str(app) if app else None)


def _user(data: Mapping[str, Any]) -> tuple[str, str | None]:
    user = data.get("user")
    if not isinstance(user, dict) or not user.get("id"):
        msg = f"{SOURCE}: user.id is missing"
        raise InvalidPayload(msg)
    name = user.get("username") or user.get("name")
    return str(user["id"]), str(name) if name else None


def _pressed(data: Mapping[str, Any]) -> list[Action]:
    pressed = data.get("actions")
    if not isinstance(pressed, list):
        msg = f"{SOURCE}: actions must be a list"
        raise InvalidPayload(msg)
    found: list[Action] = []
    for index, button in enumerate(pressed):
        if not isinstance(button, dict):
            continue
        kind = str(button.get("action_id", "")).removeprefix(ui.PREFIX)
        if kind not in _AT_ONCE or not str(button.get("action_id", "")).startswith(ui.PREFIX):
            continue
        by, name = _user(data)
        delivery = data.get("trigger_id") or button.get("action_ts")
        found.append(
            Action(
                source=SOURCE,
                kind="assign_role" if kind == "lead" else kind,
                incident=_text(button.get("value"), "actions[].value"),
                by=by,
                by_name=name,
                delivery_id=f"{SOURCE}:{delivery}:{index}" if delivery else None,
                raw=data,
                role="commander" if kind == "lead" else None,
            )
        )
    return found


def _submitted(data: Mapping[str, Any]) -> list[Action]:
    view = data.get("view")
    if not isinstance(view, dict):
        msg = f"{SOURCE}: view is missing"
        raise InvalidPayload(msg)
    kind = str(view.get("callback_id", "")).removeprefix(ui.PREFIX)
    if kind not in ui.FORMS or not str(view.get("callback_id", "")).startswith(ui.PREFIX):
        return []
    by, name = _user(data)
    values = ((view.get("state") or {}).get("values") or {}).get(ui.TEXT_BLOCK) or {}
    text = (values.get(ui.TEXT_BLOCK) or {}).get("value") or ""
    return [
        Action(
            source=SOURCE,
            kind=kind,
            incident=_text(view.get("private_metadata"), "view.private_metadata"),
            by=by,
            by_name=name,
            text=str(text).strip(),
            delivery_id=f"{SOURCE}:view:{view.get('id') or data.get('trigger_id')}",
            raw=data,
        )
    ]


def _usage(command: str) -> str:
    return COMMAND_USAGE.replace(COMMAND, command)


def _command(data: Mapping[str, Any], command: str) -> list[Action]:
    words = str(data.get("text") or "").split(maxsplit=2)
    if len(words) < 2 or words[0].lower() not in _VERBS:
        raise InvalidPayload(_usage(command))
    kind = _VERBS[words[0].lower()]
    rest = words[2].strip() if len(words) > 2 else ""
    severity: Severity | None = None
    if kind == "reclassify":
        severity = priority(rest)
        if severity is None:
            raise InvalidPayload(f"severity must be P1..P5, got {rest!r}; {_usage(command)}")
        rest = ""
    if kind == "note" and not rest:
        raise InvalidPayload(f"a note needs its text; {_usage(command)}")
    role = assignee = None
    if kind == "assign_role":
        role, assignee = _role_words(words[0].lower(), rest, command)
        rest = ""
    user = data.get("user_id")
    if not user:
        msg = f"{SOURCE}: user_id is missing"
        raise InvalidPayload(msg)
    return [
        Action(
            source=SOURCE,
            kind=kind,
            incident=words[1],
            by=str(user),
            by_name=str(data.get("user_name") or "") or None,
            text=rest,
            severity=severity,
            delivery_id=f"{SOURCE}:{data.get('trigger_id') or ''}"
            if data.get("trigger_id")
            else None,
            raw=dict(data),
            role=role,
            assignee=assignee,
        )
    ]


def _role_words(verb: str, rest: str, command: str) -> tuple[str, str | None]:
    """``lead [@person]`` and ``role ROLE [@person]``: the role and who (None: who typed it).

    Raises:
        InvalidPayload: a role missing, more words than that, or a person that is neither a
            mention nor a plain name (markup, a channel or ``@here``).
    """
    words = rest.split()
    if verb == "role":
        if not words:
            raise InvalidPayload(f"/incident role needs the role; {_usage(command)}")
        role, words = words[0], words[1:]
    else:
        role = "commander"
    if len(words) > 1:
        raise InvalidPayload(f"name one person; {_usage(command)}")
    if not words:
        return role, None
    mention = _MENTION.fullmatch(words[0])
    if mention is not None:
        return role, mention.group(1)
    typed = _TYPED.fullmatch(words[0])
    if typed is None:
        raise InvalidPayload(f"{words[0]!r} is not a person (@name); {_usage(command)}")
    return role, typed.group(1)


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        msg = f"{SOURCE}: {where} must name the incident, got {value!r}"
        raise InvalidPayload(msg)
    return value.strip()
