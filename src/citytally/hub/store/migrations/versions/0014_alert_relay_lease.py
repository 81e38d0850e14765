"""Alert relay lease: hubs that share a store and a broker relay each incident once. The relay's row (now
named by the broker, see :func:`citytally.hub.alerts.relay_key`) says which hub holds it and until when;
the others stand by and take over when the lease runs out. Downgrading drops the two columns.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("alert_relay_positions") as batch:
        batch.add_column(sa.Column("holder", sa.String(128), nullable=True))
        batch.add_column(sa.Column("held_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alert_relay_positions") as batch:
        batch.drop_column("held_until")
        batch.drop_column("holder")
