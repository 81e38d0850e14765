"""Time series from the roll-ups (viewers): counts, speeds, occupancy, turning movements, incidents begun,
CSV export."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Response

from citytally.events import IncidentType
from citytally.hub.access import Principal, require_role
from citytally.hub.api.deps import EngineDep
from citytally.hub.api.errors import ERROR_RESPONSES, TRUNCATED_HEADER
from citytally.hub.api.models import (
    CountSeries,
    IncidentCountSeries,
    MovementSeries,
    OccupancySeries,
    SpeedSeries,
)
from citytally.hub.api.params import ClassQuery, SlugQuery, local_series_query
from citytally.hub.queries import (
    Series,
    SeriesQuery,
    count_series,
    incident_series,
    mark_view_changes,
    movement_series,
    occupancy_series,
    speed_series,
)

__all__ = ["router", "with_filters"]

router = APIRouter(tags=["series"], responses=ERROR_RESPONSES)
Viewer = Annotated[Principal, Depends(require_role("viewer"))]
Window = Annotated[SeriesQuery, Depends(local_series_query)]

GroupBy = Annotated[
    list[Literal["site", "camera", "line", "direction", "class"]] | None,
    Query(description="Keep only these columns and sum counts over the others (e.g. class: city totals)."),
]
_COUNT_COLUMNS = ("bucket", "site", "camera", "line", "direction", "class", "count", "view_changed")


def with_filters(query: SeriesQuery, **filters: str | None) -> SeriesQuery:
    """``query`` narrowed by the filters that were given."""
    given = {name: value for name, value in filters.items() if value is not None}
    return replace(query, filters={**query.filters, **given})


def _number(value: object) -> float:
    if isinstance(value, Decimal):  # PostgreSQL numeric arithmetic (a mean) comes back as Decimal
        return float(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _envelope(query: SeriesQuery, series: Series) -> Response:
    """The series as JSON, written straight from the roll-up rows.

    The rows come from typed columns (UTC datetimes, integers, floats, strings) and already have the shape
    the route's response model declares (and documents in OpenAPI); the tests hold the two together.
    Validating and re-serialising every point through that model took two thirds of a month-wide request
    (tens of thousands of points), so it is skipped. Datetimes are written as pydantic writes them.
    """
    envelope = {
        "interval": query.interval,
        "start": query.start,
        "end": query.end,
        "tz": query.tz.key,
        "truncated": series.truncated,
        "points": series.rows,
    }
    body = orjson.dumps(envelope, default=_number, option=orjson.OPT_UTC_Z)
    return Response(body, media_type="application/json")


@router.get("/counts", response_model=CountSeries)
def counts(
    engine: EngineDep,
    _who: Viewer,
    window: Window,
    line: SlugQuery = None,
    direction: SlugQuery = None,
    cls: ClassQuery = None,
    group_by: GroupBy = None,
) -> Response:
    """Line crossings per bucket, line, direction and class (or summed: see ``group_by``)."""
    query = with_filters(window, line=line, direction=direction, **{"class": cls})
    return _envelope(query, _marked(engine, query, count_series(engine, query, group_by)))


@router.get(
    "/counts.csv",
    response_class=Response,
    responses={
        200: {
            "content": {"text/csv": {}},
            "description": "One row per bucket/line/direction/class.",
            "headers": TRUNCATED_HEADER,
        }
    },
)
def counts_csv(
    engine: EngineDep,
    _who: Viewer,
    window: Window,
    line: SlugQuery = None,
    direction: SlugQuery = None,
    cls: ClassQuery = None,
    group_by: GroupBy = None,
) -> Response:
    """The same rows as ``/counts``, as CSV (ISO 8601 times: UTC, or with ``tz`` at its offset); with
    ``group_by``, the columns summed over are empty."""
    query = with_filters(window, line=line, direction=direction, **{"class": cls})
    series = count_series(engine, query, group_by)
    return _csv(_marked(engine, query, series), _COUNT_COLUMNS, "counts.csv")


def _marked(engine: EngineDep, query: SeriesQuery, series: Series) -> Series:
    """The rows with ``view_changed`` (the camera's view knocked, turned, covered or out of focus during
    part of the bucket: its numbers may be wrong)."""
    return mark_view_changes(engine, query, series, datetime.now(UTC))


def _cell(value: object) -> object:
    return ("true" if value else "false") if isinstance(value, bool) else value


def _csv(series: Series, columns: tuple[str, ...], filename: str) -> Response:
    """A series as a CSV download, ``bucket`` (ISO 8601, with its offset) first; ``X-Truncated`` when
    ``limit`` cut it."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in series.rows:
        writer.writerow([row["bucket"].isoformat(), *(_cell(row[c]) for c in columns[1:])])
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if series.truncated:
        headers["X-Truncated"] = "true"
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/speeds", response_model=SpeedSeries)
def speeds(
    engine: EngineDep,
    _who: Viewer,
    window: Window,
    line: SlugQuery = None,
    direction: SlugQuery = None,
    cls: ClassQuery = None,
) -> Response:
    """Measured speeds per bucket, line, direction and class (mean and highest p85)."""
    query = with_filters(window, line=line, direction=direction, **{"class": cls})
    return _envelope(query, _marked(engine, query, speed_series(engine, query)))


