"""RESCO benchmark: every controller on the five RESCO scenarios, on SUMO 1.9.1 (the paper's) and the current
SUMO, set beside the published figures (Ault & Sharon, NeurIPS 2021 Datasets and Benchmarks, Table 2).

    .venv/bin/python bench/signals_resco.py --seeds 3
    .venv/bin/python bench/signals_resco.py --versions current --scenarios cologne1 --json cur.json
    .venv/bin/python bench/signals_resco.py --merge v191.json --merge cur.json

Each cell (scenario × controller × SUMO version) is printed as it finishes; at the end the tables are
printed and recorded through the harness (``bench/results/signals_resco.json``). Nothing here edits the
documentation: ``python bench/render.py`` puts recorded results into their blocks of docs/benchmarks.md.
The scenarios are read in place from ``--data``, else ``$CITYTALLY_RESCO``, else ``../shared/data/resco``
beside the repository.
"""

from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from harness import Run

from citytally.errors import SignalError
from citytally.signals.cli import DEFAULT_SUMO_191
from citytally.signals.resco import (
    BENCH_CONTROLLERS,
    SCENARIOS,
    BenchCell,
    cell_line,
    load_json,
    merge_cells,
    resco_data_dir,
    run_cell,
    save_json,
)
from citytally.sumo import find_sumo_binary

__all__ = ["PUBLISHED", "SECTION", "main", "render_section", "table_rows"]


# Published average delay (s/veh): Fixed, Greedy, Max-pressure, and the best learned controller (and which).
PUBLISHED: dict[str, dict[str, float | str | None]] = {
    "cologne1": {"fixed": 56.61, "greedy": 27.81, "max-pressure": 65.85, "best": 26.05, "best_by": "IDQN"},
    "cologne3": {"fixed": 46.35, "greedy": 90.67, "max-pressure": 162.28, "best": 23.99, "best_by": "IDQN"},
    "ingolstadt1": {"fixed": 39.40, "greedy": 28.32, "max-pressure": 23.62, "best": 20.90, "best_by": "IPPO"},
    "ingolstadt7": {"fixed": 91.31, "greedy": 80.56, "max-pressure": 46.82, "best": 31.19, "best_by": "IDQN"},
    "grid4x4": {"fixed": None, "greedy": 34.32, "max-pressure": 52.55, "best": 32.95, "best_by": "IDQN"},
}
SECTION = "## Signals: RESCO benchmark"


COLUMNS = [
    ("sumo", "SUMO"),
    ("scenario", "scenario"),
    ("fixed", "Fixed"),
    ("max-pressure", "Max-pressure"),
    ("greedy", "Greedy"),
    ("citytally", "**citytally**"),
    ("best_published", "best published"),
    ("vs_published", "citytally vs best published"),
    ("vs_baseline", "citytally vs best baseline here"),
]


def _fmt(cell: BenchCell | None) -> str:
    if cell is None:
        return "–"
    grid = f" ⚠{cell.gridlocks} gridlock" if cell.gridlocks else ""
    return f"{cell.mean:.2f} ± {cell.sd:.2f} ({len(cell.delays)}){grid}"


def table_rows(cells: Sequence[BenchCell], sumo: str) -> list[dict[str, str]]:
    """One row per scenario for the cells run on ``sumo``: each controller, the best published result and
    how citytally compares with it and with the best baseline of the same run."""
    rows = []
    by_key = {(c.scenario, c.controller): c for c in cells if c.sumo == sumo}
    for scenario in SCENARIOS:
        best = PUBLISHED[scenario]["best"]
        ours = by_key.get((scenario, "citytally"))
        gain = f"{100 * (ours.mean / float(best) - 1):+.1f}%" if ours and isinstance(best, float) else "–"
        baselines = [c.mean for n in BENCH_CONTROLLERS[:-1] if (c := by_key.get((scenario, n))) is not None]
        here = f"{100 * (ours.mean / min(baselines) - 1):+.1f}%" if ours and baselines else "–"
        row = {"sumo": sumo, "scenario": scenario}
        row |= {name: _fmt(by_key.get((scenario, name))) for name in BENCH_CONTROLLERS}
        row |= {"best_published": f"{best} ({PUBLISHED[scenario]['best_by']})", "vs_published": gain}
        rows.append(row | {"vs_baseline": here})
    return rows


