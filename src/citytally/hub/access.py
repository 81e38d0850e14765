"""API tokens, roles and the FastAPI dependencies that enforce them.

Roles (each includes what the roles before it on its line may do):

* ``viewer`` — aggregates: counts, occupancy, speeds, turning movements, camera metadata, exports.
* ``operator`` — a viewer who may also see live state and incidents (and acknowledge them).
* ``admin`` — an operator who may also change configuration and manage tokens.
* ``auditor`` — reads and verifies the audit log, nothing else (separation of duties: the people who
  configure the hub are not the ones who check its trail).

Tokens are bearer tokens: ``ct_`` + 43 URL-safe characters (256 random bits). Only their SHA-256 is stored.
A slow password hash (bcrypt, argon2) protects *low-entropy* secrets against guessing; a 256-bit random
token cannot be guessed, so a plain SHA-256 is as safe, costs microseconds per request and lets the hub find
the token with one indexed lookup. A stolen database therefore holds no usable credential.

Routes declare who may call them with :func:`require_role` (or :func:`public` for pages anyone may read)::

    from citytally.hub.access import Principal, require_role

    @router.get("/incidents")
    def incidents(principal: Principal = Depends(require_role("operator"))) -> ...: ...

A missing token is answered 401, an unknown, revoked or expired one 401 (and counted as a failed login),
a valid token without the role 403, and a bad token from a client address with too many failed logins in
the last minute 429 until the minute has passed. A valid token is always served, whatever its address did
(see ``_principal_for`` for why).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, cast, get_args

import sqlalchemy as sa
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from citytally.errors import AuthError
from citytally.hub.access_tables import login_failures_table, tokens_table
from citytally.hub.api.query_check import refuse_unknown_query

__all__ = [
    "ROLES",
    "ROLE_GRANTS",
    "Role",
    "Principal",
    "IssuedToken",
    "TokenInfo",
    "AccessPolicy",
    "tokens_table",
    "login_failures_table",
    "hash_token",
    "issue_token",
    "ensure_first_admin",
    "list_tokens",
    "revoke_token",
    "authenticate",
    "token_is_active",
    "record_login_failure",
    "recent_login_failures",
    "require_role",
    "public",
    "route_access",
]

log = logging.getLogger(__name__)

Role = Literal["viewer", "operator", "admin", "auditor"]
ROLES: tuple[Role, ...] = get_args(Role)

#: What each role may do, as the set of roles whose routes it may call.
ROLE_GRANTS: dict[Role, frozenset[Role]] = {
    "viewer": frozenset({"viewer"}),
    "operator": frozenset({"viewer", "operator"}),
    "admin": frozenset({"viewer", "operator", "admin"}),
    "auditor": frozenset({"auditor"}),
}

_TOKEN_PREFIX = "ct_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's public id and role (never the secret)."""

    token_id: str
    role: Role

    def may(self, role: Role) -> bool:
        """Whether this principal may call a route that requires ``role``."""
        return role in ROLE_GRANTS[self.role]


@dataclass(frozen=True)
class IssuedToken:
    """A freshly created token. ``secret`` exists only here: show it once, then forget it."""

    id: str
    role: Role
    secret: str
    expires_at: datetime | None


@dataclass(frozen=True)
class TokenInfo:
    """A stored token as listed by admins (no secret, no hash)."""

    id: str
    role: Role
    label: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class AccessPolicy:
    """Failed-login throttling: at most ``max_failures`` per client address per ``window``."""

    max_failures: int = 10
    window: timedelta = timedelta(minutes=1)

    def __post_init__(self) -> None:
        if self.max_failures < 1 or self.window <= timedelta(0):
            raise AuthError(f"access policy needs max_failures >= 1 and a positive window, got {self}")


