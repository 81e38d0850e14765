"""The web dashboard, served by the hub: pages, their data endpoints and the public register.

``router`` holds every route; :func:`citytally.hub.api.create_app` includes it. :func:`build_frontend`
builds the front end (npm) and :func:`serve` runs a hub app with the dashboard on a local port.

Attributes load on first use: :mod:`citytally.hub.config` imports this package's settings, and the routes
import the API and the store, which must not happen while the config module is still loading.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import APIRouter

    from citytally.hub.dashboard.server import DashboardServer, build_frontend, serve

__all__ = ["router", "build_frontend", "serve", "DashboardServer"]


def _router() -> APIRouter:
    from fastapi import APIRouter

    from citytally.hub.dashboard import incidents, pages, routes

    combined = APIRouter()
    for part in (routes.router, incidents.router, incidents.alerts_router, pages.router):
        combined.include_router(part)
    return combined


def __getattr__(name: str) -> Any:
    if name == "router":
        router = _router()
        globals()["router"] = router
        return router
    if name in ("build_frontend", "serve", "DashboardServer"):
        from citytally.hub.dashboard import server as serving

        return getattr(serving, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
