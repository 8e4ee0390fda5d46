"""Condition full-text search, a spatial index on site coordinates, criterion spans,
the online geocoding cache.

SQLite: an FTS5 table (porter stemming, diacritics removed) and an R*Tree over
site coordinates kept current by triggers. PostgreSQL: a stored English
tsvector with a GIN index, and a GiST index on point(longitude, latitude).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_UP = [
    """CREATE VIRTUAL TABLE trial_search USING fts5(
        nct_id UNINDEXED, title, conditions, mesh,
        tokenize = 'porter unicode61 remove_diacritics 2')""",
    "CREATE VIRTUAL TABLE site_rtree USING rtree(id, min_lat, max_lat, min_lon, max_lon)",
    """CREATE TRIGGER site_rtree_insert AFTER INSERT ON site
        WHEN new.latitude IS NOT NULL AND new.longitude IS NOT NULL BEGIN
        INSERT INTO site_rtree VALUES (new.id, new.latitude, new.latitude, new.longitude, new.longitude);
        END""",
    """CREATE TRIGGER site_rtree_delete AFTER DELETE ON site BEGIN
        DELETE FROM site_rtree WHERE id = old.id;
        END""",
    """CREATE TRIGGER site_rtree_update AFTER UPDATE OF latitude, longitude ON site BEGIN
        DELETE FROM site_rtree WHERE id = old.id;
        INSERT INTO site_rtree SELECT new.id, new.latitude, new.latitude, new.longitude, new.longitude
            WHERE new.latitude IS NOT NULL AND new.longitude IS NOT NULL;
        END""",
    """INSERT INTO site_rtree SELECT id, latitude, latitude, longitude, longitude FROM site
        WHERE latitude IS NOT NULL AND longitude IS NOT NULL""",
]
SQLITE_DOWN = [
    "DROP TRIGGER site_rtree_update",
    "DROP TRIGGER site_rtree_delete",
    "DROP TRIGGER site_rtree_insert",
    "DROP TABLE site_rtree",
    "DROP TABLE trial_search",
]
POSTGRES_UP = [
    """CREATE TABLE trial_search (
        nct_id VARCHAR(64) PRIMARY KEY REFERENCES trial (nct_id) ON DELETE CASCADE,
        title TEXT, conditions TEXT, mesh TEXT,
        document tsvector GENERATED ALWAYS AS (
            setweight(to_tsvector('english', coalesce(title, '')), 'B')
            || setweight(to_tsvector('english', coalesce(conditions, '')), 'A')
            || setweight(to_tsvector('english', coalesce(mesh, '')), 'C')) STORED)""",
    "CREATE INDEX ix_trial_search_document ON trial_search USING gin (document)",
    "CREATE INDEX ix_site_point ON site USING gist (point(longitude, latitude))",
]
POSTGRES_DOWN = [
    "DROP INDEX ix_site_point",
    "DROP TABLE trial_search",
]


def _run(statements: list[str]) -> None:
    for statement in statements:
        op.execute(sa.text(statement))


def upgrade() -> None:
    op.create_table(
        "geocode_cache",
        sa.Column("query", sa.String(length=500), nullable=False),
        sa.Column("resolution", sa.JSON(), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("query"),
    )
    with op.batch_alter_table("criterion") as batch:
        batch.add_column(sa.Column("heading", sa.Text(), nullable=True))
        batch.add_column(sa.Column("span_start", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("span_end", sa.Integer(), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        _run(SQLITE_UP)
    else:
        _run(POSTGRES_UP)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _run(SQLITE_DOWN)
    else:
        _run(POSTGRES_DOWN)
    op.drop_table("geocode_cache")
    with op.batch_alter_table("criterion") as batch:
        batch.drop_column("span_end")
        batch.drop_column("span_start")
        batch.drop_column("heading")
