"""The camera registry (viewers), a camera's full configuration (admins) and live state (operators)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path

from citytally.events import SLUG_PATTERN
from citytally.hub.access import Principal, require_role
from citytally.hub.api.deps import EngineDep
from citytally.hub.api.errors import ERROR_RESPONSES, ErrorResponse
from citytally.hub.api.models import CameraActivity, CameraOut
from citytally.hub.queries import camera_activity, get_camera, list_cameras

__all__ = ["router"]

router = APIRouter(tags=["cameras"], responses=ERROR_RESPONSES)
SlugPath = Annotated[str, Path(pattern=SLUG_PATTERN, max_length=63)]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No such camera."}
}


def _camera_or_404(engine: Any, site: str, camera: str) -> dict[str, Any]:
    found = get_camera(engine, site, camera)
    if found is None:
        raise HTTPException(404, f"no camera {site}/{camera}")
    return found


@router.get("/cameras", response_model=list[CameraOut])
def cameras(engine: EngineDep, _who: Annotated[Principal, Depends(require_role("viewer"))]) -> Any:
    """Every camera with its metadata (place, purpose, legal basis, retention, contact), lines and zones."""
    return list_cameras(engine)


@router.get("/cameras/{site}/{camera}", response_model=CameraOut, responses=_NOT_FOUND)
def camera(
    site: SlugPath,
    camera: SlugPath,
    engine: EngineDep,
    _who: Annotated[Principal, Depends(require_role("viewer"))],
) -> Any:
    """One camera's public record."""
    return _camera_or_404(engine, site, camera)


@router.get("/cameras/{site}/{camera}/config", response_model=dict[str, Any], responses=_NOT_FOUND)
def camera_config(
    site: SlugPath,
    camera: SlugPath,
    engine: EngineDep,
    _who: Annotated[Principal, Depends(require_role("admin"))],
) -> Any:
    """The camera's full configuration as last read (detector, tracker, geometry; never the source URL)."""
    config: dict[str, Any] = _camera_or_404(engine, site, camera)["config"]
    return config


@router.get("/live", response_model=list[CameraActivity])
def live(engine: EngineDep, _who: Annotated[Principal, Depends(require_role("operator"))]) -> Any:
    """Live state: per camera, the newest interval stored (a stalled camera stands out)."""
    return camera_activity(engine)
