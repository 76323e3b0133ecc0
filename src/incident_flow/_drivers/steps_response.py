"""The response, as steps: responders' commands and vendor actions, the timers' turns.

Every command goes through :meth:`Loop._execute` with a decider of
:mod:`incident_flow._response.decide` or :mod:`incident_flow._responders.actions`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from .._core import commands as cmd
from .._core.incident import Incident
from .._core.policy import Policy
from .._core.steps import Steps, call
from .._responders.actions import READ_AGAIN, Action, decide_action, record_action
from .._response.decide import (
    Decision,
    decide_escalation,
    decide_release,
    decide_reminder,
)
from ..exceptions import (
    ConcurrencyError,
    IncidentNotFound,
    InvalidCommand,
    InvalidTransition,
)
from .loop import _DELIVERY_RETRIES, Loop, _log


class ResponseSteps(Loop):
    """The response, as steps: responders' commands and vendor actions, the timers' turns."""

    def _apply(self, action: Action) -> Steps[Incident]:
        if not isinstance(action, Action):
            msg = f"apply takes an Action, got {type(action).__name__}"
            raise InvalidCommand(msg)
        person = self.policy.people.name(action.source, action.by, *action.by_aliases)
        yield from self._refresh_catalog()
        incident_id = yield from self._named(action.incident)
        if action.kind in READ_AGAIN and self._polls_reviews():
            # Commits were pushed: recorded once, and what they changed read from the branch.
            yield from call("_locks", "acquire", incident_id)
            try:
                before = yield from self._load(incident_id)
                recorded, _ = yield from self._execute(
                    incident_id, lambda inc, now: record_action(inc, action, person, now)
                )
            finally:
                self._locks.release(incident_id)
            if recorded.version == before.version:
                return recorded  # this delivery was recorded already
            try:
                polled = yield from self._poll_review(incident_id)
            except Exception as exc:  # noqa: BLE001 - the vendor gets its 2xx; the worker polls
                _log.warning(
                    "incident_flow.review_poll_failed",
                    incident_id=incident_id,
                    error=f"{type(exc).__name__}: {exc}",
                )
                return recorded
            return polled if polled is not None else recorded
        yield from call("_locks", "acquire", incident_id)
        try:
            incident, _ = yield from self._execute(
                incident_id,
                lambda inc, now: decide_action(inc, action, person, self._policy(), now),
                retries=_DELIVERY_RETRIES,  # a vendor's action is never dropped lightly
            )
        finally:
            self._locks.release(incident_id)
        return incident

    def _named(self, reference: str) -> Steps[str]:
        """The id of the incident a vendor names: our id, else an open incident's dedup key."""
        if reference in self._cache:
            return reference
        try:
            yield from self._load(reference)
        except IncidentNotFound:
            found = yield from call("store", "find_by_dedup_key", reference)
            if found is None:
                raise IncidentNotFound(
                    reference, f"no incident here is named {reference!r} (by id or dedup key)"
                ) from None
            return str(found)
        return reference

    def _submit_command(self, by: str) -> cmd.SubmitPostmortem:
        """Submit, reviewed where the publisher keeps it (a pull request, a branch, nowhere)."""
        place = getattr(self._port("publisher"), "review", "command")
        return cmd.SubmitPostmortem(
            by=by, review=place if place in cmd.REVIEW_PLACES else "command"
        )

    @staticmethod
    def _reopen_command(by: str) -> cmd.Command:
        if by is None:
            msg = "reopen: say who acts (by=)"
            raise InvalidCommand(msg)
        return cmd.Reopen(by=by)

    def _escalate_due(self, limit: int) -> Steps[list[Incident]]:
        silences = yield from self._active_silences()

        def decider(inc: Incident, policy: Policy, now: datetime) -> Decision:
            if inc.silenced:  # its silence's end is its timer
                return decide_release(inc, policy, now, silences)
            return decide_escalation(inc, policy, now)

        escalated = yield from self._run_timers(decider, "escalation", limit)
        for incident in escalated:
            if incident.escalation_level == 0:
                continue  # a silenced alert opened at its silence's end
            _log.warning(
                "incident_flow.escalated", incident_id=incident.id, level=incident.escalation_level
            )
        return escalated

    def _remind_due(self, limit: int) -> Steps[list[Incident]]:
        return (yield from self._run_timers(decide_reminder, "reminder", limit))

    def _run_timers(
        self,
        decider: Callable[[Incident, Policy, datetime], Decision],
        what: str,
        limit: int,
    ) -> Steps[list[Incident]]:
        """Run ``decider`` on every incident whose next timer is due; return those it changed.

        Escalations and reminders share one index: each decider does nothing for a timer
        that is not its own (or not due any more when the incident is reloaded).
        """
        changed: list[Incident] = []
        due = yield from call("store", "due_incidents", self._now(), limit=limit)
        for incident_id in due:
            decided: list[Decision] = []

            def decide_now(
                inc: Incident, now: datetime, decided: list[Decision] = decided
            ) -> Decision:
                decision = decider(inc, self._policy(), now)
                decided.append(decision)
                return decision

            try:
                incident, _ = yield from self._execute(
                    incident_id, decide_now, retries=_DELIVERY_RETRIES
                )
            except (InvalidTransition, ConcurrencyError) as exc:
                _log.warning(
                    f"incident_flow.{what}_skipped", incident_id=incident_id, error=str(exc)
                )
                continue
            if decided and decided[-1].events:
                changed.append(incident)
        return changed
