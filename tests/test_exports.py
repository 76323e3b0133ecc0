"""The public API is deliberate: additions and removals show up here."""

from __future__ import annotations

import incident_flow
import incident_flow.events
import incident_flow.process
import incident_flow.testing


def _isort_key(name: str) -> tuple[int, str]:
    kind = 0 if name.isupper() else 1 if name[0].isupper() else 2
    return kind, name


class TestExports:
    """What users import stays importable and sorted."""

    def test_top_level_all_is_pinned(self) -> None:
        assert incident_flow.__all__ == [
            "Action",
            "ActionItem",
            "Alert",
            "AsyncIncidentFlow",
            "AsyncOpsgeniePager",
            "AsyncPagerDutyPager",
            "AsyncPostgresStore",
            "AsyncSQLiteStore",
            "AsyncSlackNotifier",
            "AsyncWebhookNotifier",
            "Catalog",
            "ConcurrencyError",
            "DeliveryError",
            "EscalationLevel",
            "FolderPublisher",
            "GitHubPublisher",
            "GitPublisher",
            "GroupingRule",
            "Incident",
            "IncidentChannels",
            "IncidentFlow",
            "IncidentFlowError",
            "IncidentNotFound",
            "InvalidCommand",
            "InvalidPayload",
            "InvalidPolicy",
            "InvalidSignature",
            "InvalidTransition",
            "LabelMatcher",
            "LogNotifier",
            "MemoryStore",
            "Notification",
            "OpsgeniePager",
            "OutboxMessage",
            "PageAfter",
            "PagerDutyPager",
            "Person",
            "Policy",
            "PolicyViolation",
            "PostMortem",
            "PostMortemDocument",
            "PostgresStore",
            "RecordingNotifier",
            "RedactSecrets",
            "RoleChange",
            "Roles",
            "Route",
            "Runbook",
            "RunbookCatalog",
            "RunbookRevision",
            "SQLiteStore",
            "Severity",
            "Silence",
            "SlackNotifier",
            "StorageError",
            "SystemClock",
            "Team",
            "TrackerPolicy",
            "WebhookNotifier",
            "WorkerStats",
            "run_worker",
            "run_worker_async",
        ]

    def test_every_name_in_all_resolves(self) -> None:
        for module in (
            incident_flow,
            incident_flow.events,
            incident_flow.process,
            incident_flow.testing,
        ):
            # isort-style, as ruff's RUF022 keeps it: CONSTANTS, Classes, functions
            assert module.__all__ == sorted(module.__all__, key=_isort_key), module.__name__
            for name in module.__all__:
                assert getattr(module, name) is not None, (module.__name__, name)

    def test_errors_share_one_base(self) -> None:
        names = incident_flow.__all__
        errors = [getattr(incident_flow, n) for n in names]
        errors = [e for e in errors if isinstance(e, type) and issubclass(e, Exception)]
        assert len(errors) == 11
        for error in errors:
            assert issubclass(error, incident_flow.IncidentFlowError)

    def test_builtin_bases_where_natural(self) -> None:
        assert issubclass(incident_flow.InvalidPayload, ValueError)
        assert issubclass(incident_flow.InvalidSignature, incident_flow.InvalidPayload)
        assert issubclass(incident_flow.InvalidPolicy, ValueError)
        assert issubclass(incident_flow.InvalidCommand, ValueError)
        assert issubclass(incident_flow.IncidentNotFound, KeyError)

    def test_importing_needs_no_optional_driver(self) -> None:
        """psycopg is imported only when a PostgresStore is created."""
        import subprocess
        import sys

        code = "import sys, incident_flow; print('psycopg' in sys.modules)"
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == "False"
