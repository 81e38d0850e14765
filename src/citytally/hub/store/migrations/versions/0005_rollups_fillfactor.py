"""PostgreSQL: roll-up tables leave 30 % of each page free, so that updating a roll-up row stays on its page.

Edges report every minute by default, so a 15-minute roll-up row is updated 15 times, an hourly one 60 and a
daily one 1,440. An update that finds room on the row's own page, and changes no indexed column (it only
adds to the values), is a heap-only tuple (HOT) update: no new index entries. A full page forces a new row
version elsewhere and a new entry in both indexes. In bench/hub_ingest.py's live-city figure (2,000
cameras reporting each minute), 85 % of the updates became HOT instead of 1 %, PostgreSQL's time per event
fell by 37 %, and the roll-up table with its indexes took 8.5 MB instead of 20.4 (docs/benchmarks.md).
Pages already written keep their fill until they are rewritten. SQLite has no such
setting: nothing to do there.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

ROLLUP_FILLFACTOR = 70
_TABLES = (
    "line_count_rollups",
    "speed_rollups",
    "occupancy_rollups",
    "movement_rollups",
    "incident_rollups",
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _TABLES:
            op.execute(f"ALTER TABLE {table} SET (fillfactor = {ROLLUP_FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _TABLES:
            op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
