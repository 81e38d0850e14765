"""NGSI-LD exports (viewers): counts as FIWARE TrafficFlowObserved and CrowdFlowObserved entities."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from citytally.hub.access import Principal, require_role
from citytally.hub.api.deps import EngineDep
from citytally.hub.api.errors import ERROR_RESPONSES
from citytally.hub.api.params import SlugQuery, series_query
from citytally.hub.api.series import with_filters
from citytally.hub.ngsi import NGSI_LD_MEDIA_TYPE, crowd_flow_entities, traffic_flow_entities
from citytally.hub.queries import (
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
    200: {"content": {NGSI_LD_MEDIA_TYPE: {}}, "description": "A JSON-LD array of NGSI-LD entities."}
}


class _LdResponse(JSONResponse):
    media_type = NGSI_LD_MEDIA_TYPE


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
    entities = traffic_flow_entities(
        mark_view_changes(engine, query, count_series(engine, query), datetime.now(UTC)).rows,
        speed_series(engine, query).rows,
        width=timedelta(seconds=ROLLUP_PERIODS[query.interval]),
        cameras=cameras,
        line_directions=directions,
        vehicle_class=vehicle_class,
    )
    return _LdResponse(entities)


@router.get("/CrowdFlowObserved", response_class=_LdResponse, responses=_LD)
def crowd_flow(
    engine: EngineDep, _who: Viewer, window: Window, line: SlugQuery = None, direction: SlugQuery = None
) -> _LdResponse:
    """Persons per line, direction and bucket as CrowdFlowObserved (normalized NGSI-LD)."""
    query = with_filters(window, line=line, direction=direction, **{"class": "person"})
    cameras, _ = _registry(engine)
    entities = crowd_flow_entities(
        mark_view_changes(engine, query, count_series(engine, query), datetime.now(UTC)).rows,
        speed_series(engine, query).rows,
        width=timedelta(seconds=ROLLUP_PERIODS[query.interval]),
        cameras=cameras,
    )
    return _LdResponse(entities)
