"""Traffic conflicts: ``conflict_histogram_rollups``, the conflict events' TTC and PET histograms summed per
roll-up bucket (conflicts per bin, keyed by zone, measure and the bin's lower edge), so that the hub serves
a place's distributions without reading raw events. Names compare in the "C" collation and pages are
filled to 70 % on PostgreSQL, as the other roll-ups. Conflict events stored before this revision keep
their histograms in ``events`` only. Downgrading drops the table.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None

_TABLE = "conflict_histogram_rollups"


def _key(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(postgresql.VARCHAR(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        _TABLE,
        sa.Column("period", _key(4), nullable=False),
        sa.Column("site", _key(63), nullable=False),
        sa.Column("camera", _key(63), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("zone", _key(63), nullable=False),
        sa.Column("measure", _key(8), nullable=False),
        sa.Column("bin_s", sa.Float(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "period", "site", "camera", "bucket", "zone", "measure", "bin_s", name=op.f(f"pk_{_TABLE}")
        ),
    )
    op.create_index(op.f(f"ix_{_TABLE}_period_bucket"), _TABLE, ["period", "bucket"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE {_TABLE} SET (fillfactor = 70)")


def downgrade() -> None:
    op.drop_index(op.f(f"ix_{_TABLE}_period_bucket"), table_name=_TABLE)
    op.drop_table(_TABLE)
