"""Trackers: where action items are followed up (GitHub Issues, Jira Cloud): ``ports.Tracker``."""

from __future__ import annotations

from .github import AsyncGitHubTracker, GitHubTracker
from .jira import AsyncJiraTracker, JiraTracker
from .memory import MemoryTracker
from .threaded import ThreadedTracker, as_async_tracker

__all__ = [
    "AsyncGitHubTracker",
    "AsyncJiraTracker",
    "GitHubTracker",
    "JiraTracker",
    "MemoryTracker",
    "ThreadedTracker",
    "as_async_tracker",
]
