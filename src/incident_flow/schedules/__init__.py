"""Who is on call: schedules of layered rotations, windows and overrides (issue 19).

    from incident_flow.schedules import Schedules
    book = policy.schedules
    book.on_call("primary", datetime.now(UTC))          # ('alice',)
    book.shifts("primary", start, end)                  # [Shift(...), ...], gaps included

See docs/oncall.md for the model and its DST rules.
"""

from __future__ import annotations

from ._book import Schedules, Shift
from ._clock import instant, zone_named
from ._model import DAY_NAMES, PERIOD_UNITS, Layer, Override, Period, Schedule, Window

__all__ = [
    "DAY_NAMES",
    "PERIOD_UNITS",
    "Layer",
    "Override",
    "Period",
    "Schedule",
    "Schedules",
    "Shift",
    "Window",
    "instant",
    "zone_named",
]
