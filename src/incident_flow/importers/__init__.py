"""Come home from Opsgenie, PagerDuty and Grafana OnCall: their schedules and escalations, imported.

    from incident_flow.importers import import_pagerduty
    imported = import_pagerduty([json.load(open("schedule.json")), json.load(open("ep.json"))])
    Path("policy.toml").write_text(imported.policy_toml())  # people, schedules, escalation
    Path("import-report.md").write_text(imported.report())  # what did not carry over

Each importer reads the vendor's REST API JSON (files, or fetched with a token by
:func:`fetch`), builds incident_flow's own values, and lists every field it could not carry
over exactly. See docs/importing.md for each vendor's mapping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from .._core.people import People
from ._common import Finding, Imported, InvalidExport
from ._fetch import DEFAULT_URLS, fetch
from ._report import to_report
from ._toml import to_toml
from .grafana_oncall import import_grafana_oncall
from .opsgenie import import_opsgenie
from .pagerduty import import_pagerduty

__all__ = [
    "DEFAULT_URLS",
    "VENDORS",
    "Finding",
    "Imported",
    "InvalidExport",
    "fetch",
    "import_grafana_oncall",
    "import_opsgenie",
    "import_pagerduty",
    "import_vendor",
    "to_report",
    "to_toml",
]

#: The importers by the name the command line uses.
VENDORS: Mapping[str, Callable[..., Imported]] = {
    "opsgenie": import_opsgenie,
    "pagerduty": import_pagerduty,
    "grafana-oncall": import_grafana_oncall,
}


def import_vendor(
    vendor: str,
    documents: Iterable[object],
    *,
    people: People | None = None,
    escalation: str | None = None,
    calendars: Mapping[str, str] | None = None,
    overrides: Mapping[str, Iterable[object]] | None = None,
    time_zone: str | None = None,
) -> Imported:
    """Import ``documents`` from ``vendor`` (``opsgenie``, ``pagerduty`` or ``grafana-oncall``).

    ``calendars`` are Grafana OnCall's (see :func:`import_grafana_oncall`); ``overrides`` and
    ``time_zone`` PagerDuty's (see :func:`import_pagerduty`).

    Raises:
        InvalidExport: an unknown vendor, a setting of another vendor's, or JSON that is not
            what the vendor's API returns.
    """
    if vendor not in VENDORS:
        msg = f"no importer for {vendor!r} (known: {', '.join(VENDORS)})"
        raise InvalidExport(msg)
    if calendars and vendor != "grafana-oncall":
        msg = "calendars are read for Grafana OnCall's ical schedules only"
        raise InvalidExport(msg)
    if (overrides or time_zone is not None) and vendor != "pagerduty":
        msg = "overrides by schedule and a time zone are read for PagerDuty only"
        raise InvalidExport(msg)
    extra: dict[str, object] = {"calendars": calendars} if calendars else {}
    if overrides:
        extra["overrides"] = overrides
    if time_zone is not None:
        extra["time_zone"] = time_zone
    return VENDORS[vendor](documents, people=people, escalation=escalation, **extra)
