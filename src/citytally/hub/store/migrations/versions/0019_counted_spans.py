"""What the roll-ups counted after the raw events behind them are deleted (``counted_spans``: the time
each place was counted over; ``counted_incidents``: a recording's incident reports): a recording analysed
again once its first analysis's raw events were gone was added to the roll-ups a second time. Empty here:
what retention deleted before this revision is not known (its roll-ups stay as they are). Downgrading drops
the tables.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | None = None
depends_on: str | None = None


def _key(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(postgresql.VARCHAR(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "counted_spans",
        sa.Column("site", _key(63), nullable=False),
        sa.Column("camera", _key(63), nullable=False),
        sa.Column("type", _key(32), nullable=False),
        sa.Column("place", _key(63), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("site", "camera", "type", "place", "start", name="pk_counted_spans"),
    )
    op.create_index("ix_counted_spans_site_camera_start", "counted_spans", ["site", "camera", "start"])
    op.create_index("ix_counted_spans_end", "counted_spans", ["end"])
    op.create_table(
        "counted_incidents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site", _key(63), nullable=False),
        sa.Column("camera", _key(63), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_counted_incidents"),
    )
    op.create_index("ix_counted_incidents_start", "counted_incidents", ["start"])


def downgrade() -> None:
    op.drop_table("counted_incidents")
    op.drop_table("counted_spans")