@router.get("/occupancy", response_model=OccupancySeries)
def occupancy(
    engine: EngineDep, _who: Viewer, window: Window, zone: SlugQuery = None, cls: ClassQuery = None
) -> Response:
    """How many road users were in each zone, per bucket and class."""
    query = with_filters(window, zone=zone, **{"class": cls})
    return _envelope(query, _marked(engine, query, occupancy_series(engine, query)))


@router.get("/movements", response_model=MovementSeries)
def movements(
    engine: EngineDep,
    _who: Viewer,
    window: Window,
    from_zone: SlugQuery = None,
    to_zone: SlugQuery = None,
    cls: ClassQuery = None,
) -> Response:
    """Turning movements (entry zone → exit zone) per bucket and class."""
    query = with_filters(window, from_zone=from_zone, to_zone=to_zone, **{"class": cls})
    return _envelope(query, _marked(engine, query, movement_series(engine, query)))


IncidentQuery = Annotated[IncidentType | None, Query(description="Only incidents of this type.")]
SeverityQuery = Annotated[
    Literal["info", "warning", "critical"] | None, Query(description="Only incidents of this severity.")
]
_INCIDENT_COLUMNS = ("bucket", "site", "camera", "incident", "severity", "count", "view_changed")


@router.get("/incident-counts", response_model=IncidentCountSeries)
def incident_counts(
    engine: EngineDep,
    _who: Viewer,
    window: Window,
    incident: IncidentQuery = None,
    severity: SeverityQuery = None,
) -> Response:
    """Incidents that began per bucket, camera, type and severity: where stopped vehicles, wrong-way
    drivers, queues or people on the carriageway keep happening. Each incident counts once, in the bucket of
    its start; kept as long as the other roll-ups, after the incidents themselves are deleted. A bucket in
    which the camera's view was changed is marked (``view_changed``): its incidents may be the rules
    reading a moved or covered picture."""
    query = with_filters(window, incident=incident, severity=severity)
    return _envelope(query, _marked(engine, query, incident_series(engine, query)))


@router.get(
    "/incident-counts.csv",
    response_class=Response,
    responses={
        200: {
            "content": {"text/csv": {}},
            "description": "One row per bucket/camera/type/severity.",
            "headers": TRUNCATED_HEADER,
        }
    },
)
def incident_counts_csv(
    engine: EngineDep,
    _who: Viewer,
    window: Window,
    incident: IncidentQuery = None,
    severity: SeverityQuery = None,
) -> Response:
    """The same rows as ``/incident-counts``, as CSV (ISO 8601 times: UTC, or with ``tz`` at its offset)."""
    query = with_filters(window, incident=incident, severity=severity)
    return _csv(
        _marked(engine, query, incident_series(engine, query)), _INCIDENT_COLUMNS, "incident-counts.csv"
    )
