"""Subcommands of the hub area. Heavy imports live inside the command functions."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add this area's commands to the top-level citytally app."""
