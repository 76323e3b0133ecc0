"""Alerts and storms: opening, grouping, silencing and repeating alerts (pure decisions)."""
