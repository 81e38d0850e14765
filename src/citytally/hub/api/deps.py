"""Things handlers get from the app: the store engine and the hub settings."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Request

__all__ = ["EngineDep", "SettingsDep", "get_engine", "get_settings"]


async def get_engine(request: Request) -> sa.Engine:
    """The store engine :func:`~citytally.hub.web.create_app` was given (on the event loop: a request
    needs no worker thread to get it, so ``/health`` answers while a hung database holds them all)."""
    engine: sa.Engine = request.app.state.engine
    return engine


def get_settings(request: Request) -> Any:
    """The hub settings :func:`~citytally.hub.web.create_app` was given."""
    return request.app.state.settings


EngineDep = Annotated[sa.Engine, Depends(get_engine)]
SettingsDep = Annotated[Any, Depends(get_settings)]
