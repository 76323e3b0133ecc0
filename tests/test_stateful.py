"""The whole process under random commands, faults and a concurrent writer: the invariants hold.

A Hypothesis RuleBasedStateMachine drives IncidentFlow with alerts (repeats included), every
command with random arguments, a chat notifier, pager and publisher that fail at random, a
second flow on the same store writing between our load and our append, and a moving clock.
After every step it checks the eight invariants of DESIGN.md.

Most machines run on a policy of three teams (their own pager names, channels, one its own
post-mortem folder) with routes by service, and hand incidents between teams at random; they
also hold invariant 15: an incident's pages and chat messages go only to its team of the
moment (its people, its channel), and a handover of a critical, unresolved incident pages the
new team's first level at once. Two machines (reviewed by command; on SQLite) keep the
single-team policy of 0.2.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import psycopg
import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from incident_flow import (
    Action,
    Alert,
    AsyncIncidentFlow,
    DeliveryError,
    EscalationLevel,
    FolderPublisher,
    IncidentChannels,
    IncidentFlow,
    InvalidTransition,
    MemoryStore,
    Notification,
    Policy,
    PolicyViolation,
    PostMortemDocument,
    RecordingNotifier,
    Roles,
    Route,
    Runbook,
    Severity,
    Team,
)
from incident_flow._core.incident import Incident, PostMortem, fold
from incident_flow._core.process import PROCESS
from incident_flow._responders.actions import READ_AGAIN
from incident_flow._review.document import Review, ReviewStatus
from incident_flow.adapters.stores.postgres import PostgresStore
from incident_flow.adapters.stores.postgres_async import AsyncPostgresStore
from incident_flow.adapters.stores.sqlite import SQLiteStore
from incident_flow.adapters.trackers import MemoryTracker
from incident_flow.events import (
    CommanderScheduled,
    Event,
    RoleAssigned,
    event_from_dict,
    event_to_dict,
)
from incident_flow.ports import FollowUp, TrackerIssue
from incident_flow.testing import ManualClock
from incident_flow.testing._async import Blocking, LoopThread
from incident_flow.testing.strategies import (
    PEOPLE,
    STAFF,
    actions,
    alerts,
    people,
    severities,
    texts,
)

from .conftest import T0

KEYS = st.sampled_from(["k1", "k2", "k3", "k4"])
RUNBOOK = Runbook(name="latency", url="https://rb.example/latency", alert="*Latency*")
#: The teams of the team policy, and the services its routes read (search goes to gamma).
TEAMS = ("alpha", "beta", "gamma")
SERVICES = ("shop", "cart", "pay", "search")


def with_teams(policy: Policy, folder: Path) -> Policy:
    """``policy`` with three teams, each paging pager names of its own (``alpha-1``...) in a
    channel of its own (gamma: the configured one); alpha saves post-mortems in ``folder/alpha``.
    """
    levels = EscalationLevel
    return attrs.evolve(
        policy,
        teams=(
            Team(
                name="alpha",
                escalation=[levels(("alpha-1",)), levels(("alpha-2", "alpha-3"))],
                chat_channel="C0ALPHA",
                postmortem_folder=str(folder / "alpha"),
            ),
            Team(
                name="beta",
                escalation=[levels(("beta-1",))],
                escalation_repeats=1,
                chat_channel="C0BETA",
            ),
            Team(name="gamma", escalation=[levels(("gamma-1", "gamma-2")), levels(("gamma-3",))]),
        ),
        routes=(
            Route(team="alpha", match={"service": ["shop", "cart"]}),
            Route(team="beta", match={"service": "pay"}),
        ),
        default_team="gamma",
    )


class FlakyChannel(RecordingNotifier):
    """A notifier that fails while ``down``."""

    down = False

    def send(self, message: Notification) -> str | None:
        if self.down:
            raise DeliveryError("receiver unavailable", retry_after=None)
        return super().send(message)


class FlakyFolder(FolderPublisher):
    """A folder publisher that fails while ``down``."""

    down = False

    def publish(self, document: PostMortemDocument) -> str:
        if self.down:
            raise DeliveryError("disk unavailable")
        return super().publish(document)


class FlakyTracker(MemoryTracker):
    """The team's tracker (GitHub issues, in memory) that fails while ``down``."""

    down = False

    def open(self, follow_up: FollowUp) -> TrackerIssue:
        if self.down:
            raise DeliveryError("tracker unavailable")
        return super().open(follow_up)

    def close(self, issue: TrackerIssue, comment: str) -> TrackerIssue:
        if self.down:
            raise DeliveryError("tracker unavailable")
        return super().close(issue, comment)

    def status(self, issue: TrackerIssue) -> TrackerIssue:
        if self.down:
            raise DeliveryError("tracker unavailable")
        return super().status(issue)


class FlakyPullRequests(FlakyFolder):
    """Post-mortems reviewed on a "pull request": reviews come as GitHub actions or by a poll
    of ``reviews``; merging saves the file into the folder (and fails while ``down``)."""

    review = "pull_request"

    def __init__(self, folder: Path, **kwargs: Any) -> None:
        super().__init__(folder, **kwargs)
        self.reviews: dict[str, list[Review]] = {}

    def publish(self, document: PostMortemDocument) -> str:
        if self.down:
            raise DeliveryError("GitHub unavailable")
        return f"https://github.example/pull/{document.incident.id}"

    def merge(self, document: PostMortemDocument) -> str:
        return super().publish(document)

    def review_status(self, document: PostMortemDocument) -> ReviewStatus:
        if self.down:
            raise DeliveryError("GitHub unavailable")
        reviews = tuple(self.reviews.get(document.incident.id, ()))
        return ReviewStatus(source="github", reviews=reviews)


