"""A camera's lines and zones for the dashboard's geometry editor (admins): read, save, export as TOML."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from citytally.config_text import dotted
from citytally.edge.config import CameraConfigError, LineConfig, ZoneConfig
from citytally.hub.access import Principal, require_role
from citytally.hub.api.cameras import SlugPath
from citytally.hub.api.deps import EngineDep, SettingsDep
from citytally.hub.api.errors import ERROR_RESPONSES, ErrorResponse, error_response
from citytally.hub.geometry import (
    EditorState,
    GeometryConflict,
    SaveRequest,
    UnknownCamera,
    editor_state,
    geometry_toml,
    save_geometry,
)

__all__ = ["router", "GeometryOut", "GeometryIn", "StillOut"]

router = APIRouter(tags=["cameras"], responses=ERROR_RESPONSES)
Admin = Annotated[Principal, Depends(require_role("admin"))]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No such camera."}
}
_ITEMS = 64


class StillOut(BaseModel):
    image: str = Field(description="The masked still as a data: URL (PNG).")
    width: int
    height: int


class GeometryOut(BaseModel):
    site: str
    camera: str
    revision: int | None = Field(description="The revision in force (None: the hub has recorded none).")
    saved_at: datetime | None
    origin: Literal["file", "dashboard"] | None = Field(description="Its config file, or this editor.")
    saved_by: str = Field(description="The saving token's label, or 'config file'.")
    in_config_file: bool = Field(
        description="Whether the camera's config file (as the hub last read it) holds this geometry; if "
        "not, export it (geometry.toml) into the file."
    )
    frame_size: tuple[int, int] | None = Field(description="[width, height] of the camera's frame, if known.")
    lines: list[dict[str, Any]] = Field(description="As the camera TOML's [[lines]] tables.")
    zones: list[dict[str, Any]] = Field(description="As the camera TOML's [[zones]] tables.")
    still: StillOut | None = Field(description="The camera's masked still, if the hub has one.")
    still_note: str = Field(description="Why there is no still (empty when there is one).")


class GeometryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    revision: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="The revision this edit started from: if a newer one was saved meanwhile, 409.",
    )
    lines: list[dict[str, Any]] = Field(
        max_length=_ITEMS, description="Count lines, each as a [[lines]] table of the camera TOML."
    )
    zones: list[dict[str, Any]] = Field(
        max_length=_ITEMS, description="Zones, each as a [[zones]] table of the camera TOML."
    )


def _geometry_out(state: EditorState) -> GeometryOut:
    rev = state.revision
    return GeometryOut(
        site=state.site,
        camera=state.camera,
        revision=rev.revision if rev else None,
        saved_at=rev.saved_at if rev else None,
        origin=rev.origin if rev else None,
        saved_by=(rev.actor_label or rev.actor) if rev else "",
        in_config_file=state.in_config_file,
        frame_size=state.frame_size,
        lines=state.geometry["lines"],
        zones=state.geometry["zones"],
        still=StillOut(image=state.still.data_url, width=state.still.width, height=state.still.height)
        if state.still
        else None,
        still_note=state.still_note,
    )


def _state(engine: Any, settings: Any, site: str, camera: str) -> EditorState:
    stills = settings.stills_path() if hasattr(settings, "stills_path") else None
    try:
        return editor_state(engine, site, camera, stills)
    except UnknownCamera as exc:
        raise HTTPException(404, str(exc)) from exc


@router.get("/cameras/{site}/{camera}/geometry", response_model=GeometryOut, responses=_NOT_FOUND)
def get_geometry(
    site: SlugPath, camera: SlugPath, engine: EngineDep, settings: SettingsDep, _who: Admin
) -> Any:
    """The camera's lines and zones in force, its frame size and its masked still (if the hub has one)."""
    return _geometry_out(_state(engine, settings, site, camera))


_PUT_RESPONSES: dict[int | str, dict[str, Any]] = {
    **_NOT_FOUND,
    409: {"model": ErrorResponse, "description": "A newer revision was saved since the edit began."},
    422: {
        "model": ErrorResponse,
        "description": "The geometry is invalid: one detail per problem, loc like 'lines[1].p2'.",
    },
}


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema with its ``$defs`` put in place of each reference (OpenAPI resolves ``#/$defs/...``
    against the whole document, where they are not)."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {key: walk(value) for key, value in node.items()}
        return [walk(item) for item in node] if isinstance(node, list) else node

    inlined: dict[str, Any] = walk(schema)
    return inlined


class _GeometryDoc(GeometryIn):
    """What the body's documentation shows: each item as the camera TOML's model describes it."""

    lines: list[LineConfig] = Field(max_length=_ITEMS)  # type: ignore[assignment]
    zones: list[ZoneConfig] = Field(max_length=_ITEMS)  # type: ignore[assignment]


_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": _inline(_GeometryDoc.model_json_schema())}},
    }
}


@router.put(
    "/cameras/{site}/{camera}/geometry",
    response_model=GeometryOut,
    responses=_PUT_RESPONSES,
    openapi_extra=_BODY_DOC,
)
def put_geometry(
    site: SlugPath,
    camera: SlugPath,
    raw: Annotated[dict[str, Any], Body()],
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    who: Admin,
) -> Any:
    """Save new lines and zones as the camera's next revision (validated like its TOML file, audited).

    Every problem is answered at once (422), located as in the file (``lines[1].p2: ...``). The edge is
    not told: export the revision (``geometry.toml``) into the camera's config file."""
    try:
        body = GeometryIn.model_validate(raw)
    except ValidationError as exc:
        located = [(dotted(err["loc"]) or "(body)", err["msg"]) for err in exc.errors()]
        return _invalid(
            CameraConfigError(f"{site}/{camera}", [f"{loc}: {msg}" for loc, msg in located], located)
        )
    save = SaveRequest(
        site=site,
        camera=camera,
        lines=body.lines,
        zones=body.zones,
        base_revision=body.revision,
        token_id=who.token_id,
        role=who.role,
        path=request.url.path,
        client=request.client.host if request.client else None,
    )
    try:
        save_geometry(engine, save)
    except UnknownCamera as exc:
        raise HTTPException(404, str(exc)) from exc
    except GeometryConflict as exc:
        raise HTTPException(409, str(exc)) from exc
    except CameraConfigError as exc:
        return _invalid(exc)
    return _geometry_out(_state(engine, settings, site, camera))


def _invalid(exc: CameraConfigError) -> JSONResponse:
    details = [{"loc": loc, "msg": msg} for loc, msg in exc.located]
    count = len(details)
    first = f"{details[0]['loc']}: {details[0]['msg']}" if details else str(exc)
    message = first if count == 1 else f"{count} problems; the first: {first}"
    return error_response(422, message, details)


@router.get(
    "/cameras/{site}/{camera}/geometry.toml",
    response_class=PlainTextResponse,
    responses={**_NOT_FOUND, 200: {"content": {"application/toml": {}}, "description": "TOML tables."}},
)
def geometry_toml_file(
    site: SlugPath, camera: SlugPath, engine: EngineDep, settings: SettingsDep, _who: Admin
) -> PlainTextResponse:
    """The lines and zones in force as the [[lines]] and [[zones]] tables of a camera TOML, to paste into
    the camera's config file."""
    state = _state(engine, settings, site, camera)
    return PlainTextResponse(
        geometry_toml(state),
        media_type="application/toml",
        headers={"Content-Disposition": f'attachment; filename="{site}-{camera}-geometry.toml"'},
    )
