"""One error body for every failure the API answers: ``{"error": {"status", "message", "details"}}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from citytally.errors import CitytallyError

__all__ = ["ErrorBody", "ErrorResponse", "ERROR_RESPONSES", "error_response", "install_error_handlers"]


class ErrorBody(BaseModel):
    status: int = Field(description="The HTTP status code, repeated.")
    message: str = Field(description="One line saying what is wrong.")
    details: list[dict[str, Any]] = Field(default_factory=list, description="Per-field problems, if any.")


class ErrorResponse(BaseModel):
    """What every 4xx/5xx answer of the API looks like."""

    error: ErrorBody


#: For ``responses=`` on routers, so the OpenAPI document describes the error answers.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in (
        (401, "Missing, unknown, revoked or expired token."),
        (403, "The token lacks the role this needs."),
        (422, "A parameter is invalid."),
        (429, "Too many failed logins from this address."),
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


def install_error_handlers(app: FastAPI) -> None:
    """Answer HTTP errors, invalid parameters and :class:`CitytallyError` with :class:`ErrorResponse`."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(CitytallyError, _citytally_error)
