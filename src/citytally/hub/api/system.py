"""``/health`` (anyone) and ``/metrics`` (operators): is the hub alive, and how is ingest doing."""

from __future__ import annotations

from typing import Annotated, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from citytally.hub.access import Principal, public, require_role
from citytally.hub.api.deps import EngineDep
from citytally.hub.api.errors import ERROR_RESPONSES
from citytally.hub.metrics import HubMetrics, ingest_lag_seconds

__all__ = ["router", "Health"]

router = APIRouter(tags=["system"], responses=ERROR_RESPONSES)


class Health(BaseModel):
    status: Literal["ok", "degraded"] = Field(description="'degraded' when the database cannot be reached.")
    database: Literal["ok", "unreachable"]
    ingest_lag_s: float | None = Field(
        None, description="Seconds since the newest event was received; null if none has arrived."
    )


@router.get(
    "/health",
    response_model=Health,
    dependencies=[Depends(public())],
    responses={503: {"model": Health, "description": "The database cannot be reached."}},
)
def health(engine: EngineDep) -> JSONResponse:
    """Liveness and readiness: the database answers, and how far behind ingest is."""
    try:
        lag = ingest_lag_seconds(engine)
    except sa.exc.SQLAlchemyError:
        body = Health(status="degraded", database="unreachable", ingest_lag_s=None)
        return JSONResponse(body.model_dump(), status_code=503)
    return JSONResponse(Health(status="ok", database="ok", ingest_lag_s=lag).model_dump())


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format."}},
)
def metrics(request: Request, _who: Annotated[Principal, Depends(require_role("operator"))]) -> Response:
    """Prometheus metrics: ingest rate, lag, dead letters, API requests and latency."""
    hub_metrics: HubMetrics = request.app.state.metrics
    return Response(generate_latest(hub_metrics.registry), media_type=CONTENT_TYPE_LATEST)
