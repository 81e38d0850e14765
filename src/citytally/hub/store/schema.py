"""The hub's tables (SQLAlchemy Core): one schema for SQLite and PostgreSQL.

Layers, from what arrived to what the API reads most:

* registry: ``sites``, ``cameras`` (with the metadata an operator must publish: place, purpose, legal basis,
  retention, contact), ``lines``, ``zones``, and ``geometry_revisions`` (every version of a camera's lines
  and zones: read from its config file, or saved in the dashboard's editor);
* ``events``: every accepted event once (its id is the primary key), with its JSON body: the raw record;
* facts, only where a query needs each interval's own numbers: ``speeds`` (the dashboard's speed histogram)
  and ``incidents`` (listed, and acknowledged one by one; ``incident_latest`` points at each one's latest
  row). Line counts, occupancy and turning movements have
  no fact table: every query of them reads roll-ups, and a row per number beside the body would only repeat
  the body (it cost a third of PostgreSQL's ingest time; ``bench/hub_ingest_explain.py``);
* roll-ups: ``*_rollups`` per period (``15m``, ``1h``, ``1d``), kept in step with the events in the same
  transaction; on PostgreSQL their pages are filled to 70 % (migration 0005), so the many updates of a row
  (an edge reports every minute) stay on its page without new index entries;
* ``counted_spans`` and ``counted_incidents``: the stretches of time each line, zone or turning table of a
  camera was counted over, and a recording's incident reports, written by retention as it deletes their
  raw events (kept with the roll-ups): a recording analysed again after its raw events went is still told
  apart from one never counted;
* ``dead_letters``: every message ingest refused, with the reason.

Fact rows carry their event's ``event_id`` and ``start`` but no foreign key: a key check per fact row costs
ingest throughput, and retention deletes by time across tables anyway. Times are UTC (:class:`UtcDateTime`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# The access and audit tables (owned by citytally.hub.access / .audit) live in this metadata too: importing
# this module registers every table of the hub's database.
from citytally.hub import access_tables as _access_tables  # noqa: F401
from citytally.hub.db_metadata import UtcDateTime, metadata

__all__ = [
    "metadata",
    "UtcDateTime",
    "JsonDocument",
    "ROLLUP_PERIODS",
    "sites",
    "cameras",
    "lines",
    "zones",
    "geometry_revisions",
    "events",
    "speeds",
    "incidents",
    "incident_latest",
    "line_count_rollups",
    "speed_rollups",
    "speed_bin_rollups",
    "occupancy_rollups",
    "movement_rollups",
    "incident_rollups",
    "conflict_rollups",
    "conflict_exposure_rollups",
    "conflict_cell_rollups",
    "conflict_histogram_rollups",
    "counted_spans",
    "counted_incidents",
    "dead_letters",
    "alert_relay_positions",
    "broker_sessions",
]

#: Roll-up periods and their length in seconds. Buckets are aligned to UTC (days start at 00:00 UTC).
ROLLUP_PERIODS: dict[str, int] = {"15m": 900, "1h": 3600, "1d": 86400}

#: JSON on SQLite, JSONB on PostgreSQL (indexable, compact).
JsonDocument: sa.types.TypeEngine[Any] = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

_SLUG = 63


def _key(length: int) -> sa.types.TypeEngine[str]:
    """Text that names something (a slug, a class, a period): compared byte by byte.

    On PostgreSQL that is the ``"C"`` collation, which SQLite's default (``BINARY``) already is. Keys are
    ASCII slugs, so nothing is lost, and the roll-up upserts compare them in every index: in the database's
    own collation (``strcoll``) that cost ingest about a tenth of PostgreSQL's time even in ``C.UTF-8``.
    """
    return sa.String(length).with_variant(postgresql.VARCHAR(length, collation="C"), "postgresql")


def _slug(name: str, **kwargs: Any) -> sa.Column[str]:
    return sa.Column(name, _key(_SLUG), nullable=False, **kwargs)


def _interval() -> list[sa.Column[Any]]:
    return [
        sa.Column("start", UtcDateTime(), nullable=False),
        sa.Column("end", UtcDateTime(), nullable=False),
    ]


sites = sa.Table(
    "sites",
    metadata,
    _slug("site", primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("description", sa.Text(), nullable=False, server_default=""),
)

cameras = sa.Table(
    "cameras",
    metadata,
    _slug("site", primary_key=True),
    _slug("camera", primary_key=True),
    sa.Column("location", sa.String(200), nullable=False, server_default=""),
    sa.Column("lat", sa.Float(), nullable=True),
    sa.Column("lon", sa.Float(), nullable=True),
    sa.Column("purpose", sa.Text(), nullable=False, server_default=""),
    sa.Column("legal_basis", sa.Text(), nullable=False, server_default=""),
    sa.Column("retention_days", sa.Integer(), nullable=True),
    sa.Column("contact", sa.String(320), nullable=False, server_default=""),
    sa.Column("config", JsonDocument, nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    # when first registered: kept by every update (migration 0018; nullable only so that SQLite adds it)
    sa.Column("registered_at", UtcDateTime(), nullable=True),
    sa.ForeignKeyConstraint(["site"], ["sites.site"], ondelete="CASCADE"),
)

lines = sa.Table(
    "lines",
    metadata,
    _slug("site", primary_key=True),
    _slug("camera", primary_key=True),
    _slug("line", primary_key=True),
    sa.Column("config", JsonDocument, nullable=False),
    sa.ForeignKeyConstraint(["site", "camera"], ["cameras.site", "cameras.camera"], ondelete="CASCADE"),
)

zones = sa.Table(
    "zones",
    metadata,
    _slug("site", primary_key=True),
    _slug("camera", primary_key=True),
    _slug("zone", primary_key=True),
    sa.Column("config", JsonDocument, nullable=False),
    sa.ForeignKeyConstraint(["site", "camera"], ["cameras.site", "cameras.camera"], ondelete="CASCADE"),
)

geometry_revisions = sa.Table(
    "geometry_revisions",
    metadata,
    _slug("site", primary_key=True),
    _slug("camera", primary_key=True),
    sa.Column("revision", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("saved_at", UtcDateTime(), nullable=False),
    sa.Column("origin", sa.String(16), nullable=False),  # "file" or "dashboard"
    sa.Column("actor", sa.String(64), nullable=False),  # token id, or "config file"
    sa.Column("actor_label", sa.String(200), nullable=False, server_default=""),
    # sha256 of the geometry the camera's config file held when this revision was made
    sa.Column("file_digest", sa.String(64), nullable=False),
    sa.Column("geometry", JsonDocument, nullable=False),  # {"lines": [...], "zones": [...]}
    sa.ForeignKeyConstraint(["site", "camera"], ["cameras.site", "cameras.camera"], ondelete="CASCADE"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    _slug("site"),
    _slug("camera"),
    sa.Column("type", _key(32), nullable=False),
    *_interval(),
    sa.Column("received_at", UtcDateTime(), nullable=False),
    sa.Column("body", JsonDocument, nullable=False),
    sa.Index(None, "site", "camera", "start"),
    sa.Index(None, "start"),
    sa.Index(None, "received_at"),
)


def _fact(name: str, *columns: sa.Column[Any], key: tuple[str, ...]) -> sa.Table:
    """A fact table: one row per (event, ``key``), indexed for one camera's day and for all cameras."""
    return sa.Table(
        name,
        metadata,
        sa.Column("event_id", sa.Uuid(), nullable=False),
        _slug("site"),
        _slug("camera"),
        *_interval(),
        *columns,
        sa.PrimaryKeyConstraint("event_id", *key),
        sa.Index(None, "site", "camera", "start"),
        sa.Index(None, "start"),
    )


