"""Indexes a match reads candidates from without reading wide rows:

- each criterion item's needs (the patient facts it needs to be met), indexed with its
  trial: a match counts a trial's items the patient cannot meet on the index alone, so
  it ranks its best trials without loading every candidate's criteria. Existing rows keep
  ``needs`` NULL (not computed): a match never relies on a NULL (such an item may be met,
  so the ranking stays exact), and ``trialsite criteria reparse`` writes them. The needs
  are computed by ``ingest.criteria.needs``, which the store's own layer does not import;
- a trial's sites by (nct_id, latitude, longitude, status), replacing the plain nct_id
  index: a broad condition's trials' sites are compared with the patient's box there;
- a trial's status and hard-filter columns by nct_id;
- SQLite: a search document's nct_id by its id (the FTS rowid), for a condition's matches.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIAL_FILTERS = [
    "nct_id",
    "overall_status",
    "minimum_age_days",
    "maximum_age_days",
    "sex",
    "healthy_volunteers",
    "phases",
]


def upgrade() -> None:
    with op.batch_alter_table("criterion") as batch:
        batch.add_column(sa.Column("needs", sa.Text(), nullable=True))
    conn = op.get_bind()
    op.create_index("ix_criterion_nct_id_needs", "criterion", ["nct_id", "needs"], unique=False)
    op.create_index(
        "ix_site_nct_id_place", "site", ["nct_id", "latitude", "longitude", "status"], unique=False
    )
    op.drop_index("ix_site_nct_id", table_name="site")
    op.create_index("ix_trial_match_filters", "trial", TRIAL_FILTERS, unique=False)
    if conn.dialect.name == "sqlite":
        op.create_index("ix_trial_search_doc_id_nct", "trial_search_doc", ["id", "nct_id"], unique=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("ix_trial_search_doc_id_nct", table_name="trial_search_doc")
    op.drop_index("ix_trial_match_filters", table_name="trial")
    op.create_index("ix_site_nct_id", "site", ["nct_id"], unique=False)
    op.drop_index("ix_site_nct_id_place", table_name="site")
    op.drop_index("ix_criterion_nct_id_needs", table_name="criterion")
    with op.batch_alter_table("criterion") as batch:
        batch.drop_column("needs")
