"""Incidents for operators: ``GET /incidents``, ``GET /incidents/summary`` and ``POST /incidents/{id}/ack``.
Viewers get 403."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from citytally.hub.access import Principal, require_role
from citytally.hub.access_tables import tokens_table
from citytally.hub.alerts import alert_entity
from citytally.hub.api.deps import EngineDep
from citytally.hub.api.errors import ERROR_RESPONSES, ErrorResponse
from citytally.hub.dashboard.models import IncidentOut, IncidentSummaryOut
from citytally.hub.ngsi import NGSI_LD_MEDIA_TYPE
from citytally.hub.queries import is_silent, list_cameras
from citytally.hub.store import schema

__all__ = ["router", "alerts_router", "SEVERITIES", "list_incidents", "summarise", "acknowledge"]

router = APIRouter(prefix="/incidents", tags=["incidents"], responses=ERROR_RESPONSES)
alerts_router = APIRouter(prefix="/ngsi-ld", tags=["ngsi-ld"], responses=ERROR_RESPONSES)
Operator = Annotated[Principal, Depends(require_role("operator"))]
#: Most urgent first: the order of the operator's list.
SEVERITIES = ("critical", "warning", "info")
Severity = Literal["critical", "warning", "info"]


def _latest_of_each() -> sa.Select[Any]:
    """The latest row of each incident (a row without ``incident_id`` is an incident of its own; which row
    is latest: :data:`~citytally.hub.store.schema.incident_latest`), with the incident's first
    acknowledgement made at its current severity or a worse one (an acknowledgement is one row, the latest
    when it was made; a crowd acknowledged at Fruin level E that reaches crush risk is unacknowledged
    again)."""
    i, latest, acked = schema.incidents, schema.incident_latest, schema.incidents.alias("acked")
    first_ack = (
        sa.select(acked.c.acknowledged_at, acked.c.acknowledged_by)
        .where(
            acked.c.incident_id == i.c.incident_id,
            acked.c.acknowledged_at.is_not(None),
            _severity_rank(acked.c.severity) <= _severity_rank(i.c.severity),
        )
        .order_by(acked.c.acknowledged_at)
        .limit(1)
    )
    # A row without incident_id has only its own.
    ack_at = sa.func.coalesce(
        first_ack.with_only_columns(acked.c.acknowledged_at).scalar_subquery(), i.c.acknowledged_at
    )
    ack_by = sa.func.coalesce(
        first_ack.with_only_columns(acked.c.acknowledged_by).scalar_subquery(), i.c.acknowledged_by
    )
    return (
        sa.select(i, ack_at.label("ack_at"), ack_by.label("ack_by"))
        .select_from(latest.join(i, i.c.event_id == latest.c.event_id))
        .order_by(i.c.start.desc(), i.c.event_id)
    )


def _severity_rank(column: sa.ColumnElement[Any]) -> sa.ColumnElement[int]:
    return sa.case({name: rank for rank, name in enumerate(SEVERITIES)}, value=column, else_=len(SEVERITIES))


def list_incidents(
    engine: sa.Engine,
    include_acknowledged: bool,
    limit: int,
    only: uuid.UUID | None = None,
    by_severity: bool = True,
    severity: str | None = None,
) -> list[IncidentOut]:
    """One entry per incident (its latest event): open ones only unless ``include_acknowledged``; just the
    incident of event ``only`` if given; of one ``severity`` if given.

    ``by_severity``: unacknowledged first, then most severe first, then newest first (the operator's
    order); otherwise newest first. Each acknowledgement names its token by label (the id if it has none).
    """
    i, tokens = schema.incidents, tokens_table
    latest = _latest_of_each().subquery()
    label = sa.select(tokens.c.label).where(tokens.c.id == latest.c.ack_by).scalar_subquery()
    order: list[sa.ColumnElement[Any]] = [latest.c.start.desc(), latest.c.event_id]
    if by_severity:
        order = [latest.c.ack_at.is_not(None), _severity_rank(latest.c.severity), *order]
    query = sa.select(latest, label.label("ack_label")).order_by(*order).limit(limit)
    if not include_acknowledged:
        query = query.where(latest.c.ack_at.is_(None))
    if severity is not None:
        query = query.where(latest.c.severity == severity)
    if only is not None:
        same = sa.select(i.c.incident_id).where(i.c.event_id == only).scalar_subquery()
        query = query.where(sa.or_(latest.c.event_id == only, latest.c.incident_id == same))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    now = datetime.now(UTC)
    return [_incident_out(r, now) for r in rows]


def _incident_out(r: sa.Row[Any], now: datetime) -> IncidentOut:
    is_open = r.phase in ("onset", "update")
    return IncidentOut(
        id=r.event_id,
        site=r.site,
        camera=r.camera,
        camera_name=r.camera,
        start=r.start,
        end=r.end,
        incident=r.incident,
        severity=r.severity,
        zone=r.zone,
        line=r.line,
        details=dict(r.details or {}),
        acknowledged_at=r.ack_at,
        acknowledged_by=r.ack_by,
        acknowledged_by_label=(r.ack_label or r.ack_by) if r.ack_by is not None else None,
        incident_id=r.incident_id,
        phase=r.phase,
        open=is_open,
        silent=is_open and is_silent(r.end, r.received_at, now),
    )


def summarise(engine: sa.Engine) -> IncidentSummaryOut:
    """How many incidents are unacknowledged, in all and per severity (for the navigation's badge)."""
    latest = _latest_of_each().subquery()
    query = (
        sa.select(latest.c.severity, sa.func.count())
        .where(latest.c.ack_at.is_(None))
        .group_by(latest.c.severity)
    )
    with engine.connect() as conn:
        counts = {row[0]: int(row[1]) for row in conn.execute(query)}
    return IncidentSummaryOut(
        open=sum(counts.values()), by_severity={name: counts.get(name, 0) for name in SEVERITIES}
    )


def acknowledge(engine: sa.Engine, incident_id: uuid.UUID, by: str, now: datetime | None = None) -> bool:
    """Mark an incident (any of its events' ids) acknowledged by token ``by``; False if there is none.

    The acknowledgement is made on the incident's latest event: it covers the incident as severe as it is
    now, including updates that arrive later, until one is more severe (which needs an acknowledgement of
    its own). Acknowledging twice keeps the first (who saw it first is what matters).
    """
    i, latest = schema.incidents, schema.incident_latest
    with engine.begin() as conn:
        found = conn.execute(sa.select(i.c.incident_id).where(i.c.event_id == incident_id)).first()
        if found is None:
            return False
        key = incident_id if found.incident_id is None else found.incident_id
        newest = sa.select(latest.c.event_id).where(latest.c.incident_key == key).scalar_subquery()
        conn.execute(
            i.update()
            .where(i.c.event_id == newest, i.c.acknowledged_at.is_(None))
            .values(acknowledged_at=now or datetime.now(UTC), acknowledged_by=by)
        )
    return True


@router.get("", response_model=list[IncidentOut])
def get_incidents(
    engine: EngineDep,
    _who: Operator,
    include_acknowledged: Annotated[bool, Query(description="Also list acknowledged ones.")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    severity: Annotated[Severity | None, Query(description="Only incidents of this severity.")] = None,
) -> list[IncidentOut]:
    """Incidents: unacknowledged first, then by severity (critical, warning, info), then newest first."""
    return list_incidents(engine, include_acknowledged, limit, severity=severity)


@router.get("/summary", response_model=IncidentSummaryOut)
def get_summary(engine: EngineDep, _who: Operator) -> IncidentSummaryOut:
    """How many incidents wait for an acknowledgement, in all and per severity."""
    return summarise(engine)


@router.post(
    "/{incident_id}/ack",
    response_model=IncidentOut,
    responses={404: {"model": ErrorResponse, "description": "No such incident."}},
)
def post_ack(incident_id: uuid.UUID, engine: EngineDep, who: Operator) -> IncidentOut:
    """Acknowledge one incident: it leaves the open list; who and when are kept (and audited)."""
    if not acknowledge(engine, incident_id, who.token_id):
        raise HTTPException(status_code=404, detail=f"no incident {incident_id}")
    return list_incidents(engine, include_acknowledged=True, limit=1, only=incident_id)[0]


class _LdResponse(JSONResponse):
    media_type = NGSI_LD_MEDIA_TYPE


@alerts_router.get("/Alert", response_class=_LdResponse)
def get_alerts(
    engine: EngineDep,
    _who: Operator,
    include_acknowledged: Annotated[bool, Query(description="Also acknowledged incidents.")] = True,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> _LdResponse:
    """Incidents as FIWARE ``Alert`` entities (normalized NGSI-LD), newest first, one per incident."""
    cameras = {(c["site"], c["camera"]): c for c in list_cameras(engine)}
    entities = [
        alert_entity(item.model_dump(), cameras.get((item.site, item.camera)))
        for item in list_incidents(engine, include_acknowledged, limit, by_severity=False)
    ]
    return _LdResponse(jsonable_encoder(entities))
