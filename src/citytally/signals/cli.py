"""Subcommands of the signals area. Heavy imports live inside the command functions."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from citytally.signals.resco import BenchCell

__all__ = ["register", "eval_command", "bench_command", "emergency_command"]

DEFAULT_SUMO_191 = Path.home() / ".cache/citytally/sumo-1.9.1-venv/lib/python3.11/site-packages/sumo/bin/sumo"


def _episode_window(scenario: Path, begin: float | None, end: float | None) -> tuple[float, float]:

    from citytally.errors import SignalError

    if not scenario.is_file():
        raise SignalError(f"{scenario}: no such SUMO configuration")
    found: dict[str, float | None] = {"begin": begin, "end": end}
    if begin is None or end is None:
        found = _configured_window(scenario)
    b = begin if begin is not None else found["begin"] or 0.0
    e = end if end is not None else found["end"]
    if e is None:
        raise SignalError(f"{scenario}: no episode end: set time/end in the configuration (or eval's --end)")
    if not b >= 0:  # also NaN
        raise SignalError(f"{scenario}: episode begin {b:g} must be 0 s or later")
    if not (b < e and math.isfinite(e)):
        raise SignalError(f"{scenario}: episode end {e:g} must be after its begin {b:g}")
    return b, e


def _configured_window(scenario: Path) -> dict[str, float | None]:
    """time/begin and time/end of a .sumocfg (None where it has none)."""
    import xml.etree.ElementTree as ET

    from citytally.errors import SignalError

    try:
        root = ET.parse(scenario).getroot()
    except (OSError, ET.ParseError) as exc:
        raise SignalError(f"{scenario}: cannot read the SUMO configuration: {exc}") from exc
    found: dict[str, float | None] = {}
    for key in ("begin", "end"):
        node = root.find(f".//time/{key}")
        try:
            found[key] = float(node.get("value", "")) if node is not None else None
        except ValueError:
            raise SignalError(f"{scenario}: time/{key} is not a number of seconds") from None
    return found


def eval_command(
    scenario: Annotated[Path, typer.Argument(help="The scenario's .sumocfg.")],
    begin: Annotated[
        float | None, typer.Option("--begin", help="Episode start, s (default: the config's).")
    ] = None,
    end: Annotated[
        float | None, typer.Option("--end", help="Episode end, s (default: the config's).")
    ] = None,
    controller: Annotated[
        str, typer.Option("--controller", help="fixed, max-pressure, greedy or citytally.")
    ] = "citytally",
    seeds: Annotated[int, typer.Option("--seeds", min=1, max=1000, help="Seeded episodes (0..N-1).")] = 1,
    sumo_binary: Annotated[
        Path | None, typer.Option("--sumo-binary", help="Run this SUMO binary over TCP TraCI, not libsumo.")
    ] = None,
) -> None:
    """Average delay (RESCO's metric) of CONTROLLER on SCENARIO; the last line is the result.

    Ctrl-C ends it with the mean of the seeds that ended (exit status 130)."""
    from citytally.signals.evaluate import EpisodeResult, EvalConfig, EvalSummary, evaluate

    b, e = _episode_window(scenario, begin, end)
    cfg = EvalConfig(
        scenario=scenario, begin=b, end=e, controller=controller, seeds=seeds, sumo_binary=sumo_binary
    )

    done: list[EpisodeResult] = []

    def report(result: EpisodeResult) -> None:
        done.append(result)
        grid = f", GRIDLOCK at t={result.gridlock_at:.0f} s" if result.gridlock_at is not None else ""
        typer.echo(
            f"seed {result.seed}: {result.delay_s:.2f} s/veh, {result.vehicles} vehicles "
            f"({result.never_departed} never departed), {result.sumo_version}, "
            f"{result.wall_s:.1f} s wall{grid}"
        )

    try:
        summary = evaluate(cfg, progress=report)
    except KeyboardInterrupt:
        typer.echo(f"interrupted after {len(done)} of {seeds} seeds", err=True)
        if done:  # what ended is a result: said, as the last line, for those seeds only
            typer.echo(EvalSummary(config=cfg, episodes=done).last_line())
        raise typer.Exit(130) from None
    if summary.gridlocked:
        typer.echo(f"gridlock in {len(summary.gridlocked)} of {len(summary.episodes)} episodes")
    typer.echo(summary.last_line())


def bench_command(
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Folder with the RESCO scenarios (default: $CITYTALLY_RESCO, else ../shared/data/resco "
            "beside the repository).",
        ),
    ] = None,
    seeds: Annotated[int, typer.Option("--seeds", min=1, max=100, help="Seeded episodes per cell.")] = 3,
    sumo_191: Annotated[
        Path | None,
        typer.Option(
            "--sumo-191",
            help="SUMO 1.9.1 binary (the paper's); skipped if missing.",
            show_default="~/.cache/citytally/sumo-1.9.1-venv/lib/python3.11/site-packages/sumo/bin/sumo",
        ),
    ] = DEFAULT_SUMO_191,
    versions: Annotated[
        str, typer.Option("--versions", help="Which SUMO: 1.9.1, current, or both (comma-separated).")
    ] = "1.9.1,current",
    scenarios: Annotated[
        str, typer.Option("--scenarios", help="Comma-separated.")
    ] = "cologne1,cologne3,ingolstadt1,ingolstadt7,grid4x4",
    controllers: Annotated[
        str, typer.Option("--controllers", help="Comma-separated.")
    ] = "fixed,max-pressure,greedy,citytally",
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write per-seed results here.")] = None,
    merge: Annotated[
        list[Path] | None,
        typer.Option("--merge", help="Only print the cells of these --json files, merged (run nothing)."),
    ] = None,
) -> None:
    """Every controller on the RESCO scenarios, on SUMO 1.9.1 and the current SUMO; one line per cell.

    Writes no documentation: ``bench/signals_resco.py`` sets the cells beside the published figures.
    """
    from citytally.errors import SignalError
    from citytally.signals.resco import cell_line, load_json, merge_cells, resco_data_dir, save_json

    # where the results go is checked before anything runs too (hours of cells, then a traceback)
    if json_out is not None and json_out.is_dir():
        raise SignalError(f"--json {json_out}: is a folder; name a file in it")
    if json_out is not None and not json_out.parent.is_dir():
        raise SignalError(f"--json {json_out}: no folder {json_out.parent}")
    if merge:
        cells = merge_cells([cell for path in merge for cell in load_json(path)])
        if json_out is not None:
            save_json(json_out, cells)
    else:
        folder = resco_data_dir(data_dir)
        cells = _run_bench(folder, seeds, sumo_191, versions, scenarios, controllers, json_out)
    for cell in cells:
        typer.echo(cell_line(cell))


def _run_bench(
    data_dir: Path,
    seeds: int,
    sumo_191: Path | None,
    versions: str,
    scenarios: str,
    controllers: str,
    json_out: Path | None,
) -> list[BenchCell]:
    from rich.progress import Progress

    from citytally.errors import SignalError
    from citytally.signals.controllers import CONTROLLERS
    from citytally.signals.resco import SCENARIOS, cell_line, run_cell, save_json

    names = [s.strip() for s in scenarios.split(",") if s.strip()]
    ctrls = [c.strip() for c in controllers.split(",") if c.strip()]
    wanted = {v.strip() for v in versions.split(",") if v.strip()}
    # every name checked before anything runs: a typo found at its cell could be hours into the grid
    if unknown := wanted - {"1.9.1", "current"}:
        raise SignalError(f"--versions: {', '.join(sorted(unknown))} is not 1.9.1 or current")
    if strange := [n for n in names if n not in SCENARIOS]:
        raise SignalError(f"--scenarios: unknown {', '.join(strange)}; known: {', '.join(SCENARIOS)}")
    if strange := [c for c in ctrls if c not in CONTROLLERS]:
        raise SignalError(f"--controllers: unknown {', '.join(strange)}; known: {', '.join(CONTROLLERS)}")
    binaries: list[Path | None] = []
    if "1.9.1" in wanted:
        if sumo_191 is not None and sumo_191.is_file():
            binaries.append(sumo_191)
        elif wanted == {"1.9.1"}:  # nothing else asked for: running nothing is no result
            raise SignalError(f"--versions 1.9.1: no SUMO 1.9.1 at {sumo_191} (--sumo-191 names it)")
        else:
            typer.echo(f"SUMO 1.9.1 not found at {sumo_191}: skipped", err=True)
    if "current" in wanted:
        binaries.append(None)
    cells: list[BenchCell] = []
    with Progress() as progress:
        task = progress.add_task("RESCO", total=len(binaries) * len(names) * len(ctrls) * seeds)
        for binary in binaries:
            for name in names:
                for ctrl in ctrls:
                    progress.update(task, description=f"{name} {ctrl} {'1.9.1' if binary else 'current'}")
                    cell = run_cell(data_dir, name, ctrl, seeds, binary, lambda _: progress.advance(task))
                    cells.append(cell)
                    progress.console.log(cell_line(cell))
                    if json_out is not None:
                        save_json(json_out, cells)
    return cells


def emergency_command(
    scenario: Annotated[Path, typer.Argument(help="The scenario's .sumocfg.")],
    route: Annotated[str, typer.Option("--route", help="The ambulance's route: edge ids, space-separated.")],
    depart: Annotated[
        float | None, typer.Option("--depart", help="When the call comes in, s (default: begin + 600).")
    ] = None,
    controller: Annotated[
        str, typer.Option("--controller", help="fixed (programme's plan), max-pressure, greedy, citytally.")
    ] = "citytally",
    seed: Annotated[int, typer.Option("--seed", min=0, help="SUMO seed.")] = 0,
    sumo_binary: Annotated[
        Path | None, typer.Option("--sumo-binary", help="Run this SUMO binary over TCP TraCI, not libsumo.")
    ] = None,
) -> None:
    """One ambulance on SCENARIO: free flow, then CONTROLLER without and with emergency priority."""
    from citytally.signals.emergency import emergency_comparison

    window = _episode_window(scenario, None, None)
    edges = tuple(route.split())
    lines = emergency_comparison(
        scenario, edges, window, depart=depart, controller=controller, seed=seed, binary=sumo_binary
    )
    for line in lines:
        typer.echo(line)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the top-level citytally app."""
    signals = typer.Typer(help="Traffic signals in SUMO: evaluate controllers, run the RESCO benchmark.")
    signals.command("eval")(eval_command)
    signals.command("bench")(bench_command)
    signals.command("emergency")(emergency_command)
    app.add_typer(signals, name="signals")
