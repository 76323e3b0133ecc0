"""The response: what each command decides (ack, escalate, runbook, resolve, close...)."""
