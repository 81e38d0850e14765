"""The hub's REST API (FastAPI): build it with :func:`create_app`."""

from __future__ import annotations

from citytally.hub.api.app import create_app

__all__ = ["create_app"]
