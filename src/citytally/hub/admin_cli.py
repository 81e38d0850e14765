"""Subcommands for access, audit and retention (``citytally token``, ``citytally audit``, ...)."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the access/audit/retention commands to the top-level ``citytally`` app."""
