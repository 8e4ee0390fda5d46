"""``trialsite sync``: keep the store in step with the registry, unattended.

- ``runner`` — a run: the registry's ``/version`` as watermark, the listing (every study,
  or those updated since the day before the last succeeded run's watermark), each page
  stored with its checkpoint in one transaction, a killed run resumed from it.
- ``removal`` — the removal check: every NCT id the registry lists, stored registry trials
  missing from a completed listing marked removed (never deleted), a mass-removal guard.
- ``lock`` — one run at a time: PostgreSQL's advisory lock, SQLite's lock row with a
  heartbeat (taken over when its holder is gone or silent).

May import ``db`` and ``ingest``'s shared modules; never ``matching`` or ``api``.
"""
