"""``/docs``: the API's Swagger UI, served by the hub itself.

The page and its assets come from the hub: Swagger UI's script and style sheet ship in the
``fastapi-offline`` package (a PyPI dependency that vendors the ``swagger-ui-dist`` build), and the few
lines that start it are served from here, so the page works on a network without internet access, tells no
third party who reads it, and runs under the hub's Content-Security-Policy (no inline script). Every URL
on the page is relative, so it also works under a proxy's path prefix.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, Response

from citytally.hub.access import public

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(public())], include_in_schema=False)

#: The vendored files the page may load, and their media types.
_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}
_CACHE = {"Cache-Control": "public, max-age=86400"}

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>citytally hub API</title>
<link rel="icon" type="image/png" href="docs/assets/favicon.png">
<link rel="stylesheet" href="docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/assets/swagger-ui-bundle.js"></script>
<script src="docs/assets/start.js"></script>
</body>
</html>
"""

# Relative to the page (/docs), so "openapi.json" is the app's own document.
_START = """window.ui = SwaggerUIBundle({
  url: new URL("openapi.json", document.baseURI).href,
  dom_id: "#swagger-ui",
  deepLinking: true,
  showExtensions: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  layout: "BaseLayout",
});
"""


@lru_cache(maxsize=1)
def _asset_dir() -> Path:
    return Path(str(files("fastapi_offline").joinpath("static")))


@router.get("/docs", response_class=HTMLResponse)
def docs_page() -> HTMLResponse:
    """Swagger UI for this API (no token needed to read the documentation; calls still need one)."""
    return HTMLResponse(_PAGE, headers={"Cache-Control": "no-cache"})


@router.get("/docs/assets/{name}", response_model=None)
def docs_asset(name: str) -> Response:
    """One of Swagger UI's files, or the script that starts it."""
    if name == "start.js":
        return Response(_START, media_type="text/javascript", headers=_CACHE)
    media_type = _ASSETS.get(name)
    path = _asset_dir() / name
    if media_type is None or not path.is_file():
        raise HTTPException(404, f"no documentation asset {name!r}")
    return FileResponse(path, media_type=media_type, headers=_CACHE)
