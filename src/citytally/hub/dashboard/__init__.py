"""The web dashboard, served by the hub: pages, their data endpoints and the public register."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter()
