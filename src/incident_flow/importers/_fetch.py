"""Fetch what an importer reads from the vendor's REST API, with a token (extra ``http``).

Every list is followed to its last page. The token goes to the vendor's API host only (an
OnCall ``ical`` schedule's calendar URL is fetched without it), and never appears in an error
message. Failures are :class:`~incident_flow.DeliveryError` naming the call and the status.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode, urljoin, urlsplit

from ..adapters._http import HttpClient, check_secret
from ._common import InvalidExport

__all__ = ["DEFAULT_URLS", "fetch"]

#: Where each vendor's API answers (Opsgenie's EU accounts: https://api.eu.opsgenie.com;
#: Grafana OnCall: your instance's OnCall API URL, always given).
DEFAULT_URLS = {
    "pagerduty": "https://api.pagerduty.com",
    "opsgenie": "https://api.opsgenie.com",
}
_PAGE = 100
#: How far ahead overrides are fetched (PagerDuty and Opsgenie list them by window).
OVERRIDES_AHEAD = timedelta(days=365)


class _Api:
    def __init__(self, client: HttpClient, base: str, headers: Mapping[str, str]) -> None:
        self.client, self.base, self.headers = client, base.rstrip("/") + "/", headers

    def get(
        self, path: str, params: Mapping[str, Any] | None = None, *, absent: bool = False
    ) -> Any:
        """GET ``path`` (on the API's host) as JSON; with ``absent``, None for a 400 or 404."""
        url = path if path.startswith(("http://", "https://")) else urljoin(self.base, path)
        here, base = urlsplit(url), urlsplit(self.base)
        if (here.scheme, here.netloc) != (base.scheme, base.netloc):
            # The token goes to the API only, and never over plain HTTP when it was HTTPS.
            msg = f"{here.scheme}://{here.netloc}: not the API's {base.scheme}://{base.netloc}"
            raise InvalidExport(f"{msg}; not followed")
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params)
        what = f"GET {urlsplit(url).path}"
        response = self.client.request(
            "GET", url, headers=self.headers, what=what, accept=(400, 404) if absent else ()
        )
        if response.status_code >= 300:
            return None
        try:
            return response.json()
        except ValueError as exc:
            msg = f"{what}: the answer is not JSON"
            raise InvalidExport(msg) from exc


def _safe(url: str) -> bool:
    """HTTPS, or HTTP to this machine (a local test server)."""
    parts = urlsplit(url)
    return parts.scheme == "https" or (
        parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1", "::1")
    )


def _pagerduty(api: _Api, now: datetime) -> Iterator[object]:
    def pages(
        path: str, key: str, params: Mapping[str, str] | None = None, *, absent: bool = False
    ) -> list[Any]:
        items: list[Any] = []
        offset = 0
        while True:
            query = {**(params or {}), "limit": _PAGE, "offset": offset}
            page = api.get(path, query, absent=absent)
            if page is None:  # no such endpoint for this account (v3 schedules)
                return items
            items += page.get(key, [])
            if not page.get("more"):
                return items
            offset += _PAGE

    classic = pages("schedules", "schedules", {"include[]": "schedule_layers"})
    # An upgraded schedule is listed here too, without its rotations: it is read from v3.
    schedules = [s for s in classic if s.get("type") != "schedule_v3"]
    since, until = now.isoformat(), (now + OVERRIDES_AHEAD).isoformat()
    for newer in pages("v3/schedules", "schedules", absent=True):
        ident = quote(str(newer["id"]))
        window = {"since": since, "until": until}
        whole = api.get(f"v3/schedules/{ident}")["schedule"]
        shifts = pages(f"v3/schedules/{ident}/custom_shifts", "custom_shifts", window)
        yield {"schedule": {**whole, "custom_shifts": shifts}}
        swaps = pages(f"v3/schedules/{ident}/overrides", "overrides", window)
        yield {"overrides": swaps}
    for schedule in schedules:
        overrides = api.get(
            f"schedules/{quote(str(schedule['id']))}/overrides", {"since": since, "until": until}
        ).get("overrides", [])
        yield {"schedule": {**schedule, "overrides": overrides}}
    yield {"users": pages("users", "users")}
    yield {"escalation_policies": pages("escalation_policies", "escalation_policies")}


