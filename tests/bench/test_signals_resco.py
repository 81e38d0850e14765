"""bench/signals_resco.py sets the RESCO cells beside the published figures (no SUMO needed here)."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest

from citytally.signals.resco import BenchCell

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    return importlib.import_module("signals_resco")


def _cell(controller: str, delays: list[float], sumo: str = "SUMO 1.9.1", gridlocks: int = 0) -> BenchCell:
    return BenchCell("cologne1", controller, sumo, delays, gridlocks, decision_ms=0.1, wall_s=1.0)


def test_table_shows_every_controller_beside_the_published_best(bench: ModuleType) -> None:
    cells = [
        _cell("fixed", [56.0]),
        _cell("max-pressure", [30.0, 32.0], gridlocks=1),
        _cell("citytally", [20.0]),
    ]
    text = bench.render_section(cells, "bench/signals_resco.py", 2)
    row = next(line for line in text.splitlines() if line.startswith("| cologne1"))
    assert "31.00 ± 1.41 (2) ⚠1 gridlock" in row
    assert "**20.00 ± 0.00 (1)**" in row
    assert "26.05 (IDQN)" in row and "-23.2%" in row and "-35.5%" in row  # 20 / 26.05 - 1, 20 / 31 - 1
    (recorded,) = [r for r in bench.table_rows(cells, "SUMO 1.9.1") if r["scenario"] == "cologne1"]
    assert recorded["citytally"] == "20.00 ± 0.00 (1)" and recorded["greedy"] == "–"


def test_a_scenario_without_cells_shows_dashes(bench: ModuleType) -> None:
    rows = bench.table_rows([_cell("citytally", [20.0])], "SUMO 1.9.1")
    grid = next(r for r in rows if r["scenario"] == "grid4x4")
    assert grid["citytally"] == "–" and grid["vs_published"] == "–" and grid["vs_baseline"] == "–"
