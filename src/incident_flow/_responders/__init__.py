"""Responder actions from vendors' tools (PagerDuty, Opsgenie, Slack, GitHub), decided."""