#: A count of one interval, 64-bit (SQLite's INTEGER already is; these columns were created as INTEGER there).
_COUNT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

speeds = _fact(
    "speeds",
    _slug("line"),
    _slug("direction"),
    sa.Column("class", _key(16), nullable=False),
    sa.Column("n", _COUNT, nullable=False),
    sa.Column("mean_kmh", sa.Float(), nullable=False),
    sa.Column("p85_kmh", sa.Float(), nullable=False),
    # Road users per 5 km/h bin of their own speed (the event's histogram); NULL from edges that send none.
    sa.Column("histogram", JsonDocument, nullable=True),
    key=("line", "direction", "class"),
)


incidents = sa.Table(
    "incidents",
    metadata,
    sa.Column("event_id", sa.Uuid(), primary_key=True),
    _slug("site"),
    _slug("camera"),
    *_interval(),
    sa.Column("incident", _key(32), nullable=False),
    sa.Column("severity", _key(16), nullable=False),
    sa.Column("zone", _key(_SLUG), nullable=True),
    sa.Column("line", _key(_SLUG), nullable=True),
    sa.Column("details", JsonDocument, nullable=False),
    sa.Column("received_at", UtcDateTime(), nullable=False),
    sa.Column("acknowledged_at", UtcDateTime(), nullable=True),
    sa.Column("acknowledged_by", sa.String(200), nullable=True),
    # One row per event; the events of one incident (onset, updates, clearance) share incident_id.
    sa.Column("incident_id", sa.Uuid(), nullable=True),
    sa.Column("phase", _key(8), nullable=True),
    sa.Index(None, "site", "camera", "start"),
    sa.Index(None, "start"),
    sa.Index(None, "acknowledged_at", "start"),
    # an incident's rows (the owner check, the view-change spans) and its first acknowledgement, by seek
    sa.Index(None, "incident_id", "acknowledged_at"),
)

