"""Alert relay: the events the broker acknowledged within the look-back before the saved position, so that
a hub taking the relay over does not send them again. Downgrading drops the column (a handover then sends
the look-back's events again, as before).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    document = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    with op.batch_alter_table("alert_relay_positions") as batch:
        batch.add_column(sa.Column("acknowledged", document, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alert_relay_positions") as batch:
        batch.drop_column("acknowledged")
