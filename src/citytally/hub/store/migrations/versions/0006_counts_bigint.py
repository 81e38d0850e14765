"""PostgreSQL: the last two 32-bit count columns become 64-bit, as the schema's counts always were.

The event schema bounds a count only below (``ge=0``) and every other count column was already BIGINT, but
``speeds.n`` and ``occupancy_rollups.peak_max`` were INTEGER (and the server-side roll-up statements cast to
``integer``), so an event with a count above 2³¹ - 1 was refused by PostgreSQL and dead-lettered. SQLite
stores any integer up to 2⁶³ - 1 in either type: nothing to do there. Upgrading rewrites both tables
(``ALTER COLUMN ... TYPE bigint``) under an exclusive lock: ingest waits for it, and nothing is lost (the
broker keeps what ingest has not acknowledged).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

_COLUMNS = (("speeds", "n"), ("occupancy_rollups", "peak_max"))


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, column in _COLUMNS:
            op.alter_column(table, column, type_=sa.BigInteger(), existing_type=sa.Integer())


def downgrade() -> None:
    """Back to INTEGER: fails (and changes nothing) while a stored value is above 2³¹ - 1."""
    if op.get_bind().dialect.name == "postgresql":
        for table, column in _COLUMNS:
            op.alter_column(table, column, type_=sa.Integer(), existing_type=sa.BigInteger())
