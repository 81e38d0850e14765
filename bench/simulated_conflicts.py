"""What the simulated day's traffic conflicts add to the demo: SUMO's hour on cologne3 with and without them.

``simulate_hour`` runs RESCO's cologne3 hour (libsumo) and records what the virtual cameras see; with
``conflicts`` it also measures every pair of cars in each junction's conflict zone with the edge's
``find_conflicts`` (the demo's default). Timed, interleaved, ``--runs`` times each; also printed: the cars'
stays in the zones and the conflicts found, and the time to turn the hour into the day's events.

    .venv/bin/python bench/simulated_conflicts.py --runs 3
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from harness import RESULTS_DIR, Run

from citytally.hub.dashboard.simulated import day_of_events, default_resco_dir, simulate_hour


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each variant")
    parser.add_argument("--resco", type=Path, default=None, help="RESCO folder (default: the demo's)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args()
    resco = args.resco or default_resco_dir()
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.runs):
        for conflicts in (False, True):
            began = time.perf_counter()
            hour = simulate_hour(resco, conflicts=conflicts)
            times[conflicts].append(time.perf_counter() - began)
    began = time.perf_counter()
    events = day_of_events(hour)
    day_s = time.perf_counter() - began
    stays = sum(len(z.paths) for z in hour.zones.values())
    found = sum(len(z.conflicts) for z in hour.zones.values())
    before, now = statistics.median(times[False]), statistics.median(times[True])
    run = Run(
        "simulated_conflicts",
        "The demo's simulated hour (cologne3, libsumo) without and with its conflicts measured",
        columns=[
            ("before_s", "without conflicts, median s (min-max)"),
            ("now_s", "with conflicts, median s (min-max)"),
            ("ratio", "with / without"),
            ("stays", "cars' stays in the zones"),
            ("conflicts", "conflicts in the hour"),
            ("day_s", "day of events, s"),
            ("n", "n"),
        ],
    )
    row = {
        "before_s": _spread(times[False]),
        "now_s": _spread(times[True]),
        "ratio": round(now / before, 2),
        "stays": stays,
        "conflicts": found,
        "day_s": round(day_s, 2),
        "n": args.runs,
    }
    run.add(**row)
    print(row, f"{len(events)} events")
    print(f"wrote {run.save(args.results_dir)}")


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


if __name__ == "__main__":
    main()
