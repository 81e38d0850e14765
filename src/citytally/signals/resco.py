"""The RESCO benchmark: five real scenarios, every controller, on the paper's SUMO and on the current one.

This module runs the cells (scenario × controller × SUMO version) and keeps their per-seed results; it
writes no documentation. ``bench/signals_resco.py`` sets them beside the published figures (Ault & Sharon,
NeurIPS 2021 Datasets and Benchmarks, Table 2) and records them. The scenarios are read in place from
:func:`resco_data_dir`, never copied into the repository.
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from citytally.errors import SignalError
from citytally.signals.controllers import make_controller
from citytally.signals.evaluate import EpisodeResult, EvalConfig, run_episode

__all__ = [
    "BENCH_CONTROLLERS",
    "RESCO_DIR_ENV",
    "SCENARIOS",
    "BenchCell",
    "cell_line",
    "load_json",
    "merge_cells",
    "resco_data_dir",
    "run_cell",
    "save_json",
]

#: Where the RESCO scenarios are when ``--data`` is not given (else ``../shared/data/resco`` beside the
#: repository).
RESCO_DIR_ENV = "CITYTALLY_RESCO"

SCENARIOS: dict[str, tuple[float, float]] = {
    "cologne1": (25200.0, 28800.0),
    "cologne3": (25200.0, 28800.0),
    "ingolstadt1": (57600.0, 61200.0),
    "ingolstadt7": (57600.0, 61200.0),
    "grid4x4": (0.0, 3600.0),
}
BENCH_CONTROLLERS = ("fixed", "max-pressure", "greedy", "citytally")


def resco_data_dir(given: Path | None = None) -> Path:
    """The folder holding the RESCO scenarios: ``given``, else ``$CITYTALLY_RESCO``, else
    ``../shared/data/resco`` beside the repository. Raises :class:`SignalError` when it is not a folder."""
    env = os.environ.get(RESCO_DIR_ENV)
    # src/citytally/signals/resco.py: parents[3] is the repository (a source checkout)
    folder = given or (Path(env) if env else Path(__file__).resolve().parents[3].parent / "shared/data/resco")
    if not folder.is_dir():
        raise SignalError(
            f"no RESCO scenarios in {folder}: pass --data DIR or set ${RESCO_DIR_ENV} to the folder holding "
            "cologne1, cologne3, ingolstadt1, ingolstadt7 and grid4x4"
        )
    return folder


@dataclass
class BenchCell:
    """One scenario × controller × SUMO version: its seeded episodes."""

    scenario: str
    controller: str
    sumo: str
    delays: list[float]
    gridlocks: int
    decision_ms: float
    wall_s: float

    @property
    def mean(self) -> float:
        return statistics.fmean(self.delays)

    @property
    def sd(self) -> float:
        return statistics.stdev(self.delays) if len(self.delays) > 1 else 0.0


def run_cell(
    data_dir: Path,
    scenario: str,
    controller: str,
    seeds: int,
    sumo_binary: Path | None,
    on_episode: Callable[[EpisodeResult], None] | None = None,
) -> BenchCell:
    """Run ``seeds`` episodes of ``controller`` on ``scenario`` read from ``data_dir``."""
    if scenario not in SCENARIOS:
        raise SignalError(f"unknown RESCO scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    begin, end = SCENARIOS[scenario]
    cfg = EvalConfig(
        scenario=data_dir / scenario / f"{scenario}.sumocfg",
        begin=begin,
        end=end,
        controller=controller,
        seeds=seeds,
        sumo_binary=sumo_binary,
    )
    episodes = []
    for seed in range(seeds):
        result = run_episode(cfg, seed, make_controller(controller))
        episodes.append(result)
        if on_episode is not None:
            on_episode(result)
    return BenchCell(
        scenario=scenario,
        controller=controller,
        sumo=episodes[0].sumo_version,
        delays=[e.delay_s for e in episodes],
        gridlocks=sum(e.gridlock_at is not None for e in episodes),
        decision_ms=statistics.fmean(e.mean_decision_ms for e in episodes),
        wall_s=sum(e.wall_s for e in episodes),
    )


def cell_line(cell: BenchCell) -> str:
    """One line for ``cell``: its SUMO, scenario, controller, mean ± sd delay, episodes and gridlocks."""
    grid = f", {cell.gridlocks} gridlocked" if cell.gridlocks else ""
    return (
        f"{cell.sumo} {cell.scenario} {cell.controller}: {cell.mean:.2f} ± {cell.sd:.2f} s/veh "
        f"({len(cell.delays)} episodes{grid})"
    )


def save_json(path: Path, cells: Sequence[BenchCell]) -> None:
    """Raw per-seed results, for later tables; written whole or not at all (it is rewritten after each
    cell, and a stop while it is written must not leave the cells before cut short)."""
    part = path.with_name(f".{path.name}.part")
    try:
        part.write_text(json.dumps([asdict(c) for c in cells], indent=1), encoding="utf-8")
        os.replace(part, path)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise SignalError(f"--json {path}: cannot write the results: {exc.strerror or exc}") from None


def load_json(path: Path) -> list[BenchCell]:
    """Cells saved by :func:`save_json`."""
    try:
        return [BenchCell(**raw) for raw in json.loads(path.read_text(encoding="utf-8"))]
    except (OSError, ValueError, TypeError) as exc:
        raise SignalError(f"{path}: not a benchmark results file: {exc}") from exc


def merge_cells(cells: Sequence[BenchCell]) -> list[BenchCell]:
    """One cell per scenario × controller × SUMO: the one with the most episodes (the later on a tie)."""
    chosen: dict[tuple[str, str, str], BenchCell] = {}
    for cell in cells:
        key = (cell.scenario, cell.controller, cell.sumo)
        if key not in chosen or len(cell.delays) >= len(chosen[key].delays):
            chosen[key] = cell
    return list(chosen.values())