def _utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; everything the hub stores is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def hash_token(secret: str) -> str:
    """The stored form of a token: its SHA-256, hex."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


LABEL_MAX = 200


def label_problem(label: str) -> str | None:
    """What is wrong with a token label, or None: at most 200 characters, one line, no control characters.

    A NUL: PostgreSQL's text cannot hold it (SQLite's can). A line break: the label is written into comments
    (the geometry TOML), where it would start a line of its own; escape sequences would recolour a terminal.
    """
    if len(label) > LABEL_MAX:
        return f"{len(label)} characters, at most {LABEL_MAX}"
    if any(unicodedata.category(ch) == "Cc" for ch in label):
        return "a label is one line of text: no line break, tab, NUL or other control"
    return None


def issue_token(
    engine: sa.Engine,
    role: str,
    *,
    label: str = "",
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> IssuedToken:
    """Create a token with ``role``; only its hash is stored."""
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    problem = label_problem(label)
    if problem:
        raise AuthError(f"token label: {problem}")
    now = now or datetime.now(UTC)
    expiry = _utc(expires_at)
    if expiry is not None and expiry <= now:
        raise AuthError(f"expiry {expiry.isoformat()} is not in the future")
    token_id = secrets.token_hex(6)
    secret = _TOKEN_PREFIX + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(
            tokens_table.insert().values(
                id=token_id,
                token_hash=hash_token(secret),
                role=role,
                label=label,
                created_at=now,
                expires_at=expiry,
            )
        )
    return IssuedToken(id=token_id, role=role, secret=secret, expires_at=expiry)


def ensure_first_admin(engine: sa.Engine, now: datetime | None = None) -> IssuedToken | None:
    """On a hub with no tokens at all, create the first admin token and return it (else ``None``).

    There are no default credentials: the caller prints the secret once; it cannot be shown again.
    """
    with engine.connect() as conn:
        existing = conn.execute(sa.select(sa.func.count()).select_from(tokens_table)).scalar_one()
    if existing:
        return None
    return issue_token(engine, "admin", label="first admin (created at first start)", now=now)


def list_tokens(engine: sa.Engine) -> list[TokenInfo]:
    """Every token ever issued, oldest first, revoked ones included."""
    t = tokens_table
    query = sa.select(t.c.id, t.c.role, t.c.label, t.c.created_at, t.c.expires_at, t.c.revoked_at)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(t.c.created_at, t.c.id)).all()
    return [
        TokenInfo(
            id=r.id,
            role=cast(Role, r.role),
            label=r.label,
            created_at=cast(datetime, _utc(r.created_at)),
            expires_at=_utc(r.expires_at),
            revoked_at=_utc(r.revoked_at),
        )
        for r in rows
    ]


def revoke_token(engine: sa.Engine, token_id: str, now: datetime | None = None) -> bool:
    """Revoke a token by id; ``False`` if there is no such active token."""
    t = tokens_table
    with engine.begin() as conn:
        done = conn.execute(
            t.update()
            .where(t.c.id == token_id, t.c.revoked_at.is_(None))
            .values(revoked_at=now or datetime.now(UTC))
        )
    return done.rowcount == 1


def authenticate(engine: sa.Engine, secret: str, now: datetime | None = None) -> Principal | None:
    """The principal a presented secret belongs to, or ``None`` if unknown, revoked or expired."""
    if not secret.startswith(_TOKEN_PREFIX) or len(secret) > 200:
        return None
    now = now or datetime.now(UTC)
    t = tokens_table
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(t.c.id, t.c.role, t.c.expires_at, t.c.revoked_at).where(
                t.c.token_hash == hash_token(secret)
            )
        ).first()
    if row is None or row.revoked_at is not None or row.role not in ROLES:
        return None
    expires_at = _utc(row.expires_at)
    if expires_at is not None and expires_at <= now:
        return None
    return Principal(token_id=row.id, role=cast(Role, row.role))


def token_is_active(engine: sa.Engine, token_id: str, now: datetime | None = None) -> bool:
    """Whether the token with ``token_id`` still exists, is not revoked and has not expired.

    For long-lived responses (the live stream) that authenticated once and must stop when access ends.
    """
    now = now or datetime.now(UTC)
    t = tokens_table
    with engine.connect() as conn:
        row = conn.execute(sa.select(t.c.expires_at, t.c.revoked_at).where(t.c.id == token_id)).first()
    if row is None or row.revoked_at is not None:
        return False
    expires_at = _utc(row.expires_at)
    return expires_at is None or expires_at > now


def record_login_failure(engine: sa.Engine, client: str, now: datetime | None = None) -> None:
    """Remember one failed login from ``client`` (an address; the presented secret is not kept)."""
    with engine.begin() as conn:
        conn.execute(login_failures_table.insert().values(client=client[:100], at=now or datetime.now(UTC)))


def recent_login_failures(
    engine: sa.Engine, client: str, window: timedelta, now: datetime | None = None
) -> int:
    """Failed logins from ``client`` within ``window`` before ``now``."""
    since = (now or datetime.now(UTC)) - window
    f = login_failures_table
    with engine.connect() as conn:
        query = sa.select(sa.func.count()).where(f.c.client == client[:100], f.c.at > since)
        return int(conn.execute(query).scalar_one())


_bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer ct_...`")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> HTTPException:
    return HTTPException(status_code=status, detail=message, headers=headers)


def _principal_for(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    """Authenticate a request; store the principal on ``request.state`` for the audit log.

    The failed-login throttle limits *failures*, never valid tokens. A valid token is served whatever its
    address has done: many people share one address (an operations room behind a NAT, everyone behind a
    proxy), and one forgotten tab polling with a revoked token must not lock them all out. That costs no
    safety: a token holds 256 random bits, so the throttle was never what stopped guessing; what it is for
    is bounding the work and the rows that bad tokens cause. So a bad token from an address with
    ``max_failures`` failures in the last ``window`` is answered 429 (with ``Retry-After``) instead of 401
    and is not recorded again: each address adds at most ``max_failures`` rows per window. The address is
    the one :class:`~citytally.hub.api.middleware.ClientAddressMiddleware` chose (the peer, or the client
    a trusted proxy names).
    """
    engine: sa.Engine = request.app.state.engine
    policy: AccessPolicy = request.app.state.access_policy
    client = request.client.host if request.client else "unknown"
    if credentials is None:
        raise _error(401, "missing bearer token", {"WWW-Authenticate": "Bearer"})
    principal = authenticate(engine, credentials.credentials)
    if principal is None:
        if recent_login_failures(engine, client, policy.window) >= policy.max_failures:
            retry = str(int(policy.window.total_seconds()))
            message = "too many failed logins from this address; try again later"
            raise _error(429, message, {"Retry-After": retry})
        record_login_failure(engine, client)
        log.warning("failed login from %s (unknown, revoked or expired token)", client)
        raise _error(401, "invalid, revoked or expired token", {"WWW-Authenticate": "Bearer"})
    request.state.principal = principal
    return principal


def require_role(role: Role) -> Callable[..., Principal]:
    """A FastAPI dependency that lets through callers whose role grants ``role``; returns the principal.

    ``Depends(require_role("operator"))`` admits operator and admin tokens; ``"auditor"`` only auditors.
    401 without a valid token, 403 with a token that lacks the role, 429 when the caller's address has
    too many recent failed logins. The principal is also left on ``request.state.principal``.
    """
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")

    def dependency(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Principal:
        principal = _principal_for(request, credentials)
        if not principal.may(role):
            raise _error(403, f"this needs the {role} role; the token has {principal.role}")
        refuse_unknown_query(request)
        return principal

    dependency.access_rule = role  # type: ignore[attr-defined]  # read by route_access()
    return dependency


async def _public_dependency(request: Request) -> None:
    """Anyone may call this route; only its query is checked (on the event loop: no worker thread is
    needed)."""
    request.state.principal = None
    refuse_unknown_query(request)


_public_dependency.access_rule = "public"  # type: ignore[attr-defined]


def public() -> Callable[..., Awaitable[None]]:
    """A FastAPI dependency that marks a route as deliberately public (e.g. the public register)."""
    return _public_dependency


def route_access(route: Any) -> str | None:
    """The access rule an ``APIRoute`` declares (``"public"`` or a role), or ``None`` if it declares none.

    Tests walk the app's route list with this, so a new route without a rule fails them.
    """
    dependant = getattr(route, "dependant", None)
    stack = list(dependant.dependencies) if dependant is not None else []
    while stack:
        dep = stack.pop()
        rule = getattr(dep.call, "access_rule", None)
        if isinstance(rule, str):
            return rule
        stack.extend(dep.dependencies)
    return None
