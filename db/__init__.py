"""The store: SQLModel schema, engine, Alembic migrations, queries, upserts and change events.

The lowest layer: it imports nothing of ours (``ingest``, ``matching`` and ``api`` build on
it). Everything a source said is kept here (raw records, quarantine, run log).
``db/cli.py`` is the plumbing every command shares (the store URL, ``Error:`` lines, JSON).
"""