class RacingStore:
    """Wraps a store; runs ``race`` once just before the next append (another writer first)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.race: Callable[[], None] | None = None

    def append(
        self, incident_id: str, expected_version: int, events: Sequence[Event], **kwargs: Any
    ) -> None:
        race, self.race = self.race, None
        if race is not None:
            race()
        self.inner.append(incident_id, expected_version, events, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


COMMANDS = (
    "reclassify",
    "acknowledge",
    "start_runbook",
    "resolve",
    "reopen",
    "start_postmortem",
    "amend_postmortem",
    "submit_postmortem",
    "approve_postmortem",
    "request_changes",
    "publish_postmortem",
    "add_runbook",
    "update_runbook",
    "waive_action_item",
    "add_follow_up",
    "complete_action_item",
    "close",
    "note",
)


class IncidentProcess(RuleBasedStateMachine):
    """IncidentFlow against the standards."""

    incidents = Bundle("incidents")
    #: Post-mortems reviewed on pull requests (GitHub reviews), or by command (a folder).
    on_pull_requests = True
    #: Three teams with routes and handovers (:func:`with_teams`), or 0.2's one team.
    with_teams = True

    def make_store(self) -> Any:
        """The store under test (memory here; durable ones in the subclasses below)."""
        return MemoryStore()

    def close_store(self) -> None:
        """Release what make_store took."""

    def make_flow(self, *args: Any, **kwargs: Any) -> IncidentFlow:
        """The flow under test (sync here; AsyncIncidentFlow in AsyncIncidentProcess)."""
        return IncidentFlow(*args, **kwargs)

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="pm-"))
        self.policy = Policy(
            runbooks=[RUNBOOK],
            postmortem_folder=str(self.folder),
            people=STAFF,
            tracker={"kind": "github", "repo": "acme/ops"},  # every item kind is exported
            # P1 needs a commander: its chat is reminded, then "ic" paged (issue 32).
            roles=Roles(commander_required=["P1"], page=["ic"]),
            # P1s get a channel of their own (opened by the flaky chat, archived on close).
            incident_channels=IncidentChannels(archive_on_close=True),
        )
        self.tracker = FlakyTracker()
        self.clock = ManualClock(T0)
        self.store = RacingStore(self.make_store())
        if self.with_teams:  # three teams, routes by service, handovers (invariant 15)
            self.policy = with_teams(self.policy, self.folder)
        #: Where post-mortems may be saved: the policy's folder and its teams' own.
        self.folders = {self.folder, *(Path(t.postmortem_folder or "") for t in self.policy.teams)}
        self.chat = FlakyChannel()
        self.pager = FlakyChannel()
        own = {t.name: t.postmortem_folder for t in self.policy.teams if t.postmortem_folder}
        self.publisher = (
            FlakyPullRequests(self.folder, team_folders=own)
            if self.on_pull_requests
            else FlakyFolder(self.folder, team_folders=own)
        )
        self.flow = self.make_flow(
            self.policy,
            store=self.store,
            notifier=self.chat,
            pager=self.pager,
            publisher=self.publisher,
            clock=self.clock,
            tracker=self.tracker,
        )
        self.other = IncidentFlow(
            self.policy,
            store=self.store,
            notifier=RecordingNotifier(),
            pager=RecordingNotifier(),
            publisher=self.publisher,
            clock=self.clock,
            tracker=self.tracker,
        )
        self.ids: set[str] = set()
        self.closed: set[str] = set()
        self.commands_run = 0
        self.delivered: list[Action] = []  # every action delivered, for the vendors' retries

    # ----------------------------------------------------------------- rules

    @rule(target=incidents, alert=alerts(dedup_keys=KEYS))
    def fire(self, alert: Alert) -> str:
        incident = self.flow.trigger(alert)
        self.ids.add(incident.id)
        assert incident.state in ("notified", "runbook")
        return incident.id

    @rule(
        target=incidents,
        service=st.sampled_from(SERVICES),
        severity=st.sampled_from([Severity.P1, Severity.P2, Severity.P4]),
        key=KEYS,
    )
    def fire_for_service(self, service: str, severity: Severity, key: str) -> str:
        """An alert of a service the routes know (with teams: to alpha, beta or gamma), most
        often critical (so that handovers page)."""
        alert = Alert(
            source="alertmanager", name=f"{service}-down", title=f"{service} is down",
            severity=severity, dedup_key=key, labels={"service": service},
        )  # fmt: skip
        incident = self.flow.trigger(alert)
        self.ids.add(incident.id)
        assert incident.state in ("notified", "runbook")
        return incident.id

    @rule(
        incident_id=incidents,
        team=st.sampled_from((*TEAMS, "default")),
        who=people(),
        race=st.booleans(),
    )
    def reassign(self, incident_id: str, team: str, who: str, race: bool) -> None:
        """Hand the incident to a team (its own or an unknown one: refused, nothing changes)."""
        call = lambda: self.flow.reassign(incident_id, team, by=who)  # noqa: E731
        before = self.flow.get(incident_id).team
        self._check(incident_id, "reassign", call, race)
        if self.flow.get(incident_id).team != before:
            event("an incident was handed to another team")

    @rule(incident_id=incidents)
    def recover(self, incident_id: str) -> None:
        incident = self.flow.get(incident_id)
        if not incident.accepts_alerts:
            return
        recovered = self.flow.trigger(attrs.evolve(incident.alert, status="resolved"))
        assert recovered.id == incident_id
        assert recovered.state == incident.state

    @rule(
        incident_id=incidents,
        command=st.sampled_from(COMMANDS),
        who=people(),
        severity=severities(),
        text=texts(),
        item=st.sampled_from(["AI-1", "AI-2", "AI-3", "AI-9"]),
        race=st.booleans(),
    )
    def command(
        self,
        incident_id: str,
        command: str,
        who: str,
        severity: Severity,
        text: str,
        item: str,
        race: bool,
    ) -> None:
        self._check(
            incident_id, command, self._call(incident_id, command, who, severity, text, item), race
        )

    @rule(
        incident_id=incidents,
        role=st.sampled_from(["commander", "Commander", "scribe", "pilot"]),
        who=st.sampled_from([*PEOPLE, "zoe"]),
        by=people(),
        race=st.booleans(),
    )
    def assign(self, incident_id: str, role: str, who: str, by: str, race: bool) -> None:
        """Someone takes a role (a hand-over when it is held); a stranger or no such role is
        refused."""
        self._check(
            incident_id,
            "assign_role",
            lambda: self.flow.assign(incident_id, role, who, by=by),
            race,
        )

    @rule(incident_id=incidents, race=st.booleans(), steps=st.integers(1, 6))
    def progress(self, incident_id: str, race: bool, steps: int) -> None:
        """Responders take the next steps of the process (reaching the deep states)."""
        for _ in range(steps):
            self._next_step(incident_id, race)

    def _next_step(self, incident_id: str, race: bool) -> None:
        incident = self.flow.get(incident_id)
        flow = self.flow
        command, call = "note", lambda: flow.note(incident_id, "progress", by="alice")
        pm = incident.postmortem
        if incident.state == "notified":
            if incident.acknowledged_at is None:
                command, call = "acknowledge", lambda: flow.acknowledge(incident_id, by="alice")
            else:
                command, call = "start_runbook", lambda: flow.start_runbook(incident_id, by="bob")
        elif incident.state == "runbook":
            command, call = "resolve", lambda: flow.resolve(incident_id, by="bob")
        elif incident.state == "resolved" and incident.postmortem_required:
            command, call = (
                "start_postmortem",
                lambda: flow.start_postmortem(
                    incident_id,
                    author="alice",
                    impact="checkout failed",
                    root_cause="a bad deploy",
                    learnings=["tune the alert"],
                ),
            )
        elif incident.state == "postmortem" and pm is not None:
            step = self._review_step(incident_id, pm)
            if step is None:
                return
            command, call = step
        elif incident.state in ("resolved", "runbook_update"):
            open_items = incident.open_action_items
            if open_items:
                command, call = (
                    "waive_action_item",
                    lambda: flow.waive_action_item(
                        incident_id, open_items[0].id, by="carol", reason="tracked in the backlog"
                    ),
                )
            else:
                command, call = "close", lambda: flow.close(incident_id, by="carol")
        self._check(incident_id, command, call, race)

    def _review_step(
        self, incident_id: str, pm: PostMortem
    ) -> tuple[str, Callable[[], Incident]] | None:
        """Submit, approve (on the pull request, as a review), or merge it."""
        flow = self.flow
        waiting = [p for p in PEOPLE if p != pm.author and p not in pm.approvals]
        if pm.stage in ("draft", "closed"):
            return "submit_postmortem", lambda: flow.submit_postmortem(incident_id, by=pm.author)
        if len(pm.approvals) >= self.policy.postmortem_reviewers or not waiting:
            return "publish_postmortem", lambda: flow.publish_postmortem(incident_id, by="alice")
        if pm.review != "pull_request":
            return "approve_postmortem", lambda: flow.approve_postmortem(
                incident_id, reviewer=waiting[0]
            )
        review = Action(
            source="github",
            kind="approve_postmortem",
            incident=incident_id,
            by=f"{waiting[0]}-gh",
            delivery_id=f"github:{len(self.delivered)}",
        )
        self.delivered.append(review)
        self._apply(review, repeat=False)
        return None

    def _check(
        self, incident_id: str, trigger: str, call: Callable[[], Incident], race: bool
    ) -> None:
        """Run a command; check invariants 5 (refusals change nothing) and 8 (the table)."""
        before = self.flow.get(incident_id)
        stream = self.store.load(incident_id)
        if race and before.state != "closed":
            # Another replica notes something between our load and our append.
            self.store.race = lambda: self._other_writes(incident_id)
        self.commands_run += 1
        refusal: InvalidTransition | PolicyViolation | None = None
        try:
            after = call()
        except (InvalidTransition, PolicyViolation) as error:
            refusal = error
        self.store.race = None
        if refusal is not None:
            # 8: the process refuses exactly the pairs outside its table; the policy only
            # refuses pairs inside it. 5: either way nothing of ours was appended.
            in_table = (refusal.state, trigger) in PROCESS.pairs
            assert in_table == isinstance(refusal, PolicyViolation)
            self._unchanged(incident_id, stream)
            event(f"refused by {getattr(refusal, 'standard', 'the process')}")
            return
        assert (fold(None, stream).state, trigger) in PROCESS.pairs
        assert after.state == self.flow.get(incident_id).state
        if after.state == "closed":
            self.closed.add(incident_id)

    @rule(incident_id=incidents, data=st.data())
    def vendor_action(self, incident_id: str, data: st.DataObject) -> None:
        """A responder acts in PagerDuty, Opsgenie, Slack or GitHub (or a stranger does)."""
        drawn = data.draw(actions(incident_id, at=st.none() | st.just(self.clock.now())))
        action = attrs.evolve(drawn, delivery_id=f"{drawn.source}:{len(self.delivered)}")
        self.delivered.append(action)
        self._apply(action, repeat=False)

    @precondition(lambda self: self.delivered)
    @rule(data=st.data())
    def vendor_retries(self, data: st.DataObject) -> None:
        """9. A vendor delivers an action again (a retry, a redelivery): nothing changes."""
        self._apply(data.draw(st.sampled_from(self.delivered)), repeat=True)

    @rule(incident_id=incidents, source=st.sampled_from(["pagerduty", "opsgenie"]))
    def pager_echo(self, incident_id: str, source: str) -> None:
        """9. The pager tells us about the ack or resolve we mirrored to it: nothing changes."""
        incident = self.flow.get(incident_id)
        if incident.closed or not incident.paged:
            return
        kind = "resolve" if incident.resolved_at is not None else "acknowledge"
        if kind == "acknowledge" and incident.acknowledged_at is None:
            return
        echo = Action(source=source, kind=kind, incident=incident_id, by="integration")
        before = self.store.load(incident_id)
        after = self.flow.apply(echo)
        assert self.store.load(incident_id) == before
        assert after.version == incident.version
        event("an echo changed nothing")

    def _apply(self, action: Action, *, repeat: bool) -> None:
        """10. An action never raises a refusal: applied, ignored with a reason, or nothing."""
        self.flow.get(action.incident)  # the flow's delivery outcomes, written (issue 27)
        before = self.store.load(action.incident)
        seen = action.delivery_id in fold(None, before).deliveries
        after = self.flow.apply(action)  # raises nothing but what the store raises
        self.flow.get(action.incident)
        new = self.store.load(action.incident)[len(before) :]
        assert after.version == len(before) + len(new)
        if seen:
            assert new == [], "a delivery already recorded was applied again"
            event("a retried delivery changed nothing")
            return
        if not new:
            event("an action changed nothing (an echo or a repeat)")
            return
        person = self.policy.people.name(action.source, action.by)
        assert new[0].type in ("ActionApplied", "ActionIgnored")
        assert new[0].by == person and new[0].delivery_id == action.delivery_id  # type: ignore[attr-defined]
        if action.kind in READ_AGAIN and self.on_pull_requests:
            assert new[0].type == "ActionApplied"  # recorded once; the poll did the rest
            event("pushed commits were read back")
            return
        if new[0].type == "ActionIgnored":
            assert [e.type for e in new] == ["ActionIgnored"], "an ignored action did more"
            assert new[0].reason  # type: ignore[attr-defined]
            event(f"an action was ignored ({action.kind})")
        else:
            assert len(new) > 1, "an applied action changed nothing"
            event(f"an action was applied ({action.kind})")
        if after.state == "closed":
            self.closed.add(action.incident)

    @precondition(lambda self: self.on_pull_requests)
    @rule(
        incident_id=incidents,
        who=st.sampled_from((*PEOPLE, "zoe")),
        state=st.sampled_from(["approved", "changes_requested", "dismissed", "commented"]),
    )
    def review_on_github(self, incident_id: str, who: str, state: str) -> None:
        """A review whose webhook is lost: only the worker's poll will find it."""
        reviews = self.publisher.reviews.setdefault(incident_id, [])  # type: ignore[attr-defined]
        at = self.clock.now()
        reviews.append(Review(id=str(len(reviews)), reviewer=f"{who}-gh", state=state, at=at))

    @rule()
    def poll(self) -> None:
        """The worker polls the pull requests: what their webhooks lost is applied once."""
        for incident in self.flow.poll_reviews():
            if incident.closed:
                self.closed.add(incident.id)

    @precondition(lambda self: self.tracker.issues)
    @rule(data=st.data(), webhook=st.booleans())
    def closed_in_the_tracker(self, data: st.DataObject, webhook: bool) -> None:
        """A person closes a follow-up's issue; its webhook (or the poll) settles the item."""
        key = data.draw(st.sampled_from(sorted(self.tracker.issues)))
        self.tracker.close_there(key, by="octocat")
        if not webhook:
            changed = self.flow.poll_follow_ups()
        else:
            follow_up = self.tracker.follow_ups[key]
            action = Action(
                source="github",
                kind="follow_up_closed",
                incident=follow_up.incident_id,
                by="octocat",
                issue=key,
                delivery_id=f"github:follow_up_closed:{key}",
            )
            changed = [self.flow.apply(action)]
        for incident in changed:
            item = next((i for i in incident.action_items if i.tracker_key == key), None)
            assert item is None or not item.open or self.tracker.down

    @rule(down=st.booleans(), which=st.sampled_from(["chat", "pager", "publisher", "tracker"]))
    def toggle_fault(self, down: bool, which: str) -> None:
        ports = {"chat": self.chat, "pager": self.pager, "publisher": self.publisher}
        ports["tracker"] = self.tracker  # type: ignore[assignment]
        ports[which].down = down

    @rule(seconds=st.integers(0, 3600))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @rule()
    def deliver(self) -> None:
        self.flow.deliver_pending()

    @rule()
    def timers(self) -> None:
        """The worker's turn: due escalations and reminders."""
        self.flow.escalate_due()
        self.flow.remind_due()

    @precondition(lambda self: self.ids)
    @rule(data=st.data())
    def other_replica_notes(self, data: st.DataObject) -> None:
        incident_id = data.draw(st.sampled_from(sorted(self.ids)))
        self._other_writes(incident_id)

    # ----------------------------------------------------------------- helpers

    def _other_writes(self, incident_id: str) -> None:
        with contextlib.suppress(InvalidTransition):
            self.other.note(incident_id, "update from another replica", by="zoe")

    def _call(
        self, incident_id: str, command: str, who: str, severity: Severity, text: str, item: str
    ) -> Callable[[], Incident]:
        flow = self.flow
        calls: dict[str, Callable[[], Incident]] = {
            "reclassify": lambda: flow.reclassify(incident_id, severity, by=who),
            "acknowledge": lambda: flow.acknowledge(incident_id, by=who),
            "start_runbook": lambda: flow.start_runbook(incident_id, by=who),
            "resolve": lambda: flow.resolve(incident_id, by=who, summary=text),
            "reopen": lambda: flow.reopen(incident_id, by=who),
            "start_postmortem": lambda: flow.start_postmortem(
                incident_id, author=who, impact=text, learnings=[text]
            ),
            "amend_postmortem": lambda: flow.amend_postmortem(incident_id, by=who, root_cause=text),
            "submit_postmortem": lambda: flow.submit_postmortem(incident_id, by=who),
            "approve_postmortem": lambda: flow.approve_postmortem(incident_id, reviewer=who),
            "request_changes": lambda: flow.request_postmortem_changes(
                incident_id, reviewer=who, text=text
            ),
            "publish_postmortem": lambda: flow.publish_postmortem(incident_id, by=who),
            "add_runbook": lambda: flow.add_runbook(
                incident_id, Runbook(name=f"rb-{who}", url="https://rb.example/new"), by=who
            ),
            "update_runbook": lambda: flow.update_runbook(
                incident_id, RUNBOOK.name, by=who, note=text
            ),
            "waive_action_item": lambda: flow.waive_action_item(
                incident_id, item, by=who, reason=text
            ),
            "add_follow_up": lambda: flow.add_follow_up(
                incident_id, text.strip() or "follow up", by=who, owner=who
            ),
            "complete_action_item": lambda: flow.complete_action_item(incident_id, item, by=who),
            "close": lambda: flow.close(incident_id, by=who),
            "note": lambda: flow.note(incident_id, text, by=who),
        }
        return calls[command]

    def _unchanged(self, incident_id: str, stream: list[Event]) -> None:
        """Invariant 5: a refused command leaves the stream as it was (the race aside)."""
        now = self.store.load(incident_id)
        ours = [e for e in now[len(stream) :] if e.by != "zoe" and e.by is not None]
        assert now[: len(stream)] == stream
        assert ours == []

    # ----------------------------------------------------------------- invariants

    def _all(self) -> list[Incident]:
        return [self.flow.get(i) for i in sorted(self.ids)]

    @invariant()
    def postmortem_before_close(self) -> None:
        """1. A closed incident that required one has a published, reviewed, saved post-mortem."""
        for incident in self._all():
            if incident.closed and incident.postmortem_required:
                pm = incident.postmortem
                assert pm is not None and pm.published
                assert len(set(pm.approvals)) >= self.policy.postmortem_reviewers
                assert pm.author not in pm.approvals
                assert pm.location is not None and pm.merged_at is not None
                if Path(pm.location).parent in self.folders:  # saved or merged by us
                    assert Path(pm.location).is_file()
                else:  # a merge the pull request's webhook (or poll) told of
                    assert self.on_pull_requests

    @invariant()
    def one_notification_and_pages_for_critical_only(self) -> None:
        """2. Exactly one initial Slack message (and one in each new team's channel);
        critical paged before leaving notified."""
        for incident_id in sorted(self.ids):
            messages = self.store.outbox_messages(incident_id)
            moves = sum(e.type == "TeamReassigned" for e in self.store.load(incident_id))
            assert [m.kind for m in messages if m.kind == "notify"] == ["notify"] * (1 + moves)
            assert len(self.chat.of(incident_id, "notify")) <= 1 + moves
            critical = paged = False
            ever_critical = False
            left_notified = False
            state = "triggered"
            for recorded in self.store.load(incident_id):
                critical = getattr(recorded, "critical", critical)
                ever_critical = ever_critical or critical
                paged = paged or bool(getattr(recorded, "paged", False))
                if recorded.trigger is not None:
                    new = PROCESS.next_state(state, recorded.trigger)
                    if state == "notified" and new != "notified" and not left_notified:
                        left_notified = True
                        assert paged or not critical, "left notified unpaged while critical"
                    state = new
            pages = [m for m in messages if m.channel == "pager" and m.kind == "page"]
            if not ever_critical:
                assert pages == []
            assert bool(pages) == paged

    @invariant()
    def action_items_before_close(self) -> None:
        """3. Closed means no open items; a missing runbook always produced an item.

        Missing: neither the policy nor the catalog had a runbook for the alert when the
        incident's runbook was started or it was resolved (a runbook another incident added
        later does not cover it then).
        """
        revisions = self.store.runbook_revisions()
        for incident in self._all():
            if incident.closed:
                assert incident.open_action_items == ()
            if incident.runbook is not None or incident.state == "notified":
                continue
            asked = next(
                e.at
                for e in self.store.load(incident.id)
                if e.type in ("RunbookStarted", "IncidentResolved")
            )
            covered = self.policy.runbooks.find(incident.alert) is not None or any(
                r.at <= asked and r.runbook.matches(incident.alert) for r in revisions
            )
            if not covered:
                assert any(i.kind == "add_runbook" for i in incident.action_items)

    @invariant()
    def replay_is_the_live_incident(self) -> None:
        """4. Replaying the stored events, also through plain data, gives the live Incident."""
        for incident_id in sorted(self.ids):
            # Each replica's read first writes its delivery outcomes still waiting (issue 27).
            self.other.get(incident_id)
            self.flow.get(incident_id)
            events = self.store.load(incident_id)
            live = self.flow.get(incident_id)
            assert fold(None, events) == live
            assert fold(None, [event_from_dict(event_to_dict(e)) for e in events]) == live
            assert self.other.get(incident_id) == live

    @invariant()
    def versions_and_time(self) -> None:
        """6. Versions are contiguous from 1; timestamps never go backwards."""
        for incident_id in sorted(self.ids):
            events = self.store.load(incident_id)
            assert [e.version for e in events] == list(range(1, len(events) + 1))
            stamps = [e.at for e in events]
            assert stamps == sorted(stamps)

    @invariant()
    def escalation_rules(self) -> None:
        """Levels go up one at a time; the timer never escalates after an acknowledgement.

        A person may ask for the next level at any time (an action or ``escalate``).
        """
        for incident_id in sorted(self.ids):
            acked = False
            level = 0
            for recorded in self.store.load(incident_id):
                if recorded.type == "IncidentAcknowledged":
                    acked = True
                elif recorded.type in ("IncidentReopened", "TeamReassigned") and recorded.paged:  # type: ignore[attr-defined]
                    acked, level = False, 0
                elif recorded.type == "Escalated":
                    assert recorded.by is not None or not acked
                    assert recorded.level == level + 1  # type: ignore[attr-defined]
                    level += 1

    @invariant()
    def pages_and_messages_follow_the_team(self) -> None:
        """15. Pages and chat messages go to the incident's team of the moment (its escalation,
        or its commander rotation); a handover of a critical, unresolved incident pages the new
        team's first level at once.

        The team of a message is the incident's after the events of the decision that said
        it (its key names the decision's first version); the one line the old team's thread
        hears of a handover ("Reassigned to team ...") goes to the old team's channel.
        """
        for incident_id in sorted(self.ids):
            events = self.store.load(incident_id)
            teams: list[str | None] = []
            for recorded in events:
                moved = recorded.type in ("IncidentTriggered", "TeamReassigned")
                teams.append(recorded.team if moved else teams[-1])  # type: ignore[attr-defined]
            decided: dict[int, list[Notification]] = {}
            for message in self.store.outbox_messages(incident_id):
                if message.notification is not None:
                    version = int(message.id.split("/")[-3])
                    decided.setdefault(version, []).append(message.notification)
            for version, said in decided.items():
                owner = self.policy.owner_of(teams[version - 1])
                people = {t for level in owner.escalation for t in level.targets}
                people |= set(owner.roles.page)  # a leaderless P1 pages the commander rotation
                before = self.policy.owner_of(teams[version - 2] if version > 1 else None)
                for notification in said:
                    if notification.kind == "page":
                        assert notification.to and set(notification.to) <= people
                    elif notification.text.startswith("Reassigned to team"):
                        assert notification.channel == before.chat_channel
                    elif notification.kind in ("notify", "update"):
                        assert notification.channel == owner.chat_channel, notification.text
            for recorded in events:
                if recorded.type != "TeamReassigned":
                    continue
                was = fold(None, events[: recorded.version - 1])
                if not (was.critical and was.state in ("notified", "runbook")):
                    continue
                assert recorded.paged  # type: ignore[attr-defined]
                first = set(self.policy.owner_of(recorded.team).escalation[0].targets)  # type: ignore[attr-defined]
                pages = [n for n in decided.get(recorded.version, []) if n.kind == "page"]
                assert pages and set(pages[0].to) == first
                event("a handover paged the new team")

    @invariant()
    def every_delivery_at_most_once(self) -> None:
        """9. Each vendor delivery id is recorded at most once on its incident."""
        for incident_id in sorted(self.ids):
            ids = [
                e.delivery_id  # type: ignore[attr-defined]
                for e in self.store.load(incident_id)
                if e.type in ("ActionApplied", "ActionIgnored")
            ]
            assert len(ids) == len(set(ids))

    @invariant()
    def the_catalog_follows_the_incidents(self) -> None:
        """The catalog's revisions are the incidents' runbook events, one each, same facts."""
        kept = {r.key: r for r in self.store.runbook_revisions()}
        made = {}
        for incident_id in sorted(self.ids):
            for recorded in self.store.load(incident_id):
                if recorded.type == "RunbookAdded":
                    made[f"{incident_id}/{recorded.version}"] = (recorded.by, recorded.runbook)  # type: ignore[attr-defined]
                elif recorded.type == "RunbookUpdated":
                    made[f"{incident_id}/{recorded.version}"] = (recorded.by, None)
        assert set(kept) == set(made)
        for key, (by, runbook) in made.items():
            assert kept[key].by == by and kept[key].incident_id == key.split("/")[0]
            if runbook is not None:
                assert kept[key].runbook == runbook
        numbers = [r.number for r in self.store.runbook_revisions()]
        assert numbers == sorted(set(numbers))

    @invariant()
    def one_issue_per_item(self) -> None:
        """13. Each item has at most one issue in the tracker, and the one it records."""
        opened: dict[tuple[str, str], list[str]] = {}
        for key, follow_up in self.tracker.follow_ups.items():
            opened.setdefault((follow_up.incident_id, follow_up.item_id), []).append(key)
        assert all(len(keys) == 1 for keys in opened.values()), opened
        for incident in self._all():
            for item in incident.action_items:
                if item.tracker_key is not None:
                    assert opened[incident.id, item.id] == [item.tracker_key]

    @invariant()
    def a_commander_once_required_stays(self) -> None:
        """14. Once a commander is required and held, no hand-over leaves the incident without
        one; a P1 nobody leads while unresolved is watched (reminded, then paged)."""
        for incident_id in sorted(self.ids):
            incident = self.flow.get(incident_id)
            required, holder = False, None
            for recorded in self.store.load(incident_id):
                if isinstance(recorded, CommanderScheduled):
                    required = required or recorded.required
                elif isinstance(recorded, RoleAssigned) and recorded.role == "commander":
                    assert recorded.person.strip(), "a hand-over to nobody"
                    assert recorded.previous == holder, "a hand-over from someone else"
                    holder = recorded.person
            assert incident.commander_required == required
            assert incident.roles.get("commander") == holder  # once held, never dropped
            waiting = (
                incident.severity == Severity.P1
                and incident.state in ("notified", "runbook")
                and "commander" not in incident.roles
            )
            if waiting:
                assert incident.commander_required
                assert incident.commander_step in ("remind", "page", "done")
            if incident.commander_step in ("remind", "page"):
                assert incident.commander_due_at is not None
                assert incident.next_timer_at is not None
                assert incident.next_timer_at <= incident.commander_due_at

    @invariant()
    def one_channel_for_each_p1(self) -> None:
        """An incident ever P1 asks for one channel, once; its answer is recorded once."""
        for incident_id in sorted(self.ids):
            history = self.store.load(incident_id)
            kinds = [e.type for e in history]
            was_p1 = any(
                getattr(e, "severity", None) == Severity.P1
                or getattr(e, "new", None) == Severity.P1
                for e in history
                if e.type in ("IncidentClassified", "SeverityChanged")
            )
            assert kinds.count("ChannelRequested") == int(was_p1)
            assert kinds.count("ChannelOpened") + kinds.count("ChannelNotOpened") <= 1
            assert "ChannelNotOpened" not in kinds  # the recording chat opens every one

    @invariant()
    def closed_is_terminal(self) -> None:
        """7. Once closed, always closed."""
        for incident_id in self.closed:
            assert self.flow.get(incident_id).state == "closed"

    def teardown(self) -> None:
        """With every channel back, everything pending is delivered exactly once per key."""
        try:
            self._settle_everything()
        finally:
            self.close_store()

    def _settle_everything(self) -> None:
        for incident in self._all():
            tag = "closed with post-mortem" if incident.closed and incident.postmortem else None
            event(f"an incident ended {tag or incident.state}")
        self.chat.down = self.pager.down = self.publisher.down = self.tracker.down = False
        self.other.incidents()  # the other replica, alive, has written its outcomes
        self.clock.advance(timedelta(hours=2))
        self.flow.deliver_pending()
        self.flow.poll_follow_ups()  # issues closed while the tracker was down
        self.clock.advance(timedelta(hours=2))
        self.flow.deliver_pending()
        for incident in self._all():
            # 13, settled: every item has exactly one issue, open there while open here.
            for item in incident.action_items:
                pending = [
                    (m.kind, m.attempts, m.last_error, m.next_attempt_at)
                    for m in self.store.outbox_messages(incident.id)
                    if m.channel == "tracker"
                ]
                assert item.tracker_key is not None, (incident.id, item, pending)
                issue = self.tracker.issues[item.tracker_key]
                assert issue.closed == (not item.open), (item, issue)
            if incident.closed:
                assert all(not i.open for i in incident.action_items)
        for incident_id in sorted(self.ids):
            moves = sum(e.type == "TeamReassigned" for e in self.store.load(incident_id))
            assert len(self.chat.of(incident_id, "notify")) == 1 + moves
            assert all(not m.pending for m in self.store.outbox_messages(incident_id))
            keys = [m.idempotency_key for m in self.chat.of(incident_id)]
            assert len(keys) == len(set(keys))
            kinds = [e.type for e in self.store.load(incident_id)]
            # Every channel asked for was opened once, whatever failed on the way.
            assert kinds.count("ChannelOpened") == kinds.count("ChannelRequested") <= 1


