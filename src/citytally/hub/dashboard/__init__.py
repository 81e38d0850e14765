"""The web dashboard, served by the hub: pages, their data endpoints and the public register.

``router`` holds every route; :func:`citytally.hub.api.create_app` includes it. :func:`build_frontend`
builds the front end (npm) and :func:`serve` runs a hub app with the dashboard on a local port.
"""

from __future__ import annotations

from fastapi import APIRouter

from citytally.hub.dashboard.serve import DashboardServer, build_frontend, serve

__all__ = ["router", "build_frontend", "serve", "DashboardServer"]


def _router() -> APIRouter:
    from citytally.hub.dashboard import incidents, pages, routes

    combined = APIRouter()
    for part in (routes.router, incidents.router, pages.router):
        combined.include_router(part)
    return combined


router = _router()
