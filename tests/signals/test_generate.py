"""The grid-city generator the signals tests and benchmarks share."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import pytest
from signal_scenarios import require_sumo

from citytally.errors import SignalError
from citytally.signals.generate import generate_grid


@pytest.fixture(autouse=True)
def _sumo_installed() -> None:
    require_sumo()


def test_two_seeds_share_one_network_and_draw_their_own_trips(tmp_path: Path) -> None:
    grid = ("--grid.number", "2", "--grid.length", "120")
    first = generate_grid(tmp_path, "city", grid=grid, end=200, period=2.0, seed=1)
    second = generate_grid(tmp_path, "city", grid=grid, end=200, period=2.0, seed=2)
    assert first.net == second.net and first.routes != second.routes
    assert first.routes.read_text() != second.routes.read_text()
    assert (first.begin, first.end) == (0.0, 200.0)
    assert '<end value="200"/>' in first.sumocfg.read_text()
    signals = ElementTree.parse(first.net).getroot().findall("tlLogic")
    assert len(signals) == 4, "every junction of a 2x2 grid has a signal"


def test_a_bad_option_names_the_tool(tmp_path: Path) -> None:
    with pytest.raises(SignalError, match="^netgenerate: "):
        generate_grid(tmp_path, "city", grid=("--no-such-option",), end=100, period=1.0, seed=1)
