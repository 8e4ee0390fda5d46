"""Search documents in a plain table keyed by nct_id, the full-text index built on it.

A candidate query must ask "does this trial match the condition?" for a few
thousand trials near a patient without running the condition over the whole
registry. That needs the index reachable from a trial's id: in PostgreSQL the
document table is keyed by nct_id (the tsvector and GIN index stay on it); in
SQLite the FTS5 table becomes external-content over ``trial_search_doc``, whose
INTEGER PRIMARY KEY is its stable rowid (VACUUM keeps it), synchronised by triggers.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_UP = [
    """CREATE TABLE trial_search_doc (
        id INTEGER PRIMARY KEY,
        nct_id VARCHAR(64) NOT NULL UNIQUE,
        title TEXT, conditions TEXT, mesh TEXT)""",
    "INSERT INTO trial_search_doc (nct_id, title, conditions, mesh) SELECT nct_id, title, conditions, mesh FROM trial_search",
    "DROP TABLE trial_search",
    """CREATE VIRTUAL TABLE trial_search USING fts5(
        title, conditions, mesh, content = 'trial_search_doc', content_rowid = 'id',
        tokenize = 'porter unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER trial_search_doc_insert AFTER INSERT ON trial_search_doc BEGIN
        INSERT INTO trial_search (rowid, title, conditions, mesh)
            VALUES (new.id, new.title, new.conditions, new.mesh);
        END""",
    """CREATE TRIGGER trial_search_doc_delete AFTER DELETE ON trial_search_doc BEGIN
        INSERT INTO trial_search (trial_search, rowid, title, conditions, mesh)
            VALUES ('delete', old.id, old.title, old.conditions, old.mesh);
        END""",
    """CREATE TRIGGER trial_search_doc_update AFTER UPDATE ON trial_search_doc BEGIN
        INSERT INTO trial_search (trial_search, rowid, title, conditions, mesh)
            VALUES ('delete', old.id, old.title, old.conditions, old.mesh);
        INSERT INTO trial_search (rowid, title, conditions, mesh)
            VALUES (new.id, new.title, new.conditions, new.mesh);
        END""",
    "INSERT INTO trial_search (trial_search) VALUES ('rebuild')",
]
SQLITE_DOWN = [
    "DROP TRIGGER trial_search_doc_update",
    "DROP TRIGGER trial_search_doc_delete",
    "DROP TRIGGER trial_search_doc_insert",
    "DROP TABLE trial_search",
    """CREATE VIRTUAL TABLE trial_search USING fts5(
        nct_id UNINDEXED, title, conditions, mesh,
        tokenize = 'porter unicode61 remove_diacritics 2')""",
    "INSERT INTO trial_search (nct_id, title, conditions, mesh) SELECT nct_id, title, conditions, mesh FROM trial_search_doc",
    "DROP TABLE trial_search_doc",
]
POSTGRES_UP = [
    "ALTER TABLE trial_search RENAME TO trial_search_doc",
    "ALTER INDEX ix_trial_search_document RENAME TO ix_trial_search_doc_document",
]
POSTGRES_DOWN = [
    "ALTER INDEX ix_trial_search_doc_document RENAME TO ix_trial_search_document",
    "ALTER TABLE trial_search_doc RENAME TO trial_search",
]


def _run(statements: list[str]) -> None:
    for statement in statements:
        op.execute(sa.text(statement))


def upgrade() -> None:
    _run(SQLITE_UP if op.get_bind().dialect.name == "sqlite" else POSTGRES_UP)


def downgrade() -> None:
    _run(SQLITE_DOWN if op.get_bind().dialect.name == "sqlite" else POSTGRES_DOWN)
