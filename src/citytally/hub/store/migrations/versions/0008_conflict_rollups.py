"""Traffic conflicts: three roll-up tables for the edge's ``conflict`` events.

``conflict_rollups`` (conflicts by zone, type, severity and the pair's classes), ``conflict_exposure_rollups``
(road users that entered the zone, by class: the denominator of a conflict rate) and
``conflict_cell_rollups`` (conflicts per ground cell of a zone, with the cell centre in the picture). Names
compare in the "C" collation and pages are filled to 70 % on PostgreSQL, as the other roll-ups (0004, 0005).
Conflict events stored before this revision stay in ``events`` without roll-ups. Downgrading drops the tables.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

_FILLFACTOR = 70


def _key(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(postgresql.VARCHAR(length, collation="C"), "postgresql")


def _rollup(name: str, *columns: sa.Column[Any]) -> None:
    keys = [c.name for c in columns if c.primary_key]
    op.create_table(
        name,
        sa.Column("period", _key(4), nullable=False),
        sa.Column("site", _key(63), nullable=False),
        sa.Column("camera", _key(63), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        *(sa.Column(c.name, c.type, nullable=False) for c in columns),
        sa.PrimaryKeyConstraint("period", "site", "camera", "bucket", *keys, name=op.f(f"pk_{name}")),
    )
    op.create_index(op.f(f"ix_{name}_period_bucket"), name, ["period", "bucket"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE {name} SET (fillfactor = {_FILLFACTOR})")


def upgrade() -> None:
    def zone() -> sa.Column[Any]:
        return sa.Column("zone", _key(63), primary_key=True)

    _rollup(
        "conflict_rollups",
        zone(),
        sa.Column("conflict_type", _key(16), primary_key=True),
        sa.Column("severity", _key(16), primary_key=True),
        sa.Column("classes", _key(24), primary_key=True),
        sa.Column("count", sa.BigInteger()),
    )
    _rollup(
        "conflict_exposure_rollups",
        zone(),
        sa.Column("class", _key(16), primary_key=True),
        sa.Column("road_users", sa.BigInteger()),
    )
    _rollup(
        "conflict_cell_rollups",
        zone(),
        sa.Column("cell_m", sa.Float(), primary_key=True),
        sa.Column("x_m", sa.Float(), primary_key=True),
        sa.Column("y_m", sa.Float(), primary_key=True),
        sa.Column("count", sa.BigInteger()),
        sa.Column("image_x", sa.Float()),
        sa.Column("image_y", sa.Float()),
    )


def downgrade() -> None:
    for name in ("conflict_cell_rollups", "conflict_exposure_rollups", "conflict_rollups"):
        op.drop_index(op.f(f"ix_{name}_period_bucket"), table_name=name)
        op.drop_table(name)
