"""Traffic conflicts from the roll-ups: the "weak spots" ranking and the conflict cells of a heat map.

The rate is conflicts per 1,000 road users that entered the zone (the edge's ``road_users``), summed over
the buckets of the query's period whose start lies in ``[start, end)`` (its zone's hours or days with
``tz``), read from the fewest roll-up rows that make up that time (:func:`~citytally.hub.queries.tiles`).
Sites, cameras or zones (their approaches) are ranked by that rate, highest first; a place with no road
user counted has no rate and comes last. Each rate comes with its exact 95 % Poisson interval
(:func:`rate_interval`): a handful of conflicts says little about a place, and where two places' intervals
overlap, their order may be chance. The TTC and PET distributions of the places that match the query's
filters are the conflict events' histograms summed bin by bin (bins keyed by their lower edge).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa

from citytally.hub.queries import (
    QueryError,
    Series,
    SeriesQuery,
    Tile,
    tiles,
    view_change_spans,
    window_span,
)
from citytally.hub.store import schema

__all__ = [
    "Level",
    "LEVELS",
    "SEVERITIES",
    "CONFLICT_TYPES",
    "MEASURES",
    "conflict_ranking",
    "conflict_cells",
    "conflict_histograms",
    "rate_interval",
]

Level = Literal["site", "camera", "zone"]
LEVELS: dict[str, tuple[str, ...]] = {
    "site": ("site",),
    "camera": ("site", "camera"),
    "zone": ("site", "camera", "zone"),
}
SEVERITIES = ("serious", "moderate", "slight")
CONFLICT_TYPES = ("rear_end", "crossing", "lane_change")
_FILTERS = ("site", "camera", "zone")
#: The conflict event's histograms: least time to collision and post-encroachment time.
MEASURES = ("ttc", "pet")
#: Confidence of the interval given with each rate.
RATE_CONFIDENCE = 0.95


def _where(table: sa.Table, query: SeriesQuery, runs: Sequence[Tile]) -> list[sa.ColumnElement[bool]]:
    c = table.c
    where = [
        sa.or_(*(sa.and_(c.period == p, c.bucket >= lo, c.bucket < hi) for p, lo, hi in runs), sa.false())
    ]
    for name, value in query.filters.items():
        if name not in _FILTERS:
            raise QueryError(f"conflicts cannot be filtered by {name!r}")
        where.append(c[name] == value)
    return where


def _runs(query: SeriesQuery) -> list[Tile]:
    return tiles(*window_span(query))


def _conflicts_by_place(
    conn: sa.Connection, query: SeriesQuery, runs: Sequence[Tile], keys: Sequence[str]
) -> dict[tuple[Any, ...], dict[str, int]]:
    t = schema.conflict_rollups
    split = [
        *(sa.func.sum(sa.case((t.c.severity == s, t.c["count"]), else_=0)).label(s) for s in SEVERITIES),
        *(
            sa.func.sum(sa.case((t.c.conflict_type == k, t.c["count"]), else_=0)).label(k)
            for k in CONFLICT_TYPES
        ),
    ]
    statement = (
        sa.select(*(t.c[k] for k in keys), sa.func.sum(t.c["count"]).label("conflicts"), *split)
        .where(*_where(t, query, runs))
        .group_by(*(t.c[k] for k in keys))
    )
    found: dict[tuple[Any, ...], dict[str, int]] = {}
    for row in conn.execute(statement).mappings():
        found[tuple(row[k] for k in keys)] = {
            name: int(row[name]) for name in ("conflicts", *SEVERITIES, *CONFLICT_TYPES)
        }
    return found


def _road_users_by_place(
    conn: sa.Connection, query: SeriesQuery, runs: Sequence[Tile], keys: Sequence[str]
) -> dict[tuple[Any, ...], int]:
    t = schema.conflict_exposure_rollups
    statement = (
        sa.select(*(t.c[k] for k in keys), sa.func.sum(t.c.road_users).label("road_users"))
        .where(*_where(t, query, runs))
        .group_by(*(t.c[k] for k in keys))
    )
    return {tuple(row[: len(keys)]): int(row[-1]) for row in conn.execute(statement)}


def conflict_ranking(
    engine: sa.Engine,
    query: SeriesQuery,
    level: Level = "zone",
    min_road_users: int = 0,
    now: datetime | None = None,
) -> Series:
    """Places (sites, cameras or zones) by conflicts per 1,000 road users, highest first.

    Each row: the place's columns (the others null), ``road_users``, ``conflicts``, the counts per severity
    band and per type, ``per_1000`` and its 95 % interval, ``per_1000_low`` and ``per_1000_high`` (all
    three null without road users), and ``view_changed``: whether the view of its camera (of any camera of
    its site) was knocked, turned, covered or out of focus during part of the window, so that its
    conflicts and road users may be wrong. Places with fewer than
    ``min_road_users`` are left out: a rate over a handful of road users says little.
    """
    keys = LEVELS[level]
    runs = _runs(query)
    with engine.connect() as conn:
        conflicts = _conflicts_by_place(conn, query, runs, keys)
        users = _road_users_by_place(conn, query, runs, keys)
    empty = dict.fromkeys(("conflicts", *SEVERITIES, *CONFLICT_TYPES), 0)
    rows = []
    for place in sorted(set(conflicts) | set(users)):
        n = users.get(place, 0)
        if n < min_road_users:
            continue
        counts = conflicts.get(place, empty)
        rate = round(1000.0 * counts["conflicts"] / n, 3) if n else None
        low, high = rate_interval(counts["conflicts"], n) if n else (None, None)
        named = dict.fromkeys(_FILTERS) | dict(zip(keys, place, strict=True))
        rows.append(
            {**named, "road_users": n, **counts, "per_1000": rate, "per_1000_low": low, "per_1000_high": high}
        )
    rows.sort(key=_rank)
    truncated, rows = len(rows) > query.limit, rows[: query.limit]
    _mark_view_changes(engine, query, rows, now or datetime.now(UTC))
    return Series(rows=rows, truncated=truncated)


def _mark_view_changes(
    engine: sa.Engine, query: SeriesQuery, rows: list[dict[str, Any]], now: datetime
) -> None:
    """``view_changed`` on each row: a view change of its camera (any of its site's) in the buckets read."""
    start, end = window_span(query)
    filters = {"site": query.filters.get("site"), "camera": query.filters.get("camera")}
    # only the cameras with a view change overlapping the buckets read are listed
    changed = view_change_spans(engine, start, end, now, **filters, with_change=False)
    for row in rows:
        row["view_changed"] = any(
            site == row["site"] and row["camera"] in (None, camera) for site, camera in changed
        )


def rate_interval(
    conflicts: int, road_users: int, confidence: float = RATE_CONFIDENCE
) -> tuple[float, float]:
    """The exact (Garwood) Poisson interval of conflicts per 1,000 road users, given ``conflicts`` among
    ``road_users`` (> 0). The lower limit is the rate at which as many conflicts or more would be seen with
    a chance of ``(1 - confidence) / 2``, the upper one the rate at which as few or fewer would; with no
    conflict the interval starts at 0. Conflicts are rare events per road user, so their count is Poisson,
    and these limits are quantiles of the gamma distribution."""
    from scipy.special import gammaincinv  # the hub needs scipy only here

    tail = (1.0 - confidence) / 2
    low = float(gammaincinv(conflicts, tail)) if conflicts else 0.0
    high = float(gammaincinv(conflicts + 1, 1.0 - tail))
    return round(1000.0 * low / road_users, 3), round(1000.0 * high / road_users, 3)


def _rank(row: dict[str, Any]) -> tuple[bool, float, int]:
    rate = row["per_1000"]
    return rate is None, -(rate or 0.0), -int(row["conflicts"])


def conflict_cells(engine: sa.Engine, query: SeriesQuery) -> Series:
    """Conflicts per ground cell of each zone over the window, most first: where the weak spot is."""
    t = schema.conflict_cell_rollups
    runs = _runs(query)
    places = (t.c.site, t.c.camera, t.c.zone, t.c.cell_m, t.c.x_m, t.c.y_m)
    total = sa.func.sum(t.c["count"]).label("count")
    statement = (
        sa.select(
            *places,
            total,
            sa.func.max(t.c.image_x).label("image_x"),
            sa.func.max(t.c.image_y).label("image_y"),
        )
        .where(*_where(t, query, runs))
        .group_by(*places)
        .order_by(total.desc(), *places)
        .limit(query.limit + 1)
    )
    with engine.connect() as conn:
        rows = [dict(row) for row in conn.execute(statement).mappings()]
    for row in rows:
        row["count"] = int(row["count"])
        if row["image_x"] < 0 or row["image_y"] < 0:  # the edge could not place the cell in the picture
            row["image_x"] = row["image_y"] = None
    return Series(rows=rows[: query.limit], truncated=len(rows) > query.limit)


def conflict_histograms(engine: sa.Engine, query: SeriesQuery) -> dict[str, list[tuple[float, int]]]:
    """Per measure (``ttc``, ``pet``): (bin's lower edge in s, conflicts) summed over the window and the
    places that match the filters, by edge; empty bins included (the edge sends every bin)."""
    t = schema.conflict_histogram_rollups
    runs = _runs(query)
    statement = (
        sa.select(t.c.measure, t.c.bin_s, sa.func.sum(t.c["count"]))
        .where(*_where(t, query, runs))
        .group_by(t.c.measure, t.c.bin_s)
        .order_by(t.c.measure, t.c.bin_s)
    )
    found: dict[str, list[tuple[float, int]]] = {m: [] for m in MEASURES}
    with engine.connect() as conn:
        for measure, edge, count in conn.execute(statement):
            found[measure].append((float(edge), int(count)))
    return found
