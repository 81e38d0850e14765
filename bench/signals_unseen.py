"""Every controller on generated networks that citytally was never designed or tuned on.

Two kinds of city, built here with SUMO's own tools (``netgenerate``, ``randomTrips.py``); each seed draws
its own random trips (randomTrips' seed = episode seed), so demand differs between episodes too:

- ``turns``: a 4×4 grid of 250 m blocks, two lanes plus a 60 m left-turn lane on every approach,
  four-phase signals with protected left turns (netgenerate's ``--tls.left-green.time``), busy traffic;
- ``plain``: a 5×5 grid of 150 m blocks, one lane per direction, two-phase signals, busy traffic.

Run (current SUMO, libsumo):

    .venv/bin/python bench/signals_unseen.py --seeds 3

Prints one line per episode and a table of mean ± sd delay (RESCO's metric) per controller.
``citytally@resco-timing`` is citytally's controller under the baselines' safety timings (3 s amber, no
all-red, no box clearance): a like-for-like comparison of the decisions alone, not a setting for the street.
``--controllers greedy@citytally-timing,max-pressure@citytally-timing`` runs the baselines under
citytally's safety timings instead, the same comparison the other way round.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

from citytally.signals.controllers import (
    RESCO_TIMING,
    AdaptiveConfig,
    AdaptiveController,
    GreedyController,
    MaxPressureController,
    make_controller,
)
from citytally.signals.evaluate import EvalConfig, run_episode
from citytally.signals.generate import generate_grid
from citytally.signals.network import Controller

CONTROLLERS = ("fixed", "max-pressure", "greedy", "citytally", "citytally@resco-timing")
# The like-for-like comparison the other way round, on request: the baselines under citytally's timings.
BASELINES_UNDER_OURS: dict[str, type[GreedyController | MaxPressureController]] = {
    "greedy@citytally-timing": GreedyController,
    "max-pressure@citytally-timing": MaxPressureController,
}
END_S = 3600


@dataclass(frozen=True)
class City:
    """How to generate one kind of city."""

    name: str
    net_options: tuple[str, ...]
    trip_period_s: float


CITIES = (
    City(
        "turns",
        ("--grid.number", "4", "--grid.length", "250", "--default.lanenumber", "2",
         "--turn-lanes", "1", "--turn-lanes.length", "60", "--tls.left-green.time", "6"),
        0.7,
    ),
    City("plain", ("--grid.number", "5", "--grid.length", "150", "--default.lanenumber", "1"), 1.0),
)  # fmt: skip


def build(city: City, seed: int, folder: Path) -> Path:
    """The network and one seed's random trips for ``city``; returns the .sumocfg."""
    generated = generate_grid(
        folder, city.name, grid=city.net_options, end=END_S, trips_end=END_S - 300,
        period=city.trip_period_s, seed=seed, trips=("--fringe-factor", "5", "--min-distance", "300"),
        net_seed=1,
    )  # fmt: skip
    return generated.sumocfg


def controller(name: str) -> Controller | None:
    """A controller by its name in :data:`CONTROLLERS`."""
    if name == "citytally@resco-timing":
        return AdaptiveController(AdaptiveConfig(timing=RESCO_TIMING))
    if name in BASELINES_UNDER_OURS:
        return BASELINES_UNDER_OURS[name](AdaptiveConfig().timing)
    return make_controller(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--cities", default=",".join(c.name for c in CITIES))
    parser.add_argument("--controllers", default=",".join(CONTROLLERS))
    args = parser.parse_args()
    wanted = set(args.cities.split(","))
    controllers = args.controllers.split(",")
    results: dict[tuple[str, str], list[float]] = {}
    gridlocks: dict[tuple[str, str], int] = {}
    with tempfile.TemporaryDirectory(prefix="citytally-unseen-") as tmp:
        for city in (c for c in CITIES if c.name in wanted):
            for seed in range(args.seeds):
                cfg = EvalConfig(scenario=build(city, seed, Path(tmp)), begin=0, end=END_S)
                for name in controllers:
                    result = run_episode(cfg, seed, controller(name))
                    results.setdefault((city.name, name), []).append(result.delay_s)
                    locked = result.gridlock_at is not None
                    gridlocks[(city.name, name)] = gridlocks.get((city.name, name), 0) + locked
                    print(
                        f"{city.name} seed={seed} {name:12s} {result.delay_s:7.2f} s/veh "
                        f"({result.vehicles} vehicles{', GRIDLOCK' if locked else ''}) {result.sumo_version}",
                        flush=True,
                    )
    print("\n| city | " + " | ".join(controllers) + " |")
    print("|---|" + "---|" * len(controllers))
    for city_name in (c.name for c in CITIES if c.name in wanted):
        cells = []
        for name in controllers:
            delays = results[(city_name, name)]
            sd = statistics.stdev(delays) if len(delays) > 1 else 0.0
            count = gridlocks[(city_name, name)]
            lock = f" ⚠{count} gridlock" if count else ""
            cells.append(f"{statistics.fmean(delays):.2f} ± {sd:.2f} ({len(delays)}){lock}")
        print(f"| {city_name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
