"""The PostgreSQL schema both stores share: its tables, its migrations, the plan to reach it.

Split from :mod:`._pg_sql` (the statements and rows of every operation), which re-exports
:func:`setup` and :func:`upgrade`.
"""

from __future__ import annotations

from typing import Any

from ._common import SCHEMA_VERSION, schema_version

Statement = tuple[str, tuple[Any, ...] | None]


def setup(schema: str) -> list[Statement]:
    """Create what is missing, in one transaction; the last statement reads the version."""
    tables: list[Statement] = [(s, None) for s in _SCHEMA.split(";") if s.strip()]
    return [
        # Serialise the first start of several replicas (CREATE ... IF NOT EXISTS races).
        ("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"incident_flow:{schema}",)),
        ("CREATE SCHEMA IF NOT EXISTS {s}", None),
        *tables,
        (META_READ, None),
    ]


def upgrade(version_row: tuple[Any, ...] | None, schema: str) -> list[Statement]:
    """The statements that bring a schema from the version :func:`setup` read to ours.

    Raises:
        StorageError: the schema was written by a newer incident_flow.
    """
    found = schema_version(version_row, f"PostgreSQL schema {schema!r}")
    changes: list[Statement] = [
        (statement, None)
        for version in range(found + 1, SCHEMA_VERSION + 1)
        for statement in _MIGRATIONS[version]
    ]
    return [*changes, (_META_WRITE, (str(SCHEMA_VERSION),))]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS {s}.incident_flow_meta (
    key text PRIMARY KEY,
    value text NOT NULL
);
CREATE TABLE IF NOT EXISTS {s}.events (
    incident_id text NOT NULL,
    version integer NOT NULL,
    type text NOT NULL,
    data text NOT NULL,
    PRIMARY KEY (incident_id, version)
);
CREATE TABLE IF NOT EXISTS {s}.incidents (
    seq bigserial UNIQUE,
    id text PRIMARY KEY,
    state text NOT NULL,
    severity text NOT NULL,
    dedup_key text NOT NULL,
    accepts_alerts boolean NOT NULL,
    version integer NOT NULL,
    updated_at bigint NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS incidents_accepting_dedup_key
    ON {s}.incidents (dedup_key) WHERE accepts_alerts;
CREATE INDEX IF NOT EXISTS incidents_by_state ON {s}.incidents (state, seq);
CREATE TABLE IF NOT EXISTS {s}.outbox (
    seq bigserial PRIMARY KEY,
    id text NOT NULL UNIQUE,
    incident_id text NOT NULL,
    due bigint NOT NULL,
    claimed_until bigint,
    delivered boolean NOT NULL DEFAULT false,
    data text NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_pending ON {s}.outbox (due, seq) WHERE NOT delivered;
-- For the probe counts (indexes only, created when missing: no new schema version).
CREATE INDEX IF NOT EXISTS incidents_by_state_severity ON {s}.incidents (state, severity);
CREATE INDEX IF NOT EXISTS outbox_pending_seq ON {s}.outbox (seq) WHERE NOT delivered
"""

#: Schema changes after version 1, by the version they lead to.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    4: (
        (
            "CREATE TABLE IF NOT EXISTS {s}.alert_routes (key text PRIMARY KEY, "
            "incident_id text NOT NULL, until_at bigint)"
        ),
        "CREATE INDEX IF NOT EXISTS alert_routes_by_incident ON {s}.alert_routes (incident_id)",
        (
            "CREATE TABLE IF NOT EXISTS {s}.silences (id text PRIMARY KEY, created_at bigint "
            "NOT NULL, until_at bigint NOT NULL, data jsonb NOT NULL)"
        ),
        "CREATE INDEX IF NOT EXISTS silences_until ON {s}.silences (until_at)",
        (
            "CREATE TABLE IF NOT EXISTS {s}.shifts (schedule text NOT NULL, start_at bigint NOT "
            "NULL, end_at bigint NOT NULL, people text NOT NULL, PRIMARY KEY (schedule, start_at))"
        ),
        (
            "CREATE TABLE IF NOT EXISTS {s}.schedule_overrides (id text PRIMARY KEY, start_at "
            "bigint NOT NULL, end_at bigint NOT NULL, data jsonb NOT NULL)"
        ),
    ),
    3: (
        (
            "CREATE TABLE IF NOT EXISTS {s}.runbook_revisions (number bigserial PRIMARY KEY, "
            "key text NOT NULL UNIQUE, data jsonb NOT NULL)"
        ),
    ),
    2: (
        "ALTER TABLE {s}.incidents ADD COLUMN IF NOT EXISTS timer_at bigint",
        (
            "CREATE INDEX IF NOT EXISTS incidents_timer ON {s}.incidents (timer_at) "
            "WHERE timer_at IS NOT NULL"
        ),
    ),
}

META_READ = "SELECT value FROM {s}.incident_flow_meta WHERE key = 'schema_version'"
_META_WRITE = (
    "INSERT INTO {s}.incident_flow_meta (key, value) VALUES ('schema_version', %s) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