TestIncidentProcess = IncidentProcess.TestCase


class ReviewedByCommand(IncidentProcess):
    """The same machine with post-mortems reviewed by command and saved into a folder.

    On 0.2's one-team policy (the handovers are refused: there is no other team).
    """

    on_pull_requests = False
    with_teams = False


TestReviewedByCommand = ReviewedByCommand.TestCase


class AsyncIncidentProcess(IncidentProcess):
    """The same machine with the flow under test on AsyncIncidentFlow.

    The racing replica (``other``) stays a sync IncidentFlow, writing between the async
    flow's decision and its append: a sync and an async replica share one store.
    """

    def __init__(self) -> None:
        # Debug mode (the slow-callback check) has its own test; here it only costs time.
        self.loop = LoopThread()
        super().__init__()

    def make_flow(self, *args: Any, **kwargs: Any) -> IncidentFlow:
        flow: IncidentFlow = Blocking(AsyncIncidentFlow(*args, **kwargs), self.loop)  # type: ignore[assignment]
        return flow

    def teardown(self) -> None:
        try:
            super().teardown()
        finally:
            self.loop.close()


TestAsyncIncidentProcess = AsyncIncidentProcess.TestCase


class OnSQLite(IncidentProcess):
    """The same machine over a SQLite file (on 0.2's one-team policy)."""

    with_teams = False

    def make_store(self) -> Any:
        folder = Path(tempfile.mkdtemp(prefix="sqlite-"))
        # Durability settings are not what this test checks; NORMAL keeps it quick.
        self._sqlite = SQLiteStore(folder / "incidents.db", synchronous="NORMAL")
        return self._sqlite

    def close_store(self) -> None:
        self._sqlite.close()


