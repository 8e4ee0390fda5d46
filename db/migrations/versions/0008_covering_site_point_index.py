"""PostgreSQL: the sites' GiST point index carries what a match reads of a site in the box.

``ix_site_point`` (migration 0002) indexed ``point(longitude, latitude)`` alone, so every
site in a patient's box was read from the heap for its trial, status and coordinates:
a random page per site (32,000 of them for 287 km around Tanzhou at registry scale,
90 ms just to count them). Rebuilt with ``INCLUDE (nct_id, latitude, longitude,
status)``, the box's sites come from the index alone (an index-only scan, the table's
visibility map permitting): counting those 32,000 took 20 ms, and the registry-scale
match benchmark's p95 fell from 289 to 143 ms. SQLite's R*Tree and ``site_open`` are
unchanged.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POINT = "point(longitude, latitude)"


def _rebuild(include: str) -> None:
    op.execute(sa.text("DROP INDEX ix_site_point"))
    op.execute(sa.text(f"CREATE INDEX ix_site_point ON site USING gist ({POINT}){include}"))


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _rebuild(" INCLUDE (nct_id, latitude, longitude, status)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _rebuild("")
