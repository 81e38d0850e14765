"""Geometry revisions: every version of a camera's lines and zones, from its config file or from the
dashboard's editor, with who saved it and the config file's geometry digest at the time.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def _slug(name: str) -> sa.Column[str]:
    kind = sa.String(63).with_variant(postgresql.VARCHAR(63, collation="C"), "postgresql")
    return sa.Column(name, kind, nullable=False)


def upgrade() -> None:
    op.create_table(
        "geometry_revisions",
        _slug("site"),
        _slug("camera"),
        sa.Column("revision", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("actor_label", sa.String(200), nullable=False, server_default=""),
        sa.Column("file_digest", sa.String(64), nullable=False),
        sa.Column("geometry", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.ForeignKeyConstraint(
            ["site", "camera"],
            ["cameras.site", "cameras.camera"],
            name=op.f("fk_geometry_revisions_site_cameras"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site", "camera", "revision", name=op.f("pk_geometry_revisions")),
    )


def downgrade() -> None:
    op.drop_table("geometry_revisions")
