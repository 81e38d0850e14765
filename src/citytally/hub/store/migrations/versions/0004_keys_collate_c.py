"""PostgreSQL: names (slugs, classes, periods, types) compared byte by byte, in the ``"C"`` collation.

Every roll-up upsert compares five or six of them in two indexes; in the database's collation each
comparison is a ``strcoll`` call. They are ASCII slugs and fixed words, so byte order loses nothing (SQLite's
default, ``BINARY``, is already byte order: nothing to do there). Indexes on these columns are rebuilt
(the tables themselves are not rewritten), which on a large store takes time in proportion to its rows.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

#: Table → its name columns and their lengths, referenced tables before the tables that refer to them.
_COLUMNS: dict[str, dict[str, int]] = {
    "sites": {"site": 63},
    "cameras": {"site": 63, "camera": 63},
    "lines": {"site": 63, "camera": 63, "line": 63},
    "zones": {"site": 63, "camera": 63, "zone": 63},
    "events": {"site": 63, "camera": 63, "type": 32},
    "speeds": {"site": 63, "camera": 63, "line": 63, "direction": 63, "class": 16},
    "incidents": {"site": 63, "camera": 63, "incident": 32, "severity": 16, "zone": 63, "line": 63},
    "line_count_rollups": {"period": 4, "site": 63, "camera": 63, "line": 63, "direction": 63, "class": 16},
    "speed_rollups": {"period": 4, "site": 63, "camera": 63, "line": 63, "direction": 63, "class": 16},
    "occupancy_rollups": {"period": 4, "site": 63, "camera": 63, "zone": 63, "class": 16},
    "movement_rollups": {
        "period": 4,
        "site": 63,
        "camera": 63,
        "from_zone": 63,
        "to_zone": 63,
        "class": 16,
    },
    "incident_rollups": {"period": 4, "site": 63, "camera": 63, "incident": 32, "severity": 16},
}


def _alter(collation: str | None) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in _COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for column, length in columns.items():
                batch.alter_column(column, type_=sa.VARCHAR(length, collation=collation))


def upgrade() -> None:
    _alter("C")


def downgrade() -> None:
    _alter(None)
