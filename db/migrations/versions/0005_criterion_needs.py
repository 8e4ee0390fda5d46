"""Indexes a match reads candidates from without reading wide rows:

- each criterion item's needs (the patient facts it needs to be met), indexed with its
  trial: a match counts a trial's items the patient cannot meet on the index alone, so
  it ranks its best trials without loading every candidate's criteria (existing rows are
  filled from their stored rules);
- a trial's sites by (nct_id, latitude, longitude, status), replacing the plain nct_id
  index: a broad condition's trials' sites are compared with the patient's box there;
- a trial's status and hard-filter columns by nct_id;
- SQLite: a search document's nct_id by its id (the FTS rowid), for a condition's matches.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import orjson
import sqlalchemy as sa
from alembic import op

from matching.criterion_needs import item_needs

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000
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
    last = 0
    while True:
        rows = conn.execute(
            sa.text("SELECT id, section, text, rules FROM criterion WHERE id > :last ORDER BY id LIMIT :n"),
            {"last": last, "n": BATCH},
        ).all()
        if not rows:
            break
        updates = []
        for row_id, section, item_text, rules in rows:
            decoded = orjson.loads(rules) if isinstance(rules, str | bytes) else rules
            item = {"section": section, "text": item_text, "rules": decoded or []}
            updates.append({"i": row_id, "needs": item_needs(item)})
        conn.execute(sa.text("UPDATE criterion SET needs = :needs WHERE id = :i"), updates)
        last = rows[-1][0]
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
