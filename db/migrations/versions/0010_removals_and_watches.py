"""Removals and watches: the registry day a trial left the registry, saved watches, the
trials each matches now, and the alerts a sync raised for them; the process running each
ingest run (a load killed mid-run is marked interrupted at once by the next, on its host).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("trial", sa.Column("removed_from_registry", sa.String(length=10), nullable=True))
    op.add_column("sync_run", sa.Column("removed", sa.Integer(), server_default="0", nullable=False))
    op.add_column("ingest_run", sa.Column("pid", sa.Integer(), nullable=True))
    op.add_column("ingest_run", sa.Column("host", sa.String(length=200), nullable=True))
    op.create_table(
        "watch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("patient", sa.JSON(), nullable=True),
        sa.Column("condition", sa.Text(), nullable=True),
        sa.Column("place", sa.JSON(), nullable=True),
        sa.Column("radius_km", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "watch_hit",
        sa.Column("watch_id", sa.Integer(), nullable=False),
        sa.Column("nct_id", sa.String(length=64), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["watch_id"], ["watch.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("watch_id", "nct_id"),
    )
    op.create_table(
        "alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("watch_id", sa.Integer(), nullable=False),
        sa.Column("nct_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("sync_run_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["watch_id"], ["watch.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["sync_run_id"], ["sync_run.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alert_watch_id", "alert", ["watch_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_alert_watch_id", table_name="alert")
    op.drop_table("alert")
    op.drop_table("watch_hit")
    op.drop_table("watch")
    # Plain ALTER on both dialects: a batch rebuild of ``trial`` would drop SQLite's triggers.
    op.execute("ALTER TABLE trial DROP COLUMN removed_from_registry")
    op.execute("ALTER TABLE sync_run DROP COLUMN removed")
    op.execute("ALTER TABLE ingest_run DROP COLUMN pid")
    op.execute("ALTER TABLE ingest_run DROP COLUMN host")