def _version_table(cells: Sequence[BenchCell], sumo: str) -> list[str]:
    lines = [
        f"**{sumo}** (s/veh, mean ± sd (episodes); lower is better)",
        "",
        "| " + " | ".join(header for _, header in COLUMNS[1:]) + " |",
        "|---" * (len(COLUMNS) - 1) + "|",
    ]
    for row in table_rows(cells, sumo):
        row["citytally"] = f"**{row['citytally']}**"
        lines.append("| " + " | ".join(row[key] for key, _ in COLUMNS[1:]) + " |")
    return lines


def render_section(cells: Sequence[BenchCell], command: str, seeds: int) -> str:
    """The markdown of the benchmark's tables for ``cells`` (printed; the page gets recorded results)."""
    published = "Published (s/veh): " + "; ".join(
        f"{s}: fixed {p['fixed'] or '–'}, greedy {p['greedy']}, max-pressure {p['max-pressure']}, "
        f"best {p['best']} ({p['best_by']})"
        for s, p in PUBLISHED.items()
    )
    lines = [
        SECTION,
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.processor() or platform.machine()}, up to "
        f"{seeds} seeded episodes per cell (count in brackets). Command:",
        "",
        f"    {command}",
        "",
    ]
    for sumo in dict.fromkeys(c.sumo for c in cells):
        lines += [*_version_table(cells, sumo), ""]
    return "\n".join([*lines, published + ".", ""])


def _run(args: argparse.Namespace) -> list[BenchCell]:
    folder = resco_data_dir(args.data)
    wanted = {v.strip() for v in args.versions.split(",")}
    binaries: list[Path | None] = []
    if "1.9.1" in wanted:
        if args.sumo_191.is_file():
            binaries.append(args.sumo_191)
        else:
            print(f"SUMO 1.9.1 not found at {args.sumo_191}: skipped", file=sys.stderr)
    if "current" in wanted:
        binaries.append(None)
    cells: list[BenchCell] = []
    for binary in binaries:
        for scenario in [s.strip() for s in args.scenarios.split(",") if s.strip()]:
            for controller in [c.strip() for c in args.controllers.split(",") if c.strip()]:
                cells.append(run_cell(folder, scenario, controller, args.seeds, binary))
                print(cell_line(cells[-1]), flush=True)
                if args.json is not None:
                    save_json(args.json, cells)
    return cells


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=None, help="folder with the RESCO scenarios")
    parser.add_argument("--seeds", type=int, default=3, help="seeded episodes per cell")
    parser.add_argument("--sumo-191", type=Path, default=DEFAULT_SUMO_191, help="SUMO 1.9.1 binary")
    parser.add_argument("--versions", default="1.9.1,current", help="1.9.1, current, or both")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated")
    parser.add_argument("--controllers", default=",".join(BENCH_CONTROLLERS), help="comma-separated")
    parser.add_argument("--json", type=Path, default=None, help="also write per-seed results here")
    parser.add_argument("--merge", type=Path, action="append", help="only merge these --json files")
    args = parser.parse_args(argv)
    try:
        if args.merge:
            cells = merge_cells([cell for path in args.merge for cell in load_json(path)])
        else:
            find_sumo_binary()  # fail before any work when SUMO is missing
            cells = _run(args)
    except SignalError as exc:
        print(f"signals_resco: error: {exc}", file=sys.stderr)
        return 2
    seeds = max((len(c.delays) for c in cells), default=0)
    command = " ".join(["bench/signals_resco.py", *(argv if argv is not None else sys.argv[1:])])
    print(render_section(cells, command, seeds))
    run = Run("signals_resco", "RESCO benchmark: average delay per vehicle (s)", columns=COLUMNS)
    for sumo in dict.fromkeys(c.sumo for c in cells):
        for row in table_rows(cells, sumo):
            run.add(**row)
    print(f"recorded {run.save()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
