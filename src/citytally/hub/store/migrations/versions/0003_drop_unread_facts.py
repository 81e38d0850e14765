"""Drop the fact tables no query reads: line counts, zone occupancy and turning movements.

Every query of these numbers reads the roll-ups, and the events table keeps each body as received, so one
row per number beside it only repeated the body, at a third of PostgreSQL's ingest time. Upgrading deletes
those rows (the events and roll-ups they came from stay); downgrading recreates the tables empty.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

_TABLES = ("line_counts", "zone_occupancy", "turning_movements")


def upgrade() -> None:
    for table in _TABLES:
        op.drop_index(op.f(f"ix_{table}_start"), table_name=table)
        op.drop_index(op.f(f"ix_{table}_site_camera_start"), table_name=table)
        op.drop_table(table)


def _fact(name: str, *columns: sa.Column[Any], key: tuple[str, ...]) -> None:
    op.create_table(
        name,
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("site", sa.String(63), nullable=False),
        sa.Column("camera", sa.String(63), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        *columns,
        sa.PrimaryKeyConstraint("event_id", *key, name=op.f(f"pk_{name}")),
    )
    op.create_index(op.f(f"ix_{name}_site_camera_start"), name, ["site", "camera", "start"], unique=False)
    op.create_index(op.f(f"ix_{name}_start"), name, ["start"], unique=False)


def downgrade() -> None:
    _fact(
        "line_counts",
        sa.Column("line", sa.String(63), nullable=False),
        sa.Column("direction", sa.String(63), nullable=False),
        sa.Column("class", sa.String(16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        key=("line", "direction", "class"),
    )
    _fact(
        "zone_occupancy",
        sa.Column("zone", sa.String(63), nullable=False),
        sa.Column("class", sa.String(16), nullable=False),
        sa.Column("mean", sa.Float(), nullable=False),
        sa.Column("peak", sa.Integer(), nullable=False),
        sa.Column("dwell_n", sa.Integer(), nullable=False),
        sa.Column("dwell_mean_s", sa.Float(), nullable=True),
        sa.Column("dwell_max_s", sa.Float(), nullable=True),
        key=("zone", "class"),
    )
    _fact(
        "turning_movements",
        sa.Column("from_zone", sa.String(63), nullable=False),
        sa.Column("to_zone", sa.String(63), nullable=False),
        sa.Column("class", sa.String(16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        key=("from_zone", "to_zone", "class"),
    )
