"""The report's figures, from :mod:`incident_flow._response.report`.

They live there, pure, so the console reads them without the command line's dependencies.
"""

from __future__ import annotations

from .._response.report import DEFINITIONS, Report, build_report

__all__ = ["DEFINITIONS", "Report", "build_report"]