def _opsgenie(api: _Api, now: datetime) -> Iterator[object]:
    def pages(path: str, **params: Any) -> list[Any]:
        items: list[Any] = []
        offset = 0
        while True:
            page = api.get(path, {**params, "limit": _PAGE, "offset": offset})
            items += page.get("data", [])
            if not (page.get("paging") or {}).get("next") or not page.get("data"):
                return items
            offset += _PAGE

    schedules = pages("v2/schedules", expand="rotation")
    yield {"data": schedules}
    for schedule in schedules:
        ident = quote(str(schedule["id"]))
        yield api.get(f"v2/schedules/{ident}/overrides")
    yield {"data": pages("v2/escalations")}
    for team in pages("v2/teams"):
        yield api.get(f"v2/teams/{quote(str(team['id']))}")


def _grafana(api: _Api, now: datetime, calendar: Callable[[str], str]) -> Iterator[object]:
    def pages(path: str) -> list[Any]:
        items: list[Any] = []
        url: str | None = path
        while url:
            page = api.get(url)
            items += page.get("results", [])
            url = page.get("next")
        return items

    yield {"results": pages("api/v1/users/")}
    schedules = pages("api/v1/schedules/")
    yield {"results": schedules}
    yield {"results": pages("api/v1/on_call_shifts/")}
    yield {"results": pages("api/v1/escalation_chains/")}
    yield {"results": pages("api/v1/escalation_policies/")}
    for schedule in schedules:
        for key in ("ical_url_primary", "ical_url_overrides"):
            if schedule.get(key):
                yield {"calendar": schedule[key], "text": calendar(schedule[key])}


def fetch(
    vendor: str,
    token: str,
    *,
    url: str | None = None,
    client: HttpClient | None = None,
    now: datetime | None = None,
) -> list[object]:
    """The documents an importer reads, fetched from ``vendor``'s REST API with ``token``.

    Args:
        vendor: ``pagerduty``, ``opsgenie`` or ``grafana-oncall``.
        token: a read-only API key (PagerDuty REST key, Opsgenie API key, OnCall API token).
        url: the API's base URL (needed for Grafana OnCall; Opsgenie EU accounts too).
        client: the HTTP client (tests pass one on a local server); default: a new one.
        now: where override windows start (default: now).

    Returns:
        JSON documents for :func:`incident_flow.importers.import_vendor` (Grafana OnCall's
        calendars come as ``{"calendar": URL, "text": ...}`` and are read as ``calendars``).

    Raises:
        InvalidExport: an unknown vendor, a missing URL, or a bad token.
        DeliveryError: the API refused or could not be reached (the call and status named).
    """
    try:
        check_secret("token", token)
    except ValueError as exc:
        raise InvalidExport(str(exc)) from exc
    base = url or DEFAULT_URLS.get(vendor)
    if base is not None and not _safe(base):
        msg = f"{base}: the API's URL must be https:// (the token would travel in clear)"
        raise InvalidExport(msg)
    if base is None:
        msg = f"{vendor}: give the API's URL (url=, --url)"
        raise InvalidExport(msg)
    headers = {
        "pagerduty": {
            "Authorization": f"Token token={token}",
            "Accept": "application/vnd.pagerduty+json;version=2",
        },
        "opsgenie": {"Authorization": f"GenieKey {token}"},
        "grafana-oncall": {"Authorization": token},
    }.get(vendor)
    if headers is None:
        msg = f"no importer for {vendor!r} (known: opsgenie, pagerduty, grafana-oncall)"
        raise InvalidExport(msg)
    own = client is None
    http = client or HttpClient(secrets=[token])
    api = _Api(http, base, headers)
    moment = now or datetime.now(UTC)
    try:
        if vendor == "pagerduty":
            return list(_pagerduty(api, moment))
        if vendor == "opsgenie":
            return list(_opsgenie(api, moment))

        def calendar(address: str) -> str:
            what = f"GET calendar {urlsplit(address).netloc}"
            return str(http.request("GET", address, what=what).text)  # no token sent

        return list(_grafana(api, moment, calendar))
    finally:
        if own:
            http.close()
