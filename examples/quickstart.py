"""Quickstart: one P1 incident through the whole process, in memory, in under a second.

    python examples/quickstart.py

An alert fires, the incident is classified P1, Slack is told and on-call is paged, a responder
works the runbook and resolves it, a post-mortem is written, approved by two reviewers and saved
under ./postmortems, the learnings become runbook updates, and the incident closes.
"""

from __future__ import annotations

import logging

import structlog

from incident_flow import (
    Alert,
    IncidentFlow,
    Policy,
    PolicyViolation,
    RecordingNotifier,
    Runbook,
)

# A host decides what the library logs; here only warnings (failed deliveries).
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

runbook = Runbook(
    name="checkout-errors",
    url="https://runbooks.example.com/checkout-errors",
    alert="Checkout*",
    description="Checkout returns 5xx above 2% for 5 minutes",
)
slack, pager = RecordingNotifier(), RecordingNotifier()
flow = IncidentFlow(Policy(runbooks=[runbook]), notifier=slack, pager=pager)

alert = Alert(
    source="datadog",
    name="CheckoutHighErrorRate",
    title="Checkout error rate above 5%",
    severity="P1",
    labels={"service": "checkout-api", "env": "prod"},
)
incident = flow.trigger(alert)
print(f"{incident.id}: {incident.severity} {incident.title} -> {incident.state}")

flow.acknowledge(incident.id, by="alice")
flow.start_runbook(incident.id, by="alice")
flow.note(incident.id, "rolling back deploy 2025-03-04.2", by="alice")
flow.resolve(incident.id, by="alice", summary="rolled back the bad deploy")

try:
    flow.close(incident.id, by="alice")
except PolicyViolation as refused:
    print(f"refused, as the process says: {refused.detail}")

flow.start_postmortem(
    incident.id,
    author="alice",
    impact="5% of checkouts failed for 12 minutes",
    root_cause="a deploy shipped a connection-pool size of 1",
    learnings=["check pool settings in the deploy canary"],
)
flow.submit_postmortem(incident.id, by="alice")  # with GitHubPublisher: its pull request opens
flow.approve_postmortem(incident.id, reviewer="bob")
published = flow.approve_postmortem(incident.id, reviewer="carol")  # approved: saved at once
saved_at = published.postmortem.location if published.postmortem else None
print(f"post-mortem saved at {saved_at}")

for item in published.open_action_items:
    print(f"action item {item.id}: {item.description}")
flow.update_runbook(incident.id, runbook.name, by="alice", note="added the pool-size check")
closed = flow.close(incident.id, by="alice")
print(f"{closed.id} is {closed.state}")

print("\nSlack thread:")
for message in slack.messages:
    print(f"  [{message.kind}] {message.text}")
print("Pager:")
for message in pager.messages:
    print(f"  [{message.kind}] {message.text}")
print("\nTimeline:")
for event in flow.history(incident.id):
    print(f"  v{event.version:<2} {event.type:<20} by {event.by or 'system'}")
