"""Alerts in, as steps: route each alert to its incident, a group's, or a new one; silences.

The pure half is :mod:`incident_flow._alerting.decide`; here is what reads and writes the
store around it (dedup and group keys, silences kept or in memory).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import attrs

from .._core import commands as cmd
from .._core.alerts import Alert
from .._core.events import Event
from .._core.incident import Incident
from .._core.messages import OutboxMessage
from .._core.policy import Policy
from .._core.steps import Steps, call
from .._core.storms import GroupingRule, LabelMatcher, Silence, group_key, matching_silence
from .._core.text import no_controls, unknown_key
from .._response.decide import (
    Decision,
    decide,
    decide_join,
    decide_new,
    decide_release,
)
from ..exceptions import (
    ConcurrencyError,
    IncidentNotFound,
    InvalidCommand,
    InvalidTransition,
    PolicyViolation,
)
from .loop import _DELIVERY_RETRIES, Loop, _log, _StoppedAcceptingAlerts, _utc

#: The most dedup keys whose incident is remembered (then the memory starts over).
_ROUTES_KEPT = 16384


class AlertingSteps(Loop):
    """Alerts in, as steps: route each alert to its incident, a group's, or a new one; silences."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The incident each alert key was last found to route to, by store (see _holder).
        self._routed: tuple[object, dict[str, str]] = (None, {})

    def _holder(self, dedup_key: str) -> Steps[str | None]:
        """The incident that takes alerts of ``dedup_key`` (``store.find_by_dedup_key``).

        A repeat asks again what the store answered for its key before, without a store
        call, while the cached incident still takes that key (it accepts alerts, and the key
        is its own or one of its members'). A key leaves an incident only by an append to that
        incident (it stops accepting alerts) and is never taken from one that holds it
        (``ports.EventLog.append``), so the incident's version, checked by the append the
        repeat makes, proves the answer is still the store's; a stale cache costs a refused
        append, a fresh read, and, if it took the key no more, this question asked again.
        """
        store = self._port("store")
        if self._routed[0] is not store:
            self._routed = (store, {})
        routed = self._routed[1]
        known = routed.get(dedup_key)
        if known is not None:
            incident = self._cache.get(known)
            if (
                incident is not None
                and incident.accepts_alerts
                and (incident.dedup_key == dedup_key or dedup_key in incident.members)
            ):
                return known
            routed.pop(dedup_key, None)
        holder: str | None = yield from call("store", "find_by_dedup_key", dedup_key)
        if holder is not None:
            if len(routed) >= _ROUTES_KEPT:
                routed.clear()
            routed[dedup_key] = holder
        return holder

    def _trigger(self, alert: Alert) -> Steps[Incident]:
        if not isinstance(alert, Alert):
            msg = f"trigger takes an Alert, got {type(alert).__name__}"
            raise InvalidCommand(msg)
        key = f"alert:{alert.dedup_key}"
        yield from call("_locks", "acquire", key)
        try:
            return (yield from self._route(alert))
        finally:
            self._locks.release(key)

    def _route(self, alert: Alert) -> Steps[Incident]:
        for _ in range(3):
            existing = yield from self._holder(alert.dedup_key)
            if existing is not None:
                done = yield from self._attach(
                    existing, lambda inc, now: _on_alert(inc, alert, self._policy(), now)
                )
                if done is not None:
                    return done
                continue  # it moved on to its post-mortem meanwhile: look again
            if not alert.firing:
                raise IncidentNotFound(
                    alert.dedup_key, f"no open incident for resolved alert {alert.dedup_key!r}"
                )
            silences = yield from self._active_silences()
            now = self._now()
            team = self.policy.team_name_for(alert)  # what team-scoped rules and silences ask
            silence = matching_silence(silences, alert, now, team)
            grouped = group_key(self.policy.grouping, alert, team)
            if grouped is not None and silence is not None:
                # Silenced alerts group among themselves, apart from the group's live alerts.
                grouped = (grouped[0], f"{grouped[1]}|{silence.id}")
            if grouped is not None:
                holder = yield from call("store", "find_by_dedup_key", grouped[1])
                if holder is not None:
                    done, apart = yield from self._join(holder, alert, grouped, silence)
                    if done is not None:
                        return done  # joined the group's incident
                    if apart:
                        grouped = None  # the group is held by the other side: open alone
            yield from self._refresh_catalog()  # a runbook any replica added is this alert's
            now = self._now()
            decision = yield from self._on_fresh_overrides(
                partial(decide_new, self._new_id(), alert, now=now, group=grouped, silence=silence)
            )
            incident = decision.incident
            try:
                yield from self._commit(None, decision, now)
            except ConcurrencyError:
                continue  # another writer opened it (or its group) first: attach to theirs
            yield from self._deliver(decision.outbox)
            return self._cache.get(incident.id, incident)
        raise ConcurrencyError(alert.dedup_key, 0)

    def _trigger_all(self, alerts: Sequence[Alert]) -> Steps[list[Incident | None]]:
        """Route many alerts (one webhook body) in a few transactions.

        The alerts open incidents take (repeats, recoveries) are decided one after the other
        on each and appended together, every incident in one ``append_all`` where the store
        has it; new alerts no rule groups open their incidents in one more; the first alert
        of a new group opens (or joins) its incident and the rest of the group joins it in one
        append. Anything else (a silence in force, an incident that stopped taking alerts, a
        refused batch) goes through :meth:`_trigger` one by one. ``None`` for a recovery of
        nothing open.
        """
        for alert in alerts:
            if not isinstance(alert, Alert):
                msg = f"trigger_all takes Alerts, got {type(alert).__name__}"
                raise InvalidCommand(msg)
        found: list[Incident | None] = [None] * len(alerts)
        rest = yield from self._to_open_incidents(alerts, found)
        if rest:  # else every alert repeated an open incident (a storm's usual body): no read
            yield from self._to_new_incidents(alerts, rest, found)
        return found

    def _to_open_incidents(
        self, alerts: Sequence[Alert], found: list[Incident | None]
    ) -> Steps[list[int]]:
        """Decide, per open incident, the alerts it takes in one append; the others' indexes."""
        by_incident: dict[str, list[int]] = {}
        rest: list[int] = []
        for index, alert in enumerate(alerts):
            holder = yield from self._holder(alert.dedup_key)
            if holder is None:
                rest.append(index)
            else:
                by_incident.setdefault(holder, []).append(index)
        if len(by_incident) > 1:
            units = {i: [alerts[n] for n in indexes] for i, indexes in by_incident.items()}
            together = yield from self._decide_together(units)
            if together is not None:
                for incident_id, indexes in by_incident.items():
                    for index in indexes:
                        found[index] = together[incident_id]
                return sorted(rest)
        for incident_id, indexes in by_incident.items():
            taken = [alerts[i] for i in indexes]

            def decider(inc: Incident, now: datetime, taken: list[Alert] = taken) -> Decision:
                policy = self._policy()
                return _chain(
                    inc, [partial(_on_alert, alert=a, policy=policy, now=now) for a in taken]
                )

            done = yield from self._attach(incident_id, decider)
            if done is None:
                rest.extend(indexes)  # it stopped taking them: each finds its way alone
            else:
                for index in indexes:
                    found[index] = done
        return sorted(rest)

    def _decide_together(self, units: dict[str, list[Alert]]) -> Steps[dict[str, Incident] | None]:
        """The alerts of several open incidents, decided on each and appended in one go.

        None (nothing written) when that is not possible: the store cannot, an incident
        stopped taking alerts, or another writer got there first. Locks are taken in order.
        """
        if not self._appends_all():
            return None
        ids = sorted(units)
        held: list[str] = []
        try:
            for incident_id in ids:
                yield from call("_locks", "acquire", incident_id)
                held.append(incident_id)
            now = self._now()
            loaded: list[Incident] = []
            for incident_id in ids:
                loaded.append((yield from self._load(incident_id)))  # noqa: PERF401 - yields

            def decide_all(policy: Policy) -> list[Decision]:
                return [
                    _chain(
                        incident,
                        [
                            partial(_on_alert, alert=a, policy=policy, now=now)
                            for a in units[incident.id]
                        ],
                    )
                    for incident in loaded
                ]

            try:
                decisions = yield from self._on_fresh_overrides(decide_all)
            except (_StoppedAcceptingAlerts, InvalidTransition, PolicyViolation):
                return None
            after = {d.incident.id: d.incident for d in decisions}
            decided: list[tuple[Incident | None, Decision]] = [
                (incident, d) for incident, d in zip(loaded, decisions, strict=True) if d.events
            ]
            try:
                if decided and not (yield from self._commit_all(decided, now)):
                    return None
            except ConcurrencyError:
                for incident_id in ids:
                    self._forget(incident_id)
                return None
            yield from self._deliver([m for _, d in decided for m in d.outbox])
            return {i: self._cache.get(i, after[i]) for i in ids}
        finally:
            for incident_id in held:
                self._locks.release(incident_id)

    def _open_together(self, alerts: Sequence[Alert]) -> Steps[list[Incident] | None]:
        """New incidents for alerts of distinct keys that no rule groups, in one append.

        None (nothing written) when not possible: the store cannot, or one of them has an
        incident by now (another writer): the caller opens them one by one.
        """
        if len(alerts) < 2 or not self._appends_all():
            return None
        keys = sorted(f"alert:{a.dedup_key}" for a in alerts)
        held: list[str] = []
        try:
            for key in keys:
                yield from call("_locks", "acquire", key)
                held.append(key)
            for alert in alerts:
                if (yield from call("store", "find_by_dedup_key", alert.dedup_key)) is not None:
                    return None
            yield from self._refresh_catalog()
            now = self._now()
            ids = [self._new_id() for _ in alerts]

            def decide_all(policy: Policy) -> list[Decision]:
                return [
                    decide_new(new_id, alert, policy, now)
                    for new_id, alert in zip(ids, alerts, strict=True)
                ]

            decisions = yield from self._on_fresh_overrides(decide_all)
            decided: list[tuple[Incident | None, Decision]] = [(None, d) for d in decisions]
            try:
                if not (yield from self._commit_all(decided, now)):
                    return None
            except ConcurrencyError:
                return None
            yield from self._deliver([m for _, d in decided for m in d.outbox])
            return [self._cache.get(d.incident.id, d.incident) for _, d in decided]
        finally:
            for key in held:
                self._locks.release(key)

    def _to_new_incidents(
        self, alerts: Sequence[Alert], rest: list[int], found: list[Incident | None]
    ) -> Steps[None]:
        """The alerts no open incident took: one by one, a new group's alerts together."""
        # The first alert of a new group opens (or joins) the group's incident; the rest of
        # the group joins it in one append. Not while a silence is in force: each alone.
        quiet = not (yield from self._active_silences())
        if quiet:
            alone: dict[str, int] = {}
            for index in rest:
                alert = alerts[index]
                if alert.firing and self._group_of(alert) is None:
                    alone.setdefault(alert.dedup_key, index)
            opened = yield from self._open_together([alerts[i] for i in alone.values()])
            if opened is not None:
                for index, incident in zip(alone.values(), opened, strict=True):
                    found[index] = incident
                rest = [i for i in rest if found[i] is None]
        groups: dict[str, tuple[tuple[GroupingRule, str], Incident, list[Alert]]] = {}
        joining: dict[int, str] = {}
        for index in rest:
            alert = alerts[index]
            grouped = self._group_of(alert) if quiet and alert.firing else None
            if grouped is not None and grouped[1] in groups:
                groups[grouped[1]][2].append(alert)
                joining[index] = grouped[1]
                continue
            try:
                incident = yield from self._trigger(alert)
            except IncidentNotFound:
                continue  # a recovery of nothing open: None
            found[index] = incident
            if grouped is not None:
                groups[grouped[1]] = (grouped, incident, [])
        joined: dict[str, Incident | None] = {}
        for key, (grouped, incident, taken) in groups.items():
            if taken:
                joined[key] = yield from self._attach(
                    incident.id, partial(self._joins, alerts=taken, grouped=grouped)
                )
        for index, key in joining.items():
            done = joined.get(key)
            found[index] = done if done is not None else (yield from self._trigger(alerts[index]))

    def _group_of(self, alert: Alert) -> tuple[GroupingRule, str] | None:
        """The grouping rule (and group key) of ``alert``, routed to its team."""
        policy = self.policy
        if not policy.grouping:
            return None
        return group_key(policy.grouping, alert, policy.team_name_for(alert))

    def _joins(
        self,
        incident: Incident,
        now: datetime,
        *,
        alerts: Sequence[Alert],
        grouped: tuple[GroupingRule, str],
    ) -> Decision:
        """A group's alerts join its incident one after the other, in one decision."""
        policy = self._policy()

        def one(inc: Incident, alert: Alert) -> Decision:
            if alert.dedup_key == inc.dedup_key or alert.dedup_key in inc.members:
                return _on_alert(inc, alert, policy, now)  # joined already: a repeat
            if inc.silenced or not inc.joinable(now):
                raise _StoppedAcceptingAlerts
            return decide_join(inc, alert, grouped, policy, now)

        return _chain(incident, [partial(one, alert=a) for a in alerts])

    def _join(
        self,
        holder: str,
        alert: Alert,
        grouped: tuple[GroupingRule, str],
        silence: Silence | None,
    ) -> Steps[tuple[Incident | None, bool]]:
        """Join ``alert`` to its group's incident; (None, apart) when it does not take it.

        ``apart``: one of them is silenced and the other not, so they may not share it.
        """
        apart: list[bool] = []

        def join(inc: Incident, now: datetime) -> Decision:
            if inc.silenced != (silence is not None):
                apart.append(True)
                raise _StoppedAcceptingAlerts
            if not inc.joinable(now):
                raise _StoppedAcceptingAlerts
            return decide_join(inc, alert, grouped, self._policy(), now)

        done = yield from self._attach(holder, join)
        return done, bool(apart)

    def _keeps_silences(self) -> bool:
        return self._store_can("keeps_silences", "save_silence")

    def _silences(self, active_at: datetime | None) -> Steps[list[Silence]]:
        """The silences (those not over at ``active_at`` when given), oldest first."""
        if self._keeps_silences():
            found: list[Silence] = yield from call("store", "silences", active_at=active_at)
            return found
        kept = list(self._kept_silences.values())
        return kept if active_at is None else [s for s in kept if s.until > active_at]

    def _active_silences(self) -> Steps[list[Silence]]:
        return (yield from self._silences(self._now()))

    def _save_silence(self, silence: Silence) -> Steps[None]:
        if self._keeps_silences():
            yield from call("store", "save_silence", silence)
        else:
            self._kept_silences[silence.id] = silence

    def _silence(
        self,
        matchers: Mapping[str, object] | Sequence[LabelMatcher],
        *,
        by: str,
        why: str,
        ends_at: datetime | None,
        duration: timedelta | None,
        starts_at: datetime | None,
        team: str | None = None,
    ) -> Steps[Silence]:
        if team is not None and team not in self.policy.team_names:
            known = self.policy.team_names
            problem = unknown_key(team, known, "team")
            msg = f"silence: team {no_controls(str(team))[:80]!r}: {problem}"
            raise InvalidCommand(msg)
        now = self._now()
        start = now if starts_at is None else _utc(starts_at)
        if (ends_at is None) == (duration is None):
            msg = "a silence is time-boxed: give its duration or its end (one of them)"
            raise InvalidCommand(msg)
        end = start + duration if duration is not None else _utc(ends_at)  # type: ignore[arg-type]
        if end <= now:
            msg = f"a silence ending at {end:%Y-%m-%d %H:%M} UTC is over already"
            raise InvalidCommand(msg)
        try:
            silence = Silence(
                id=f"sil-{uuid.uuid4().hex[:12]}",
                matchers=matchers,
                starts_at=start,
                ends_at=end,
                by=by,
                why=why,
                created_at=now,
                team=team,
            )
        except (ValueError, TypeError) as exc:
            raise InvalidCommand(f"silence: {exc}") from None
        yield from self._save_silence(silence)
        _log.info("incident_flow.silenced", silence_id=silence.id, by=by, until=str(end), team=team)
        return silence

    def _end_silence(self, silence_id: str, by: str) -> Steps[Silence]:
        known = {s.id: s for s in (yield from self._silences(None))}
        silence = known.get(silence_id)
        if silence is None:
            msg = f"no silence {silence_id!r}"
            raise InvalidCommand(msg)
        now = self._now()
        if silence.until > now:
            silence = attrs.evolve(silence, ended_at=max(now, silence.starts_at), ended_by=by)
            yield from self._save_silence(silence)
            _log.info("incident_flow.silence_ended", silence_id=silence.id, by=by)
        yield from self._release_silenced(silence.id)
        return silence

    def _release_silenced(self, silence_id: str) -> Steps[list[Incident]]:
        """Open (or keep silenced by another silence) the incidents ``silence_id`` held."""
        released: list[Incident] = []
        active = yield from self._active_silences()
        for incident_id in (yield from call("store", "incident_ids", "triggered")):
            incident = yield from self._load(incident_id)
            if incident.silence_id != silence_id:
                continue
            yield from call("_locks", "acquire", incident_id)
            try:
                done, _ = yield from self._execute(
                    incident_id,
                    lambda inc, now: decide_release(inc, self._policy(), now, active),
                    retries=_DELIVERY_RETRIES,
                )
            finally:
                self._locks.release(incident_id)
            released.append(done)
        return released


def _chain(incident: Incident, deciders: Sequence[Callable[[Incident], Decision]]) -> Decision:
    """One decision made of several, each decided on the incident the previous one left."""
    events: tuple[Event, ...] = ()
    outbox: tuple[OutboxMessage, ...] = ()
    current = incident
    for decider in deciders:
        decision = decider(current)
        events += decision.events
        outbox += decision.outbox
        current = decision.incident
    return Decision(current, events, outbox)


def _on_alert(incident: Incident, alert: Alert, policy: Policy, now: datetime) -> Decision:
    """A repeat or recovery of the incident's alert; a firing repeat reopens a resolved one."""
    if not incident.accepts_alerts:
        raise _StoppedAcceptingAlerts
    if alert.firing and incident.state == "resolved":
        reopened = decide(incident, cmd.Reopen(), policy, now)
        recorded = decide(reopened.incident, cmd.RecordAlert(alert=alert), policy, now)
        return Decision(
            recorded.incident,
            reopened.events + recorded.events,
            reopened.outbox + recorded.outbox,
        )
    return decide(incident, cmd.RecordAlert(alert=alert), policy, now)
