"""Drop site indexes no query uses: coordinates are served by the spatial index of 0002,
site status and country code are checked on rows already found by trial or by place.
Every index costs time on bulk loads of millions of site rows.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("site") as batch:
        batch.drop_index("ix_site_lat_lon")
        batch.drop_index("ix_site_country_code")
        batch.drop_index("ix_site_status")


def downgrade() -> None:
    with op.batch_alter_table("site") as batch:
        batch.create_index("ix_site_status", ["status"], unique=False)
        batch.create_index("ix_site_country_code", ["country_code"], unique=False)
        batch.create_index("ix_site_lat_lon", ["latitude", "longitude"], unique=False)
