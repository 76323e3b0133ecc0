"""A kept import path: the code lives in :mod:`incident_flow.adapters.channels.pagerduty`.

Issue 30 grouped the adapters into stores, channels and publishers; this path still imports
what it always did.
"""

from .channels.pagerduty import (
    EVENTS_URL,
    SEVERITIES,
    AsyncPagerDutyPager,
    PagerDutyPager,
    summary,
)

__all__ = ["EVENTS_URL", "SEVERITIES", "AsyncPagerDutyPager", "PagerDutyPager", "summary"]
