"""Delivery: channel pauses and Slack's block ids, shared by the Slack adapter and ingest."""
