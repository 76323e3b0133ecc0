"""The Slack interface both sides share: our buttons and forms, and reading Slack's requests.

:mod:`incident_flow.adapters.channels.slack` draws the buttons and opens the forms;
``incident_flow.ingest.actions("slack", ...)`` reads what a person pressed or submitted. Both
name them here, so the two can never disagree. No I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from .._core.text import storable_data

__all__ = [
    "BUTTONS",
    "FORMS",
    "PREFIX",
    "TEXT_BLOCK",
    "action_id",
    "decode",
    "form_view",
]

#: Every action_id and callback_id of ours starts with this.
PREFIX = "incident_flow:"
#: Our buttons: the action kind they ask for -> their label. Resolve and note open a form.
BUTTONS = {
    "acknowledge": "Acknowledge",
    "start_runbook": "Start runbook",
    "resolve": "Resolve",
    "note": "Add note",
    "lead": "I'll lead",
}
#: The buttons that open a form first: kind -> (form title, text label, submit label, optional).
FORMS = {
    "resolve": ("Resolve incident", "Summary: what fixed it?", "Resolve", True),
    "note": ("Add a note", "Status update", "Add note", False),
}
#: The block_id and action_id of the form's text input.
TEXT_BLOCK = "incident_flow_text"


def action_id(kind: str) -> str:
    """The action_id of our button (or callback_id of our form) for ``kind``."""
    return f"{PREFIX}{kind}"


def form_view(kind: str, incident_id: str, title: str) -> dict[str, Any]:
    """The modal (``views.open``) that asks for the text of a ``resolve`` or ``note``.

    The incident's id travels in ``private_metadata``; Slack caps modal titles at 24
    characters and plain text at 3000.
    """
    heading, label, submit, optional = FORMS[kind]
    return {
        "type": "modal",
        "callback_id": action_id(kind),
        "private_metadata": incident_id,
        "title": {"type": "plain_text", "text": heading[:24]},
        "submit": {"type": "plain_text", "text": submit[:24]},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "context",
                "elements": [{"type": "plain_text", "text": f"{incident_id}: {title}"[:3000]}],
            },
            {
                "type": "input",
                "block_id": TEXT_BLOCK,
                "optional": optional,
                "label": {"type": "plain_text", "text": label},
                "element": {
                    "type": "plain_text_input",
                    "action_id": TEXT_BLOCK,
                    "multiline": True,
                    "max_length": 3000,
                },
            },
        ],
    }


def decode(body: bytes | str | Mapping[str, Any]) -> dict[str, Any]:
    """Slack's request as data.

    An interactivity ``payload=`` form, a slash command's form fields, or JSON; a mapping is
    taken as is (a framework already parsed it).

    Raises:
        ValueError: it is none of these.
    """
    if isinstance(body, Mapping):
        data = dict(body)
        payload = data.get("payload")
        return _json_object(payload) if isinstance(payload, str) else data
    text = body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else body
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        return _json_object(stripped)
    fields = parse_qs(text, keep_blank_values=True, strict_parsing=False)
    if not fields:
        msg = "not a Slack request: neither a form nor JSON"
        raise ValueError(msg)
    if "payload" in fields:
        return _json_object(fields["payload"][0])
    return {key: values[0] for key, values in fields.items()}


def _json_object(text: str) -> dict[str, Any]:
    data = storable_data(json.loads(text))
    if not isinstance(data, dict):
        msg = "Slack's payload must be a JSON object"
        raise ValueError(msg)
    return data
