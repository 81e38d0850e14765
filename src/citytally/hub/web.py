"""The hub's web app, assembled in one place: the REST API's and the dashboard's routers, access rules,
audit middleware and error handlers.

:mod:`citytally.hub.api` and :mod:`citytally.hub.dashboard` each define routes; the dashboard's reuse the
API's dependencies and models, the API never imports the dashboard, and only this module puts them together.
"""

from __future__ import annotations

import socket
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI

from citytally import __version__
from citytally.errors import ConfigError
from citytally.hub.access import AccessPolicy
from citytally.hub.api import auditing, cameras, conflicts, docs, exports, geometry, series, system, tokens
from citytally.hub.api.errors import install_error_handlers
from citytally.hub.api.middleware import (
    AuditMiddleware,
    BodyLimitMiddleware,
    ClientAddressMiddleware,
    SecurityHeadersMiddleware,
    content_security_policy,
    origin_of,
)
from citytally.hub.dashboard import incidents as dashboard_incidents
from citytally.hub.dashboard import pages as dashboard_pages
from citytally.hub.dashboard import routes as dashboard_routes
from citytally.hub.metrics import HubMetrics

__all__ = ["create_app", "SERVER_OPTIONS", "bind_port"]

#: How every server of this app runs uvicorn. ``proxy_headers=False``: uvicorn would otherwise take the
#: client address from ``X-Forwarded-For`` of any local peer (its default trusts 127.0.0.1), so anything on
#: the hub machine, or a proxy passing the header through, could choose the address the audit log records
#: and the failed-login throttle counts. The app decides instead, from ``api.trusted_proxies``.
SERVER_OPTIONS: dict[str, Any] = {"proxy_headers": False, "server_header": False}


def bind_port(host: str, port: int, what: str) -> socket.socket:
    """A TCP socket bound to ``host:port`` for a server to listen on (uvicorn's ``sockets``), taken before
    anything else starts; ``what`` names the setting in the one-line :class:`ConfigError` if it cannot be
    (a port in use, an address not this machine's)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn's own: a restart's TIME_WAIT
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"{what} {host}:{port}: {exc.strerror or exc}") from None
    return sock


_DESCRIPTION = """Anonymous road-user counts, occupancy, speeds and incidents from citytally cameras.

Every call needs a bearer token (`Authorization: Bearer ct_...`) except `/health` and the public register.
Roles: **viewer** (aggregates), **operator** (also live state and incidents), **admin** (also configuration
and tokens), **auditor** (the audit log). Every call is recorded in a hash-chained audit log."""


def create_app(
    settings: Any,
    engine: sa.Engine,
    *,
    metrics: HubMetrics | None = None,
    access_policy: AccessPolicy | None = None,
) -> FastAPI:
    """Build the hub's FastAPI app on ``engine`` (already migrated). Nothing is started here.

    ``metrics`` is the registry shared with ingest (a fresh one if omitted); ``access_policy`` sets the
    failed-login throttle (10 per address per minute by default). ``settings.api.trusted_proxies`` (when
    the settings have it) lists the proxies whose ``X-Forwarded-For`` is believed. Serve it with
    :data:`SERVER_OPTIONS`.
    """
    metrics = metrics or HubMetrics()
    metrics.watch_store(engine)
    app = FastAPI(
        title="citytally hub API",
        version=__version__,
        description=_DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url=None,  # served from the package by .docs, not from a CDN
        redoc_url=None,
    )
    app.state.engine = engine
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.access_policy = access_policy or AccessPolicy()
    install_error_handlers(app)
    for router in (
        system.router,
        cameras.router,
        geometry.router,
        series.router,
        conflicts.router,
        exports.router,
        tokens.router,
        auditing.router,
        docs.router,
        dashboard_routes.router,
        dashboard_incidents.router,
        dashboard_incidents.alerts_router,
        dashboard_pages.router,
    ):
        app.include_router(router)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(AuditMiddleware, engine=engine, metrics=metrics)  # the last added runs first:
    api = getattr(settings, "api", None)
    app.add_middleware(ClientAddressMiddleware, trusted_proxies=getattr(api, "trusted_proxies", ()))
    tiles = getattr(getattr(settings, "dashboard", None), "tile_url", None)
    policy = content_security_policy([origin_of(tiles)] if tiles else [])
    app.add_middleware(SecurityHeadersMiddleware, policy=policy)
    return app
