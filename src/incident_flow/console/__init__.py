"""The web console (issue 31)."""
