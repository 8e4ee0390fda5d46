"""One row per trial of its criterion needs counted ("count needs" lines): a match bounds
each candidate's rank from that row instead of counting its ~50 criterion index entries
(the slowest step at registry scale, for broad conditions near dense areas). Filled from
the stored ``criterion.needs``; kept current by ingest and ``criteria reparse``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "trial_needs",
        sa.Column("nct_id", sa.String(length=64), nullable=False),
        sa.Column("needs", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["nct_id"], ["trial.nct_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("nct_id"),
        sqlite_with_rowid=False,
    )
    # As db.rows.needs_summary writes them: "count needs" lines, one per distinct needs.
    joined = (
        "group_concat(n || ' ' || needs, char(10))"
        if op.get_bind().dialect.name == "sqlite"
        else "string_agg(n || ' ' || needs, chr(10))"
    )
    op.execute(
        f"INSERT INTO trial_needs (nct_id, needs) SELECT nct_id, {joined} FROM (SELECT nct_id, needs, "
        "count(*) AS n FROM criterion WHERE needs IS NOT NULL GROUP BY nct_id, needs) AS g GROUP BY nct_id"
    )


def downgrade() -> None:
    op.drop_table("trial_needs")
