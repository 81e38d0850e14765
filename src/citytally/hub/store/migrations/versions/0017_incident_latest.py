"""Each incident's latest row, kept at ingest (``incident_latest``): the operator's list and badge read it
instead of comparing every row of an incident with every other, which took seconds once a store held a
crowd reported for hours. Filled from the stored rows here. The index on ``incident_id`` becomes
``(incident_id, acknowledged_at)``, so an incident's first acknowledgement is one seek. Downgrading drops
the table and restores the index.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | None = None
depends_on: str | None = None


def _key(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(postgresql.VARCHAR(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "incident_latest",
        sa.Column("incident_key", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("site", _key(63), nullable=False),
        sa.Column("camera", _key(63), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("incident", _key(32), nullable=False),
        sa.Column("phase", _key(8), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("incident_key", name="pk_incident_latest"),
    )
    op.create_index("ix_incident_latest_start", "incident_latest", ["start"])
    op.create_index("ix_incident_latest_incident_end", "incident_latest", ["incident", "end"])
    # each incident's latest row: its clearance, else its latest end; then latest received, greatest id
    op.execute(
        """INSERT INTO incident_latest
            (incident_key, event_id, site, camera, "start", "end", incident, phase, received_at)
        SELECT incident_key, event_id, site, camera, "start", "end", incident, phase, received_at FROM (
            SELECT coalesce(incident_id, event_id) AS incident_key, event_id, site, camera, "start", "end",
                incident, phase, received_at,
                row_number() OVER (
                    PARTITION BY coalesce(incident_id, event_id)
                    ORDER BY coalesce(phase, '') = 'cleared' DESC, "end" DESC, received_at DESC, event_id DESC
                ) AS rank
            FROM incidents
        ) ranked WHERE rank = 1"""
    )
    op.create_index(
        "ix_incidents_incident_id_acknowledged_at", "incidents", ["incident_id", "acknowledged_at"]
    )
    op.drop_index("ix_incidents_incident_id", table_name="incidents")


def downgrade() -> None:
    op.create_index("ix_incidents_incident_id", "incidents", ["incident_id"])
    op.drop_index("ix_incidents_incident_id_acknowledged_at", table_name="incidents")
    op.drop_table("incident_latest")
