"""Checkly alert webhooks (the recommended snake_case template; see the docs)."""

from __future__ import annotations

from typing import Any

from .._core.alerts import Alert, AlertStatus
from .._core.severity import Severity
from ..exceptions import InvalidPayload
from ._common import Body, Fields, load_json

__all__ = ["parse"]

SOURCE = "checkly"
#: Checkly's ALERT_TYPE values -> (status, severity). ALERT_FAIL is the old spelling.
ALERT_TYPES: dict[str, tuple[AlertStatus, Severity | None]] = {
    "ALERT_FAILURE": ("firing", Severity.P2),
    "ALERT_FAIL": ("firing", Severity.P2),
    "ALERT_FAILURE_REMAIN": ("firing", Severity.P2),
    "ALERT_DEGRADED_FAILURE": ("firing", Severity.P2),
    "ALERT_DEGRADED": ("firing", Severity.P3),
    "ALERT_DEGRADED_REMAIN": ("firing", Severity.P3),
    "ALERT_FAILURE_DEGRADED": ("firing", Severity.P3),
    "ALERT_SSL": ("firing", Severity.P4),
    "ALERT_RECOVERY": ("resolved", None),
    "ALERT_DEGRADED_RECOVERY": ("resolved", None),
}


def parse(body: Body, headers: Any = None) -> list[Alert]:
    """One Checkly webhook body -> one Alert.

    Failure family -> P2, degraded family -> P3, ``ALERT_SSL`` -> P4, ``*_RECOVERY`` ->
    resolved. The dedup key is the check id (one open alert per check), else the check name,
    so a failure, its degradation and its recovery are one incident; an SSL expiry is its own.
    The template's keys match whatever their case (``ALERT_TYPE``, ``alert_type``).
    """
    data = load_json(SOURCE, body)
    if isinstance(data, dict) and "alert_type" not in data:
        # The webhook template is the user's: {{ALERT_TYPE}} under "ALERT_TYPE" is as good.
        data = {str(k).lower(): v for k, v in data.items()} | {
            k: v for k, v in data.items() if str(k) == str(k).lower()
        }
    f = Fields(SOURCE, data)
    if isinstance(data, dict) and "alert_type" not in data:
        msg = (
            f"{SOURCE}: alert_type is missing: the webhook's body template must send at least "
            '"alert_type": "{{ALERT_TYPE}}", "check_id": "{{CHECK_ID}}" and '
            '"check_name": "{{CHECK_NAME}}" (see docs/ingestion.md)'
        )
        raise InvalidPayload(msg)
    alert_type = f.text("alert_type").strip().upper()
    if alert_type not in ALERT_TYPES:
        msg = f"{SOURCE}: alert_type {alert_type!r} is not one of {', '.join(sorted(ALERT_TYPES))}"
        raise InvalidPayload(msg)
    status, severity = ALERT_TYPES[alert_type]
    check_id = f.text("check_id", "").strip()
    name = f.text("check_name", "").strip() or check_id
    if not name:
        msg = f"{SOURCE}: neither check_id nor check_name: nothing names the check"
        raise InvalidPayload(msg)
    identity = check_id or f"name:{name}"
    dedup_key = f"{SOURCE}:{identity}" + (":ssl" if alert_type == "ALERT_SSL" else "")
    labels = {"alert_type": alert_type}
    if check_id:
        labels["check_id"] = check_id
    for key in (
        "check_type",
        "group_name",
        "run_location",
        "region",
        "tags",
        "api_check_response_status_code",
        "ssl_check_domain",
        "ssl_days_remaining",
    ):
        if f.optional_text(key):
            labels[key] = f.text(key)
    title = f.text("event", "").strip() or f"Check {name!r}: {alert_type}"
    return [
        Alert(
            source=SOURCE,
            name=name,
            title=title,
            severity=severity,
            dedup_key=dedup_key,
            status=status,
            description=f.text("check_error_message", ""),
            labels=labels,
            url=f.optional_text("link"),
            started_at=f.time("started_at"),
            raw=data,
        )
    ]
