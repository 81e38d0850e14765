"""Alert relay positions: how far each MQTT alert relay has got in the stored incident events, so that a
hub that stops (or dies) while the broker is away sends what it had not delivered when it starts again.
Downgrading drops the table.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "alert_relay_positions",
        sa.Column("relay", sa.String(128), nullable=False),
        sa.Column("position", sa.DateTime(timezone=True), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("relay", name=op.f("pk_alert_relay_positions")),
    )


def downgrade() -> None:
    op.drop_table("alert_relay_positions")
