"""Query parameters a route does not take are refused, not ignored."""

from __future__ import annotations

from fastapi import HTTPException, Request
from fastapi.routing import APIRoute

__all__ = ["refuse_unknown_query"]


def refuse_unknown_query(request: Request) -> None:
    """422 for a query parameter the route does not take (as OpenAPI documents it): a misspelt ``strat=``
    or a ``from=`` for ``start=`` was ignored, and the answer was the default range's, with 200. Called by
    the access dependencies once the caller is known (so the refusal is audited as theirs, and one without
    a token is told that first). The dashboard's own routes (``/dashboard/``), whose one client is the
    front end shipped with the hub, are left be: it sends its time zone to every series, taken or not."""
    route = request.scope.get("route")
    if not request.query_params or not isinstance(route, APIRoute) or route.path.startswith("/dashboard/"):
        return
    table: dict[tuple[str, str], frozenset[str]] | None = getattr(request.app.state, "query_names", None)
    if table is None:
        table = {}
        for path, operations in request.app.openapi().get("paths", {}).items():
            for method, operation in operations.items():
                names = [p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"]
                table[(path, method.upper())] = frozenset(names)
        request.app.state.query_names = table
    known = table.get((route.path, request.method))
    if known is None:  # not in the documented API (a page of the dashboard): left be
        return
    if unknown := sorted(set(request.query_params) - known):
        takes = ", ".join(sorted(known)) or "none"
        raise HTTPException(422, f"unknown query parameter {', '.join(unknown)}: {route.path} takes {takes}")
