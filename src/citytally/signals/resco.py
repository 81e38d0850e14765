"""The RESCO benchmark: five real scenarios, every controller, on the paper's SUMO and on the current one.

Results are written as a table beside the published numbers (Ault & Sharon, NeurIPS 2021 Datasets and
Benchmarks, Table 2) into the ``## Signals: RESCO benchmark`` section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import json
import platform
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from citytally.errors import SignalError
from citytally.signals.controllers import make_controller
from citytally.signals.evaluate import EpisodeResult, EvalConfig, run_episode

__all__ = [
    "BENCH_CONTROLLERS",
    "PUBLISHED",
    "SCENARIOS",
    "BenchCell",
    "render_section",
    "run_cell",
    "load_json",
    "merge_cells",
    "save_json",
    "write_section",
]

SCENARIOS: dict[str, tuple[float, float]] = {
    "cologne1": (25200.0, 28800.0),
    "cologne3": (25200.0, 28800.0),
    "ingolstadt1": (57600.0, 61200.0),
    "ingolstadt7": (57600.0, 61200.0),
    "grid4x4": (0.0, 3600.0),
}
BENCH_CONTROLLERS = ("fixed", "max-pressure", "greedy", "citytally")

# Published average delay (s/veh): Fixed, Greedy, Max-pressure, and the best learned controller (and which).
PUBLISHED: dict[str, dict[str, float | str | None]] = {
    "cologne1": {"fixed": 56.61, "greedy": 27.81, "max-pressure": 65.85, "best": 26.05, "best_by": "IDQN"},
    "cologne3": {"fixed": 46.35, "greedy": 90.67, "max-pressure": 162.28, "best": 23.99, "best_by": "IDQN"},
    "ingolstadt1": {"fixed": 39.40, "greedy": 28.32, "max-pressure": 23.62, "best": 20.90, "best_by": "IPPO"},
    "ingolstadt7": {"fixed": 91.31, "greedy": 80.56, "max-pressure": 46.82, "best": 31.19, "best_by": "IDQN"},
    "grid4x4": {"fixed": None, "greedy": 34.32, "max-pressure": 52.55, "best": 32.95, "best_by": "IDQN"},
}
SECTION = "## Signals: RESCO benchmark"


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


def _fmt(cell: BenchCell | None) -> str:
    if cell is None:
        return "–"
    grid = f" ⚠{cell.gridlocks} gridlock" if cell.gridlocks else ""
    return f"{cell.mean:.2f} ± {cell.sd:.2f} ({len(cell.delays)}){grid}"


def _version_table(cells: Sequence[BenchCell], sumo: str) -> list[str]:
    lines = [
        f"**{sumo}** (s/veh, mean ± sd (episodes); lower is better)",
        "",
        "| scenario | Fixed | Max-pressure | Greedy | **citytally** | best published "
        "| citytally vs best published | citytally vs best baseline here |",
        "|---|---|---|---|---|---|---|---|",
    ]
    by_key = {(c.scenario, c.controller): c for c in cells if c.sumo == sumo}
    for scenario in SCENARIOS:
        row = [_fmt(by_key.get((scenario, name))) for name in BENCH_CONTROLLERS]
        best = PUBLISHED[scenario]["best"]
        ours = by_key.get((scenario, "citytally"))
        gain = f"{100 * (ours.mean / float(best) - 1):+.1f}%" if ours and isinstance(best, float) else "–"
        baselines = [c.mean for n in BENCH_CONTROLLERS[:-1] if (c := by_key.get((scenario, n))) is not None]
        here = f"{100 * (ours.mean / min(baselines) - 1):+.1f}%" if ours and baselines else "–"
        lines.append(
            f"| {scenario} | {row[0]} | {row[1]} | {row[2]} | **{row[3]}** "
            f"| {best} ({PUBLISHED[scenario]['best_by']}) | {gain} | {here} |"
        )
    return lines


def render_section(cells: Sequence[BenchCell], command: str, seeds: int) -> str:
    """The markdown of the benchmark section for ``cells``."""
    published = [
        "Published (s/veh): "
        + "; ".join(
            f"{s}: fixed {p['fixed'] or '–'}, greedy {p['greedy']}, max-pressure {p['max-pressure']}, "
            f"best {p['best']} ({p['best_by']})"
            for s, p in PUBLISHED.items()
        )
        + ".",
    ]
    lines = [
        SECTION,
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node() or 'this machine'} "
        f"({platform.processor() or platform.machine()}, 2 shared cores), up to {seeds} seeded episodes "
        "per cell (count in brackets), "
        "one process per SUMO version. Command:",
        "",
        f"    {command}",
        "",
        "Metric exactly as RESCO: mean over vehicles of tripinfo `timeLoss + departDelay` "
        "(`--tripinfo-output.write-unfinished --time-to-teleport -1`, seeded; RESCO's `--random` draws "
        "the seed from the clock), plus `end − depart` for route vehicles never inserted. Episodes: Cologne "
        "25200–28800 s, Ingolstadt 57600–61200 s, grid4x4 0–3600 s. Baselines are re-run in the same run: "
        "fixed = the network's own programme run by SUMO; max-pressure and greedy decide every 10 s with "
        "3 s amber and no all-red (RESCO's timing). citytally decides every second under its safety "
        "timings: 5 s minimum green, 3 s amber, a **1 s all-red wherever a link turning green crosses or "
        "merges with one that just ended** (RESCO has none), held up to 2 s longer while a vehicle stands "
        "in the junction on such a path, and a 120 s maximum red; same settings on every scenario, nothing "
        "trained. Every controller except fixed reads the same detectors: per incoming lane, an approach "
        "zone covering the last 100 m before the stop line (vehicles and halted vehicles in it; it reaches "
        "onto the lanes upstream where the incoming lane is shorter), and, for citytally, a stop-line "
        "counter. ⚠ marks episodes flagged as gridlock (no arrival, or ≥ 80 % of vehicles standing, for "
        "300 s).",
        "",
    ]
    for sumo in dict.fromkeys(c.sumo for c in cells):
        lines += [*_version_table(cells, sumo), ""]
    lines += [*published, ""]
    return "\n".join(lines)


def write_section(doc: Path, section: str) -> None:
    """Replace (or append) the benchmark section of ``doc``, leaving every other section untouched."""
    text = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n"
    start = text.find(SECTION)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n"
    else:
        nxt = text.find("\n## ", start + len(SECTION))
        tail = text[nxt + 1 :] if nxt >= 0 else ""
        text = text[:start] + section.rstrip("\n") + "\n" + ("\n" + tail if tail else "")
    doc.write_text(text, encoding="utf-8")


def save_json(path: Path, cells: Sequence[BenchCell]) -> None:
    """Raw per-seed results, for later tables."""
    path.write_text(json.dumps([asdict(c) for c in cells], indent=1), encoding="utf-8")


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
