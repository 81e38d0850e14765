"""One setting of citytally's controller swept over the RESCO scenarios: mean delay per value, same seeds.

    .venv/bin/python bench/signals_sweep.py --set max_green_s=90,60,45,35 [--seeds 3] [--jobs 2]
        [--scenarios cologne1,cologne3,ingolstadt1,ingolstadt7,grid4x4] [--sumo PATH | --sumo current]
    .venv/bin/python bench/signals_sweep.py --set timing.all_red_s=1,0
    .venv/bin/python bench/signals_sweep.py --base-timing resco --set timing.all_red_s=0
    .venv/bin/python bench/signals_sweep.py --controller greedy --set timing.all_red_s=1

Each value of the ``AdaptiveConfig`` field given to ``--set`` (or of a ``SignalTiming`` field of its safety
timings, as ``timing.FIELD``) runs every scenario with seeds 0..N-1 (RESCO's metric, as ``citytally signals
eval``), episodes ``--jobs`` at a time in separate processes. Prints every episode as it ends (delay,
gridlock, wall seconds), then a table: mean delay per scenario and value, and how many episodes gridlocked.

``--base-timing resco`` starts from the RESCO baselines' safety timings (3 s amber, no all-red, no box
clearance) instead of citytally's own: a like-for-like comparison with the baselines and the published
results, not a setting for the street. ``--controller greedy`` or ``max-pressure`` runs a RESCO baseline
instead, under the base timings with the ``timing.X`` change: the like-for-like comparison the other way
round, the baselines under citytally's safety timings. By default SUMO 1.9.1 (the paper's) from
``~/.cache/citytally/sumo-1.9.1-venv``; ``--sumo current`` uses the installed eclipse-sumo through libsumo.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from pydantic import ValidationError

from citytally.signals.cli import DEFAULT_SUMO_191
from citytally.signals.controllers import (
    RESCO_TIMING,
    AdaptiveConfig,
    AdaptiveController,
    GreedyController,
    MaxPressureController,
)
from citytally.signals.evaluate import EvalConfig, run_episode
from citytally.signals.intersection import SignalTiming
from citytally.signals.network import Controller
from citytally.signals.resco import SCENARIOS

# The RESCO scenarios, read in place (never copied): $CITYTALLY_RESCO, else ../shared/data/resco beside the
# repository.
RESCO = Path(
    os.environ.get("CITYTALLY_RESCO") or Path(__file__).resolve().parents[2] / "shared" / "data" / "resco"
)


BASE_TIMINGS = {"citytally": AdaptiveConfig().timing, "resco": RESCO_TIMING}


def config_with(field: str, value: float, base_timing: str = "citytally") -> AdaptiveConfig:
    """The shipped settings on ``base_timing`` with one field changed (``timing.X``: a safety timing)."""
    timing = BASE_TIMINGS[base_timing]
    group, _, name = field.rpartition(".")
    if group == "timing":
        return AdaptiveConfig(timing=timing.model_copy(update={name: value}))
    return AdaptiveConfig(timing=timing, **{field: value})


BASELINES: dict[str, type[GreedyController | MaxPressureController]] = {
    "greedy": GreedyController,
    "max-pressure": MaxPressureController,
}


def make(name: str, config: AdaptiveConfig) -> Controller:
    """citytally with ``config``, or a baseline running under ``config``'s safety timings."""
    if name == "citytally":
        return AdaptiveController(config)
    return BASELINES[name](config.timing)


def episode(
    data: Path,
    scenario: str,
    field: str,
    value: float,
    seed: int,
    sumo: Path | None,
    base_timing: str,
    controller_name: str = "citytally",
) -> tuple[str, float, int, float, bool, float]:
    begin, end = SCENARIOS[scenario]
    cfg = EvalConfig(scenario=data / scenario / f"{scenario}.sumocfg", begin=begin, end=end, sumo_binary=sumo)
    controller = make(controller_name, config_with(field, value, base_timing))
    result = run_episode(cfg, seed, controller)
    return scenario, value, seed, result.delay_s, result.gridlock_at is not None, result.wall_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", required=True, help="FIELD=V1,V2,... of AdaptiveConfig")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--sumo", default=str(DEFAULT_SUMO_191), help="SUMO binary, or 'current' (libsumo)")
    parser.add_argument("--data", type=Path, default=RESCO, help="the RESCO scenarios' folder")
    parser.add_argument(
        "--base-timing", choices=sorted(BASE_TIMINGS), default="citytally",
        help="safety timings the values apply to: citytally's own, or the RESCO baselines'",
    )  # fmt: skip
    parser.add_argument(
        "--controller", choices=["citytally", *BASELINES], default="citytally",
        help="a baseline instead of citytally (then only timing.X can be set)",
    )  # fmt: skip
    args = parser.parse_args()
    field, _, values_text = args.set.partition("=")
    if args.controller != "citytally" and not field.startswith("timing."):
        sys.exit(f"--set: a baseline has no setting {field!r}; only its safety timings (timing.X)")
    fields = [f for f in AdaptiveConfig.model_fields if f != "timing"]
    fields += [f"timing.{f}" for f in SignalTiming.model_fields]
    if field not in fields or not values_text:
        sys.exit(f"--set: expected FIELD=V1,V2 with FIELD one of {', '.join(fields)}")
    values = [float(v) for v in values_text.split(",")]
    for value in values:
        # A value out of range fails here, before any episode runs (model_copy does not validate).
        try:
            AdaptiveConfig.model_validate(config_with(field, value, args.base_timing).model_dump())
        except ValidationError as exc:
            sys.exit(f"--set {field}={value:g}: {exc.errors()[0]['msg']}")
    sumo = None if args.sumo == "current" else Path(args.sumo)
    if sumo is not None and not sumo.is_file():
        sys.exit(f"--sumo: {sumo} not found (see docs/benchmarks.md for installing SUMO 1.9.1)")
    scenarios = args.scenarios.split(",")
    runs = [(s, v, seed) for v in values for s in scenarios for seed in range(args.seeds)]
    delays: dict[tuple[str, float], list[float]] = {}
    gridlocks: dict[tuple[str, float], int] = {}
    print(
        f"{field}: {values} on {scenarios}, seeds 0..{args.seeds - 1}, SUMO {args.sumo}, "
        f"{args.base_timing} timings, controller {args.controller}",
        flush=True,
    )
    with ProcessPoolExecutor(args.jobs) as pool:
        futures = [
            pool.submit(episode, args.data, s, field, v, seed, sumo, args.base_timing, args.controller)
            for s, v, seed in runs
        ]
        for future in as_completed(futures):
            scenario, value, seed, delay, locked, wall = future.result()
            delays.setdefault((scenario, value), []).append(delay)
            gridlocks[(scenario, value)] = gridlocks.get((scenario, value), 0) + locked
            flag = "  GRIDLOCK" if locked else ""
            print(f"{scenario:12s} {field}={value:g} seed {seed}: {delay:8.2f} s/veh{flag}  ({wall:.0f} s)")
    print(f"\nmean delay, s/veh (episodes gridlocked), by scenario and {field}")
    print(f"{'scenario':12s}" + "".join(f"{v:>14g}" for v in values))
    for scenario in scenarios:
        cells = []
        for value in values:
            mean = statistics.fmean(delays[(scenario, value)])
            count = gridlocks[(scenario, value)]
            cells.append(f"{mean:9.2f}" + (f" ({count})" if count else "    "))
        print(f"{scenario:12s}" + "".join(f"{c:>14s}" for c in cells))


if __name__ == "__main__":
    main()
