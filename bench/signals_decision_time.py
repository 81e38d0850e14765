"""Wall time of one decision step for a city of 100 signalised intersections (10×10 generated grid).

One decision step = read every lane sensor, let the controller decide, apply the requests safely
(``SignalNetwork.control_step``); SUMO's own simulation step is not counted. Run:

    .venv/bin/python bench/signals_decision_time.py [--steps 600] [--tcp]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

from citytally.signals.controllers import make_controller
from citytally.signals.generate import generate_grid
from citytally.signals.network import SignalNetwork
from citytally.signals.sim import SumoConnection
from citytally.sumo import find_sumo_binary


def build_city(folder: Path, size: int, seconds: int) -> Path:
    city = generate_grid(
        folder, "city", grid=("--grid.number", str(size), "--grid.length", "200", "-L", "2"),
        end=seconds, period=0.25, seed=7, trips=("--fringe-factor", "5"), net_seed=0,
    )  # fmt: skip
    return city.sumocfg


def time_controller(cfg: Path, name: str, steps: int, tcp: bool) -> tuple[int, list[float]]:
    controller = make_controller(name)
    args = ["-c", str(cfg), "--no-step-log", "--no-warnings", "--time-to-teleport", "-1"]
    conn = SumoConnection.start(args, binary=find_sumo_binary() if tcp else None)
    try:
        network = SignalNetwork(conn.api, controller.timing)  # type: ignore[union-attr]
        durations = []
        for _ in range(steps):
            tick = time.perf_counter()
            network.control_step(controller)
            durations.append(time.perf_counter() - tick)
            conn.step()
        return len(network), durations
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--size", type=int, default=10)
    parser.add_argument("--tcp", action="store_true", help="TraCI over TCP instead of libsumo")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = build_city(Path(tmp), args.size, args.steps + 60)
        print(f"machine: {platform.node()} {platform.processor() or platform.machine()}, "
              f"{'TCP TraCI' if args.tcp else 'libsumo'}, {args.steps} steps")  # fmt: skip
        for name in ("max-pressure", "citytally"):
            count, durations = time_controller(cfg, name, args.steps, args.tcp)
            ms = sorted(1000 * d for d in durations)
            print(
                f"{name}: {count} intersections, decision step mean {statistics.fmean(ms):.2f} ms, "
                f"p95 {ms[int(0.95 * len(ms))]:.2f} ms, max {ms[-1]:.2f} ms"
            )


if __name__ == "__main__":
    main()
