"""Speeds: ``speed_bin_rollups``, the speed events' histograms summed per roll-up bucket (road users per
5 km/h bin, keyed by line, direction, class and the bin's index), so that the dashboard's speed distribution
and V85 per bucket read roll-up rows rather than every interval's fact row (a month of a one-minute edge: a
quarter of a million). Filled here from the ``speeds`` facts still stored; buckets older than those keep no
bins (the dashboard shows their highest interval V85 instead, as for edges that send no histogram). Names
compare in the "C" collation and pages are filled to 70 % on PostgreSQL, as the other roll-ups. Downgrading
drops the table.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None

_TABLE = "speed_bin_rollups"
_KEY = ("period", "site", "camera", "bucket", "line", "direction", "class", "bin")
_COLUMNS = 'period, site, camera, bucket, line, direction, "class", bin, "count"'
#: The roll-up periods as they were at this revision (name, seconds).
_PERIODS = (("15m", 900), ("1h", 3600), ("1d", 86400))

_PERIODS_SQLITE = " UNION ALL ".join(f"SELECT '{p}' AS period, {w} AS width" for p, w in _PERIODS)
_FILL_SQLITE = f"""
INSERT INTO {_TABLE} ({_COLUMNS})
SELECT p.period, s.site, s.camera,
    strftime('%Y-%m-%d %H:%M:%S', CAST(strftime('%s', s."start") AS INTEGER) / p.width * p.width, 'unixepoch')
        || '.000000',
    s.line, s.direction, s."class", CAST(j.key AS INTEGER), SUM(j.value)
FROM speeds AS s, json_each(s.histogram) AS j, ({_PERIODS_SQLITE}) AS p
WHERE j.value > 0
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
"""
_FILL_POSTGRESQL = f"""
INSERT INTO {_TABLE} ({_COLUMNS})
SELECT p.period, s.site, s.camera, date_bin(p.width, s."start", timestamptz '1970-01-01 00:00+00'),
    s.line, s.direction, s."class", (h.i - 1)::int, sum(h.value::bigint)
FROM speeds AS s
CROSS JOIN (VALUES {", ".join(f"('{name}', interval '{seconds} seconds')" for name, seconds in _PERIODS)})
    AS p(period, width)
CROSS JOIN LATERAL jsonb_array_elements_text(
    CASE WHEN jsonb_typeof(s.histogram) = 'array' THEN s.histogram END
) WITH ORDINALITY AS h(value, i)
WHERE h.value::bigint > 0
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
"""


def _key(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(postgresql.VARCHAR(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        _TABLE,
        sa.Column("period", _key(4), nullable=False),
        sa.Column("site", _key(63), nullable=False),
        sa.Column("camera", _key(63), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("line", _key(63), nullable=False),
        sa.Column("direction", _key(63), nullable=False),
        sa.Column("class", _key(16), nullable=False),
        sa.Column("bin", sa.Integer(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(*_KEY, name=op.f(f"pk_{_TABLE}")),
    )
    op.create_index(op.f(f"ix_{_TABLE}_period_bucket"), _TABLE, ["period", "bucket"], unique=False)
    postgresql_store = op.get_bind().dialect.name == "postgresql"
    if postgresql_store:
        op.execute(f"ALTER TABLE {_TABLE} SET (fillfactor = 70)")
    op.execute(_FILL_POSTGRESQL if postgresql_store else _FILL_SQLITE)


def downgrade() -> None:
    op.drop_index(op.f(f"ix_{_TABLE}_period_bucket"), table_name=_TABLE)
    op.drop_table(_TABLE)
