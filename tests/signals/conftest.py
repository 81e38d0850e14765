"""Fixtures of the signals tests: small generated SUMO scenarios."""

from __future__ import annotations

import pytest
from signal_scenarios import GridScenario, build_grid


@pytest.fixture(scope="session")
def sumo_grid(tmp_path_factory: pytest.TempPathFactory) -> GridScenario:
    """A 3×3 signalised grid with 400 s of busy random traffic."""
    return build_grid(tmp_path_factory.mktemp("sumo-grid"), period=1.0)
