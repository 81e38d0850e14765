"""``/tokens``: admins create, list and revoke API tokens.

Admins may create viewer, operator and admin tokens here, but not auditor tokens: the people who configure
the hub must not be able to mint the credential that checks their trail. Auditor tokens are created only
with ``citytally token create --role auditor`` on the hub machine (where the database is reachable), and
that creation is audited like every other token change.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from citytally.errors import AuthError
from citytally.hub.access import (
    LABEL_MAX,
    Principal,
    Role,
    issue_token,
    label_problem,
    list_tokens,
    require_role,
    revoke_token,
)
from citytally.hub.api.deps import EngineDep
from citytally.hub.api.errors import ERROR_RESPONSES
from citytally.hub.audit import AuditEntry, append_entry

__all__ = ["router", "TokenOut", "TokenCreate", "TokenCreated"]

router = APIRouter(prefix="/tokens", tags=["tokens"], responses=ERROR_RESPONSES)
Admin = Annotated[Principal, Depends(require_role("admin"))]


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role = Field(description="viewer, operator or admin (auditor tokens: the command line only).")
    label: str = Field("", max_length=LABEL_MAX, description="Who or what the token is for.")
    expires_at: AwareDatetime | None = Field(None, description="When it stops working; never if null.")

    @field_validator("label")
    @classmethod
    def _one_line(cls, label: str) -> str:
        problem = label_problem(label)
        if problem:
            raise ValueError(problem)
        return label


class TokenOut(BaseModel):
    id: str = Field(description="Public id (safe to log); not the secret.")
    role: Role
    label: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(BaseModel):
    id: str
    role: Role
    expires_at: datetime | None
    token: str = Field(description="The secret. Shown only in this answer; the hub keeps only its hash.")


@router.get("", response_model=list[TokenOut])
def get_tokens(engine: EngineDep, _who: Admin) -> list[TokenOut]:
    """Every token ever issued (revoked ones included), without secrets."""
    return [TokenOut(**vars(info)) for info in list_tokens(engine)]


def _audit(engine: EngineDep, who: Principal, request: Request, detail: Mapping[str, object]) -> None:
    """A ``token`` entry, as the command line writes one: which token was made or revoked, and its role.

    The request's own entry says only ``POST /tokens``, and auditors cannot list tokens: without this a
    token id that turns up in the trail could not be traced to its making."""
    client = request.client.host if request.client else None
    entry = AuditEntry(kind="token", actor=who.token_id, role=who.role, client=client, detail=detail)
    append_entry(engine, entry)


@router.post("", response_model=TokenCreated, status_code=201)
def create_token(body: TokenCreate, engine: EngineDep, who: Admin, request: Request) -> TokenCreated:
    """Issue a token; its secret appears in this answer once. Auditor tokens are refused (403)."""
    if body.role == "auditor":
        raise HTTPException(
            403,
            "auditor tokens are not created over the API; on the hub machine run "
            "`citytally token create --role auditor`",
        )
    try:
        issued = issue_token(engine, body.role, label=body.label, expires_at=body.expires_at)
    except AuthError as exc:  # e.g. an expiry in the past: a bad body, like any other
        raise HTTPException(422, str(exc)) from exc
    expires = issued.expires_at.isoformat() if issued.expires_at else None
    detail = {"action": "create", "token_id": issued.id, "role": issued.role, "expires_at": expires}
    _audit(engine, who, request, detail)
    return TokenCreated(id=issued.id, role=issued.role, expires_at=issued.expires_at, token=issued.secret)


@router.delete(
    "/{token_id}",
    status_code=204,
    responses={404: ERROR_RESPONSES[401] | {"description": "No such active token."}},
)
def delete_token(
    token_id: Annotated[str, Path(max_length=16, pattern=r"^[0-9a-f]+$")],
    engine: EngineDep,
    who: Admin,
    request: Request,
) -> Response:
    """Revoke a token: it stops working at once. The row stays, for the audit trail. Auditor tokens are
    revoked on the hub machine only (403), as they are made there: whoever configures the hub must not be
    able to shut out whoever checks its trail."""
    role = next((t.role for t in list_tokens(engine) if t.id == token_id and t.revoked_at is None), None)
    if role == "auditor":
        raise HTTPException(
            403,
            "auditor tokens are not revoked over the API; on the hub machine run "
            f"`citytally token revoke {token_id}`",
        )
    if role is None or not revoke_token(engine, token_id):
        raise HTTPException(404, f"no active token with id {token_id!r}")
    _audit(engine, who, request, {"action": "revoke", "token_id": token_id, "role": role})
    return Response(status_code=204)
