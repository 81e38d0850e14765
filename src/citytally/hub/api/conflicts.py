"""``/conflicts`` (viewers): the "weak spots" ranking by conflicts per 1,000 road users, and where."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from citytally.hub.access import Principal, require_role
from citytally.hub.api.deps import EngineDep
from citytally.hub.api.errors import ERROR_RESPONSES, TRUNCATED_HEADER
from citytally.hub.api.params import SlugQuery, local_series_query
from citytally.hub.api.series import with_filters
from citytally.hub.conflicts import Level, conflict_cells, conflict_histograms, conflict_ranking
from citytally.hub.queries import Interval, SeriesQuery

__all__ = [
    "router",
    "WeakSpot",
    "WeakSpotRanking",
    "ConflictCellOut",
    "ConflictCells",
    "HistogramBin",
    "ConflictDistributions",
]

router = APIRouter(prefix="/conflicts", tags=["conflicts"], responses=ERROR_RESPONSES)
Viewer = Annotated[Principal, Depends(require_role("viewer"))]
Window = Annotated[SeriesQuery, Depends(local_series_query)]
LevelQuery = Annotated[
    Level, Query(description="Rank sites, cameras or zones (the junctions' approaches): the rest is summed.")
]
MinRoadUsers = Annotated[
    int, Query(ge=0, le=1_000_000_000, description="Leave out places with fewer road users than this.")
]


class WeakSpot(BaseModel):
    """One place's conflicts over the window; a column finer than ``level`` is null."""

    site: str
    camera: str | None
    zone: str | None
    road_users: int = Field(ge=0, description="Road users that entered the conflict zones.")
    conflicts: int = Field(ge=0, description="Conflicts of every type and severity.")
    serious: int = Field(ge=0, description="TTC or PET under 1 s.")
    moderate: int = Field(ge=0, description="TTC or PET under 2 s.")
    slight: int = Field(ge=0, description="The other conflicts.")
    rear_end: int = Field(ge=0)
    crossing: int = Field(ge=0)
    lane_change: int = Field(ge=0)
    per_1000: float | None = Field(description="Conflicts per 1,000 road users (null without road users).")
    per_1000_low: float | None = Field(
        description="Lower limit of the rate's exact 95 % Poisson interval (null without road users)."
    )
    per_1000_high: float | None = Field(
        description="Upper limit of that interval. Where two places' intervals overlap, their order may be "
        "chance."
    )
    view_changed: bool = Field(
        default=False,
        description="The view of the place's camera (of any camera of the site) was knocked, turned, covered "
        "or out of focus during part of the window (a `view_changed` incident): its conflicts and road users "
        "may be wrong.",
    )


class _Window(BaseModel):
    interval: Interval = Field(
        description="The buckets summed: those of this width that begin in start–end (with `tz`, its hours "
        "or days)."
    )
    start: datetime
    end: datetime
    tz: str = Field(description="The time zone whose hours and days the buckets are (`tz`; UTC if none).")
    truncated: bool = Field(description="True when `limit` cut the answer short.")


class WeakSpotRanking(_Window):
    level: Level
    ranking: list[WeakSpot] = Field(description="Highest rate first; places without road users last.")


class ConflictCellOut(BaseModel):
    """Conflicts in one square ground cell of a zone; the centre in the camera picture for drawing."""

    site: str
    camera: str
    zone: str
    cell_m: float = Field(description="Side of the cell (m).")
    x_m: float = Field(description="The cell's low x on the camera's ground plane (m).")
    y_m: float = Field(description="The cell's low y (m).")
    count: int = Field(ge=1)
    image_x: float | None = Field(description="Cell centre in the picture (px); null if the edge had none.")
    image_y: float | None


class ConflictCells(_Window):
    cells: list[ConflictCellOut] = Field(description="Most conflicts first.")


class HistogramBin(BaseModel):
    """Conflicts whose measure fell in ``[from_s, to_s)``."""

    from_s: float = Field(ge=0, description="The bin's lower edge (s).")
    to_s: float | None = Field(description="The next bin's lower edge (s); null for the open-ended last bin.")
    count: int = Field(ge=0, description="Conflicts in the bin, summed over the window and the places.")


