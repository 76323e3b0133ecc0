"""FlowCore: the flow's one copy of load -> decide -> append (+ outbox) -> deliver, as steps.

:class:`IncidentFlow` and :class:`AsyncIncidentFlow` are thin drivers around :class:`FlowCore`:
every operation is a generator of port calls (see :mod:`incident_flow._core.steps`), which the
sync driver performs by calling its ports and the async one by awaiting them. The decisions
themselves are the pure functions of each concern (``_alerting``, ``_response``, ``_oncall``,
``_review``, ``_runbooks``, ``_delivery``, ``_responders``).

FlowCore is only the map: the loop is :class:`~.loop.Loop` (``_execute``, ``_commit``,
``_load``, the cache) and each concern's steps are a class beside it, composed here:
``steps_alerting`` (``_trigger``, ``_route``, ``_trigger_all``, silences), ``steps_response``
(``_command``, ``_apply``, the timers), ``steps_review`` (``_poll_review``), ``steps_oncall``
(shifts, overrides, notices), ``steps_runbooks`` (the catalog) and ``steps_delivery``
(``_deliver``, ``_settle``, ``_send``, ``_record``, claims held) over ``steps_outcomes``
(a command's outcomes kept for the next append: ``_defer``, ``_fold``, ``_flush``).

Map: follow one alert, then one responder's action (port calls in brackets)::

    trigger(alert)
      _trigger     lock "alert:<dedup key>"
      _route       [store.find_by_dedup_key]
                     an open incident takes it: _attach -> _execute(_on_alert) (repeat, recovery)
                     none does: [store.silences] a silence in force?  a grouping rule's key?
                       [store.find_by_dedup_key(group key)] its incident joinable: _join
                       else: decide_new (grouped, held, or silenced) -> _commit -> _deliver
    trigger_all(alerts)  _to_open_incidents: _decide_together (every incident's alerts, one
                   [store.append_all]), else an _execute per incident; _to_new_incidents:
                   _open_together (ungrouped new alerts, one append_all), else _trigger each,
                   a new group's others in one _joins
    apply(action)  lock the incident; person = policy.people.name(...); _execute(decide_action)
                   (pushed commits: record_action, then _poll_review reads the branch)
    acknowledge(...) and every other command: lock the incident; _execute(decide)

    _execute       the loop every change goes through: decide on the cached incident (else
                   _load); a refusal or a no-op decided on the cache is re-decided on a fresh
                   _load before it is believed; _commit, and on ConcurrencyError _load and
                   decide again (up to ``retries``); then _deliver what the commit queued
    _load          [store.load(id, after the cached version)] -> fold -> the cache
    _commit        [store.append(id, expected version, events, snapshot, outbox claimed)]
    _deliver       -> _settle: per incident, _attempt each message while half the lease is
                   left, then _record
    _attempt       _send [notifier.send | pager.send | store.load + publisher.publish/merge]
    _record        _execute(decide_outcomes): MessageDelivered / DeliveryFailed events (a
                   publisher's merge publishes the post-mortem there)

    escalate_due, remind_due   _run_timers [store.due_incidents] -> _execute(decider) each
                   (a silenced incident's timer is its silence's end: decide_release)
    silence, end_silence       [store.save_silence]; ending one: _release_silenced
    deliver_pending            [store.claim_due] -> _settle, until nothing is due
    poll_reviews   [store.incident_ids("postmortem")] -> _poll_review each: [store.load]
                   [publisher.review_status] -> status_changes -> _command(revise), _apply(...)

The ports are named ``store``, ``notifier``, ``pager`` and ``publisher``; the clock is read
directly (a clock never blocks), through ``FlowCore._now``, which keeps every time in UTC.
"""

from __future__ import annotations

from .loop import Decider, catalog_revisions, new_incident_id
from .steps_alerting import AlertingSteps
from .steps_delivery import DeliverySteps
from .steps_oncall import OnCallSteps
from .steps_queries import QuerySteps
from .steps_response import ResponseSteps
from .steps_review import ReviewSteps
from .steps_runbooks import RunbookSteps
from .steps_trackers import TrackerSteps

__all__ = ["Decider", "FlowCore", "catalog_revisions", "new_incident_id"]


class FlowCore(
    AlertingSteps,
    ResponseSteps,
    ReviewSteps,
    OnCallSteps,
    RunbookSteps,
    QuerySteps,
    DeliverySteps,
    TrackerSteps,
):
    """What both drivers share: the settings, the incident cache and every operation as steps."""
