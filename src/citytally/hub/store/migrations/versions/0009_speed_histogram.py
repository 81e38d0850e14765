"""Speed facts keep the road users' own speeds: ``speeds.histogram``, road users per 5 km/h bin (the speed
event's ``histogram``), so the dashboard's distribution and V85 are over road users, summed over intervals.

Rows stored before, and rows from edges that send no histogram, keep NULL. Downgrading drops the column.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    document = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    with op.batch_alter_table("speeds") as batch:
        batch.add_column(sa.Column("histogram", document, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("speeds") as batch:
        batch.drop_column("histogram")
