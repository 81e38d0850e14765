"""When each camera was first registered (``cameras.registered_at``): the public register's "Registered
since" read ``updated_at``, which every start of the hub sets to now. Filled from ``updated_at`` here (the
best there is for cameras registered before); kept by every later update. Downgrading drops the column.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Nullable, as SQLite adds a column without rebuilding the table (which would cascade to its lines and
    # zones); every row is filled here and every insert sets it.
    op.add_column("cameras", sa.Column("registered_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE cameras SET registered_at = updated_at")


def downgrade() -> None:
    op.drop_column("cameras", "registered_at")
