"""Asynchronous jobs: requests stored in SQLite, run later by the gateway's worker, their
result fetched or pushed to a signed webhook (docs/design.md, "Asynchronous jobs")."""