class ConflictDistributions(_Window):
    """The TTC and PET histograms of the conflict events of the chosen places, summed bin by bin."""

    site: str | None = Field(description="The site filter, if any (null: every site).")
    camera: str | None = Field(description="The camera filter, if any.")
    zone: str | None = Field(description="The zone filter, if any.")
    ttc: list[HistogramBin] = Field(
        description="Least time to collision of the conflicts on a collision course."
    )
    pet: list[HistogramBin] = Field(
        description="Post-encroachment time of the conflicts with one (not rear-end)."
    )


def _bins(found: list[tuple[float, int]]) -> list[HistogramBin]:
    uppers: list[float | None] = [edge for edge, _ in found[1:]]
    return [
        HistogramBin(from_s=edge, to_s=uppers[k] if k < len(uppers) else None, count=count)
        for k, (edge, count) in enumerate(found)
    ]


_CSV_COLUMNS = tuple(WeakSpot.model_fields)


@router.get("/ranking", response_model=WeakSpotRanking)
def ranking(
    engine: EngineDep,
    _who: Viewer,
    window: Window,
    zone: SlugQuery = None,
    level: LevelQuery = "zone",
    min_road_users: MinRoadUsers = 0,
) -> WeakSpotRanking:
    """Sites, cameras or zones ranked by conflicts per 1,000 road users over the window: the weak spots."""
    query = with_filters(window, zone=zone)
    found = conflict_ranking(engine, query, level, min_road_users)
    return WeakSpotRanking(
        interval=query.interval,
        start=query.start,
        end=query.end,
        tz=query.tz.key,
        truncated=found.truncated,
        level=level,
        ranking=[WeakSpot.model_validate(row) for row in found.rows],
    )


@router.get(
    "/ranking.csv",
    response_class=Response,
    responses={
        200: {
            "content": {"text/csv": {}},
            "description": "One row per place, highest rate first.",
            "headers": TRUNCATED_HEADER,
        }
    },
)
def ranking_csv(
    engine: EngineDep,
    _who: Viewer,
    window: Window,
    zone: SlugQuery = None,
    level: LevelQuery = "zone",
    min_road_users: MinRoadUsers = 0,
) -> Response:
    """The same rows as ``/conflicts/ranking``, as CSV."""
    found = conflict_ranking(engine, with_filters(window, zone=zone), level, min_road_users)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_CSV_COLUMNS)
    for row in found.rows:
        writer.writerow([_csv_cell(row[c]) for c in _CSV_COLUMNS])
    headers = {"Content-Disposition": 'attachment; filename="weak-spots.csv"'}
    if found.truncated:
        headers["X-Truncated"] = "true"
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


def _csv_cell(value: object) -> object:
    """Null as an empty cell, a flag as ``true``/``false`` (as the other CSV exports write it)."""
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else value


@router.get("/cells", response_model=ConflictCells)
def cells(engine: EngineDep, _who: Viewer, window: Window, zone: SlugQuery = None) -> ConflictCells:
    """Conflicts per ground cell of each conflict zone over the window (the heat map's data)."""
    query = with_filters(window, zone=zone)
    found = conflict_cells(engine, query)
    return ConflictCells(
        interval=query.interval,
        start=query.start,
        end=query.end,
        tz=query.tz.key,
        truncated=found.truncated,
        cells=[ConflictCellOut.model_validate(row) for row in found.rows],
    )


@router.get("/histograms", response_model=ConflictDistributions)
def histograms(
    engine: EngineDep, _who: Viewer, window: Window, zone: SlugQuery = None
) -> ConflictDistributions:
    """The TTC and PET distributions of the conflicts over the window, at the places matching the filters
    (a site, a camera, a zone; none: every place), summed bin by bin from the roll-ups."""
    query = with_filters(window, zone=zone)
    found = conflict_histograms(engine, query)
    return ConflictDistributions(
        interval=query.interval,
        start=query.start,
        end=query.end,
        tz=query.tz.key,
        truncated=False,
        site=query.filters.get("site"),
        camera=query.filters.get("camera"),
        zone=query.filters.get("zone"),
        ttc=_bins(found["ttc"]),
        pet=_bins(found["pet"]),
    )
