"""The brokers this hub has had an MQTT session with, so that connecting without a session is told apart:
expected the first time, the broker's loss of the hub's queue afterwards. Downgrading drops the table
(every connection without a session is then reported as a loss, as before).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "broker_sessions",
        sa.Column("broker", sa.String(300), nullable=False),
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("first_connected_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("broker", "client_id", name="pk_broker_sessions"),
    )


def downgrade() -> None:
    op.drop_table("broker_sessions")
