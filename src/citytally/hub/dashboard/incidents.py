"""Incidents for operators: ``GET /incidents`` and ``POST /incidents/{id}/ack``. Viewers get 403."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Query

from citytally.hub.access import Principal, require_role
from citytally.hub.api.deps import EngineDep
from citytally.hub.api.errors import ERROR_RESPONSES
from citytally.hub.dashboard.models import IncidentOut
from citytally.hub.store import schema

__all__ = ["router", "list_incidents", "acknowledge"]

router = APIRouter(prefix="/incidents", tags=["incidents"], responses=ERROR_RESPONSES)
Operator = Annotated[Principal, Depends(require_role("operator"))]


def list_incidents(
    engine: sa.Engine, include_acknowledged: bool, limit: int, only: uuid.UUID | None = None
) -> list[IncidentOut]:
    """Newest first; open ones only unless ``include_acknowledged``; just incident ``only`` if given."""
    i = schema.incidents
    query = sa.select(i).order_by(i.c.start.desc(), i.c.event_id).limit(limit)
    if not include_acknowledged:
        query = query.where(i.c.acknowledged_at.is_(None))
    if only is not None:
        query = query.where(i.c.event_id == only)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        IncidentOut(
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
            acknowledged_at=r.acknowledged_at,
            acknowledged_by=r.acknowledged_by,
        )
        for r in rows
    ]


def acknowledge(engine: sa.Engine, incident_id: uuid.UUID, by: str, now: datetime | None = None) -> bool:
    """Mark an incident acknowledged by token ``by``; False if there is no such incident.

    Acknowledging twice keeps the first acknowledgement (who saw it first is what matters).
    """
    i = schema.incidents
    with engine.begin() as conn:
        exists = conn.execute(sa.select(i.c.event_id).where(i.c.event_id == incident_id)).first()
        if exists is None:
            return False
        conn.execute(
            i.update()
            .where(i.c.event_id == incident_id, i.c.acknowledged_at.is_(None))
            .values(acknowledged_at=now or datetime.now(UTC), acknowledged_by=by)
        )
    return True


@router.get("", response_model=list[IncidentOut])
def get_incidents(
    engine: EngineDep,
    _who: Operator,
    include_acknowledged: Annotated[bool, Query(description="Also list acknowledged ones.")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[IncidentOut]:
    """Incidents, newest first (open ones only unless asked)."""
    return list_incidents(engine, include_acknowledged, limit)


@router.post("/{incident_id}/ack", response_model=IncidentOut)
def post_ack(incident_id: uuid.UUID, engine: EngineDep, who: Operator) -> IncidentOut:
    """Acknowledge one incident: it leaves the open list; who and when are kept (and audited)."""
    if not acknowledge(engine, incident_id, who.token_id):
        raise HTTPException(status_code=404, detail=f"no incident {incident_id}")
    return list_incidents(engine, include_acknowledged=True, limit=1, only=incident_id)[0]
