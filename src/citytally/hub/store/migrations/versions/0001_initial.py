"""The hub store's first schema: registry, events, facts, roll-ups, dead letters.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "dead_letters",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
    )
    op.create_index(
        op.f("ix_dead_letters_kind_received_at"), "dead_letters", ["kind", "received_at"], unique=False
    )
    op.create_index(op.f("ix_dead_letters_received_at"), "dead_letters", ["received_at"], unique=False)
    op.create_table(
        "events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("camera", sa.String(length=63), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index(op.f("ix_events_received_at"), "events", ["received_at"], unique=False)
    op.create_index(op.f("ix_events_site_camera_start"), "events", ["site", "camera", "start"], unique=False)
    op.create_index(op.f("ix_events_start"), "events", ["start"], unique=False)
    op.create_table(
        "incident_rollups",
        sa.Column("period", sa.String(length=4), nullable=False),
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("camera", sa.String(length=63), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("incident", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "period", "site", "camera", "bucket", "incident", "severity", name=op.f("pk_incident_rollups")
        ),
    )
    op.create_index(
        op.f("ix_incident_rollups_period_bucket"), "incident_rollups", ["period", "bucket"], unique=False
    )
    op.create_table(
        "incidents",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("camera", sa.String(length=63), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("incident", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("zone", sa.String(length=63), nullable=True),
        sa.Column("line", sa.String(length=63), nullable=True),
        sa.Column("details", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_incidents")),
    )
    op.create_index(
        op.f("ix_incidents_acknowledged_at_start"), "incidents", ["acknowledged_at", "start"], unique=False
    )
    op.create_index(
        op.f("ix_incidents_site_camera_start"), "incidents", ["site", "camera", "start"], unique=False
    )
    op.create_index(op.f("ix_incidents_start"), "incidents", ["start"], unique=False)
    op.create_table(
        "line_count_rollups",
        sa.Column("period", sa.String(length=4), nullable=False),
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("camera", sa.String(length=63), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("line", sa.String(length=63), nullable=False),
        sa.Column("direction", sa.String(length=63), nullable=False),
        sa.Column("class", sa.String(length=16), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "period",
            "site",
            "camera",
            "bucket",
            "line",
            "direction",
            "class",
            name=op.f("pk_line_count_rollups"),
        ),
    )
    op.create_index(
        op.f("ix_line_count_rollups_period_bucket"), "line_count_rollups", ["period", "bucket"], unique=False
    )
    op.create_table(
        "line_counts",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("camera", sa.String(length=63), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("line", sa.String(length=63), nullable=False),
        sa.Column("direction", sa.String(length=63), nullable=False),
        sa.Column("class", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "line", "direction", "class", name=op.f("pk_line_counts")),
    )
    op.create_index(
        op.f("ix_line_counts_site_camera_start"), "line_counts", ["site", "camera", "start"], unique=False
    )
    op.create_index(op.f("ix_line_counts_start"), "line_counts", ["start"], unique=False)
    op.create_table(
        "movement_rollups",
        sa.Column("period", sa.String(length=4), nullable=False),
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("camera", sa.String(length=63), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_zone", sa.String(length=63), nullable=False),
        sa.Column("to_zone", sa.String(length=63), nullable=False),
        sa.Column("class", sa.String(length=16), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "period",
            "site",
            "camera",
            "bucket",
            "from_zone",
            "to_zone",
            "class",
            name=op.f("pk_movement_rollups"),
        ),
    )
    op.create_index(
        op.f("ix_movement_rollups_period_bucket"), "movement_rollups", ["period", "bucket"], unique=False
    )
    op.create_table(
        "occupancy_rollups",
        sa.Column("period", sa.String(length=4), nullable=False),
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("camera", sa.String(length=63), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("zone", sa.String(length=63), nullable=False),
        sa.Column("class", sa.String(length=16), nullable=False),
        sa.Column("samples", sa.BigInteger(), nullable=False),
        sa.Column("mean_sum", sa.Float(), nullable=False),
        sa.Column("peak_max", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "period", "site", "camera", "bucket", "zone", "class", name=op.f("pk_occupancy_rollups")
        ),
    )
    op.create_index(
        op.f("ix_occupancy_rollups_period_bucket"), "occupancy_rollups", ["period", "bucket"], unique=False
    )
    op.create_table(
        "sites",
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=200), server_default="", nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("site", name=op.f("pk_sites")),
    )
    op.create_table(
        "speed_rollups",
        sa.Column("period", sa.String(length=4), nullable=False),
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("camera", sa.String(length=63), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("line", sa.String(length=63), nullable=False),
        sa.Column("direction", sa.String(length=63), nullable=False),
        sa.Column("class", sa.String(length=16), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("speed_sum_kmh", sa.Float(), nullable=False),
        sa.Column("p85_max_kmh", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "period", "site", "camera", "bucket", "line", "direction", "class", name=op.f("pk_speed_rollups")
        ),
    )
    op.create_index(
        op.f("ix_speed_rollups_period_bucket"), "speed_rollups", ["period", "bucket"], unique=False
    )
    op.create_table(
        "speeds",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("camera", sa.String(length=63), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("line", sa.String(length=63), nullable=False),
        sa.Column("direction", sa.String(length=63), nullable=False),
        sa.Column("class", sa.String(length=16), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("mean_kmh", sa.Float(), nullable=False),
        sa.Column("p85_kmh", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "line", "direction", "class", name=op.f("pk_speeds")),
    )
    op.create_index(op.f("ix_speeds_site_camera_start"), "speeds", ["site", "camera", "start"], unique=False)
    op.create_index(op.f("ix_speeds_start"), "speeds", ["start"], unique=False)
    op.create_table(
        "turning_movements",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("camera", sa.String(length=63), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_zone", sa.String(length=63), nullable=False),
        sa.Column("to_zone", sa.String(length=63), nullable=False),
        sa.Column("class", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "event_id", "from_zone", "to_zone", "class", name=op.f("pk_turning_movements")
        ),
    )
    op.create_index(
        op.f("ix_turning_movements_site_camera_start"),
        "turning_movements",
        ["site", "camera", "start"],
        unique=False,
    )
    op.create_index(op.f("ix_turning_movements_start"), "turning_movements", ["start"], unique=False)
    op.create_table(
        "zone_occupancy",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("camera", sa.String(length=63), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("zone", sa.String(length=63), nullable=False),
        sa.Column("class", sa.String(length=16), nullable=False),
        sa.Column("mean", sa.Float(), nullable=False),
        sa.Column("peak", sa.Integer(), nullable=False),
        sa.Column("dwell_n", sa.Integer(), nullable=False),
        sa.Column("dwell_mean_s", sa.Float(), nullable=True),
        sa.Column("dwell_max_s", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("event_id", "zone", "class", name=op.f("pk_zone_occupancy")),
    )
    op.create_index(
        op.f("ix_zone_occupancy_site_camera_start"),
        "zone_occupancy",
        ["site", "camera", "start"],
        unique=False,
    )
    op.create_index(op.f("ix_zone_occupancy_start"), "zone_occupancy", ["start"], unique=False)
    op.create_table(
        "cameras",
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("camera", sa.String(length=63), nullable=False),
        sa.Column("location", sa.String(length=200), server_default="", nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("purpose", sa.Text(), server_default="", nullable=False),
        sa.Column("legal_basis", sa.Text(), server_default="", nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=True),
        sa.Column("contact", sa.String(length=320), server_default="", nullable=False),
        sa.Column("config", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site"], ["sites.site"], name=op.f("fk_cameras_site_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("site", "camera", name=op.f("pk_cameras")),
    )
    op.create_table(
        "lines",
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("camera", sa.String(length=63), nullable=False),
        sa.Column("line", sa.String(length=63), nullable=False),
        sa.Column("config", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.ForeignKeyConstraint(
            ["site", "camera"],
            ["cameras.site", "cameras.camera"],
            name=op.f("fk_lines_site_cameras"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site", "camera", "line", name=op.f("pk_lines")),
    )
    op.create_table(
        "zones",
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("camera", sa.String(length=63), nullable=False),
        sa.Column("zone", sa.String(length=63), nullable=False),
        sa.Column("config", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.ForeignKeyConstraint(
            ["site", "camera"],
            ["cameras.site", "cameras.camera"],
            name=op.f("fk_zones_site_cameras"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site", "camera", "zone", name=op.f("pk_zones")),
    )


def downgrade() -> None:

    op.drop_table("zones")
    op.drop_table("lines")
    op.drop_table("cameras")
    op.drop_index(op.f("ix_zone_occupancy_start"), table_name="zone_occupancy")
    op.drop_index(op.f("ix_zone_occupancy_site_camera_start"), table_name="zone_occupancy")
    op.drop_table("zone_occupancy")
    op.drop_index(op.f("ix_turning_movements_start"), table_name="turning_movements")
    op.drop_index(op.f("ix_turning_movements_site_camera_start"), table_name="turning_movements")
    op.drop_table("turning_movements")
    op.drop_index(op.f("ix_speeds_start"), table_name="speeds")
    op.drop_index(op.f("ix_speeds_site_camera_start"), table_name="speeds")
    op.drop_table("speeds")
    op.drop_index(op.f("ix_speed_rollups_period_bucket"), table_name="speed_rollups")
    op.drop_table("speed_rollups")
    op.drop_table("sites")
    op.drop_index(op.f("ix_occupancy_rollups_period_bucket"), table_name="occupancy_rollups")
    op.drop_table("occupancy_rollups")
    op.drop_index(op.f("ix_movement_rollups_period_bucket"), table_name="movement_rollups")
    op.drop_table("movement_rollups")
    op.drop_index(op.f("ix_line_counts_start"), table_name="line_counts")
    op.drop_index(op.f("ix_line_counts_site_camera_start"), table_name="line_counts")
    op.drop_table("line_counts")
    op.drop_index(op.f("ix_line_count_rollups_period_bucket"), table_name="line_count_rollups")
    op.drop_table("line_count_rollups")
    op.drop_index(op.f("ix_incidents_start"), table_name="incidents")
    op.drop_index(op.f("ix_incidents_site_camera_start"), table_name="incidents")
    op.drop_index(op.f("ix_incidents_acknowledged_at_start"), table_name="incidents")
    op.drop_table("incidents")
    op.drop_index(op.f("ix_incident_rollups_period_bucket"), table_name="incident_rollups")
    op.drop_table("incident_rollups")
    op.drop_index(op.f("ix_events_start"), table_name="events")
    op.drop_index(op.f("ix_events_site_camera_start"), table_name="events")
    op.drop_index(op.f("ix_events_received_at"), table_name="events")
    op.drop_table("events")
    op.drop_index(op.f("ix_dead_letters_received_at"), table_name="dead_letters")
    op.drop_index(op.f("ix_dead_letters_kind_received_at"), table_name="dead_letters")
    op.drop_table("dead_letters")
