"""The ``incident-flow`` command line (extra ``cli``: click and rich), its demo and its report.

- :mod:`._main`: the commands (``incident-flow --help``);
- :mod:`._demo`: a realistic day of alerts and responders replayed through the process;
- :mod:`._report` and :mod:`._report_html`: MTTA, MTTR, compliance and coverage, as text,
  JSON or a self-contained HTML page.
"""

from __future__ import annotations

from ._main import main

__all__ = ["main"]
