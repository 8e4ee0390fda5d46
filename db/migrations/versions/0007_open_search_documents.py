"""Whether each search document's trial is open, and a full-text index of the open ones.

A patient can join only an open trial (RECRUITING, NOT_YET_RECRUITING,
ENROLLING_BY_INVITATION), and most of a broad condition's matches are closed: at
registry scale "lung cancer" matches 55,000 trials, and learning each one's status
from its trial row was the slowest step of a match near a dense area. The flag is
written with the document (both are replaced with the trial). SQLite gets a second
FTS5 index, ``trial_search_open``, external-content over the same documents but
holding only the open ones (kept by the documents' triggers), so a condition's open
matches are a full-text query of their own; PostgreSQL a partial GIN index over the
open documents' tsvectors.

SQLite also keeps ``site_open``: each open site (with coordinates) of an open trial,
keyed by its search document's id, which is the full-text rowid. A broad condition's
open matches find their sites in the box there, one seek per match on a compact
integer key, without reading a document, a site or a trial row (the site's status
and the trial's are known by the row being there). Its rows follow the documents
(a trial's sites are written before its document and replaced with it) and the sites'
coordinates and status (``trialsite geocode --sites`` places sites later).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "('RECRUITING', 'NOT_YET_RECRUITING', 'ENROLLING_BY_INVITATION')"
COLUMNS = "title, conditions, mesh"
# Migration 0004's update trigger, which re-indexed a document on any update: on its texts
# only now (setting the flag below leaves the full-text index alone), and the open index
# follows both the texts and the flag.
FTS_UPDATE = """CREATE TRIGGER trial_search_doc_update AFTER UPDATE {of}ON trial_search_doc BEGIN
    INSERT INTO trial_search (trial_search, rowid, title, conditions, mesh)
        VALUES ('delete', old.id, old.title, old.conditions, old.mesh);
    INSERT INTO trial_search (rowid, title, conditions, mesh)
        VALUES (new.id, new.title, new.conditions, new.mesh);
    END"""
# A site's row in ``site_open``, when it is open and placed: as the query in matching reads it.
SITE_OPEN = """SELECT {doc}, s.latitude, s.longitude, s.id FROM site s WHERE s.nct_id = {nct_id}
    AND s.latitude IS NOT NULL AND s.longitude IS NOT NULL AND (s.status IS NULL OR s.status NOT IN
    ('ACTIVE_NOT_RECRUITING', 'COMPLETED', 'SUSPENDED', 'TERMINATED', 'WITHDRAWN',
     'TEMPORARILY_NOT_AVAILABLE', 'NO_LONGER_AVAILABLE', 'UNKNOWN'))"""
SQLITE_UP = [
    "DROP TRIGGER trial_search_doc_update",
    FTS_UPDATE.format(of="OF title, conditions, mesh "),
    "ALTER TABLE trial_search_doc ADD COLUMN is_open BOOLEAN",
    f"""UPDATE trial_search_doc SET is_open = (SELECT t.overall_status IN {OPEN} FROM trial t
        WHERE t.nct_id = trial_search_doc.nct_id)""",
    f"""CREATE VIRTUAL TABLE trial_search_open USING fts5(
        {COLUMNS}, content = 'trial_search_doc', content_rowid = 'id',
        tokenize = 'porter unicode61 remove_diacritics 2')""",
    f"""CREATE TRIGGER trial_search_open_insert AFTER INSERT ON trial_search_doc
        WHEN new.is_open = 1 BEGIN
        INSERT INTO trial_search_open (rowid, {COLUMNS}) VALUES (new.id, new.title, new.conditions, new.mesh);
        END""",
    f"""CREATE TRIGGER trial_search_open_delete AFTER DELETE ON trial_search_doc
        WHEN old.is_open = 1 BEGIN
        INSERT INTO trial_search_open (trial_search_open, rowid, {COLUMNS})
            VALUES ('delete', old.id, old.title, old.conditions, old.mesh);
        END""",
    f"""CREATE TRIGGER trial_search_open_update AFTER UPDATE ON trial_search_doc BEGIN
        INSERT INTO trial_search_open (trial_search_open, rowid, {COLUMNS})
            SELECT 'delete', old.id, old.title, old.conditions, old.mesh WHERE old.is_open = 1;
        INSERT INTO trial_search_open (rowid, {COLUMNS})
            SELECT new.id, new.title, new.conditions, new.mesh WHERE new.is_open = 1;
        END""",
    f"""INSERT INTO trial_search_open (rowid, {COLUMNS})
        SELECT id, {COLUMNS} FROM trial_search_doc WHERE is_open = 1 ORDER BY id""",
    """CREATE TABLE site_open (
        doc_id INTEGER NOT NULL, latitude FLOAT NOT NULL, longitude FLOAT NOT NULL, site_id INTEGER NOT NULL,
        PRIMARY KEY (doc_id, latitude, longitude, site_id)) WITHOUT ROWID""",
    f"""CREATE TRIGGER site_open_insert AFTER INSERT ON trial_search_doc WHEN new.is_open = 1 BEGIN
        INSERT INTO site_open {SITE_OPEN.format(doc="new.id", nct_id="new.nct_id")};
        END""",
    """CREATE TRIGGER site_open_delete AFTER DELETE ON trial_search_doc WHEN old.is_open = 1 BEGIN
        DELETE FROM site_open WHERE doc_id = old.id;
        END""",
    f"""CREATE TRIGGER site_open_update AFTER UPDATE OF nct_id, is_open ON trial_search_doc BEGIN
        DELETE FROM site_open WHERE doc_id = old.id;
        INSERT INTO site_open {SITE_OPEN.format(doc="new.id", nct_id="new.nct_id")} AND new.is_open = 1;
        END""",
    f"""CREATE TRIGGER site_open_site_update AFTER UPDATE OF latitude, longitude, status, nct_id ON site BEGIN
        DELETE FROM site_open WHERE site_id = old.id
            AND doc_id = (SELECT id FROM trial_search_doc WHERE nct_id = old.nct_id);
        INSERT INTO site_open {
        SITE_OPEN.format(doc="d.id", nct_id="new.nct_id").replace(
            "FROM site s WHERE",
            "FROM site s JOIN trial_search_doc d ON d.nct_id = s.nct_id WHERE d.is_open = 1 AND s.id = new.id AND",
        )
    };
        END""",
    """CREATE TRIGGER site_open_site_delete AFTER DELETE ON site BEGIN
        DELETE FROM site_open WHERE site_id = old.id
            AND doc_id = (SELECT id FROM trial_search_doc WHERE nct_id = old.nct_id);
        END""",
    f"""INSERT INTO site_open {
        SITE_OPEN.format(doc="d.id", nct_id="d.nct_id").replace(
            "FROM site s WHERE",
            "FROM trial_search_doc d JOIN site s ON s.nct_id = d.nct_id WHERE d.is_open = 1 AND",
        )
    }""",
]
SQLITE_DOWN = [
    *(f"DROP TRIGGER {name}" for name in ("site_open_site_delete", "site_open_site_update")),
    *(f"DROP TRIGGER site_open_{event}" for event in ("update", "delete", "insert")),
    "DROP TABLE site_open",
    "DROP TRIGGER trial_search_open_update",
    "DROP TRIGGER trial_search_open_delete",
    "DROP TRIGGER trial_search_open_insert",
    "DROP TABLE trial_search_open",
    "ALTER TABLE trial_search_doc DROP COLUMN is_open",
    "DROP TRIGGER trial_search_doc_update",
    FTS_UPDATE.format(of=""),
]
POSTGRES_UP = [
    "ALTER TABLE trial_search_doc ADD COLUMN is_open BOOLEAN",
    f"""UPDATE trial_search_doc d SET is_open = (t.overall_status IN {OPEN})
        FROM trial t WHERE t.nct_id = d.nct_id""",
    "CREATE INDEX ix_trial_search_doc_open_document ON trial_search_doc USING gin (document) WHERE is_open",
]
POSTGRES_DOWN = [
    "DROP INDEX ix_trial_search_doc_open_document",
    "ALTER TABLE trial_search_doc DROP COLUMN is_open",
]


def upgrade() -> None:
    for statement in SQLITE_UP if op.get_bind().dialect.name == "sqlite" else POSTGRES_UP:
        op.execute(sa.text(statement))


def downgrade() -> None:
    for statement in SQLITE_DOWN if op.get_bind().dialect.name == "sqlite" else POSTGRES_DOWN:
        op.execute(sa.text(statement))