#: Which row of ``incidents`` is each incident's latest (one row per incident; a one-off report, without
#: ``incident_id``, is keyed by its ``event_id``): ingest keeps it in the same transaction (an upsert, so
#: hubs that ingest side by side agree), and the operator's list and badge read it instead of comparing
#: every row of an incident with every other (a crowd reported every 30 s for hours has hundreds).
#: The latest is the clearance if there is one (its ``end``, when the condition was last seen, may be
#: before the last update's, sent while a lost vehicle or a hidden object was still held), else the row
#: with the latest ``end``; then the latest received; then the greatest ``event_id``. ``site``,
#: ``camera``, ``start``, ``end``, ``incident``, ``phase`` and ``received_at`` are that row's: retention
#: prunes it with its rows, and the view-change marks read the spans off it.
incident_latest = sa.Table(
    "incident_latest",
    metadata,
    sa.Column("incident_key", sa.Uuid(), primary_key=True),
    sa.Column("event_id", sa.Uuid(), nullable=False),
    _slug("site"),
    _slug("camera"),
    *_interval(),
    sa.Column("incident", _key(32), nullable=False),
    sa.Column("phase", _key(8), nullable=True),
    sa.Column("received_at", UtcDateTime(), nullable=False),
    sa.Index(None, "start"),
    # the view changes that reach into a range (the marks on counts): by kind and end
    sa.Index(None, "incident", "end"),
)


def _rollup(name: str, key: tuple[sa.Column[Any], ...], values: tuple[sa.Column[Any], ...]) -> sa.Table:
    """A roll-up table: the primary key serves "one camera, one period, a time range"; the second index
    serves "all cameras, one period, a time range"."""
    key_names = [c.name for c in key]
    return sa.Table(
        name,
        metadata,
        sa.Column("period", _key(4), nullable=False),
        _slug("site"),
        _slug("camera"),
        sa.Column("bucket", UtcDateTime(), nullable=False),
        *key,
        *values,
        sa.PrimaryKeyConstraint("period", "site", "camera", "bucket", *key_names),
        sa.Index(None, "period", "bucket"),
    )


line_count_rollups = _rollup(
    "line_count_rollups",
    (_slug("line"), _slug("direction"), sa.Column("class", _key(16), nullable=False)),
    (sa.Column("count", sa.BigInteger(), nullable=False),),
)

speed_rollups = _rollup(
    "speed_rollups",
    (_slug("line"), _slug("direction"), sa.Column("class", _key(16), nullable=False)),
    (
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("speed_sum_kmh", sa.Float(), nullable=False),
        sa.Column("p85_max_kmh", sa.Float(), nullable=False),
    ),
)

#: The speed events' histograms, summed: road users per 5 km/h bin of their own speed (``bin``: its index,
#: from 0 km/h), only bins that hold somebody. A percentile over many intervals is read off these sums
#: (migration 0012; filled from the ``speeds`` facts still stored when it ran).
speed_bin_rollups = _rollup(
    "speed_bin_rollups",
    (
        _slug("line"),
        _slug("direction"),
        sa.Column("class", _key(16), nullable=False),
        sa.Column("bin", sa.Integer(), nullable=False),
    ),
    (sa.Column("count", sa.BigInteger(), nullable=False),),
)

occupancy_rollups = _rollup(
    "occupancy_rollups",
    (_slug("zone"), sa.Column("class", _key(16), nullable=False)),
    (
        sa.Column("samples", sa.BigInteger(), nullable=False),
        sa.Column("mean_sum", sa.Float(), nullable=False),
        sa.Column("peak_max", _COUNT, nullable=False),
    ),
)

movement_rollups = _rollup(
    "movement_rollups",
    (_slug("from_zone"), _slug("to_zone"), sa.Column("class", _key(16), nullable=False)),
    (sa.Column("count", sa.BigInteger(), nullable=False),),
)

incident_rollups = _rollup(
    "incident_rollups",
    (
        sa.Column("incident", _key(32), nullable=False),
        sa.Column("severity", _key(16), nullable=False),
    ),
    (sa.Column("count", sa.BigInteger(), nullable=False),),
)

conflict_rollups = _rollup(
    "conflict_rollups",
    (
        _slug("zone"),
        sa.Column("conflict_type", _key(16), nullable=False),
        sa.Column("severity", _key(16), nullable=False),
        sa.Column("classes", _key(24), nullable=False),
    ),
    (sa.Column("count", sa.BigInteger(), nullable=False),),
)

