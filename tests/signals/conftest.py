"""Fixtures of the signals tests: small generated SUMO scenarios."""

from __future__ import annotations

import pytest
from signal_scenarios import GridScenario, build_grid


@pytest.fixture(scope="session")
def sumo_grid(tmp_path_factory: pytest.TempPathFactory) -> GridScenario:
    """A 3×3 signalised grid with 400 s of busy random traffic."""
    return build_grid(tmp_path_factory.mktemp("sumo-grid"), period=1.0)


TURN_LANE_OPTIONS = (
    "--default.lanenumber", "1", "--turn-lanes", "1", "--turn-lanes.length", "50",
    "--tls.left-green.time", "6",
)  # fmt: skip


@pytest.fixture(scope="session")
def turn_lane_grid(tmp_path_factory: pytest.TempPathFactory) -> GridScenario:
    """A 3×3 grid of 200 m blocks with 50 m left-turn lanes (short incoming lanes fed by a longer one
    through an unsignalised junction) and four-phase signals with protected left turns."""
    return build_grid(
        tmp_path_factory.mktemp("sumo-turn-lanes"), period=1.2, length=200.0, net_options=TURN_LANE_OPTIONS
    )
