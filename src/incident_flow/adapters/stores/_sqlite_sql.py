"""The SQL of :class:`~.sqlite.SQLiteStore`: its schema and the statements of its operations."""

from __future__ import annotations

from ._common import KINDS

_SCHEMA = """
CREATE TABLE IF NOT EXISTS incident_flow_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    incident_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (incident_id, version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS incidents (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    severity TEXT NOT NULL,
    dedup_key TEXT NOT NULL,
    accepts_alerts INTEGER NOT NULL,
    version INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS incidents_accepting_dedup_key
    ON incidents (dedup_key) WHERE accepts_alerts = 1;
CREATE INDEX IF NOT EXISTS incidents_by_state ON incidents (state, seq);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    incident_id TEXT NOT NULL,
    due INTEGER NOT NULL,
    claimed_until INTEGER,
    delivered INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (due, seq) WHERE delivered = 0;
-- For the probe counts (indexes only, created on open: no new schema version).
CREATE INDEX IF NOT EXISTS incidents_by_state_severity ON incidents (state, severity);
CREATE INDEX IF NOT EXISTS outbox_pending_seq ON outbox (seq) WHERE delivered = 0;
"""

#: Schema changes after version 1, by the version they lead to.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    4: (
        (
            "CREATE TABLE IF NOT EXISTS alert_routes (key TEXT PRIMARY KEY, "
            "incident_id TEXT NOT NULL, until_at INTEGER)"
        ),
        "CREATE INDEX IF NOT EXISTS alert_routes_by_incident ON alert_routes (incident_id)",
        (
            "CREATE TABLE IF NOT EXISTS silences (id TEXT PRIMARY KEY, created_at INTEGER NOT "
            "NULL, until_at INTEGER NOT NULL, data TEXT NOT NULL)"
        ),
        "CREATE INDEX IF NOT EXISTS silences_until ON silences (until_at)",
        (
            "CREATE TABLE IF NOT EXISTS shifts (schedule TEXT NOT NULL, start_at INTEGER NOT "
            "NULL, end_at INTEGER NOT NULL, people TEXT NOT NULL, PRIMARY KEY (schedule, "
            "start_at)) WITHOUT ROWID"
        ),
        (
            "CREATE TABLE IF NOT EXISTS schedule_overrides (id TEXT PRIMARY KEY, start_at "
            "INTEGER NOT NULL, end_at INTEGER NOT NULL, data TEXT NOT NULL)"
        ),
    ),
    3: (
        (
            "CREATE TABLE IF NOT EXISTS runbook_revisions (number INTEGER PRIMARY KEY "
            "AUTOINCREMENT, key TEXT NOT NULL UNIQUE, data TEXT NOT NULL)"
        ),
    ),
    2: (
        "ALTER TABLE incidents ADD COLUMN timer_at INTEGER",
        (
            "CREATE INDEX IF NOT EXISTS incidents_timer ON incidents (timer_at) "
            "WHERE timer_at IS NOT NULL"
        ),
    ),
}

_INSERT_INCIDENT = """
INSERT INTO incidents (state, severity, dedup_key, accepts_alerts, version, updated_at,
    timer_at, id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
"""
_UPDATE_INCIDENT = """
UPDATE incidents SET state = ?, severity = ?, dedup_key = ?, accepts_alerts = ?, version = ?,
    updated_at = ?, timer_at = ?
WHERE id = ? AND version = ?
"""
# A change that leaves every indexed column as it was (a repeat): only the unindexed ones are
# set, so no index page is rewritten (SQLite rewrites the entries of every index on a column
# a SET names, same value or not: five pages a repeat instead of one). No row: something
# indexed changed, or the version is stale (the full update says which).
_UPDATE_UNINDEXED = """
UPDATE incidents SET version = ?, updated_at = ?
WHERE id = ? AND version = ? AND state = ? AND severity = ? AND dedup_key = ?
    AND accepts_alerts = ? AND timer_at IS ?
"""

_FIND_DEDUP = """
SELECT id FROM incidents WHERE dedup_key = ? AND accepts_alerts = 1
UNION ALL SELECT incident_id FROM alert_routes WHERE key = ?
LIMIT 1
"""
_DROP_ROUTES = "DELETE FROM alert_routes WHERE incident_id = ?"
# A group key whose deadline passed may be taken over by the group's next incident.
_DROP_EXPIRED_ROUTE = (
    "DELETE FROM alert_routes WHERE key = ? AND until_at IS NOT NULL AND until_at <= ?"
)
_INSERT_ROUTE = "INSERT INTO alert_routes (key, incident_id, until_at) VALUES (?, ?, ?)"
_SAVE_SILENCE = """
INSERT INTO silences (id, created_at, until_at, data) VALUES (?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET until_at = excluded.until_at, data = excluded.data
"""

# One statement, so one snapshot. Each (state, severity) of the incidents not closed is an
# index range count; the closed ones are all the others: COUNT(*) of the whole table, which
# SQLite answers from the b-tree's pages, not row by row (their number grows with the history).
# Then the pending outbox: its count and the message queued first, from the pending index.
_COUNT_KIND = "SELECT ?, ?, (SELECT COUNT(*) FROM incidents WHERE state = ? AND severity = ?), NULL"
_COUNT_ALL = "SELECT 'all', NULL, (SELECT COUNT(*) FROM incidents), NULL"
_COUNT_PENDING = """
SELECT NULL, NULL, (SELECT COUNT(*) FROM outbox WHERE delivered = 0),
    (SELECT data FROM outbox WHERE delivered = 0 ORDER BY seq LIMIT 1)
"""
_COUNTS = " UNION ALL ".join([*[_COUNT_KIND] * len(KINDS), _COUNT_ALL, _COUNT_PENDING])
_COUNT_PARAMS = tuple(value for kind in KINDS for value in (*kind, *kind))

_INSERT_REVISION = (
    "INSERT INTO runbook_revisions (key, data) VALUES (?, ?) ON CONFLICT (key) DO NOTHING"
)
_UPSERT_MESSAGE = """
INSERT INTO outbox (id, incident_id, due, claimed_until, delivered, data)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    due = excluded.due, claimed_until = excluded.claimed_until, delivered = excluded.delivered,
    data = excluded.data
WHERE outbox.delivered = 0
"""

# A claim is renewed, never shortened, and only while its message is pending and claimed.
_RENEW_CLAIM = """
UPDATE outbox SET claimed_until = ?1
WHERE id = ?2 AND delivered = 0 AND claimed_until IS NOT NULL AND claimed_until < ?1
"""
