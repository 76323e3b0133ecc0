"""The pure core: values, the process, events, commands, the incident fold, the policy.

No I/O: nothing here imports an adapter, a driver, httpx, psycopg, sqlite3, starlette or
click (the import contracts in pyproject.toml enforce it).
"""
