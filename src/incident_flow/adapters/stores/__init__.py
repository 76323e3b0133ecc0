"""Event stores: memory, SQLite, PostgreSQL (sync and async), threaded."""
