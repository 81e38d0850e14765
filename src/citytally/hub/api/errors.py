"""One error body for every failure the API answers: ``{"error": {"status", "message", "details"}}``."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from citytally.errors import CitytallyError, Throttle
from citytally.hub.store.engine import database_problem

__all__ = [
    "ErrorBody",
    "ErrorResponse",
    "ERROR_RESPONSES",
    "TRUNCATED_HEADER",
    "error_response",
    "install_error_handlers",
]

log = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    status: int = Field(description="The HTTP status code, repeated.")
    message: str = Field(description="One line saying what is wrong.")
    details: list[dict[str, Any]] = Field(default_factory=list, description="Per-field problems, if any.")


class ErrorResponse(BaseModel):
    """What every 4xx/5xx answer of the API looks like."""

    error: ErrorBody


#: The header of a CSV or NGSI-LD answer that ``limit`` cut short (JSON series say ``truncated: true``).
TRUNCATED_HEADER: dict[str, dict[str, Any]] = {
    "X-Truncated": {
        "description": "'true' where `limit` cut the answer short (absent otherwise).",
        "schema": {"type": "string", "enum": ["true"]},
    }
}

#: For ``responses=`` on routers, so the OpenAPI document describes the error answers.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in (
        (401, "Missing, unknown, revoked or expired token."),
        (403, "The token lacks the role this needs."),
        (422, "A parameter is invalid."),
        (413, "The request body is over 1 MiB."),
        (429, "Too many failed logins from this address."),
        (503, "The database does not answer, or the audit log cannot be written: try again (Retry-After)."),
    )
}


def _body(status: int, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return ErrorResponse(error=ErrorBody(status=status, message=message, details=details or [])).model_dump()


def error_response(status: int, message: str, details: list[dict[str, Any]] | None = None) -> JSONResponse:
    """An :class:`ErrorResponse` answer with per-field ``details`` (``{"loc", "msg"}`` each)."""
    return JSONResponse(_body(status, message, details), status_code=status)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    status = getattr(exc, "status_code", 500)
    detail = getattr(exc, "detail", "error")
    headers = getattr(exc, "headers", None)
    return JSONResponse(_body(status, str(detail)), status_code=status, headers=headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    details = [
        {"loc": ".".join(str(p) for p in e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in errors
    ]
    first = details[0] if details else {"loc": "request", "msg": "invalid"}
    return JSONResponse(_body(422, f"{first['loc']}: {first['msg']}", details), status_code=422)


async def _citytally_error(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(_body(400, str(exc)), status_code=400)


DATABASE_RETRY_AFTER_S = 5
_database_failing = Throttle()


async def _database_error(_request: Request, exc: Exception) -> JSONResponse:
    """The database is out of reach (down, refusing, its connections all taken and waited for): 503 with a
    reason and when to try again, not a 500 and a traceback a request; said in the log once a minute."""
    said = database_problem(exc)[:300]
    _database_failing.log(log, "api: the database does not answer, so requests get 503: %s", said)
    message = "the database does not answer; try again later"
    headers = {"Retry-After": str(DATABASE_RETRY_AFTER_S)}
    return JSONResponse(_body(503, message), status_code=503, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Answer HTTP errors, invalid parameters and :class:`CitytallyError` with :class:`ErrorResponse`."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(CitytallyError, _citytally_error)
    for unreachable in (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError):
        app.add_exception_handler(unreachable, _database_error)
