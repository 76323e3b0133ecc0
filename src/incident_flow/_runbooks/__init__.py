"""Runbooks as a living catalog: revisions from learnings, and the runbook table."""
