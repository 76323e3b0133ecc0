"""Deliveries as the vendors send them, made from the real bodies in ``samples/actions``.

Each helper loads one real body (origins in ``samples/actions/README.md``), points it at one of
our incidents the way the vendor would (the page's title PagerDuty keeps, the alias Opsgenie
keeps, the value of our Slack button, our post-mortem branch), and signs it as the vendor does.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ACTIONS = Path(__file__).with_name("samples") / "actions"
PD_SECRET = "pd-webhook-secret"  # noqa: S105 - test keys
SLACK_SECRET = "slack-signing-secret"  # noqa: S105
GITHUB_SECRET = "github-webhook-secret"  # noqa: S105
OPSGENIE_TOKEN = "opsgenie-shared-token"  # noqa: S105


def sample(name: str) -> Any:
    """A real body from ``samples/actions``, parsed."""
    return json.loads((ACTIONS / name).read_text(encoding="utf-8"))


def _hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def pagerduty(
    event: str,
    title: str,
    *,
    agent: str = "PJ0LVEB",
    occurred_at: str | None = None,
    webhook_id: str = "wh-1",
    content: str | None = None,
    priority: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A signed v3 webhook ``incident.<event>`` about the PagerDuty incident titled ``title``."""
    body = copy.deepcopy(sample(f"pagerduty_v3_incident_{event}.json"))
    data = body["event"]["data"]
    body["event"]["agent"]["id"] = agent
    if occurred_at is not None:
        body["event"]["occurred_at"] = occurred_at
    if data.get("type") == "incident_note":
        data["incident"]["summary"] = title
        if content is not None:
            data["content"] = content
    else:
        data["title"] = title
        data.pop("incident_key", None)
    if priority is not None:
        data["priority"]["summary"] = data["priority"]["name"] = priority
    raw = json.dumps(body).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "PagerDuty-Webhook/V3.0",
        "X-Webhook-Id": webhook_id,
        "X-PagerDuty-Signature": "v1=" + _hex(PD_SECRET, raw),
    }
    return raw, headers


def opsgenie(action: str, alias: str, *, user: str, updated_ns: int, note: str = "") -> bytes:
    """An Opsgenie webhook of ``action`` on the alert aliased ``alias``."""
    name = {"Acknowledge": "acknowledge", "Close": "close", "AddNote": "addnote"}[action]
    body = copy.deepcopy(sample(f"opsgenie_{name}.json"))
    body["alert"].update(alias=alias, username=user, updatedAt=updated_ns)
    if note:
        body["alert"]["note"] = note
    return json.dumps(body).encode()


def opsgenie_headers() -> dict[str, str]:
    """The custom header the Opsgenie webhook integration is set up to send."""
    return {"Content-Type": "application/json", "X-Incident-Flow-Token": OPSGENIE_TOKEN}


#: The workspace the example configuration names (``[slack] team_id``).
SLACK_TEAM = "T024BE7LD"


def _in_our_workspace(body: dict[str, Any]) -> None:
    body["team"]["id"] = SLACK_TEAM
    body["user"]["team_id"] = SLACK_TEAM


def slack_signed(form: bytes) -> dict[str, str]:
    """Slack's signing headers for ``form``, timestamped now."""
    ts = str(int(time.time()))
    signature = "v0=" + _hex(SLACK_SECRET, b"v0:" + ts.encode() + b":" + form)
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
    }


def slack_press(kind: str, incident_id: str, *, user: str, trigger: str) -> tuple[bytes, dict]:
    """A signed press of our ``kind`` button (the real block_actions body, our button in it)."""
    body = copy.deepcopy(sample("slack_block_actions.json"))
    body["user"]["id"] = user
    body["trigger_id"] = trigger
    _in_our_workspace(body)
    body["actions"][0].update(action_id=f"incident_flow:{kind}", value=incident_id)
    form = urlencode({"payload": json.dumps(body)}).encode()
    return form, slack_signed(form)


def slack_submit(kind: str, incident_id: str, text: str, *, user: str, view: str) -> tuple:
    """A signed submission of our ``kind`` form (the real view_submission body, our form)."""
    body = copy.deepcopy(sample("slack_view_submission.json"))
    body["user"]["id"] = user
    _in_our_workspace(body)
    body["view"].update(
        id=view,
        callback_id=f"incident_flow:{kind}",
        private_metadata=incident_id,
        state={"values": {"incident_flow_text": {"incident_flow_text": {"value": text}}}},
    )
    form = urlencode({"payload": json.dumps(body)}).encode()
    return form, slack_signed(form)


def github(
    event: str, name: str, incident_id: str, *, login: str, delivery: str, pull: int = 318
) -> tuple[bytes, dict[str, str]]:
    """A signed GitHub delivery from the real sample ``github_<name>.json``, on our branch
    (the pull request ``acme/runbooks#<pull>``, as the fake GitHub numbers them)."""
    body = copy.deepcopy(sample(f"github_{name}.json"))
    body["pull_request"]["head"]["ref"] = f"postmortem/{incident_id}"
    body["pull_request"]["html_url"] = f"https://github.com/acme/runbooks/pull/{pull}"
    body["sender"]["login"] = login
    if "review" in body:
        body["review"]["user"]["login"] = login
        # Each review GitHub keeps has its own id; a redelivery repeats the delivery and the id.
        body["review"]["id"] = int(hashlib.sha256(delivery.encode()).hexdigest()[:12], 16)
    if body["pull_request"].get("merged_by"):
        body["pull_request"]["merged_by"]["login"] = login
    raw = json.dumps(body).encode()
    return raw, {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": "sha256=" + _hex(GITHUB_SECRET, raw),
    }