#: Road users that entered a conflict zone: the denominator of its conflict rate.
conflict_exposure_rollups = _rollup(
    "conflict_exposure_rollups",
    (_slug("zone"), sa.Column("class", _key(16), nullable=False)),
    (sa.Column("road_users", sa.BigInteger(), nullable=False),),
)

#: Conflicts per ground cell (``x_m``, ``y_m``: the cell's low corner, ``cell_m`` its side) and the cell
#: centre in the camera picture (-1 where the edge could not place it).
conflict_cell_rollups = _rollup(
    "conflict_cell_rollups",
    (
        _slug("zone"),
        sa.Column("cell_m", sa.Float(), nullable=False),
        sa.Column("x_m", sa.Float(), nullable=False),
        sa.Column("y_m", sa.Float(), nullable=False),
    ),
    (
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("image_x", sa.Float(), nullable=False),
        sa.Column("image_y", sa.Float(), nullable=False),
    ),
)

#: The conflict events' TTC and PET histograms, summed: conflicts per bin (``measure`` ``ttc`` or ``pet``;
#: ``bin_s`` the bin's lower edge, the last bin open-ended). Empty bins are kept: the bins stay known.
conflict_histogram_rollups = _rollup(
    "conflict_histogram_rollups",
    (
        _slug("zone"),
        sa.Column("measure", _key(8), nullable=False),
        sa.Column("bin_s", sa.Float(), nullable=False),
    ),
    (sa.Column("count", sa.BigInteger(), nullable=False),),
)

#: What the roll-ups counted, once the interval events behind them are deleted: per camera, event type and
#: place (a line or zone; a turning table's: empty), the stretches of time reported, intervals that meet
#: (within 2 s) merged, cut at UTC midnights (no row is longer than a day). Retention writes them as it
#: deletes the raw events and deletes them with the roll-ups; ingest refuses a recording's interval that
#: overlaps one (migration 0019; :mod:`citytally.hub.store.counted`).
counted_spans = sa.Table(
    "counted_spans",
    metadata,
    _slug("site", primary_key=True),
    _slug("camera", primary_key=True),
    sa.Column("type", _key(32), primary_key=True),
    sa.Column("place", _key(_SLUG), primary_key=True),
    sa.Column("start", UtcDateTime(), primary_key=True),
    sa.Column("end", UtcDateTime(), nullable=False),
    sa.Index(None, "site", "camera", "start"),
    sa.Index(None, "end"),
)

#: The ids of a recording's incident reports (derived ids) whose raw events retention deleted: the same
#: report again is a duplicate (migration 0019). Deleted with the roll-ups, by ``start``.
counted_incidents = sa.Table(
    "counted_incidents",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    _slug("site"),
    _slug("camera"),
    sa.Column("start", UtcDateTime(), nullable=False),
    sa.Index(None, "start"),
)


dead_letters = sa.Table(
    "dead_letters",
    metadata,
    sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    sa.Column("received_at", UtcDateTime(), nullable=False),
    sa.Column("topic", sa.Text(), nullable=False),
    sa.Column("payload", sa.LargeBinary(), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Index(None, "received_at"),
    sa.Index(None, "kind", "received_at"),
)

#: How far each MQTT alert relay (one per broker, :func:`citytally.hub.alerts.relay_key`) has got: every
#: incident event stored before ``position`` has reached the broker (migration 0013). ``holder`` is the hub
#: (its MQTT client id) that relays, until ``held_until`` (the store's clock on PostgreSQL); other hubs on the
#: store stand by (migration 0014; :mod:`citytally.hub.alerts`). ``acknowledged`` holds the ids of the
#: incident events the broker acknowledged within the look-back before ``position``, so that a hub taking
#: over does not send them again (migration 0015). Event ids only: no road user.
alert_relay_positions = sa.Table(
    "alert_relay_positions",
    metadata,
    sa.Column("relay", sa.String(128), primary_key=True),
    sa.Column("position", UtcDateTime(), nullable=False),
    sa.Column("saved_at", UtcDateTime(), nullable=False),
    sa.Column("holder", sa.String(128), nullable=True),
    sa.Column("held_until", UtcDateTime(), nullable=True),
    # {event id: received_at} of what the broker acknowledged within the look-back before the position.
    sa.Column("acknowledged", JsonDocument, nullable=True),
)

#: The brokers (``host:port``) this hub's ingest (MQTT client id) has had a session with, and since when
#: (migration 0016): connecting without a session is expected the first time and a loss of the hub's queue
#: afterwards (:mod:`citytally.hub.ingest`). Broker addresses and client ids only.
broker_sessions = sa.Table(
    "broker_sessions",
    metadata,
    sa.Column("broker", sa.String(300), primary_key=True),
    sa.Column("client_id", sa.String(128), primary_key=True),
    sa.Column("first_connected_at", UtcDateTime(), nullable=False),
)
