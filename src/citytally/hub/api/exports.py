"""NGSI-LD exports (viewers): counts as FIWARE TrafficFlowObserved and CrowdFlowObserved entities."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import JSONResponse

from citytally.hub.access import Principal, require_role
from citytally.hub.api.deps import EngineDep
from citytally.hub.api.errors import ERROR_RESPONSES, TRUNCATED_HEADER
from citytally.hub.api.params import SlugQuery, series_query
from citytally.hub.api.series import with_filters
from citytally.hub.ngsi import NGSI_LD_MEDIA_TYPE, crowd_flow_entities, traffic_flow_entities
from citytally.hub.queries import (
    Series,
    SeriesQuery,
    count_series,
    list_cameras,
    mark_view_changes,
    speed_series,
)
from citytally.hub.store.schema import ROLLUP_PERIODS

__all__ = ["router"]

router = APIRouter(prefix="/ngsi-ld", tags=["ngsi-ld"], responses=ERROR_RESPONSES)
Viewer = Annotated[Principal, Depends(require_role("viewer"))]
Window = Annotated[SeriesQuery, Depends(series_query)]
VehicleClass = Literal["bicycle", "car", "motorcycle", "bus", "truck"]
_LD: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {NGSI_LD_MEDIA_TYPE: {}},
        "description": "A JSON-LD array of NGSI-LD entities.",
        "headers": TRUNCATED_HEADER,
    }
}


class _LdResponse(JSONResponse):
    media_type = NGSI_LD_MEDIA_TYPE


def _whole_buckets(counts: Series, speeds: Series) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bool]:
    """The count and speed rows of the buckets both series hold whole, and whether ``limit`` cut them.

    The rows come bucket by bucket, so where ``limit`` cut a series its last bucket may hold some of its
    rows only: an entity of that bucket would have a wrong intensity or speed. It is left out, with every
    later one, and the answer says it was cut (``X-Truncated``); asking again from there gives the rest.
    """
    ends = [series.rows[-1]["bucket"] for series in (counts, speeds) if series.truncated and series.rows]
    if not counts.truncated and not speeds.truncated:
        return counts.rows, speeds.rows, False
    cut = min(ends) if ends else None
    kept = [[row for row in s.rows if cut is not None and row["bucket"] < cut] for s in (counts, speeds)]
    if not kept[0]:
        raise HTTPException(
            422, "one bucket holds more rows than `limit`: raise `limit`, or ask for one camera or line"
        )
    return kept[0], kept[1], True


def _answer(entities: list[dict[str, Any]], truncated: bool) -> _LdResponse:
    return _LdResponse(entities, headers={"X-Truncated": "true"} if truncated else None)


def _registry(engine: sa.Engine) -> tuple[dict[tuple[str, str], Any], dict[tuple[str, str, str], list[str]]]:
    cameras, directions = {}, {}
    for cam in list_cameras(engine):
        cameras[(cam["site"], cam["camera"])] = cam
        for line in cam["lines"]:
            directions[(cam["site"], cam["camera"], line["name"])] = list(
                line["config"].get("directions", [])
            )
    return cameras, directions


@router.get("/TrafficFlowObserved", response_class=_LdResponse, responses=_LD)
def traffic_flow(
    engine: EngineDep,
    _who: Viewer,
    window: Window,
    line: SlugQuery = None,
    direction: SlugQuery = None,
    vehicle_class: Annotated[
        VehicleClass | None, Query(alias="class", description="One vehicle class (else all vehicles).")
    ] = None,
) -> _LdResponse:
    """Vehicles per line, direction and bucket as TrafficFlowObserved (normalized NGSI-LD)."""
    query = with_filters(window, line=line, direction=direction, **{"class": vehicle_class})
    cameras, directions = _registry(engine)
    counts, speeds, truncated = _whole_buckets(
        mark_view_changes(engine, query, count_series(engine, query), datetime.now(UTC)),
        speed_series(engine, query),
    )
    entities = traffic_flow_entities(
        counts,
        speeds,
        width=timedelta(seconds=ROLLUP_PERIODS[query.interval]),
        cameras=cameras,
        line_directions=directions,
        vehicle_class=vehicle_class,
    )
    return _answer(entities, truncated)


@router.get("/CrowdFlowObserved", response_class=_LdResponse, responses=_LD)
def crowd_flow(
    engine: EngineDep, _who: Viewer, window: Window, line: SlugQuery = None, direction: SlugQuery = None
) -> _LdResponse:
    """Persons per line, direction and bucket as CrowdFlowObserved (normalized NGSI-LD)."""
    query = with_filters(window, line=line, direction=direction, **{"class": "person"})
    cameras, _ = _registry(engine)
    counts, speeds, truncated = _whole_buckets(
        mark_view_changes(engine, query, count_series(engine, query), datetime.now(UTC)),
        speed_series(engine, query),
    )
    entities = crowd_flow_entities(
        counts, speeds, width=timedelta(seconds=ROLLUP_PERIODS[query.interval]), cameras=cameras
    )
    return _answer(entities, truncated)
