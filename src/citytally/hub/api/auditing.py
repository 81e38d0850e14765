"""``/audit``: auditors read the audit log and check its hash chain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from citytally.hub.access import Principal, require_role
from citytally.hub.api.deps import EngineDep
from citytally.hub.api.errors import ERROR_RESPONSES
from citytally.hub.audit import read_entries, verify_chain

__all__ = ["router", "AuditEntryOut", "ChainReportOut"]

router = APIRouter(prefix="/audit", tags=["audit"], responses=ERROR_RESPONSES)
Auditor = Annotated[Principal, Depends(require_role("auditor"))]


class AuditEntryOut(BaseModel):
    seq: int
    at: datetime
    kind: str = Field(description="request, token, retention or audit_anchor.")
    actor: str = Field(description="Token id, 'anonymous', 'cli' or 'system'.")
    role: str | None
    method: str
    path: str
    query: str
    status: int | None
    client: str | None
    detail: dict[str, Any]
    prev_hash: str
    hash: str


class ChainReportOut(BaseModel):
    ok: bool
    checked: int = Field(description="Rows whose hash was recomputed.")
    first_seq: int | None
    last_seq: int | None
    broken_at: int | None = Field(description="The first row where the chain breaks.")
    reason: str | None


@router.get("", response_model=list[AuditEntryOut])
def get_audit(
    engine: EngineDep,
    _who: Auditor,
    after_seq: Annotated[int, Query(ge=0, le=2**62, description="Entries after this seq.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEntryOut]:
    """Audit entries in chain order, a page at a time (pass the last seq as ``after_seq``)."""
    return [
        AuditEntryOut(
            seq=r.seq,
            at=r.at,
            prev_hash=r.prev_hash,
            hash=r.hash,
            kind=r.entry.kind,
            actor=r.entry.actor,
            role=r.entry.role,
            method=r.entry.method,
            path=r.entry.path,
            query=r.entry.query,
            status=r.entry.status,
            client=r.entry.client,
            detail=dict(r.entry.detail),
        )
        for r in read_entries(engine, after_seq=after_seq, limit=limit)
    ]


@router.get("/verify", response_model=ChainReportOut)
def verify(engine: EngineDep, _who: Auditor) -> ChainReportOut:
    """Recompute the hash chain and say where, if anywhere, it breaks."""
    return ChainReportOut(**vars(verify_chain(engine)))
