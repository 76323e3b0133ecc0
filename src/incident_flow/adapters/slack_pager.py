"""A kept import path: the code lives in :mod:`incident_flow.adapters.channels.slack_pager`.

Issue 30 grouped the adapters into stores, channels and publishers; this path still imports
what it always did.
"""

from .channels.slack_pager import (
    AsyncSlackDMPager,
    SlackDMPager,
)

__all__ = ["AsyncSlackDMPager", "SlackDMPager"]
