"""``trialsite sync``: keep the store in step with the registry, unattended.

- ``runner`` — a run: the registry's ``/version`` as watermark, the listing (every study,
  or those updated since the day before the last succeeded run's watermark), each page
  stored with its checkpoint in one transaction, a killed run resumed from it.
- ``summary`` — a run's counts as ``sync --json`` prints them, the runs as stored, the
  watermark (never moved back by a registry clock behind it).
- ``recover`` — what a listing skipped because the registry changed while it was paged:
  counts compared with ``totalCount``, ids listed again, the missing fetched by id.
- ``removal`` — the removal check: every NCT id the registry lists, stored registry trials
  missing from a completed listing marked removed (never deleted), a mass-removal guard.
- ``lock`` — one run at a time: PostgreSQL's advisory lock, SQLite's lock row with a
  heartbeat (taken over when its holder is gone or silent).

May import ``db`` and ``ingest``'s shared modules; never ``matching`` or ``api``. The
nightly job (sync, watches, alert delivery, under one lock) and the ``trialsite sync``
command are composed above, in ``matching.watch.job`` and ``matching.watch.sync_cli``.
"""
