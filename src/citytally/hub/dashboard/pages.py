"""The pages: the dashboard's built front end (``/dashboard/``) and the public register and PIA."""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from citytally.hub.access import public
from citytally.hub.api.deps import EngineDep
from citytally.hub.dashboard.routes import dashboard_settings
from citytally.hub.dashboard.settings import DashboardSettings
from citytally.hub.pia import PIA_CSS, render_pia_html
from citytally.hub.register import REGISTER_CSS, Register, build_register, render_register_html

if TYPE_CHECKING:
    from citytally.hub.config import RetentionSettings

__all__ = ["router", "STATIC_DIR"]

#: Where ``npm run build`` in ``frontend/`` puts the dashboard (git-ignored, built at set-up time).
STATIC_DIR = Path(__file__).with_name("static")
_ASSET_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")

router = APIRouter(dependencies=[Depends(public())], tags=["pages"])
SettingsDep = Annotated[DashboardSettings, Depends(dashboard_settings)]


@router.get("/dashboard", include_in_schema=False)
def dashboard_redirect() -> RedirectResponse:
    return RedirectResponse("/dashboard/", status_code=307)


@router.get("/dashboard/", response_class=FileResponse, include_in_schema=False)
def dashboard_page() -> FileResponse:
    """The single-page dashboard; it asks for a token before it shows any data."""
    index = STATIC_DIR / "index.html"
    if not index.is_file():
        raise HTTPException(
            503, "the dashboard is not built: run `make setup` (npm install && npm run build in frontend/)"
        )
    return FileResponse(index, headers={"Cache-Control": "no-cache"})


#: Precompressed forms the build writes beside each asset, best first: (Accept-Encoding token, suffix).
_ENCODINGS = (("br", ".br"), ("gzip", ".gz"))


@router.get("/dashboard/assets/{name}", response_class=FileResponse, include_in_schema=False)
def dashboard_asset(name: str, request: Request) -> FileResponse:
    """Built scripts and styles; their names carry a content hash, so browsers may keep them for good.

    Sent brotli- or gzip-compressed when the browser accepts it and the build left that form beside it."""
    path = STATIC_DIR / "assets" / name
    if not _ASSET_NAME.match(name) or name.endswith((".br", ".gz")) or not path.is_file():
        raise HTTPException(404, f"no asset {name!r}")
    headers = {"Cache-Control": "public, max-age=31536000, immutable", "Vary": "Accept-Encoding"}
    accepted = _accepted_encodings(request.headers.get("accept-encoding", ""))
    for token, suffix in _ENCODINGS:
        packed = path.with_name(name + suffix)
        if token in accepted and packed.is_file():
            media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
            headers["Content-Encoding"] = token
            return FileResponse(packed, media_type=media_type, headers=headers)
    return FileResponse(path, headers=headers)


def _accepted_encodings(header: str) -> set[str]:
    """The codings an Accept-Encoding header allows (``q=0`` refuses one)."""
    found = set()
    for part in header.split(","):
        token, _, params = part.strip().partition(";")
        if params.replace(" ", "").lower() in ("q=0", "q=0.0", "q=0.00", "q=0.000"):
            continue
        if token:
            found.add(token.strip().lower())
    return found


def _retention(request: Request) -> RetentionSettings | None:
    """The ``[retention]`` settings the hub's retention job enforces (None: the app has no hub settings,
    so no job runs)."""
    from citytally.hub.config import RetentionSettings

    found = getattr(request.app.state.settings, "retention", None)
    return found if isinstance(found, RetentionSettings) else None


_PAGE_STYLE_CACHE = {"Cache-Control": "public, max-age=3600"}


@router.get("/register", response_class=HTMLResponse)
def register_page(request: Request, engine: EngineDep, settings: SettingsDep) -> HTMLResponse:
    """The public transparency register: every camera, its purpose, legal basis, limits and contact."""
    return HTMLResponse(render_register_html(build_register(engine, settings, retention=_retention(request))))


@router.get("/register.json", response_model=Register)
def register_json(request: Request, engine: EngineDep, settings: SettingsDep) -> Register:
    """The public register as JSON."""
    return build_register(engine, settings, retention=_retention(request))


@router.get("/register.css", include_in_schema=False)
def register_css() -> Response:
    return Response(REGISTER_CSS, media_type="text/css", headers=_PAGE_STYLE_CACHE)


@router.get("/pia.css", include_in_schema=False)
def pia_css() -> Response:
    return Response(PIA_CSS, media_type="text/css", headers=_PAGE_STYLE_CACHE)


@router.get("/pia", response_class=HTMLResponse)
def pia_page(request: Request, engine: EngineDep, settings: SettingsDep) -> HTMLResponse:
    """The privacy impact assessment, generated from the configuration (printable)."""
    return HTMLResponse(render_pia_html(engine, settings, _retention(request)))
