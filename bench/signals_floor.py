"""How much of each RESCO scenario's delay a signal can touch: the delay with every conflict removed.

    .venv/bin/python bench/signals_floor.py [--seeds 3] [--jobs 2] [--sumo PATH | --sumo current]
        [--scenarios cologne1,cologne3,ingolstadt1,ingolstadt7,grid4x4]

Per scenario and seed, two episodes with the same SUMO seed and RESCO's metric:

- **no conflicts:** every signal shows green on every link for the whole episode and SUMO's collision
  handling is off (``--collision.action none``), so crossing streams pass through each other. What delay
  remains (vehicles waiting to be inserted, slowing for curves and turns, following slower vehicles,
  queues at the unsignalised junctions) is delay no signal removes by giving green sooner;
- **citytally:** the shipped controller under its safety timings, in the same run.

The table sets both beside the aim (10 % below the best published result): ``signal's share`` is
citytally's delay over the floor, ``allowed`` the aim's delay over the floor, ``cut needed`` how much of
the signal's share the aim asks to remove. The floor is not a strict lower bound (a signal that holds
traffic back can spare a junction downstream), but every controller here and in the paper stays well above it.
Without conflicts, vehicles can still lock up inside a junction or behind one another (teleporting is
off); a floor episode flagged as the evaluation flags gridlock, or ending with 10 or more vehicles that
have stood for the whole gridlock window, is printed but left out of the floor's mean.
By default SUMO 1.9.1 (the paper's) from ``~/.cache/citytally/sumo-1.9.1-venv``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import xml.etree.ElementTree as ET
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from signals_resco import PUBLISHED

from citytally.signals.cli import DEFAULT_SUMO_191
from citytally.signals.controllers import AdaptiveController
from citytally.signals.evaluate import EvalConfig, episode_sumo_args, run_episode, simulate
from citytally.signals.metric import episode_delay, route_files_of
from citytally.signals.resco import SCENARIOS
from citytally.signals.sim import SumoConnection

# The RESCO scenarios, read in place (never copied): $CITYTALLY_RESCO, else ../shared/data/resco beside the
# repository.
RESCO = Path(
    os.environ.get("CITYTALLY_RESCO") or Path(__file__).resolve().parents[2] / "shared" / "data" / "resco"
)
AIM = 0.9  # the aim: at least 10 % below the best published result
STUCK_VEHICLES = 10  # this many vehicles standing for the gridlock window at the end: a partial lock-up


@dataclass(frozen=True)
class Run:
    scenario: str
    seed: int
    kind: str  # "floor" or "citytally"
    delay_s: float
    depart_delay_s: float = 0.0
    time_loss_s: float = 0.0
    gridlocked: bool = False


def _config(data: Path, scenario: str, sumo: Path | None) -> EvalConfig:
    begin, end = SCENARIOS[scenario]
    scenario_file = data / scenario / f"{scenario}.sumocfg"
    return EvalConfig(scenario=scenario_file, begin=begin, end=end, sumo_binary=sumo)


def floor_episode(data: Path, scenario: str, seed: int, sumo: Path | None) -> Run:
    """One episode with every link of every signal green and no collision handling."""
    cfg = _config(data, scenario, sumo)
    with tempfile.TemporaryDirectory(prefix="citytally-floor-") as tmp:
        tripinfo = Path(tmp) / "tripinfo.xml"
        args = [*episode_sumo_args(cfg, seed, tripinfo), "--collision.action", "none"]
        conn = SumoConnection.start(args, binary=sumo)
        try:
            api = conn.api
            for tls in api.trafficlight.getIDList():
                links = len(api.trafficlight.getRedYellowGreenState(tls))
                api.trafficlight.setRedYellowGreenState(tls, "G" * links)
            # With conflicts ignored, vehicles can still lock up waiting for each other inside a junction
            # (teleporting is off): such an episode is no floor; it is flagged as the evaluation flags one,
            # or by vehicles standing for the whole gridlock window at the end (part of the network locked).
            watch, _ = simulate(conn, cfg, None)
            waits = [float(api.vehicle.getWaitingTime(v)) for v in api.vehicle.getIDList()]
            stuck = sum(wait >= cfg.gridlock_s for wait in waits)
        finally:
            conn.close()
        delay = episode_delay(tripinfo, route_files_of(cfg.scenario), cfg.begin, cfg.end)
        depart = loss = 0.0
        inserted = 0
        for _, elem in ET.iterparse(tripinfo):
            if elem.tag == "tripinfo" and float(elem.get("depart", "-1")) >= 0:
                depart += float(elem.get("departDelay", "0"))
                loss += float(elem.get("timeLoss", "0"))
                inserted += 1
            elem.clear()
    locked = watch.detected_at is not None or stuck >= STUCK_VEHICLES
    return Run(scenario, seed, "floor", delay.mean_s, depart / inserted, loss / inserted, locked)


def citytally_episode(data: Path, scenario: str, seed: int, sumo: Path | None) -> Run:
    result = run_episode(_config(data, scenario, sumo), seed, AdaptiveController())
    return Run(scenario, seed, "citytally", result.delay_s, gridlocked=result.gridlock_at is not None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--sumo", default=str(DEFAULT_SUMO_191), help="SUMO binary, or 'current' (libsumo)")
    parser.add_argument("--data", type=Path, default=RESCO, help="the RESCO scenarios' folder")
    args = parser.parse_args()
    scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    sumo = None if args.sumo == "current" else Path(args.sumo)
    runs: list[Run] = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [
            pool.submit(fn, args.data, scenario, seed, sumo)
            for scenario in scenarios
            for seed in range(args.seeds)
            for fn in (floor_episode, citytally_episode)
        ]
        for future in as_completed(futures):
            run = future.result()
            runs.append(run)
            split = f" (insertion {run.depart_delay_s:.2f} + time loss {run.time_loss_s:.2f})"
            print(
                f"{run.scenario} seed={run.seed} {run.kind:9} delay={run.delay_s:.2f} s/veh"
                + (split if run.kind == "floor" else "")
                + (" GRIDLOCK" if run.gridlocked else ""),
                flush=True,
            )
    print(f"\nSUMO {'current (libsumo)' if sumo is None else sumo}, seeds 0-{args.seeds - 1}, s/veh\n")
    print("| scenario | no conflicts (insertion + time loss) | citytally | aim (0.9 × best published) "
          "| signal's share | allowed | cut needed |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for scenario in scenarios:
        floors = [r for r in runs if r.scenario == scenario and r.kind == "floor" and not r.gridlocked]
        floors = floors or [r for r in runs if r.scenario == scenario and r.kind == "floor"]
        floor_locked = sum(r.gridlocked for r in runs if r.scenario == scenario and r.kind == "floor")
        ours = [r for r in runs if r.scenario == scenario and r.kind == "citytally"]
        floor = statistics.fmean(r.delay_s for r in floors)
        depart = statistics.fmean(r.depart_delay_s for r in floors)
        loss = statistics.fmean(r.time_loss_s for r in floors)
        mean = statistics.fmean(r.delay_s for r in ours)
        locked = sum(r.gridlocked for r in ours)
        aim = AIM * float(PUBLISHED[scenario]["best"] or 0.0)
        share, allowed = mean - floor, aim - floor
        cut = "met" if allowed >= share else f"{1 - allowed / share:.0%}"
        print(
            f"| {scenario} | {floor:.2f} ({depart:.2f} + {loss:.2f})"
            + (f", {floor_locked} locked up, left out" if floor_locked else "")
            + f" | {mean:.2f}"
            + (f" ({locked} gridlocked)" if locked else "")
            + f" | {aim:.2f} | {share:.2f} | {allowed:.2f} | {cut} |"
        )


if __name__ == "__main__":
    main()