class OnPostgres(IncidentProcess):
    """The same machine over PostgreSQL, one fresh schema per example."""

    dsn = ""

    def make_store(self) -> Any:
        self._schema = f"sm_{uuid.uuid4().hex[:12]}"
        self._pg = PostgresStore(self.dsn, schema=self._schema)
        return self._pg

    def close_store(self) -> None:
        self._pg.close()
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{self._schema}" CASCADE')


class AsyncRacingStore:
    """The async flow's view of a RacingStore: runs its pending race, then awaits ``inner``."""

    def __init__(self, inner: AsyncPostgresStore, racing: RacingStore) -> None:
        self.inner = inner
        self.racing = racing

    async def append(self, *args: Any, **kwargs: Any) -> None:
        race, self.racing.race = self.racing.race, None
        if race is not None:
            race()  # the sync replica writes first (blocking the loop: fine in a test)
        await self.inner.append(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class OnAsyncPostgres(AsyncIncidentProcess, OnPostgres):
    """AsyncIncidentFlow on AsyncPostgresStore, racing a sync IncidentFlow on PostgresStore.

    Both replicas share one schema: the sync store is the machine's view and the racing
    replica's store, the async store (a pool on the machine's loop) is the flow's.
    """

    def make_flow(self, *args: Any, **kwargs: Any) -> IncidentFlow:
        self._async_pg = self.loop.run(
            AsyncPostgresStore.open(self.dsn, schema=self._schema, max_size=2)
        )
        kwargs["store"] = AsyncRacingStore(self._async_pg, self.store)
        return super().make_flow(*args, **kwargs)

    def close_store(self) -> None:
        self.loop.run(self._async_pg.close())
        super().close_store()


DURABLE = settings(
    max_examples=int(os.environ.get("INCIDENT_FLOW_DURABLE_EXAMPLES", "40")),
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_the_process_on_sqlite() -> None:
    """The eight invariants hold over SQLite."""
    run_state_machine_as_test(OnSQLite, settings=DURABLE)


def test_the_process_on_postgres(postgres_dsn: str) -> None:
    """The eight invariants hold over PostgreSQL."""
    OnPostgres.dsn = postgres_dsn
    run_state_machine_as_test(OnPostgres, settings=DURABLE)


def test_the_async_process_on_postgres(postgres_dsn: str) -> None:
    """The invariants hold for AsyncIncidentFlow on AsyncPostgresStore, beside a sync replica."""
    OnAsyncPostgres.dsn = postgres_dsn
    run_state_machine_as_test(OnAsyncPostgres, settings=DURABLE)


@pytest.mark.parametrize("reviewers", [0, 1, 3])
def test_invariants_hold_for_other_reviewer_counts(reviewers: int) -> None:
    """The reviewer rule follows the policy, not a constant."""
    clock = ManualClock(T0)
    flow = IncidentFlow(
        Policy(postmortem_reviewers=reviewers),
        notifier=RecordingNotifier(),
        pager=RecordingNotifier(),
        clock=clock,
        publisher=FolderPublisher(tempfile.mkdtemp()),
    )
    incident = flow.trigger(Alert(source="s", name="n", title="t", severity="P1"))
    flow.resolve(incident.id, by="alice")
    flow.start_postmortem(
        incident.id, author="alice", impact="checkout failed", root_cause="a bad deploy"
    )
    done = flow.submit_postmortem(incident.id, by="alice")
    for reviewer in PEOPLE[1 : 1 + reviewers]:
        assert done.state == "postmortem"
        with pytest.raises(PolicyViolation):
            flow.publish_postmortem(incident.id, by="alice")
        done = flow.approve_postmortem(incident.id, reviewer=reviewer)
    assert done.state == "runbook_update"  # the last approval needed saved it
