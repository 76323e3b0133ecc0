"""Chat and pager channels: Slack, PagerDuty, Opsgenie, Twilio, webhooks, log."""
