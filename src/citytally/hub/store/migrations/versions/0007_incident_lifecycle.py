"""Incidents keep their life: ``incident_id`` (shared by an incident's onset, updates and clearance) and
``phase`` (``onset``, ``update``, ``cleared``; NULL for a one-off report).

Every event of an incident keeps its own row, so nothing is lost; the dashboard lists the latest row of
each incident. Existing rows are one-off reports and keep NULL in both. Downgrading drops the two columns.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    phase = sa.String(8).with_variant(postgresql.VARCHAR(8, collation="C"), "postgresql")
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("incident_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("phase", phase, nullable=True))
        batch.create_index(batch.f("ix_incidents_incident_id"), ["incident_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_index(batch.f("ix_incidents_incident_id"))
        batch.drop_column("phase")
        batch.drop_column("incident_id")
