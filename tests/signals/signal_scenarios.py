"""Builders of small SUMO scenarios generated in the test run (netgenerate + randomTrips), not RESCO's."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import pytest

from citytally.signals.generate import GeneratedCity, generate_grid

GridScenario = GeneratedCity


def require_sumo() -> ModuleType:
    """The eclipse-sumo package. A SUMO test fails without it, never skips: a skip would hide that nothing
    was checked."""
    try:
        import sumo
    except ImportError as exc:
        pytest.fail(f"SUMO is not installed (pip install -e '.[signals]' installs it): {exc}")
    return sumo


def build_grid(
    folder: Path,
    *,
    size: int = 3,
    end: float = 400.0,
    period: float = 1.5,
    seed: int = 3,
    length: float = 150.0,
    net_options: Sequence[str] = (),
) -> GridScenario:
    """A ``size``×``size`` grid of traffic lights with random trips departing in ``[0, end)``.

    ``net_options`` go to ``netgenerate`` as they are (turn lanes, left-turn phases ...).
    """
    require_sumo()
    grid = ("--grid.number", str(size), "--grid.length", f"{length:g}", *net_options)
    return generate_grid(folder, "grid", grid=grid, end=end, period=period, seed=seed)
