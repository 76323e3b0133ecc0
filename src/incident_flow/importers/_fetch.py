"""Fetch what an importer reads from the vendor's REST API, with a token (extra ``http``).

Every list is followed to its last page, and no further than :data:`MAX_PAGES` pages or a page
seen before (an API paging forever is an error that says so). The token goes to the API's own
origin only and never appears in an error message; links in the answers are followed as
:mod:`._links` allows (an OnCall ``ical`` schedule's calendar is fetched without the token,
over HTTPS, from a host the user listed, at public addresses only; a calendar refused is
reported by the import, not fetched). Failures are :class:`~incident_flow.DeliveryError`
naming the call and the status.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urljoin, urlsplit

from ..adapters._http import HttpClient, check_secret
from . import _links
from ._common import InvalidExport
from ._links import MAX_PAGES, Links, Pages, RefusedLink, Resolver, resolve, shown

__all__ = ["DEFAULT_URLS", "MAX_PAGES", "fetch"]

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
    def __init__(
        self,
        client: HttpClient,
        base: str,
        headers: Mapping[str, str],
        *,
        links: Links | None = None,
        max_pages: int = MAX_PAGES,
    ) -> None:
        self.client, self.base, self.headers = client, base.rstrip("/") + "/", headers
        self.links = links or Links(self.base)
        self.max_pages = max_pages

    def get(
        self, path: str, params: Mapping[str, Any] | None = None, *, absent: bool = False
    ) -> Any:
        """GET ``path`` (on the API's host) as JSON; with ``absent``, None for a 400 or 404."""
        url = urljoin(self.base, path)
        # The token goes to the API only, and never over plain HTTP when it was HTTPS.
        self.links.page(url)
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
        counter = Pages(f"GET /{path}", api.max_pages)
        while True:
            counter.next(str(offset), f"offset {offset}")
            query = {**(params or {}), "limit": _PAGE, "offset": offset}
            page = api.get(path, query, absent=absent)
            if page is None:  # no such endpoint for this account (v3 schedules)
                return items
            answered = page.get("offset")
            if isinstance(answered, int) and 0 <= answered < offset:
                counter.next(str(answered), f"offset {answered}")  # a page seen before: loops
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
    # Each service names its escalation policy: the route of its alerts to that team.
    yield {"services": pages("services", "services")}


def _opsgenie(api: _Api, now: datetime) -> Iterator[object]:
    def pages(path: str, **params: Any) -> list[Any]:
        items: list[Any] = []
        offset = 0
        counter = Pages(f"GET /{path}", api.max_pages)
        while True:
            counter.next(str(offset), f"offset {offset}")
            page = api.get(path, {**params, "limit": _PAGE, "offset": offset})
            items += page.get("data", [])
            following = (page.get("paging") or {}).get("next")
            if not following or not page.get("data"):
                return items
            # The next link's offset, if it says one (one seen before is a loop), else ours.
            offset = _offset_in(following, offset + _PAGE)

    schedules = pages("v2/schedules", expand="rotation")
    yield {"data": schedules}
    for schedule in schedules:
        ident = quote(str(schedule["id"]))
        yield api.get(f"v2/schedules/{ident}/overrides")
    yield {"data": pages("v2/escalations")}
    for team in pages("v2/teams"):
        ident = quote(str(team["id"]))
        yield api.get(f"v2/teams/{ident}")
        # Its routing rules name no team: the answer is kept with whose it is.
        rules = api.get(f"v2/teams/{ident}/routing-rules", absent=True)
        if isinstance(rules, Mapping) and rules.get("data"):
            yield {"team": {"id": team["id"], "name": team.get("name")}, **rules}


def _offset_in(link: object, otherwise: int) -> int:
    """The ``offset`` a next-page link asks for (``otherwise`` when it says none)."""
    values = parse_qs(urlsplit(link).query).get("offset", []) if isinstance(link, str) else []
    return int(values[0]) if values and values[0].isdigit() else otherwise


def _grafana(api: _Api, now: datetime, calendar: Callable[[str], object]) -> Iterator[object]:
    def pages(path: str) -> list[Any]:
        items: list[Any] = []
        counter = Pages(f"GET /{path}", api.max_pages)
        url: object = urljoin(api.base, path)
        while url:
            if not isinstance(url, str):
                msg = f"GET /{path}: the next page must be a link, got {url!r}"
                raise InvalidExport(msg)
            parts = urlsplit(url)  # named by its path: a query could hold a cursor
            counter.next(url, f"{shown(url)}{parts.path}{'?…' if parts.query else ''}")
            page = api.get(url)
            items += page.get("results", [])
            following = page.get("next")
            url = urljoin(url, following) if isinstance(following, str) else following
        return items

    yield {"results": pages("api/v1/users/")}
    schedules = pages("api/v1/schedules/")
    yield {"results": schedules}
    yield {"results": pages("api/v1/on_call_shifts/")}
    yield {"results": pages("api/v1/escalation_chains/")}
    yield {"results": pages("api/v1/escalation_policies/")}
    # The organisation: where alerts arrive and which chain each route gives them.
    yield {"results": pages("api/v1/integrations/")}
    yield {"results": pages("api/v1/routes/")}
    for schedule in schedules:
        for key in ("ical_url_primary", "ical_url_overrides"):
            if schedule.get(key):
                yield calendar(schedule[key])


def fetch(
    vendor: str,
    token: str,
    *,
    url: str | None = None,
    client: HttpClient | None = None,
    now: datetime | None = None,
    allowed_hosts: Iterable[str] = (),
    max_pages: int | None = None,
    resolver: Resolver | None = None,
) -> list[object]:
    """The documents an importer reads, fetched from ``vendor``'s REST API with ``token``.

    Args:
        vendor: ``pagerduty``, ``opsgenie`` or ``grafana-oncall``.
        token: a read-only API key (PagerDuty REST key, Opsgenie API key, OnCall API token).
        url: the API's base URL (needed for Grafana OnCall; Opsgenie EU accounts too).
        client: the HTTP client (tests pass one on a local server); default: a new one.
        now: where override windows start (default: now).
        allowed_hosts: hosts other than the API's (``HOST`` or ``HOST:PORT``) that Grafana
            OnCall's calendars may be fetched from, over HTTPS, at public addresses.
        max_pages: the most pages one list is read in (default: :data:`MAX_PAGES`, 1,000);
            more is an error.
        resolver: how host names are resolved before a calendar is fetched (default: the
            system's; tests pass their own).

    Returns:
        JSON documents for :func:`incident_flow.importers.import_vendor` (Grafana OnCall's
        calendars come as ``{"calendar": URL, "text": ...}``, or ``{"calendar": URL,
        "refused": WHY}`` for one not fetched, which the import reports).

    Raises:
        InvalidExport: an unknown vendor, a missing URL, a bad token or allowed host, a page
            link off the API's origin, or paging that loops or goes past ``max_pages``.
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
    if max_pages is None:
        max_pages = _links.MAX_PAGES  # read now: the one setting, wherever it is changed
    if isinstance(max_pages, bool) or not isinstance(max_pages, int) or max_pages < 1:
        msg = f"max_pages must be a whole number of pages, 1 or more, got {max_pages!r}"
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
    links = Links(base, allowed_hosts, resolver or resolve)
    own = client is None
    http = client or HttpClient(secrets=[token])
    api = _Api(http, base, headers, links=links, max_pages=max_pages)
    moment = now or datetime.now(UTC)
    try:
        if vendor == "pagerduty":
            return list(_pagerduty(api, moment))
        if vendor == "opsgenie":
            return list(_opsgenie(api, moment))

        def calendar(address: object) -> object:
            if not isinstance(address, str):
                return {"calendar": str(address), "refused": "not a link: not fetched"}
            try:
                links.other(address)
            except RefusedLink as exc:  # reported by the import; nothing of it is fetched
                return {"calendar": address, "refused": str(exc)}
            what = f"GET calendar {shown(address)}"
            return {"calendar": address, "text": str(http.request("GET", address, what=what).text)}

        return list(_grafana(api, moment, calendar))
    finally:
        if own:
            http.close()
